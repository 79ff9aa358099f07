"""MySQL/MariaDB: its dialect (assembled from the SQL jobs) and its session (settings, locks, cancel)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import mysql as sa_mysql

from warm_archive.dialects import catalog
from warm_archive.dialects.ddl import DDL
from warm_archive.dialects.digest import GROUP_CONCAT_MAX, MySQLDigest
from warm_archive.dialects.keyset import MySQLKeyset
from warm_archive.dialects.literals import MySQLLiterals
from warm_archive.dialects.load import MySQLLoadSql
from warm_archive.dialects.session import Session
from warm_archive.typemap import Column


class MySQLDialect(MySQLKeyset, MySQLDigest, MySQLLiterals, MySQLLoadSql, DDL):
    name = "mysql"
    serves_many = True
    sqlglot = "mysql"
    _preparer = sa_mysql.dialect().identifier_preparer


class MySQLSession(Session):
    dialect_class = MySQLDialect
    sqlalchemy_url = "mysql+mysqldb://"

    def setup_session(self) -> None:
        cur = self.conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}")  # digest blobs, slice texts
        cur.execute("SELECT @@SESSION.sql_mode")
        sql_mode = catalog.text(cur.fetchone()[0] or "").upper()
        self.dialect.no_backslash_escapes = "NO_BACKSLASH_ESCAPES" in sql_mode
        self.conn.autocommit(False)
        # cancel() is called from another thread while this connection is busy, and mysqlclient
        # (>= 2.2) refuses any call on a busy connection from another thread: remember the id now.
        self.thread_id = self.conn.thread_id()

    def begin_snapshot(self) -> None:
        self.conn.cursor().execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def begin_row_locks(self) -> None:
        # REPEATABLE READ also locks the first row after a range it reads FOR UPDATE, which is the
        # next slice's first row. READ COMMITTED locks the matching rows only; the delete that
        # follows names exactly those (locked) keys, so no gap lock is needed.
        self.conn.commit()  # the level can only be set between transactions
        self.conn.cursor().execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def columns(self, table: str) -> list[Column]:
        return catalog.mysql_columns(self.conn, table)

    def key_index(self, table: str, key: Sequence[str]) -> str | None:
        with self.sqlalchemy_engine().connect() as c:
            return catalog.mysql_key_index(c, table, key)

    def try_lock(self, name: str) -> bool:
        cur = self.conn.cursor()
        cur.execute("SELECT GET_LOCK(%s, 0)", (name[:64],))
        return cur.fetchone()[0] == 1

    def unlock(self, name: str) -> None:
        self.conn.cursor().execute("SELECT RELEASE_LOCK(%s)", (name[:64],))

    def cancel(self) -> None:
        thread_id = self.thread_id
        assert self.reconnect is not None, "connections.connect gives every session its reconnect"
        other = self.reconnect()
        try:
            other.cursor().execute("KILL QUERY %s", (thread_id,))
        finally:
            other.close()
