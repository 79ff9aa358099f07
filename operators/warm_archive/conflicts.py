"""The one on_conflict policy (skip, overwrite, error) of both batch writers, and which keys a move may delete."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from warm_archive import transfer
from warm_archive.contract import OnConflict
from warm_archive.dbapi import Cursor
from warm_archive.dialects import Dialect
from warm_archive.errors import ConflictError
from warm_archive.plan import JobPlan
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats
from warm_archive.values import encode_rows, normalize_key, normalize_row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Conflicts:
    """A batch's keys already in the warm table, and what the policy did about them."""

    existing: list[tuple]  # the batch's keys the warm table holds already (as the batch read them)
    skip: set  # normalised keys the batch does not write (on_conflict: skip)
    previous: str | None  # encoded old content of the rows overwrite replaced (rollback restores it)


def settle(plan: JobPlan, warm: Dialect, cur: Cursor, keys: Sequence[tuple], stats: SqlStats) -> Conflicts:
    """Find the batch's keys already in the warm table (on ``warm``'s open transaction, ``cur``)
    and apply ``on_conflict``: ``error`` raises ``ConflictError``, ``overwrite`` deletes the warm
    rows (keeping their content for the ledger), ``skip`` leaves them and the batch does not
    write them (docs/design.md §4.2: a re-run never duplicates a row)."""
    between, bparams = warm.key_between(plan.key, keys[0], keys[-1])
    stats.execute(cur, f"SELECT {warm.cols(plan.key)} FROM {warm.table(plan.target_table)} WHERE {between}", bparams)
    in_range = cur.fetchall()  # usually none: the warm table has nothing of this batch yet
    existing: list[tuple] = []
    if in_range:
        batch_keys = {normalize_key(k): k for k in keys}
        existing = [batch_keys[k] for k in (normalize_key(r) for r in in_range) if k in batch_keys]
        del batch_keys
    del in_range
    if existing and plan.on_conflict == OnConflict.ERROR:
        raise ConflictError(
            f"{len(existing)} row(s) of this batch are already in {plan.target_table} "
            f"(on_conflict: error), e.g. key {list(existing[0])}"
        )
    previous = None
    if existing and plan.on_conflict == OnConflict.OVERWRITE:
        previous = encode_rows(
            transfer.select_by_keys(warm, plan.target_table, plan.columns, plan.key, existing, stats)
        )
        transfer.delete_keys(warm, plan.target_table, plan.key, existing, stats)
    skip = {normalize_key(k) for k in existing} if plan.on_conflict == OnConflict.SKIP else set()
    return Conflicts(existing, skip, previous)


def skipped(plan: JobPlan, keys: Sequence[tuple], inserted: int) -> int:
    """How many of the batch's rows the skip policy left out."""
    return len(keys) - inserted if plan.on_conflict == OnConflict.SKIP else 0


def move_deletes(
    plan: JobPlan, src: Dialect, warm: Dialect, keys: Sequence[tuple], c: Conflicts, stats: SqlStats, progress: Progress
) -> list[tuple]:
    """The keys a ``move`` batch deletes from the (locked) source: the rows it wrote, and of the
    skipped ones those whose warm row equals the source row. The others stay and are reported."""
    doomed = [k for k in keys if normalize_key(k) not in c.skip]
    if not c.skip:
        return doomed
    equal, in_source = same_values(plan, src, warm, c.existing, stats)
    warm.conn.commit()
    same = [k for k in c.existing if normalize_key(k) in equal]
    kept = [list(k) for k in c.existing if normalize_key(k) in in_source and normalize_key(k) not in equal]
    if kept:
        log.warning(
            "%s row(s) of %s differ from the row already in %s and stay in the source: keys %s",
            len(kept),
            plan.source_table,
            plan.target_table,
            kept[:20],
        )
        progress.add(rows_changed=len(kept))
    return doomed + same


def same_values(plan: JobPlan, src: Dialect, warm: Dialect, keys: list[tuple], stats: SqlStats) -> tuple[set, set]:
    """Of ``keys`` (source rows locked by this transaction), those whose values, normalised, equal
    the warm row's, and those still in the source (normalised keys): the row-by-row comparison,
    for the few rows that were already in the warm table."""
    kidx = plan.key_positions

    def by_key(d: Dialect, table: str) -> dict:
        rows = transfer.select_by_keys(d, table, plan.columns, plan.key, keys, stats)
        return {normalize_key(tuple(r[i] for i in kidx)): normalize_row(r) for r in rows}

    src_rows, warm_rows = by_key(src, plan.source_table), by_key(warm, plan.target_table)
    return {k for k, v in src_rows.items() if warm_rows.get(k) == v}, set(src_rows)
