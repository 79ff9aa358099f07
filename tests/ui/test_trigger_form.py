"""Airflow's own Trigger DAG form for a warm DAG: its params (trigger_form.py) give it a dropdown of
strategies, a dry-run switch, a multi-select of the spec's jobs and a where field; what the form
sends is the run's conf, and the run does what it says. Real Airflow (harness.py), real PostgreSQL,
real Chromium.

The form's DAG (ui_form) is added to the deployment's specs folder by this module (the file runs
after the other browser tests, which see the deployment they expect); it moves two tables of its own.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from bench.deployment import warm_dags_folder
from tests.specs import Job, spec

from .harness import ARTIFACTS, pg

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
expect.set_options(timeout=20_000)

DAG = "ui_form"
LINES, HEADS = 120, 40
FORM_SPEC = spec(
    DAG,
    "move",
    [
        Job("lines", "ui_pg", "ui_src.form_lines", "ui_pg", "ui_warm.form_lines", where="created_at < '2025-01-01'"),
        Job("heads", "ui_pg", "ui_src.form_heads", "ui_pg", "ui_warm.form_heads", where="created_at < '2025-01-01'"),
    ],
    description="Move old form lines and heads",
    batch_size=1000,
    retries=0,
    allow_conf_where=True,
)


def count(table: str) -> int | None:
    """Rows of ``table``; None when it does not exist."""
    with pg() as c:
        if c.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            return None
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture(scope="module")
def form_dag(airflow):
    with pg() as c:
        for name, n in (("form_lines", LINES), ("form_heads", HEADS)):
            c.execute(f"DROP TABLE IF EXISTS ui_src.{name}, ui_warm.{name}")
            c.execute(f"CREATE TABLE ui_src.{name} (id bigint PRIMARY KEY, created_at timestamp NOT NULL, note text)")
            c.execute(
                f"INSERT INTO ui_src.{name} SELECT g, timestamp '2023-01-01' + g * interval '1 hour', 'row ' || g "
                f"FROM generate_series(1, {n}) g"
            )
    specs = airflow.home / "specs"
    (specs / f"{DAG}.yaml").write_text(FORM_SPEC)
    warm_dags_folder(specs)  # its DAG file, as a user regenerates them after adding a spec
    deadline = time.monotonic() + 240  # the dag-processor re-reads the DAG file on its own schedule
    while airflow.api("GET", f"/api/v2/dags/{DAG}").status_code != 200:
        assert time.monotonic() < deadline, f"{DAG} never appeared:\n{airflow.log_tail()}"
        time.sleep(3)
    return DAG


def run_ids(airflow) -> set[str]:
    body = airflow.api("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 100}).json()
    return {r["dag_run_id"] for r in body["dag_runs"]}


def open_form(page):
    page.goto(f"/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Run Parameters").first).to_be_visible()
    if not dialog.locator("#element_strategy").is_visible():  # the section may start folded
        dialog.get_by_text("Run Parameters").first.click()
    expect(dialog.locator("#element_strategy")).to_be_visible()
    return dialog


def choose(dialog, field: str, option: str) -> None:
    """Pick ``option`` in the dropdown or multi-select ``field`` (react-select): type, then click it."""
    box = dialog.locator(f"#element_{field} input[role=combobox]")
    box.click()
    box.fill(option)
    dialog.page.get_by_role("option", name=option, exact=True).click()


def number(dialog, field: str):
    return dialog.locator(f"[id='number-input:element_{field}'] input")


def type_json(dialog, field: str, text: str) -> None:
    """Type ``text`` into the JSON editor (Monaco) of ``field``, without the brackets and quotes it auto-closes."""
    editor = dialog.locator(f"#element_{field} .monaco-editor .view-lines")
    editor.click()
    dialog.page.keyboard.press("Control+A")  # an empty object field shows {}
    dialog.page.keyboard.insert_text(text)
    dialog.page.keyboard.press("Shift+End")  # what the editor auto-closed after the cursor
    dialog.page.keyboard.press("Delete")
    expect(dialog.get_by_text("SyntaxError")).to_have_count(0)


def submit(page, dialog, before: set[str], airflow) -> str:
    """Press the dialog's Trigger button; the one run it created."""
    dialog.get_by_role("button", name="Trigger").last.click()
    deadline = time.monotonic() + 30
    while not (new := run_ids(airflow) - before):
        assert time.monotonic() < deadline, "the form created no run"
        time.sleep(1)
    assert len(new) == 1, new
    return new.pop()


def test_the_form_offers_the_run_conf_and_a_dry_run_of_one_job_changes_nothing(page, airflow, form_dag):
    dialog = open_form(page)
    page.screenshot(path=str(ARTIFACTS / "trigger-form.png"), full_page=True)
    # the dropdown lists the strategies, its empty choice says what it keeps
    expect(dialog.locator("#element_strategy")).to_contain_text("(the spec's move)")
    dialog.locator("#element_strategy input[role=combobox]").click()
    expect(page.get_by_role("option")).to_have_text(["copy", "copy_then_delete", "move", "(the spec's move)"])
    page.get_by_role("option", name="(the spec's move)").click()  # leaves it empty
    expect(dialog.locator("[id='switch:element_dry_run']")).to_have_attribute("data-state", "unchecked")
    for field in ("batch_size", "max_rows_per_second"):
        expect(number(dialog, field)).to_have_value("")
    expect(dialog.locator("#element_on_conflict")).to_contain_text("(the spec's skip)")
    expect(dialog.locator("#element_where")).to_be_attached()  # the spec allows a conf where
    expect(dialog.get_by_text("Empty: every job (lines, heads)")).to_be_visible()

    before = run_ids(airflow)
    # the multi-select offers the spec's jobs
    dialog.locator("#element_jobs input[role=combobox]").click()
    expect(page.get_by_role("option")).to_have_text(["lines", "heads"])
    page.get_by_role("option", name="heads", exact=True).click()
    number(dialog, "batch_size").fill("25")
    dialog.locator("[id='switch:element_dry_run']").click()
    expect(dialog.locator("[id='switch:element_dry_run']")).to_have_attribute("data-state", "checked")
    run_id = submit(page, dialog, before, airflow)

    conf = airflow.run(DAG, run_id)["conf"]
    assert conf["dry_run"] is True and conf["jobs"] == ["heads"] and conf["batch_size"] == 25, conf
    assert conf["strategy"] is None and conf["where"] is None, conf  # untouched: the spec's
    assert airflow.wait_run(DAG, run_id) == "success"
    tis = airflow.tis(DAG, run_id)
    assert tis["heads"]["state"] == "success" and tis["lines"]["state"] == "skipped", tis
    status = airflow.xcom(DAG, run_id, "heads", "warm_status")
    assert status["dry_run"] is True and status["rows_planned"] == HEADS, status
    assert count("ui_src.form_heads") == HEADS and count("ui_src.form_lines") == LINES  # nothing moved
    assert not count("ui_warm.form_heads")


def test_a_strategy_and_a_where_chosen_in_the_form_are_what_the_run_does(page, airflow, form_dag):
    dialog = open_form(page)
    before = run_ids(airflow)
    choose(dialog, "strategy", "copy")
    choose(dialog, "jobs", "lines")
    type_json(dialog, "where", '{"lines": "id <= 10"}')
    run_id = submit(page, dialog, before, airflow)

    conf = airflow.run(DAG, run_id)["conf"]
    assert conf["strategy"] == "copy" and conf["jobs"] == ["lines"] and conf["where"] == {"lines": "id <= 10"}, conf
    assert conf["dry_run"] is False and conf["batch_size"] is None, conf
    assert airflow.wait_run(DAG, run_id) == "success"
    assert airflow.tis(DAG, run_id)["heads"]["state"] == "skipped"
    assert count("ui_warm.form_lines") == 10  # the form's condition, not the spec's
    assert count("ui_src.form_lines") == LINES  # copy, not the spec's move: the source keeps its rows


def test_a_bad_value_is_refused_with_the_reason_and_no_run(page, airflow, form_dag):
    """The REST API and the form meet the same check: Airflow's, against the params, before a run exists."""
    before = run_ids(airflow)
    r = airflow.api("POST", f"/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": {"batch_size": "lots"}})
    assert r.status_code == 400, r.text
    assert "Invalid input for param batch_size: 'lots' is not of type 'integer', 'null'" in r.json()["detail"]
    r = airflow.api("POST", f"/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": {"jobs": ["ghost"]}})
    assert r.status_code == 400 and "'ghost' is not one of ['lines', 'heads']" in r.json()["detail"], r.text

    dialog = open_form(page)
    type_json(dialog, "where", '{"ghost": "1=1"}')
    dialog.get_by_role("button", name="Trigger").last.click()
    expect(page.get_by_text("'ghost' is not one of ['lines', 'heads']").first).to_be_visible()
    assert run_ids(airflow) == before
