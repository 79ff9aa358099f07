"""The copy of a table job: batch by batch into the warm table with its ledger rows, two at a time where rows stream.

Per batch (docs/design.md §4.1):
1. read the next ``batch_size`` keys after the last archived key, in key order, in one snapshot of
   the source (locked ``FOR UPDATE`` when the strategy deletes right away);
2. on the warm DB, in ONE transaction: write the rows that are not there yet and the batch's
   ledger row, commit;
3. ``move`` only: delete exactly those (locked, so unchanged) rows from the source, then stamp the
   ledger. A crash between 2 and 3 leaves the rows in both tables; the retry finishes the delete.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from warm_archive import conflicts, failpoints, transfer
from warm_archive.context import RunContext
from warm_archive.contract import OnConflict, Strategy
from warm_archive.dbapi import Cursor
from warm_archive.dberrors import connection_lost, data_or_statement_error, db_message, retry_in_place
from warm_archive.dialects import Dialect
from warm_archive.dialects.base import where
from warm_archive.errors import WarmArchiveError
from warm_archive.ledger import Ledger, now
from warm_archive.plan import JobPlan
from warm_archive.sessions import Sessions
from warm_archive.values import IntKeys, encode_keys, fetch_keys, normalize_key
from warm_archive.walk import KeyWalk

log = logging.getLogger(__name__)

RETRIES_PER_BATCH = 5
T = TypeVar("T")


def ledger_row(
    plan: JobPlan,
    ledger: Ledger,
    cur: Cursor,
    batch_no: int,
    keys: Sequence[tuple] | None = None,
    existing: Sequence[tuple] = (),
    **values: Any,
) -> None:
    """Insert this job's ledger row for ``batch_no`` (0: the job's header) on ``cur`` (§4.1)."""
    if keys:
        values.update(
            key_lo=json.dumps(list(keys[0]), default=str),
            key_hi=json.dumps(list(keys[-1]), default=str),
            keys=encode_keys(keys),
            existing=encode_keys(existing) if existing else None,
        )
    ledger.insert(
        cur,
        dag_id=plan.dag_id,
        run_id=plan.run_id,
        task_id=plan.task_id,
        batch_no=batch_no,
        strategy=plan.strategy,
        source_table=plan.source_table,
        target_table=plan.target_table,
        key_cols=json.dumps(list(plan.key)),
        where_sql=plan.where_sql,
        rows_changed=0,
        created_at=now(),
        **values,
    )


def write_header(plan: JobPlan, warm: Dialect, ledger: Ledger) -> None:
    """Batch 0: the parameters the job runs with, which maintenance acts on (§4.1, §8)."""
    cur = warm.conn.cursor()
    ledger_row(plan, ledger, cur, 0, rows_inserted=0, rows_deleted=0)
    warm.conn.commit()


def overlaps_batches(plan: JobPlan, sessions: Sessions) -> bool:
    """Two batches copy at a time where nothing is deleted during the copy and the rows stream
    between two servers (both ingest on more than one core). Not with ``on_conflict: overwrite``:
    it deletes warm rows, and on MariaDB that delete's next-key lock can block the
    batch before it, which the later batch waits for before committing (a wait no server
    sees as a deadlock)."""
    src, warm = sessions.src, sessions.warm
    return (
        plan.strategy != Strategy.MOVE
        and plan.on_conflict != OnConflict.OVERWRITE
        and not plan.same_db
        and plan.streams(src, warm)
        and src.serves_many
        and warm.serves_many
    )


def with_retries(step: Callable[[], T], conns: Sequence[Dialect], what: str, ctx: RunContext) -> T:
    """Run ``step``; on a serialization failure, deadlock or lock wait roll back ``conns`` and run
    it again (§4.5). A lost connection is not retried here: the task fails, and Airflow's retry
    opens new connections and resumes after the last committed batch (§4.2)."""
    for attempt in range(1, RETRIES_PER_BATCH + 1):
        try:
            return step()
        except Exception as e:
            for d in conns:
                try:
                    d.conn.rollback()
                except Exception:
                    pass
            if ctx.stopped:
                ctx.check_stop()
            if connection_lost(e):
                log.warning("%s: connection lost (%s); the task's retry resumes from the ledger", what, db_message(e))
            if not retry_in_place(e) or attempt == RETRIES_PER_BATCH:
                raise
            log.warning("%s: %s; retrying (%s/%s)", what, db_message(e), attempt, RETRIES_PER_BATCH)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


class BatchCopy:
    """Copies the batches of one job after a given key, numbering them after a given batch."""

    def __init__(self, plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, start: list | None = None):
        """``start``: the first key of the range the copy walks (its progress)."""
        self.plan, self.sessions, self.ledger, self.ctx = plan, sessions, ledger, ctx
        self.stats = ctx.stats
        self.walk = KeyWalk(plan, ctx.stats, start)

    def run(self, batch_no: int, last: Sequence | None) -> None:
        """Copy every batch after key ``last`` (None: from the start), numbered from ``batch_no + 1``.
        Between batches the job waits out its throttle, replica lag and source load (pacing.py)."""
        if self.ctx.pacer is not None:
            self.ctx.pacer.start()
        self.ctx.between_batches()  # a lagging replica holds the first batch too
        if overlaps_batches(self.plan, self.sessions):
            self._two_at_a_time(batch_no, last)
            return
        src, warm = self.sessions.src, self.sessions.warm
        while True:
            self.ctx.check_stop()
            batch_no += 1
            t0 = time.monotonic()
            last = with_retries(partial(self._batch, batch_no, last), (src, warm), f"batch {batch_no}", self.ctx)
            if last is None:
                break
            self.ctx.metrics.batch_time(time.monotonic() - t0)
            self.ctx.between_batches()

    def first_batch(self) -> None:
        """Copy batch 1 only, from the start, on the job's own connections (a dry run runs it over
        recording connections: dryrun.py)."""
        with_retries(partial(self._batch, 1, None), (self.sessions.src, self.sessions.warm), "batch 1", self.ctx)

    def _two_at_a_time(self, batch_no: int, last: Sequence | None) -> None:
        """Copy the batches two at a time, each over its own pair of connections: while one batch
        streams, the next one's keys are read and its rows stream too. Commits stay in batch order
        (a batch commits only after the one before it did, and not at all if that one failed), so
        the ledger always holds a prefix of the batches and a retry resumes after the last (§4.1)."""
        lanes = list(zip(self.sessions.source_lanes(2), self.sessions.warm_lanes(2)))
        running: dict[int, tuple] = {}  # lane -> (batch number, its future)
        pool = ThreadPoolExecutor(2, thread_name_prefix="warm-batch")
        try:
            while True:
                self.ctx.check_stop()
                batch_no += 1
                lane = batch_no % 2
                if lane in running:  # that lane's previous batch, two batches back
                    running.pop(lane)[1].result()
                src, warm = lanes[lane]
                t0 = time.monotonic()
                read = with_retries(partial(self._read_keys, src, last), (src,), "key read", self.ctx)
                if read is None:
                    break
                keys, rows, pos = read
                before = running.get(1 - lane)
                running[lane] = (
                    batch_no,
                    pool.submit(
                        self._write_with_retries,
                        src,
                        warm,
                        batch_no,
                        keys,
                        rows,
                        before[1].result if before else None,
                        t0,
                    ),
                )
                last = pos
                self.ctx.between_batches()
                if self.ctx.one_lane():  # pacing: one batch in flight while the source is loaded
                    running[lane][1].result()
            for _, future in sorted(running.values(), key=lambda r: r[0]):
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _write_with_retries(
        self,
        src: Dialect,
        warm: Dialect,
        batch_no: int,
        keys: Sequence[tuple],
        rows: list[tuple] | None,
        before_commit: Callable[[], object] | None,
        read_at: float,
    ) -> None:
        with_retries(
            lambda: self._write_batch(src, warm, batch_no, keys, rows, before_commit),
            (src, warm),
            f"batch {batch_no}",
            self.ctx,
        )
        self.ctx.metrics.batch_time(time.monotonic() - read_at)

    def _batch(self, batch_no: int, last: Sequence | None) -> list | None:
        """One batch after ``last``: where the walk stands after it, or None when it is over."""
        if self.plan.same_db:
            return self._batch_in_one_database(batch_no, last)
        src, warm = self.sessions.src, self.sessions.warm
        read = self._read_keys(src, last)
        if read is None:
            return None
        keys, rows, pos = read
        self._write_batch(src, warm, batch_no, keys, rows)
        return pos

    def _locks(self, src: Dialect) -> bool:
        """Does the batch's source transaction lock rows (``FOR UPDATE``, or MariaDB's
        ``INSERT ... SELECT``, which reads the source with shared locks in REPEATABLE READ)?"""
        return self.plan.strategy == Strategy.MOVE or (self.plan.same_db and src.name == "mysql")

    def _exact_keys(self, src: Dialect) -> bool:
        """Must the batch's copy name its keys one by one? Where its transaction is READ COMMITTED
        (``_begin``), a row inserted inside the batch's key range after its key read would be
        seen by a read of the range, copied, and missing from the ledger's keys."""
        return src.name == "mysql" and self._locks(src)

    def _begin(self, src: Dialect) -> None:
        """Open the batch's source transaction. On MariaDB/MySQL a locking one is READ COMMITTED:
        its locking reads then keep locks on the matching rows only, with no gap or next-key
        lock, so the application's inserts (at the table's end or anywhere) and its updates of
        rows outside the condition never wait for the job (docs/design.md §4.9). The rows it
        copies and deletes are exactly the locked keys (``_exact_keys``)."""
        if src.name == "mysql" and self._locks(src):
            src.begin_row_locks()
        src.begin_snapshot()

    def _read_keys(self, src: Dialect, last: Sequence | None) -> tuple[Sequence[tuple], list | None, list] | None:
        """The next batch's keys in key order, walking the key range by range (walk.py) until one
        holds matching rows, in a transaction of the source that stays open for the batch's copy
        (locked when ``move``); with its rows when they go through Python, and where the walk then
        stands. None: the walk is over."""
        try:
            return self._walk_to_keys(src, last)
        except Exception as e:
            # The where condition meets the rows here first (the plan reads only the key's ends): a
            # value it cannot evaluate is the condition's fault, said as such, bounded (dberrors).
            if self.ctx.stopped or not data_or_statement_error(e):
                raise
            src.conn.rollback()
            raise WarmArchiveError(f"the where condition fails on {self.plan.source_table}: {db_message(e)}") from None

    def _walk_to_keys(self, src: Dialect, last: Sequence | None) -> tuple[Sequence[tuple], list | None, list] | None:
        plan, walk = self.plan, self.walk
        lock = src.for_update() if plan.strategy == Strategy.MOVE else ""
        while True:
            self.ctx.check_stop()
            self._begin(src)
            t0 = time.perf_counter()
            step = walk.step(src, last)
            if step is None:
                src.conn.commit()
                return None
            rows = None
            if plan.same_db or plan.streams(src, self.sessions.warm):
                keys = self._batch_keys(src, last, step.hi, lock)
            else:
                cur = transfer.server_cursor(src)
                select, params = self._keyset_select(src, last, step.hi, plan.columns)
                self.stats.execute(cur, select + lock, params)
                rows = [tuple(r) for r in cur.fetchall()]
                cur.close()
                kidx = plan.key_positions
                keys = [tuple(r[i] for i in kidx) for r in rows]
            filled = len(keys) >= plan.batch_size
            walk.observe(step.width, time.perf_counter() - t0, grow=not filled)
            pos = list(keys[-1]) if filled else step.hi
            walk.walked(pos, keys, self.ctx.progress)
            if keys:
                failpoints.reach("after_source_read")
                return keys, rows, pos
            src.conn.commit()  # an empty range: no transaction stays open while the walk goes on
            if step.at_end:
                return None
            last = step.hi

    def _batch_keys(self, d: Dialect, last: Sequence | None, hi: Sequence, lock: str) -> Sequence[tuple]:
        """The next batch's keys after ``last`` up to ``hi``, in key order, in the open transaction of ``d``.

        A single integer key whose batch is dense (as many keys as integers from the first to the
        last, the usual id column) is known from one row: its count and ends. Only a batch with
        gaps, or a locking read, fetches every key."""
        order = d.cols(self.plan.key)
        select, params = self._keyset_select(d, last, hi, self.plan.key)
        if self.plan.int_key and not lock:
            cur = d.conn.cursor()
            self.stats.execute(cur, f"SELECT COUNT(*), MIN({order}), MAX({order}) FROM ({select}) b", params)
            n, first, last_key = cur.fetchone()
            cur.close()
            if not n:
                return []
            if last_key - first + 1 == n:
                return IntKeys.span(first, last_key)
        cur = _key_cursor(d)
        self.stats.execute(cur, select + lock, params)
        keys = fetch_keys(cur)
        cur.close()
        return keys

    def _keyset_select(
        self, d: Dialect, last: Sequence | None, hi: Sequence, columns: Sequence[str]
    ) -> tuple[str, list]:
        """(SQL, params) reading ``columns`` of the next batch's matching rows after ``last`` up to
        ``hi`` (one step of the walk), in key order (without a locking clause)."""
        plan = self.plan
        after, params = d.key_after(plan.key, last)
        order = d.cols(plan.key)
        scan, bound, bparams = d.batch_scan(plan.source_table, plan.key, plan.key_index, hi)
        return (
            f"SELECT {d.cols(columns)} FROM {scan}{where(plan.src_where(d), after, bound)} "
            f"ORDER BY {order} LIMIT {d.placeholder}",
            [*params, *bparams, plan.batch_size],
        )

    def _batch_rows(self, src: Dialect, keys: Sequence[tuple]) -> tuple[str, list]:
        """(condition, params) naming the batch's rows: its key range (inside one step of the
        walk), or its exact keys where the transaction is READ COMMITTED (``_exact_keys``)."""
        if self._exact_keys(src):
            return src.key_in(self.plan.key, keys)
        return src.key_between(self.plan.key, keys[0], keys[-1])

    def _write_batch(
        self,
        src: Dialect,
        warm: Dialect,
        batch_no: int,
        keys: Sequence[tuple],
        rows: list[tuple] | None,
        before_commit: Callable[[], object] | None = None,
    ) -> None:
        """Write one batch's rows and its ledger row in one warm transaction (``before_commit``
        runs after the rows, before the ledger row and the commit); ``move``: then delete the
        batch's rows from the source."""
        plan = self.plan
        lock = src.for_update() if plan.strategy == Strategy.MOVE else ""
        t = src.table(plan.source_table)
        order = src.cols(plan.key)

        # Warm side: rows + ledger row, one transaction.
        wcur = warm.conn.cursor()
        c = conflicts.settle(plan, warm, wcur, keys, self.stats)
        skip = c.skip
        failpoints.reach("during_warm_write")
        t0 = time.perf_counter()
        streamed = rows is None and (plan.passthrough is not None or not skip)
        if plan.passthrough is not None:
            between_s, sparams = self._batch_rows(src, keys)
            inserted = transfer.passthrough(
                src,
                warm,
                f"SELECT {order}, {plan.passthrough} FROM {t}{where(plan.src_where(src), between_s)} "
                f"ORDER BY {order}{lock if src.name == 'mysql' else ''}",
                [*sparams],
                plan.target_table,
                plan.columns,
                len(plan.key),
                skip,
                self.stats,
                load_data=plan.load_data,
            )
        elif rows is None and not skip:
            between_s, sparams = self._batch_rows(src, keys)
            transfer.copy_pg_to_pg(
                src,
                warm,
                f"SELECT {src.cols(plan.columns)} FROM {t}{where(plan.src_where(src), between_s)} ORDER BY {order}",
                [*sparams],
                plan.target_table,
                plan.columns,
                plan.same_types,
                self.stats,
            )
            inserted = len(keys)
        else:
            if rows is None:  # stream path with some rows already archived: decode this batch
                wanted = [k for k in keys if normalize_key(k) not in skip]
                rows = transfer.select_by_keys(src, plan.source_table, plan.columns, plan.key, wanted, self.stats)
            else:
                kidx = plan.key_positions
                rows = [r for r in rows if normalize_key(tuple(r[i] for i in kidx)) not in skip]
            inserted = transfer.insert_rows(warm, plan.target_table, plan.columns, rows, self.stats)
        if streamed:  # the source statement streamed the batch's rows: a slow one narrows the walk too
            self.walk.observe(self.walk.width, time.perf_counter() - t0, grow=False)
        if before_commit is not None:
            # Before the ledger row: its unique index's duplicate check can lock the index record
            # of the next batch's row (seen with delete-marked rows of an earlier run), and the next
            # batch waits for this one before it commits, a wait no server sees as a deadlock.
            before_commit()
        ledger_row(
            plan,
            self.ledger,
            wcur,
            batch_no,
            keys,
            c.existing,
            previous=c.previous,
            rows_inserted=inserted,
            rows_deleted=0,
        )
        failpoints.reach("before_warm_commit")
        warm.conn.commit()
        failpoints.reach("after_warm_commit")
        self.ctx.progress.add(rows_copied=inserted, rows_skipped=conflicts.skipped(plan, keys, inserted), batches=1)

        if plan.strategy == Strategy.MOVE:
            doomed = conflicts.move_deletes(plan, src, self.sessions.warm, keys, c, self.stats, self.ctx.progress)
            deleted = transfer.delete_keys(src, plan.source_table, plan.key, doomed, self.stats)
            src.conn.commit()
            failpoints.reach("after_source_delete")
            self.ledger.update(
                wcur,
                self.ledger.batch_id(warm, plan.dag_id, plan.run_id, plan.task_id, batch_no),
                source_deleted_at=now(),
                rows_deleted=deleted,
            )
            warm.conn.commit()
            self.ctx.progress.add(rows_deleted=deleted)
        else:
            src.conn.commit()

    def _batch_in_one_database(self, batch_no: int, last: Sequence | None) -> list | None:
        """``INSERT INTO warm SELECT ... FROM hot``: rows, ledger row and (move) the source delete
        in one transaction of one connection. A crash anywhere leaves the batch entirely undone."""
        plan, d = self.plan, self.sessions.src
        t, w = d.table(plan.source_table), d.table(plan.target_table)
        read = self._read_keys(d, last)
        if read is None:
            return None
        keys, _, pos = read
        cur = d.conn.cursor()
        c = conflicts.settle(plan, d, cur, keys, self.stats)
        failpoints.reach("during_warm_write")
        between, bparams = self._batch_rows(d, keys)
        not_skipped, sparams = "", []
        if c.skip:
            cond, sparams = d.key_in(plan.key, c.existing)
            not_skipped = f"NOT ({cond})"
        cols = d.cols(plan.columns)
        self.stats.execute(
            cur,
            f"INSERT INTO {w} ({cols}) SELECT {cols} FROM {t}{where(plan.src_where(d), between, not_skipped)}",
            [*bparams, *sparams],
        )
        inserted = cur.rowcount
        deleted = 0
        if plan.strategy == Strategy.MOVE:
            doomed = conflicts.move_deletes(plan, d, self.sessions.warm, keys, c, self.stats, self.ctx.progress)
            deleted = transfer.delete_keys(d, plan.source_table, plan.key, doomed, self.stats)
        ledger_row(
            plan,
            self.ledger,
            cur,
            batch_no,
            keys,
            c.existing,
            previous=c.previous,
            rows_inserted=inserted,
            rows_deleted=deleted,
            source_deleted_at=now() if plan.strategy == Strategy.MOVE else None,
        )
        failpoints.reach("before_warm_commit")
        d.conn.commit()
        failpoints.reach("after_warm_commit")
        self.ctx.progress.add(
            rows_copied=inserted, rows_deleted=deleted, batches=1, rows_skipped=conflicts.skipped(plan, keys, inserted)
        )
        return pos


def _key_cursor(d: Dialect) -> Cursor:
    """The cursor of a batch's key read: MySQLdb's default cursor turns every row into a tuple
    before the first fetch; its streaming one lets ``fetch_keys`` take a chunk at a time."""
    return transfer.server_cursor(d) if d.name == "mysql" else d.conn.cursor()
