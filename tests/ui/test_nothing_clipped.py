"""Nothing on the Warm Tasks page is cut off unseen (issue 24, item 4): at 1,280 and 1,920 px, in
each tab, standalone (/warm/) and in the run's "Warm" tab inside Airflow's UI, every cell, button and
link of the table lies in the window or in a box that scrolls to it with a scrollbar in sight, and
no text is cut off inside its box (an ellipsis with the full text as tooltip excepted).

Real Airflow (harness.py, the deployment the other UI modules share), real runs with long DAG ids,
run ids, table names and a long error (a real trigger on the warm table refuses a row), real
Chromium. Screenshots of each case go to test-artifacts/ui/.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from .harness import ARTIFACTS, BASE, WIDE_DAGS, WIDE_TABLE, new_page, pg

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=15_000)

WIDTHS = (1280, 1920)
HEIGHT = 900
TABS = {"done": "completed", "slow": "in_progress", "fail": "exceptional"}
# custom run ids as long as a backfill script would make them (a "backfill__" prefix is reserved)
RUN = "ledger_audit__2019-01-01T00:00:00+00:00__2024-12-31T23:59:59+00:00__requested_by_finance_{}"
FAIL_ID = 150
REFUSAL = (
    "ledger entry refused by the warm side: archive_policy_quarterly_customer_ledger_retention_2019_to_2024_"
    "requires_an_approved_retention_review_before_any_row_of_this_account_group_may_be_archived "
    "and no approved review exists for account group EMEA-NORTH-RETAIL-PREMIUM-2019-Q3, "
    "ask the data governance team to approve the review, then re-execute this job"
)


LAGGING = {
    "phase": "waiting for replica",
    "replica_lag_s": {"warm_replica_eu_west_1_reporting_read_only_standby": 42.0, "warm_replica_eu_central_1_bi": None},
    "threads_running": 3,
    "waiting_because": [
        "replica warm_replica_eu_west_1_reporting_read_only_standby is 42 s behind (limit 5 s)",
        "replica warm_replica_eu_central_1_bi does not say how far behind it is",
    ],
    "paused_s": 63.0,
}


@pytest.fixture(scope="module")
def wide_runs(airflow, runs):
    """One run per tab of each long-named DAG: done (Completed), fail (Exceptional), slow (In progress)."""
    ids = seed_wide_runs(airflow)
    with replica_lag(airflow, WIDE_DAGS["slow"], ids["slow"], "ledger_slow"):
        yield ids
    airflow.action(WIDE_DAGS["slow"], ids["slow"], "terminate")


@contextmanager
def replica_lag(airflow, dag_id: str, run_id: str, task_id: str):
    """The running job shows a pause for lagging replicas with long names (the lag view).

    As in test_page_shows.py: the test writes the warm_status XCom the engine would write when its
    replicas lag, through Airflow's real XCom API, over and over (the job's own progress thread
    rewrites it every 2 s)."""
    xcom = (
        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
        f"{task_id}/xcomEntries/warm_status"
    )
    stop = threading.Event()

    def keep_writing():
        while not stop.is_set():
            current = airflow.get(xcom, params={"deserialize": "true"}).json()["value"]
            if isinstance(current, str):
                current = json.loads(current)
            airflow.patch(xcom, json={"value": current | LAGGING, "map_index": -1})
            stop.wait(0.5)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join(timeout=10)


def seed_wide_runs(airflow) -> dict[str, str]:
    with pg() as c:
        for kind in WIDE_DAGS:
            t = WIDE_TABLE.format(kind)
            c.execute(f"DROP TABLE IF EXISTS ui_src.{t}; DROP TABLE IF EXISTS ui_warm.{t}")
            c.execute(
                f"CREATE TABLE ui_src.{t} (id bigint PRIMARY KEY, booked_at timestamp NOT NULL, "
                "amount numeric(12,2) NOT NULL, memo text)"
            )
            c.execute(
                f"INSERT INTO ui_src.{t} SELECT g, timestamp '2019-01-01' + g * interval '1 hour', g * 0.25, "
                f"'entry ' || g FROM generate_series(1, {100_000 if kind == 'slow' else 300}) g"
            )
        fail = WIDE_TABLE.format("fail")
        c.execute(f"CREATE TABLE ui_warm.{fail} (LIKE ui_src.{fail} INCLUDING ALL)")
        c.execute(
            "CREATE OR REPLACE FUNCTION ui_warm.refuse_ledger_entry() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.id = {FAIL_ID} THEN RAISE EXCEPTION '{REFUSAL}'; END IF; RETURN NEW; END $$"
        )
        c.execute(
            f"CREATE TRIGGER refuse_entry BEFORE INSERT ON ui_warm.{fail} "
            "FOR EACH ROW EXECUTE FUNCTION ui_warm.refuse_ledger_entry()"
        )
    ids = {kind: airflow.trigger(dag, run_id=RUN.format(kind)) for kind, dag in WIDE_DAGS.items()}
    assert airflow.wait_run(WIDE_DAGS["done"], ids["done"], timeout=180) == "success"
    assert airflow.wait_run(WIDE_DAGS["fail"], ids["fail"], timeout=180) == "failed"
    airflow.wait_warm(
        WIDE_DAGS["slow"],
        ids["slow"],
        lambda t: t["subtasks"] and t["subtasks"][0]["rows_archived"],
        what="rows moving",
    )
    return ids


# In the page: every cell, button, link, badge and text of the table (and the tab's buttons) that is
# rendered must be seeable: inside every box that clips it, or inside a box that scrolls to it with
# its scrollbar on screen together with it; inside the window's width (the page never scrolls
# sideways); and no text may be cut off inside its own box unless it ends in an ellipsis and its
# tooltip holds the whole text.
CLIPPED_JS = """() => {
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const sel = ["th", "td", "button", "a", "input", "select", ".badge", ".chip", ".err-short", ".run", "code", "pre",
               "span", "b"].map((s) => `#table-wrap ${s}`).concat(["#actions button", "#pager button", "#pager input"]);
  const name = (e) => `${e.tagName.toLowerCase()}${e.className && typeof e.className === "string" ? "." +
    e.className.trim().split(/\\s+/).join(".") : ""}${e.dataset.col ? `[data-col=${e.dataset.col}]` : ""} ` +
    JSON.stringify((e.innerText || e.value || "").trim().slice(0, 60));
  const scrolls = (v) => v === "auto" || v === "scroll";
  const problems = [];
  for (const el of document.querySelectorAll(sel.join(","))) {
    let r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;  // not rendered (e.g. an optional column collapsed)
    const cs = getComputedStyle(el);
    if (cs.visibility !== "visible") continue;
    // its own text cut off inside it
    for (const [axis, over, scroll, client] of [["x", cs.overflowX, el.scrollWidth, el.clientWidth],
                                                  ["y", cs.overflowY, el.scrollHeight, el.clientHeight]]) {
      if (scrolls(over) || scroll <= client + 1) continue;
      if (over === "visible") {  // a cell's text running over its neighbours
        if (el.matches("td, th") && axis === "x")
          problems.push(`${name(el)}: its content spills out of its cell (${scroll}px in ${client}px)`);
        continue;
      }
      const tip = (el.closest("[title]") || {}).title || "";
      const text = (el.textContent || "").trim();
      const ellipsis = axis === "x" ? cs.textOverflow === "ellipsis" : cs.webkitLineClamp !== "none";
      if (!(ellipsis && tip.includes(text)))
        problems.push(`${name(el)}: its content is cut off (${axis}: ${scroll}px in ${client}px, overflow ${over})`);
    }
    // cut off by a box around it
    for (let a = el.parentElement; a && a !== document.documentElement && a !== document.body; a = a.parentElement) {
      const acs = getComputedStyle(a);
      if (acs.overflowX === "visible" && acs.overflowY === "visible") continue;
      const ar = a.getBoundingClientRect();
      const box = { left: ar.left + a.clientLeft, top: ar.top + a.clientTop };
      box.right = box.left + a.clientWidth; box.bottom = box.top + a.clientHeight;
      const outX = r.left < box.left - 1 || r.right > box.right + 1;
      const outY = r.top < box.top - 1 || r.bottom > box.bottom + 1;
      if (outX) {
        if (!scrolls(acs.overflowX) || acs.scrollbarWidth === "none")
          problems.push(`${name(el)}: cut off by ${name(a)} (x ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(box.left)}..${Math.round(box.right)})`);
        else if (ar.bottom - Math.max(r.top, ar.top) > vh)
          problems.push(`${name(el)}: scrolls into ${name(a)} only with its scrollbar ${Math.round(ar.bottom - r.top)}px below it, off screen`);
      }
      if (outY && (!scrolls(acs.overflowY) || acs.scrollbarWidth === "none"))
        problems.push(`${name(el)}: cut off by ${name(a)} (y ${Math.round(r.top)}..${Math.round(r.bottom)} outside ${Math.round(box.top)}..${Math.round(box.bottom)})`);
      // once scrolled into view, it lies in this box: the boxes around this one decide
      r = { left: Math.max(r.left, box.left), right: Math.min(r.right, box.right),
            top: Math.max(r.top, box.top), bottom: Math.min(r.bottom, box.bottom) };
      if (r.left > r.right) r.left = r.right = box.right;
    }
    if (r.left < -1 || r.right > vw + 1)
      problems.push(`${name(el)}: outside the window's ${vw}px width (x ${Math.round(r.left)}..${Math.round(r.right)})`);
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) problems.push(`the page scrolls sideways by ${doc.scrollWidth - doc.clientWidth}px`);
  return [...new Set(problems)];
}"""

# In Airflow's page: the frame of the Warm tab lies in the window and nothing around it cuts it off.
FRAME_JS = """(f) => {
  const vw = document.documentElement.clientWidth;
  const r = f.getBoundingClientRect();
  const problems = [];
  if (r.left < -1 || r.right > vw + 1) problems.push(`the frame (x ${Math.round(r.left)}..${Math.round(r.right)}) is wider than the window (${vw}px)`);
  for (let a = f.parentElement; a && a !== document.body; a = a.parentElement) {
    const ar = a.getBoundingClientRect(), cs = getComputedStyle(a);
    if (cs.overflowX !== "visible" && (r.left < ar.left - 1 || r.right > ar.right + 1))
      problems.push(`the frame is cut off by ${a.tagName.toLowerCase()}.${a.className} (overflow-x ${cs.overflowX})`);
  }
  return problems;
}"""


def _expand_everything(frame) -> None:
    """Open every run's sub-tasks, every error's details and every SQL list: all the page can show."""
    rows = frame.locator("tr.parent")
    expect(rows.first).to_be_visible()
    for i in range(rows.count()):
        b = rows.nth(i).locator("[data-expand]")
        if b.get_attribute("aria-expanded") != "true":
            b.click()
            expect(b).to_have_attribute("aria-expanded", "true")
    for sel in ("button.err-toggle", "tr.sub button.sql-toggle"):
        toggles = frame.locator(f"{sel}[aria-expanded=false]")
        for _ in range(toggles.count()):
            toggles.first.click()
    expect(frame.locator("tr.detail tr.sub").first).to_be_visible()


def _check(page, frame, what: str, width: int) -> list[str]:
    # the screenshot shows the tab as it first appears (clicks scrolled the boxes sideways)
    frame.locator("html").evaluate(
        "() => document.querySelectorAll('.table-wrap, .detail-inner, .subgrid-wrap').forEach((e) => { e.scrollLeft = 0; })"
    )
    shot = ARTIFACTS / f"nothing-clipped-{what}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    problems = frame.locator("html").evaluate(f"(_) => ({CLIPPED_JS})()")
    return [f"{what} at {width}px: {p}" for p in problems]


@pytest.mark.parametrize("width", WIDTHS)
def test_standalone_page_cuts_nothing_off(browser, airflow, wide_runs, width):
    page = new_page(browser, airflow, width=width, height=HEIGHT)
    problems: list[str] = []
    try:
        for kind, tab in TABS.items():
            page.goto(f"{BASE}/warm/?tab={tab}")
            expect(page.locator("#panel")).to_have_attribute("data-tab", tab)
            run = page.locator(f'tr.parent[data-run="{wide_runs[kind]}"]')
            expect(run).to_be_visible()
            if kind == "slow":
                expect(page.locator('[data-chip="run-wait"]')).to_be_visible()
            page.locator("#auto-refresh").uncheck(force=True)  # the checks see one rendering
            _expand_everything(page)
            if kind == "fail":
                expect(page.locator("tr.detail .error-box").first).to_be_visible()
            problems += _check(page, page, tab, width)
        assert not page._errors, page._errors
    finally:
        page.context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_warm_tab_in_airflow_cuts_nothing_off(browser, airflow, wide_runs, width):
    page = new_page(browser, airflow, width=width, height=HEIGHT)
    problems: list[str] = []
    try:
        for kind, tab in TABS.items():
            dag, run = WIDE_DAGS[kind], wide_runs[kind]
            page.goto(f"{BASE}/dags/{dag}/runs/{quote(run, safe='')}")
            page.get_by_role("link", name="Warm", exact=True).click()
            frame = page.frame_locator("iframe")
            focused = frame.locator(f'tr.parent.focus[data-run="{run}"]')
            expect(focused).to_be_visible(timeout=30_000)
            expect(frame.locator("#panel")).to_have_attribute("data-tab", tab)
            if kind == "slow":
                expect(frame.locator('[data-chip="run-wait"]')).to_be_visible()
            frame.locator("#auto-refresh").uncheck(force=True)
            _expand_everything(frame)
            problems += [f"run tab {tab} at {width}px: {p}" for p in page.locator("iframe").evaluate(FRAME_JS)]
            problems += _check(page, frame, f"run-tab-{tab}", width)
    finally:
        page.context.close()
    assert not problems, "\n".join(problems)


def test_long_texts_are_there(airflow, wide_runs):
    """The cases above are only worth something if the long texts reached the page."""
    t = airflow.warm_task(WIDE_DAGS["fail"], wide_runs["fail"])
    assert re.search("approved_retention_review", t["error"] or ""), t["error"]
