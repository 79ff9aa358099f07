"""The Trigger DAG form of a warm DAG (its Airflow ``params``) in a real Airflow (SQLite metadata
DB, ``dag.test()``, real PostgreSQL and MariaDB): the fields follow RunConf and the spec, a conf
with every documented key still runs, a bad one is refused by Airflow before any run exists, and
the monitor's re-execute answers 409 when a conf does not fit."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.airflow.test_dags import dagbag, xcom
from tests.dbs import Engine, checksum
from warm_archive import contract
from warm_archive.spec import INTERNAL_CONF_KEYS, RunConf, load_spec, parse_conf
from warm_archive.trigger_form import LOAD_SECTION, build_params

SPEC = """
dag_id: {dag_id}
strategy: move
batch_size: 300
retries: 0
allow_conf_where: {allow_where}
{replicas}
jobs:
  - id: orders
    source: {{conn_id: T_PG, table: t_tf.orders}}
    target: {{conn_id: T_MY, table: t_tfw.orders}}
    key: [id]
    where: "created_at < '2025-01-01'"
  - id: orders_pg
    source: {{conn_id: T_PG, table: t_tf.orders2}}
    target: {{conn_id: T_PG, table: t_tfw.orders2}}
    key: [id]
    where: "created_at < '2025-01-01'"
"""
REPLICAS = "replicas: [T_PG2, T_MY2]\nmax_replica_lag_seconds: 30"

# Every run conf key README.md documents, as a REST caller sends it.
DOCUMENTED = {
    "strategy": "copy",
    "batch_size": 250,
    "on_conflict": "overwrite",
    "max_rows_per_second": 100000,
    "where": {"orders": "id <= 100"},
    "jobs": ["orders"],
    "dry_run": False,
    "max_threads_running": 10000,
}
DOCUMENTED_WITH_REPLICAS = DOCUMENTED | {
    "replicas": ["T_PG2"],
    "max_replica_lag_seconds": 5,
    "on_replica_unreachable": "fail",
}


def write(folder: Path, dag_id: str = "warm_tf", allow_where: bool = True, replicas: bool = False) -> Path:
    path = folder / f"{dag_id}.yaml"
    text = SPEC.format(dag_id=dag_id, allow_where=str(allow_where).lower(), replicas=REPLICAS if replicas else "")
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def dbs(airflow_db):
    pg, my = Engine("pg"), Engine("my")
    pg.create_orders("t_tf.orders", 600)
    pg.create_orders("t_tf.orders2", 300, seed=3)
    my.schema("t_tfw")
    my.drop("t_tfw.orders")
    pg.schema("t_tfw")
    pg.drop("t_tfw.orders2")
    my.clear_ledger("t_tfw")
    pg.clear_ledger()
    yield pg, my
    pg.close()
    my.close()


def schemas(params) -> dict:
    return {k: params[k].schema for k in params}


def run_conf_bounds(name: str) -> dict:
    """RunConf's own bounds of a field, as its JSON schema states them."""
    prop = RunConf.model_json_schema()["properties"][name]
    inner = next(v for v in prop["anyOf"] if v.get("type") != "null")
    return {k: v for k, v in inner.items() if k in ("minimum", "maximum", "exclusiveMinimum")}


def test_the_form_has_a_field_per_run_conf_key_typed_as_run_conf_types_it(specs_dir):
    spec = load_spec(write(specs_dir, replicas=True))
    params = build_params(spec)
    s = schemas(params)

    assert set(params) == set(RunConf.model_fields) - set(INTERNAL_CONF_KEYS)
    assert not set(INTERNAL_CONF_KEYS) & set(params)  # reexecution_of / start_from are no field
    # dropdowns: the enums of contract.py, plus the empty choice
    assert s["strategy"]["enum"] == [*(x.value for x in contract.Strategy), None]
    assert s["on_conflict"]["enum"] == [*(x.value for x in contract.OnConflict), None]
    assert s["on_replica_unreachable"]["enum"] == ["pause", "fail", None]
    # numbers with RunConf's bounds
    assert s["batch_size"]["type"] == ["integer", "null"]
    for name in ("batch_size", "max_rows_per_second", "max_replica_lag_seconds", "max_threads_running"):
        assert run_conf_bounds(name), name
        assert {k: s[name][k] for k in run_conf_bounds(name)} == run_conf_bounds(name), name
    assert s["max_rows_per_second"]["type"] == ["number", "null"]
    # the checkbox
    assert s["dry_run"]["type"] == ["boolean", "null"] and params["dry_run"].value is False
    # multi-selects of the spec's own job ids and replicas (Airflow shows an array with examples so)
    assert s["jobs"]["type"] == ["array", "null"]
    assert s["jobs"]["items"]["enum"] == s["jobs"]["examples"] == ["orders", "orders_pg"]
    assert s["replicas"]["items"]["enum"] == s["replicas"]["examples"] == ["T_PG2", "T_MY2"]
    assert s["where"]["type"] == ["object", "null"] and s["where"]["propertyNames"] == {"enum": ["orders", "orders_pg"]}
    # each field says what it does and what an empty one keeps
    for name, param in params.items():
        assert s[name]["title"] == name and param.description, name
    assert "Empty: the spec's move" in build_params(spec)["strategy"].description
    assert s["strategy"]["values_display"] == {"null": "(the spec's move)"}  # the empty choice's label
    assert "Empty: every job (orders, orders_pg)" in build_params(spec)["jobs"].description
    assert {k for k in s if s[k].get("section") == LOAD_SECTION} == {
        "replicas",
        "max_replica_lag_seconds",
        "on_replica_unreachable",
        "max_threads_running",
        "pacing",
        "pacing_latency_ratio",
        "pacing_max_sleep_ratio",
    }


def test_where_and_replica_fields_only_when_the_spec_allows_them(specs_dir):
    params = build_params(load_spec(write(specs_dir, allow_where=False)))
    assert "where" not in params
    assert not {"replicas", "max_replica_lag_seconds", "on_replica_unreachable"} & set(params)
    assert {"strategy", "batch_size", "on_conflict", "max_rows_per_second", "jobs", "dry_run"} <= set(params)


def test_an_untouched_form_overrides_nothing(specs_dir):
    """What the form sends when no field is touched (every field, at its default) is the empty conf;
    so are the cleared fields (null, no choice, empty text)."""
    spec = load_spec(write(specs_dir, replicas=True))
    jobs = [j.id for j in spec.jobs]
    untouched = {k: v.value for k, v in build_params(spec).items()}
    assert parse_conf(untouched, jobs, True, spec.replicas) == RunConf()
    cleared = {"strategy": "", "jobs": [], "where": {}, "replicas": [], "batch_size": None, "dry_run": None}
    assert parse_conf(cleared, jobs, True, spec.replicas) == RunConf()


def test_a_deliberately_empty_where_is_refused_not_taken_as_every_row(specs_dir):
    from warm_archive.errors import SpecError

    with pytest.raises(SpecError, match="where for job orders is empty: .* or write 1=1 to archive every row"):
        parse_conf({"where": {"orders": "  "}}, ["orders"], True)


def test_a_rest_conf_with_every_documented_key_runs_as_before(specs_dir, dbs):
    pg, my = dbs
    write(specs_dir)
    before = pg.rows("t_tf.orders")
    conf = DOCUMENTED | {"dry_run": False}
    dag = dagbag().get_dag("warm_tf")
    assert dag is not None and set(dag.params) >= set(conf)
    dr = dag.test(run_conf=conf)
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert tis["orders"].state == "success" and tis["orders_pg"].state == "skipped"
    assert dr.conf == conf  # Airflow keeps the caller's conf as sent
    assert set(my.rows("t_tfw.orders")) == set(range(1, 101))  # the conf where, copied
    assert pg.rows("t_tf.orders") == before  # strategy copy: the source keeps its rows
    status = xcom(dr, "orders", "warm_status")
    assert status["strategy"] == "copy" and status["rows_copied"] == 100 and status["batches"] == 1


def test_airflow_accepts_every_documented_key_and_the_plugins_internal_ones(specs_dir, airflow_db):
    """The server-side check the REST trigger runs (SerializedDAG.create_dagrun: params.deep_merge(conf)
    .validate()) on the DAG as the api-server has it: documented keys, the keys re-execute adds, and
    the values an untouched form sends all pass."""
    from airflow.serialization.serialized_objects import DagSerialization

    write(specs_dir, replicas=True)
    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag().get_dag("warm_tf")))
    for conf in (
        DOCUMENTED_WITH_REPLICAS,
        DOCUMENTED_WITH_REPLICAS | {contract.CONF_REEXECUTION_OF: "manual__x", contract.CONF_START_FROM: "orders"},
        {k: dag.params.get_param(k).value for k in dag.params},
        {},
    ):
        dag.params.deep_merge(conf).validate()


BAD = [
    ({"batch_size": "lots"}, "Invalid input for param batch_size: 'lots' is not of type 'integer', 'null'"),
    ({"batch_size": 0}, "Invalid input for param batch_size: 0 is less than the minimum of 1"),
    ({"strategy": "shred"}, "Invalid input for param strategy: 'shred' is not one of"),
    ({"jobs": "orders"}, "Invalid input for param jobs: 'orders' is not of type 'array', 'null'"),
    ({"jobs": ["ghost"]}, "Invalid input for param jobs: 'ghost' is not one of ['orders', 'orders_pg']"),
    ({"dry_run": "yes"}, "Invalid input for param dry_run: 'yes' is not of type 'boolean', 'null'"),
    ({"where": {"ghost": "1=1"}}, "Invalid input for param where: 'ghost' is not one of ['orders', 'orders_pg']"),
    ({"max_rows_per_second": 0}, "Invalid input for param max_rows_per_second: 0 is less than or equal to the minimum"),
]


@pytest.mark.parametrize("conf,message", BAD, ids=[next(iter(c)) + str(i) for i, (c, _) in enumerate(BAD)])
def test_airflow_refuses_a_bad_conf_before_any_run_exists(specs_dir, dbs, conf, message):
    from airflow.exceptions import ParamValidationError
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    pg, _ = dbs
    write(specs_dir)
    before = checksum(pg.rows("t_tf.orders"))
    with create_session() as s:
        runs_before = s.query(DagRun).filter_by(dag_id="warm_tf").count()
    with pytest.raises(ParamValidationError) as err:
        dagbag().get_dag("warm_tf").test(run_conf=conf)
    assert message in str(err.value)
    with create_session() as s:
        assert s.query(DagRun).filter_by(dag_id="warm_tf").count() == runs_before
    assert checksum(pg.rows("t_tf.orders")) == before


def test_reexecute_with_a_conf_that_does_not_fit_answers_409_and_creates_nothing(specs_dir, dbs):
    """The monitor re-executes a failed run with that run's own conf; one Airflow would refuse (a run
    from before the form, with a bad conf) is a 409 with the reason, not a 500."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from fastapi import HTTPException

    from warm_monitor.actions import create_run

    write(specs_dir)
    dagbag().get_dag("warm_tf").test(run_conf={"dry_run": True})  # the DAG, serialized in the metadata DB
    internal = {contract.CONF_REEXECUTION_OF: "manual__old", contract.CONF_START_FROM: "orders_pg"}
    with create_session() as s:
        with pytest.raises(HTTPException) as err:
            create_run(s, "warm_tf", {"batch_size": "lots", **internal}, "tests", prefix="warm_reexec", parked=True)
        s.rollback()
    assert err.value.status_code == 409
    assert err.value.detail == (
        "the run conf does not fit DAG 'warm_tf''s params: "
        "Invalid input for param batch_size: 'lots' is not of type 'integer', 'null'"
    )
    with create_session() as s:
        assert not s.query(DagRun).filter(DagRun.run_id.like("warm_reexec%")).count()
        run_id = create_run(s, "warm_tf", {"batch_size": 100, **internal}, "tests", prefix="warm_reexec", parked=True)
    with create_session() as s:
        assert s.query(DagRun).filter_by(dag_id="warm_tf", run_id=run_id).one().conf["start_from"] == "orders_pg"
        s.query(DagRun).filter_by(dag_id="warm_tf", run_id=run_id).delete()
