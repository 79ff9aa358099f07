"""Resume: a failed or terminated warm run goes on where it stopped (docs/design.md §6.5).

Its failed, upstream-failed and skipped task instances are cleared the way Airflow's own "Clear"
does (``DAG.clear`` on that run, as ``POST /api/v2/dags/{dag_id}/clearTaskInstances`` calls it),
so the run is queued again and the scheduler starts the next try of each. A table job's next try
continues after its last committed batch (§4.2): no rollback, no batch done twice. A job skipped
by the run's conf (``jobs``, ``start_from``) decides the same again on its next try.

When a resume is refused lives in ``policy.refusal``, which the API (409) and the page (a disabled
button with the reason) both follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warm_monitor.datamodels import ActionName
from warm_monitor.policy import CLEARED_STATES, refusal


def resume(session: Session, row: Any) -> dict[str, Any]:
    """Clear the run's failed and skipped task instances with Airflow's own clearing; the run is
    queued again. The caller holds the run's row lock and commits."""
    from airflow.api_fastapi.common.dagbag import get_dag_for_run, resolve_run_on_latest_version
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.state import DagRunState
    from fastapi import HTTPException, status

    from warm_monitor.actions import _dag_bag, dag_run

    tis = session.execute(select(TI.task_id, TI.state).where(TI.dag_id == row.dag_id, TI.run_id == row.run_id)).all()
    reason = refusal(ActionName.RESUME, row, [t.state for t in tis])
    if reason:
        raise HTTPException(status.HTTP_409_CONFLICT, reason)
    task_ids = sorted(t.task_id for t in tis if t.state in CLEARED_STATES)
    dr = dag_run(session, row)
    dag = get_dag_for_run(_dag_bag(), dr, session=session)
    cleared = dag.clear(
        task_ids=task_ids,
        run_id=row.run_id,
        dag_run_state=DagRunState.QUEUED,
        run_on_latest_version=resolve_run_on_latest_version(None, row.dag_id, session),
        session=session,
    )
    return {"dag_id": row.dag_id, "run_id": row.run_id, "cleared_task_ids": task_ids, "cleared": cleared}


def clearable_dag_ids(session: Session, user: Any, dag_ids: Iterable[str]) -> set[str]:
    """The DAGs among ``dag_ids`` whose task instances ``user`` may clear (edit)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    ids = sorted(set(dag_ids))
    if not ids:
        return set()
    teams = DagModel.get_dag_id_to_team_name_mapping(ids, session=session)
    am = get_auth_manager()
    return {
        d
        for d in ids
        if am.is_authorized_dag(
            method="PUT",
            access_entity=DagAccessEntity.TASK_INSTANCE,
            details=DagDetails(id=d, team_name=teams.get(d)),
            user=user,
        )
    }
