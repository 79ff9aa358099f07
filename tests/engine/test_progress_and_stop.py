"""Progress reaches Airflow at least every 3 s, even inside one long statement (docs/design.md §5), and a
stopped job (Airflow's on_kill) cancels its statement and leaves a consistent ledger (docs/design.md §4.8)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.dbs import checksum, pg
from warm_archive.engine import TableJob
from warm_archive.errors import Terminated
from warm_archive.progress import Publisher


@pytest.fixture
def pg_pair(engines):
    from tests.engine.conftest import Pair

    return Pair(engines["pg"], engines["pg"]).reset(n=3000)


class RowLockedFor:
    """Another session holds one archived source row locked (``FOR UPDATE``) for ``seconds``: the
    job's delete of that row's batch is one statement that waits that long."""

    def __init__(self, pair, seconds: float | None):
        self.conn = pg()
        self.conn.autocommit = False
        key = sorted(pair.expected_archived)[len(pair.expected_archived) * 3 // 4]  # a later batch
        self.conn.execute('SELECT 1 FROM "t_src"."orders" WHERE id = %s FOR UPDATE', (key,))
        self.timer = threading.Timer(seconds, self.release) if seconds else None
        if self.timer:
            self.timer.start()

    def release(self):
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def test_status_is_published_at_least_every_3_seconds_even_during_a_slow_statement(pg_pair):
    # One delete statement waits 8 s for a row another session holds.
    params = pg_pair.params("move", batch_size=500)
    pushes: list[tuple[float, dict]] = []
    job = TableJob(params)
    lock = RowLockedFor(pg_pair, 8.0)
    try:
        with Publisher(job.progress, lambda s: pushes.append((time.monotonic(), s))):
            with job:
                job.run()
    finally:
        lock.release()
    gaps = [b[0] - a[0] for a, b in zip(pushes, pushes[1:])]
    assert len(pushes) >= 4 and max(gaps) <= 3.0, gaps
    assert pushes[-1][1]["state"] == "success" and pushes[-1][1]["progress_pct"] == 100.0
    pct = [s["progress_pct"] for _, s in pushes]
    assert pct == sorted(pct) and any(0 < p < 100 for p in pct)  # it moved, and only forward


def test_stop_cancels_the_running_statement_and_rollback_is_exact(pg_pair):
    params = pg_pair.params("move", batch_size=500)
    job = TableJob(params)
    lock = RowLockedFor(pg_pair, None)  # held until after the stop: the delete would wait forever
    timer = threading.Timer(5.0, job.stop)  # what Airflow's on_kill does, mid-statement
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(Terminated):
            with job:
                job.run()
        assert time.monotonic() - t0 < 5.0 + 2.0  # the statement was cancelled, not waited for
    finally:
        lock.release()
    with TableJob(pg_pair.params(run_id=params.run_id)) as check:
        check.prepare(create_target=False)
        report = check.verify()
        assert report["lost"] == 0 and report["rows"] < len(pg_pair.expected_archived)
        check.rollback()
    assert checksum(pg_pair.src_rows()) == checksum(pg_pair.before_src)
    assert pg_pair.warm_rows() == {}
