"""Where rows stream between two servers, ``copy`` and ``copy_then_delete`` copy two batches at a
time (docs/design.md §4.1, §4.2): commits stay in batch order, so the ledger always holds a prefix of the
batches and a retry resumes after the last one. A batch that fails keeps the batch after it, already
streaming on the other connections, from committing."""

from __future__ import annotations

import pytest

from tests.engine.conftest import WARM, Pair
from warm_archive.copying import overlaps_batches
from warm_archive.engine import TableJob
from warm_archive.errors import ConflictError

STREAMING = [("pg", "pg2"), ("my", "pg"), ("pg", "my")]


@pytest.fixture(params=STREAMING, ids=[f"{s}->{w}" for s, w in STREAMING])
def spair(request, engines):
    s, w = request.param
    return Pair(engines[s], engines[w]).reset(n=3000)


def _ledger_batches(pair, run_id):
    cur = pair.warm.execute(
        f"SELECT batch_no FROM {pair.warm.ledger(WARM)} WHERE run_id = %s AND batch_no > 0 ORDER BY batch_no",
        (run_id,),
    )
    return [r[0] for r in cur.fetchall()]


def test_the_copy_overlaps_batches_and_the_ledger_is_their_prefix(spair):
    pair = spair
    with TableJob(pair.params("copy_then_delete", "r", batch_size=300)) as job:
        status = job.run()
        assert overlaps_batches(job.plan, job.sessions)
        assert len(job.sessions.warm_extra) == 1 and len(job.sessions.source_extra) == 1  # a second pair of connections
    batches = -(-len(pair.expected_archived) // 300)
    assert status["batches"] == batches and status["rows_deleted"] == len(pair.expected_archived)
    assert _ledger_batches(pair, "r") == list(range(1, batches + 1))
    assert pair.warm_rows() == pair.expected_archived
    assert pair.src_rows() == {k: v for k, v in pair.before_src.items() if k not in pair.expected_archived}


def test_a_failed_batch_keeps_the_next_one_from_committing(spair):
    pair = spair
    first = min(pair.expected_archived)
    pair.run("copy", run_id="seed", where=f"id = {first}")  # the warm table holds batch 1's first row

    with pytest.raises(ConflictError, match="already in t_warm.orders"):
        pair.run("copy_then_delete", run_id="r", on_conflict="error", batch_size=300)

    # Batch 2 streamed beside batch 1 but waited for it: neither committed, nothing moved.
    assert _ledger_batches(pair, "r") == []
    assert set(pair.warm_rows()) == {first}
    assert pair.src_rows() == pair.before_src

    status = pair.run("copy_then_delete", run_id="r", batch_size=300)  # the retry skips the row
    assert status["rows_copied"] + status["rows_skipped"] == len(pair.expected_archived)
    assert pair.warm_rows() == pair.expected_archived
    assert not set(pair.expected_archived) & set(pair.src_rows())
