"""MySQL/MariaDB: its dialect (assembled from the SQL jobs) and its session (settings, locks, cancel)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import mysql as sa_mysql

from warm_archive.dialects import catalog
from warm_archive.dialects.ddl import DDL
from warm_archive.dialects.digest import GROUP_CONCAT_MAX, MySQLDigest
from warm_archive.dialects.keyset import MySQLKeyset
from warm_archive.dialects.literals import MySQLLiterals
from warm_archive.dialects.load import MySQLLoadSql
from warm_archive.dialects.session import Session
from warm_archive.errors import WarmArchiveError
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

    def use_extras(self, extra: Mapping[str, Any]) -> None:
        # Airflow's MySqlHook opens the connection with LOAD DATA LOCAL allowed when the extra
        # says so; the job then writes rows with it (``load_local_rows``), MariaDB's fastest ingest.
        self.dialect.load_local = str(extra.get("local_infile", "")).lower() in ("1", "true", "yes")

    def load_local_rows(self, table: str, columns: Sequence[str], chunks: Iterable[list[str]], stats: Any) -> int:
        """``LOAD DATA LOCAL INFILE`` of the lines of ``chunks`` (``load_data_row``'s form) into
        ``table``, in the current transaction; returns the rows written.

        The lines reach the server through a named pipe that a thread fills as the source sends
        them: nothing is written to disk, memory stays at a chunk. With LOCAL the server turns a
        refused row into a warning and goes on, so any warning, or fewer rows than lines, fails
        the batch (the caller rolls its transaction back): nothing is ever silently skipped."""
        d = self.dialect
        sql = f"LOAD DATA LOCAL INFILE %s INTO TABLE {d.table(table)} CHARACTER SET utf8mb4 ({d.cols(columns)})"
        with tempfile.TemporaryDirectory(prefix="warm-load-") as tmp:
            pipe = os.path.join(tmp, "rows")
            os.mkfifo(pipe, 0o600)
            feeder = _PipeFeeder(pipe, chunks)
            cur = self.conn.cursor()
            try:
                with stats.timed(sql.replace("%s", "'<pipe>'")):
                    cur.execute(sql, (pipe,))
            except BaseException:
                feeder.abandon()
                raise
            feeder.join()  # re-raises what the source's read raised: the batch fails
            loaded, warnings = cur.rowcount, self.conn.warning_count()
            if warnings or loaded != feeder.lines:
                cur.execute("SHOW WARNINGS LIMIT 3")
                shown = "; ".join(f"{r[2]}" for r in cur.fetchall())
                raise WarmArchiveError(
                    f"LOAD DATA into {table} wrote {loaded} of {feeder.lines} rows with {warnings} warning(s)"
                    f"{': ' + shown if shown else ''}; the batch is rolled back"
                )
            return loaded

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


class _PipeFeeder:
    """A thread writing lines into a named pipe that ``LOAD DATA LOCAL`` reads."""

    def __init__(self, path: str, chunks: Iterable[list[str]]) -> None:
        self.path, self.lines = path, 0
        self._chunks = chunks
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="warm-load-data-pipe", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        try:
            with open(self.path, "w", encoding="utf-8", newline="\n") as f:  # waits for the reader
                for lines in self._chunks:
                    if self._stop.is_set():
                        return
                    if lines:
                        f.write("\n".join(lines) + "\n")
                        self.lines += len(lines)
        except BrokenPipeError:  # the statement ended early (an error, a cancel): it reports why
            pass
        except BaseException as e:  # the source's read failed: the statement got a short input
            self._error = e
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:  # a generator: its own clean-up (the source reader) runs now
                close()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """The statement failed: let the thread out, even if nobody ever opened the pipe (a
        reader's open wakes a writer waiting in its own; its next write then fails)."""
        self._stop.set()
        try:
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass
        self._thread.join(timeout=10)
