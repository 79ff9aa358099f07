"""The page shows what the API knows: a table job's pace and pauses, the action log, and times in the
zone chosen in Airflow's UI. Real Airflow (harness.py), real warm runs, real Chromium.

The tests run in file order and share one deployment, as test_monitor_page.py does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .harness import new_page
from .test_monitor_page import confirm, open_tab, row, search, tab_button, toast, wait_done

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=15_000)

KOLKATA = "Asia/Kolkata"  # UTC+05:30 all year: no DST to make a time ambiguous, and not the browser's zone
BROWSER_ZONE = "America/New_York"


def sub_row(page, task_id: str):
    return page.locator(f'tr.detail tr.sub[data-task="{task_id}"]')


def test_subtask_shows_rows_deleted_changed_skipped_rate_and_phase(page, airflow, runs):
    """ui_mixed moves regions (200 rows, deleted from the source as they go), then payments fails."""
    assert wait_done(airflow, runs, "mixed_a") == ["failed"]
    run_id = runs["mixed_a"]
    subs = {s["task_id"]: s for s in airflow.warm_task("ui_mixed", run_id)["subtasks"]}
    regions = subs["regions"]
    assert regions["state"] == "success" and regions["rows_deleted"] == 200, regions
    assert regions["rows_per_second"] and regions["rows_per_second"] > 0, regions
    open_tab(page, "exceptional")
    search(page, dag_id="ui_mixed", run_id=run_id)
    r = row(page, run_id)
    expect(r).to_be_visible()
    r.locator("[data-expand]").click()
    expect(sub_row(page, "regions")).to_be_visible()
    heads = page.locator("tr.detail table.subgrid thead th").all_inner_texts()
    for h in ("Deleted", "Changed", "Skipped", "Rows/s", "Phase"):
        assert h in heads, heads
    s = sub_row(page, "regions")
    expect(s.locator('[data-col="deleted"]')).to_have_text("200")
    expect(s.locator('[data-col="changed"]')).to_have_text(str(regions["rows_changed"]))
    expect(s.locator('[data-col="skipped"]')).to_have_text(str(regions["rows_skipped"]))
    # a job that ended shows the rows it moved over the time it ran (every try), not its last 10 s
    assert regions["avg_rows_per_second"] == round(200 / regions["active_s"], 1), regions
    rate = s.locator('[data-col="rate"]').inner_text().replace(",", "")
    assert int(rate) == round(regions["avg_rows_per_second"]), (rate, regions["avg_rows_per_second"])
    expect(s.locator('[data-col="phase"]')).to_contain_text(regions["phase"].replace("_", " "))
    # the failed job shows what it got to, and nothing of a pause it never made
    p = sub_row(page, "payments")
    expect(p.locator('[data-col="deleted"]')).to_have_text(re.compile(r"^[\d,]+$"))
    expect(p.locator('[data-chip="wait"]')).to_have_count(0)


@pytest.fixture(scope="module")
def slow_run(airflow):
    run_id = airflow.trigger("ui_orders", run_id="ui_orders_tz_run")
    airflow.wait_run("ui_orders", run_id, states=("running",), timeout=60)
    airflow.wait_warm("ui_orders", run_id, lambda t: t["subtasks"] and t["subtasks"][0]["table"], what="first report")
    return run_id


def test_paused_subtask_stands_out_with_its_replica_lag(page, airflow, slow_run):
    """A job paused for a lagging replica, as the engine reports it in its warm_status XCom.

    Producing real replica lag in a browser test is too slow and needs a replica (the engine's own
    tests cover real lag), so the test writes the XCom the engine would write, through Airflow's
    real XCom API, on the running task instance of a real run. The job's own progress thread
    rewrites the XCom every 2 s, so the test keeps writing until the page has shown it."""
    xcom = f"/api/v2/dags/ui_orders/dagRuns/{quote(slow_run, safe='')}/taskInstances/orders/xcomEntries/warm_status"
    why = ["replica db_replica is 42 s behind (limit 5 s)"]
    stop = threading.Event()
    failures: list[str] = []
    written: list[int] = []

    def keep_writing():
        while not stop.is_set():
            current = airflow.get(xcom, params={"deserialize": "true"}).json()["value"]
            if isinstance(current, str):
                current = json.loads(current)
            paused = current | {
                "phase": "waiting for replica",
                "replica_lag_s": {"db_replica": 42.0, "db_replica_2": None},
                "threads_running": 3,
                "waiting_because": why,
                "paused_s": 63.0,
            }
            r = airflow.patch(xcom, json={"value": paused, "map_index": -1})
            if r.status_code == 200:
                written.append(1)
            elif r.status_code < 500:  # a 5xx can be a write racing the job's own (Airflow deletes, then inserts)
                failures.append(f"{r.status_code} {r.text[:200]}")
            stop.wait(0.2)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        open_tab(page, "in_progress")
        search(page, dag_id="ui_orders", run_id=slow_run)
        r = row(page, slow_run)
        expect(r.locator('[data-chip="run-wait"]')).to_be_visible()  # the run says one of its jobs is paused
        r.locator("[data-expand]").click()
        s = sub_row(page, "orders")
        chip = s.locator('[data-chip="wait"]')
        expect(chip).to_contain_text("waiting for replica: db_replica 42 s, db_replica_2 unknown")
        expect(s).to_have_class(re.compile(r"\bpaused\b"))
        expect(s.locator('[data-col="phase"]')).to_contain_text(why[0])
        expect(s.locator('[data-chip="paused"]')).to_contain_text("paused 1m 03s")
    finally:
        stop.set()
        writer.join(timeout=10)
    assert written and not failures, failures
    # the job's next report (no pause) takes the chip away again
    expect(s.locator('[data-chip="wait"]')).to_have_count(0, timeout=20_000)
    expect(s.locator('[data-col="phase"]')).to_contain_text(re.compile("copy|delete|done"))


def test_actions_view_lists_real_actions_with_user_and_outcome_and_searches(page, airflow, runs, slow_run):
    # real actions through the page: terminate the slow run (ok) ...
    open_tab(page, "in_progress")
    search(page, dag_id="ui_orders", run_id=slow_run)
    row(page, slow_run).locator("[data-select]").check()
    tab_button(page, "Terminate Task").click()
    confirm(page, "Terminate 1 running task")
    toast(page, "success", "terminated")
    # ... and through the API: a refused verify of a finished run
    assert wait_done(airflow, runs, "copy1") == ["success"]
    refused = airflow.action("ui_copy", runs["copy1"], "verify", user="viewer")
    assert refused.status_code == 403  # a viewer is stopped before the action: nothing to record
    refused = airflow.action("ui_copy", runs["copy1"], "verify")
    assert refused.status_code == 409, refused.text

    page.get_by_role("tab", name="Actions").click()
    expect(page.locator("#log-panel")).to_be_visible()
    expect(page.locator("#panel")).to_be_hidden()
    assert "view=actions" in page.url
    log = page.locator("#log-body tr.log-row")
    term = log.filter(has=page.locator('[data-col="action"]', has_text="terminate")).filter(
        has=page.locator(f'[data-col="target"]:has-text("{slow_run}")')
    )
    expect(term).to_have_count(1)
    expect(term.locator('[data-col="user"]')).to_have_text("admin")
    expect(term.locator('[data-col="outcome"] .badge')).to_have_attribute("data-value", "ok")
    ver = log.filter(has=page.locator(f'[data-col="target"]:has-text("{runs["copy1"]}")')).filter(
        has=page.locator('[data-col="action"]', has_text="verify")
    )
    expect(ver.first).to_be_visible()
    expect(ver.first.locator('[data-col="outcome"]')).to_contain_text("refused · 409")
    expect(ver.first.locator('[data-col="detail"]')).to_contain_text("only an In progress run can be verified")
    assert log.first.get_attribute("data-run") == runs["copy1"]  # newest first

    form = page.locator("#log-form")
    form.locator('[name="outcome"]').select_option("refused")
    form.locator("#log-search-btn").click()
    expect(log.filter(has_text=slow_run)).to_have_count(0)
    expect(ver.first).to_be_visible()
    assert set(log.evaluate_all("rows => rows.map(r => r.dataset.outcome)")) == {"refused"}
    assert "outcome=refused" in page.url
    form.locator('[name="outcome"]').select_option("")
    form.locator('[name="action"]').fill("terminate")
    form.locator('[name="dag_id"]').fill("ui_orders")
    form.locator("#log-search-btn").click()
    expect(term).to_have_count(1)
    assert set(log.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"terminate"}
    form.locator('[name="user"]').fill("nobody-such")
    form.locator("#log-search-btn").click()
    expect(log).to_have_count(0)
    expect(page.locator("#log-empty")).to_have_text("No action matches this search.")
    expect(page.locator("#log-pager [data-range]")).to_have_text("0–0 of 0")
    # the view and its search survive a reload (URL state)
    page.reload()
    expect(page.locator("#log-panel")).to_be_visible()
    expect(page.locator('#log-form [name="user"]')).to_have_value("nobody-such")
    expect(page.locator("#log-empty")).to_be_visible()
    page.locator("#log-reset-btn").click()
    expect(term).to_have_count(1)
    # back to the tabs
    page.get_by_role("tab", name=re.compile("Completed")).click()
    expect(page.locator("#panel")).to_be_visible()
    expect(page.locator("#log-panel")).to_be_hidden()


def _wall(iso: str, zone: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))


def test_times_and_date_filters_follow_airflows_ui_time_zone(browser, airflow, runs):
    """Airflow's UI stores the user's zone in localStorage "timezone" (JSON), defaulting to the
    browser's: the page shows times in it, names it, and reads its date filters in it."""
    page = new_page(browser, airflow, timezone_id=BROWSER_ZONE)
    try:
        open_tab(page, "completed")
        expect(page.locator("#zone")).to_have_text(f"Times in {BROWSER_ZONE}")  # nothing chosen: the browser's
        page.evaluate("z => localStorage.setItem('timezone', JSON.stringify(z))", KOLKATA)  # as Airflow's UI does
        run_id = runs["copy1"]
        task = airflow.warm_task("ui_copy", run_id)
        start = task["first_start"]  # the page shows the first start (the run was never resumed: Airflow's)
        assert start == task["start"], task
        open_tab(page, "completed", dag_id="ui_copy", run_id=run_id)
        expect(page.locator("#zone")).to_have_text(f"Times in {KOLKATA}")
        local = _wall(start, KOLKATA)
        expect(row(page, run_id).locator("td.times span").first).to_have_text(local.strftime("%Y-%m-%d %H:%M:%S"))

        # "Started after" is read as Kolkata wall-clock time and sent as UTC
        minute = local.replace(second=0, microsecond=0)
        sent = []
        page.on("request", lambda r: sent.append(r.url) if "api/v1/tasks?tab=completed" in r.url else None)
        search(page, start_after=(minute - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
        expect(row(page, run_id)).to_be_visible()
        want = (minute - dt.timedelta(minutes=1)).astimezone(dt.UTC)
        got = [parse_qs(urlsplit(u).query).get("start_after", [""])[0] for u in sent]
        assert any(g and dt.datetime.fromisoformat(g.replace("Z", "+00:00")) == want for g in got), (got, want)
        search(page, start_after=(minute + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
        expect(row(page, run_id)).to_have_count(0)
        expect(page.locator("#empty")).to_be_visible()

        # the action log: times in the zone, and its "After" filter read in it too
        acts = airflow.get("/warm/api/v1/actions", params={"limit": 1}).json()["actions"]
        assert acts, "the earlier tests recorded actions"
        newest = acts[0]
        page.get_by_role("tab", name="Actions").click()
        first = page.locator("#log-body tr.log-row").first
        expect(first).to_have_attribute("data-key", f"act-{newest['id']}")
        at = _wall(newest["created_at"], KOLKATA)
        expect(first.locator('[data-col="time"]')).to_have_text(at.strftime("%Y-%m-%d %H:%M:%S"))
        form = page.locator("#log-form")
        form.locator('[name="after"]').fill(at.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S"))
        form.locator("#log-search-btn").click()
        expect(page.locator(f'#log-body tr[data-key="act-{newest["id"]}"]')).to_be_visible()
        form.locator('[name="after"]').fill(
            (at.replace(microsecond=0) + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
        )
        form.locator("#log-search-btn").click()
        expect(page.locator(f'#log-body tr[data-key="act-{newest["id"]}"]')).to_have_count(0)

        # another zone picked in Airflow's UI (another tab): the page follows without a reload
        page.evaluate(
            """z => { localStorage.setItem('timezone', JSON.stringify(z));
            window.dispatchEvent(new StorageEvent('storage', {key: 'timezone'})); }""",
            "UTC",
        )
        expect(page.locator("#zone")).to_have_text("Times in UTC")
        assert not page._errors, page._errors
    finally:
        page.context.close()


def _title(button) -> str:
    return button.locator("xpath=..").get_attribute("title")


def test_worker_status_through_the_api_to_the_page_and_its_guards(page, airflow, runs):
    """The round trip of the contract: the warm_status a real job wrote (contract.py's WarmStatus)
    comes back through the API as its response models say (datamodels.py), and the page enables its
    buttons and words their tooltips exactly as the server's allowed actions say; a refused action
    answers 409 with the reason the page showed."""
    from warm_archive.contract import WarmStatus
    from warm_monitor.datamodels import RunOut, TaskPage

    assert wait_done(airflow, runs, "bulk") == ["success"]
    run_id = runs["bulk"]
    raw = airflow.get(
        f"/api/v2/dags/ui_bulk/dagRuns/{quote(run_id, safe='')}/taskInstances/notes/xcomEntries/warm_status",
        params={"deserialize": "true"},
    ).json()["value"]
    raw = json.loads(raw) if isinstance(raw, str) else raw
    assert set(raw) == set(WarmStatus.model_fields), set(raw) ^ set(WarmStatus.model_fields)
    status = WarmStatus.model_validate(raw)
    assert status.state == "success" and status.rows_copied and status.sql, raw

    task = RunOut.model_validate(airflow.warm_task("ui_bulk", run_id))
    listed = TaskPage.model_validate(airflow.warm_list(tab="completed", dag_id="ui_bulk", run_id=run_id))
    assert [t.run_id for t in listed.tasks] == [run_id] and listed.tasks[0].actions == task.actions
    (sub,) = task.subtasks
    assert (sub.table, sub.target, sub.strategy) == (status.table, status.target, status.strategy)
    assert (sub.rows_archived, sub.rows_planned, sub.batches) == (
        status.rows_copied,
        status.rows_planned,
        status.batches,
    )
    assert sub.source_status == status.source_status == task.source_status == "retained"
    assert {s["statement"] for s in (x.model_dump() for x in status.sql)} == {s.statement for s in sub.sql}

    def shown(name: str):
        button = tab_button(page, name)
        return button.is_enabled(), _title(button)

    # the server allows both source actions on this completed copy: the page enables them
    assert task.actions["source_status"].allowed and task.actions["delete_source"].allowed, task.actions
    open_tab(page, "completed")
    search(page, dag_id="ui_bulk", run_id=run_id)
    row(page, run_id).locator("[data-select]").check()
    expect(tab_button(page, "Modify Source Data Status")).to_be_enabled()
    expect(tab_button(page, "Manually Delete Source Data")).to_be_enabled()

    # marked processed through the page: the server now refuses both, and the page says its words
    tab_button(page, "Modify Source Data Status").click()
    confirm(page, "as processed", destructive=False)
    toast(page, "success", "marked processed")
    expect(row(page, run_id).locator(".badge[data-value=processed]")).to_be_visible()
    task = RunOut.model_validate(airflow.warm_task("ui_bulk", run_id))
    row(page, run_id).locator("[data-select]").check()
    for name, action, path, body in (
        ("Modify Source Data Status", "source_status", "source-status", {"status": "processed"}),
        ("Manually Delete Source Data", "delete_source", "delete-source", {}),
    ):
        said = task.actions[action]
        assert not said.allowed and "already processed" in said.reason, said
        expect(tab_button(page, name)).to_be_disabled()
        assert shown(name) == (False, said.reason)
        refused = airflow.post(f"/warm/api/v1/tasks/ui_bulk/{quote(run_id, safe='')}/{path}", json=body)
        assert refused.status_code == 409 and refused.json()["detail"] == said.reason, refused.text
    # and an action of another tab: the same policy, the same words
    refused = airflow.action("ui_bulk", run_id, "terminate")
    assert refused.status_code == 409 and refused.json()["detail"] == task.actions["terminate"].reason
    assert not page._errors, page._errors
