"""contract.py's value sets: StrEnums that still behave as the plain strings (and old names) they replaced."""

from __future__ import annotations

import json

import pytest

from warm_archive import contract as c
from warm_archive.contract import MaintenanceAction, OnConflict, RollbackStatus, RunState, SourceStatus, Strategy, Tab


def test_values_are_the_documented_strings():
    assert list(Strategy) == ["copy", "copy_then_delete", "move"]
    assert list(OnConflict) == ["skip", "overwrite", "error"]
    assert list(SourceStatus) == ["retained", "pending", "deleting", "processed", "restored"]
    assert list(RollbackStatus) == ["none", "requested", "running", "rolled_back", "failed"]
    assert list(MaintenanceAction) == ["rollback", "delete_source", "verify"]
    assert list(Tab) == ["completed", "in_progress", "exceptional"]


@pytest.mark.parametrize(
    "member", [Strategy.MOVE, SourceStatus.PROCESSED, MaintenanceAction.DELETE_SOURCE, Tab.IN_PROGRESS]
)
def test_a_member_is_its_string(member):
    value = member.value
    assert member == value and hash(member) == hash(value) and {value: 1}[member] == 1
    assert str(member) == f"{member}" == value and repr(member) == repr(value)
    assert json.dumps({"x": member}) == json.dumps({"x": value})
    assert type(member)(value) is member


def test_tabs_and_their_run_states():
    assert c.TAB_RUN_STATES == {
        Tab.COMPLETED: ("success",),
        Tab.IN_PROGRESS: ("queued", "running"),
        Tab.EXCEPTIONAL: ("failed",),
    }
    listed = [s for states in c.TAB_RUN_STATES.values() for s in states]
    assert sorted(listed) == sorted(RunState)  # each run state in exactly one tab
    assert c.tab_of("success") == Tab.COMPLETED
    assert c.tab_of("queued") == c.tab_of("running") == Tab.IN_PROGRESS
    assert c.tab_of("failed") == Tab.EXCEPTIONAL
    assert c.tab_of("failed", reexecution_under_way=True) == Tab.IN_PROGRESS
    assert c.tab_of("success", reexecution_under_way=True) == Tab.COMPLETED
    assert c.tab_states(Tab.IN_PROGRESS) == ("queued", "running", "failed")
    assert c.tab_states(Tab.COMPLETED) == ("success",) and c.tab_states(Tab.EXCEPTIONAL) == ("failed",)
