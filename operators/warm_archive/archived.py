"""A dry run's count of the planned rows whose key is already in the warm table, and what
``on_conflict`` will do with them (docs/design.md §5, ``warm_status.already_archived``).

The count follows the dry run's own walk over the source key (``walk.count_matches``), step by
step, so no statement reads more than one step's key range: with hot and warm tables in one
database one ``COUNT(*) ... WHERE EXISTS`` per step; across servers the step's matching keys are
read a batch at a time (as the real run reads them) and each batch is looked up in the warm table
by its keys, so memory holds one batch of keys. Every statement is a check (``StatementKind.CHECK``), not the run's work.
"""

from __future__ import annotations

from dataclasses import dataclass

from warm_archive.contract import OnConflict, StatementKind, Strategy
from warm_archive.dberrors import db_message
from warm_archive.dialects import Dialect
from warm_archive.dialects.base import where
from warm_archive.errors import WarmArchiveError
from warm_archive.plan import JobPlan
from warm_archive.sqlstats import SqlStats
from warm_archive.values import fetch_keys

CHUNK = 5000  # at most this many keys (and at most a batch) read, then looked up in the warm table, at a time


@dataclass(frozen=True)
class AlreadyArchived:
    """How many planned rows the warm table holds already, under which ``on_conflict``."""

    rows: int
    on_conflict: str
    strategy: str

    def effect(self) -> str | None:
        """What the real run will do with those rows, in words (None: there are none)."""
        if not self.rows:
            return None
        n = f"{self.rows:,} of the planned rows {'is' if self.rows == 1 else 'are'} already in the warm table"
        if self.on_conflict == OnConflict.ERROR:
            return f"{n}: on_conflict=error, the real run would fail at the first batch holding one"
        if self.on_conflict == OnConflict.OVERWRITE:
            return f"{n}: on_conflict=overwrite replaces them with the source rows (the ledger keeps the old ones)"
        skip = f"{n}: on_conflict=skip leaves them as they are and does not copy them again"
        if self.strategy == Strategy.COPY:
            return skip
        return f"{skip}; it deletes from the source those equal to their warm row and keeps the others"


class ArchivedCounter:
    """Counts, step by step of ``walk.count_matches``, the matching keys the warm table holds."""

    def __init__(self, plan: JobPlan, src: Dialect, warm: Dialect, stats: SqlStats):
        self.plan, self.src, self.warm, self.stats = plan, src, warm, stats
        self.rows = 0

    def result(self) -> AlreadyArchived:
        return AlreadyArchived(self.rows, self.plan.on_conflict, self.plan.strategy)

    def step(self, scan: str, upto: str, uparams: list, last: list | None) -> None:
        """The matching keys after ``last`` up to the step's end (``upto``) that the warm table
        holds, read in the source's open transaction of the step."""
        try:
            self.rows += (
                self._in_one_database(scan, upto, uparams, last)
                if self.plan.same_db
                else self._across(scan, upto, uparams, last)
            )
        except WarmArchiveError:
            raise
        except Exception as e:
            self.warm.conn.rollback()
            raise WarmArchiveError(
                f"cannot count the keys of {self.plan.source_table} already in {self.plan.target_table}: {db_message(e)}"
            ) from None

    def _in_one_database(self, scan: str, upto: str, uparams: list, last: list | None) -> int:
        plan, d = self.plan, self.src
        after, params = d.key_after(plan.key, last)
        t = d.table(plan.source_table)
        same = " AND ".join(f"w.{d.quote(k)} = {t}.{d.quote(k)}" for k in plan.key)
        there = f"EXISTS (SELECT 1 FROM {d.table(plan.target_table)} w WHERE {same})"
        cur = d.conn.cursor()
        self.stats.execute(
            cur,
            f"SELECT COUNT(*) FROM {scan}{where(plan.src_where(d), after, upto, there)}",
            [*params, *uparams],
            StatementKind.CHECK,
        )
        n = int(cur.fetchone()[0])
        cur.close()
        return n

    def _across(self, scan: str, upto: str, uparams: list, last: list | None) -> int:
        plan, src, warm = self.plan, self.src, self.warm
        order = src.cols(plan.key)
        target = warm.table(plan.target_table)
        chunk = max(1, min(CHUNK, plan.batch_size))  # the real run's batches, at most
        found = 0
        while True:
            after, params = src.key_after(plan.key, last)
            cur = src.conn.cursor()
            self.stats.execute(
                cur,
                f"SELECT {order} FROM {scan}{where(plan.src_where(src), after, upto)} "
                f"ORDER BY {order} LIMIT {src.placeholder}",
                [*params, *uparams, chunk],
                StatementKind.CHECK,
            )
            keys = fetch_keys(cur)
            cur.close()
            if not keys:
                return found
            cond, kparams = warm.key_in(plan.key, keys)
            wcur = warm.conn.cursor()
            self.stats.execute(wcur, f"SELECT COUNT(*) FROM {target} WHERE {cond}", kparams, StatementKind.CHECK)
            found += int(wcur.fetchone()[0])
            wcur.close()
            warm.conn.commit()
            if len(keys) < chunk:
                return found
            last = list(keys[-1])
