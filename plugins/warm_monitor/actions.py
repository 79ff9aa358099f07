"""Write side: every action maps onto Airflow (DagRun state, new DagRuns) and the plugin's tables.

Heavy work on user databases never runs here: delete-source, rollback and the rollback before a
re-execution are runs of the warm DAG's maintenance DAG (``<dag_id>__maintenance``) on a worker. The plugin never opens a user database.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from airflow.models.dagrun import DagRun
from airflow.models.log import Log
from airflow.models.taskinstance import TaskInstance as TI
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from fastapi import HTTPException, status
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from warm_archive.contract import (
    CONF_ACTION,
    CONF_ANY_STATE,
    CONF_DAG_ID,
    CONF_ISSUED_AT,
    CONF_ISSUED_BY,
    CONF_REEXECUTION_OF,
    CONF_RUN_ID,
    CONF_SIGNATURE,
    CONF_START_FROM,
    CONF_TASK_IDS,
    MAINTENANCE_SUFFIX,
    XCOM_KEY,
    MaintenanceAction,
    RollbackStatus,
    SourceStatus,
    WarmStatus,
    maintenance_dag_id,
    maintenance_signature,
    signing_secret,
)
from warm_monitor.datamodels import ActionName
from warm_monitor.models import action_table, maintenance_table, run_table
from warm_monitor.policy import ACTIVE, DRY_RUN_REASON, ROLLBACK_UNDER_WAY, is_dry_run, refusal, subtask_refusal
from warm_monitor.query import STALE_AFTER_S, subtask_facts

if TYPE_CHECKING:
    from airflow.models.dagbag import DBDagBag
    from airflow.serialization.definitions.dag import SerializedDAG

log = logging.getLogger(__name__)

PARKED_FOR = dt.timedelta(days=3650)  # a re-execution run waits (queued, run_after far ahead) for its rollback


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def conflict(msg: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, msg)


def refuse(reason: str | None) -> None:
    """A 409 with ``policy``'s reason, the one the page shows on the disabled button."""
    if reason is not None:
        raise conflict(reason)


# -- the record of every write ------------------------------------------------------------------


def record(
    *,
    user_name: str,
    action: str,
    dag_id: str,
    run_id: str,
    task_id: str | None,
    outcome: str,
    http_status: int,
    detail: str | None = None,
    maintenance_run_id: str | None = None,
    new_run_id: str | None = None,
) -> None:
    """The plugin's action row and Airflow's audit log row, in their own transaction."""
    from warm_monitor.models import ID_LEN

    def clip(v: str | None) -> str | None:  # what a user typed must not turn the record of a refusal into a 500
        return v if v is None or len(v) <= ID_LEN else v[: ID_LEN - 3] + "..."

    user_name, dag_id, run_id = clip(user_name) or "", clip(dag_id) or "", clip(run_id) or ""
    task_id = clip(task_id)
    extra = {"outcome": outcome, "http_status": http_status, "detail": detail, "source": "warm_monitor"}
    if maintenance_run_id:
        extra["maintenance_run_id"] = maintenance_run_id
    if new_run_id:
        extra["new_run_id"] = new_run_id
    with create_session(scoped=False) as s:
        s.execute(
            action_table.insert().values(
                created_at=now(),
                user_name=user_name,
                action=action,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                outcome=outcome,
                http_status=http_status,
                detail=detail,
                maintenance_run_id=maintenance_run_id,
                new_run_id=new_run_id,
            )
        )
        s.add(
            Log(
                event=f"warm_monitor.{action}",
                owner=user_name,
                owner_display_name=user_name,
                extra=json.dumps(extra),
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id or None,
            )
        )


# -- per-run plugin state -----------------------------------------------------------------------


def upsert_run(session: Session, dag_id: str, run_id: str, **values: object) -> None:
    values["updated_at"] = now()
    res = session.execute(
        update(run_table).where(run_table.c.dag_id == dag_id, run_table.c.run_id == run_id).values(**values)
    )
    if res.rowcount == 0:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
        session.execute(run_table.insert().values(dag_id=dag_id, run_id=run_id, **values))


# -- Airflow runs -------------------------------------------------------------------------------


_DAG_BAG: DBDagBag | None = None  # one per api-server process, made on first use


def _dag_bag() -> DBDagBag:
    from airflow.api_fastapi.common.dagbag import create_dag_bag

    global _DAG_BAG
    if _DAG_BAG is None:
        _DAG_BAG = create_dag_bag()
    return _DAG_BAG


def latest_dag(session: Session, dag_id: str) -> SerializedDAG:
    from airflow.api_fastapi.common.dagbag import get_latest_version_of_dag

    return get_latest_version_of_dag(_dag_bag(), dag_id, session)


def new_run_id(prefix: str) -> str:
    return f"{prefix}__{now().strftime('%Y-%m-%dT%H:%M:%S.%f')}_{secrets.token_hex(3)}"


def create_run(
    session: Session,
    dag_id: str,
    conf: dict,
    user_name: str,
    prefix: str,
    parked: bool = False,
    run_id: str | None = None,
) -> str:
    """A manual DagRun, created the way ``POST /api/v2/dags/{dag_id}/dagRuns`` creates one."""
    from airflow.models.dag import DagModel
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    dm = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id, ~DagModel.is_stale))
    if dm is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"DAG {dag_id!r} is not available in Airflow")
    if dm.has_import_errors:
        raise HTTPException(status.HTTP_409_CONFLICT, f"DAG {dag_id!r} has import errors")
    from airflow.exceptions import ParamValidationError

    dag = latest_dag(session, dag_id)
    t = now()
    run_id = run_id or new_run_id(prefix)
    try:
        dag.create_dagrun(
            run_id=run_id,
            logical_date=None,
            data_interval=None,
            run_after=t + PARKED_FOR if parked else t,
            conf=conf,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.REST_API,
            triggering_user_name=user_name,
            state=DagRunState.QUEUED,
            session=session,
        )
    except ParamValidationError as e:
        # A conf Airflow's trigger would refuse too (e.g. a failed run's own bad conf, re-executed):
        # the caller's request cannot be done as asked, and nothing was created.
        reason = str(e).split("\n", 1)[0]
        raise conflict(f"the run conf does not fit DAG {dag_id!r}'s params: {reason}") from None
    return run_id


def _signing_secret() -> str:
    from airflow.configuration import conf

    secret = signing_secret(lambda section, option: conf.get(section, option, fallback=""))
    if not secret:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "maintenance is not configured: set [warm_archive] maintenance_signing_key "
            "(or [api_auth] jwt_secret) on the api-server and the workers",
        )
    return secret


def trigger_maintenance(
    session: Session,
    *,
    action: MaintenanceAction,
    dag_id: str,
    run_id: str,
    task_ids: list[str] | None,
    purpose: str,
    user_name: str,
    any_state: bool = False,
) -> str:
    """A run of ``dag_id``'s maintenance DAG whose conf is signed for that very run: the worker acts on
    nothing else, so the rights checked here are the only way to its data (docs/adr/0005, 0008)."""
    action = MaintenanceAction(action)
    conf: dict[str, object] = {
        CONF_ACTION: action.value,
        CONF_DAG_ID: dag_id,
        CONF_RUN_ID: run_id,
        CONF_ANY_STATE: any_state,
        CONF_ISSUED_BY: user_name,
        CONF_ISSUED_AT: now().isoformat(),
    }
    if task_ids is not None:
        conf[CONF_TASK_IDS] = task_ids
    m_run_id = new_run_id(f"warm_{action}")
    m_dag_id = maintenance_dag_id(dag_id)
    conf[CONF_SIGNATURE] = maintenance_signature(_signing_secret(), m_dag_id, m_run_id, conf)
    create_run(session, m_dag_id, conf, user_name, prefix=f"warm_{action}", run_id=m_run_id)
    session.execute(
        maintenance_table.insert().values(
            maintenance_run_id=m_run_id,
            action=action.value,
            dag_id=dag_id,
            run_id=run_id,
            task_ids=json.dumps(task_ids) if task_ids is not None else None,
            purpose=purpose,
            user_name=user_name,
            created_at=now(),
        )
    )
    return m_run_id


def _chain_order(upstream: dict[str, set[str]]) -> list[str]:
    """Topological order (Kahn), ties by task id."""
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(upstream):
        ready = sorted(t for t, ups in upstream.items() if t not in done and ups <= done)
        if not ready:  # a cycle cannot happen in a DAG; be safe anyway
            ready = sorted(set(upstream) - done)
        order.append(ready[0])
        done.add(ready[0])
    return order


def dag_run(session: Session, row: Any) -> DagRun:
    """The Airflow run behind a row the caller already loaded (so it exists)."""
    return session.scalars(select(DagRun).where(DagRun.dag_id == row.dag_id, DagRun.run_id == row.run_id)).one()


def task_order(session: Session, row: Any) -> list[str]:
    """The run's table jobs in their chain order (the serialized DAG's topological order)."""
    from airflow.api_fastapi.common.dagbag import get_dag_for_run

    dr = dag_run(session, row)
    try:
        dag = get_dag_for_run(_dag_bag(), dr, session=session)
        order = _chain_order({t.task_id: set(t.upstream_task_ids) for t in dag.tasks})
    except HTTPException:
        order = []
    tis = set(session.scalars(select(TI.task_id).where(TI.dag_id == row.dag_id, TI.run_id == row.run_id)))
    return [t for t in order if t in tis] + sorted(tis - set(order))


# -- the actions ----------------------------------------------------------------------------------


def _not_dry_run(row: Any) -> None:
    """A dry run moved nothing: deleting or marking its source data would record a false status."""
    if is_dry_run(row.conf):
        raise conflict(DRY_RUN_REASON)


def set_source_status(session: Session, row: Any, new_status: SourceStatus, user_name: str) -> dict[str, Any]:
    refuse(refusal(ActionName.SOURCE_STATUS, row))
    upsert_run(session, row.dag_id, row.run_id, source_override=new_status, override_by=user_name, override_at=now())
    return {"dag_id": row.dag_id, "run_id": row.run_id, "source_status": new_status}


def delete_source(session: Session, row: Any, user_name: str) -> dict[str, Any]:
    refuse(refusal(ActionName.DELETE_SOURCE, row))
    m = trigger_maintenance(
        session,
        action=MaintenanceAction.DELETE_SOURCE,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_ids=None,
        purpose="delete_source",
        user_name=user_name,
    )
    upsert_run(session, row.dag_id, row.run_id, delete_maintenance_run_id=m)
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "maintenance_run_id": m,
        "maintenance_dag_id": maintenance_dag_id(row.dag_id),
        "source_status": SourceStatus.DELETING,
    }


def terminate(session: Session, row: Any) -> dict[str, Any]:
    from airflow.api_fastapi.common.dagbag import get_dag_for_run
    from airflow.api_fastapi.core_api.datamodels.dag_run import DagRunMutableStates
    from airflow.api_fastapi.core_api.services.public.dag_run import patch_dag_run_state

    refuse(refusal(ActionName.TERMINATE, row))
    dr = dag_run(session, row)
    dag = get_dag_for_run(_dag_bag(), dr, session=session)
    running = list(
        session.scalars(
            select(TI.task_id).where(TI.dag_id == row.dag_id, TI.run_id == row.run_id, TI.state == "running")
        )
    )
    # What PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id} {"state": "failed"} does: running task
    # instances fail at once, their supervisors kill them (on_kill), pending ones are skipped.
    patch_dag_run_state(dag=dag, dag_run=dr, state=DagRunMutableStates.FAILED, session=session)
    return {"dag_id": row.dag_id, "run_id": row.run_id, "state": "failed", "killed_task_ids": running}


def _no_rollback_running(row: Any) -> None:
    """An admin's rollback (any state) still waits for one under way: two at once would race."""
    if row.rollback_status in ROLLBACK_UNDER_WAY:
        raise conflict(f"a rollback of this run is already {row.rollback_status}")
    if row.reexecute_state == "pending":
        raise conflict("a re-execution of this run is under way")


def rollback(session: Session, row: Any, task_id: str | None, user_name: str) -> dict[str, Any]:
    if task_id is None:
        refuse(refusal(ActionName.ROLLBACK, row))
    else:
        refuse(subtask_refusal(ActionName.ROLLBACK, row, subtask_facts(session, row, task_id)))
    task_ids = [task_id] if task_id else None
    m = trigger_maintenance(
        session,
        action=MaintenanceAction.ROLLBACK,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_ids=task_ids,
        purpose="rollback",
        user_name=user_name,
    )
    upsert_run(
        session,
        row.dag_id,
        row.run_id,
        rollback_maintenance_run_id=m,
        rollback_task_ids=json.dumps(task_ids) if task_ids else None,
    )
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_ids": task_ids,
        "maintenance_run_id": m,
        "maintenance_dag_id": maintenance_dag_id(row.dag_id),
        "rollback_status": RollbackStatus.REQUESTED,
    }


def reexecute(session: Session, row: Any, task_id: str, user_name: str) -> dict[str, Any]:
    refuse(subtask_refusal(ActionName.REEXECUTE, row, subtask_facts(session, row, task_id)))
    order = task_order(session, row)
    todo = order[order.index(task_id) :]
    m = trigger_maintenance(
        session,
        action=MaintenanceAction.ROLLBACK,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_ids=todo,
        purpose="reexecute",
        user_name=user_name,
    )
    conf = {k: v for k, v in (row.conf or {}).items() if k not in (CONF_REEXECUTION_OF, CONF_START_FROM)}
    conf.update({CONF_REEXECUTION_OF: row.run_id, CONF_START_FROM: task_id})
    new_run_id = create_run(session, row.dag_id, conf, user_name, prefix="warm_reexec", parked=True)
    upsert_run(
        session,
        row.dag_id,
        row.run_id,
        rollback_maintenance_run_id=m,
        rollback_task_ids=json.dumps(todo),
        reexecuted_as=new_run_id,
        reexecute_from=task_id,
        reexecute_state="pending",
    )
    upsert_run(session, row.dag_id, new_run_id, reexecution_of=row.run_id, reexecute_from=task_id)
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "new_run_id": new_run_id,
        "start_from": task_id,
        "rolled_back_task_ids": todo,
        "maintenance_run_id": m,
        "maintenance_dag_id": maintenance_dag_id(row.dag_id),
    }


def admin_maintenance(
    session: Session, row: Any, action: MaintenanceAction, task_ids: list[str] | None, any_state: bool, user_name: str
) -> dict[str, Any]:
    """An admin's direct maintenance run: the same signed conf and the same records as the page's
    actions, so the source and rollback status follow it; ``any_state`` lifts the state checks."""
    if action == MaintenanceAction.ROLLBACK:
        if row.state != "failed" and not any_state:
            raise conflict(f"rollback acts on failed runs; this run is {row.state} (any_state: true overrides)")
        _no_rollback_running(row)
    elif action == MaintenanceAction.DELETE_SOURCE:
        _not_dry_run(row)  # any_state lifts the state checks, not this one
        if row.state != "success" and not any_state:
            raise conflict(
                f"delete_source acts on successful runs; this run is {row.state} (any_state: true overrides)"
            )
        if row.delete_run_state in ACTIVE:
            raise conflict("a delete-source maintenance run is already under way for this run")
    m = trigger_maintenance(
        session,
        action=action,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_ids=task_ids,
        purpose=f"admin_{action}",
        user_name=user_name,
        any_state=any_state,
    )
    if action == MaintenanceAction.ROLLBACK:
        upsert_run(
            session,
            row.dag_id,
            row.run_id,
            rollback_maintenance_run_id=m,
            rollback_task_ids=json.dumps(task_ids) if task_ids else None,
        )
    elif action == MaintenanceAction.DELETE_SOURCE:
        upsert_run(session, row.dag_id, row.run_id, delete_maintenance_run_id=m)
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_ids": task_ids,
        "maintenance_run_id": m,
        "maintenance_dag_id": maintenance_dag_id(row.dag_id),
        "any_state": any_state,
    }


# -- re-executions waiting for their rollback ------------------------------------------------------


def release_reexecution(session: Session, dag_id: str, old_run_id: str, new_run_id: str, ok: bool) -> None:
    """The rollback before a re-execution finished: start the parked run, or fail it if the rollback failed."""
    if ok:
        session.execute(
            update(DagRun)
            .where(
                DagRun.dag_id == dag_id,
                DagRun.run_id == new_run_id,
                DagRun.state == "queued",
            )
            .values(run_after=now())
        )
        upsert_run(session, dag_id, old_run_id, reexecute_state="started")
    else:
        session.execute(
            update(DagRun)
            .where(
                DagRun.dag_id == dag_id,
                DagRun.run_id == new_run_id,
                DagRun.state == "queued",
            )
            .values(state="failed", end_date=now())
        )
        upsert_run(session, dag_id, old_run_id, reexecute_state="rollback_failed")


def advance_reexecutions(session: Session, maintenance_run_id: str | None = None, ok: bool | None = None) -> int:
    """Release every pending re-execution whose rollback has finished. Idempotent; any api-server or
    the scheduler's listener may call it."""
    MR = DagRun
    stmt = (
        select(run_table.c.dag_id, run_table.c.run_id, run_table.c.reexecuted_as, MR.state)
        .join(
            MR,
            and_(
                MR.dag_id == run_table.c.dag_id + MAINTENANCE_SUFFIX,
                MR.run_id == run_table.c.rollback_maintenance_run_id,
            ),
        )
        .where(run_table.c.reexecute_state == "pending")
    )
    if maintenance_run_id is not None:
        stmt = stmt.where(run_table.c.rollback_maintenance_run_id == maintenance_run_id)
    n = 0
    for dag_id, run_id, new_run_id, m_state in session.execute(stmt).all():
        done = (
            ok
            if maintenance_run_id is not None and ok is not None
            else (True if m_state == "success" else False if m_state == "failed" else None)
        )
        if done is None:
            continue
        release_reexecution(session, dag_id, run_id, new_run_id, done)
        n += 1
    return n


# -- verify ---------------------------------------------------------------------------------------


def verify(session: Session, row: Any, tis: list[Any], xcoms: dict) -> dict[str, Any]:
    from airflow.api_fastapi.common.dagbag import get_dag_for_run
    from airflow.configuration import conf

    refuse(refusal(ActionName.VERIFY, row))
    findings: list[dict] = []
    changes: list[dict] = []
    t = now()
    hb_timeout = conf.getfloat("scheduler", "task_instance_heartbeat_timeout", fallback=300.0)
    for ti in tis:
        st = WarmStatus.read((xcoms.get((row.id, ti.task_id)) or {}).get(XCOM_KEY)) or WarmStatus()
        if ti.state != "running":
            if st.state == "running" and ti.state in ("failed", "success", "skipped", "upstream_failed"):
                findings.append(
                    {
                        "task_id": ti.task_id,
                        "kind": "stale_status",
                        "detail": f"task instance is {ti.state} but its warm_status still says running",
                    }
                )
            continue
        updated = st.updated_at
        age = None
        if updated:
            try:
                age = (t - dt.datetime.fromisoformat(updated)).total_seconds()
            except ValueError:
                age = None
        elif ti.start_date:
            age = (t - ti.start_date).total_seconds()
        if age is not None and age > STALE_AFTER_S:
            findings.append(
                {
                    "task_id": ti.task_id,
                    "kind": "stale_progress",
                    "detail": f"no progress report for {age:.0f} s",
                    "seconds": round(age, 1),
                }
            )
        if ti.last_heartbeat_at is not None and (t - ti.last_heartbeat_at).total_seconds() > hb_timeout:
            findings.append(
                {
                    "task_id": ti.task_id,
                    "kind": "zombie",
                    "detail": f"no heartbeat for {(t - ti.last_heartbeat_at).total_seconds():.0f} s "
                    f"(timeout {hb_timeout:.0f} s); the scheduler will fail or retry it",
                }
            )
    # Reconcile: every task instance finished but the run still active -> let Airflow decide the state.
    unfinished = [
        ti
        for ti in tis
        if ti.state
        in (None, "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred", "restarting")
    ]
    if row.state in ACTIVE and tis and not unfinished:
        dr = dag_run(session, row)
        dag = get_dag_for_run(_dag_bag(), dr, session=session)
        dr.dag = dag
        before = dr.state
        dr.update_state(session=session, execute_callbacks=False)
        session.flush()
        if dr.state != before:
            changes.append({"what": "run_state", "from": str(before), "to": str(dr.state)})
    n = advance_reexecutions(session)
    if n:
        changes.append({"what": "reexecution_released", "count": n})
    state_now = session.scalar(select(DagRun.state).where(DagRun.dag_id == row.dag_id, DagRun.run_id == row.run_id))
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "state": str(state_now),
        "findings": findings,
        "changes": changes,
        "task_states": {ti.task_id: ti.state for ti in tis},
    }
