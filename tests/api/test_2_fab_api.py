"""The Warm Monitor API under FabAuthManager: roles (Viewer/User/Op/Admin) and per-DAG permissions.

Runs after the SimpleAuthManager module (same Airflow deployment and runs; the api-server is
restarted with FAB; users are created with ``airflow users create``)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
import requests

API = "/warm/api/v1"
pytestmark = pytest.mark.timeout(600)

WRITES = (
    "terminate",
    "verify",
    "rollback",
    "resume",
    "delete-source",
    "subtasks/orders/rollback",
    "subtasks/orders/reexecute",
)


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


def test_fab_action_log_search_paging_and_rights(fab, runs):
    """GET /actions: search and paging over real recorded actions, only on DAGs the caller may read,
    401 without login, a clear 422 for every bad parameter."""
    before_all = fab.get(f"{API}/actions", "admin", params={"limit": 1}).json()["actions"]
    since = before_all[0]["created_at"] if before_all else "2000-01-01T00:00:00+00:00"
    prior = before_all[0]["id"] if before_all else 0
    # real actions: refused terminates (the runs are finished) on a DAG "limited" reads and on one it does not
    for key in ("orders", "hidden"):
        assert fab.post(task_path(*runs[key]) + "/terminate", "op", json={}).status_code == 409
    mine = fab.get(f"{API}/actions", "admin", params={"user": "op", "action": "terminate", "after": since}).json()
    assert mine["total"] == len(mine["actions"]) and mine["outcomes"] == ["ok", "refused", "error"]
    mine["actions"] = [a for a in mine["actions"] if a["id"] > prior]
    assert sorted(a["dag_id"] for a in mine["actions"]) == ["api_hidden", "api_orders"], mine
    for a in mine["actions"]:
        assert a["user_name"] == "op" and a["outcome"] == "refused" and a["http_status"] == 409
        assert "terminated" in a["detail"] and a["created_at"]
    # each filter narrows
    ok_since = fab.get(f"{API}/actions", "admin", params={"user": "op", "outcome": "ok", "after": since}).json()
    assert all(a["id"] <= prior and a["outcome"] == "ok" for a in ok_since["actions"]), ok_since
    only = fab.get(f"{API}/actions", "admin", params={"dag_id": "api_hidden", "user": "op", "after": since}).json()
    assert {a["dag_id"] for a in only["actions"]} == {"api_hidden"}
    older = fab.get(f"{API}/actions", "admin", params={"before": since, "limit": 500}).json()["actions"]
    assert all(dt.datetime.fromisoformat(a["created_at"]) < dt.datetime.fromisoformat(since) for a in older)
    assert not {a["id"] for a in older} & {a["id"] for a in mine["actions"]}
    # paging: the same rows, one at a time, newest first
    total = fab.get(f"{API}/actions", "admin", params={"limit": 1}).json()["total"]
    assert total >= 2
    pages = [fab.get(f"{API}/actions", "admin", params={"limit": 1, "offset": i}).json()["actions"] for i in range(2)]
    both = fab.get(f"{API}/actions", "admin", params={"limit": 2}).json()["actions"]
    assert [p[0]["id"] for p in pages] == [a["id"] for a in both] and both[0]["id"] > both[1]["id"]
    # rights: "limited" reads api_orders only
    lim = fab.get(f"{API}/actions", "limited", params={"limit": 500}).json()
    assert lim["actions"] and {a["dag_id"] for a in lim["actions"]} == {"api_orders"}
    assert lim["total"] == len(lim["actions"])
    assert fab.get(f"{API}/actions", "limited", params={"dag_id": "api_hidden"}).json()["total"] == 0
    assert fab.get(f"{API}/actions", None).status_code == 401
    # bad parameters: a clear 422, never a 500
    for params in (
        {"outcome": "maybe"},
        {"after": "yesterday"},
        {"before": "2026-13-45T00:00:00"},
        {"after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"user": "u" * 251},
        {"user": "a\x00b"},
    ):
        r = fab.get(f"{API}/actions", "admin", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text[:300])
        assert isinstance(r.json()["detail"], str) and r.json()["detail"], r.text
