"""The FastAPI app the plugin mounts at ``/warm``: the JSON API (``/warm/api/v1``) and the page."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, bearer_scheme, get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session
from starlette.types import Scope

from warm_archive.contract import MaintenanceAction, RunState, SourceStatus, Strategy, Tab, tab_states
from warm_monitor import actions, query, resume
from warm_monitor.auth import AdminMaintenance, CreateRun, EditRun, EditTaskInstances, ReadRun, WriteGuard
from warm_monitor.datamodels import ActionPage, ActionResult, RunOut, TaskPage
from warm_monitor.models import ID_LEN
from warm_monitor.policy import Rights

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_LIMIT = 500

PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>Warm Tasks</title></head>
<body><h1>Warm Tasks</h1><p>The page is not installed; the JSON API is at
<a href="api/v1/tasks?tab=in_progress">api/v1/tasks</a>.</p></body></html>"""


def _sane_ids(request: Request) -> None:
    """Ids no Airflow run can have: refused before they reach the metadata DB (a NUL byte makes
    PostgreSQL raise, an id longer than the id columns cannot exist)."""
    for name, value in request.path_params.items():
        if "\x00" in value or len(value) > ID_LEN:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {name}")
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"{name}: NUL characters are not allowed")


app = FastAPI(
    dependencies=[Depends(_sane_ids)],
    title="Warm Monitor",
    description="Warm archive runs of Airflow: list, inspect, terminate, verify, roll back, re-execute, resume.",
    version="1",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,  # served below, behind login like every other route
)


def _request_id() -> str:
    return secrets.token_hex(6)


def internal_error(request_id: str) -> str:
    """What a user sees of an unexpected failure: never its text (it can carry metadata SQL)."""
    return f"internal error (request id {request_id}); the api-server log has the details"


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = _request_id()
    log.error("warm monitor %s %s failed (request id %s)", request.method, request.url.path, rid, exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": internal_error(rid)})


@app.get("/openapi.json", include_in_schema=False)
def openapi(user: GetUserDep) -> dict[str, Any]:
    return app.openapi()


@app.exception_handler(RequestValidationError)
async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path"))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return JSONResponse(status_code=422, content={"detail": "; ".join(parts) or "invalid input"})


# -- page -----------------------------------------------------------------------------------------


async def _logged_in(request: Request, bearer: HTTPAuthorizationCredentials | None) -> bool:
    """Whether the request carries a valid login: Airflow's own ``get_user`` (a Bearer token, else
    the ``_token`` cookie). No token, an expired one (401) or an invalid one (403 "Invalid JWT
    token") is no login; Airflow's UI sends its visitor to the login on both."""
    try:
        await get_user(request, bearer_credentials=bearer)
    except HTTPException as e:
        if e.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            return False
        raise
    return True


@app.get("/", include_in_schema=False)
async def page(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None
) -> Response:
    """The Warm Tasks page, for logged-in users only. Like Airflow's own pages (FAB's ``has_access``
    redirect, the UI on a 401), an anonymous visitor is sent to the auth manager's login URL with a
    ``next`` back to this page; the login checks ``next`` is on this server before it goes there.
    The page's code and styles (``static/``) hold no data and are public."""
    if not await _logged_in(request, bearer):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(
            get_auth_manager().get_url_login(next_url=str(request.url)), headers={"Cache-Control": "no-store"}
        )
    index = STATIC / "index.html"
    if index.is_file():
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})
    return HTMLResponse(PLACEHOLDER)


class _PageFiles(StaticFiles):
    """The page's static files: its styles and ES modules only, public (they hold no data); the
    page's HTML goes only through ``page``, behind the login. Its ES modules (``static/js/*.js``)
    always go as ``text/javascript`` (RFC 9239), whatever the host's MIME tables say (a browser runs
    a module only with a JavaScript type), and are revalidated on each load, so a browser never
    mixes modules of two versions."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        # ``path`` is normalised already (``js/../index.html`` is ``index.html``)
        if path != "app.css" and not path.startswith("js" + os.sep):
            return "", None
        return super().lookup_path(path)

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith(".js"):
            response.headers["content-type"] = "text/javascript; charset=utf-8"
            response.headers["cache-control"] = "no-cache"
        return response


if STATIC.is_dir():
    app.mount("/static", _PageFiles(directory=STATIC), name="static")


# -- helpers ----------------------------------------------------------------------------------------


def _ui_base() -> str:
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or "/"
    if base.startswith(("http://", "https://")):
        return base
    return base if base.startswith("/") else "/" + base


def _load(session: Session, dag_id: str, run_id: str) -> Any:
    if not query.is_warm_dag(session, dag_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no warm DAG {dag_id!r}")
    row = query.get_run(session, dag_id, run_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r} of warm DAG {dag_id!r}")
    return row


def _subtask_exists(session: Session, row: Any, task_id: str) -> None:
    from airflow.models.taskinstance import TaskInstance as TI
    from sqlalchemy import select

    if (
        session.scalar(
            select(TI.task_id).where(TI.dag_id == row.dag_id, TI.run_id == row.run_id, TI.task_id == task_id).limit(1)
        )
        is None
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"run {row.run_id!r} has no sub-task {task_id!r}")


def _run_action(
    name: str,
    session: Session,
    user: BaseUser,
    dag_id: str,
    run_id: str,
    task_id: str | None,
    fn: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Run one write, commit it, and record it (plugin action table + Airflow audit log), also when refused."""
    user_name = user.get_name()
    record = partial(actions.record, user_name=user_name, action=name, dag_id=dag_id, run_id=run_id, task_id=task_id)
    # Housekeeping that reads must not do: release re-executions whose rollback ended (the
    # scheduler's listener normally has; this catches a missed hook).
    if actions.advance_reexecutions(session):
        session.commit()
    try:
        # One write at a time per run: a concurrent second request waits here until the first
        # commits, then sees its effect in the state checks (409) instead of acting on the old state.
        from airflow.models.dagrun import DagRun
        from sqlalchemy import select

        session.execute(select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).with_for_update())
        row = _load(session, dag_id, run_id)
        if task_id is not None:
            _subtask_exists(session, row, task_id)
        result = fn(row)
        session.commit()
    except HTTPException as e:
        session.rollback()
        record(outcome="refused", http_status=e.status_code, detail=str(e.detail))
        raise
    except Exception:
        session.rollback()
        rid = _request_id()
        log.exception("warm monitor action %s failed (request id %s)", name, rid)
        record(outcome="error", http_status=500, detail=internal_error(rid))
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"{name} failed: {internal_error(rid)}") from None
    record(
        outcome="ok",
        http_status=200,
        detail=None,
        maintenance_run_id=result.get("maintenance_run_id"),
        new_run_id=result.get("new_run_id"),
    )
    result["action"] = name
    result["user"] = user_name
    return result


def _json(data: object) -> Response:
    """Already JSON-safe data, encoded once (FastAPI's jsonable_encoder is slow on big pages)."""
    return Response(json.dumps(data, default=str, separators=(",", ":")), media_type="application/json")


# -- reads ------------------------------------------------------------------------------------------

# Tab, RunState, Strategy and SourceStatus (the values of the filters below) are contract.py's.
OrderBy = Literal["start", "-start", "end", "-end", "dag_id", "-dag_id", "run_id", "-run_id", "state", "-state"]


def _utc(d: dt.datetime) -> dt.datetime:
    """A date of a query in UTC, what the metadata DB compares with (one without a time zone is UTC).
    A date so near the ends of the calendar that its UTC time is outside the years 1 to 9999
    (``9999-12-31T23:59:59-23:59``) cannot be compared: refused with a 422."""
    if d.tzinfo is None:
        return d.replace(tzinfo=dt.UTC)
    try:
        return d.astimezone(dt.UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_utc_range", "out of range: in UTC this time falls outside the years 1 to 9999"
        ) from None


# A query's date, validated and in UTC.
UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]


@app.get("/api/v1/tasks", response_model=TaskPage)
def list_tasks(
    session: SessionDep,
    user: GetUserDep,
    tab: Tab = Tab.IN_PROGRESS,
    dag_id: Annotated[str | None, Query(max_length=250)] = None,
    run_id: Annotated[str | None, Query(max_length=250)] = None,
    table: Annotated[str | None, Query(max_length=500)] = None,
    strategy: Strategy | None = None,
    state: RunState | None = None,
    source_status: SourceStatus | None = None,
    start_after: UtcDateTime | None = None,
    start_before: UtcDateTime | None = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    order_by: OrderBy = "-start",
) -> Response | dict[str, Any]:
    """One page of warm runs of a tab; only runs of DAGs the user may read. ``states``: the run
    states the tab lists (its state filter's choices); ``strategies`` and ``source_statuses``: the
    other filters' choices (contract.py's); each task says its ``tab``."""
    tab_def = {
        "tab": tab.value,
        "states": [s.value for s in tab_states(tab)],
        "strategies": [s.value for s in Strategy],
        "source_statuses": [s.value for s in SourceStatus],
    }
    dag_ids = query.readable_warm_dag_ids(session, user)
    if not dag_ids:
        return {"total": 0, "tasks": [], "limit": limit, "offset": offset} | tab_def
    f = {
        "tab": tab,
        "dag_id": dag_id,
        "run_id": run_id,
        "table": table,
        "strategy": strategy,
        "state": state,
        "source_status": source_status,
        "start_after": start_after,
        "start_before": start_before,
        "q": q,
        "limit": limit,
        "offset": offset,
        "order_by": order_by,
    }
    total, rows = query.list_runs(session, dag_ids, f)
    tis, xcoms, tries = query.load_children(session, rows)
    base = _ui_base()
    editable = set(query.readable_warm_dag_ids(session, user, method="PUT")) if rows else set()
    clearable = resume.clearable_dag_ids(session, user, editable)
    return _json(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            **tab_def,
            "tasks": [
                _with_rights(r, tis.get((r.dag_id, r.run_id), []), xcoms, tries, base, editable, clearable)
                for r in rows
            ],
        }
    )


def _with_rights(
    row: Any, tis: list[Any], xcoms: dict, tries: dict, base: str, editable: set[str], clearable: set[str]
) -> dict[str, Any]:
    """A serialized run with what the caller may do to it (``can_edit``, and each action allowed or
    the reason the API would refuse it with)."""
    rights = Rights(edit=row.dag_id in editable, clear=row.dag_id in clearable)
    return query.serialize(row, tis, xcoms, base, tries, rights=rights)


@app.get("/api/v1/tasks/{dag_id}/{run_id}", dependencies=[ReadRun], response_model=RunOut)
def get_task(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """One warm run with its sub-tasks; ``can_edit`` tells whether the user may act on it."""
    row = _load(session, dag_id, run_id)
    tis, xcoms, tries = query.load_children(session, [row])
    editable = set(query.readable_warm_dag_ids(session, user, method="PUT")) & {dag_id}
    clearable = resume.clearable_dag_ids(session, user, editable)
    return _with_rights(row, tis.get((dag_id, run_id), []), xcoms, tries, _ui_base(), editable, clearable)


# -- writes -----------------------------------------------------------------------------------------


class SourceStatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal[SourceStatus.PROCESSED]


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/source-status", dependencies=[WriteGuard, EditRun], response_model=ActionResult
)
def post_source_status(
    dag_id: str, run_id: str, body: SourceStatusBody, session: SessionDep, user: GetUserDep
) -> dict[str, Any]:
    """Completed: mark the run's source data processed (a user override; no data is touched)."""
    return _run_action(
        "source_status",
        session,
        user,
        dag_id,
        run_id,
        None,
        lambda row: actions.set_source_status(session, row, SourceStatus.PROCESSED, user.get_name()),
    )


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/delete-source", dependencies=[WriteGuard, EditRun], response_model=ActionResult
)
def post_delete_source(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """Completed: a maintenance run deletes the verified archived rows from the source."""
    return _run_action(
        "delete_source",
        session,
        user,
        dag_id,
        run_id,
        None,
        lambda row: actions.delete_source(session, row, user.get_name()),
    )


@app.post("/api/v1/tasks/{dag_id}/{run_id}/terminate", dependencies=[WriteGuard, EditRun], response_model=ActionResult)
def post_terminate(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """In progress: fail the run and its running task instances (their jobs are killed and stop cleanly)."""
    return _run_action("terminate", session, user, dag_id, run_id, None, lambda row: actions.terminate(session, row))


@app.post("/api/v1/tasks/{dag_id}/{run_id}/verify", dependencies=[WriteGuard, EditRun], response_model=ActionResult)
def post_verify(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """In progress: reconcile the run's state with its task instances, flag stale progress and zombies."""

    def do(row: Any) -> dict[str, Any]:
        tis, xcoms, _ = query.load_children(session, [row])
        return actions.verify(session, row, tis.get((dag_id, run_id), []), xcoms)

    return _run_action("verify", session, user, dag_id, run_id, None, do)


@app.post("/api/v1/tasks/{dag_id}/{run_id}/rollback", dependencies=[WriteGuard, EditRun], response_model=ActionResult)
def post_rollback(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """Exceptional: a maintenance run rolls back every sub-task of the run."""
    return _run_action(
        "rollback",
        session,
        user,
        dag_id,
        run_id,
        None,
        lambda row: actions.rollback(session, row, None, user.get_name()),
    )


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/subtasks/{task_id}/rollback",
    dependencies=[WriteGuard, EditRun],
    response_model=ActionResult,
)
def post_subtask_rollback(
    dag_id: str, run_id: str, task_id: str, session: SessionDep, user: GetUserDep
) -> dict[str, Any]:
    """Exceptional: roll back one sub-task."""
    return _run_action(
        "rollback",
        session,
        user,
        dag_id,
        run_id,
        task_id,
        lambda row: actions.rollback(session, row, task_id, user.get_name()),
    )


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/subtasks/{task_id}/reexecute",
    dependencies=[WriteGuard, EditRun, CreateRun],
    response_model=ActionResult,
)
def post_reexecute(dag_id: str, run_id: str, task_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """Exceptional: roll back this sub-task and the ones after it, then a new run of the DAG from it.
    It creates a DAG run, so it needs what Airflow's own trigger needs (create on the DAG's runs)."""
    return _run_action(
        "reexecute",
        session,
        user,
        dag_id,
        run_id,
        task_id,
        lambda row: actions.reexecute(session, row, task_id, user.get_name()),
    )


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/resume",
    dependencies=[WriteGuard, EditRun, EditTaskInstances],
    response_model=ActionResult,
)
def post_resume(dag_id: str, run_id: str, session: SessionDep, user: GetUserDep) -> dict[str, Any]:
    """Exceptional: clear the failed (or terminated) run's failed and skipped table jobs with
    Airflow's own clearing; the run is queued again and each job continues after its last committed
    batch (no rollback, nothing redone). Needs edit rights on the DAG's task instances, as Airflow's Clear."""
    return _run_action("resume", session, user, dag_id, run_id, None, lambda row: resume.resume(session, row))


class MaintenanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    action: Annotated[MaintenanceAction, Field(strict=False)]  # JSON carries plain strings
    task_ids: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=ID_LEN)]], Field(min_length=1, max_length=100)]
        | None
    ) = None
    any_state: bool = False


@app.post(
    "/api/v1/tasks/{dag_id}/{run_id}/maintenance",
    dependencies=[WriteGuard, EditRun, AdminMaintenance],
    response_model=ActionResult,
)
def post_maintenance(
    dag_id: str, run_id: str, body: MaintenanceBody, session: SessionDep, user: GetUserDep
) -> dict[str, Any]:
    """Admins: a maintenance run (of ``<dag_id>__maintenance``) of any action, signed and recorded like the page's actions.
    ``any_state`` lets a rollback or source deletion act on a run in another state than the page allows."""

    def do(row: Any) -> dict[str, Any]:
        for t in body.task_ids or []:
            _subtask_exists(session, row, t)
        return actions.admin_maintenance(session, row, body.action, body.task_ids, body.any_state, user.get_name())

    return _run_action(f"maintenance.{body.action}", session, user, dag_id, run_id, None, do)


Outcome = Literal["ok", "refused", "error"]  # what actions.record writes


@app.get("/api/v1/actions", response_model=ActionPage)
def list_actions(
    session: SessionDep,
    user: GetUserDep,
    user_name: Annotated[str | None, Query(alias="user", max_length=ID_LEN)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    dag_id: Annotated[str | None, Query(max_length=ID_LEN)] = None,
    run_id: Annotated[str | None, Query(max_length=ID_LEN)] = None,
    outcome: Outcome | None = None,
    after: UtcDateTime | None = None,
    before: UtcDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response | dict[str, Any]:
    """One page of the plugin's action log (newest first), only actions on DAGs whose runs the user
    may read: who, when, what, on which run and sub-task, and the outcome with its reason.
    ``user``, ``action`` and ``run_id`` match substrings; ``after``/``before`` bound ``created_at``."""
    if after and before and after >= before:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "after: must be earlier than before")
    outcomes = list(get_args(Outcome))
    dag_ids = query.readable_warm_dag_ids(session, user)
    if not dag_ids:
        return {"total": 0, "actions": [], "limit": limit, "offset": offset, "outcomes": outcomes}
    f = {
        "user": user_name,
        "action": action,
        "dag_id": dag_id,
        "run_id": run_id,
        "outcome": outcome,
        "after": after,
        "before": before,
        "limit": limit,
        "offset": offset,
    }
    total, rows = query.list_actions(session, dag_ids, f)
    return _json({"total": total, "actions": rows, "limit": limit, "offset": offset, "outcomes": outcomes})
