"""Scheduler-side listener: when the rollback before a re-execution finishes, release the parked run.

The re-execution run is created at once (so its id can be returned and linked) but parked: queued
with ``run_after`` far ahead. When its rollback run (of the warm DAG's ``<dag_id>__maintenance``) ends, this hook (called by
the scheduler, which owns the metadata DB) sets ``run_after`` to now, or fails the parked run if the
rollback failed. The API does the same on every read, so a missed hook only delays the release.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow.listeners import hookimpl

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

log = logging.getLogger(__name__)


def _release(dag_run: DagRun, ok: bool) -> None:
    from warm_archive.contract import maintained_dag_id

    if maintained_dag_id(getattr(dag_run, "dag_id", None) or "") is None:
        return
    try:
        from airflow.utils.session import create_session

        from warm_monitor.actions import advance_reexecutions

        with create_session(scoped=False) as session:
            n = advance_reexecutions(session, maintenance_run_id=dag_run.run_id, ok=ok)
        if n:
            log.info("warm monitor: %s re-execution(s) %s after %s", n, "released" if ok else "failed", dag_run.run_id)
    except Exception:
        log.exception("warm monitor: could not release re-executions after %s", dag_run.run_id)


@hookimpl
def on_dag_run_success(dag_run: DagRun, msg: str) -> None:
    _release(dag_run, True)


@hookimpl
def on_dag_run_failed(dag_run: DagRun, msg: str) -> None:
    _release(dag_run, False)
