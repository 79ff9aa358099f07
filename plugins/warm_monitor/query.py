"""Read side: one page of warm runs with their sub-tasks, in a fixed number of queries.

A page costs: one count, one select of runs (with the plugin's per-run row and the maintenance
runs joined), one select of the page's task instances and one of their XComs. Filters are
SQLAlchemy expressions with bound parameters; the derived source status and rollback status are
SQL expressions too, so filtering and display agree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Literal

from airflow.models.dag import DagModel, DagTag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance as TI
from airflow.models.taskinstancehistory import TaskInstanceHistory as TIH
from airflow.models.xcom import XComModel as X
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement, Label
from sqlalchemy.sql.selectable import ScalarSelect, Select

from warm_archive.contract import (
    MAINTENANCE_SUFFIX,
    REEXECUTING_STATE,
    TAB_RUN_STATES,
    WARM_DAG_TAG,
    XCOM_KEY,
    RollbackStatus,
    RunState,
    SourceStatus,
    StatementKind,
    Tab,
    WarmStatus,
    tab_of,
)
from warm_monitor.datamodels import ActionName, ActionState
from warm_monitor.models import run_table as R
from warm_monitor.policy import (
    ACTIVE,  # SQL gets contract.py's values as plain strings: an enum member would lose the VARCHAR bind type
    Rights,
    SubtaskFacts,
    allowed_actions,
    allowed_subtask_actions,
    is_dry_run,
    subtask_rollback_status,
)

STALE_AFTER_S = 30.0
ORDER_COLUMNS = ("start", "end", "dag_id", "run_id", "state")

# Lower rank wins when a run's sub-tasks disagree: what still needs attention shows first.
_RANK = {
    SourceStatus.DELETING: 1,
    SourceStatus.PENDING: 2,
    SourceStatus.RESTORED: 3,
    SourceStatus.PROCESSED: 4,
    SourceStatus.RETAINED: 5,
}
_BY_RANK = {v: k for k, v in _RANK.items()}

MR = aliased(DagRun, name="mr")  # rollback maintenance run
MD = aliased(DagRun, name="md")  # delete-source maintenance run
NR = aliased(DagRun, name="nr")  # the re-execution run


def _xval(name: str) -> ColumnElement[str]:
    return X.value[name].as_string()


def _like(value: str) -> str:
    """A case-insensitive substring pattern with the LIKE wildcards of ``value`` escaped."""
    v = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{v}%"


def _ilike(col: ColumnElement[str] | InstrumentedAttribute[str], value: str) -> ColumnElement[bool]:
    return func.lower(col).like(_like(value), escape="\\")


def warm_dag_ids(session: Session) -> list[str]:
    return list(session.scalars(select(DagTag.dag_id).where(DagTag.name == WARM_DAG_TAG).distinct()))


def is_warm_dag(session: Session, dag_id: str) -> bool:
    return (
        session.scalar(select(literal(1)).where(DagTag.dag_id == dag_id, DagTag.name == WARM_DAG_TAG).limit(1))
        is not None
    )


def readable_warm_dag_ids(session: Session, user: Any, method: Literal["GET", "PUT"] = "GET") -> list[str]:
    """Warm DAGs whose runs ``user`` may read (one auth-manager call per warm DAG, no per-run check)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    ids = warm_dag_ids(session)
    if not ids:
        return []
    teams = DagModel.get_dag_id_to_team_name_mapping(ids, session=session)
    am = get_auth_manager()
    return sorted(
        d
        for d in ids
        if am.is_authorized_dag(
            method=method,
            access_entity=DagAccessEntity.RUN,
            details=DagDetails(id=d, team_name=teams.get(d)),
            user=user,
        )
    )


# -- derived statuses, as SQL ------------------------------------------------------------------


def _xcom_status_subquery() -> ScalarSelect[Any]:
    """The run's source status according to its sub-tasks' XComs (one correlated subquery)."""
    rank = case(*[(_xval("source_status") == s.value, r) for s, r in _RANK.items()], else_=None)
    best = func.min(rank)
    return (
        select(case(*[(best == r, s.value) for r, s in _BY_RANK.items()], else_=None))
        .where(X.dag_run_id == DagRun.id, X.key == XCOM_KEY)
        .correlate(DagRun)
        .scalar_subquery()
    )


def source_status_expr() -> ColumnElement[str]:
    full_rollback = and_(MR.state == "success", R.c.rollback_task_ids.is_(None))
    return case(
        (R.c.source_override.is_not(None), R.c.source_override),
        (MD.state.in_(ACTIVE), SourceStatus.DELETING.value),
        (MD.state == "success", SourceStatus.PROCESSED.value),
        (full_rollback, SourceStatus.RESTORED.value),
        else_=_xcom_status_subquery(),
    )


def rollback_status_expr() -> ColumnElement[str]:
    return case(
        (R.c.rollback_maintenance_run_id.is_(None), RollbackStatus.NONE.value),
        (MR.state.is_(None), RollbackStatus.REQUESTED.value),
        (MR.state == "queued", RollbackStatus.REQUESTED.value),
        (MR.state == "running", RollbackStatus.RUNNING.value),
        (MR.state == "success", RollbackStatus.ROLLED_BACK.value),
        else_=RollbackStatus.FAILED.value,
    )


def _start_col() -> ColumnElement[dt.datetime]:
    return func.coalesce(DagRun.start_date, DagRun.queued_at, DagRun.run_after)


def base_select(dag_ids: Iterable[str]) -> tuple[Select[Any], Label[str], Label[str]]:
    src = source_status_expr().label("source_status")
    rb = rollback_status_expr().label("rollback_status")
    stmt = (
        select(
            DagRun.id,
            DagRun.dag_id,
            DagRun.run_id,
            DagRun.state,
            DagRun.start_date,
            DagRun.end_date,
            DagRun.queued_at,
            DagRun.run_after,
            DagRun.conf,
            R.c.source_override,
            R.c.rollback_task_ids,
            R.c.reexecution_of,
            R.c.reexecuted_as,
            R.c.reexecute_from,
            R.c.reexecute_state,
            R.c.rollback_maintenance_run_id,
            R.c.delete_maintenance_run_id,
            MR.state.label("rollback_run_state"),
            MD.state.label("delete_run_state"),
            NR.state.label("reexecution_state"),
            src,
            rb,
        )
        .select_from(DagRun)
        .outerjoin(R, and_(R.c.dag_id == DagRun.dag_id, R.c.run_id == DagRun.run_id))
        .outerjoin(MR, and_(MR.dag_id == R.c.dag_id + MAINTENANCE_SUFFIX, MR.run_id == R.c.rollback_maintenance_run_id))
        .outerjoin(MD, and_(MD.dag_id == R.c.dag_id + MAINTENANCE_SUFFIX, MD.run_id == R.c.delete_maintenance_run_id))
        .outerjoin(NR, and_(NR.dag_id == DagRun.dag_id, NR.run_id == R.c.reexecuted_as))
        .where(DagRun.dag_id.in_(list(dag_ids)))
    )
    return stmt, src, rb


def _state_in(states: Iterable[RunState]) -> ColumnElement[bool]:
    values = [s.value for s in states]
    return DagRun.state == values[0] if len(values) == 1 else DagRun.state.in_(values)


def tab_condition(tab: Tab) -> ColumnElement[bool]:
    """The runs ``tab`` lists, as SQL: contract.py's ``TAB_RUN_STATES`` and ``tab_of``'s exception."""
    listed = _state_in(TAB_RUN_STATES[tab])
    if tab != Tab.IN_PROGRESS:
        return listed
    # plus a failed run whose re-execution is under way
    return or_(
        listed,
        and_(DagRun.state == REEXECUTING_STATE.value, or_(R.c.reexecute_state == "pending", NR.state.in_(ACTIVE))),
    )


def reexecution_under_way(row: Any) -> bool:
    """``tab_condition``'s exception, on a fetched row."""
    return row.reexecute_state == "pending" or row.reexecution_state in ACTIVE


def _xcom_exists(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether one of the run's warm_status XComs matches. A correlated scalar subquery with LIMIT 1:
    PostgreSQL probes the XCom primary key per candidate run instead of hashing every XCom."""
    return (
        select(literal(1))
        .where(X.dag_run_id == DagRun.id, X.key == XCOM_KEY, *conds)
        .correlate(DagRun)
        .limit(1)
        .scalar_subquery()
        .is_not(None)
    )


def _run_strategy() -> ColumnElement[str]:
    """The strategy the run's jobs report, else the one its conf asks for (a run not started yet)."""
    reported = (
        select(_xval("strategy"))
        .where(X.dag_run_id == DagRun.id, X.key == XCOM_KEY)
        .correlate(DagRun)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(reported, DagRun.conf["strategy"].as_string())


def list_runs(session: Session, dag_ids: list[str], f: dict[str, Any]) -> tuple[int, list]:
    stmt, src, _ = base_select(dag_ids)
    conds = [tab_condition(f["tab"])]
    if f.get("dag_id"):
        conds.append(DagRun.dag_id == f["dag_id"])
    if f.get("run_id"):
        conds.append(_ilike(DagRun.run_id, f["run_id"]))
    if f.get("state"):
        conds.append(DagRun.state == f["state"])
    if f.get("start_after"):
        conds.append(_start_col() >= f["start_after"])
    if f.get("start_before"):
        conds.append(_start_col() < f["start_before"])
    if f.get("table"):
        conds.append(_xcom_exists(or_(_ilike(_xval("table"), f["table"]), _ilike(_xval("target"), f["table"]))))
    if f.get("strategy"):
        conds.append(_run_strategy() == f["strategy"])
    if f.get("source_status"):
        conds.append(src == f["source_status"])
    if f.get("q"):
        q = f["q"]
        conds.append(
            or_(
                _ilike(DagRun.dag_id, q),
                _ilike(DagRun.run_id, q),
                _xcom_exists(or_(_ilike(_xval("table"), q), _ilike(_xval("target"), q), _ilike(_xval("error"), q))),
            )
        )
    stmt = stmt.where(*conds)
    order = f.get("order_by") or "-start"
    desc = order.startswith("-")
    col = {
        "start": _start_col(),
        "end": DagRun.end_date,
        "dag_id": DagRun.dag_id,
        "run_id": DagRun.run_id,
        "state": DagRun.state,
    }[order.lstrip("-")]
    stmt = stmt.order_by(col.desc() if desc else col.asc(), DagRun.id.desc() if desc else DagRun.id.asc())
    # Page of ids first (the filters evaluated once, the total as a window count), then the full rows
    # (derived statuses included) for those ids only.
    page = session.execute(
        stmt.with_only_columns(DagRun.id, func.count().over().label("total_rows")).limit(f["limit"]).offset(f["offset"])
    ).all()
    if page:
        total = page[0].total_rows
    else:
        total = session.scalar(select(func.count()).select_from(stmt.with_only_columns(DagRun.id).subquery())) or 0
        return total, []
    ids = [p.id for p in page]
    full, _, _ = base_select(dag_ids)
    by_id = {r.id: r for r in session.execute(full.where(DagRun.id.in_(ids))).all()}
    return total, [by_id[i] for i in ids if i in by_id]


def get_run(session: Session, dag_id: str, run_id: str) -> Any:
    stmt, _, _ = base_select([dag_id])
    return session.execute(stmt.where(DagRun.run_id == run_id)).first()


# -- turning rows into the API's JSON --------------------------------------------------------------


def _iso(d: dt.datetime | None) -> str | None:
    return d.isoformat() if d else None


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if not start:
        return None
    end = end or dt.datetime.now(dt.UTC)
    return round((end - start).total_seconds(), 3)


def _merge_sql(lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Statements over several jobs, counts and seconds summed, the slowest first, each with its
    kind (``StatementKind``: the run's work, or a check the page lists apart)."""
    merged: dict[str, dict[str, Any]] = {}
    for lst in lists:
        for s in lst:
            m = merged.setdefault(
                s["statement"],
                {"statement": s["statement"], "count": 0, "seconds": 0.0, "kind": s.get("kind", StatementKind.WORK)},
            )
            m["count"] += int(s.get("count") or 0)
            m["seconds"] = round(m["seconds"] + float(s.get("seconds") or 0.0), 6)
    return sorted(merged.values(), key=lambda s: -s["seconds"])


def _as_dict(v: object) -> dict | None:
    if isinstance(v, dict):
        return v
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return None
        return v if isinstance(v, dict) else None
    return None


def load_children(session: Session, rows: list) -> tuple[dict, dict, dict]:
    """Task instances, XComs and earlier tries of the page's runs: three queries whatever the page
    size. Earlier tries (Airflow's task instance history, left by a retry or a Resume) give the first
    start and the active time, which the current try alone would understate."""
    if not rows:
        return {}, {}, {}
    pairs = [(r.dag_id, r.run_id) for r in rows]
    wanted = set(pairs)
    tis: dict[tuple[str, str], list] = {}
    for ti in session.execute(
        select(
            TI.dag_id,
            TI.run_id,
            TI.task_id,
            TI.map_index,
            TI.state,
            TI.try_number,
            TI.start_date,
            TI.end_date,
            TI.priority_weight,
            TI.last_heartbeat_at,
        ).where(TI.dag_id.in_({d for d, _ in pairs}), TI.run_id.in_({r for _, r in pairs}))
    ):
        if (ti.dag_id, ti.run_id) in wanted:
            tis.setdefault((ti.dag_id, ti.run_id), []).append(ti)
    xcoms: dict[tuple[int, str], dict] = {}
    for x in session.execute(
        select(X.dag_run_id, X.task_id, X.key, X.value).where(
            X.dag_run_id.in_([r.id for r in rows]), X.key.in_([XCOM_KEY, "return_value"])
        )
    ):
        xcoms.setdefault((x.dag_run_id, x.task_id), {})[x.key] = _as_dict(x.value)
    tries: dict[tuple[str, str, str], list[tuple[dt.datetime, dt.datetime | None]]] = {}
    for h in session.execute(
        select(TIH.dag_id, TIH.run_id, TIH.task_id, TIH.start_date, TIH.end_date).where(
            TIH.dag_id.in_({d for d, _ in pairs}), TIH.run_id.in_({r for _, r in pairs}), TIH.start_date.is_not(None)
        )
    ):
        if (h.dag_id, h.run_id) in wanted:
            tries.setdefault((h.dag_id, h.run_id, h.task_id), []).append((h.start_date, h.end_date))
    return tis, xcoms, tries


def _tries_of(ti: Any, earlier: list, now: dt.datetime) -> tuple[dt.datetime | None, float | None]:
    """First start and active seconds over every try of a task instance (a running try counts to now)."""
    spans = list(earlier)
    if ti.start_date is not None:
        spans.append((ti.start_date, ti.end_date))
    if not spans:
        return None, None
    active = sum(max(0.0, ((end or now) - start).total_seconds()) for start, end in spans)
    return min(start for start, _ in spans), round(active, 1)


PLANNED_PHASES = ("copy", "delete", "done")  # a job in one of these has planned (XComs without ``planned``)
FINISHED_TI_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")


def _url(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def _rows(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _archived(st: WarmStatus, ret: dict[str, Any]) -> int:
    """Rows a job copied: its status, else its return value (a job older than the status field)."""
    return st.rows_copied if st.rows_copied is not None else _rows(ret.get("rows_copied"))


def _facts(row: Any, ti: Any, st: WarmStatus, ret: dict[str, Any]) -> SubtaskFacts:
    return SubtaskFacts(
        task_id=ti.task_id,
        state=ti.state,
        rows_archived=_archived(st, ret),
        rollback_status=subtask_rollback_status(row, ti.task_id),
    )


def subtask_facts(session: Session, row: Any, task_id: str) -> SubtaskFacts:
    """What ``policy`` reads of one table job of the run, as ``serialize`` reads it for the page."""
    tis, xcoms, _ = load_children(session, [row])
    ti = next(t for t in tis.get((row.dag_id, row.run_id), []) if t.task_id == task_id)
    got = xcoms.get((row.id, task_id), {})
    return _facts(row, ti, WarmStatus.read(got.get(XCOM_KEY)) or WarmStatus(), got.get("return_value") or {})


def serialize(
    row: Any, tis: list[Any], xcoms: dict, ui_base: str, tries: dict | None, *, rights: Rights
) -> dict[str, Any]:
    """A run as the API sends it (``datamodels.RunOut``), with what ``rights`` allow on it now."""
    from urllib.parse import quote

    dag_q, run_q = quote(row.dag_id, safe=""), quote(row.run_id, safe="")
    conf = row.conf if isinstance(row.conf, dict) else {}
    subtasks = []
    first_starts: list[dt.datetime] = []  # each job's first start over every try
    now = dt.datetime.now(dt.UTC)
    for ti in sorted(tis, key=lambda t: (-(t.priority_weight or 0), t.task_id)):
        got = xcoms.get((row.id, ti.task_id), {})
        reported = WarmStatus.read(got.get(XCOM_KEY))
        st = reported or WarmStatus()
        ret = got.get("return_value") or {}
        facts = _facts(row, ti, st, ret)
        sub_rb = facts.rollback_status
        src_status = st.source_status
        if row.source_override:
            src_status = row.source_override
        elif row.delete_run_state in ACTIVE and reported:
            src_status = SourceStatus.DELETING
        elif row.delete_run_state == "success" and reported:
            src_status = SourceStatus.PROCESSED
        elif sub_rb == RollbackStatus.ROLLED_BACK and reported:
            src_status = SourceStatus.RESTORED
        progress = 100.0 if ti.state == "success" else st.progress_pct
        stale = False
        if ti.state == "running" and st.updated_at:
            try:
                stale = (now - dt.datetime.fromisoformat(st.updated_at)).total_seconds() > STALE_AFTER_S
            except ValueError:
                stale = False
        task_q = quote(ti.task_id, safe="")
        first_start, active_s = _tries_of(ti, (tries or {}).get((row.dag_id, row.run_id, ti.task_id), []), now)
        if first_start is not None:
            first_starts.append(first_start)
        rows_skipped = st.rows_skipped if st.rows_skipped is not None else _rows(ret.get("rows_skipped"))
        moved = facts.rows_archived + rows_skipped
        subtasks.append(
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "table": st.table,
                "target": st.target,
                "state": ti.state,
                "running": ti.state == "running",
                "waiting": (st.phase or "").startswith("waiting") and ti.state not in FINISHED_TI_STATES,
                "try_number": ti.try_number,
                "strategy": st.strategy or conf.get("strategy"),
                "start": _iso(ti.start_date),
                "end": _iso(ti.end_date),
                "duration_s": _duration(ti.start_date, ti.end_date),
                "progress_pct": progress if progress is not None else 0.0,
                "rows_archived": facts.rows_archived,
                "rows_planned": st.rows_planned,
                # while a job walks its key, its rows planned are an estimate (docs/design.md §4.9)
                "rows_planned_estimated": st.rows_planned_estimated and ti.state != "success",
                "rows_copied": facts.rows_archived,
                "rows_skipped": rows_skipped,
                "rows_deleted": st.rows_deleted if st.rows_deleted is not None else _rows(ret.get("rows_deleted")),
                "rows_changed": st.rows_changed if st.rows_changed is not None else _rows(ret.get("rows_changed")),
                "rows_per_second": st.rows_per_second,
                # over every try: a resumed job's rate counts the rows its earlier tries moved too
                "first_start": _iso(first_start),
                "active_s": active_s,
                "avg_rows_per_second": round(moved / active_s, 1) if active_s and moved else None,
                "plan_known": ti.state == "success" or st.plan_known or st.phase in PLANNED_PHASES,
                "batches": st.batches,
                "dry_run": st.dry_run,
                "dry_run_sql": st.dry_run_sql,  # the real run's first batch, recorded (dryrun.py)
                # a dry run: planned rows already in the warm table, and what on_conflict does with them
                "on_conflict": st.on_conflict,
                "already_archived": st.already_archived,
                "on_conflict_effect": st.on_conflict_effect,
                "phase": st.phase,
                # absent on XComs of jobs older than the replica/load limits: null, never a made-up 0
                "replica_lag_s": st.replica_lag_s,
                "threads_running": st.threads_running,
                "waiting_because": [w for w in st.waiting_because if w],
                "paused_s": st.paused_s,  # replica lag and load only, growing while paused
                "throttled_s": st.throttled_s,
                "source_status": src_status,
                "rollback_status": sub_rb,
                "error": st.error or ("task failed (see its log)" if ti.state == "failed" else None),
                "sql": _merge_sql([[x.model_dump() for x in st.sql]]),
                "key_range": st.key_range,
                "updated_at": st.updated_at,
                "stale": stale,
                "links": {
                    "task": _url(ui_base, f"dags/{dag_q}/runs/{run_q}/tasks/{task_q}"),
                    "log": _url(ui_base, f"dags/{dag_q}/runs/{run_q}/tasks/{task_q}?try_number={ti.try_number}"),
                },
                "actions": _dump(allowed_subtask_actions(row, facts, rights)),
            }
        )
    with_status = [s for s in subtasks if s["table"] is not None]
    rows_planned = sum(s["rows_planned"] for s in subtasks)
    rows_archived = sum(s["rows_archived"] for s in subtasks)
    counted = [s for s in subtasks if s["state"] != "skipped"]  # a job skipped by conf moves nothing
    planned = [s for s in counted if s["plan_known"]]
    if row.state == "success":
        progress = 100.0
    elif sum(s["rows_planned"] for s in planned):
        # over the rows planned, not an average of jobs: a 10-row job done is not half of the run
        weights = sum(s["rows_planned"] for s in planned)
        progress = round(sum(s["progress_pct"] * s["rows_planned"] for s in planned) / weights, 1)
    elif planned:
        progress = round(sum(s["progress_pct"] for s in planned) / len(planned), 1)
    else:
        progress = 0.0
    active = [s["active_s"] for s in subtasks if s["active_s"] is not None]
    errors = [f"{s['task_id']}: {s['error']}" for s in subtasks if s["error"]]
    strategies = [s["strategy"] for s in with_status if s["strategy"]]
    return {
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "state": row.state,
        "active": row.state in ACTIVE,
        "tab": tab_of(row.state, reexecution_under_way(row)).value,
        "strategy": strategies[0] if strategies else conf.get("strategy"),
        "start": _iso(row.start_date),
        "end": _iso(row.end_date),
        "queued_at": _iso(row.queued_at),
        "duration_s": _duration(row.start_date, row.end_date),
        # Airflow's start and duration above restart with a Resume; these cover every try
        "first_start": _iso(min(starts))
        if (starts := [*first_starts, *([row.start_date] if row.start_date else [])])
        else None,
        "active_s": round(sum(active), 1) if active else None,
        "progress_pct": progress,
        # jobs that have not planned yet: progress_pct counts only the rows of the others
        "plans_pending": [s["task_id"] for s in counted if not s["plan_known"] and row.state != "success"],
        "rows_archived": rows_archived,
        "rows_planned": rows_planned,
        "rows_planned_estimated": any(s["rows_planned_estimated"] for s in subtasks),
        "source_status": row.source_status,
        "source_status_overridden": row.source_override is not None,
        "rollback_status": row.rollback_status,
        "rollback_run_id": row.rollback_maintenance_run_id,
        "delete_run_id": row.delete_maintenance_run_id,
        "error": "; ".join(errors) if errors else None,
        "sql": _merge_sql(s["sql"] for s in subtasks),
        "conf": conf,
        "reexecution_of": row.reexecution_of or conf.get("reexecution_of"),
        "reexecuted_as": row.reexecuted_as,
        "reexecute_from": row.reexecute_from,
        "reexecution_state": row.reexecute_state,
        "links": {"run": _url(ui_base, f"dags/{dag_q}/runs/{run_q}")},
        "subtasks": subtasks,
        "dry_run": is_dry_run(conf) or any(s["dry_run"] is True for s in subtasks),
        "can_edit": rights.edit,
        # what the page's buttons show, allowed or why not; the API's guards refuse the same (409)
        "actions": _dump(allowed_actions(row, [t.state for t in tis], rights)),
    }


def _dump(states: dict[ActionName, ActionState]) -> dict[str, dict[str, Any]]:
    return {a.value: s.model_dump() for a, s in states.items()}


# -- the action log ---------------------------------------------------------------------------------


def list_actions(session: Session, dag_ids: list[str], f: dict[str, Any]) -> tuple[int, list[dict]]:
    """One page of the plugin's action log (newest first), only on ``dag_ids``. Text filters are
    case-insensitive substrings, except ``dag_id`` and ``outcome`` (exact); times are a half-open
    range ``[after, before)``."""
    from warm_monitor.models import action_table as A

    conds: list[ColumnElement[bool]] = [A.c.dag_id.in_(dag_ids)]
    if f.get("user"):
        conds.append(_ilike(A.c.user_name, f["user"]))
    if f.get("action"):
        conds.append(_ilike(A.c.action, f["action"]))
    if f.get("dag_id"):
        conds.append(A.c.dag_id == f["dag_id"])
    if f.get("run_id"):
        conds.append(_ilike(A.c.run_id, f["run_id"]))
    if f.get("outcome"):
        conds.append(A.c.outcome == f["outcome"])
    if f.get("after"):
        conds.append(A.c.created_at >= f["after"])
    if f.get("before"):
        conds.append(A.c.created_at < f["before"])
    total = session.scalar(select(func.count()).select_from(A).where(*conds)) or 0
    rows = session.execute(
        select(A).where(*conds).order_by(A.c.id.desc()).limit(f["limit"]).offset(f["offset"])
    ).mappings()
    return total, [{k: (_iso(_utc(v)) if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows]


def _utc(d: dt.datetime) -> dt.datetime:
    """A metadata DB without time zones (MySQL) hands back naive UTC: say it is UTC."""
    return d.replace(tzinfo=dt.UTC) if d.tzinfo is None else d
