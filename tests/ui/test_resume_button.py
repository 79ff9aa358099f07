"""The Exceptional tab's Resume button in a real browser (Chromium) against the real Airflow of
harness.py: a throttled ``move`` (``ui_resume``) is terminated mid-run, a viewer sees Resume
disabled with the reason, an admin clicks it, confirms, and the run leaves the Exceptional tab and
ends with every row moved exactly once (docs/design.md §6.5).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.processes import wait_for

from .harness import count, pg
from .test_monitor_page import YELLOW, colour_of, confirm, open_tab, row, toast

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=15_000)

ROWS = 3000
RUN = "ui_resume_run_1"


@pytest.fixture(scope="module")
def terminated_run(airflow):
    """A ui_resume run terminated after it moved a few batches (its job stopped)."""
    with pg() as c:
        c.execute("DROP TABLE IF EXISTS ui_src.resumed; DROP TABLE IF EXISTS ui_warm.resumed")
        c.execute("CREATE TABLE ui_src.resumed (id bigint PRIMARY KEY, created_at timestamp NOT NULL, note text)")
        c.execute(
            "INSERT INTO ui_src.resumed SELECT g, timestamp '2023-01-01' + g * interval '1 minute', 'row ' || g "
            f"FROM generate_series(1, {ROWS}) g"
        )
    run = airflow.trigger("ui_resume", run_id=RUN)

    def moved() -> int:
        with pg() as c:
            return c.execute("SELECT count(*) FROM ui_warm.resumed").fetchone()[0] if _exists(c) else 0

    wait_for(lambda: moved() >= 300, 240, 0.3, "three batches moved")
    r = airflow.api("POST", f"/warm/api/v1/tasks/ui_resume/{run}/terminate")
    assert r.status_code == 200, r.text
    airflow.wait_warm("ui_resume", run, lambda t: t["subtasks"][0]["state"] == "failed", what="job stopped")
    assert 0 < count("ui_warm.resumed") < ROWS
    assert count("ui_warm.resumed") + count("ui_src.resumed") == ROWS  # nothing lost, nothing in both
    return run


def _exists(c) -> bool:
    return c.execute("SELECT to_regclass('ui_warm.resumed') IS NOT NULL").fetchone()[0]


def test_viewer_sees_resume_disabled_with_the_reason(viewer_page, terminated_run):
    open_tab(viewer_page, "exceptional")
    b = row(viewer_page, terminated_run).get_by_role("button", name="Resume", exact=True)
    expect(b).to_be_disabled()
    expect(b.locator("xpath=..")).to_have_attribute("title", re.compile("permission"))


def test_resume_a_terminated_run_it_leaves_exceptional_and_moves_every_row_once(page, airflow, terminated_run):
    open_tab(page, "exceptional")
    r = row(page, terminated_run)
    expect(r).to_be_visible()
    button = r.get_by_role("button", name="Resume", exact=True)
    expect(button).to_be_enabled()
    assert colour_of(button) == YELLOW
    expect(r.get_by_role("button", name="Rollback", exact=True)).to_be_enabled()  # beside it, still offered
    button.click()
    confirm(page, "Resume 1 run", destructive=False)
    toast(page, "success", "resumed")
    expect(row(page, terminated_run)).to_have_count(0, timeout=20_000)  # gone from Exceptional
    assert airflow.run_state("ui_resume", terminated_run) in ("queued", "running", "success")
    assert airflow.wait_run("ui_resume", terminated_run, timeout=240) == "success"
    assert count("ui_warm.resumed") == ROWS and count("ui_src.resumed") == 0
    with pg() as c:  # each row once, with its content
        assert c.execute("SELECT count(DISTINCT id), min(id), max(id) FROM ui_warm.resumed").fetchone() == (
            ROWS,
            1,
            ROWS,
        )
    t = airflow.warm_task("ui_resume", terminated_run)
    sub = t["subtasks"][0]
    assert sub["try_number"] == 2 and sub["rows_copied"] == ROWS and sub["rows_skipped"] == 0, sub
    open_tab(page, "completed")
    expect(row(page, terminated_run)).to_be_visible()
