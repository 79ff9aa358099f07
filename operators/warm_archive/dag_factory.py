"""Warm DAGs from spec files: one task per table job, chained in the spec's order, and beside each
its maintenance DAG (rollback, source deletion, verification of that DAG's runs only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from warm_archive.contract import WARM_DAG_TAG, maintenance_dag_id
from warm_archive.maintenance import WarmMaintenanceOperator
from warm_archive.operator import WarmArchiveOperator
from warm_archive.spec import WarmSpec
from warm_archive.specs_folder import load_one
from warm_archive.trigger_form import build_params


def _start(d: dt.date | dt.datetime) -> pendulum.DateTime:
    if isinstance(d, dt.datetime):
        return pendulum.instance(d, tz="UTC")
    return pendulum.datetime(d.year, d.month, d.day, tz="UTC")


def build_dag(spec: WarmSpec) -> DAG:
    order = [j.id for j in spec.jobs]
    dag = DAG(
        dag_id=spec.dag_id,
        description=spec.description,
        schedule=spec.schedule,
        start_date=_start(spec.start_date),
        catchup=False,
        max_active_runs=1,  # two runs of one DAG never archive the same rows at once
        tags=sorted({WARM_DAG_TAG, *spec.tags}),
        default_args={"retries": spec.retries, "retry_delay": dt.timedelta(seconds=spec.retry_delay_seconds)},
        doc_md=f"Warm archive DAG built from a spec: {len(spec.jobs)} table job(s), strategy "
        f"`{spec.strategy}`. Trigger DAG shows a form of the run conf overrides; a field left empty "
        "keeps the spec's value.",
        params=build_params(spec),  # the Trigger DAG form; Airflow checks a trigger's conf against it
    )
    previous = None
    for job in spec.jobs:
        extra: dict[str, Any] = {}
        if spec.queue:
            extra["queue"] = spec.queue
        if spec.pool:
            extra["pool"] = spec.pool
        task = WarmArchiveOperator(
            task_id=job.id,
            dag=dag,
            source_conn_id=job.source.conn_id,
            source_table=job.source.table,
            target_conn_id=job.target.conn_id,
            target_table=job.target.table,
            key=job.key,
            where=job.where,
            strategy=spec.strategy,
            batch_size=spec.batch_size,
            on_conflict=spec.on_conflict,
            max_rows_per_second=spec.max_rows_per_second,
            allow_conf_where=spec.allow_conf_where,
            job_order=order,
            replicas=spec.replicas,
            max_replica_lag_seconds=spec.max_replica_lag_seconds,
            on_replica_unreachable=spec.on_replica_unreachable,
            max_threads_running=spec.max_threads_running,
            max_statement_seconds=spec.max_statement_seconds,
            # A job skipped by conf (jobs / start_from) must not skip the ones after it.
            trigger_rule="none_failed" if previous is not None else "all_success",
            **extra,
        )
        if previous is not None:
            previous >> task
        previous = task
    return dag


def spec_dags(dag_file: str, spec_path: str) -> tuple[DAG, DAG]:
    """The warm DAG of one spec file and its maintenance DAG, ``spec_path`` being relative to
    ``dag_file``'s folder.

    Each spec has its own generated DAG file calling this (``python -m warm_archive.dag_files``), so
    a broken spec is an import error of that file only, naming the spec file and the key, and the
    other warm DAGs keep loading (docs/adr/0007-one-dag-file-per-spec.md).
    """
    path = (Path(dag_file).resolve().parent / spec_path).resolve()
    spec = load_one(path)
    dag = build_dag(spec)
    # the table jobs' warm tables, as they resolved them (no second lookup of each connection)
    return dag, maintenance_dag(spec, path, [a for task in dag.tasks for a in task.outlets])


def maintenance_dag(spec: WarmSpec, spec_path: Path, warm_tables: list[Any]) -> DAG:
    """``<dag_id>__maintenance``: acts on runs of ``spec.dag_id`` only, with a conf the monitor signed.

    One per warm DAG, so Airflow's per-DAG rights on it decide who reads its runs (their conf names
    the target run), XComs and logs (docs/adr/0008-one-maintenance-dag-per-warm-dag.md).
    """
    dag = DAG(
        dag_id=maintenance_dag_id(spec.dag_id),
        description=f"Delete verified source rows, roll back or verify a run of {spec.dag_id}",
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=16,
        tags=["warm-maintenance"],
        doc_md=f"Maintenance of `{spec.dag_id}`'s runs. Runs only with a conf that the Warm Tasks monitor "
        "signed for the run, and acts at most once (a cleared or retried try is refused): ask for "
        "rollback, source deletion and verification on the Warm Tasks page, or (admins) through "
        "`POST /warm/api/v1/tasks/{dag_id}/{run_id}/maintenance`. A direct trigger is refused.",
    )
    from airflow.configuration import conf

    queue = conf.get("warm_archive", "maintenance_queue", fallback="") or None
    extra: dict[str, Any] = {"queue": queue or spec.queue} if (queue or spec.queue) else {}
    if spec.pool:
        extra["pool"] = spec.pool
    WarmMaintenanceOperator(
        task_id="maintain",
        dag=dag,
        retries=0,
        target_dag_id=spec.dag_id,
        spec_file=str(spec_path),
        # a rollback changes these warm tables (an asset event each); the run keeps those it changed
        outlets=warm_tables,
        **extra,
    )
    return dag
