"""Verified deletion of archived rows from the source (DESIGN 4.3).

A source row is deleted only if, while it is locked, the same key with the same content is in the
warm table and the row still matches the job's condition. Rows changed since their copy stay in the
source; they are counted and their keys logged, and the next run archives their new content.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from warm_archive import failpoints, transfer
from warm_archive.contract import SourceStatus
from warm_archive.ledger import Batch, now
from warm_archive.values import decode_keys, normalize_key, normalize_row

log = logging.getLogger(__name__)

LOG_KEYS = 20
CHUNK = 20000  # keys per statement (dense integer keys become a few BETWEEN ranges)
VERIFY_CHUNK = 5000  # rows per side held in memory while comparing across connections
HASH_CHUNK = 2500  # keys per slice when comparing digests (a key and a 32-char digest per row)


def _slice(d, table, job, key_range, content: str, where_sql=None, lock=False) -> list:
    """Rows (key columns, then ``content``) of ``table`` in ``key_range`` that match ``where_sql``,
    locked when ``lock``."""
    between, params = d.key_between(job.p.key, *key_range)
    cond = f" AND ({d.escape_percent(where_sql)})" if where_sql else ""
    cur = d.conn.cursor()
    job.stats.execute(cur, f"SELECT {d.cols(job.p.key)}, {content} FROM {d.table(table)} WHERE {between}{cond}"
                      f"{d.for_update() if lock else ''}", params)
    rows = cur.fetchall()
    cur.close()
    return rows


def _rows_by_key(d, table, job, key_range, where_sql=None, lock=False, use_hash=False):
    """key -> comparable content for the rows of ``table`` in ``key_range``.

    Same engine and column types: the server's row digest, or failing that the raw values (one
    driver returns equal rows as equal tuples). Across engines: values in one normalised form.
    """
    raw = job.same_types
    content = d.row_hash(job.columns) if use_hash else d.cols(job.columns)
    n = len(job.p.key)
    out = {}
    for r in _slice(d, table, job, key_range, content, where_sql, lock):
        k = normalize_key(r[:n])
        out[k] = (r[:n], r[n] if use_hash else tuple(r[n:]) if raw else normalize_row(r[n:]))
    return out


_FAMILY = {"smallint": "num", "int": "num", "bigint": "num", "decimal": "num", "numeric": "num",
           "bool": "num", "varchar": "text", "char": "text", "text": "text", "json": "text",
           "uuid": "text", "bytes": "bytes", "date": "date", "timestamp": "ts", "timestamptz": "ts"}


def canon_plan(job):
    """Across engines: per column, (source SQL, warm SQL, is free text) of its canonical text, or
    None when the value is compared in Python (floats, times, columns whose two types are not of
    one family). None as a whole when either side cannot hash."""
    src, warm = job.src, job.warm
    if not job.warm_cols or src.name not in ("postgres", "mysql") or warm.name not in ("postgres", "mysql"):
        return None
    plan = []
    for sc, wc in zip(job.src_cols, job.warm_cols):
        a, b = src.canon_expr(sc), warm.canon_expr(wc)
        family = _FAMILY.get(sc.canonical[0], "?")
        same_family = family == _FAMILY.get(wc.canonical[0], "!")
        plan.append((a, b, family == "text") if a and b and same_family else None)
    if not any(plan):
        return None
    return plan


def _key_fn(n: int):
    """The dict key of a row whose first ``n`` values are its key: the bare value for a one-column
    integer or text key (the usual case: no tuple per row), else the normalised key tuple."""
    if n == 1:
        return lambda r: r[0] if r[0].__class__ in (int, str) else normalize_key(r[:1])
    return lambda r: normalize_key(r[:n])


def _hashed_by_key(d, table, job, key_range, plan, side, where_sql=None, lock=False):
    """key -> digest of the hashed columns (plus, when some columns are compared in Python, their
    normalised values)."""
    items = [(pl[side], pl[2]) for pl in plan if pl]
    cols = job.src_cols if side == 0 else job.warm_cols
    raw_cols = [d.raw_expr(c) for c, pl in zip(cols, plan) if not pl]
    content = d.canon_hash(items) + (", " + ", ".join(raw_cols) if raw_cols else "")
    n = len(job.p.key)
    key = _key_fn(n)
    rows = _slice(d, table, job, key_range, content, where_sql, lock)
    if not raw_cols:
        out = {key(r): r[n] for r in rows}
    else:
        out = {key(r): (r[n], normalize_row(r[n + 1:])) for r in rows}
    del rows
    return out


def _delete_hashed(job, batch: Batch, keys: list[tuple], plan, where_sql: str) -> tuple[int, list]:
    """Across engines: each server digests a canonical text of its rows (both at the same time);
    only the keys whose digests differ are compared value by value (e.g. JSON spacing, numeric
    scale). Slices of the batch's key order: each slice's source rows are locked while it is
    compared and deleted."""
    p, src, warm = job.p, job.src, job.warm
    key = _key_fn(len(p.key))
    deleted, kept = 0, []
    parts = [keys[i:i + HASH_CHUNK] for i in range(0, len(keys), HASH_CHUNK)]

    def warm_side(part):  # read-only: its transaction ends right away
        try:
            return _hashed_by_key(warm, p.target_table, job, (tuple(part[0]), tuple(part[-1])), plan, 1)
        finally:
            warm.conn.commit()

    # The warm server digests the next slice while the source locks, compares and deletes this one.
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(warm_side, parts[0]) if parts else None
        for n, part in enumerate(parts):
            try:
                src_rows = _hashed_by_key(src, p.source_table, job, (tuple(part[0]), tuple(part[-1])), plan,
                                          0, where_sql, lock=True)
            finally:
                warm_rows = ahead.result()
            ahead = pool.submit(warm_side, parts[n + 1]) if n + 1 < len(parts) else None
            verified, differ = [], []
            for k in part:
                kk = key(k)
                s = src_rows.get(kk)
                if s is None:
                    continue  # already gone from the source, or no longer matching: nothing to delete
                w = warm_rows.get(kk)
                if w is None:
                    kept.append(list(k))
                elif w == s:
                    verified.append(k)
                else:
                    differ.append(k)
            del src_rows, warm_rows
            if differ:
                if ahead is not None:  # the warm connection is needed here: let the read ahead finish
                    ahead.result()
                same, _ = same_values(job, differ)
                warm.conn.commit()
                verified += [k for k in differ if normalize_key(k) in same]
                kept += [list(k) for k in differ if normalize_key(k) not in same]
            failpoints.reach("during_delete_phase")
            deleted += transfer.delete_keys(src, p.source_table, p.key, verified, job.stats)
            src.conn.commit()
    return deleted, kept


def _delete_in_one_database(job, batch: Batch, keys: list[tuple]) -> tuple[int, list]:
    """Hot and warm tables in one database: the server compares the rows itself.

    Lock the batch's rows that still match the condition, delete those equal to their warm row
    (a join on the key, every column compared NULL-safe), and read back what stayed: the changed
    rows. Rows, ledger stamp and all, in one transaction."""
    p, d = job.p, job.src
    where_sql = d.escape_percent(batch_where(job, batch))
    t, w = d.table(p.source_table), d.table(p.target_table)
    cur = d.conn.cursor()
    on = " AND ".join(f"s.{d.quote(k)} = w.{d.quote(k)}" for k in p.key)
    same = d.rows_equal("s", "w", job.columns)
    if d.name == "postgres":
        # One statement: the condition is checked on the source alone (its columns would be
        # ambiguous beside the warm table's), the rows compared, locked and deleted together.
        cond, params = d.key_in(p.key, keys)
        inner, iparams = d.key_in(p.key, keys, alias="s")
        job.stats.execute(
            cur, f"DELETE FROM {t} s USING {w} w WHERE {on} AND {inner} AND {same} AND "
            f"({', '.join('s.' + d.quote(k) for k in p.key)}) IN "
            f"(SELECT {d.cols(p.key)} FROM {t} WHERE {cond} AND ({where_sql}))",
            [*iparams, *params])
        deleted = cur.rowcount
        failpoints.reach("during_delete_phase")
        kept = []
        if deleted < len(keys):  # changed rows, or rows gone or no longer matching: find the changed
            job.stats.execute(cur, f"SELECT {d.cols(p.key)} FROM {t} WHERE {cond} AND ({where_sql})", params)
            kept = [tuple(r) for r in cur.fetchall()]
        job.ledger.update(cur, batch.id, source_deleted_at=now(),
                          rows_deleted=(batch.rows_deleted or 0) + deleted, rows_changed=len(kept))
        failpoints.reach("before_ledger_delete_mark")
        d.conn.commit()
        return deleted, [list(k) for k in kept]
    matching: list[tuple] = []
    for i in range(0, len(keys), CHUNK):
        cond, params = d.key_in(p.key, keys[i:i + CHUNK])
        job.stats.execute(cur, f"SELECT {d.cols(p.key)} FROM {t} WHERE {cond} AND ({where_sql}){d.for_update()}",
                          params)
        matching += [tuple(r) for r in cur.fetchall()]
    deleted = 0
    for i in range(0, len(matching), CHUNK):
        cond, params = d.key_in(p.key, matching[i:i + CHUNK], alias="s")
        if d.name == "postgres":
            sql = f"DELETE FROM {t} s USING {w} w WHERE {on} AND {cond} AND {same}"
        else:
            sql = f"DELETE s FROM {t} s JOIN {w} w ON {on} WHERE {cond} AND {same}"
        job.stats.execute(cur, sql, params)
        deleted += cur.rowcount
    failpoints.reach("during_delete_phase")
    kept = transfer.select_by_keys(d, p.source_table, p.key, p.key, matching, job.stats) if deleted < len(matching) else []
    job.ledger.update(cur, batch.id, source_deleted_at=now(), rows_deleted=(batch.rows_deleted or 0) + deleted,
                      rows_changed=len(kept))
    failpoints.reach("before_ledger_delete_mark")
    d.conn.commit()
    return deleted, [list(k) for k in kept]


def delete_batch(job, batch: Batch) -> tuple[int, list]:
    """Delete the verified rows of one ledger batch from the source; returns (deleted, kept keys)."""
    src, warm = job.src, job.warm
    keys = decode_keys(batch.keys)
    if not keys:
        return 0, []
    if job.same_db and job.same_types:
        deleted, kept = _delete_in_one_database(job, batch, keys)
        _report(job, batch, deleted, kept)
        return deleted, kept
    use_hash = job.same_types and src.row_hash(job.columns) is not None
    plan = None if use_hash else canon_plan(job)
    where_sql = batch_where(job, batch)
    if plan:
        deleted, kept = _delete_hashed(job, batch, keys, plan, where_sql)
    else:
        deleted, kept = _delete_by_values(job, keys, where_sql, use_hash)
    failpoints.reach("before_ledger_delete_mark")
    cur = warm.conn.cursor()
    job.ledger.update(cur, batch.id, source_deleted_at=now(), rows_deleted=(batch.rows_deleted or 0) + deleted,
                      rows_changed=len(kept))
    warm.conn.commit()
    _report(job, batch, deleted, kept)
    return deleted, kept


def _delete_by_values(job, keys: list[tuple], where_sql: str, use_hash: bool) -> tuple[int, list]:
    """Same engine over two connections (the servers' row digest) or no canonical form: compare
    in slices of the batch's key order. Memory stays at a few thousand rows per side, and each
    slice's source rows are locked only while it is compared and deleted."""
    p, src, warm = job.p, job.src, job.warm
    deleted, kept = 0, []
    for i in range(0, len(keys), VERIFY_CHUNK):
        part = keys[i:i + VERIFY_CHUNK]
        key_range = (tuple(part[0]), tuple(part[-1]))
        src_rows = _rows_by_key(src, p.source_table, job, key_range, where_sql, lock=True, use_hash=use_hash)
        warm_rows = _rows_by_key(warm, p.target_table, job, key_range, use_hash=use_hash)
        warm.conn.commit()
        verified = []
        for k in part:
            nk = normalize_key(k)
            s = src_rows.get(nk)
            if s is None:
                continue  # already gone from the source, or no longer matching: nothing to delete
            w = warm_rows.get(nk)
            if w is not None and w[1] == s[1]:
                verified.append(s[0])
            else:
                kept.append(list(s[0]))
        del src_rows, warm_rows
        failpoints.reach("during_delete_phase")
        deleted += transfer.delete_keys(src, p.source_table, p.key, verified, job.stats)
        src.conn.commit()
    return deleted, kept


def same_values(job, keys: list[tuple]) -> tuple[set, set]:
    """Of ``keys`` (source rows locked by this transaction), those whose values, normalised, equal
    the warm row's, and those still in the source (normalised keys): the row-by-row comparison,
    for the few rows whose digests differ or that were already in the warm table."""
    p = job.p
    kidx = [job.columns.index(k) for k in p.key]

    def by_key(d, table):
        rows = transfer.select_by_keys(d, table, job.columns, p.key, keys, job.stats)
        return {normalize_key(tuple(r[i] for i in kidx)): normalize_row(r) for r in rows}

    src_rows, warm_rows = by_key(job.src, p.source_table), by_key(job.warm, p.target_table)
    return {k for k, v in src_rows.items() if warm_rows.get(k) == v}, set(src_rows)


def _report(job, batch: Batch, deleted: int, kept: list) -> None:
    if kept:
        log.warning("batch %s: %s row(s) changed in %s since their copy and were kept there "
                    "(the next run archives them again): keys %s%s", batch.batch_no, len(kept),
                    job.p.source_table, kept[:LOG_KEYS], " ..." if len(kept) > LOG_KEYS else "")
    job.progress.add(rows_deleted=deleted, rows_changed=len(kept))


def batch_where(job, batch: Batch) -> str:
    """The condition the batch was copied under (a later spec edit must not widen the delete)."""
    return batch.where_sql or job.where_sql


def delete_run(job, task_ids=None) -> dict:
    """Delete the verified source rows of every copied, not yet deleted batch of the job."""
    p = job.p
    job.progress.update(phase="delete", source_status=SourceStatus.DELETING)
    batches = [b for b in job.ledger.batches(p.dag_id, p.run_id, p.task_id)
               if b.batch_no > 0 and not b.rolled_back_at and not b.source_deleted_at]
    total, kept = 0, []
    for b in batches:
        job.check_stop()
        d, k = delete_batch(job, b)
        total += d
        kept += k
    job.progress.update(source_status=SourceStatus.PROCESSED)
    return {"rows_deleted": total, "rows_changed": len(kept), "changed_keys": kept[:LOG_KEYS],
            "batches": len(batches)}
