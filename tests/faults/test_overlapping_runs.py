"""Two runs on overlapping rows at once, and a re-run racing a rollback (docs/design.md §4.2, README "one
job at a time works on a warm table"): one wins cleanly, the other waits or is refused clearly,
nothing is duplicated and nothing lost.
"""

from __future__ import annotations

import time

import pytest

from tests.faults import tally
from tests.faults.fdb import PAIRS, FPair, JobThread, ledger_batches
from tests.processes import wait_for
from warm_archive.errors import WarmArchiveError

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("s,w", PAIRS[:2], ids=[f"{s}->{w}" for s, w in PAIRS[:2]])
def test_two_runs_on_the_same_rows_at_once_one_waits(fengines, s, w):
    pair = FPair(s, w, "ov", fengines).reset()
    with tally.scenario("fault"):
        first = JobThread(pair.params("move", "ov_1", max_rows_per_second=1500))
        second = JobThread(pair.params("move", "ov_2", where="created_at < '2024-06-01'"))  # overlapping rows
        first.start()
        wait_for(lambda: ledger_batches(pair.warm, "warm_fault", "ov_1", "ov") >= 1, 60, 0.05, "the first job")
        second.start()
        time.sleep(0.5)
        assert second.is_alive() and ledger_batches(pair.warm, "warm_fault", "ov_2", "ov") == 0  # waiting
        first.finish()
        second.finish()
        assert first.error is None and second.error is None, (first.error, second.error)
        assert second.result["rows_copied"] == 0  # its rows were gone: nothing twice
        pair.check_exact("move")


def test_a_second_run_gives_up_after_lock_timeout_and_changes_nothing(fengines):
    pair = FPair("pg", "pg", "ov", fengines).reset()
    with tally.scenario("fault"):
        first = JobThread(pair.params("copy_then_delete", "lt_1", max_rows_per_second=600))
        first.start()
        wait_for(lambda: ledger_batches(pair.warm, "warm_fault", "lt_1", "ov") >= 1, 60, 0.05, "the first job")
        second = JobThread(pair.params("copy_then_delete", "lt_2", lock_timeout_s=1.5))
        second.start()
        second.finish()
        assert isinstance(second.error, WarmArchiveError), repr(second.error)
        assert "another warm job is working on" in str(second.error)
        assert ledger_batches(pair.warm, "warm_fault", "lt_2", "ov") == 0
        first.finish()
        assert first.error is None, first.error
        pair.check_exact("copy_then_delete")


@pytest.mark.parametrize("order", ["rollback_first", "rerun_first"])
def test_rerun_racing_a_rollback_ends_in_one_exact_state(fengines, order):
    """A finished move run is rolled back while a new run of the same job starts: whichever takes
    the warm-table lock first, the tables end in one of the two exact states, never a mix."""
    from tests.dbs import checksum

    pair = FPair("my", "pg", "rr", fengines).reset()
    with tally.scenario("fault"):
        done = JobThread(pair.params("move", "rr_1"))
        done.start()
        assert done.finish().error is None
        rb = JobThread(pair.params("move", "rr_1", max_rows_per_second=None), action="rollback")
        rerun = JobThread(pair.params("move", "rr_2", max_rows_per_second=3000))
        a, b = (rb, rerun) if order == "rollback_first" else (rerun, rb)
        a.start()
        time.sleep(0.05)
        b.start()
        a.finish()
        b.finish()
        assert rb.error is None and rerun.error is None, (rb.error, rerun.error)
        src, warm = pair.src_rows(), pair.warm_rows()
        dup = [k for k in warm if k in src]
        lost = [k for k, r in pair.before_src.items() if src.get(k) != r and warm.get(k) != r]
        tally.rows(lost=lost, duplicated=dup)
        assert not lost and not dup, (lost[:5], dup[:5])
        restored = checksum(src) == checksum(pair.before_src) and not warm
        archived = checksum(warm) == checksum(pair.expected_archived) and checksum(src) == checksum(pair.expected_kept)
        assert restored or archived


def test_two_runs_of_one_dag_at_once_never_overlap(stack, fengines):
    """Triggered together, the second run of a warm DAG waits queued (max_active_runs 1) and then
    archives nothing twice."""
    pair = FPair("pg", "pg", "tw", fengines).reset()
    with tally.scenario("fault"):
        r1, r2 = stack.trigger("f_twice"), stack.trigger("f_twice")
        both_running = False
        deadline = time.time() + 300
        while time.time() < deadline:
            s1, s2 = stack.run_state("f_twice", r1), stack.run_state("f_twice", r2)
            both_running |= s1 == "running" and s2 == "running"
            if s1 in ("success", "failed") and s2 in ("success", "failed"):
                break
            time.sleep(0.5)
        assert (s1, s2) == ("success", "success"), (s1, s2)
        assert not both_running
        pair.check_exact("move")
        rows = {run: stack.return_value("f_twice", run, "orders")["rows_copied"] for run in (r1, r2)}
        assert sorted(rows.values()) == [0, len(pair.expected_archived)], rows
