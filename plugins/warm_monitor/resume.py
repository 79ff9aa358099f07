"""Resume: a failed or terminated warm run goes on where it stopped (docs/design.md §6.5).

Its failed, upstream-failed and skipped task instances are cleared the way Airflow's own "Clear"
does (``DAG.clear`` on that run, as ``POST /api/v2/dags/{dag_id}/clearTaskInstances`` calls it),
so the run is queued again and the scheduler starts the next try of each. A table job's next try
continues after its last committed batch (§4.2): no rollback, no batch done twice. A job skipped
by the run's conf (``jobs``, ``start_from``) decides the same again on its next try.

The refusal rules live in :func:`refusal`, which the API (409) and the page (a disabled button with
the reason) both use.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from warm_archive.contract import RollbackStatus, RunState
from warm_monitor.query import ACTIVE

CLEARED_STATES = ("failed", "upstream_failed", "skipped")
"""Task-instance states a resume clears: what a failure or a terminate leaves behind."""


def refusal(row, ti_states: Iterable[str | None]) -> str | None:
    """Why the run ``row`` (a ``query.base_select`` row) cannot be resumed now; None when it can."""
    state = row.state
    if state in ACTIVE:
        return f"only a failed or terminated run can be resumed; this run is {state} (terminate it first)"
    if state == RunState.SUCCESS.value:
        return "this run completed: there is nothing to resume"
    if state != RunState.FAILED.value:
        return f"only a failed or terminated run can be resumed; this run is {state}"
    if row.reexecuted_as or row.reexecute_state:
        return f"this run was re-executed as {row.reexecuted_as}: resume that run instead"
    rb = row.rollback_status
    if rb in (RollbackStatus.REQUESTED, RollbackStatus.RUNNING):
        return f"a rollback of this run is {rb}: it cannot be resumed"
    if rb == RollbackStatus.ROLLED_BACK:
        return "this run was rolled back (its archived rows are undone): re-execute it instead of resuming"
    if rb == RollbackStatus.FAILED:
        return "a rollback of this run failed part-way: roll it back again or re-execute it"
    if row.delete_run_state in ACTIVE:
        return "a delete-source maintenance run is under way for this run"
    if not any(s in CLEARED_STATES for s in ti_states):
        return "no failed or skipped table job in this run: there is nothing to resume"
    return None


def resume(session: Session, row) -> dict:
    """Clear the run's failed and skipped task instances with Airflow's own clearing; the run is
    queued again. The caller holds the run's row lock and commits."""
    from airflow.api_fastapi.common.dagbag import get_dag_for_run, resolve_run_on_latest_version
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.state import DagRunState
    from fastapi import HTTPException, status

    from warm_monitor.actions import _dag_bag, dag_run

    tis = session.execute(select(TI.task_id, TI.state).where(TI.dag_id == row.dag_id, TI.run_id == row.run_id)).all()
    reason = refusal(row, (t.state for t in tis))
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


NO_RIGHTS = (
    "Your Airflow role may not clear this DAG's task instances (resume needs edit permission on "
    "task instances, as Airflow's own Clear)."
)


def clearable_dag_ids(session: Session, user, dag_ids: Iterable[str]) -> set[str]:
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


def page_state(row, tis: list, may_clear: bool) -> dict:
    """What the page shows on its Resume button: ``{"allowed", "reason"}`` (the API's 409 reason)."""
    reason = refusal(row, (t.state for t in tis)) if may_clear else NO_RIGHTS
    return {"allowed": reason is None, "reason": reason}
