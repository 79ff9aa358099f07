"""The ledger: what each batch of a table job did, kept in the warm DB beside the rows.

A batch's ledger row commits in the same transaction as the batch's rows, so the ledger is
exactly as true as the warm table. Rollback and verified deletion read it; retries resume from it.
Row ``batch_no = 0`` of a job is its header: the parameters the job ran with.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from warm_archive.dialects import Dialect

TABLE = "warm_archive_ledger"

_COLUMNS = (
    ("dag_id", "str"), ("run_id", "str"), ("task_id", "str"), ("batch_no", "int"),
    ("strategy", "str"), ("source_table", "str"), ("target_table", "str"), ("key_cols", "text"),
    ("where_sql", "text"), ("key_lo", "text"), ("key_hi", "text"), ("keys", "text"),
    ("existing", "text"), ("previous", "text"), ("rows_inserted", "int"), ("rows_deleted", "int"),
    ("rows_changed", "int"), ("created_at", "ts"), ("source_deleted_at", "ts"),
    ("rolled_back_at", "ts"),
)
FIELDS = tuple(c for c, _ in _COLUMNS)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Batch:
    id: int
    dag_id: str
    run_id: str
    task_id: str
    batch_no: int
    strategy: str
    source_table: str
    target_table: str
    key_cols: str
    where_sql: str
    key_lo: str | None
    key_hi: str | None
    keys: str | None
    existing: str | None
    previous: str | None
    rows_inserted: int
    rows_deleted: int
    rows_changed: int
    created_at: str
    source_deleted_at: str | None
    rolled_back_at: str | None

    @property
    def hi(self) -> tuple | None:
        return tuple(json.loads(self.key_hi)) if self.key_hi else None


class Ledger:
    def __init__(self, warm: Dialect, stats):
        self.d = warm
        self.stats = stats
        self.t = warm.table(TABLE)

    def ensure(self):
        """Create the ledger on first use. Two jobs may race to create it: the loser re-checks."""
        try:
            self._create()
        except Exception:
            self.d.conn.rollback()
            if not self.d.columns(TABLE):
                raise

    def _create(self):
        types = self.d.ledger_types()
        cols = ", ".join(f"{self.d.quote(c)} {types[t]}" for c, t in _COLUMNS)
        cur = self.d.conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.t} ({self.d.quote('id')} {types['id']}, {cols})")
        idx = self.d.quote("warm_archive_ledger_job")
        key = self.d.cols(("dag_id", "run_id", "task_id", "batch_no"))
        if self.d.name == "mysql":
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = %s AND INDEX_NAME = %s", (TABLE, "warm_archive_ledger_job"))
            if not cur.fetchone()[0]:
                cur.execute(f"CREATE UNIQUE INDEX {idx} ON {self.t} ({key})")
        else:
            cur.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {idx} ON {self.t} ({key})")
        self.d.conn.commit()

    def insert(self, cur, **values):
        """Insert a ledger row on ``cur`` (the caller commits, with the batch's rows)."""
        names = [f for f in FIELDS if f in values]
        sql = f"INSERT INTO {self.t} ({self.d.cols(names)}) VALUES ({self.d.params(len(names))})"
        self.stats.execute(cur, sql, [values[n] for n in names])

    def batches(self, dag_id: str, run_id: str, task_id: str) -> list[Batch]:
        """Every row of a job, header first, in batch order."""
        p = self.d.placeholder
        cur = self.d.conn.cursor()
        self.stats.execute(
            cur,
            f"SELECT {self.d.cols(('id',) + FIELDS)} FROM {self.t} WHERE {self.d.quote('dag_id')} = {p} "
            f"AND {self.d.quote('run_id')} = {p} AND {self.d.quote('task_id')} = {p} "
            f"ORDER BY {self.d.quote('batch_no')}",
            (dag_id, run_id, task_id),
        )
        rows = [Batch(*r) for r in cur.fetchall()]
        self.d.conn.commit()
        return rows

    def update(self, cur, batch_id: int, **values):
        sets = ", ".join(f"{self.d.quote(k)} = {self.d.placeholder}" for k in values)
        sql = f"UPDATE {self.t} SET {sets} WHERE {self.d.quote('id')} = {self.d.placeholder}"
        self.stats.execute(cur, sql, [*values.values(), batch_id])
