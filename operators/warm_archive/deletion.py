"""Verified deletion of archived rows from the source (docs/design.md §4.3): the delete verbs.

A source row is deleted only if, while it is locked, the same key with the same content is in the
warm table and the row still matches the job's condition. Rows changed since their copy stay in the
source; they are counted and their keys logged, and the next run archives their new content.

This module picks the path of a job's batches and keeps their books (ledger stamps, counters,
the keys kept); the work is elsewhere, one job a module: ``same_db_delete.py`` (one database:
the server judges), ``slice_pipeline.py`` (across servers: slices on two lanes a side),
``slice_reads.py`` (a slice's rows as comparable contents) and ``slice_digests.py`` (a dense
slice judged whole).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence

from warm_archive import failpoints
from warm_archive.context import RunContext
from warm_archive.contract import SourceStatus
from warm_archive.dialects import Dialect
from warm_archive.ledger import Batch, Ledger, now
from warm_archive.plan import JobPlan
from warm_archive.progress import Progress
from warm_archive.same_db_delete import CHUNK, delete_in_one_database
from warm_archive.sessions import Sessions
from warm_archive.slice_digests import DigestBlob, SliceDigest
from warm_archive.slice_pipeline import Judged, Slices
from warm_archive.slice_reads import Canon, canon_plan, read_digests, read_values, row_key_fn
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys, normalize_key

__all__ = ["CHUNK", "batch_where", "delete_batch", "delete_batches", "delete_run"]

log = logging.getLogger(__name__)

LOG_KEYS = 20
VERIFY_CHUNK = 5000  # rows per side held in memory while comparing across connections
HASH_CHUNK = 2500  # keys per slice when comparing digests (a key and a 32-char digest per row)


def _hashed_slices(plan: JobPlan, sessions: Sessions, ctx: RunContext, canon: Canon, where_sql: str) -> Slices:
    """Across engines: each server digests a canonical text of its rows (both at the same time)."""
    src, warm, stats = sessions.src, sessions.warm, ctx.stats
    blob = DigestBlob.for_job(plan, src, warm, stats, canon, where_sql)
    return Slices(
        plan,
        sessions,
        ctx,
        HASH_CHUNK,
        lambda d, side, part, *a: read_digests(
            d, plan.target_table if side else plan.source_table, plan, stats, part, canon, side, *a
        ),
        row_key_fn(len(plan.key)),
        where_sql,
        blob=blob,
        sums=None if blob else SliceDigest.for_job(plan, src, warm, stats, canon, where_sql),
    )


def _value_slices(
    plan: JobPlan, sessions: Sessions, ctx: RunContext, where_sql: str, use_hash: bool, by_range: bool = True
) -> Slices:
    """Compare whole rows (same engine over two connections: the servers' row digest; no canonical
    form, or digests that differ: the values)."""
    n, stats = len(plan.key), ctx.stats
    return Slices(
        plan,
        sessions,
        ctx,
        VERIFY_CHUNK,
        lambda d, side, part, *a: read_values(
            d, plan.target_table if side else plan.source_table, plan, stats, part, use_hash, *a
        ),
        lambda k: normalize_key(k[:n]),
        where_sql,
        by_range,
    )


def _delete_by_values(
    plan: JobPlan,
    sessions: Sessions,
    ctx: RunContext,
    keys: Sequence[tuple],
    where_sql: str,
    use_hash: bool,
    by_range: bool = True,
) -> Judged:
    """(deleted, missing from the warm table, changed) of ``keys``, compared as whole rows."""
    out: list[Judged] = [(0, [], [])]
    _value_slices(plan, sessions, ctx, where_sql, use_hash, by_range).run(
        [keys], lambda _, result: out.__setitem__(0, result)
    )
    return out[0]


def _delete_across_servers(
    plan: JobPlan,
    sessions: Sessions,
    ctx: RunContext,
    batches: list[Batch],
    where_sql: str,
    finish: Callable[[int, int, list[list], Slices], None],
) -> None:
    """The verified delete of ``batches`` (copied under ``where_sql``) when the warm table is on
    another server or of other types; ``finish(i, deleted, kept keys, slices)`` per batch, in order.

    Across engines the digests judge first; the keys whose digests differ are then compared value
    by value (e.g. JSON spacing, numeric scale), each still-matching source row locked again."""
    src, warm = sessions.src, sessions.warm
    use_hash = plan.same_types and src.row_hash(plan.columns) is not None
    canon = None if use_hash else canon_plan(plan, src, warm)
    slices = (
        _hashed_slices(plan, sessions, ctx, canon, where_sql)
        if canon
        else _value_slices(plan, sessions, ctx, where_sql, use_hash)
    )

    def batch_done(i: int, result: Judged) -> None:
        deleted, kept, differ = result
        if differ and canon:  # on the pipeline's connections, once no slice uses them
            slices.drain()
            more, missing, changed = _delete_by_values(
                plan, sessions, ctx, differ, where_sql, use_hash=False, by_range=False
            )
            deleted += more
            order = {normalize_key(k): n for n, k in enumerate(decode_keys(batches[i].keys))}
            kept = sorted(kept + missing + changed, key=lambda k: order[normalize_key(k)])  # key order
        else:
            kept = kept + differ
        finish(i, deleted, [list(k) for k in kept], slices)

    slices.run((decode_keys(b.keys) for b in batches), batch_done)


def delete_batch(
    plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, batch: Batch, *, retrying: bool
) -> tuple[int, list]:
    """Delete the verified rows of one ledger batch from the source; returns (deleted, kept keys)."""
    return delete_batches(plan, sessions, ledger, ctx, [batch], retrying=retrying)[0]


def delete_batches(
    plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, batches: list[Batch], *, retrying: bool
) -> list[tuple[int, list]]:
    """Delete the verified rows of ``batches`` from the source, stamping each in the ledger once
    its rows are judged (§4.3); returns (deleted, kept keys) per batch. Across servers the slices
    of all batches stream through one pipeline (``slice_pipeline.Slices``). ``retrying``: an
    earlier attempt may have deleted rows after its last ledger stamp."""
    out: list[tuple[int, list]] = [(0, []) for _ in batches]
    # On a retry, the rows the killed attempt deleted after its last ledger stamp are gone
    # already; they count as deleted (as do rows the application deleted since the copy: either
    # way they now live in the warm table only). Counted before this attempt deletes any row.
    gone = [_gone_from_source(plan, sessions.src, ctx.stats, decode_keys(b.keys)) if retrying else 0 for b in batches]
    if plan.same_db and plan.same_types:

        def done(i: int, deleted: int, kept: list) -> None:
            out[i] = (deleted, kept)
            _report(plan, ctx.progress, batches[i], deleted, kept)

        wheres = [batch_where(plan, b) for b in batches]
        delete_in_one_database(plan, sessions, ledger, ctx, batches, wheres, gone, done)
        return out
    warm = sessions.warm
    for where_sql, group in itertools.groupby(range(len(batches)), key=lambda i: batch_where(plan, batches[i])):
        index = list(group)

        def finish(n: int, deleted: int, kept: list[list], slices: Slices, index: list[int] = index) -> None:
            i = index[n]
            b, deleted = batches[i], deleted + gone[i]

            def stamp() -> None:
                failpoints.reach("before_ledger_delete_mark")
                cur = warm.conn.cursor()
                ledger.update(
                    cur,
                    b.id,
                    source_deleted_at=now(),
                    rows_deleted=(b.rows_deleted or 0) + deleted,
                    rows_changed=len(kept),
                )
                warm.conn.commit()

            slices.on_warm(stamp)
            out[i] = (deleted, kept)
            _report(plan, ctx.progress, b, deleted, kept)

        _delete_across_servers(plan, sessions, ctx, [batches[i] for i in index], where_sql, finish)
    return out


def _gone_from_source(plan: JobPlan, d: Dialect, stats: SqlStats, keys: Sequence[tuple]) -> int:
    """How many keys of the batch are no longer in the source."""
    cur = d.conn.cursor()
    present = 0
    for i in range(0, len(keys), CHUNK):
        cond, params = d.key_in(plan.key, keys[i : i + CHUNK])
        stats.execute(cur, f"SELECT COUNT(*) FROM {d.table(plan.source_table)} WHERE {cond}", params)
        present += cur.fetchone()[0]
    d.conn.commit()
    return len(keys) - present


def _report(plan: JobPlan, progress: Progress, batch: Batch, deleted: int, kept: list) -> None:
    if kept:
        log.warning(
            "batch %s: %s row(s) changed in %s since their copy and were kept there "
            "(the next run archives them again): keys %s%s",
            batch.batch_no,
            len(kept),
            plan.source_table,
            kept[:LOG_KEYS],
            " ..." if len(kept) > LOG_KEYS else "",
        )
    progress.add(rows_deleted=deleted, rows_changed=len(kept))


def batch_where(plan: JobPlan, batch: Batch) -> str:
    """The condition the batch was copied under (a later spec edit must not widen the delete)."""
    return batch.where_sql or plan.where_sql


def delete_run(plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, *, retrying: bool) -> dict:
    """Delete the verified source rows of every copied, not yet deleted batch of the job (§4.3)."""
    ctx.progress.update(phase="delete", source_status=SourceStatus.DELETING)
    batches = [
        b
        for b in ledger.batches(plan.dag_id, plan.run_id, plan.task_id)
        if b.batch_no > 0 and not b.rolled_back_at and not b.source_deleted_at
    ]
    results = delete_batches(plan, sessions, ledger, ctx, batches, retrying=retrying)
    total = sum(d for d, _ in results)
    kept = [k for _, ks in results for k in ks]
    ctx.progress.update(source_status=SourceStatus.PROCESSED)
    return {"rows_deleted": total, "rows_changed": len(kept), "changed_keys": kept[:LOG_KEYS], "batches": len(batches)}
