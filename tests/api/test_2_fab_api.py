"""The Warm Monitor API under FabAuthManager: roles (Viewer/User/Op/Admin) and per-DAG permissions.

Runs after the SimpleAuthManager module (same Airflow deployment and runs; the api-server is
restarted with FAB; users are created with ``airflow users create``)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

API = "/warm/api/v1"
pytestmark = pytest.mark.timeout(600)

WRITES = ("terminate", "verify", "rollback", "delete-source", "subtasks/orders/rollback", "subtasks/orders/reexecute")


def task_path(dag_id: str, run_id: str) -> str:
    return f"{API}/tasks/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def test_fab_anonymous_401(fab, runs):
    assert fab.get(f"{API}/tasks", None).status_code == 401
    assert fab.post(task_path(*runs["orders"]) + "/terminate", None, json={}).status_code == 401


@pytest.mark.parametrize("user", ["viewer", "user", "op", "admin"])
def test_fab_roles_read(fab, runs, user):
    page = fab.get(f"{API}/tasks", user, params={"tab": "completed", "limit": 500}).json()
    assert {runs["orders"][1], runs["hidden"][1]} <= {t["run_id"] for t in page["tasks"]}
    assert fab.get(task_path(*runs["orders"]), user).status_code == 200


def test_fab_viewer_403_on_every_write(fab, runs):
    p = task_path(*runs["orders"])
    for action in WRITES:
        assert fab.post(f"{p}/{action}", "viewer", json={}).status_code == 403, action
    assert fab.post(f"{p}/source-status", "viewer", json={"status": "processed"}).status_code == 403


@pytest.mark.parametrize("user", ["user", "op", "admin"])
def test_fab_editors_pass_authorisation(fab, runs, user):
    # authorised: the answer is about the run's state (a finished run cannot be terminated), not 403
    r = fab.post(task_path(*runs["orders"]) + "/terminate", user, json={})
    assert r.status_code == 409, r.text


def test_fab_user_without_dag_access_never_sees_its_runs(fab, runs):
    page = fab.get(f"{API}/tasks", "limited", params={"tab": "completed", "limit": 500}).json()
    dags = {t["dag_id"] for t in page["tasks"]}
    assert dags == {"api_orders"}
    assert page["total"] == len(page["tasks"])
    for tab in ("in_progress", "exceptional"):
        assert all(
            t["dag_id"] == "api_orders" for t in fab.get(f"{API}/tasks", "limited", params={"tab": tab}).json()["tasks"]
        )
    assert fab.get(f"{API}/tasks", "limited", params={"tab": "completed", "dag_id": "api_hidden"}).json()["total"] == 0
    assert fab.get(f"{API}/tasks", "limited", params={"tab": "completed", "q": "hidden"}).json()["total"] == 0
    assert fab.get(task_path(*runs["hidden"]), "limited").status_code == 403
    assert fab.get(task_path(*runs["orders"]), "limited").status_code == 200
    # read-only on the DAG it can see
    assert fab.post(task_path(*runs["orders"]) + "/terminate", "limited", json={}).status_code == 403
    acts = fab.get(f"{API}/actions", "limited", params={"limit": 500}).json()["actions"]
    assert all(a["dag_id"] == "api_orders" for a in acts)


def test_fab_cross_site_cookie_post_refused(fab, runs):
    url = fab.base + task_path(*runs["orders"]) + "/terminate"
    cookie = {"_token": fab.token("admin")}
    r = requests.post(
        url,
        cookies=cookie,
        data={"a": "b"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        timeout=30,
    )
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    r = requests.post(url, cookies=cookie, json={}, headers={"Sec-Fetch-Site": "same-origin"}, timeout=30)
    assert r.status_code == 409
