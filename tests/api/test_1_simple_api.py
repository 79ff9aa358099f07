"""The Warm Monitor API under SimpleAuthManager, against real runs (PostgreSQL + MariaDB user data)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from tests.processes import pg, wait_for

API = "/warm/api/v1"
pytestmark = pytest.mark.timeout(600)


def q(s: str) -> str:
    return quote(s, safe="")


def task_path(dag_id: str, run_id: str) -> str:
    return f"{API}/tasks/{q(dag_id)}/{q(run_id)}"


def listing(d, user="admin", **params):
    r = d.get(f"{API}/tasks", user, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def run_ids(page) -> set[str]:
    return {t["run_id"] for t in page["tasks"]}


def checksum(table: str) -> tuple:
    with pg("wa_api") as c:
        return c.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM {table} t"
        ).fetchone()


def count(table: str) -> int:
    with pg("wa_api") as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- registration, page -----------------------------------------------------------------------------------


def test_plugin_registered_once_without_import_errors(simple):
    plugins = [p for p in simple.get("/api/v2/plugins").json()["plugins"] if p["name"] == "warm_monitor"]
    assert len(plugins) == 1  # installed (entry point + provider) AND copied into plugins/
    assert [a["url_prefix"] for a in plugins[0]["fastapi_apps"]] == ["/warm"]
    views = {(v["destination"], v["href"]) for v in plugins[0]["external_views"]}
    assert ("nav", "warm/") in views
    assert any(dest == "dag_run" and "{RUN_ID}" in href for dest, href in views)
    assert any(dest == "task_instance" and "{TASK_ID}" in href for dest, href in views)
    assert simple.get("/api/v2/plugins/importErrors").json()["total_entries"] == 0


def test_page_needs_a_login(simple):
    """As Airflow's own pages: an anonymous visitor goes to SimpleAuthManager's login with a
    ``next`` back to the page (one Airflow's login accepts), a logged-in user gets the page.
    (tests/abuse/test_page_login.py checks the same, and the login itself, under FAB.)"""
    page = "/warm/?tab=completed&q=orders"
    for cookies in ({}, {"_token": "abc.def.ghi"}):
        r = requests.get(simple.base + page, cookies=cookies, allow_redirects=False, timeout=30)
        assert r.status_code in (302, 303, 307), (r.status_code, r.text[:200])
        login = urlsplit(r.headers["location"])
        assert login.path == "/auth/login" and parse_qs(login.query) == {"next": [simple.base + page]}, login
    # Airflow's own login redirect takes that next (it answers 400 to one not on this server)
    r = requests.get(
        simple.base + "/api/v2/auth/login", params={"next": simple.base + page}, allow_redirects=False, timeout=30
    )
    assert r.status_code == 307, (r.status_code, r.text[:200])
    assert parse_qs(urlsplit(r.headers["location"]).query) == {"next": [simple.base + page]}, r.headers["location"]
    assert requests.get(simple.base + r.headers["location"], timeout=30).status_code == 200  # the login page
    for headers in ({"Cookie": f"_token={simple.token('viewer')}"}, simple.headers("admin")):
        r = requests.get(simple.base + page, headers=headers, allow_redirects=False, timeout=30)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], (r.status_code, r.text[:200])
        assert "<html" in r.text.lower() and "app.js" in r.text


# -- authentication ---------------------------------------------------------------------------------------


def test_anonymous_gets_401_everywhere(simple, runs):
    dag_id, run_id = runs["orders"]
    p = task_path(dag_id, run_id)
    assert simple.get(f"{API}/tasks", None).status_code == 401
    assert simple.get(p, None).status_code == 401
    for action in (
        "terminate",
        "verify",
        "rollback",
        "delete-source",
        "subtasks/orders/rollback",
        "subtasks/orders/reexecute",
    ):
        r = simple.post(f"{p}/{action}", None, json={})
        assert r.status_code == 401, (action, r.text)
        assert r.json()["detail"]
    assert simple.post(f"{p}/source-status", None, json={"status": "processed"}).status_code == 401


def test_viewer_gets_403_on_every_write_but_reads(simple, runs):
    dag_id, run_id = runs["orders"]
    p = task_path(dag_id, run_id)
    assert simple.get(p, "viewer").status_code == 200
    assert listing(simple, "viewer", tab="completed")["total"] >= 1
    for action in (
        "terminate",
        "verify",
        "rollback",
        "delete-source",
        "subtasks/orders/rollback",
        "subtasks/orders/reexecute",
    ):
        r = simple.post(f"{p}/{action}", "viewer", json={})
        assert r.status_code == 403, (action, r.text)
    assert simple.post(f"{p}/source-status", "viewer", json={"status": "processed"}).status_code == 403


def test_cookie_write_needs_same_origin_proof(simple, runs):
    dag_id, run_id = runs["orders"]
    url = simple.base + task_path(dag_id, run_id) + "/terminate"
    cookie = {"_token": simple.token("admin")}
    # a cross-site HTML form post (what an attacker's page can make the browser send)
    r = requests.post(
        url,
        cookies=cookie,
        data={"x": "1"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        timeout=30,
    )
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    # even with a JSON body, a cross-site fetch is refused
    r = requests.post(
        url,
        cookies=cookie,
        json={},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        timeout=30,
    )
    assert r.status_code == 403
    # no proof of origin at all
    r = requests.post(url, cookies=cookie, json={}, timeout=30)
    assert r.status_code == 403
    # the page itself: same origin + JSON -> passes the check (a finished run cannot be terminated: 409)
    r = requests.post(
        url, cookies=cookie, json={}, headers={"Sec-Fetch-Site": "same-origin", "Origin": simple.base}, timeout=30
    )
    assert r.status_code == 409, r.text
    # an older browser without Sec-Fetch-Site: a matching Origin is enough
    r = requests.post(url, cookies=cookie, json={}, headers={"Origin": simple.base}, timeout=30)
    assert r.status_code == 409, r.text
    # a cookie read is fine (GET has no side effects)
    assert requests.get(simple.base + task_path(dag_id, run_id), cookies=cookie, timeout=30).status_code == 200


# -- reads: tabs, fields, filters, sort, paging ---------------------------------------------------------


def test_tabs(simple, runs):
    completed = run_ids(listing(simple, tab="completed", limit=500))
    exceptional = run_ids(listing(simple, tab="exceptional", limit=500))
    in_progress = run_ids(listing(simple, tab="in_progress", limit=500))
    for k in ("orders", "copy", "hidden"):
        assert runs[k][1] in completed
    assert runs["reexec"][1] in exceptional
    assert not (completed & exceptional)
    assert runs["orders"][1] not in in_progress
    # a maintenance DAG is not a warm DAG: its runs never show
    assert all(not t["dag_id"].endswith("__maintenance") for t in listing(simple, tab="completed", limit=500)["tasks"])


def test_completed_task_fields(simple, runs):
    dag_id, run_id = runs["orders"]
    t = simple.get(task_path(dag_id, run_id)).json()
    for key in (
        "dag_id",
        "run_id",
        "state",
        "strategy",
        "start",
        "end",
        "duration_s",
        "progress_pct",
        "rows_archived",
        "rows_planned",
        "source_status",
        "rollback_status",
        "error",
        "sql",
        "links",
        "reexecution_of",
        "reexecuted_as",
        "subtasks",
    ):
        assert key in t, key
    assert t["state"] == "success" and t["strategy"] == "copy_then_delete"
    assert t["progress_pct"] == 100.0 and t["duration_s"] > 0
    assert t["rows_archived"] == 1500 + 700 and t["rows_planned"] == 2200
    assert t["rollback_status"] == "none" and t["error"] is None
    assert t["sql"] and all({"statement", "count", "seconds"} <= set(s) for s in t["sql"])
    assert t["links"]["run"].endswith(f"/dags/{dag_id}/runs/{q(run_id)}")
    subs = {s["task_id"]: s for s in t["subtasks"]}
    assert set(subs) == {"orders", "items"}
    assert subs["orders"]["table"] == "api_src.orders" and subs["orders"]["target"] == "api_warm.orders"
    assert subs["items"]["table"] == "wa_api.items" and subs["items"]["rows_archived"] == 700
    for s in subs.values():
        for key in (
            "task_id",
            "table",
            "target",
            "try_number",
            "state",
            "start",
            "end",
            "duration_s",
            "progress_pct",
            "rows_archived",
            "rows_planned",
            "source_status",
            "rollback_status",
            "error",
            "sql",
            "links",
        ):
            assert key in s, key
        assert s["state"] == "success" and s["try_number"] == 1 and "log" in s["links"]
    assert count("api_src.orders") == 0 and count("api_warm.orders") == 1500


def test_failed_task_has_error(simple, runs):
    dag_id, run_id = runs["reexec"]
    t = simple.get(task_path(dag_id, run_id)).json()
    assert t["state"] == "failed"
    assert "re_second" in t["error"]
    subs = {s["task_id"]: s for s in t["subtasks"]}
    assert subs["first"]["state"] == "success" and subs["second"]["state"] == "failed"


def test_filters(simple, runs):
    orders, copy_run = runs["orders"][1], runs["copy"][1]
    assert run_ids(listing(simple, tab="completed", dag_id="api_orders")) == {orders}
    assert listing(simple, tab="completed", dag_id="nope")["total"] == 0
    assert orders in run_ids(listing(simple, tab="completed", run_id=orders[:20]))
    assert run_ids(listing(simple, tab="completed", table="wa_api.ITEMS")) == {orders}  # case-insensitive
    assert run_ids(listing(simple, tab="completed", table="api_warm.copyme")) == {copy_run}  # target side
    assert run_ids(listing(simple, tab="completed", strategy="copy", dag_id="api_copy")) == {copy_run}
    assert listing(simple, tab="completed", strategy="move", dag_id="api_copy")["total"] == 0
    assert listing(simple, tab="completed", state="failed")["total"] == 0
    assert runs["reexec"][1] in run_ids(listing(simple, tab="exceptional", state="failed"))
    assert copy_run in run_ids(listing(simple, tab="completed", source_status="retained"))
    assert orders not in run_ids(listing(simple, tab="completed", source_status="retained"))
    assert orders in run_ids(listing(simple, tab="completed", q="api_src.orders"))
    assert orders in run_ids(listing(simple, tab="completed", q="API_ORD"))
    # dates
    assert listing(simple, tab="completed", start_after="2000-01-01T00:00:00Z")["total"] >= 3
    assert listing(simple, tab="completed", start_before="2000-01-01T00:00:00Z")["total"] == 0
    assert listing(simple, tab="completed", start_after="2999-01-01")["total"] == 0


@pytest.mark.parametrize(
    "evil",
    [
        "' OR 1=1 --",
        "'; DROP TABLE dag_run; --",
        '" OR ""="',
        "%",
        "a_i",
        "\\",
        "%' OR '%'='",
        "api_orders' UNION SELECT * FROM ab_user --",
    ],
)
def test_sql_fragments_in_filters_match_nothing(simple, runs, evil):
    for key in ("q", "run_id", "table", "dag_id"):
        page = listing(simple, tab="completed", **{key: evil})
        assert page["total"] == 0 and page["tasks"] == [], (key, evil)
    assert simple.get("/api/v2/dags/api_orders").status_code == 200  # still there


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 100000},
        {"limit": 0},
        {"offset": -1},
        {"start_after": "yesterday"},
        {"start_before": "2024-13-45"},
        {"tab": "all"},
        {"order_by": "id; DROP TABLE x"},
        {"strategy": "delete_everything"},
        {"source_status": "gone"},
        {"state": "exploded"},
    ],
)
def test_bad_parameters_are_422(simple, params):
    r = simple.get(f"{API}/tasks", params={"tab": "completed", **params})
    assert r.status_code == 422, (params, r.text)
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


def test_sort_and_paging(simple, runs):
    full = listing(simple, tab="completed", order_by="dag_id", limit=500)
    dags = [t["dag_id"] for t in full["tasks"]]
    assert dags == sorted(dags) and full["total"] == len(dags) >= 3
    desc = [t["dag_id"] for t in listing(simple, tab="completed", order_by="-dag_id", limit=500)["tasks"]]
    assert desc == sorted(dags, reverse=True)
    starts = [t["start"] for t in listing(simple, tab="completed", order_by="start", limit=500)["tasks"]]
    assert starts == sorted(starts)
    pages = []
    for offset in range(full["total"]):
        page = listing(simple, tab="completed", order_by="dag_id", limit=1, offset=offset)
        assert page["total"] == full["total"] and len(page["tasks"]) == 1
        pages.append(page["tasks"][0]["run_id"])
    assert pages == [t["run_id"] for t in full["tasks"]]
    assert listing(simple, tab="completed", offset=full["total"])["tasks"] == []


def test_unknown_things_are_404(simple, runs):
    dag_id, run_id = runs["reexec"]
    assert simple.get(task_path("no_such_dag", "x")).status_code == 404
    assert simple.get(task_path(dag_id, "no_such_run")).status_code == 404
    assert simple.get(task_path(f"{dag_id}__maintenance", "x")).status_code == 404  # not a warm DAG
    r = simple.post(task_path(dag_id, "no_such_run") + "/rollback", json={})
    assert r.status_code == 404 and r.json()["detail"]
    assert simple.post(task_path(dag_id, run_id) + "/subtasks/nope/rollback", json={}).status_code == 404
    assert simple.post(task_path(dag_id, run_id) + "/subtasks/nope/reexecute", json={}).status_code == 404
    assert simple.post(task_path("no_such_dag", "x") + "/terminate", json={}).status_code == 404


# -- actions -------------------------------------------------------------------------------------------


def test_conf_override_through_airflow_rest_api(simple, runs):
    """The copy run was triggered with POST /api/v2/dags/api_copy/dagRuns conf {"strategy": "copy",
    "batch_size": 500} although the spec says move: rows are archived and the source keeps them."""
    dag_id, run_id = runs["copy"]
    t = simple.get(task_path(dag_id, run_id)).json()
    assert t["state"] == "success" and t["strategy"] == "copy"
    sub = t["subtasks"][0]
    assert sub["strategy"] == "copy" and sub["batches"] == 3 and sub["rows_archived"] == 1200
    assert sub["source_status"] == "retained"
    assert count("api_src.copyme") == 1200 and count("api_warm.copyme") == 1200


def test_source_status_and_delete_source(simple, runs):
    copy_dag, copy_run = runs["copy"]
    orders_dag, orders_run = runs["orders"]
    reexec_dag, reexec_run = runs["reexec"]
    # wrong state / bad input
    assert simple.post(task_path(reexec_dag, reexec_run) + "/delete-source", json={}).status_code == 409
    assert (
        simple.post(task_path(reexec_dag, reexec_run) + "/source-status", json={"status": "processed"}).status_code
        == 409
    )
    assert (
        simple.post(task_path(orders_dag, orders_run) + "/source-status", json={"status": "deleted"}).status_code == 422
    )
    assert simple.post(task_path(orders_dag, orders_run) + "/source-status", json={}).status_code == 422
    # the copy_then_delete run already deleted its source rows: nothing left to delete
    assert simple.post(task_path(orders_dag, orders_run) + "/delete-source", json={}).status_code == 409
    # delete the source rows of the copy run, on a worker
    r = simple.post(task_path(copy_dag, copy_run) + "/delete-source", "user", json={})
    assert r.status_code == 200, r.text
    m = r.json()["maintenance_run_id"]
    again = simple.post(task_path(copy_dag, copy_run) + "/delete-source", json={})
    assert again.status_code == 409  # one delete at a time (or already processed)
    assert simple.wait_run(r.json()["maintenance_dag_id"], m) == "success"
    t = simple.get(task_path(copy_dag, copy_run)).json()
    assert t["source_status"] == "processed" and t["subtasks"][0]["source_status"] == "processed"
    assert count("api_src.copyme") == 0 and count("api_warm.copyme") == 1200
    assert simple.post(task_path(copy_dag, copy_run) + "/delete-source", json={}).status_code == 409
    # a user marks the source data of a run processed: no data is touched
    hidden_dag, hidden_run = runs["hidden"]
    before = checksum("api_src.hidden")
    r = simple.post(task_path(hidden_dag, hidden_run) + "/source-status", "op", json={"status": "processed"})
    assert r.status_code == 200 and r.json()["source_status"] == "processed"
    t = simple.get(task_path(hidden_dag, hidden_run)).json()
    assert t["source_status"] == "processed" and t["source_status_overridden"] is True
    assert checksum("api_src.hidden") == before
    assert hidden_run in run_ids(listing(simple, tab="completed", source_status="processed"))
    assert hidden_run not in run_ids(listing(simple, tab="completed", source_status="retained"))


def test_terminate_verify_rollback_restores_both_tables(simple, runs):
    src_before, warm_before = checksum("api_src.slow"), checksum("api_warm.slow")
    run_id = simple.trigger("api_slow")
    p = task_path("api_slow", run_id)

    def copying():
        t = simple.get(p).json()
        return t if t["state"] == "running" and t["rows_archived"] >= 1000 else None

    t = wait_for(copying, 120, what="the slow job to copy rows")
    assert run_id in run_ids(listing(simple, tab="in_progress", dag_id="api_slow"))
    assert 0 < t["progress_pct"] < 100
    # wrong-state actions on a running run
    assert simple.post(p + "/rollback", json={}).status_code == 409
    assert simple.post(p + "/subtasks/slow/reexecute", json={}).status_code == 409
    assert simple.post(p + "/delete-source", json={}).status_code == 409
    # verify an in-progress run: nothing stale, nothing changed
    v = simple.post(p + "/verify", "user", json={})
    assert v.status_code == 200, v.text
    assert v.json()["findings"] == [] and v.json()["changes"] == []
    # terminate: Exceptional within 10 s
    t0 = time.time()
    r = simple.post(p + "/terminate", "user", json={})
    assert r.status_code == 200, r.text
    assert "slow" in r.json()["killed_task_ids"]
    wait_for(lambda: run_id in run_ids(listing(simple, tab="exceptional", dag_id="api_slow")), 10, what="Exceptional")
    assert time.time() - t0 < 10
    assert simple.post(p + "/terminate", json={}).status_code == 409
    assert simple.post(p + "/verify", json={}).status_code == 409
    # the worker stops (on_kill) and the ledger is consistent: every row in source or warm
    time.sleep(8)  # the supervisor's heartbeat + SIGTERM, then the job's last status push
    r = simple.post(p + "/maintenance", "admin", json={"action": "verify"})  # the admins' direct path
    assert r.status_code == 200, r.text
    vr = r.json()["maintenance_run_id"]
    assert simple.wait_run(r.json()["maintenance_dag_id"], vr) == "success"
    report = simple.return_value(r.json()["maintenance_dag_id"], vr, "maintain")
    assert report["jobs"]["slow"]["lost"] == 0 and report["jobs"]["slow"]["rows"] > 0
    assert count("api_src.slow") + count("api_warm.slow") >= 16000
    # roll back the whole run
    r = simple.post(p + "/rollback", "op", json={})
    assert r.status_code == 200, r.text
    m = r.json()["maintenance_run_id"]
    assert simple.get(p).json()["rollback_status"] in ("requested", "running")
    assert simple.post(p + "/rollback", json={}).status_code == 409  # second rollback while one runs
    assert simple.post(p + "/subtasks/slow/rollback", json={}).status_code == 409
    assert simple.wait_run(r.json()["maintenance_dag_id"], m) == "success"
    t = simple.get(p).json()
    assert t["rollback_status"] == "rolled_back" and t["subtasks"][0]["rollback_status"] == "rolled_back"
    assert t["source_status"] == "restored"
    assert checksum("api_src.slow") == src_before
    assert checksum("api_warm.slow") == warm_before


def test_reexecute_links_both_ways(simple, runs):
    dag_id, old = runs["reexec"]
    with pg("wa_api") as c:  # fix what made the second job fail
        c.execute("CREATE TABLE IF NOT EXISTS api_src.re_second (id int PRIMARY KEY, v text NOT NULL)")
        c.execute(
            "INSERT INTO api_src.re_second SELECT g, md5(g::text) FROM generate_series(1, 200) g ON CONFLICT DO NOTHING"
        )
    p_old = task_path(dag_id, old)
    r = simple.post(p_old + "/subtasks/second/reexecute", "user", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    new = body["new_run_id"]
    assert body["start_from"] == "second" and body["rolled_back_task_ids"] == ["second"]
    # a second re-execution (or a rollback) while this one is under way is refused
    assert simple.post(p_old + "/subtasks/second/reexecute", json={}).status_code == 409
    assert simple.post(p_old + "/rollback", json={}).status_code == 409
    # both runs show in In progress while the re-execution runs
    page = listing(simple, tab="in_progress", dag_id=dag_id)
    assert {old, new} <= run_ids(page)
    old_t = simple.get(p_old).json()
    new_t = simple.get(task_path(dag_id, new)).json()
    assert old_t["reexecuted_as"] == new and new_t["reexecution_of"] == old
    conf = simple.get(f"/api/v2/dags/{dag_id}/dagRuns/{q(new)}").json()["conf"]
    assert conf["reexecution_of"] == old and conf["start_from"] == "second"
    assert simple.wait_run(dag_id, new, timeout=180) == "success"
    new_t = simple.get(task_path(dag_id, new)).json()
    subs = {s["task_id"]: s for s in new_t["subtasks"]}
    assert subs["first"]["state"] == "skipped" and subs["second"]["state"] == "success"
    assert subs["second"]["rows_archived"] == 200
    old_t = simple.get(p_old).json()
    assert old_t["reexecuted_as"] == new and old_t["rollback_status"] == "rolled_back"
    assert old not in run_ids(listing(simple, tab="in_progress", dag_id=dag_id))
    assert new in run_ids(listing(simple, tab="completed", dag_id=dag_id))
    # a successful run cannot be re-executed or rolled back
    assert simple.post(task_path(dag_id, new) + "/subtasks/second/reexecute", json={}).status_code == 409
    assert simple.post(task_path(dag_id, new) + "/rollback", json={}).status_code == 409


def test_every_write_is_recorded(simple, runs):
    acts = simple.get(f"{API}/actions", params={"limit": 500}).json()["actions"]
    kinds = {(a["action"], a["outcome"]) for a in acts}
    for k in (
        ("terminate", "ok"),
        ("rollback", "ok"),
        ("reexecute", "ok"),
        ("delete_source", "ok"),
        ("source_status", "ok"),
        ("verify", "ok"),
        ("terminate", "refused"),
    ):
        assert k in kinds, k
    for a in acts:
        assert a["user_name"] and a["created_at"] and a["dag_id"] and a["run_id"] and a["http_status"]
    users = {a["user_name"] for a in acts if a["outcome"] == "ok"}
    assert {"user", "op"} <= users
    logs = simple.get("/api/v2/eventLogs", params={"event": "warm_monitor.terminate", "limit": 100}).json()
    assert logs["total_entries"] >= 1
    ok = [e for e in logs["event_logs"] if e["dag_id"] == "api_slow" and '"outcome": "ok"' in e["extra"]]
    assert ok and ok[0]["owner"] == "user" and ok[0]["run_id"] and ok[0]["when"]
    refused = [e for e in logs["event_logs"] if '"outcome": "refused"' in e["extra"]]
    assert refused and all('"http_status": 409' in e["extra"] or '"http_status": 404' in e["extra"] for e in refused)
    for event in (
        "warm_monitor.rollback",
        "warm_monitor.reexecute",
        "warm_monitor.delete_source",
        "warm_monitor.source_status",
    ):
        assert simple.get("/api/v2/eventLogs", params={"event": event}).json()["total_entries"] >= 1, event
