"""Paths to a DAG's data around the plugin's permission checks, tried in the real deployment (FAB).

* A warm DAG's maintenance DAG triggered through Airflow's own REST API: by a user with no rights on
  it (403 at Airflow's door); by that user through the maintenance DAG of a DAG they own, naming
  another DAG; and by an admin: unsigned, forged, replayed and edited confs are all refused on the
  worker before any row moves; a conf signed for a run in the wrong state too.
* The documented admin path (``POST .../maintenance``) works, is recorded, and is for admins only.
* Reads do not write; an unexpected failure answers a request id, never its text.

Every refusal leaves the source and warm tables, the plugin's tables and the runs as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
import requests

from tests.faults import tally
from tests.faults.fdb import FPair
from tests.faults.stack import JWT_SECRET
from warm_archive.contract import maintenance_dag_id, maintenance_signature

pytestmark = pytest.mark.timeout(900)
GUARDED = ("f_guard", "f_guard_move")


@pytest.fixture(scope="module")
def guarded(stack, fengines):
    """A successful copy run (PG -> MariaDB: rows stay in the source) and a successful move run
    (MariaDB -> PG: rows left the source), the data an attacker wants to delete or un-archive."""
    pairs = {
        "f_guard": FPair("pg", "my", "gd", fengines).reset(n=300),
        "f_guard_move": FPair("my", "pg", "gm", fengines).reset(n=300),
    }
    runs = {d: stack.trigger(d) for d in GUARDED}
    assert {d: stack.wait_run(d, r, timeout=300) for d, r in runs.items()} == dict.fromkeys(GUARDED, "success")
    return {"runs": runs, "pairs": pairs}


def tables(guarded) -> dict:
    return {d: (p.src_rows(), p.warm_rows()) for d, p in guarded["pairs"].items()}


def plugin_rows(stack) -> list:
    with stack.meta() as c:
        return sorted(
            tuple(str(x) for x in r)
            for r in c.execute(
                "SELECT dag_id, run_id, source_override, delete_maintenance_run_id, rollback_maintenance_run_id, "
                "reexecute_state FROM warm_monitor_run WHERE dag_id = ANY(%s)",
                (list(GUARDED),),
            ).fetchall()
        )


def trigger_raw(stack, m_dag: str, conf: dict, user: str, run_id: str | None = None) -> str:
    """``POST /api/v2/dags/{m_dag}/dagRuns``, as any user allowed to trigger it may."""
    body = {"logical_date": None, "conf": conf, **({"dag_run_id": run_id} if run_id else {})}
    r = stack.post(f"/api/v2/dags/{m_dag}/dagRuns", user, json=body)
    assert r.status_code in (200, 201), (user, r.status_code, r.text[:300])
    return r.json()["dag_run_id"]


def task_log(stack, m_dag: str, run_id: str) -> str:
    r = stack.get(
        f"/api/v2/dags/{m_dag}/dagRuns/{run_id}/taskInstances/maintain/logs/1",
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 200, r.text[:300]
    return json.dumps(r.json())


def signed(conf: dict, run_id: str, secret: str = JWT_SECRET, m_dag: str | None = None) -> dict:
    """A conf signed the way the api-server signs it (the tests know the deployment's key), for a
    run of the target's maintenance DAG unless ``m_dag`` says another."""
    c = {"any_state": False, "issued_by": "admin", "issued_at": dt.datetime.now(dt.UTC).isoformat(), **conf}
    return c | {"signature": maintenance_signature(secret, m_dag or maintenance_dag_id(c["dag_id"]), run_id, c)}


def test_maintenance_confs_not_issued_by_the_monitor_are_refused_on_the_worker(stack, guarded):
    copy_run, move_run = guarded["runs"]["f_guard"], guarded["runs"]["f_guard_move"]
    before, plugin_before = tables(guarded), plugin_rows(stack)

    # A real conf the monitor issued (verify, which moves no row), readable by anyone who may read
    # f_guard__maintenance's runs: the raw material of a replay.
    r = stack.post(f"/warm/api/v1/tasks/f_guard/{copy_run}/maintenance", "admin", json={"action": "verify"})
    assert r.status_code == 200, r.text
    issued = r.json()["maintenance_run_id"]
    assert stack.wait_run("f_guard__maintenance", issued) == "success"
    real = stack.get(f"/api/v2/dags/f_guard__maintenance/dagRuns/{issued}").json()["conf"]
    assert real["signature"] and real["issued_by"] == "admin"

    # 'other' may trigger its own DAG's maintenance DAG, not f_guard's: Airflow refuses at the door.
    for m_dag in ("f_guard__maintenance", "f_guard_move__maintenance"):
        tally.attack("maintenance")
        r = stack.post(f"/api/v2/dags/{m_dag}/dagRuns", "other", json={"logical_date": None, "conf": real})
        assert r.status_code == 403, (m_dag, r.status_code, r.text[:300])

    fixed_id = f"attack__{secrets.token_hex(4)}"
    own_id = f"attack__{secrets.token_hex(4)}"
    attacks = [  # (name, user, maintenance DAG, conf, run id or None, what the worker's refusal says)
        (
            "other user deletes another DAG's source through its own maintenance DAG",
            "other",
            "f_other__maintenance",
            {"action": "delete_source", "dag_id": "f_guard", "run_id": copy_run},
            None,
            "no conf signed",
        ),
        (
            "other user replays a real signed conf in its own maintenance DAG",
            "other",
            "f_other__maintenance",
            real,
            None,
            "no conf signed",
        ),
        (
            "a conf signed for the other user's own maintenance run, naming another DAG",
            "other",
            "f_other__maintenance",
            signed(
                {"action": "rollback", "dag_id": "f_guard_move", "run_id": move_run, "any_state": True},
                own_id,
                m_dag="f_other__maintenance",
            ),
            own_id,
            "acts on runs of f_other only, not of f_guard_move",
        ),
        # Anyone allowed to trigger f_guard's maintenance DAG (here an admin, through Airflow's REST
        # API rather than the page): nothing but a conf the monitor signed for that very run acts.
        (
            "unsigned",
            "admin",
            "f_guard__maintenance",
            {"action": "delete_source", "dag_id": "f_guard", "run_id": copy_run},
            None,
            "no conf signed",
        ),
        (
            "forged signature",
            "admin",
            "f_guard_move__maintenance",
            {
                "action": "rollback",
                "dag_id": "f_guard_move",
                "run_id": move_run,
                "any_state": True,
                "issued_by": "admin",
                "issued_at": "2026-01-01T00:00:00",
                "signature": secrets.token_hex(32),
            },
            None,
            "no conf signed",
        ),
        (
            "signed with a guessed key",
            "admin",
            "f_guard_move__maintenance",
            signed(
                {"action": "rollback", "dag_id": "f_guard_move", "run_id": move_run, "any_state": True},
                fixed_id,
                secret="airflow",
            ),
            fixed_id,
            "no conf signed",
        ),
        ("replay of a real signed conf", "admin", "f_guard__maintenance", real, None, "no conf signed"),
        # Airflow: the run id is taken (409)
        ("replay under the issued run's own id", "admin", "f_guard__maintenance", real, issued, None),
        (
            "real signed conf, action edited",
            "admin",
            "f_guard__maintenance",
            real | {"action": "delete_source"},
            None,
            "no conf signed",
        ),
        (
            "real signed conf, target edited",
            "admin",
            "f_guard_move__maintenance",
            real | {"dag_id": "f_guard_move", "run_id": move_run},
            None,
            "no conf signed",
        ),
    ]
    failed_runs = []
    for name, user, m_dag, conf, run_id, message in attacks:
        tally.attack("maintenance")
        if message is None:
            r = stack.post(
                f"/api/v2/dags/{m_dag}/dagRuns",
                user,
                json={"logical_date": None, "conf": conf, "dag_run_id": run_id},
            )
            assert r.status_code == 409, (name, r.status_code, r.text[:300])
            continue
        failed_runs.append((name, m_dag, trigger_raw(stack, m_dag, conf, user, run_id), message))
    for name, m_dag, m, message in failed_runs:
        assert stack.wait_run(m_dag, m) == "failed", name
        ti = stack.get(f"/api/v2/dags/{m_dag}/dagRuns/{m}/taskInstances/maintain").json()
        assert ti["try_number"] == 1, (name, ti)  # refused for good, not retried
        assert message in task_log(stack, m_dag, m), name

    assert tables(guarded) == before
    assert plugin_rows(stack) == plugin_before


def test_a_signed_conf_for_a_run_in_the_wrong_state_is_refused_on_the_worker(stack, guarded):
    """The api-server checks the state when it signs; the worker checks again when it acts (the run
    may have changed in between): rollback only of failed runs, delete_source only of successful
    copy runs, unless an admin's conf says any_state."""
    copy_run, move_run = guarded["runs"]["f_guard"], guarded["runs"]["f_guard_move"]
    before, plugin_before = tables(guarded), plugin_rows(stack)
    cases = [
        ({"action": "rollback", "dag_id": "f_guard_move", "run_id": move_run}, "acts on failed runs only"),
        ({"action": "rollback", "dag_id": "f_guard", "run_id": copy_run}, "acts on failed runs only"),
        ({"action": "delete_source", "dag_id": "f_guard_move", "run_id": move_run}, "strategy 'move'"),
        ({"action": "delete_source", "dag_id": "f_guard", "run_id": "manual__no_such_run"}, "cannot read the state"),
    ]
    runs = []
    for conf, message in cases:
        tally.attack("maintenance")
        m = f"forged__{secrets.token_hex(6)}"
        m_dag = maintenance_dag_id(conf["dag_id"])
        runs.append((m_dag, trigger_raw(stack, m_dag, signed(conf, m), "admin", m), message))
    for m_dag, m, message in runs:
        assert stack.wait_run(m_dag, m) == "failed", message
        assert message in task_log(stack, m_dag, m), message
    assert tables(guarded) == before
    assert plugin_rows(stack) == plugin_before


def test_the_admin_maintenance_path_is_for_admins_and_is_recorded(stack, guarded):
    copy_run = guarded["runs"]["f_guard"]
    pair = guarded["pairs"]["f_guard"]
    before = tables(guarded)
    path = f"/warm/api/v1/tasks/f_guard/{copy_run}/maintenance"
    other_run = stack.trigger("f_other")
    assert stack.wait_run("f_other", other_run, timeout=300) == "success"

    refusals = [
        # edits f_other and may trigger its maintenance DAG, but may not edit connections: not an admin
        ("other", f"/warm/api/v1/tasks/f_other/{other_run}/maintenance", {"action": "verify"}, 403, "for admins"),
        ("viewer", path, {"action": "verify"}, 403, None),
        ("other", path, {"action": "verify"}, 403, None),  # no rights on f_guard at all
        ("admin", path, {"action": "rollback"}, 409, "any_state: true overrides"),  # a successful run
        ("admin", path, {"action": "shred"}, 422, "action"),
        ("admin", path, {"action": "verify", "task_ids": ["ghost"]}, 404, "ghost"),
        ("admin", path, {"action": "verify", "any_state": "yes"}, 422, "any_state"),
    ]
    for user, p, body, code, text in refusals:
        tally.attack("maintenance")
        r = stack.post(p, user, json=body)
        assert r.status_code == code, (user, body, r.status_code, r.text[:300])
        assert text is None or text in r.json()["detail"], r.text
    assert tables(guarded) == before

    r = stack.post(path, "admin", json={"action": "rollback", "any_state": True})
    assert r.status_code == 200, r.text
    m = r.json()["maintenance_run_id"]
    assert stack.wait_run("f_guard__maintenance", m) == "success"
    assert pair.src_rows() == pair.before_src  # a copy run: the source never lost its rows
    assert pair.warm_rows() == {}  # and the rows it archived are gone from the warm table
    assert stack.warm_task("f_guard", copy_run)["rollback_status"] == "rolled_back"
    with stack.meta() as c:
        rec = c.execute(
            "SELECT user_name, outcome, maintenance_run_id FROM warm_monitor_action "
            "WHERE action = 'maintenance.rollback' AND run_id = %s ORDER BY id",
            (copy_run,),
        ).fetchall()
        audit = c.execute(
            "SELECT owner, extra FROM log WHERE event = 'warm_monitor.maintenance.rollback' "
            "AND run_id = %s ORDER BY id",
            (copy_run,),
        ).fetchall()
    assert rec == [("admin", "refused", None), ("admin", "ok", m)]  # the 409 above is recorded too
    assert [a[0] for a in audit] == ["admin", "admin"] and m in audit[1][1]


def test_reads_do_not_write(stack, guarded):
    """A re-execution whose rollback already ended stays as it is under GETs; a write releases it."""
    move_run = guarded["runs"]["f_guard_move"]
    with stack.meta() as c:
        # an ended run of f_guard_move's maintenance DAG (the refused attacks above end failed)
        ended, ended_state = c.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = 'f_guard_move__maintenance' "
            "AND state IN ('success', 'failed') ORDER BY id LIMIT 1"
        ).fetchone()
        c.execute(
            "INSERT INTO warm_monitor_run (dag_id, run_id, rollback_maintenance_run_id, reexecuted_as, "
            "reexecute_state, updated_at) VALUES ('f_guard_move', %s, %s, 'ghost', 'pending', now()) "
            "ON CONFLICT (dag_id, run_id) DO UPDATE SET rollback_maintenance_run_id = EXCLUDED."
            "rollback_maintenance_run_id, reexecuted_as = 'ghost', reexecute_state = 'pending'",
            (move_run, ended),
        )

        def state():
            return c.execute(
                "SELECT reexecute_state, updated_at FROM warm_monitor_run WHERE dag_id = 'f_guard_move' "
                "AND run_id = %s",
                (move_run,),
            ).fetchone()

        before = state()
        try:
            for tab in ("completed", "in_progress", "exceptional"):
                assert stack.get(f"/warm/api/v1/tasks?tab={tab}").status_code == 200
            assert stack.get(f"/warm/api/v1/tasks/f_guard_move/{move_run}").status_code == 200
            assert stack.get("/warm/api/v1/actions").status_code == 200
            assert state() == before
            # any write does the housekeeping first, even one then refused (verify of a Completed run)
            r = stack.post(f"/warm/api/v1/tasks/f_guard_move/{move_run}/verify", "admin", json={})
            assert r.status_code == 409, r.text
            assert state()[0] == ("started" if ended_state == "success" else "rollback_failed")
        finally:
            c.execute(
                "UPDATE warm_monitor_run SET reexecuted_as = NULL, reexecute_state = NULL, "
                "rollback_maintenance_run_id = NULL WHERE dag_id = 'f_guard_move' AND run_id = %s",
                (move_run,),
            )


def test_an_unexpected_failure_answers_a_request_id_not_its_text(stack, guarded):
    """The metadata DB fails under the plugin (its table renamed away): reads and writes answer a
    generic 500 with a request id that the api-server log carries with the whole story."""
    copy_run = guarded["runs"]["f_guard"]
    with stack.meta() as c:
        c.execute("ALTER TABLE warm_monitor_run RENAME TO warm_monitor_run_away")
        try:
            answers = [
                stack.get("/warm/api/v1/tasks?tab=completed"),
                stack.get(f"/warm/api/v1/tasks/f_guard/{copy_run}"),
                stack.post(f"/warm/api/v1/tasks/f_guard/{copy_run}/terminate", "admin", json={}),
            ]
        finally:
            c.execute("ALTER TABLE warm_monitor_run_away RENAME TO warm_monitor_run")
    log = stack.procs["api-server"].tail(4000)
    for r in answers:
        tally.attack("api")
        assert r.status_code == 500, (r.status_code, r.text[:300])
        detail = r.json()["detail"]
        assert "request id" in detail, detail
        for leak in ("warm_monitor_run", "SELECT", "Undefined", "psycopg", "sqlalchemy"):
            assert leak not in detail, detail
        rid = detail.split("request id ")[1].split(")")[0]
        assert rid in log, rid
    # and the plugin works again
    assert stack.get(f"/warm/api/v1/tasks/f_guard/{copy_run}").status_code == 200


def test_openapi_needs_a_login(stack):
    tally.attack("api")
    r = requests.get(f"{stack.base}/warm/openapi.json", timeout=30)
    assert r.status_code == 401, (r.status_code, r.text[:200])
    assert stack.get("/warm/openapi.json").json()["paths"]
