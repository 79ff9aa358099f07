"""A database connection dropped from the server side in the middle of a batch (docs/design.md §4.5).

The test parks the job at an exact point with a lock it holds itself, checks the job is waiting
there, then terminates the job's backend (``pg_terminate_backend`` / ``KILL CONNECTION``):
- ``source``: the job is reading a batch of a ``move`` (``SELECT ... FOR UPDATE`` waits on a row);
- ``warm``: the job is writing a batch into the warm table, inside the batch's warm transaction
  (the warm table is locked by the test), with the batch's source rows locked;
- ``delete``: ``copy_then_delete`` has copied everything and is in its verified delete.
The job fails (it does not silently succeed), every row is in the source or the warm table, the
ledger knows where each of its rows is; then the retry of the same task instance finishes with
exact tables, or (``delete``) a rollback restores both tables exactly.
"""

from __future__ import annotations

import pytest

from tests.faults import tally
from tests.faults.fdb import (
    PAIRS,
    FEngine,
    FPair,
    JobThread,
    RowLock,
    backend_waiting_on_lock,
    kill_backend,
    ledger_batches,
    ledger_report,
)
from tests.processes import wait_for

LOCKED_KEY = 700  # in the 4th batch of 200 (ids 1..1600 match the condition)


class WarmTableLock:
    """The test locks the warm table against writes (reads still pass)."""

    def __init__(self, kind: str, t: str):
        self.e = FEngine(kind)
        if kind == "pg":
            self.e.conn.autocommit = False
            self.e.conn.execute(f"LOCK TABLE {self.e.q(t)} IN EXCLUSIVE MODE")
        else:
            self.e.execute(f"LOCK TABLES {self.e.q(t)} READ")

    def release(self):
        try:
            if self.e.kind == "pg":
                self.e.conn.rollback()
            else:
                self.e.execute("UNLOCK TABLES")
        finally:
            self.e.close()


CASES = [(s, w, side) for s, w in PAIRS for side in ("source", "warm", "delete")]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("s,w,side", CASES, ids=[f"{s}->{w}-{side}" for s, w, side in CASES])
def test_connection_dropped_mid_batch(fengines, s, w, side):
    pair = FPair(s, w, f"cd_{side}", fengines).reset()
    strategy = "copy_then_delete" if side == "delete" else "move"
    run_id = f"drop_{s}{w}_{side}"
    kind = w if side == "warm" else s
    with tally.scenario("fault"):
        holder = None
        if side == "source":
            holder = RowLock(s, pair.src_table, LOCKED_KEY)
        t = JobThread(pair.params(strategy, run_id, max_rows_per_second=None if side == "source" else 800))
        t.start()
        try:
            t.started_evt.wait(30)
            if side == "warm":
                wait_for(
                    lambda: ledger_batches(pair.warm, "warm_fault", run_id, pair.name) >= 2,
                    60,
                    what="two committed batches",
                )
                holder = WarmTableLock(w, pair.warm_table)
            if side == "delete":  # once the copy is past the row (MariaDB's INSERT ... SELECT would wait on it)
                wait_for(
                    lambda: ledger_batches(pair.warm, "warm_fault", run_id, pair.name) >= 5,
                    60,
                    what="five committed batches",
                )
                holder = RowLock(s, pair.src_table, LOCKED_KEY)

            # hot and warm table in one database: the batch is one INSERT ... SELECT on the source
            # connection; the delete phase may work on more than one source connection
            def candidates():
                return [t.backends["warm"]] if side == "warm" and not t.job.plan.same_db else t.source_backends()

            admin = FEngine(kind)
            backend = wait_for(
                lambda: backend_waiting_on_lock(admin, kind, candidates()),
                60,
                what=f"the job waiting in its {side} step",
            )
            if side == "delete":
                assert t.job.progress.as_dict()["phase"] == "delete"
            kill_backend(admin, kind, backend)
            admin.close()
        finally:
            if holder is not None:
                holder.release()
        t.finish()
        assert t.error is not None, "the job went on as if its connection had not been dropped"
        assert t.result is None

        pair.check_nothing_lost()
        report = ledger_report(pair, run_id, strategy=strategy)
        assert report["lost"] == 0 and report["in_warm"] == report["rows"], report
        assert report["deleted_batches_with_rows_in_source"] == 0, report

        if side == "delete":  # the monitor's answer to a failed run: roll it back
            rb = JobThread(pair.params(strategy, run_id), action="rollback")
            rb.start()
            assert rb.finish().error is None, rb.error
            pair.check_restored()
        else:  # Airflow's answer: the retry of the same task instance
            retry = JobThread(pair.params(strategy, run_id))
            retry.start()
            assert retry.finish().error is None, retry.error
            pair.check_exact(strategy)
