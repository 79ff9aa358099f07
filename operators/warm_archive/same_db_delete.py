"""The verified delete where the hot and the warm table are in one database: the server judges the rows (docs/design.md §4.3).

No row crosses the wire: one ``DELETE`` per chunk of a batch's keys removes the rows that still
match the condition and equal their warm row, and the ledger stamp commits with them. Two
batches run at a time, on two source connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from warm_archive import failpoints
from warm_archive.context import RunContext
from warm_archive.dialects import Dialect
from warm_archive.ledger import Batch, Ledger, now
from warm_archive.plan import JobPlan
from warm_archive.sessions import Sessions, rolled_back_on_error
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys
from warm_archive.where import EVERY_ROW

CHUNK = 20000  # keys per statement (dense integer keys become a few BETWEEN ranges)


def _delete_batch(
    plan: JobPlan,
    ledger: Ledger,
    stats: SqlStats,
    d: Dialect,
    batch: Batch,
    where_sql: str,
    keys: Sequence[tuple],
    gone: int = 0,
) -> tuple[int, list]:
    """The verified delete of one batch, the server comparing the rows itself.

    One statement per chunk deletes the batch's rows that still match the condition and equal
    their warm row (every column compared NULL-safe; the delete locks each row it judges, so a
    row changed meanwhile is judged on its new content). The rows it left are read back: the
    changed ones. Rows, ledger stamp and all, in one transaction. Returns (deleted, with the
    ``gone`` rows a killed attempt deleted; kept keys). ``d``: one of the job's source connections;
    ``where_sql``: the condition the batch was copied under."""
    where_sql = "" if where_sql == EVERY_ROW else d.escape_percent(where_sql)  # empty: every row, no 1=1
    t, w = d.table(plan.source_table), d.table(plan.target_table)
    cur = d.conn.cursor()
    deleted, kept = 0, []
    for i in range(0, len(keys), CHUNK):
        part = keys[i : i + CHUNK]
        stats.execute(cur, *d.delete_rows_equal_to(t, w, plan.key, plan.columns, part, where_sql))
        n = cur.rowcount
        deleted += n
        if n < len(part):  # changed rows, or rows gone or no longer matching: find the changed
            cond, params = d.key_in(plan.key, part)
            matching = f"{cond} AND ({where_sql})" if where_sql else cond
            stats.execute(cur, f"SELECT {d.cols(plan.key)} FROM {t} WHERE {matching}", params)
            kept += [list(r) for r in cur.fetchall()]
    failpoints.reach("during_delete_phase")
    deleted += gone
    ledger.update(
        cur, batch.id, source_deleted_at=now(), rows_deleted=(batch.rows_deleted or 0) + deleted, rows_changed=len(kept)
    )
    failpoints.reach("before_ledger_delete_mark")
    d.conn.commit()
    return deleted, kept


def delete_in_one_database(
    plan: JobPlan,
    sessions: Sessions,
    ledger: Ledger,
    ctx: RunContext,
    batches: list[Batch],
    wheres: list[str],
    gone: list[int],
    finish: Callable[[int, int, list], None],
) -> None:
    """The verified delete of ``batches`` (batch ``i`` copied under ``wheres[i]``; ``gone[i]`` of
    its rows deleted by a killed attempt); ``finish(i, deleted, kept keys)`` per batch, in order.

    Two batches at a time, each on its own connection: the server judges one batch's rows on
    one core while it judges the next one's on the other. Each batch is one transaction (its rows
    and its ledger stamp), so any subset of them may have committed when a job is killed."""
    lanes = sessions.source_lanes(2 if len(batches) > 1 else 1)
    pool = ThreadPoolExecutor(len(lanes))
    running: dict[int, tuple[int, Future[tuple[int, list]]]] = {}  # lane -> (batch index, its future)

    def one(d: Dialect, i: int, keys: Sequence[tuple]) -> tuple[int, list]:
        with rolled_back_on_error(d):  # (MariaDB: a batch's last row may wait for the next batch's commit)
            d.begin_row_locks()  # MariaDB: record locks on the judged rows only, no gap locks (§4.9)
            return _delete_batch(plan, ledger, ctx.stats, d, batches[i], wheres[i], keys, gone[i])  # stamps too

    def collect(i: int, future: Future[tuple[int, list]]) -> None:
        finish(i, *future.result())

    try:
        n = 0
        for i, b in enumerate(batches):
            keys = decode_keys(b.keys)
            if not keys:
                continue
            lane, n = n % len(lanes), n + 1
            if lane in running:  # that connection's previous batch
                collect(*running.pop(lane))
            for other in list(running) if ctx.one_lane() else ():  # pacing: one batch at a time
                collect(*running.pop(other))
            ctx.check_stop()
            ctx.between_batches()  # replica lag and source load (pacing.py)
            running[lane] = (i, pool.submit(one, lanes[lane], i, keys))
        for i, future in sorted(running.values(), key=lambda r: r[0]):
            collect(i, future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
