"""PostgreSQL: its dialect (assembled from the SQL jobs) and its session (settings, locks, cancel)."""

from __future__ import annotations

import json
import zlib

import psycopg
from sqlalchemy.dialects import postgresql as sa_postgresql

from warm_archive.dialects import catalog
from warm_archive.dialects.ddl import DDL
from warm_archive.dialects.digest import PostgresDigest
from warm_archive.dialects.keyset import PostgresKeyset
from warm_archive.dialects.literals import PostgresLiterals
from warm_archive.dialects.load import PostgresLoadSql
from warm_archive.dialects.session import Session
from warm_archive.typemap import Column

STATISTICS_SHARE = 0.1  # autovacuum_analyze_scale_factor's default


class PostgresDialect(PostgresKeyset, PostgresDigest, PostgresLiterals, PostgresLoadSql, DDL):
    name = "postgres"
    serves_many = True
    sqlglot = "postgres"
    _preparer = sa_postgresql.dialect().identifier_preparer


def lock_id(name: str) -> int:
    """A stable signed 64-bit id for an advisory lock name."""
    return zlib.crc32(name.encode()) | (zlib.adler32(name.encode()) << 32) & 0x7FFFFFFFFFFFFFFF


class PostgresSession(Session):
    dialect_class = PostgresDialect
    sqlalchemy_url = "postgresql+psycopg://"

    def setup_session(self) -> None:
        from psycopg.adapt import Dumper

        class _JsonText(Dumper):  # JSON values read back as dicts go out as JSON text
            def dump(self, obj: dict) -> bytes:
                return json.dumps(obj).encode()

        self.conn.adapters.register_dumper(dict, _JsonText)
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.execute("SET DateStyle = 'ISO, MDY'")  # the dates' text that passthrough sends
        self.conn.commit()
        self.dialect.server_version = self.conn.info.server_version

    def begin_snapshot(self) -> None:
        self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def columns(self, table: str) -> list[Column]:
        return catalog.postgres_columns(self.conn, self.dialect, table)

    def try_lock(self, name: str) -> bool:
        cur = self.conn.cursor()
        cur.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(name),))
        ok = cur.fetchone()[0]
        self.conn.commit()
        return ok

    def unlock(self, name: str) -> None:
        cur = self.conn.cursor()
        cur.execute("SELECT pg_advisory_unlock(%s)", (lock_id(name),))
        self.conn.commit()

    def cancel(self) -> None:
        self.conn.cancel()

    def refresh_statistics(self, table: str, changed: int) -> str | None:
        """``ANALYZE`` once the job changed a tenth of the rows the statistics know of
        (autovacuum's own default share): a sample, not a scan, under a lock that lets the
        table's reads and writes go on. Autovacuum would do it too, but only at its next pass,
        and meanwhile the application's queries are planned on counts from before the job. If
        autovacuum or DDL holds the table, the job does not wait and leaves it to autovacuum."""
        name = self.dialect.table(table)
        cur = self.conn.cursor()
        try:
            cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (name,))
            known = cur.fetchone()[0]
            if known > 0 and changed < STATISTICS_SHARE * known:
                self.conn.commit()
                return None
            cur.execute("SET LOCAL lock_timeout = '1s'")
            cur.execute(f"ANALYZE {name}")
            self.conn.commit()
            return f"ANALYZE {name}"
        except psycopg.errors.LockNotAvailable:
            self.conn.rollback()
            return None
        finally:
            cur.close()
