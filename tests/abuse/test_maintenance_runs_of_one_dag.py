"""A warm DAG's maintenance runs, tried as an attacker and as a careless operator would (FAB).

* A signed maintenance conf acts once: clearing its run in Airflow (as an admin may, through
  ``clearTaskInstances``), or marking it failed and clearing it, starts a second try that is
  refused on the worker, so what happened since (a new run that archived the rows again) is not
  undone. Tested with a data-changing sequence: rollback, new archive run, Clear of the rollback.
* Nobody learns about a DAG's runs through maintenance runs: each warm DAG has its own maintenance
  DAG, so a user with rights on ``f_other`` and ``f_other__maintenance`` only sees nothing of
  ``f_guard``'s maintenance runs (conf, XComs, task logs, audit log) through Airflow's REST API
  or the plugin's, while ``f_guard``'s maintenance runs exist and carry all of that.
"""

from __future__ import annotations

import json

import pytest

from tests.faults import tally
from tests.faults.fdb import FPair
from tests.processes import wait_for

pytestmark = pytest.mark.timeout(900)


def _maintenance_try(stack, m_dag: str, m_run: str, try_number: int) -> dict:
    def ended():
        ti = stack.task_instance(m_dag, m_run, "maintain")
        return ti if ti["try_number"] == try_number and ti["state"] in ("success", "failed") else None

    return wait_for(ended, 240, what=f"try {try_number} of {m_dag} run {m_run}")


def _log(stack, m_dag: str, m_run: str, try_number: int) -> str:
    r = stack.get(
        f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain/logs/{try_number}",
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]
    return json.dumps(r.json())


def _clear(stack, m_dag: str, m_run: str, only_failed: bool) -> None:
    r = stack.post(
        f"/api/v2/dags/{m_dag}/clearTaskInstances",
        "admin",
        json={"dry_run": False, "only_failed": only_failed, "dag_run_id": m_run, "task_ids": ["maintain"]},
    )
    assert r.status_code == 200, r.text[:300]
    assert [t["task_id"] for t in r.json()["task_instances"]] == ["maintain"], r.json()


@pytest.fixture(scope="module")
def rolled_back(stack, fengines):
    """f_once archived its rows, then an admin rolled that run back (the admin path: the run
    succeeded): every row is back in the source. Its maintenance run carries a conf naming the
    target run, XComs, a task log and audit rows: what an outsider must not read."""
    pair = FPair("pg", "my", "on", fengines).reset(n=600)
    first = stack.trigger("f_once")
    assert stack.wait_run("f_once", first, timeout=300) == "success"
    archived = pair.warm_rows()
    assert archived and pair.src_rows() != pair.before_src
    r = stack.post(
        f"/warm/api/v1/tasks/f_once/{first}/maintenance", "admin", json={"action": "rollback", "any_state": True}
    )
    assert r.status_code == 200, r.text
    m_dag, m_run = r.json()["maintenance_dag_id"], r.json()["maintenance_run_id"]
    assert m_dag == "f_once__maintenance"
    assert _maintenance_try(stack, m_dag, m_run, 1)["state"] == "success"
    assert pair.src_rows() == pair.before_src and pair.warm_rows() == {}
    return {"pair": pair, "first": first, "archived": archived, "m_dag": m_dag, "m_run": m_run}


def test_a_cleared_rollback_does_not_undo_a_later_archive_run(stack, rolled_back):
    pair, archived, m_dag, m_run = (rolled_back[k] for k in ("pair", "archived", "m_dag", "m_run"))
    # A new run archives the same rows again.
    second = stack.trigger("f_once")
    assert stack.wait_run("f_once", second, timeout=300) == "success"
    after_second = (pair.src_rows(), pair.warm_rows())
    assert after_second[1] == archived

    # The rollback's task marked failed, then cleared with "only failed" (as a user with rights on
    # the maintenance DAG may): the second try is refused before any row moves.
    tally.attack("maintenance")
    r = stack.patch(
        f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain", "admin", json={"new_state": "failed"}
    )
    assert r.status_code == 200, r.text[:300]
    _clear(stack, m_dag, m_run, only_failed=True)
    assert _maintenance_try(stack, m_dag, m_run, 2)["state"] == "failed"
    assert "a signed maintenance conf acts once" in _log(stack, m_dag, m_run, 2)
    assert (pair.src_rows(), pair.warm_rows()) == after_second

    # Airflow's Clear of the whole rollback run (the request of issue 22): refused again.
    tally.attack("maintenance")
    _clear(stack, m_dag, m_run, only_failed=False)
    assert _maintenance_try(stack, m_dag, m_run, 3)["state"] == "failed"
    assert "a signed maintenance conf acts once" in _log(stack, m_dag, m_run, 3)
    assert (pair.src_rows(), pair.warm_rows()) == after_second
    assert stack.run("f_once", second)["state"] == "success"


def _mentions(payload, word: str) -> bool:
    return word in json.dumps(payload)


def _every_page(stack, path: str, user: str) -> list:
    """Every page of an Airflow list endpoint (the api-server caps a page at 100 entries); none if
    the user may not list it."""
    pages, offset = [], 0
    while True:
        r = stack.get(f"{path}{'&' if '?' in path else '?'}limit=100&offset={offset}", user)
        if r.status_code == 403:  # no right to list these at all: nothing learned
            return []
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        body = r.json()
        pages.append(body)
        offset += 100
        if offset >= body["total_entries"]:
            return pages


def test_a_user_without_rights_on_a_dag_learns_nothing_of_its_maintenance_runs(stack, fengines, rolled_back):
    """'other' may read and edit f_other and f_other__maintenance, and holds Airflow's global "DAG
    Runs" permissions: every Airflow path and the plugin's show it its own maintenance run and
    nothing of f_once's, which the admin sees through the same paths."""
    m_dag, first = rolled_back["m_dag"], rolled_back["first"]
    # a fresh maintenance run of f_once (the rollback's was cleared above: its XComs went with it)
    r = stack.post(f"/warm/api/v1/tasks/f_once/{first}/maintenance", "admin", json={"action": "verify"})
    assert r.status_code == 200, r.text
    m_run = r.json()["maintenance_run_id"]
    assert stack.wait_run(m_dag, m_run) == "success"
    FPair("pg", "pg", "ot", fengines).reset(n=300)
    own = stack.trigger("f_other")
    assert stack.wait_run("f_other", own, timeout=300) == "success"
    r = stack.post(f"/warm/api/v1/tasks/f_other/{own}/maintenance", "admin", json={"action": "verify"})
    assert r.status_code == 200, r.text
    own_m = r.json()["maintenance_run_id"]
    assert stack.wait_run("f_other__maintenance", own_m) == "success"

    listings = {
        "dags": "/api/v2/dags",
        "runs": "/api/v2/dags/~/dagRuns",
        "task instances": "/api/v2/dags/~/dagRuns/~/taskInstances",
        "xcoms": "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
    }
    # The probes can see: the admin finds f_once's maintenance run, its conf and XComs through them.
    admin_runs = stack.get(f"/api/v2/dags/{m_dag}/dagRuns", "admin").json()["dag_runs"]
    seen = [x for x in admin_runs if x["dag_run_id"] == m_run]
    assert seen and seen[0]["conf"]["run_id"] == first and seen[0]["conf"]["action"] == "verify"
    xcoms = stack.get(f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain/xcomEntries", "admin").json()
    assert {x["key"] for x in xcoms["xcom_entries"]} >= {"return_value", "warm_status.orders"}, xcoms

    for name, path in listings.items():
        tally.attack("api")
        pages = _every_page(stack, path, "other")
        assert not _mentions(pages, "f_once"), (name, json.dumps(pages)[:500])
    mine = [x["dag_run_id"] for page in _every_page(stack, listings["runs"], "other") for x in page["dag_runs"]]
    assert own_m in mine  # its own DAG's maintenance run, conf and all
    for name, path in {
        "warm completed": "/warm/api/v1/tasks?tab=completed&limit=500",
        "warm actions": "/warm/api/v1/actions?limit=500",
    }.items():
        tally.attack("api")
        r = stack.get(path, "other")
        assert r.status_code == 200 and not _mentions(r.json(), "f_once"), (name, r.status_code, r.text[:500])

    direct = {
        "run": f"/api/v2/dags/{m_dag}/dagRuns/{m_run}",
        "runs": f"/api/v2/dags/{m_dag}/dagRuns",
        "task instance": f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain",
        "xcom": f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain/xcomEntries",
        "task log": f"/api/v2/dags/{m_dag}/dagRuns/{m_run}/taskInstances/maintain/logs/1",
        "audit log of the DAG": "/api/v2/eventLogs?dag_id=f_once",
        "audit log of its maintenance": f"/api/v2/eventLogs?dag_id={m_dag}",
        "audit log": "/api/v2/eventLogs?limit=1000",
        "warm run": f"/warm/api/v1/tasks/f_once/{first}",
    }
    for name, path in direct.items():
        tally.attack("api")
        r = stack.get(path, "other", headers={"Accept": "application/json"})
        assert r.status_code in (403, 404) or not _mentions(r.json(), "f_once"), (name, r.status_code, r.text[:500])
        assert stack.get(path, "admin", headers={"Accept": "application/json"}).status_code == 200, name
