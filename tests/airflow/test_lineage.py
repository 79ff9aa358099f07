"""Archive runs as data events in a real Airflow (SQLite metadata DB, ``dag.test()``): the warm
table's asset event carries the run's figures, a dry run emits none, a rollback says what it took
back; with the openlineage provider's file transport the run's events validate against the
OpenLineage schema and name the tables and counts the databases show."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.airflow import openlineage_schema
from tests.airflow.test_dags import maintain, run, write_spec
from tests.conftest import MY_PORT, PG_DB, PG_PORT, ROOT
from tests.dbs import Engine

SPEC = """
dag_id: warm_lineage
strategy: move
batch_size: 250
retries: 0
jobs:
  - id: to_my
    source: {conn_id: T_PG, table: t_ol.orders}
    target: {conn_id: T_MY, table: t_olw.orders}
    key: [id]
    where: "created_at < '2025-01-01'"
  - id: to_pg
    source: {conn_id: T_PG, table: t_ol.orders2}
    target: {conn_id: T_PG, table: t_olw.orders2}
    key: [id]
    where: "created_at < '2025-01-01'"
"""
PG_NS, MY_NS = f"postgres://127.0.0.1:{PG_PORT}", f"mysql://127.0.0.1:{MY_PORT}"
WARM_MY = f"mysql://127.0.0.1:{MY_PORT}/t_olw/orders"
WARM_PG = f"postgres://127.0.0.1:{PG_PORT}/{PG_DB}/t_olw/orders2"

# One process runs the DAG with the openlineage provider on (its listener is chosen when Airflow's
# plugins load, once per process): the other tests' runs stay without it.
RUNNER = """
import json, sys
from tests.airflow.test_dags import run
results = []
for conf in json.loads(sys.argv[2]):
    dr, tis = run(sys.argv[1], conf)
    results.append({"run_id": dr.run_id, "state": str(dr.state)})
open(sys.argv[3], "w").write(json.dumps(results))
"""


@pytest.fixture
def tables(airflow_db, specs_dir):
    pg, my = Engine("pg"), Engine("my")
    pg.create_orders("t_ol.orders", 700)
    pg.create_orders("t_ol.orders2", 400, seed=5)
    my.schema("t_olw")
    my.drop("t_olw.orders")
    pg.schema("t_olw")
    pg.drop("t_olw.orders2")
    my.clear_ledger("t_olw")
    pg.clear_ledger()
    write_spec(specs_dir, "warm_lineage", text=SPEC)
    yield pg, my
    pg.close()
    my.close()


def runs_with_openlineage(tmp_path: Path, *confs: dict) -> tuple[list[dict], list[dict]]:
    """A run of warm_lineage per conf, one after the other, in a process with OpenLineage on:
    each run's id and state, and the events of all of them."""
    events = tmp_path / f"ol-{uuid.uuid4().hex}.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "warm_tests",
    }
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, "warm_lineage", json.dumps(confs), str(events) + ".result"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(Path(f"{events}.result").read_text())
    lines = events.read_text().splitlines() if events.exists() else []
    return result, [json.loads(line) for line in lines if line.strip()]


def asset_events(uri: str, run_id: str) -> list[dict]:
    """The extras of the asset events of ``uri`` about run ``run_id`` (archive or rollback)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as s:
        rows = s.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(AssetModel.uri == uri)
        extras = [dict(r.extra or {}) for r in rows.order_by(AssetEvent.id)]
    return [e for e in extras if e.get("run_id") == run_id]


def columns(engine: Engine, table: str) -> list[str]:
    schema, name = table.split(".")
    cur = engine.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position",
        (schema, name),
    )
    return [r[0] for r in cur.fetchall()]


def task_events(events: list[dict], run_id: str, task_id: str) -> dict[str, dict]:
    """The OpenLineage events of one task of one run of warm_lineage, by event type."""
    mine = [
        e
        for e in events
        if e["job"]["name"] == f"warm_lineage.{task_id}" and e["run"]["facets"]["airflow"]["dagRun"]["run_id"] == run_id
    ]
    return {e["eventType"]: e for e in mine}


def test_a_run_reports_its_datasets_counts_and_asset_events_and_a_dry_run_none(tables, tmp_path):
    pg, my = tables
    (dry, result), events = runs_with_openlineage(tmp_path, {"dry_run": True}, {})
    assert dry["state"] == "success" and result["state"] == "success", (dry, result)
    # a dry run changed no table: no event
    assert asset_events(WARM_MY, dry["run_id"]) == [] and asset_events(WARM_PG, dry["run_id"]) == []

    archived_my, archived_pg = my.count("t_olw.orders"), pg.count("t_olw.orders2")
    assert archived_my > 0 and archived_pg > 0

    # -- the asset events, with the run's figures
    (ev_my,) = asset_events(WARM_MY, result["run_id"])
    (ev_pg,) = asset_events(WARM_PG, result["run_id"])
    assert ev_my == {
        "action": "archive",
        "dag_id": "warm_lineage",
        "run_id": result["run_id"],
        "task_id": "to_my",
        "strategy": "move",
        "dry_run": False,
        "rows_archived": archived_my,
        "rows_skipped": 0,
        "rows_deleted": archived_my,
        "rows_kept_changed": 0,
        "source": "t_ol.orders",
        "source_conn_id": "T_PG",
    }
    assert ev_pg["rows_archived"] == ev_pg["rows_deleted"] == archived_pg and ev_pg["task_id"] == "to_pg"

    # -- OpenLineage: every event valid, the datasets and figures the tables show
    reg = openlineage_schema.registry()
    for e in events:
        assert openlineage_schema.validate(e, reg) == [], e
        dt.datetime.fromisoformat(e["eventTime"])
    broken = json.loads(json.dumps(events[-1]))  # the check is not vacuous
    del broken["run"]["runId"]
    assert openlineage_schema.validate(broken, reg) != []
    dry_my = task_events(events, dry["run_id"], "to_my")["COMPLETE"]
    assert [d["name"] for d in dry_my["inputs"]] == [f"{PG_DB}.t_ol.orders"] and dry_my["outputs"] == []

    for task_id, source, (ns, name), archived, cols in (
        ("to_my", "t_ol.orders", (MY_NS, "t_olw.orders"), archived_my, columns(my, "t_olw.orders")),
        ("to_pg", "t_ol.orders2", (PG_NS, f"{PG_DB}.t_olw.orders2"), archived_pg, columns(pg, "t_olw.orders2")),
    ):
        by_type = task_events(events, result["run_id"], task_id)
        assert {"START", "COMPLETE"} <= set(by_type)
        start, done = by_type["START"], by_type["COMPLETE"]
        src = {"namespace": PG_NS, "name": f"{PG_DB}.{source}"}
        for e in (start, done):
            assert [{k: d[k] for k in ("namespace", "name")} for d in e["inputs"]] == [src]
            assert [(d["namespace"], d["name"]) for d in e["outputs"]] == [(ns, name)]
        (out,) = done["outputs"]
        assert out["outputFacets"]["outputStatistics"]["rowCount"] == archived
        assert [f["name"] for f in out["facets"]["schema"]["fields"]] == cols
        lineage = out["facets"]["columnLineage"]["fields"]
        assert set(lineage) == set(cols)
        for col, f in lineage.items():
            assert [{k: i[k] for k in ("namespace", "name", "field")} for i in f["inputFields"]] == [
                {**src, "field": col}
            ]
        assert "SELECT" in done["job"]["facets"]["sql"]["query"]
        assert source.split(".")[1] in done["job"]["facets"]["sql"]["query"]


def test_the_ol_dataset_is_the_one_the_providers_derive_from_the_asset():
    """The warm table's asset and its OpenLineage dataset name one table, for Airflow's own converters."""
    from airflow.providers.mysql.assets.mysql import convert_asset_to_openlineage as my_convert
    from airflow.providers.postgres.assets.postgres import convert_asset_to_openlineage as pg_convert
    from airflow.sdk import Connection

    from warm_archive.lineage import table_ref

    pg_ref = table_ref(Connection(conn_id="a", conn_type="postgres", host="db1", schema="shop"), "orders")
    my_ref = table_ref(Connection(conn_id="b", conn_type="mysql", host="db2", port=3307, schema="shop"), "arch.orders")
    assert pg_ref is not None and my_ref is not None
    assert pg_ref.uri == "postgres://db1:5432/shop/public/orders" and my_ref.uri == "mysql://db2:3307/arch/orders"
    for ref, convert in ((pg_ref, pg_convert), (my_ref, my_convert)):
        ds = convert(ref.asset(), None)
        assert (ds.namespace, ds.name) == (ref.namespace, ref.name)
    sqlite = Connection(conn_id="c", conn_type="sqlite", host="/tmp/x.db")
    assert table_ref(sqlite, "orders") is None


def test_a_rollback_emits_an_event_saying_what_it_took_back(tables):
    pg, my = tables
    archive_run, _ = run("warm_lineage", {"jobs": ["to_pg"]})
    result = {"run_id": archive_run.run_id}
    archived = pg.count("t_olw.orders2")
    dr, tis = maintain({"action": "rollback", "dag_id": "warm_lineage", "run_id": result["run_id"], "any_state": True})
    assert tis["maintain"].state == "success"
    assert pg.count("t_olw.orders2") == 0
    archive, rollback = asset_events(WARM_PG, result["run_id"])
    assert archive["action"] == "archive" and archive["rows_archived"] == archived
    assert rollback == {
        "action": "rollback",
        "dag_id": "warm_lineage",
        "run_id": result["run_id"],
        "task_id": "to_pg",
        "rows_removed": archived,
        "rows_restored": archived,
        "batches": rollback["batches"],
        "maintenance_run_id": dr.run_id,
        "issued_by": "tests",
    }
    assert rollback["batches"] >= 1
    assert asset_events(WARM_MY, result["run_id"]) == []  # to_my was skipped: its table has no event
