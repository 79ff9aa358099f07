"""A warm table as a data event in the real deployment: a user's DAG scheduled on ui_copy's warm
customers table (harness.DOWNSTREAM_DAG) runs after each ui_copy run that archived customers, and
reads that run's figures from its triggering asset event. Runs after the page tests (file order),
which leave the shared runs of ``runs`` done."""

from __future__ import annotations

import json
import time
from functools import partial

from .harness import DOWNSTREAM_DAG, WARM_CUSTOMERS, count


def _asset(airflow) -> dict:
    (asset,) = airflow.ok("get", "/api/v2/assets", params={"uri_pattern": WARM_CUSTOMERS})["assets"]
    assert asset["uri"] == WARM_CUSTOMERS
    return asset


def _events(airflow) -> list[dict]:
    body = airflow.ok("get", "/api/v2/assets/events", params={"asset_id": _asset(airflow)["id"], "limit": 100})
    return body["asset_events"]


def test_the_dag_processor_declares_the_warm_table_as_ui_copys_outlet(airflow):
    """Parsed by the deployment's dag-processor, from the connection: the job that writes the table
    produces the asset, the maintenance task (its rollbacks) too, and the downstream DAG waits on it."""
    asset = _asset(airflow)
    producers = {(t["dag_id"], t["task_id"]) for t in asset["producing_tasks"]}
    assert {("ui_copy", "customers"), ("ui_copy__maintenance", "maintain")} <= producers
    assert [d["dag_id"] for d in asset["scheduled_dags"]] == [DOWNSTREAM_DAG]


def _downstream_runs(airflow) -> list[dict]:
    body = airflow.ok("get", f"/api/v2/dags/{DOWNSTREAM_DAG}/dagRuns", params={"limit": 100})
    return body["dag_runs"]


def test_a_dag_scheduled_on_the_warm_table_runs_after_each_archive_run_with_its_figures(airflow, runs):
    for key in ("copy1", "copy2"):
        assert airflow.wait_run("ui_copy", runs[key]) == "success"
    archived = {
        key: airflow.return_value("ui_copy", runs[key], "customers")["rows_copied"] for key in ("copy1", "copy2")
    }
    assert archived["copy1"] == count("ui_warm.customers") == 400  # every old customer
    assert archived["copy2"] == 0  # already there (on_conflict: skip): the table did not change

    events = _events(airflow)
    by_run = {e["source_run_id"]: e for e in events if e["source_dag_id"] == "ui_copy"}
    assert runs["copy2"] not in by_run  # a run that archived nothing emits no event
    first = by_run[runs["copy1"]]
    assert first["source_task_id"] == "customers"
    assert first["extra"] == {
        "action": "archive",
        "dag_id": "ui_copy",
        "run_id": runs["copy1"],
        "task_id": "customers",
        "strategy": "copy",
        "dry_run": False,
        "rows_archived": 400,
        "rows_skipped": 0,
        "rows_deleted": 0,
        "rows_kept_changed": 0,
        "source": "ui_src.customers",
        "source_conn_id": "ui_pg",
    }

    # the scheduler runs the downstream DAG once per event (events close together may share a run)
    deadline = time.monotonic() + 120
    while True:
        done = [r for r in _downstream_runs(airflow) if r["state"] == "success"]
        figures = [f for r in done for f in airflow.return_value(DOWNSTREAM_DAG, r["dag_run_id"], "read_figures")]
        if len(figures) >= len(events) or time.monotonic() > deadline:
            break
        time.sleep(2)
    as_text = partial(json.dumps, sort_keys=True)
    assert sorted(map(as_text, figures)) == sorted(as_text(e["extra"]) for e in events)
    assert 1 <= len(done) <= len(events) and all(r["run_type"] == "asset_triggered" for r in done)
    assert [f for f in figures if f["run_id"] == runs["copy1"]] == [first["extra"]]
