"""policy.py: one rule says when each action may act on a run or a table job, and why not. The
page shows these reasons on its disabled buttons and the API refuses with them (409); the browser
and API tests check both against real runs, these tests walk the rule's cases one by one."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest

from warm_archive.contract import RollbackStatus
from warm_monitor.datamodels import RUN_ACTIONS, SUBTASK_ACTIONS, ActionName
from warm_monitor.policy import (
    DRY_RUN_REASON,
    NO_CLEAR,
    NO_EDIT,
    Rights,
    SubtaskFacts,
    allowed_actions,
    allowed_subtask_actions,
    refusal,
    subtask_refusal,
    subtask_rollback_status,
)

A = ActionName


@dataclass(frozen=True)
class Run:
    """The fields of a ``query.base_select`` row the rules read."""

    state: str | None = "success"
    conf: Any = None
    source_status: str | None = "retained"
    rollback_status: str = "none"
    rollback_task_ids: str | None = None
    delete_run_state: str | None = None
    reexecute_state: str | None = None
    reexecution_state: str | None = None
    reexecuted_as: str | None = None


COMPLETED, RUNNING, FAILED = Run(), Run(state="running", source_status="pending"), Run(state="failed")
JOB = SubtaskFacts(task_id="orders", state="failed", rows_archived=10, rollback_status=RollbackStatus.NONE)


def allowed(run: Run, ti_states: tuple[str | None, ...] = ("failed",)) -> set[ActionName]:
    return {a for a, s in allowed_actions(run, ti_states, Rights()).items() if s.allowed}


def test_each_tab_allows_its_own_actions():
    assert allowed(COMPLETED) == {A.SOURCE_STATUS, A.DELETE_SOURCE}
    assert allowed(RUNNING) == {A.TERMINATE, A.VERIFY}
    assert allowed(FAILED) == {A.ROLLBACK, A.RESUME}
    assert set(allowed_actions(FAILED, (), Rights())) == set(RUN_ACTIONS)
    assert set(allowed_subtask_actions(FAILED, JOB, Rights())) == set(SUBTASK_ACTIONS)
    assert "this run is success" in refusal(A.TERMINATE, COMPLETED)
    assert "only an In progress run can be verified; this run is failed" == refusal(A.VERIFY, FAILED)


@pytest.mark.parametrize(
    ("run", "says"),
    [
        (replace(COMPLETED, conf={"dry_run": True}), DRY_RUN_REASON),
        (replace(COMPLETED, source_status="processed"), "already processed"),
        (replace(COMPLETED, delete_run_state="running"), "under way"),
        (replace(COMPLETED, source_status="restored"), "restored by a rollback"),
        (FAILED, "Completed runs only; this run is failed"),
    ],
)
def test_delete_source_refusals(run, says):
    assert says in refusal(A.DELETE_SOURCE, run)


def test_rollback_and_reexecute_wait_for_one_under_way_and_follow_a_reexecution():
    for rb in ("requested", "running"):
        run = replace(FAILED, rollback_status=rb)
        for reason in (refusal(A.ROLLBACK, run), subtask_refusal(A.ROLLBACK, run, JOB)):
            assert reason == f"a rollback of this run is already {rb}: wait for it to finish"
        assert subtask_refusal(A.REEXECUTE, run, JOB) == refusal(A.ROLLBACK, run)
    redone = replace(FAILED, reexecuted_as="r2", reexecute_state="started")
    assert "already re-executed as r2" in subtask_refusal(A.REEXECUTE, redone, JOB)
    assert "already re-executed as r2" in refusal(A.ROLLBACK, redone)
    assert refusal(A.RESUME, redone, ["failed"]) == "this run was re-executed as r2: resume that run instead"


def test_a_rollback_of_some_jobs_leaves_the_others_to_roll_back():
    partly = replace(FAILED, rollback_status="rolled_back", rollback_task_ids=json.dumps(["orders"]))
    assert subtask_rollback_status(partly, "orders") == RollbackStatus.ROLLED_BACK
    assert subtask_rollback_status(partly, "regions") == RollbackStatus.NONE
    rolled = replace(JOB, rollback_status=subtask_rollback_status(partly, "orders"))
    assert subtask_refusal(A.ROLLBACK, partly, rolled) == "this table job is already rolled back"
    assert subtask_refusal(A.ROLLBACK, partly, replace(JOB, task_id="regions")) is None
    assert refusal(A.ROLLBACK, partly) is None
    whole = replace(FAILED, rollback_status="rolled_back")
    assert refusal(A.ROLLBACK, whole) == "this run is already rolled back"
    never_ran = replace(JOB, state="skipped", rows_archived=0)
    assert subtask_refusal(A.ROLLBACK, FAILED, never_ran) == "this table job did not run: nothing to roll back"


def test_rights_come_first_and_resume_needs_the_right_to_clear():
    viewer = allowed_actions(FAILED, ("failed",), Rights(edit=False, clear=False))
    assert {s.reason for s in viewer.values()} == {NO_EDIT}
    editor = allowed_actions(FAILED, ("failed",), Rights(edit=True, clear=False))
    assert editor[A.RESUME].reason == NO_CLEAR and editor[A.ROLLBACK].allowed
    assert allowed_subtask_actions(FAILED, JOB, Rights(edit=False))[A.REEXECUTE].reason == NO_EDIT
