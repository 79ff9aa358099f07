"""Across engines, with every column compared by digest (no column compared in Python), the
verified delete (docs/design.md §4.3) reads key + digest of the slice's source rows under lock, compares them
with the warm digests and compares value by value the rows whose digests differ (a PostgreSQL source
judges a dense slice in its DELETE: ``slice_digests.DigestBlob``; a MariaDB source first compares one
digest a side per dense slice: ``slice_digests.SliceDigest``). A row changed
after its copy, on either side, keeps its source row; a row no longer matching the condition stays
unreported; equal values in another text form are still deleted. Both directions."""

from __future__ import annotations

import pytest

from tests.engine.conftest import SRC, WARM, Pair
from warm_archive import deletion, slice_digests, slice_reads
from warm_archive.engine import TableJob

DIRS = [("my", "pg"), ("pg", "my")]


@pytest.fixture(params=DIRS, ids=[f"{s}->{w}" for s, w in DIRS])
def xpair(request, engines):
    s, w = request.param
    return Pair(engines[s], engines[w]).reset(n=3000)


def _delete_source(pair, run_id):
    with TableJob(pair.params(run_id=run_id)) as job:
        job.prepare(create_target=False)
        job.acquire_lock()
        canon = slice_reads.canon_plan(job.plan, job.src, job.warm)
        assert canon and all(canon)  # no column compared in Python
        out = deletion.delete_run(job.plan, job.sessions, job.ledger, job.ctx, retrying=False)
        statements = [s["statement"] for s in job.stats.as_list()]
    # judged by digest: a locked read of the source digests, or (PostgreSQL source) one DELETE
    # comparing each row's digest with the warm one at its key's position
    assert any(
        "md5(" in s.lower() and ((s.startswith("SELECT") and "FOR UPDATE" in s) or s.startswith("DELETE"))
        for s in statements
    ), statements
    return out


def _archived(pair):
    return sorted(pair.expected_archived)


def test_source_rows_updated_after_their_copy_are_kept(xpair):
    pair = xpair
    pair.run("copy", run_id="r")
    archived = _archived(pair)
    changed = [archived[5], archived[700], archived[701], archived[-1]]  # first, inner and last slices
    t = pair.src.q(SRC)
    pair.src.execute(f"UPDATE {t} SET note = 'changed after copy' WHERE id IN ({', '.join(map(str, changed))})")
    expected_src = pair.src_rows()

    out = _delete_source(pair, "r")

    assert out["rows_deleted"] == len(archived) - len(changed)
    assert out["rows_changed"] == len(changed)
    assert out["changed_keys"] == [[k] for k in changed]
    left = pair.src_rows()
    assert set(left) == set(expected_src) - (set(archived) - set(changed))
    assert all(left[k] == expected_src[k] for k in left)
    assert pair.warm_rows() == pair.expected_archived


def test_rows_no_longer_matching_the_condition_are_kept_and_not_reported(xpair):
    pair = xpair
    pair.run("copy", run_id="r")
    archived = _archived(pair)
    moved_out = [archived[3], archived[900]]
    t = pair.src.q(SRC)
    # The content is unchanged but for created_at: only the condition no longer holds.
    pair.src.execute(f"UPDATE {t} SET created_at = '2025-06-01' WHERE id IN ({', '.join(map(str, moved_out))})")

    out = _delete_source(pair, "r")

    assert out["rows_deleted"] == len(archived) - len(moved_out)
    assert out["rows_changed"] == 0 and out["changed_keys"] == []
    left = pair.src_rows()
    assert set(moved_out) <= set(left)
    assert not (set(archived) - set(moved_out)) & set(left)


def test_equal_values_in_another_text_form_are_deleted(xpair):
    """A wider numeric scale in the warm table: every digest differs, every value is equal."""
    pair = xpair
    pair.run("copy", run_id="r")
    w = pair.warm.q(WARM)
    pair.warm.execute(
        f"ALTER TABLE {w} ALTER COLUMN amount TYPE numeric(14,4)"
        if pair.warm.kind == "pg"
        else f"ALTER TABLE {w} MODIFY amount decimal(14,4) NOT NULL"
    )

    out = _delete_source(pair, "r")

    assert out["rows_deleted"] == len(pair.expected_archived)
    assert out["rows_changed"] == 0
    assert not set(pair.expected_archived) & set(pair.src_rows())


def test_warm_rows_altered_or_missing_keep_their_source_rows(xpair):
    pair = xpair
    pair.run("copy", run_id="r")
    archived = _archived(pair)
    altered, missing = [archived[10], archived[1500]], [archived[11], archived[-2]]
    w = pair.warm.q(WARM)
    pair.warm.execute(f"UPDATE {w} SET status = 'tampered' WHERE id IN ({', '.join(map(str, altered))})")
    pair.warm.execute(f"DELETE FROM {w} WHERE id IN ({', '.join(map(str, missing))})")
    expected_src = pair.src_rows()

    out = _delete_source(pair, "r")

    kept = sorted(altered + missing)
    assert out["rows_deleted"] == len(archived) - len(kept)
    assert out["rows_changed"] == len(kept)
    assert sorted(k[0] for k in out["changed_keys"]) == kept
    left = pair.src_rows()
    assert set(kept) <= set(left) and all(left[k] == expected_src[k] for k in kept)
    assert not (set(archived) - set(kept)) & set(left)


# ------------------------------------------------ MariaDB source: one digest a side per dense slice


@pytest.fixture
def mypg(engines):
    return Pair(engines["my"], engines["pg"]).reset(n=3000)


def _delete_counting(pair, run_id) -> tuple[dict, int, int]:
    """(result, locked reads of one digest per slice, locked reads of one digest per row)."""
    with TableJob(pair.params(run_id=run_id)) as job:
        job.prepare(create_target=False)
        job.acquire_lock()
        out = deletion.delete_run(job.plan, job.sessions, job.ledger, job.ctx, retrying=False)
        stats = job.stats.as_list()
    locked = [s for s in stats if s["statement"].startswith("SELECT") and "FOR UPDATE" in s["statement"]]
    per_slice = sum(s["count"] for s in locked if s["statement"].startswith("SELECT COUNT(*), md5(GROUP_CONCAT("))
    per_row = sum(s["count"] for s in locked if s["statement"].startswith("SELECT `id`, md5("))
    return out, per_slice, per_row


def _slices(keys, batch_size=700, chunk=300) -> int:
    batches = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
    return sum(-(-len(b) // chunk) for b in batches)


def test_unchanged_slices_are_judged_by_one_digest_a_side_and_a_changed_one_row_by_row(mypg, monkeypatch):
    monkeypatch.setattr(deletion, "HASH_CHUNK", 300)
    pair = mypg
    pair.run("copy", run_id="r")
    archived = _archived(pair)
    changed = archived[450]
    pair.src.execute(f"UPDATE {pair.src.q(SRC)} SET amount = amount + 1 WHERE id = {changed}")

    out, per_slice, per_row = _delete_counting(pair, "r")

    assert out["rows_deleted"] == len(archived) - 1
    assert out["changed_keys"] == [[changed]]
    assert per_slice == _slices(archived) and per_row == 1  # only the changed row's slice, row by row
    assert set(pair.src_rows()) == set(pair.before_src) - set(archived) | {changed}
    assert pair.warm_rows() == pair.expected_archived


def test_long_texts_enter_a_slice_digest_as_their_own_digest(mypg, monkeypatch):
    """Notes longer than ``SliceDigest.LONG`` bytes: unchanged, deleted by the slice digest; one
    changed in its last character after the copy keeps its source row."""
    monkeypatch.setattr(deletion, "HASH_CHUNK", 300)
    pair = mypg
    t = pair.src.q(SRC)
    pair.src.execute(f"UPDATE {t} SET note = CONCAT(REPEAT('long ✓ ', 400), id) WHERE id % 3 = 0")
    pair.reset_expected()
    pair.run("copy", run_id="r")
    archived = _archived(pair)
    changed = archived[302] if archived[302] % 3 == 0 else archived[303]
    pair.src.execute(f"UPDATE {t} SET note = CONCAT(REPEAT('long ✓ ', 400), 'x') WHERE id = {changed}")

    out, per_slice, per_row = _delete_counting(pair, "r")

    assert out["rows_deleted"] == len(archived) - 1 and out["changed_keys"] == [[changed]]
    assert per_slice == _slices(archived) and per_row == 1
    assert pair.warm_rows() == pair.expected_archived


def test_a_slice_too_long_for_one_group_concat_is_compared_row_by_row(mypg, monkeypatch):
    monkeypatch.setattr(deletion, "HASH_CHUNK", 300)
    monkeypatch.setattr(slice_digests, "GROUP_CONCAT_MAX", 50)  # one row has more
    pair = mypg
    pair.run("copy", run_id="r")
    archived = _archived(pair)

    out, per_slice, per_row = _delete_counting(pair, "r")

    assert out["rows_deleted"] == len(archived) and out["rows_changed"] == 0
    assert per_slice == 0 and per_row == _slices(archived)
    assert not set(archived) & set(pair.src_rows())
