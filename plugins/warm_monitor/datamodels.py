"""The monitor API's response models: what the page reads, typed once (as Airflow's ``datamodels/``).

``query.serialize`` builds these shapes from a run's row, its task instances and their
``warm_status`` XComs (contract.py's ``WarmStatus``); the endpoints declare them, and the tests
validate real answers against them. Status fields use contract.py's enums.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from warm_archive.contract import OnConflict, RollbackStatus, SourceStatus, StatementKind, Tab


class ActionName(StrEnum):
    """The page's actions, as the API's ``actions`` maps and the write endpoints name them."""

    SOURCE_STATUS = "source_status"
    DELETE_SOURCE = "delete_source"
    TERMINATE = "terminate"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    RESUME = "resume"
    REEXECUTE = "reexecute"


RUN_ACTIONS: Final = (
    ActionName.SOURCE_STATUS,
    ActionName.DELETE_SOURCE,
    ActionName.TERMINATE,
    ActionName.VERIFY,
    ActionName.ROLLBACK,
    ActionName.RESUME,
)
SUBTASK_ACTIONS: Final = (ActionName.ROLLBACK, ActionName.REEXECUTE)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionState(_Out):
    """Whether an action may act now; if not, why (the reason the API's 409 gives too)."""

    allowed: bool
    reason: str | None = None


class SqlTotal(_Out):
    """One statement over a job's (or a run's) tries: how often it ran and its seconds in all."""

    statement: str
    count: int
    seconds: float
    kind: StatementKind  # the run's work, or a check (the page lists checks apart)


class SubtaskLinks(_Out):
    task: str
    log: str


class SubtaskOut(_Out):
    """One table job of a run: its task instance and what its ``warm_status`` reported."""

    task_id: str
    map_index: int
    table: str | None
    target: str | None
    state: str | None  # its task instance's (any Airflow task-instance state)
    running: bool  # its task instance is running now (the page shows its current rate)
    waiting: bool  # paused between batches (replica lag, source load), not finished
    try_number: int
    strategy: str | None
    start: str | None
    end: str | None
    duration_s: float | None
    progress_pct: float
    rows_archived: int
    rows_planned: int
    rows_planned_estimated: bool
    rows_copied: int
    rows_skipped: int
    rows_deleted: int
    rows_changed: int
    rows_per_second: float | None
    first_start: str | None
    active_s: float | None
    avg_rows_per_second: float | None
    plan_known: bool
    batches: int | None
    dry_run: bool | None
    dry_run_sql: list[dict[str, Any]] | None
    on_conflict: OnConflict | None
    already_archived: int | None  # a dry run: planned rows already in the warm table
    on_conflict_effect: str | None  # a dry run: what on_conflict will do with them
    phase: str | None
    replica_lag_s: dict[str, float | None] | None
    threads_running: float | None
    waiting_because: list[str]
    paused_s: float | None
    throttled_s: float | None
    source_status: SourceStatus | None
    rollback_status: RollbackStatus
    error: str | None
    sql: list[SqlTotal]
    key_range: list[Any] | None
    updated_at: str | None
    stale: bool
    links: SubtaskLinks
    actions: dict[str, ActionState]  # SUBTASK_ACTIONS, each allowed or why not


class RunLinks(_Out):
    run: str


class RunOut(_Out):
    """One warm run with its table jobs, and what the caller may do to it."""

    dag_id: str
    run_id: str
    state: str | None
    active: bool  # not finished yet (queued or running): its duration grows
    tab: Tab
    strategy: str | None
    start: str | None
    end: str | None
    queued_at: str | None
    duration_s: float | None
    first_start: str | None
    active_s: float | None
    progress_pct: float
    plans_pending: list[str]
    rows_archived: int
    rows_planned: int
    rows_planned_estimated: bool
    source_status: SourceStatus | None
    source_status_overridden: bool
    rollback_status: RollbackStatus
    rollback_run_id: str | None
    delete_run_id: str | None
    error: str | None
    sql: list[SqlTotal]
    conf: dict[str, Any]
    reexecution_of: str | None
    reexecuted_as: str | None
    reexecute_from: str | None
    reexecution_state: str | None
    links: RunLinks
    subtasks: list[SubtaskOut]
    dry_run: bool
    can_edit: bool
    actions: dict[str, ActionState]  # RUN_ACTIONS, each allowed or why not


class TaskPage(_Out):
    """One page of a tab's runs, with the choices of the page's filters."""

    total: int
    limit: int
    offset: int
    tab: Tab
    states: list[str]  # the run states the tab lists
    strategies: list[str]
    source_statuses: list[str]
    tasks: list[RunOut]


class ActionRecord(_Out):
    """One row of the plugin's action log."""

    id: int
    created_at: str | None
    user_name: str | None
    action: str
    dag_id: str
    run_id: str
    task_id: str | None
    outcome: str
    http_status: int
    detail: str | None
    maintenance_run_id: str | None
    new_run_id: str | None


class ActionPage(_Out):
    total: int
    limit: int
    offset: int
    outcomes: list[str]
    actions: list[ActionRecord]


class ActionResult(BaseModel):
    """What a write answers: the run it acted on, who did what; each action adds its own fields
    (``maintenance_run_id``, ``new_run_id``, ``findings`` ...)."""

    model_config = ConfigDict(extra="allow")

    dag_id: str
    run_id: str
    action: str
    user: str
