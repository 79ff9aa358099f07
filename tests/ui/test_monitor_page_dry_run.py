"""A dry run on the Warm Tasks page, in a real browser: the run carries a "dry run" badge, the two
source-data actions are disabled with the reason, and the run's detail shows the SQL the real run
would execute for its first batch (README "Dry run")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .harness import count, pg
from .test_monitor_page import open_tab, row, tab_button

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=15_000)

DRY_RUN_ID = "ui_bulk_dry_run_1"


def _already_archived() -> int:
    """Notes the warm table holds already, by our own SQL."""
    with pg() as c:
        sql = "SELECT count(*) FROM ui_src.notes s WHERE EXISTS (SELECT 1 FROM ui_warm.notes w WHERE w.id = s.id)"
        return c.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def dry_run(airflow):
    # some notes archived already (all of them, if the bulk run copied them before): the dry run says so
    with pg() as c:
        c.execute("CREATE TABLE IF NOT EXISTS ui_warm.notes (LIKE ui_src.notes INCLUDING ALL)")
        c.execute("INSERT INTO ui_warm.notes SELECT * FROM ui_src.notes WHERE id > 15 ON CONFLICT DO NOTHING")
    before = count("ui_src.notes")
    # ui_bulk copies; the dry run asks what a move would do, so its preview holds the source DELETE
    airflow.trigger("ui_bulk", {"dry_run": True, "strategy": "move"}, run_id=DRY_RUN_ID)
    assert airflow.wait_run("ui_bulk", DRY_RUN_ID, timeout=180) == "success"
    return before


def test_dry_run_has_a_badge_its_source_actions_are_disabled_and_its_sql_is_shown(page, airflow, dry_run):
    assert count("ui_src.notes") == dry_run  # the dry run moved nothing
    open_tab(page, "completed", run_id=DRY_RUN_ID)  # (with dag_id too the page opens the run expanded)
    r = row(page, DRY_RUN_ID)
    badge = r.locator('[data-badge="dry-run"]')
    expect(badge).to_be_visible()
    expect(badge).to_have_text("dry run")

    # selected, the run allows neither source action; the tooltip says why
    r.locator("[data-select]").check()
    for label in ("Modify Source Data Status", "Manually Delete Source Data"):
        button = tab_button(page, label)
        expect(button).to_be_disabled()
        expect(button.locator("xpath=..")).to_have_attribute("title", re.compile("dry run.*no source data"))

    # the detail shows what the real run would execute, not executed
    r.locator("[data-expand]").click()
    expect(r.locator("[data-expand]")).to_have_attribute("aria-expanded", "true")
    sql = page.locator("[data-dry-run-sql]")
    expect(sql).to_be_visible()
    expect(sql.locator("h3")).to_contain_text("what the real run would execute (first batch)")
    delete = sql.locator("li.write").filter(has_text='DELETE FROM "ui_src"."notes"')
    expect(delete).to_have_count(1)
    expect(delete).to_contain_text("not executed")
    expect(delete).to_contain_text(f"{dry_run} rows")  # the first batch: every note, keys bound as parameters
    expect(delete.locator("code.params")).to_have_text(re.compile(rf"^\[(\[?1,2,.*,{dry_run}\]?|1,{dry_run})\]$"))
    expect(sql.locator("li.write").filter(has_text=re.compile(r'(COPY|INSERT INTO) "ui_warm"\."notes"'))).to_have_count(
        1
    )
    expect(sql.locator("li.read").first).to_contain_text("read, ran")

    # the rows already archived, and what on_conflict (skip) will do with them
    already = _already_archived()
    assert already >= 5
    said = sql.locator("[data-already-archived]")
    expect(said).to_have_attribute("data-already-archived", str(already))
    expect(said).to_contain_text(f"{already:,} of the planned rows are already in the warm table: on_conflict=skip")
    expect(said).to_contain_text("leaves them as they are")
    # only the run's work: no probe, no 1=1 in a statement (a ledger row's bound values are data)
    statements = sql.locator("li .stmt > code:not(.params)")
    expect(statements.first).to_be_visible()
    expect(statements.filter(has_text=re.compile(r"1\s*=\s*1|LIMIT 0"))).to_have_count(0)

    # the dry run's own reads are listed apart, as checks, not as the run's work
    r.locator("button.sql-toggle").click()
    executed = page.locator(".detail-section").filter(has=page.locator("h3", has_text="Executed SQL"))
    expect(executed.locator(".sql-checks-title")).to_contain_text("Checks")
    expect(executed.locator('[data-sql-kind="check"] li').first).to_be_visible()
    expect(executed.locator('[data-sql-kind="work"]')).to_have_count(0)
