"""Terminate = ``on_kill`` = ``TableJob.stop()`` (docs/design.md §4.8): it cancels the statement the job is
running, even one that waits on a lock, from another thread (the progress publisher's thread, or
any caller other than the job's own), and the job stops with its ledger consistent.

The job is parked in its verified delete (``copy_then_delete``) on a source row the test holds
locked; ``stop()`` must end it within seconds, long before the lock would be released.
"""

from __future__ import annotations

import time

import pytest

from tests.faults import tally
from tests.faults.fdb import FEngine, FPair, JobThread, RowLock, backend_waiting_on_lock, ledger_batches, ledger_report
from tests.processes import wait_for


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["pg", "my"])
def test_stop_cancels_a_statement_waiting_on_a_lock(fengines, kind):
    pair = FPair(kind, kind, "stop_wait", fengines).reset()
    run_id = f"stop_{kind}"
    with tally.scenario("fault"):
        t = JobThread(pair.params("copy_then_delete", run_id, max_rows_per_second=800))
        t.start()
        holder = None
        try:
            t.started_evt.wait(30)
            wait_for(
                lambda: ledger_batches(pair.warm, "warm_fault", run_id, pair.name) >= 5,
                60,
                what="the copy past the row",
            )
            holder = RowLock(kind, pair.src_table, 700)
            admin = FEngine(kind)
            wait_for(
                lambda: backend_waiting_on_lock(admin, kind, t.source_backends()),
                60,
                what="the job waiting on the lock",
            )
            admin.close()
            t0 = time.monotonic()
            t.job.stop()  # what on_kill does
            t.join(8)
            stopped_in = time.monotonic() - t0
        finally:
            if holder is not None:
                holder.release()  # lets a job that ignored stop() go on, so the test ends either way
        t.finish()
        assert stopped_in < 8, f"stop() did not cancel the waiting statement ({stopped_in:.1f}s)"
        # The job fails; the operator reports any error of a stopped job as "terminated".
        assert t.error is not None and t.job.stopped, repr(t.error)
        pair.check_nothing_lost()
        report = ledger_report(pair, run_id, strategy="copy_then_delete")
        assert report["lost"] == 0 and report["in_warm"] == report["rows"], report
        rb = JobThread(pair.params("copy_then_delete", run_id), action="rollback")
        rb.start()
        assert rb.finish().error is None, rb.error
        pair.check_restored()
