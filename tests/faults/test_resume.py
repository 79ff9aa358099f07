"""Resume from the monitor (``POST /warm/api/v1/tasks/{dag}/{run}/resume``, docs/design.md §6.5) in
the real deployment: the run's failed and skipped table jobs are cleared the way Airflow's Clear
does it, the scheduler runs them again and each continues after its last committed batch.

- ``terminated``: a throttled two-job ``move`` is terminated from the monitor while its first job
  copies (the second is then skipped); resumed, it ends with exact tables, and the ledger shows
  every row copied once: no batch redone, no key met twice.
- ``fault``: the job's first try kills itself (kill -9, failpoints.py) right after its 3rd warm
  commit, before that batch's source delete, so the run fails; resumed, the next try finishes that
  delete and goes on; exact tables, each row copied once.
- refusals: a running, a completed, a rolled-back and a re-executed run each get a 409 with the
  reason, an unknown run a 404, a read-only user a 403; none of them changes the run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults import tally
from tests.faults.deployed import own_engines, pairs_for, scenarios_at_once, wait_job_gone
from tests.faults.fdb import FEngine, FPair, ledger_batches
from tests.processes import wait_for

pytestmark = pytest.mark.timeout(480)


def _tab_of(stack, dag_id: str, run_id: str) -> str | None:
    """The monitor tab listing the run (None: none of them)."""
    for tab in ("in_progress", "exceptional", "completed"):
        page = stack.warm_list(tab=tab, dag_id=dag_id, limit=100)
        if run_id in [t["run_id"] for t in page["tasks"]]:
            return tab
    return None


def _ledger(pair: FPair, dag_id: str, run_id: str, task_id: str) -> list[dict]:
    """The job's ledger batches (header excluded), in batch order."""
    from warm_archive.values import decode_keys

    rows = pair.warm.execute(
        "SELECT batch_no, rows_inserted, keys, existing, source_deleted_at, rolled_back_at "
        "FROM warm_archive_ledger WHERE dag_id = %s AND run_id = %s AND task_id = %s AND batch_no > 0 "
        "ORDER BY batch_no",
        (dag_id, run_id, task_id),
    ).fetchall()
    return [
        {
            "batch_no": r[0],
            "rows_inserted": r[1],
            "keys": [k[0] for k in decode_keys(r[2])],
            "existing": list(decode_keys(r[3])),
            "source_deleted_at": r[4],
            "rolled_back_at": r[5],
        }
        for r in rows
    ]


def _copied_once(stack, pair: FPair, dag_id: str, run_id: str, task_id: str) -> list[dict]:
    """Every archived row was copied by exactly one batch, and no batch met a key already there
    (a redone batch would: its rows would be in the warm table already)."""
    batches = _ledger(pair, dag_id, run_id, task_id)
    keys = [k for b in batches for k in b["keys"]]
    assert len(keys) == len(set(keys)), "a key was copied by two batches"
    assert sorted(keys) == sorted(pair.expected_archived), "the ledger's keys differ from the archive"
    assert sum(b["rows_inserted"] for b in batches) == len(pair.expected_archived)
    assert all(not b["existing"] for b in batches), [b["batch_no"] for b in batches if b["existing"]]
    assert [b["batch_no"] for b in batches] == list(range(1, len(batches) + 1)), "batch numbers with gaps or twice"
    assert all(b["source_deleted_at"] and not b["rolled_back_at"] for b in batches)
    st = stack.xcom(dag_id, run_id, task_id, "warm_status")
    assert st["rows_copied"] == len(pair.expected_archived) and st["rows_skipped"] == 0, st
    assert st["batches"] == len(batches), st
    return batches


def _resume(stack, dag_id: str, run_id: str) -> dict:
    r = stack.action(dag_id, run_id, "resume")
    assert r.status_code == 200, r.text
    return r.json()


def _refused(stack, dag_id: str, run_id: str, says: str, user: str = "admin", code: int = 409) -> None:
    """Refused, and the run was not cleared: Airflow's clear stamps a new ``queued_at`` and sends
    the run back to queued. (A queued run the scheduler starts meanwhile is not a change by us.)"""
    before = stack.run(dag_id, run_id)
    r = stack.action(dag_id, run_id, "resume", user)
    assert r.status_code == code, (r.status_code, r.text)
    assert says in r.json()["detail"], r.json()
    after = stack.run(dag_id, run_id)
    assert after["queued_at"] == before["queued_at"], (before, after)
    assert after["state"] == before["state"] or (before["state"], after["state"]) == ("queued", "running")


def resume_terminated(stack):
    e = own_engines()
    ps = pairs_for(e, [("pg", "pg", "rs1"), ("my", "pg", "rs2")], n=1600)
    first, second = ps["rs1"], ps["rs2"]
    with tally.scenario("fault"):
        run = stack.trigger("f_resume_term")
        wait_for(lambda: ledger_batches(first.warm, "f_resume_term", run, "first") >= 2, 240, 0.2, "two batches")

        # The second job has not planned yet: the run's progress says so and counts the first's rows only
        # (once the first's warm_status, pushed every 2 s, carries its plan).
        def first_planned():
            t = stack.warm_task("f_resume_term", run)
            sub = {s["task_id"]: s for s in t["subtasks"]}
            return (t, sub) if sub["first"]["plan_known"] else None

        t, sub = wait_for(first_planned, 30, 0.2, "the first job's plan on the page")
        assert t["plans_pending"] == ["second"], t["plans_pending"]
        assert t["progress_pct"] == sub["first"]["progress_pct"] < 100, (t["progress_pct"], sub["first"])
        assert sub["first"]["rows_planned"] > 0 and sub["first"]["rows_planned_estimated"], sub["first"]
        _refused(stack, "f_resume_term", run, "only a failed or terminated run can be resumed")
        assert stack.warm_action("f_resume_term", run, "terminate")["killed_task_ids"] == ["first"]
        assert _tab_of(stack, "f_resume_term", run) == "exceptional"
        assert stack.ti_state("f_resume_term", run, "first") == "failed"
        assert stack.ti_state("f_resume_term", run, "second") == "skipped"
        wait_job_gone(first)
        done_before = _ledger(first, "f_resume_term", run, "first")
        assert 0 < len(done_before) < -(-len(first.expected_archived) // 100), "stopped half-way"
        first.check_nothing_lost()

        task = stack.warm_task("f_resume_term", run)
        assert task["actions"]["resume"] == {"allowed": True, "reason": None}, task["actions"]
        with ThreadPoolExecutor(2) as pool:  # two at once: one wins, the other sees a queued run
            answers = list(pool.map(lambda _: stack.action("f_resume_term", run, "resume"), range(2)))
        assert sorted(a.status_code for a in answers) == [200, 409], [(a.status_code, a.text) for a in answers]
        out = next(a for a in answers if a.status_code == 200).json()
        assert out["cleared_task_ids"] == ["first", "second"], out
        assert "only a failed or terminated run" in next(a for a in answers if a.status_code == 409).json()["detail"]
        assert stack.run_state("f_resume_term", run) in ("queued", "running")
        assert _tab_of(stack, "f_resume_term", run) == "in_progress"
        _refused(stack, "f_resume_term", run, "only a failed or terminated run can be resumed")  # not twice

        assert stack.wait_run("f_resume_term", run, timeout=300) == "success"
        first.check_exact("move")
        second.check_exact("move")
        batches = _copied_once(stack, first, "f_resume_term", run, "first")
        kept = [(b["batch_no"], b["keys"]) for b in batches[: len(done_before)]]
        assert kept == [(b["batch_no"], b["keys"]) for b in done_before], (
            "a batch committed before the terminate was redone"
        )
        _copied_once(stack, second, "f_resume_term", run, "second")
        assert stack.task_instance("f_resume_term", run, "first")["try_number"] == 2  # one terminated, one resumed
        # The page's times and rates span both tries of the first job: Airflow's own restart with the Resume.
        t = stack.warm_task("f_resume_term", run)
        sub = {s["task_id"]: s for s in t["subtasks"]}
        assert t["plans_pending"] == [] and t["progress_pct"] == 100.0, t
        assert t["first_start"] < t["start"], (t["first_start"], t["start"])  # the first try's start
        assert sub["first"]["first_start"] == t["first_start"] < sub["first"]["start"], sub["first"]
        assert sub["first"]["active_s"] > sub["first"]["duration_s"], sub["first"]  # both tries
        assert t["active_s"] == round(sub["first"]["active_s"] + sub["second"]["active_s"], 1), t
        moved = sub["first"]["rows_archived"]
        assert moved == len(first.expected_archived), sub["first"]
        assert sub["first"]["avg_rows_per_second"] == round(moved / sub["first"]["active_s"], 1), sub["first"]
        _refused(stack, "f_resume_term", run, "this run completed")
        log = stack.get("/warm/api/v1/actions", params={"action": "resume", "run_id": run}).json()["actions"]
        assert [(a["outcome"], a["http_status"], a["user_name"]) for a in log if a["outcome"] == "ok"] == [
            ("ok", 200, "admin")
        ], log
        assert {a["http_status"] for a in log if a["outcome"] == "refused"} == {409}, log
    return run


def resume_after_fault(stack):
    e = own_engines()
    pair = pairs_for(e, [("my", "pg", "rf")], n=1600)["rf"]
    with tally.scenario("kill"):
        run = stack.trigger("f_resume_fault")
        assert stack.wait_run("f_resume_fault", run, timeout=300) == "failed"
        ti = stack.task_instance("f_resume_fault", run, "orders")
        assert ti["state"] == "failed" and ti["try_number"] == 1, ti
        pair.check_nothing_lost()
        done_before = _ledger(pair, "f_resume_fault", run, "orders")
        # killed between the 3rd batch's warm commit and its source delete
        assert len(done_before) == 3 and done_before[2]["source_deleted_at"] is None, done_before
        src_keys = set(pair.src_rows())
        assert all(k in src_keys for k in done_before[2]["keys"])  # in both tables until the resume

        assert _tab_of(stack, "f_resume_fault", run) == "exceptional"
        _resume(stack, "f_resume_fault", run)
        assert stack.wait_run("f_resume_fault", run, timeout=300) == "success"
        pair.check_exact("move")
        batches = _copied_once(stack, pair, "f_resume_fault", run, "orders")
        assert [b["keys"] for b in batches[:3]] == [b["keys"] for b in done_before]
        assert stack.task_instance("f_resume_fault", run, "orders")["try_number"] == 2
        assert _tab_of(stack, "f_resume_fault", run) == "completed"
    return run


SCENARIOS = {"terminated": resume_terminated, "fault": resume_after_fault}


@pytest.fixture(scope="module")
def scenarios(stack):
    yield from scenarios_at_once(stack, SCENARIOS)


def test_resume_after_terminate_mid_run_copies_each_row_once(scenarios):
    scenarios["terminated"].result(timeout=460)


def test_resume_after_a_killed_first_try_finishes_its_batch_and_copies_each_row_once(scenarios):
    scenarios["fault"].result(timeout=460)


def test_resume_refusals_change_nothing(stack, scenarios):
    """A rolled-back and a re-executed run: 409 with the reason; unknown run 404; viewer 403."""
    e = FEngine("pg")
    try:
        e.drop("fsrc.rr_missing")  # the job fails at once: its source table does not exist
    finally:
        e.close()
    rolled = stack.trigger("f_resume_refuse")
    assert stack.wait_run("f_resume_refuse", rolled, timeout=240) == "failed"
    _refused(stack, "f_resume_refuse", rolled, "", user="viewer", code=403)
    stack.rollback_and_wait("f_resume_refuse", rolled)
    _refused(stack, "f_resume_refuse", rolled, "was rolled back")
    assert stack.warm_task("f_resume_refuse", rolled)["actions"]["resume"]["allowed"] is False

    redone = stack.trigger("f_resume_refuse")
    assert stack.wait_run("f_resume_refuse", redone, timeout=240) == "failed"
    new = stack.warm_action("f_resume_refuse", redone, "reexecute", task_id="orders")["new_run_id"]
    _refused(stack, "f_resume_refuse", redone, f"re-executed as {new}")
    stack.wait_run("f_resume_refuse", new, timeout=240)

    r = stack.action("f_resume_refuse", "no_such_run", "resume")
    assert r.status_code == 404, r.text
    # the scenarios above must not be disturbed by these (they run at the same time)
    for f in scenarios.values():
        f.result(timeout=460)
