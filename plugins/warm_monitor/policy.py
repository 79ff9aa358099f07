"""When an action on a warm run is allowed, and why not: the one rule for the page and the API.

The API computes ``allowed_actions`` for every run it sends, so the page enables its buttons and
shows their disabled reason from what the server said, naming no run state; each write endpoint
checks the same ``refusal`` under the run's row lock and answers 409 with that reason. A reason is
what a user reads, in a tooltip or in the refusal's message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from warm_archive.contract import RollbackStatus, RunState, SourceStatus
from warm_monitor.datamodels import RUN_ACTIONS, SUBTASK_ACTIONS, ActionName, ActionState

ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)  # a run (warm, maintenance, re-execution) not finished yet
ROLLBACK_UNDER_WAY = (RollbackStatus.REQUESTED, RollbackStatus.RUNNING)
CLEARED_STATES = ("failed", "upstream_failed", "skipped")
"""Task-instance states a resume clears: what a failure or a terminate leaves behind."""
NOT_RUN_STATES = ("skipped", "removed")
"""Task-instance states of a table job that never ran (nothing of it to roll back)."""

NO_EDIT = "Your Airflow role can view this DAG's runs but not change them (it needs edit permission on DAG runs)."
NO_CLEAR = (
    "Your Airflow role may not clear this DAG's task instances (resume needs edit permission on "
    "task instances, as Airflow's own Clear)."
)
DRY_RUN_REASON = "this run is a dry run: it moved no rows, so it has no source data to delete or to mark processed"


class RunRow(Protocol):
    """The fields of a run the rules read (a ``query.base_select`` row has them)."""

    state: str | None
    conf: Any
    source_status: str | None
    rollback_status: str
    rollback_task_ids: str | None  # JSON list of the last rollback's task ids; None: the whole run
    delete_run_state: str | None
    reexecute_state: str | None
    reexecution_state: str | None
    reexecuted_as: str | None


@dataclass(frozen=True)
class SubtaskFacts:
    """The fields of one table job the rules read."""

    task_id: str
    state: str | None  # its task instance's
    rows_archived: int
    rollback_status: RollbackStatus  # of the rollbacks that covered it


@dataclass(frozen=True)
class Rights:
    """What the user may do to the run's DAG (the API's auth dependencies check the same)."""

    edit: bool = True  # edit its DAG runs: every action
    clear: bool = True  # edit its task instances: resume


def is_dry_run(conf: Any) -> bool:
    """A run whose conf asks for a dry run (the only place ``dry_run`` is set)."""
    return isinstance(conf, dict) and conf.get("dry_run") is True


def _rollback_block(run: RunRow) -> str | None:
    """Why no rollback or re-execution may start on the failed run now."""
    if run.state != RunState.FAILED:
        return f"only an Exceptional (failed) run can be rolled back or re-executed; this run is {run.state}"
    if run.rollback_status in ROLLBACK_UNDER_WAY:
        return f"a rollback of this run is already {run.rollback_status}: wait for it to finish"
    if run.reexecute_state == "pending":
        return "a re-execution of this run is under way"
    if run.reexecuted_as:  # its new run archived what is left of it: undoing more would un-archive rows
        return f"this run was already re-executed as {run.reexecuted_as}: act on that run instead"
    return None


def _resume(run: RunRow, ti_states: Iterable[str | None]) -> str | None:
    state = run.state
    if state in ACTIVE:
        return f"only a failed or terminated run can be resumed; this run is {state} (terminate it first)"
    if state == RunState.SUCCESS:
        return "this run completed: there is nothing to resume"
    if state != RunState.FAILED:
        return f"only a failed or terminated run can be resumed; this run is {state}"
    if run.reexecuted_as or run.reexecute_state:
        return f"this run was re-executed as {run.reexecuted_as}: resume that run instead"
    rb = run.rollback_status
    if rb in ROLLBACK_UNDER_WAY:
        return f"a rollback of this run is {rb}: it cannot be resumed"
    if rb == RollbackStatus.ROLLED_BACK:
        return "this run was rolled back (its archived rows are undone): re-execute it instead of resuming"
    if rb == RollbackStatus.FAILED:
        return "a rollback of this run failed part-way: roll it back again or re-execute it"
    if run.delete_run_state in ACTIVE:
        return "a delete-source maintenance run is under way for this run"
    if not any(s in CLEARED_STATES for s in ti_states):
        return "no failed or skipped table job in this run: there is nothing to resume"
    return None


def refusal(action: ActionName, run: RunRow, ti_states: Iterable[str | None] = ()) -> str | None:
    """Why ``action`` may not act on the whole run now; None when it may. ``ti_states``: the run's
    task-instance states (resume reads them)."""
    state = run.state
    if action in (ActionName.SOURCE_STATUS, ActionName.DELETE_SOURCE):
        if is_dry_run(run.conf):
            return DRY_RUN_REASON
        if action == ActionName.SOURCE_STATUS:
            if state != RunState.SUCCESS:
                return f"source status can be changed on Completed runs only; this run is {state}"
            if run.delete_run_state in ACTIVE:
                return "a delete-source maintenance run is under way for this run"
            if run.source_status == SourceStatus.PROCESSED:
                return "the source data of this run is already processed"
            return None
        if state != RunState.SUCCESS:
            return f"source rows can be deleted for Completed runs only; this run is {state}"
        if run.delete_run_state in ACTIVE:
            return "a delete-source maintenance run is already under way for this run"
        if run.source_status == SourceStatus.PROCESSED:
            return "the source data of this run is already processed (deleted or marked)"
        if run.source_status == SourceStatus.RESTORED:
            return "the source rows of this run were restored by a rollback: nothing archived is left to delete"
        return None
    if action == ActionName.TERMINATE:
        return None if state in ACTIVE else f"only an In progress run can be terminated; this run is {state}"
    if action == ActionName.VERIFY:
        if state in ACTIVE or run.reexecute_state == "pending":
            return None
        return f"only an In progress run can be verified; this run is {state}"
    if action == ActionName.ROLLBACK:
        if block := _rollback_block(run):
            return block
        if run.rollback_status == RollbackStatus.ROLLED_BACK and run.rollback_task_ids is None:
            return "this run is already rolled back"
        return None
    if action == ActionName.RESUME:
        return _resume(run, ti_states)
    raise ValueError(f"{action} acts on one table job, not on a run")


def subtask_refusal(action: ActionName, run: RunRow, sub: SubtaskFacts) -> str | None:
    """Why ``action`` may not act on the table job ``sub`` of the run now; None when it may."""
    if action == ActionName.ROLLBACK:
        if block := _rollback_block(run):
            return block
        if sub.state in NOT_RUN_STATES or (sub.state is None and not sub.rows_archived):
            return "this table job did not run: nothing to roll back"
        if sub.rollback_status == RollbackStatus.ROLLED_BACK:
            return "this table job is already rolled back"
        return None
    if action == ActionName.REEXECUTE:
        return _rollback_block(run)
    raise ValueError(f"{action} acts on a run, not on one table job")


def _with_rights(action: ActionName, rights: Rights, reason: str | None) -> ActionState:
    if not rights.edit:
        reason = NO_EDIT
    elif action == ActionName.RESUME and not rights.clear:
        reason = NO_CLEAR
    return ActionState(allowed=reason is None, reason=reason)


def allowed_actions(run: RunRow, ti_states: Iterable[str | None], rights: Rights) -> dict[ActionName, ActionState]:
    """Every run action, allowed or with the reason it is not (what the page's buttons show)."""
    states = list(ti_states)
    return {a: _with_rights(a, rights, refusal(a, run, states)) for a in RUN_ACTIONS}


def allowed_subtask_actions(run: RunRow, sub: SubtaskFacts, rights: Rights) -> dict[ActionName, ActionState]:
    """Every action on one table job, allowed or with the reason it is not."""
    return {a: _with_rights(a, rights, subtask_refusal(a, run, sub)) for a in SUBTASK_ACTIONS}


def subtask_rollback_status(run: RunRow, task_id: str) -> RollbackStatus:
    """The run's rollback status if its last rollback covered ``task_id`` (all jobs, or a list)."""
    import json

    if run.rollback_status == RollbackStatus.NONE:
        return RollbackStatus.NONE
    ids = json.loads(run.rollback_task_ids) if run.rollback_task_ids else None
    return RollbackStatus(run.rollback_status) if ids is None or task_id in ids else RollbackStatus.NONE
