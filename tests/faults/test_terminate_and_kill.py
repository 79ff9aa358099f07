"""Terminate from the monitor, and kill -9 of the Airflow worker, in a real deployment (docs/design.md §4.5,
§4.8, §6). All scenarios run at once (each on its own DAG and tables); each test checks one.

Terminate (``POST /warm/api/v1/tasks/{dag}/{run}/terminate``) at several points:
- ``copy``: a throttled ``move`` has committed two batches;
- ``delete``: ``copy_then_delete`` copied everything and waits in its verified delete on a row the
  test holds locked (MariaDB);
- ``second_job``: the first of two table jobs finished, the second is copying;
- ``lock_wait``: the job waits for the warm-table lock another holder has;
- ``queued``: the task waits for a slot in a pool with none; the slot frees after the terminate.
Each time: the run lands in Exceptional, the job really stops (its warm-table lock is free), the
ledger knows where every row is (none lost, all in the warm table), and a rollback through the
monitor restores source and warm tables to their exact checksums.

Kill -9 of the task process (found through its database connection) mid-copy and mid-delete:
Airflow's retry resumes from the ledger and leaves exactly the expected tables.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults import tally
from tests.faults.deployed import HeldWarmLock, kill_worker_of, own_engines, pairs_for, scenarios_at_once, wait_job_gone
from tests.faults.fdb import FEngine, RowLock, ledger_batches, ledger_report, waiting_on_lock
from tests.processes import wait_for

pytestmark = pytest.mark.timeout(420)


def _exceptional(stack, dag_id, run_id):
    r = stack.get("/warm/api/v1/tasks", params={"tab": "exceptional", "dag_id": dag_id})
    assert r.status_code == 200, r.text
    return run_id in [t["run_id"] for t in r.json()["tasks"]]


def _terminate(stack, dag_id, run_id):
    r = stack.action(dag_id, run_id, "terminate")
    assert r.status_code == 200, r.text
    assert stack.run_state(dag_id, run_id) == "failed"
    assert _exceptional(stack, dag_id, run_id)
    return r.json()


def _check_ledger(pair, dag_id, run_id, task_id, strategy):
    report = ledger_report(pair, run_id, dag_id=dag_id, task_id=task_id, strategy=strategy)
    assert report["lost"] == 0 and report["in_warm"] == report["rows"], report
    assert report["deleted_batches_with_rows_in_source"] == 0, report
    return report


def _rollback_restores(stack, dag_id, run_id, pairs):
    stack.rollback_and_wait(dag_id, run_id)
    for p in pairs:
        p.check_restored()
    task = stack.warm_task(dag_id, run_id)
    assert task["rollback_status"] == "rolled_back", task["rollback_status"]


def term_copy(stack):
    e = own_engines()
    pair = pairs_for(e, [("pg", "pg", "tc")])["tc"]
    with tally.scenario("fault"):
        run = stack.trigger("f_term_copy")
        wait_for(lambda: ledger_batches(pair.warm, "f_term_copy", run, "orders") >= 2, 240, 0.2, "two batches")
        out = _terminate(stack, "f_term_copy", run)
        at_terminate = ledger_batches(pair.warm, "f_term_copy", run, "orders")
        assert out["killed_task_ids"] == ["orders"], out
        wait_job_gone(pair)
        pair.check_nothing_lost()
        rep = _check_ledger(pair, "f_term_copy", run, "orders", "move")
        assert 0 < rep["rows"] < len(pair.expected_archived), rep  # stopped half-way
        # The job learns of the terminate within a second (the task SDK, not the supervisor's
        # heartbeat some seconds later): at most the batch in flight then commits, and at 150 rows/s
        # in batches of 100 it would commit about one more batch per 0.7 s otherwise.
        after = ledger_batches(pair.warm, "f_term_copy", run, "orders")
        assert after - at_terminate <= 2, (at_terminate, after)
        status = wait_for(
            lambda: (st := stack.xcom("f_term_copy", run, "orders", "warm_status"))["state"] == "failed" and st,
            30,
            0.2,
            "the stopped job's last status",
        )
        assert status["error"].startswith("terminated;"), status
        task = stack.warm_task("f_term_copy", run)
        assert task["error"] == "orders: terminated; the ledger holds every committed batch", task["error"]
        assert task["rows_archived"] == rep["rows"], (task["rows_archived"], rep)  # the page's figure is the ledger's
        _rollback_restores(stack, "f_term_copy", run, [pair])
    return run, pair


def term_delete(stack):
    e = own_engines()
    pair = pairs_for(e, [("my", "my", "td")])["td"]
    with tally.scenario("fault"):
        holder = None
        try:
            run = stack.trigger("f_term_delete")
            # lock the row once the copy is past it (MariaDB's one-database INSERT ... SELECT would wait on it)
            wait_for(lambda: ledger_batches(pair.warm, "f_term_delete", run, "orders") >= 5, 240, 0.1, "five batches")
            holder = RowLock("my", pair.src_table, 700)
            admin = FEngine("my")
            # the job's verified delete waits on the locked row
            wait_for(
                lambda: any(
                    waiting_on_lock(admin, "my", r[0])
                    for r in admin.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s", ("%src_td%",)
                    ).fetchall()
                ),
                60,
                0.3,
                "the delete phase waiting on the locked row",
            )
            admin.close()
            _terminate(stack, "f_term_delete", run)
            wait_job_gone(pair, 90)  # on_kill cancels the waiting statement (or the supervisor kills it)
        finally:
            if holder is not None:
                holder.release()
        pair.check_nothing_lost()
        _check_ledger(pair, "f_term_delete", run, "orders", "copy_then_delete")
        _rollback_restores(stack, "f_term_delete", run, [pair])
    return run, pair


def term_second(stack):
    e = own_engines()
    ps = pairs_for(e, [("pg", "my", "ts1"), ("my", "pg", "ts2")])
    ps["ts1"].reset(n=600)
    with tally.scenario("fault"):
        run = stack.trigger("f_term_second")
        wait_for(
            lambda: ledger_batches(ps["ts2"].warm, "f_term_second", run, "second") >= 1,
            240,
            0.2,
            "the second job's first batch",
        )
        assert stack.ti_state("f_term_second", run, "first") == "success"
        _terminate(stack, "f_term_second", run)
        wait_job_gone(ps["ts2"])
        for p in ps.values():
            p.check_nothing_lost()
        ps["ts1"].check_exact("move")  # the first job had finished
        _check_ledger(ps["ts2"], "f_term_second", run, "second", "move")
        _rollback_restores(stack, "f_term_second", run, list(ps.values()))
    return run, ps


def term_lock_wait(stack):
    e = own_engines()
    pair = pairs_for(e, [("pg", "pg", "tl")])["tl"]
    with tally.scenario("fault"):
        held = HeldWarmLock("pg", pair.warm_table)
        try:
            run = stack.trigger("f_term_lock")
            wait_for(lambda: stack.ti_state("f_term_lock", run, "orders") == "running", 240, 0.5, "the task running")
            time.sleep(3)  # inside acquire_lock's wait loop
            assert ledger_batches(pair.warm, "f_term_lock", run, "orders") == 0
            _terminate(stack, "f_term_lock", run)
            time.sleep(8)  # heartbeat + SIGTERM: the waiting job stops; it must not start once the lock frees
        finally:
            held.release()
        time.sleep(2)
        assert ledger_batches(pair.warm, "f_term_lock", run, "orders") == 0
        pair.check_restored()
        _rollback_restores(stack, "f_term_lock", run, [pair])
    return run, pair


def _set_pool(stack, name, slots):
    r = stack.patch(f"/api/v2/pools/{name}", json={"name": name, "slots": slots, "include_deferred": False})
    if r.status_code == 404:
        r = stack.post("/api/v2/pools", json={"name": name, "slots": slots, "include_deferred": False})
    assert r.status_code in (200, 201), r.text


def term_queued(stack):
    e = own_engines()
    pair = pairs_for(e, [("pg", "pg", "tq")])["tq"]
    with tally.scenario("fault"):
        _set_pool(stack, "f_closed", 0)  # the task waits for a slot: terminated before it can start
        run = stack.trigger("f_term_queued")
        wait_for(
            lambda: stack.ti_state("f_term_queued", run, "orders") == "scheduled",
            120,
            0.3,
            "the task scheduled, waiting for a pool slot",
        )
        _terminate(stack, "f_term_queued", run)
        _set_pool(stack, "f_closed", 4)  # a slot frees up: the terminated task must still never run
        time.sleep(8)
        assert stack.ti_state("f_term_queued", run, "orders") in (
            None,
            "skipped",
            "failed",
            "upstream_failed",
            "removed",
        )
        assert ledger_batches(pair.warm, "f_term_queued", run, "orders") == 0
        pair.check_restored()
        _rollback_restores(stack, "f_term_queued", run, [pair])
    return run, pair


def kill_copy(stack):
    e = own_engines()
    pair = pairs_for(e, [("pg", "my", "kc")])["kc"]
    with tally.scenario("kill"):
        run = stack.trigger("f_kill_copy")
        wait_for(lambda: ledger_batches(pair.warm, "f_kill_copy", run, "orders") >= 3, 240, 0.2, "three batches")
        kill_worker_of(stack, "f_kill_copy", run, "orders")
        pair.check_nothing_lost()
        assert stack.wait_run("f_kill_copy", run, timeout=240) == "success"
        pair.check_exact("move")
        ti = stack.task_instance("f_kill_copy", run, "orders")
        assert ti["try_number"] == 2, ti  # the kill cost one try; the retry resumed
    return run, pair


def kill_delete(stack):
    e = own_engines()
    pair = pairs_for(e, [("my", "pg", "kd")])["kd"]
    with tally.scenario("kill"):
        holder = RowLock("my", pair.src_table, 700)
        try:
            run = stack.trigger("f_kill_delete")
            n = -(-len(pair.expected_archived) // 200)
            wait_for(lambda: ledger_batches(pair.warm, "f_kill_delete", run, "orders") >= n, 240, 0.2, "all batches")
            admin = FEngine("my")
            wait_for(
                lambda: any(
                    waiting_on_lock(admin, "my", r[0])
                    for r in admin.execute(
                        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s", ("%src_kd%FOR UPDATE%",)
                    ).fetchall()
                ),
                60,
                0.3,
                "the delete phase waiting on the locked row",
            )
            admin.close()
            kill_worker_of(stack, "f_kill_delete", run, "orders")
        finally:
            holder.release()
        pair.check_nothing_lost()
        assert stack.wait_run("f_kill_delete", run, timeout=240) == "success"
        pair.check_exact("copy_then_delete")
    return run, pair


SCENARIOS = {
    "copy": term_copy,
    "delete": term_delete,
    "second_job": term_second,
    "lock_wait": term_lock_wait,
    "queued": term_queued,
    "kill_copy": kill_copy,
    "kill_delete": kill_delete,
}


@pytest.fixture(scope="module")
def scenarios(stack):
    yield from scenarios_at_once(stack, SCENARIOS)


@pytest.mark.parametrize("point", ["copy", "delete", "second_job", "lock_wait", "queued"])
def test_terminate_from_the_monitor_then_rollback_is_exact(scenarios, point):
    scenarios[point].result(timeout=400)


@pytest.mark.parametrize("point", ["kill_copy", "kill_delete"])
def test_kill_9_of_the_airflow_worker_then_retry_is_exact(scenarios, point):
    scenarios[point].result(timeout=400)


def test_reexecute_racing_rollback_one_wins_nothing_duplicated(scenarios, stack):
    """On the terminated (and rolled back) run of f_term_copy: two re-executions and a rollback
    requested at the same instant. Exactly one is accepted, the others get 409; the accepted
    re-execution waits for its rollback, then archives every row exactly once."""
    run, pair = scenarios["copy"].result(timeout=400)
    with tally.scenario("fault"):
        with ThreadPoolExecutor(3) as pool:
            futs = [
                pool.submit(stack.action, "f_term_copy", run, "reexecute", "admin", "orders"),
                pool.submit(stack.action, "f_term_copy", run, "reexecute", "admin", "orders"),
                pool.submit(stack.action, "f_term_copy", run, "rollback"),
            ]
            answers = [f.result() for f in futs]
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409, 409], [(a.status_code, a.text[:200]) for a in answers]
        ok = next(a for a in answers if a.status_code == 200).json()
        new_run = ok.get("new_run_id")
        if new_run:
            assert stack.wait_run("f_term_copy", new_run, timeout=240) == "success"
            pair.check_exact("move")
            runs = stack.get("/api/v2/dags/f_term_copy/dagRuns").json()["dag_runs"]
            assert len(runs) == 2, [r["dag_run_id"] for r in runs]  # no second re-execution run
        else:  # the rollback won (a no-op on an already rolled back run)
            stack.wait_run(ok["maintenance_dag_id"], ok["maintenance_run_id"])
            pair.check_restored()
