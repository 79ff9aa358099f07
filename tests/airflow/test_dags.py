"""Warm DAGs in a real Airflow (SQLite metadata DB, ``dag.test()``): specs become DAGs, runs honour
the conf, table jobs publish ``warm_status``, and each warm DAG's maintenance DAG rolls back, deletes
and verifies."""

from __future__ import annotations

import itertools
import os
import textwrap
from pathlib import Path

import pendulum
import pytest

from bench.deployment import warm_dags_folder
from tests.dbs import Engine, checksum
from warm_archive.contract import maintenance_dag_id, maintenance_signature, signing_secret

SPEC = """
dag_id: {dag_id}
strategy: {strategy}
batch_size: 300
retries: 0
allow_conf_where: true
tags: [orders]
jobs:
  - id: orders
    source: {{conn_id: T_PG, table: t_af.orders}}
    target: {{conn_id: T_MY, table: t_afw.orders}}
    key: [id]
    where: "created_at < '{{{{ macros.ds_add('2025-01-31', -30) }}}}'"
  - id: orders_pg
    source: {{conn_id: T_PG, table: t_af.orders2}}
    target: {{conn_id: T_PG, table: t_afw.orders2}}
    key: [id]
    where: "created_at < '2025-01-01'"
"""


@pytest.fixture
def dbs(airflow_db):
    pg, my = Engine("pg"), Engine("my")
    pg.create_orders("t_af.orders", 1500)
    pg.create_orders("t_af.orders2", 900, seed=3)
    my.schema("t_afw")
    my.drop("t_afw.orders")
    pg.schema("t_afw")
    pg.drop("t_afw.orders2")
    my.clear_ledger("t_afw")
    pg.clear_ledger()
    yield pg, my
    pg.close()
    my.close()


def write_spec(folder: Path, dag_id="warm_af", strategy="move", text=None) -> Path:
    path = folder / f"{dag_id}.yaml"
    path.write_text(textwrap.dedent(text if text is not None else SPEC.format(dag_id=dag_id, strategy=strategy)))
    return path


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    # what a user does after changing specs: refresh the one-DAG-file-per-spec files
    folder = warm_dags_folder(Path(os.environ["AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER"]), dags_folder())
    return DagBag(dag_folder=str(folder))


def dags_folder() -> Path:
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def run(dag_id: str, conf: dict | None = None, **kw):
    dag = dagbag().get_dag(dag_id)
    assert dag is not None
    dr = dag.test(run_conf=conf or {}, **kw)
    return dr, {ti.task_id: ti for ti in dr.get_task_instances()}


_maintenance_runs = itertools.count()


def maintain(conf: dict, *, sign: bool = True, signed_for: str | None = None, in_dag: str | None = None, **over):
    """A run of the target's maintenance DAG (or ``in_dag``), its conf signed as the monitor plugin
    signs it (for that run)."""
    from airflow.configuration import conf as af_conf
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    when = pendulum.datetime(2030, 1, 1, tz="UTC").add(seconds=next(_maintenance_runs))
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=when, run_after=when)
    conf = {"any_state": False, "issued_by": "tests", "issued_at": when.isoformat(), **conf}
    m_dag = in_dag or maintenance_dag_id(conf["dag_id"])
    if sign:
        secret = signing_secret(lambda s, o: af_conf.get(s, o, fallback=""))
        conf["signature"] = maintenance_signature(secret, m_dag, signed_for or run_id, conf)
    conf.update(over)  # edits made after signing
    return run(m_dag, conf, run_after=when, logical_date=when)


def xcom(dr, task_id, key):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as s:
        row = s.query(XComModel).filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id=task_id, key=key).one_or_none()
        return None if row is None else XComModel.deserialize_value(row)


def test_spec_becomes_a_dag_with_one_task_per_job_in_order(specs_dir, airflow_db):
    write_spec(specs_dir)
    bag = dagbag()
    assert not bag.import_errors
    dag = bag.get_dag("warm_af")
    assert [t.task_id for t in dag.topological_sort()] == ["orders", "orders_pg"]
    assert dag.get_task("orders_pg").upstream_task_ids == {"orders"}
    assert set(dag.tags) == {"warm", "orders"}
    assert dag.max_active_runs == 1
    assert dag.get_task("orders").template_fields == ("where",)
    maintenance = bag.get_dag("warm_af__maintenance")  # its own maintenance DAG, from the same spec
    assert maintenance.get_task("maintain").target_dag_id == "warm_af" and maintenance.schedule is None


def test_spec_queue_and_pool_and_the_maintenance_queue_reach_the_tasks(specs_dir, airflow_db, monkeypatch):
    write_spec(
        specs_dir,
        text=SPEC.format(dag_id="warm_af", strategy="move").replace(
            "retries: 0\n", "retries: 0\nqueue: near_db\npool: hot_pg\n"
        ),
    )
    monkeypatch.setenv("AIRFLOW__WARM_ARCHIVE__MAINTENANCE_QUEUE", "near_db")
    bag = dagbag()
    assert not bag.import_errors
    assert {(t.queue, t.pool) for t in bag.get_dag("warm_af").tasks} == {("near_db", "hot_pg")}
    assert bag.get_dag("warm_af__maintenance").get_task("maintain").queue == "near_db"


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "dag_id: warm_bad\nstrategy: shred\njobs: []\n",
            ["warm_bad.yaml", "strategy", "'copy', 'copy_then_delete' or 'move'"],
        ),
        ("dag_id: warm_bad\nbatchsize: 5\njobs: []\n", ["warm_bad.yaml", "batchsize: unknown key", "allowed: dag_id"]),
        (
            "dag_id: warm_bad\njobs:\n - {id: a, source: {conn_id: x, table: 'a;drop'}, target: {conn_id: y, table: b}, key: [id]}\n",
            ["warm_bad.yaml", "jobs.0.source.table", "is not a valid name"],
        ),
        (
            "dag_id: warm_bad\njobs:\n - {id: a, source: {conn_id: x, table: a}, target: {conn_id: y, table: b}, key: [id]}\n"
            " - {id: a, source: {conn_id: x, table: a}, target: {conn_id: y, table: b}, key: [id]}\n",
            ["warm_bad.yaml", "duplicate job id 'a'"],
        ),
        ("dag_id: warm_bad\n  jobs: [\n", ["warm_bad.yaml", "not valid YAML"]),
    ],
)
def test_broken_spec_is_an_import_error_naming_file_and_key(specs_dir, airflow_db, text, expected):
    write_spec(specs_dir, "warm_bad", text=text)
    errors = dagbag().import_errors
    assert list(errors) == [str(dags_folder() / "warm_spec_warm_bad.py")]  # the spec's own DAG file
    message = next(iter(errors.values()))
    for part in expected:
        assert part in message


def test_one_broken_spec_fails_only_its_own_dag(specs_dir, airflow_db):
    """Two good specs and a broken one: both good DAGs load, and the one import error is on the
    broken spec's DAG file, naming the YAML file and the key."""
    write_spec(specs_dir, "warm_good_a")
    write_spec(specs_dir, "warm_good_b", strategy="copy")
    write_spec(specs_dir, "warm_broken", text=SPEC.format(dag_id="warm_broken", strategy="move") + "batchsize: 5\n")

    bag = dagbag()

    assert set(bag.dag_ids) == {"warm_good_a", "warm_good_b", "warm_good_a__maintenance", "warm_good_b__maintenance"}
    assert list(bag.import_errors) == [str(dags_folder() / "warm_spec_warm_broken.py")]
    message = bag.import_errors[str(dags_folder() / "warm_spec_warm_broken.py")]
    assert "warm_broken.yaml" in message and "batchsize: unknown key" in message
    assert "warm_good_a" not in message and "warm_good_b" not in message
    assert bag.get_dag("warm_good_b").get_task("orders").strategy == "copy"

    # fixed: the import error goes, the DAG comes, the others stay
    write_spec(specs_dir, "warm_broken")
    bag = dagbag()
    assert not bag.import_errors
    assert set(bag.dag_ids) == {
        *("warm_good_a", "warm_good_b", "warm_broken"),
        *("warm_good_a__maintenance", "warm_good_b__maintenance", "warm_broken__maintenance"),
    }


def test_a_dag_id_used_twice_fails_the_second_spec_naming_both(specs_dir, airflow_db):
    write_spec(specs_dir, "warm_twice")
    (specs_dir / "warm_twice_copy.yaml").write_text(SPEC.format(dag_id="warm_twice", strategy="copy"))

    bag = dagbag()

    assert bag.get_dag("warm_twice").get_task("orders").strategy == "move"  # the first file (by name) keeps it
    assert list(bag.import_errors) == [str(dags_folder() / "warm_spec_warm_twice_copy.py")]
    message = next(iter(bag.import_errors.values()))
    assert "warm_twice_copy.yaml: dag_id 'warm_twice' is already used by warm_twice.yaml" in message


def test_a_removed_spec_takes_its_dag_file_with_it(specs_dir, airflow_db):
    write_spec(specs_dir, "warm_gone")
    assert "warm_gone" in dagbag().dag_ids
    (specs_dir / "warm_gone.yaml").unlink()
    bag = dagbag()
    assert not (dags_folder() / "warm_spec_warm_gone.py").exists()
    assert "warm_gone" not in bag.dag_ids and not bag.import_errors


def test_run_with_conf_override_archives_with_that_strategy(specs_dir, dbs):
    pg, my = dbs
    write_spec(specs_dir, strategy="move")
    before = pg.rows("t_af.orders")
    expected = {k: v for k, v in before.items() if v[1].year < 2025}

    dr, tis = run("warm_af", {"strategy": "copy", "batch_size": 250, "jobs": ["orders"]})

    assert tis["orders"].state == "success" and tis["orders_pg"].state == "skipped"
    assert pg.rows("t_af.orders") == before  # copy: the source keeps its rows
    assert my.rows("t_afw.orders") == expected
    status = xcom(dr, "orders", "warm_status")
    assert status["strategy"] == "copy" and status["source_status"] == "retained"
    assert status["rows_copied"] == len(expected) and status["batches"] == -(-len(expected) // 250)
    assert status["progress_pct"] == 100.0 and status["sql"] and status["updated_at"]


def test_conf_where_runs_when_the_spec_allows_it(specs_dir, dbs):
    pg, my = dbs
    write_spec(specs_dir, strategy="move")
    before = pg.rows("t_af.orders")
    dr, tis = run("warm_af", {"where": {"orders": "id <= 100"}, "jobs": ["orders"]})
    assert tis["orders"].state == "success"
    assert set(my.rows("t_afw.orders")) == set(range(1, 101))
    assert set(pg.rows("t_af.orders")) == set(before) - set(range(1, 101))


def test_bad_conf_is_refused_at_trigger_and_no_run_exists(specs_dir, dbs):
    """The DAG's params (the trigger form) give Airflow the conf's types: it refuses a bad one before
    it creates a run, as the REST trigger does with a 400 (tests/airflow/test_trigger_form.py)."""
    from airflow.exceptions import ParamValidationError
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    pg, _ = dbs
    write_spec(specs_dir)
    before = checksum(pg.rows("t_af.orders"))
    with create_session() as s:
        runs = s.query(DagRun).filter_by(dag_id="warm_af").count()
    with pytest.raises(ParamValidationError, match="Invalid input for param batch_size: 'lots' is not of type"):
        run("warm_af", {"batch_size": "lots"})
    with create_session() as s:
        assert s.query(DagRun).filter_by(dag_id="warm_af").count() == runs
    assert checksum(pg.rows("t_af.orders")) == before


def test_a_conf_key_that_is_no_form_field_still_fails_the_first_task_with_a_clear_message(specs_dir, dbs, capfd):
    """Airflow checks only the keys the form has; a misspelt key reaches the job, which refuses it."""
    pg, _ = dbs
    write_spec(specs_dir)
    before = checksum(pg.rows("t_af.orders"))
    dr, tis = run("warm_af", {"batchsize": 5})
    assert tis["orders"].state == "failed"
    assert tis["orders_pg"].state == "upstream_failed"
    out, err = capfd.readouterr()  # dag.test() prints the task logs
    assert "run conf: batchsize: unknown key (allowed: strategy, batch_size" in out + err
    assert checksum(pg.rows("t_af.orders")) == before


def test_spec_replicas_reach_the_job_and_an_unreachable_one_holds_it(specs_dir, dbs, capfd, monkeypatch):
    """The spec's load options travel spec -> DAG -> task -> job: a replica that cannot be reached
    pauses the job; the run conf's ``on_replica_unreachable: fail`` fails it, before any row moves."""
    pg, my = dbs
    monkeypatch.setenv("AIRFLOW_CONN_T_GONE_REPLICA", "mysql://root@127.0.0.1:3399/test")
    text = SPEC.format(dag_id="warm_af", strategy="move").replace(
        "retries: 0\n", "retries: 0\nreplicas: [T_GONE_REPLICA]\nmax_replica_lag_seconds: 5\n"
    )
    write_spec(specs_dir, text=text)
    task = dagbag().get_dag("warm_af").get_task("orders")
    assert task.load_options.replicas == ["T_GONE_REPLICA"] and task.load_options.max_replica_lag_seconds == 5
    before = checksum(pg.rows("t_af.orders"))
    dr, tis = run("warm_af", {"on_replica_unreachable": "fail", "jobs": ["orders"]})
    assert tis["orders"].state == "failed"
    out, err = capfd.readouterr()
    assert "replica 'T_GONE_REPLICA' cannot vouch for its lag" in out + err
    assert checksum(pg.rows("t_af.orders")) == before
    status = xcom(dr, "orders", "warm_status")
    assert status["rows_copied"] == 0 and "cannot vouch" in status["error"]


def test_a_job_waits_for_another_on_its_warm_table_as_long_as_the_config_says(specs_dir, dbs, capfd, monkeypatch):
    """``[warm_archive] lock_timeout``: how long a job waits for another job working on its warm table."""
    pg, my = dbs
    monkeypatch.setenv("AIRFLOW__WARM_ARCHIVE__LOCK_TIMEOUT", "2")
    write_spec(specs_dir)
    other = Engine("my")  # another job holds the warm table's lock
    assert other.execute("SELECT GET_LOCK('warm_archive:t_afw.orders', 0)").fetchone()[0] == 1
    before = checksum(pg.rows("t_af.orders"))
    try:
        dr, tis = run("warm_af", {"jobs": ["orders"]})
    finally:
        other.close()
    assert tis["orders"].state == "failed"
    out, err = capfd.readouterr()
    assert "another warm job is working on t_afw.orders; gave up after 2 s" in out + err
    assert checksum(pg.rows("t_af.orders")) == before


def test_maintenance_rolls_back_a_whole_run_exactly(specs_dir, dbs):
    pg, my = dbs
    write_spec(specs_dir, strategy="move")
    src1, src2 = checksum(pg.rows("t_af.orders")), checksum(pg.rows("t_af.orders2"))
    dr, tis = run("warm_af")
    assert {t.state for t in tis.values()} == {"success"}
    assert pg.count("t_af.orders") < 1500 and my.count("t_afw.orders") > 0

    # A successful run is rolled back only on an admin's word (any_state); see the refusals below.
    mdr, mtis = maintain({"action": "rollback", "dag_id": "warm_af", "run_id": dr.run_id, "any_state": True})

    assert mtis["maintain"].state == "success"
    report = xcom(mdr, "maintain", "return_value")
    assert report["jobs"]["orders"]["rows_removed"] > 0
    assert checksum(pg.rows("t_af.orders")) == src1 and checksum(pg.rows("t_af.orders2")) == src2
    assert my.count("t_afw.orders") == 0 and pg.count("t_afw.orders2") == 0


def test_maintenance_deletes_source_of_a_copy_run_and_verifies(specs_dir, dbs):
    pg, my = dbs
    write_spec(specs_dir, strategy="copy")
    dr, _ = run("warm_af", {"jobs": ["orders_pg"]})
    archived = pg.count("t_afw.orders2")
    assert archived > 0 and pg.count("t_af.orders2") == 900

    mdr, mtis = maintain(
        {"action": "delete_source", "dag_id": "warm_af", "run_id": dr.run_id, "task_ids": ["orders_pg"]}
    )
    assert mtis["maintain"].state == "success"
    assert pg.count("t_af.orders2") == 900 - archived
    assert xcom(mdr, "maintain", "return_value")["jobs"]["orders_pg"]["rows_deleted"] == archived

    vdr, vtis = maintain({"action": "verify", "dag_id": "warm_af", "run_id": dr.run_id})
    report = xcom(vdr, "maintain", "return_value")["jobs"]
    assert report["orders_pg"]["lost"] == 0 and report["orders_pg"]["in_warm"] == archived
    assert report["orders"] == {"skipped": "this table job archived nothing in that run"}


@pytest.mark.parametrize(
    "conf,message",
    [
        ({"action": "explode", "dag_id": "warm_af", "run_id": "x"}, "action: Input should be"),
        ({"action": "rollback", "dag_id": "nope", "run_id": "x"}, "acts on runs of warm_af only, not of nope"),
        (
            {"action": "rollback", "dag_id": "warm_af", "run_id": "x", "task_ids": ["ghost"]},
            "has no table job(s) ['ghost']",
        ),
    ],
)
def test_maintenance_refuses_bad_conf(specs_dir, dbs, capfd, conf, message):
    write_spec(specs_dir)
    dr, tis = maintain(conf, in_dag="warm_af__maintenance")
    assert tis["maintain"].state == "failed"
    out, err = capfd.readouterr()
    assert message in out + err


@pytest.mark.parametrize(
    "how,message",
    [
        ("unsigned", "carries no conf signed by the Warm Tasks monitor"),
        ("signed for another run", "carries no conf signed by the Warm Tasks monitor"),
        ("edited after signing", "carries no conf signed by the Warm Tasks monitor"),
        ("run not failed", "rollback acts on failed runs only"),
        ("in another DAG's maintenance DAG", "acts on runs of warm_other only, not of warm_af"),
    ],
)
def test_maintenance_acts_only_on_a_conf_the_monitor_signed_for_this_run(specs_dir, dbs, capfd, how, message):
    """Anyone who may trigger a maintenance DAG through the REST API could send any conf: the worker
    refuses all but the monitor's, for this very run of this very DAG and a target in the right state."""
    pg, my = dbs
    write_spec(specs_dir, strategy="move")
    write_spec(specs_dir, "warm_other", strategy="move")
    dr, _ = run("warm_af")
    before = checksum(pg.rows("t_af.orders")), checksum(my.rows("t_afw.orders")), checksum(pg.rows("t_af.orders2"))
    conf = {"action": "rollback", "dag_id": "warm_af", "run_id": dr.run_id}
    mdr, mtis = {
        "unsigned": lambda: maintain(conf, sign=False),
        "signed for another run": lambda: maintain(conf | {"any_state": True}, signed_for="manual__other"),
        "edited after signing": lambda: maintain(conf, any_state=True),
        "run not failed": lambda: maintain(conf),
        # validly signed for a run of warm_other's maintenance DAG, whose readers may not be warm_af's
        "in another DAG's maintenance DAG": lambda: maintain(
            conf | {"any_state": True}, in_dag="warm_other__maintenance"
        ),
    }[how]()
    assert mtis["maintain"].state == "failed"
    out, err = capfd.readouterr()
    assert message in out + err
    assert (
        checksum(pg.rows("t_af.orders")),
        checksum(my.rows("t_afw.orders")),
        checksum(pg.rows("t_af.orders2")),
    ) == before


def test_date_macros_work_for_runs_without_a_logical_date(specs_dir, dbs):
    """REST API triggers with ``logical_date: null`` (Airflow 3's default) still render ``ds``."""
    pg, _ = dbs
    write_spec(
        specs_dir,
        text=SPEC.format(dag_id="warm_af", strategy="copy").replace(
            "created_at < '2025-01-01'", "created_at < '{{ macros.ds_add(ds, -36500) }}'"
        ),
    )
    dr, tis = run("warm_af", {"jobs": ["orders_pg"]}, logical_date=None)
    assert dr.logical_date is None
    assert tis["orders_pg"].state == "success"
    status = xcom(dr, "orders_pg", "warm_status")
    assert status["rows_planned"] == 0  # a century before the run: nothing that old
