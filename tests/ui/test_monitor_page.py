"""The Warm Tasks page in a real browser (Chromium) against a real Airflow with real warm runs.

The tests run in file order and share one deployment: the demo's runs move from tab to tab as the
actions act on them, as they would for a user.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from .harness import ARTIFACTS, BASE, ORDERS_ROWS, count, new_page, pg

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=15_000)

GREEN, RED, YELLOW = "green", "red", "yellow"


# ---------------------------------------------------------------------------- helpers


def open_tab(page, tab: str, **params):
    q = "&".join([f"tab={tab}"] + [f"{k}={v}" for k, v in params.items()])
    page.goto(f"{BASE}/warm/?{q}")
    expect(page.locator("#panel")).to_have_attribute("data-tab", tab)
    expect(page.locator("tr.loading-row")).to_have_count(0)


def row(page, run_id: str):
    return page.locator(f'tr.parent[data-run="{run_id}"]')


def search(page, **fields):
    form = page.locator("#search-form")
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator("#search-btn").click()


def confirm(page, expect_title: str, destructive: bool = True):
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-title")).to_contain_text(expect_title)
    ok = dialog.locator("#confirm-ok")
    assert colour_of(ok) == (RED if destructive else YELLOW)
    ok.click()
    expect(dialog).to_be_hidden()


def toast(page, kind: str, text: str | re.Pattern, timeout: int = 20_000):
    t = page.locator(f".toast.{kind}").filter(has_text=text)
    expect(t.first).to_be_visible(timeout=timeout)
    return t.first


def colour_of(locator) -> str:
    """Rough hue of a button's background: green, red, yellow, or neutral."""
    r, g, b = locator.evaluate("""e => {  // computed colours may be oklch(): let a canvas convert
        const c = document.createElement("canvas"); c.width = c.height = 1;
        const x = c.getContext("2d"); x.fillStyle = getComputedStyle(e).backgroundColor; x.fillRect(0, 0, 1, 1);
        return Array.from(x.getImageData(0, 0, 1, 1).data).slice(0, 3); }""")
    if g > r * 1.3 and g > b * 1.3:
        return GREEN
    if r > 150 and g < r * 0.6 and b < r * 0.6:
        return RED
    if r > 180 and g > 150 and b < g * 0.6:
        return YELLOW
    return "neutral"


def tab_button(page, label: str):
    return page.locator("#actions").get_by_role("button", name=label)


def wait_done(airflow, runs, *keys):
    dags = {"copy1": "ui_copy", "copy2": "ui_copy", "mixed_a": "ui_mixed", "mixed_b": "ui_mixed", "bulk": "ui_bulk"}
    return [airflow.wait_run(dags[k], runs[k], timeout=180) for k in keys]


# ---------------------------------------------------------------------------- Completed


def test_completed_tab_columns_subtasks_sql_links_search_and_sort(page, airflow, runs):
    assert wait_done(airflow, runs, "copy1", "copy2", "bulk") == ["success"] * 3
    open_tab(page, "completed")
    heads = page.locator("#grid-head th").all_inner_texts()
    for col in (
        "DAG / run",
        "Strategy",
        "Start / end",
        "Duration",
        "Status",
        "Progress",
        "Archived",
        "Source data",
        "Executed SQL",
    ):
        assert any(col in h for h in heads), (col, heads)
    r = row(page, runs["copy1"])
    expect(r).to_contain_text("copy")
    expect(r.locator(".badge[data-value=success]")).to_be_visible()
    expect(r.locator(".pct")).to_have_text("100%")
    expect(r).to_contain_text("1,000")
    expect(r.locator(".badge[data-value=retained]")).to_be_visible()
    expect(r.locator("a.dag")).to_have_attribute("href", re.compile(r"/dags/ui_copy/runs/ui_copy_run_1$"))

    # the parent row expands into its table jobs, with links to Airflow's task and log pages
    r.locator("[data-expand]").click()
    detail = page.locator("tr.detail").first
    subs = detail.locator("tr.sub")
    expect(subs).to_have_count(2)
    cust = detail.locator('tr.sub[data-task="customers"]')
    expect(cust).to_contain_text("ui_src.customers")
    expect(cust).to_contain_text("ui_warm.customers")
    expect(cust).to_contain_text("400")
    expect(detail.locator('tr.sub[data-task="invoices"]')).to_contain_text("wa_ui.invoices")
    expect(cust.get_by_role("link", name="Task")).to_have_attribute(
        "href", re.compile(r"/dags/ui_copy/runs/ui_copy_run_1/tasks/customers")
    )
    expect(cust.get_by_role("link", name="Log")).to_have_attribute("href", re.compile(r"tasks/customers\?try_number=1"))

    # executed SQL is expandable, on the parent and on a sub-task
    r.locator("button.sql-toggle").click()
    stmts = detail.locator(".detail-section .sql-list li")
    expect(stmts.first).to_be_visible()
    assert any("SELECT" in s.upper() for s in stmts.all_inner_texts())
    cust.locator("button.sql-toggle").click()
    expect(detail.locator("tr.sub-extra .sql-list li").first).to_be_visible()

    # search (green button): by DAG id, then by free text
    search_btn = page.locator("#search-btn")
    assert colour_of(search_btn) == GREEN
    search(page, dag_id="ui_bulk")
    expect(page.locator("tr.parent")).to_have_count(1)
    expect(row(page, runs["bulk"])).to_be_visible()
    assert "dag_id=ui_bulk" in page.url  # the search survives a reload
    page.locator("#reset-btn").click()
    expect(page.locator("tr.parent")).to_have_count(3)
    search(page, q="run_2")
    expect(page.locator("tr.parent")).to_have_count(1)
    expect(row(page, runs["copy2"])).to_be_visible()
    page.locator("#reset-btn").click()
    expect(page.locator("tr.parent")).to_have_count(3)

    # server-side sorting by start, both ways
    first_desc = page.locator("tr.parent").first.get_attribute("data-run")
    page.locator('th[data-sort="start"]').click()
    expect(page.locator('th[data-sort="start"]')).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("tr.parent").last).to_have_attribute("data-run", first_desc)


def test_modify_source_data_status_yellow(page, airflow, runs):
    open_tab(page, "completed")
    button = tab_button(page, "Modify Source Data Status")
    assert colour_of(button) == YELLOW
    expect(button).to_be_disabled()
    expect(button.locator("xpath=..")).to_have_attribute("title", re.compile("Select one or more"))
    r = row(page, runs["copy2"])
    r.locator("[data-select]").check()
    expect(button).to_be_enabled()
    button.click()
    confirm(page, "as processed", destructive=False)
    toast(page, "success", "marked processed")
    expect(r.locator(".badge[data-value=processed]")).to_be_visible()
    assert airflow.warm_task("ui_copy", runs["copy2"])["source_status"] == "processed"
    # once processed, both source actions are disabled with the reason
    r.locator("[data-select]").check()
    expect(button).to_be_disabled()
    expect(button.locator("xpath=..")).to_have_attribute("title", re.compile("already processed"))
    expect(tab_button(page, "Manually Delete Source Data")).to_be_disabled()


def test_manually_delete_source_data_red_with_confirmation(page, airflow, runs):
    assert count("ui_src.customers") == 400 and count("ui_warm.customers") == 400
    open_tab(page, "completed")
    button = tab_button(page, "Manually Delete Source Data")
    assert colour_of(button) == RED
    r = row(page, runs["copy1"])
    r.locator("[data-select]").check()
    # cancelling the confirmation does nothing
    button.click()
    expect(page.locator("dialog#confirm")).to_be_visible()
    expect(page.locator("#confirm-body")).to_contain_text("permanently deletes rows")
    page.locator("#confirm-cancel").click()
    expect(page.locator("dialog#confirm")).to_be_hidden()
    assert airflow.warm_task("ui_copy", runs["copy1"])["source_status"] == "retained"
    # confirming starts the maintenance run; the page follows it by itself to "processed"
    button.click()
    confirm(page, "Delete the archived source rows")
    toast(page, "success", "Deletion of ui_copy_run_1")
    expect(r.locator(".badge[data-value=processed]")).to_be_visible(timeout=120_000)
    assert count("ui_src.customers") == 0
    assert count("ui_warm.customers") == 400


# ---------------------------------------------------------------------------- In progress


@pytest.fixture(scope="module")
def orders_run(airflow):
    run_id = airflow.trigger("ui_orders", run_id="ui_orders_run_1")
    airflow.wait_run("ui_orders", run_id, states=("running",), timeout=60)
    return run_id


def test_progress_refreshes_every_3s_keeping_search_selection_and_expansion(page, airflow, orders_run):
    times = []
    page.on("request", lambda r: times.append(time.monotonic()) if "api/v1/tasks?tab=in_progress" in r.url else None)
    open_tab(page, "in_progress")
    search(page, dag_id="ui_orders")
    r = row(page, orders_run)
    expect(r).to_be_visible()
    expect(r.locator(".badge[data-value=running]")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    r.locator("[data-expand]").click()
    r.locator("[data-select]").check()
    page.locator('#search-form [name="q"]').fill("draft, not submitted")
    bar = r.locator('[role="progressbar"]')

    def pct():
        return float(bar.get_attribute("aria-valuenow"))

    seen = [pct()]
    deadline = time.monotonic() + 25
    while len(set(seen)) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        if pct() != seen[-1]:
            seen.append(pct())
    assert len(set(seen)) >= 3, f"progress did not move by itself: {seen}"
    assert seen == sorted(seen), seen
    sub_bar = page.locator('tr.detail tr.sub[data-task="orders"] [role="progressbar"]')
    expect(sub_bar).to_be_visible()
    # no reload, and nothing the user set was lost
    assert page.evaluate("window.__sameDocument") is True
    expect(r.locator("[data-select]")).to_be_checked()
    expect(r.locator("[data-expand]")).to_have_attribute("aria-expanded", "true")
    expect(page.locator('#search-form [name="dag_id"]')).to_have_value("ui_orders")
    expect(page.locator('#search-form [name="q"]')).to_have_value("draft, not submitted")
    expect(page.locator('[data-count="in_progress"]')).to_have_text(re.compile(r"[1-9]"))
    gaps = [b - a for a, b in zip(times, times[1:])]
    # the first gap follows the search; a gap is 3 s plus the response time, so the shortest one
    # shows the interval even when a loaded machine answers slowly
    assert len(gaps) >= 2 and all(g > 2.0 for g in gaps[1:]) and min(gaps[1:]) < 4.5, gaps

    # a screenshot of each tab, from the demo (test artifacts; one is in the README)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#reset-btn").click()
    expect(r).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "tab-in-progress.png"))
    for tab, name in (("completed", "Completed"), ("exceptional", "Exceptional")):
        page.get_by_role("tab", name=re.compile(name)).click()
        expect(page.locator("#panel")).to_have_attribute("data-tab", tab)
        expect(page.locator("tr.parent").first).to_be_visible()
        page.locator("tr.parent").first.locator("[data-expand]").click()
        expect(page.locator("tr.detail").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / f"tab-{tab.replace('_', '-')}.png"))


def test_verify_task_status(page, airflow, orders_run):
    open_tab(page, "in_progress")
    button = tab_button(page, "Verify Task Status")
    expect(button).to_be_disabled()
    row(page, orders_run).locator("[data-select]").check()
    button.click()
    expect(page.locator("dialog#confirm")).to_be_hidden()  # not destructive: no confirmation
    t = toast(page, "success", "Verified ui_orders_run_1")
    expect(t).to_contain_text(re.compile("consistent|changed|found"))
    expect(row(page, orders_run)).to_be_visible()


def test_viewer_sees_write_buttons_disabled_with_reason(viewer_page, airflow, runs, orders_run):
    page = viewer_page
    open_tab(page, "in_progress")
    r = row(page, orders_run)
    expect(r).to_be_visible()  # read access: the viewer sees the runs
    r.locator("[data-select]").check()
    for label in ("Terminate Task", "Verify Task Status"):
        b = tab_button(page, label)
        expect(b).to_be_disabled()
        expect(b.locator("xpath=..")).to_have_attribute("title", re.compile("permission"))
    open_tab(page, "completed")
    row(page, runs["copy1"]).locator("[data-select]").check()
    for label in ("Modify Source Data Status", "Manually Delete Source Data"):
        expect(tab_button(page, label)).to_be_disabled()
    open_tab(page, "exceptional")
    r = row(page, runs["mixed_a"])
    expect(r.get_by_role("button", name="Rollback")).to_be_disabled()
    r.locator("[data-expand]").click()
    sub = page.locator('tr.detail tr.sub[data-task="payments"]')
    for label in ("Rollback", "Re-execute"):
        b = sub.get_by_role("button", name=label)
        expect(b).to_be_disabled()
        expect(b.locator("xpath=..")).to_have_attribute("title", re.compile("permission"))
    # and the API agrees
    resp = airflow.api("POST", f"/warm/api/v1/tasks/ui_orders/{orders_run}/terminate", user="viewer")
    assert resp.status_code == 403


def test_terminate_task_red_moves_to_exceptional_and_stale_page_shows_refusal(browser, airflow, orders_run):
    page, stale = new_page(browser, airflow), new_page(browser, airflow)
    try:
        # a second window, auto-refresh off, still showing the run as running
        open_tab(stale, "in_progress")
        stale.locator("#auto-refresh").uncheck(force=True)
        row(stale, orders_run).locator("[data-select]").check()

        open_tab(page, "in_progress")
        button = tab_button(page, "Terminate Task")
        assert colour_of(button) == RED
        r = row(page, orders_run)
        r.locator("[data-select]").check()
        button.click()
        confirm(page, "Terminate 1 running task")
        toast(page, "success", "terminated")
        expect(r).to_have_count(0, timeout=10_000)  # next refresh: gone from In progress
        assert airflow.run_state("ui_orders", orders_run) == "failed"
        page.get_by_role("tab", name=re.compile("Exceptional")).click()
        expect(row(page, orders_run)).to_be_visible()
        expect(row(page, orders_run).locator(".badge[data-value=failed]")).to_be_visible()
        t = airflow.warm_task("ui_orders", orders_run)
        assert t["subtasks"][0]["state"] == "failed"
        assert 0 < t["rows_archived"] < ORDERS_ROWS

        # the stale window tries too: a clear refusal (409) from the API
        tab_button(stale, "Terminate Task").click()
        confirm(stale, "Terminate")
        err = toast(stale, "error", "Refused")
        expect(err).to_contain_text("only an In progress run can be terminated")
        assert not page._errors and not stale._errors
    finally:
        page.context.close()
        stale.context.close()


# ---------------------------------------------------------------------------- Exceptional


def test_rollback_parent_task_red(page, airflow, orders_run):
    airflow.wait_warm(
        "ui_orders", orders_run, lambda t: all(s["state"] == "failed" for s in t["subtasks"]), what="job stopped"
    )
    assert count("ui_warm.orders") > 0
    open_tab(page, "exceptional")
    r = row(page, orders_run)
    button = r.get_by_role("button", name="Rollback")
    assert colour_of(button) == RED
    expect(r.locator(".badge[data-value=none]")).to_be_visible()
    button.click()
    confirm(page, "Roll back 1 task")
    toast(page, "success", "Rollback of ui_orders_run_1 requested")
    expect(r.locator(".badge[data-value=rolled_back]")).to_be_visible(timeout=120_000)
    expect(button).to_be_disabled()
    expect(button.locator("xpath=..")).to_have_attribute("title", "this run is already rolled back")
    assert count("ui_warm.orders") == 0
    assert count("ui_src.orders") == ORDERS_ROWS


def test_rollback_one_subtask(page, airflow, runs):
    assert wait_done(airflow, runs, "mixed_a", "mixed_b") == ["failed", "failed"]
    assert count("ui_src.payments") < 3000  # run a moved part of the payments before failing
    open_tab(page, "exceptional")
    r = row(page, runs["mixed_a"])
    expect(r.locator(".err-short")).to_contain_text("payments")
    r.locator("button.err-toggle").click()
    expect(page.locator("tr.detail .error-box").first).to_contain_text("no_1500")
    r.locator("[data-expand]").click()
    sub = page.locator(f'tr.parent[data-run="{runs["mixed_a"]}"] + tr.detail tr.sub[data-task="payments"]')
    expect(sub.locator(".badge[data-value=failed]")).to_be_visible()
    expect(sub.locator(".err-short")).to_contain_text("no_1500")
    button = sub.get_by_role("button", name="Rollback")
    assert colour_of(button) == RED
    button.click()
    confirm(page, "Roll back this sub-task")
    toast(page, "success", "Rollback of payments (ui_mixed_run_a) requested")
    expect(sub.locator(".badge[data-value=rolled_back]")).to_be_visible(timeout=120_000)
    assert count("ui_src.payments") == 3000  # moved rows are back in the source
    # the other sub-task was not rolled back
    other = page.locator(f'tr.parent[data-run="{runs["mixed_a"]}"] + tr.detail tr.sub[data-task="regions"]')
    expect(other.locator(".badge[data-value=rolled_back]")).to_have_count(0)


def test_reexecute_subtask_both_runs_show_in_progress(page, airflow, runs):
    with pg() as c:  # the engineer fixes the cause of the failure first
        c.execute("ALTER TABLE ui_warm.payments DROP CONSTRAINT no_1500")
    old = runs["mixed_b"]
    open_tab(page, "exceptional")
    r = row(page, old)
    r.locator("[data-expand]").click()
    sub = page.locator(f'tr.parent[data-run="{old}"] + tr.detail tr.sub[data-task="payments"]')
    sub.get_by_role("button", name="Re-execute").click()
    confirm(page, "Re-execute from this sub-task", destructive=False)
    t = toast(page, "success", "started as")
    new = airflow.warm_task("ui_mixed", old)["reexecuted_as"]
    assert new and new in t.inner_text()
    # the old run and its new run are both In progress, linked both ways
    page.get_by_role("tab", name=re.compile("In progress")).click()
    expect(row(page, old)).to_be_visible(timeout=20_000)
    expect(row(page, new)).to_be_visible(timeout=20_000)
    expect(row(page, old)).to_contain_text(f"re-executed as {new}")
    expect(row(page, new)).to_contain_text(f"re-execution of {old}")
    assert airflow.wait_run("ui_mixed", new, timeout=180) == "success"
    assert count("ui_warm.payments") == 3000 and count("ui_src.payments") == 0


# ---------------------------------------------------------------------------- errors and resilience


def test_error_messages_unreachable_server_and_login(page, airflow, runs):
    open_tab(page, "completed")
    expect(page.locator("tr.parent").first).to_be_visible()
    rows_before = page.locator("tr.parent").count()
    # the api-server is briefly unreachable: a notice, the last data stays, then recovery
    page.route("**/warm/api/v1/**", lambda route: route.abort("connectionrefused"))
    banner = page.locator("#banner")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("unreachable")
    assert page.locator("tr.parent").count() == rows_before
    page.unroute("**/warm/api/v1/**")
    expect(banner).to_be_hidden(timeout=10_000)
    toast(page, "success", "Connection to Airflow restored")

    # the session is gone: a "log in to Airflow" notice with a link to Airflow
    token = [c for c in page.context.cookies() if c["name"] == "_token"][0]
    page.context.clear_cookies()
    page.locator("[data-refresh]").click()
    expect(banner).to_contain_text("not logged in")
    expect(banner.get_by_role("link", name="Log in to Airflow")).to_have_attribute("href", f"{BASE}/")
    page.context.add_cookies([token])
    expect(banner).to_be_hidden(timeout=10_000)

    # a run that is not there
    page.goto(f"{BASE}/warm/?dag_id=ui_copy&run_id=no_such_run")
    toast(page, "error", "no longer exists")

    # a bad search is refused with the API's reason, the page keeps working
    page.goto(f"{BASE}/warm/?tab=completed&start_after=not-a-date")
    toast(page, "error", "Search refused")


def test_a_read_that_never_answers_is_given_up_and_asked_again(page, airflow, runs):
    # The page's clock is driven by the test, so its 20-second read timeout passes at once.
    page.clock.install()
    open_tab(page, "completed")
    expect(page.locator("tr.parent").first).to_be_visible()
    rows_before = page.locator("tr.parent").count()
    page.route("**/warm/api/v1/tasks?**", lambda route: None)  # taken, never answered
    with page.expect_request(lambda r: "/warm/api/v1/tasks?" in r.url):
        page.locator("[data-refresh]").click()
    page.clock.run_for(19_000)
    banner = page.locator("#banner")
    expect(banner).to_be_hidden()
    page.clock.run_for(1_500)
    expect(banner).to_contain_text("did not answer within 20 seconds")
    toast(page, "error", "Refresh failed: Airflow's API server did not answer within 20 seconds")
    assert page.locator("tr.parent").count() == rows_before
    # the next refresh asks again, and the page picks up once the server answers
    page.unroute("**/warm/api/v1/tasks?**")
    page.clock.run_for(3_500)
    expect(banner).to_be_hidden()
    toast(page, "success", "Connection to Airflow restored")
    assert page.locator("tr.parent").count() == rows_before


def test_narrow_window(browser, airflow, runs):
    page = new_page(browser, airflow, width=390, height=844)
    try:
        open_tab(page, "exceptional")
        expect(page.locator("tr.parent").first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px"
        for loc in (
            page.locator("#search-btn"),
            page.get_by_role("tab", name=re.compile("Completed")),
            page.locator("[data-refresh]"),
            page.locator("#pager [data-page=next]"),
        ):
            expect(loc).to_be_in_viewport()
        # the wide table scrolls inside its own box
        assert page.evaluate("(e => e.scrollWidth > e.clientWidth)(document.querySelector('#table-wrap'))")
        page.screenshot(path=str(ARTIFACTS / "narrow-exceptional.png"), full_page=True)
        assert not page._errors
    finally:
        page.context.close()


# ---------------------------------------------------------------------------- inside Airflow's UI


def test_airflow_nav_entry_run_tab_links_and_dark_mode(page, airflow, runs):
    page.goto(f"{BASE}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Warm Tasks").click()
    frame = page.frame_locator("iframe")
    expect(frame.locator(".tabs")).to_contain_text("Exceptional")
    # the page's scripts have started (they select the opening tab): a click before would be lost
    expect(frame.locator('.tab[aria-selected="true"]')).to_have_count(1)
    frame.get_by_role("tab", name=re.compile("Completed")).click()
    expect(frame.locator("tr.parent").first).to_be_visible()
    # Airflow's dark mode reaches the page
    assert frame.locator("html").get_attribute("data-theme") == "light"
    page.evaluate("localStorage.setItem('theme', 'dark')")
    page.reload()
    expect(page.frame_locator("iframe").locator("html")).to_have_attribute("data-theme", "dark")
    page.evaluate("localStorage.setItem('theme', 'light')")

    # the "Warm" tab of a run page shows that run, expanded
    run = runs["copy1"]
    page.goto(f"{BASE}/dags/ui_copy/runs/{run}")
    page.get_by_role("link", name="Warm", exact=True).click()
    frame = page.frame_locator("iframe")
    focused = frame.locator(f'tr.parent.focus[data-run="{run}"]')
    expect(focused).to_be_visible()
    expect(frame.locator("tr.detail tr.sub")).to_have_count(2)
    # its links open Airflow's own pages in Airflow, not inside the frame
    frame.locator('tr.sub[data-task="customers"]').get_by_role("link", name="Task").click()
    expect(page).to_have_url(re.compile(rf"/dags/ui_copy/runs/{run}/tasks/customers"))


def test_paging_with_10000_runs(page, airflow, runs):
    assert wait_done(airflow, runs, "bulk") == ["success"]
    with pg("wa_ui_meta") as c:
        cols = [
            r[0]
            for r in c.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'dag_run' "
                "AND column_name NOT IN ('id', 'run_id', 'logical_date', 'start_date', 'end_date', 'queued_at', "
                "'run_after', 'created_at') ORDER BY ordinal_position"
            ).fetchall()
        ]
        c.execute(
            f"INSERT INTO dag_run (run_id, logical_date, start_date, end_date, queued_at, run_after, created_at, "
            f"{', '.join(cols)}) SELECT 'ui_bulk_clone_' || lpad(g::text, 5, '0'), NULL, "
            "start_date - g * interval '1 minute', end_date - g * interval '1 minute', "
            "queued_at - g * interval '1 minute', run_after - g * interval '1 minute', created_at, "
            f"{', '.join(cols)} FROM dag_run, generate_series(1, 9999) g "
            "WHERE dag_id = 'ui_bulk' AND run_id = %s",
            (runs["bulk"],),
        )
    # What is checked here is what the user sees after each page change, not how fast it comes: the
    # list's speed is measured by bench/ (p95 with 10,000 runs), and a loaded CI machine is slow.
    slow = 45_000
    try:
        open_tab(page, "completed")
        pager = page.locator("#pager")
        expect(pager.locator("[data-range]")).to_have_text(re.compile(r"1–25 of 10,00\d"), timeout=slow)
        expect(page.locator("tr.parent")).to_have_count(25, timeout=slow)
        expect(page.locator('[data-count="completed"]')).to_have_text(re.compile(r"10,00\d"), timeout=slow)
        pager.locator("[data-page=last]").click()
        expect(pager.locator("[data-range]")).to_have_text(re.compile(r"10,00\d–10,00\d of 10,00\d"), timeout=slow)
        expect(page.locator("tr.parent").last).to_have_attribute("data-run", "ui_bulk_clone_09999", timeout=slow)
        pager.locator("[data-page-input]").fill("200")
        pager.locator("[data-page-input]").press("Enter")
        expect(pager.locator("[data-range]")).to_have_text(re.compile(r"4,976–5,000 of 10,00\d"), timeout=slow)
        pager.locator("[data-limit]").select_option("100")
        expect(page.locator("tr.parent")).to_have_count(100, timeout=slow)
        expect(pager.locator("[data-pages]")).to_have_text("101", timeout=slow)
        # paging survives the 3-second refresh
        page.wait_for_timeout(3500)
        expect(pager.locator("[data-range]")).to_have_text(re.compile(r"1–100 of 10,00\d"), timeout=slow)
        search(page, dag_id="ui_bulk", run_id="clone_05000")
        expect(page.locator("tr.parent")).to_have_count(1, timeout=slow)
    finally:
        with pg("wa_ui_meta") as c:
            c.execute("DELETE FROM dag_run WHERE dag_id = 'ui_bulk' AND run_id LIKE 'ui_bulk_clone_%%'")
