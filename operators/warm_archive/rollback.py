"""Exact rollback of a table job (docs/design.md §4.4).

Per ledger batch, newest first: put back into the source every row of the batch that is no longer
there (content taken from the warm table, where it was verified equal before it was deleted), then,
in one warm transaction, remove the rows the batch inserted, put back the rows it overwrote and
stamp the ledger. Each step is idempotent, so a rollback killed half-way is simply run again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from warm_archive import failpoints, transfer
from warm_archive.context import RunContext
from warm_archive.contract import SourceStatus
from warm_archive.ledger import Batch, Ledger, now
from warm_archive.plan import JobPlan
from warm_archive.sessions import Sessions
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys, decode_rows, normalize_key

log = logging.getLogger(__name__)


def rollback_batch(plan: JobPlan, sessions: Sessions, ledger: Ledger, stats: SqlStats, batch: Batch) -> tuple[int, int]:
    """Undo one batch; returns (rows restored to the source, rows removed from the warm table)."""
    p, src, warm = plan, sessions.src, sessions.warm
    keys = decode_keys(batch.keys)
    existing = decode_keys(batch.existing)
    previous = decode_rows(batch.previous)
    restored = 0
    if keys:
        lo, hi = tuple(json.loads(batch.key_lo or "[]")), tuple(json.loads(batch.key_hi or "[]"))
        between, params = src.key_between(p.key, lo, hi)
        cur = src.conn.cursor()
        stats.execute(cur, f"SELECT {src.cols(p.key)} FROM {src.table(p.source_table)} WHERE {between}", params)
        present = {normalize_key(r) for r in cur.fetchall()}
        src.conn.commit()
        missing = [k for k in keys if normalize_key(k) not in present]
        if missing:
            rows = transfer.select_by_keys(warm, p.target_table, p.columns, p.key, missing, stats)
            warm.conn.commit()
            failpoints.reach("during_rollback_restore")
            restored = transfer.insert_rows(src, p.source_table, p.columns, rows, stats)
            src.conn.commit()
    failpoints.reach("after_rollback_restore")

    pre = {normalize_key(k) for k in existing}
    inserted = [k for k in keys if normalize_key(k) not in pre]
    wcur = warm.conn.cursor()
    removed = transfer.delete_keys(warm, p.target_table, p.key, inserted, stats)
    if previous:  # on_conflict: overwrite replaced these rows: bring their old content back
        transfer.delete_keys(warm, p.target_table, p.key, existing, stats)
        transfer.insert_rows(warm, p.target_table, p.columns, previous, stats)
    ledger.update(wcur, batch.id, rolled_back_at=now())
    warm.conn.commit()
    return restored, removed


def rollback_job(plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext) -> dict:
    """Undo every batch of the job, newest first, then stamp its header. The caller holds the
    warm table's lock (docs/design.md §4.2)."""
    p = plan
    ctx.progress.update(phase="rollback")
    rows = ledger.batches(p.dag_id, p.run_id, p.task_id)
    todo = [b for b in rows if b.batch_no > 0 and not b.rolled_back_at]
    restored = removed = 0
    for b in reversed(todo):
        ctx.check_stop()
        ctx.between_batches()  # restores are writes the source's replicas replay too
        r, m = rollback_batch(plan, sessions, ledger, ctx.stats, b)
        restored += r
        removed += m
    header = next((b for b in rows if b.batch_no == 0), None)
    if header is not None and not header.rolled_back_at:
        ledger.update(sessions.warm.conn.cursor(), header.id, rolled_back_at=now())
        sessions.warm.conn.commit()
    ctx.metrics.rollback_rows(removed)
    ctx.progress.update(source_status=SourceStatus.RESTORED, phase="rolled_back")
    log.info(
        "%s: rolled back %s batch(es): %s row(s) restored to %s, %s removed from %s",
        p.task_id,
        len(todo),
        restored,
        p.source_table,
        removed,
        p.target_table,
    )
    return {"batches": len(todo), "rows_restored": restored, "rows_removed": removed}


def verify_job(plan: JobPlan, sessions: Sessions, ledger: Ledger, stats: SqlStats) -> dict:
    """Where is every row the ledger knows of? ``lost`` must be 0 (docs/design.md §8)."""
    p, src, warm = plan, sessions.src, sessions.warm
    report: dict[str, Any] = {
        "batches": 0,
        "rows": 0,
        "in_source": 0,
        "in_warm": 0,
        "in_both": 0,
        "lost": 0,
        "lost_keys": [],
        "deleted_batches_with_rows_in_source": 0,
        "rolled_back_batches": 0,
    }
    for b in ledger.batches(p.dag_id, p.run_id, p.task_id):
        if b.batch_no == 0:
            continue
        if b.rolled_back_at:
            report["rolled_back_batches"] += 1
            continue
        keys = decode_keys(b.keys)
        lo, hi = tuple(json.loads(b.key_lo or "[]")), tuple(json.loads(b.key_hi or "[]"))
        sets = []
        for d, table in ((src, p.source_table), (warm, p.target_table)):
            between, params = d.key_between(p.key, lo, hi)
            cur = d.conn.cursor()
            stats.execute(cur, f"SELECT {d.cols(p.key)} FROM {d.table(table)} WHERE {between}", params)
            sets.append({normalize_key(r) for r in cur.fetchall()})
            d.conn.commit()
        in_src, in_warm = sets
        nkeys = [normalize_key(k) for k in keys]
        report["batches"] += 1
        report["rows"] += len(keys)
        report["in_source"] += sum(k in in_src for k in nkeys)
        report["in_warm"] += sum(k in in_warm for k in nkeys)
        report["in_both"] += sum(k in in_src and k in in_warm for k in nkeys)
        lost = [list(k) for k in nkeys if k not in in_src and k not in in_warm]
        report["lost"] += len(lost)
        report["lost_keys"] += lost[: max(0, 20 - len(report["lost_keys"]))]
        if b.source_deleted_at and any(k in in_src for k in nkeys):
            report["deleted_batches_with_rows_in_source"] += 1
    return report
