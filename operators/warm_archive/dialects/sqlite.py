"""SQLite (the demo engine): its dialect and its session (one writer, one thread)."""

from __future__ import annotations

from sqlalchemy.dialects import sqlite as sa_sqlite

from warm_archive.dialects import catalog
from warm_archive.dialects.base import split_table
from warm_archive.dialects.ddl import DDL
from warm_archive.dialects.digest import Digest
from warm_archive.dialects.keyset import SQLiteKeyset
from warm_archive.dialects.load import LoadSql
from warm_archive.dialects.session import Session
from warm_archive.typemap import Column


class SQLiteDialect(SQLiteKeyset, Digest, LoadSql, DDL):
    name = "sqlite"
    sqlglot = "sqlite"
    placeholder = "?"
    _preparer = sa_sqlite.dialect().identifier_preparer

    def table(self, table: str) -> str:
        schema, name = split_table(table)
        return self.quote(name) if schema in (None, "main") else f"{self.quote(schema)}.{self.quote(name)}"


class SQLiteSession(Session):
    dialect_class = SQLiteDialect
    sqlalchemy_url = "sqlite+pysqlite://"

    def begin_snapshot(self) -> None:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    def columns(self, table: str) -> list[Column]:
        return catalog.sqlite_columns(self.conn, table)

    def cancel(self) -> None:
        self.conn.interrupt()
