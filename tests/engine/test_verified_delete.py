"""Verified source deletion (docs/design.md §4.3): only rows equal to their warm copy and still matching."""

from __future__ import annotations

from warm_archive import deletion
from warm_archive.engine import TableJob


def _delete_source(pair, run_id):
    with TableJob(pair.params(run_id=run_id)) as job:
        job.prepare(create_target=False)
        job.acquire_lock()
        return deletion.delete_run(job.plan, job.sessions, job.ledger, job.ctx, retrying=False)


def test_rows_changed_after_their_copy_are_not_deleted(pair):
    pair.run("copy", run_id="r")
    archived = sorted(pair.expected_archived)
    changed, unmatched = archived[10:13], archived[500]
    t = pair.src.q("t_src.orders")
    pair.src.execute(f"UPDATE {t} SET status = 'refunded' WHERE id IN ({', '.join(map(str, changed))})")
    pair.src.execute(f"UPDATE {t} SET created_at = '2025-06-01' WHERE id = {unmatched}")
    expected_src = pair.src_rows()

    out = _delete_source(pair, "r")

    assert out["rows_deleted"] == len(archived) - 4
    assert out["rows_changed"] == 3
    left = pair.src_rows()
    assert set(changed) | {unmatched} <= set(left)
    assert all(left[k] == expected_src[k] for k in left)  # the kept rows are exactly as updated
    assert not (set(archived) - set(changed) - {unmatched}) & set(left)
    assert pair.warm_rows() == pair.expected_archived  # the warm copy is untouched
    assert out["changed_keys"] == [[k] for k in changed]  # reported (and logged) by key


def test_delete_source_twice_deletes_nothing_more(pair):
    pair.run("copy", run_id="r")
    first = _delete_source(pair, "r")
    assert first["rows_deleted"] == len(pair.expected_archived)
    second = _delete_source(pair, "r")
    assert second == {"rows_deleted": 0, "rows_changed": 0, "changed_keys": [], "batches": 0}
