"""The load probe's SQL (pacing.py, load_probe.py): what each engine says about how busy it is.

- ``probe_read``: a tiny point read at the hot end of the source table's key (the newest rows,
  where an application reads and inserts), so its latency is what such a request waits now.
- ``probe_commit``: a statement whose commit must flush the write-ahead log (PostgreSQL's
  ``txid_current()`` takes a transaction id, so the COMMIT writes and flushes a commit record),
  timed with its commit: what an application's commit waits. None where a commit without a
  table write flushes nothing (MariaDB: InnoDB skips it).
- ``load_signal``: the server's own count of running statements and, on PostgreSQL, of the
  sessions waiting on the WAL (``WALWrite``/``WALSync``/``WALInsert`` waits), without the probe's
  session; one row ``(running, wal_waits)``.
"""

from __future__ import annotations

from collections.abc import Sequence


class LoadSql:
    """No server to ask (SQLite): every method answers None."""

    def probe_read(self, table: str, key: Sequence[str]) -> str | None:
        return None

    def probe_commit(self) -> str | None:
        return None

    def load_signal(self) -> str | None:
        return None


class ServerLoadSql(LoadSql):
    def probe_read(self, table: str, key: Sequence[str]) -> str | None:
        first = self.quote(key[0])  # type: ignore[attr-defined]  # the dialect's
        return f"SELECT {first} FROM {self.table(table)} ORDER BY {first} DESC LIMIT 1"  # type: ignore[attr-defined]


class PostgresLoadSql(ServerLoadSql):
    def probe_commit(self) -> str | None:
        return "SELECT txid_current()"

    def load_signal(self) -> str | None:
        return (
            "SELECT count(*) FILTER (WHERE state = 'active'),"
            " count(*) FILTER (WHERE wait_event IN ('WALWrite', 'WALSync', 'WALInsert', 'WALBufMapping'))"
            " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )


class MySQLLoadSql(ServerLoadSql):
    def load_signal(self) -> str | None:
        # Threads_running counts the asking statement too: one less. No WAL-wait figure (None).
        return (
            "SELECT CAST(VARIABLE_VALUE AS SIGNED) - 1, NULL FROM information_schema.GLOBAL_STATUS"
            " WHERE VARIABLE_NAME = 'THREADS_RUNNING'"
        )
