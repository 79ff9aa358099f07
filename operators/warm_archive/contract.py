"""The contract between table jobs (workers) and the monitor plugin (api-server).

Everything both sides must agree on lives here and nowhere else: strategies, ``on_conflict``
values, status names, the monitor's tabs and which run states each lists, the XCom key, the
maintenance DAG, its actions and its conf. The value sets are ``StrEnum``s: a member is its
string (compares, hashes, JSON-encodes and formats as the value), so pydantic models and FastAPI
parameters use them as types and the plain strings in XComs and confs keep working.

This module imports nothing from Airflow or the engine so the plugin can use it without pulling
the worker code in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

XCOM_KEY: Final = "warm_status"
"""Key of the progress XCom each table job pushes on its own task instance (docs/design.md §5)."""

MAINTENANCE_SUFFIX: Final = "__maintenance"
"""Each warm DAG ``d`` has a maintenance DAG ``d__maintenance`` (built from the same spec) that deletes
source rows, rolls back or verifies runs of ``d`` on a worker. One per warm DAG, so Airflow's per-DAG
rights on it decide who sees those runs' conf, XComs and logs (docs/adr/0008)."""

MAX_WARM_DAG_ID_LEN: Final = 250 - len(MAINTENANCE_SUFFIX)
"""Airflow's dag_id limit, less the room the maintenance DAG's suffix takes."""


def maintenance_dag_id(warm_dag_id: str) -> str:
    """The maintenance DAG of a warm DAG."""
    return warm_dag_id + MAINTENANCE_SUFFIX


def maintained_dag_id(dag_id: str) -> str | None:
    """The warm DAG a maintenance DAG serves, or None if ``dag_id`` is no maintenance DAG's id."""
    return dag_id[: -len(MAINTENANCE_SUFFIX)] or None if dag_id.endswith(MAINTENANCE_SUFFIX) else None


WARM_DAG_TAG: Final = "warm"
"""Tag every warm DAG carries, so the plugin can tell warm DAGs from others."""


class _Values(StrEnum):
    """A set of string values. ``repr`` is the value's too, so a message that quotes one
    (``f"{strategy!r}"``, pydantic's "Input should be 'processed'") reads as it did with plain strings."""

    def __repr__(self) -> str:
        return repr(self.value)


class Strategy(_Values):
    """How a table job treats the source rows it archived (docs/design.md §1)."""

    COPY = "copy"  # the source keeps its rows
    COPY_THEN_DELETE = "copy_then_delete"  # the whole job is copied, then each verified source row deleted
    MOVE = "move"  # each batch's source rows are deleted right after that batch's copy commits


class OnConflict(_Values):
    """What a table job does with a row already in the warm table (docs/design.md §3.1)."""

    SKIP = "skip"
    OVERWRITE = "overwrite"
    ERROR = "error"


class StatementKind(_Values):
    """What a statement of ``warm_status.sql`` is for (docs/design.md §5): the page lists the checks apart."""

    WORK = "work"  # the run's work: its walk, batch reads, writes, deletes, ledger rows
    CHECK = "check"  # inputs checked and rows counted before any row moves (a dry run's reads are all checks)


class SourceStatus(_Values):
    """What happened to the archived rows in the source table."""

    RETAINED = "retained"  # copy strategy: the source keeps its rows
    PENDING = "pending"  # archived, not deleted yet
    DELETING = "deleting"
    PROCESSED = "processed"  # deleted, or marked so by a user
    RESTORED = "restored"  # brought back by a rollback


class RollbackStatus(_Values):
    """Where the rollback of a run (or of one of its table jobs) stands (docs/design.md §1, §8)."""

    NONE = "none"
    REQUESTED = "requested"
    RUNNING = "running"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class SqlStat(BaseModel):
    """One statement a job ran: how often and for how long (sqlstats.py)."""

    statement: str
    count: int = 0
    seconds: float = 0.0
    max_seconds: float | None = None
    kind: StatementKind = StatementKind.WORK  # an older job's statements: its work


class WarmStatus(BaseModel):
    """The ``warm_status`` XCom (``XCOM_KEY``): what a table job reports (progress.py writes it, the
    monitor reads it). Every field has a default, so an XCom of an older job still reads; a field
    of the wrong type reads as its default (``read``), never as a failed page."""

    model_config = ConfigDict(extra="ignore")

    strategy: Strategy | None = None
    table: str | None = None
    target: str | None = None
    rows_planned: int = 0
    rows_planned_estimated: bool = False
    plan_known: bool = False
    rows_copied: int | None = None
    rows_skipped: int | None = None
    rows_deleted: int | None = None
    rows_changed: int | None = None
    progress_pct: float | None = None
    source_status: SourceStatus | None = None
    rows_per_second: float | None = None
    batches: int | None = None
    dry_run: bool | None = None
    phase: str | None = None
    paused_s: float | None = None
    throttled_s: float | None = None
    replica_lag_s: dict[str, float | None] | None = None  # conn_id -> seconds, null when unknown
    threads_running: int | None = None
    waiting_because: list[str] = []
    pacing: dict[str, Any] | None = None
    state: str | None = None  # the job's own: running, success, failed
    error: str | None = None
    key_range: list[Any] | None = None
    dry_run_sql: list[dict[str, Any]] | None = None  # a dry run's recorded statements (dryrun.py)
    on_conflict: OnConflict | None = None  # the job's policy for rows already in the warm table
    already_archived: int | None = None  # a dry run: planned rows the warm table holds already (archived.py)
    on_conflict_effect: str | None = None  # a dry run: what on_conflict will do with them, in words
    sql: list[SqlStat] = []
    updated_at: str | None = None  # ISO 8601, UTC

    @classmethod
    def read(cls, raw: object) -> WarmStatus | None:
        """The status in an XCom value (None: no status); fields that do not fit are dropped."""
        if not isinstance(raw, dict):
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            bad = {err["loc"][0] for err in e.errors() if err["loc"]}
            return cls.model_validate({k: v for k, v in raw.items() if k not in bad})


class MaintenanceAction(_Values):
    """Values of ``conf["action"]`` for a maintenance DAG (``maintenance_dag_id``)."""

    ROLLBACK = "rollback"
    DELETE_SOURCE = "delete_source"
    VERIFY = "verify"


# -- the monitor's tabs ---------------------------------------------------------------------------


class RunState(_Values):
    """The Airflow DAG-run states a warm run shows in (Airflow's own ``DagRunState`` values)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class Tab(_Values):
    """The monitor page's three lists of warm runs, in page order (docs/design.md §1, §6)."""

    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"
    EXCEPTIONAL = "exceptional"


TAB_RUN_STATES: Final[Mapping[Tab, tuple[RunState, ...]]] = MappingProxyType(
    {
        Tab.COMPLETED: (RunState.SUCCESS,),
        Tab.IN_PROGRESS: (RunState.QUEUED, RunState.RUNNING),
        Tab.EXCEPTIONAL: (RunState.FAILED,),
    }
)
"""The run states each tab lists, with one exception: a run in ``REEXECUTING_STATE`` whose
re-execution is under way is In progress, not Exceptional (see ``tab_of``)."""

REEXECUTING_STATE: Final = RunState.FAILED
"""The state of a run being re-executed (its failed table jobs roll back, then a new run starts)."""


def tab_of(run_state: str | None, reexecution_under_way: bool = False) -> Tab:
    """The tab that lists a run in ``run_state`` (an unknown or missing state counts as exceptional)."""
    if run_state == REEXECUTING_STATE and reexecution_under_way:
        return Tab.IN_PROGRESS
    return next((tab for tab, states in TAB_RUN_STATES.items() if run_state in states), Tab.EXCEPTIONAL)


def tab_states(tab: Tab) -> tuple[RunState, ...]:
    """Every state a run listed in ``tab`` can have (what the page offers as the tab's state filter)."""
    extra = (REEXECUTING_STATE,) if tab == Tab.IN_PROGRESS else ()
    return TAB_RUN_STATES[tab] + tuple(s for s in extra if s not in TAB_RUN_STATES[tab])


# Keys of a warm DAG's run conf that the plugin sets on re-execution (docs/design.md §3.3).
CONF_REEXECUTION_OF: Final = "reexecution_of"
CONF_START_FROM: Final = "start_from"

# Keys of the maintenance run conf.
CONF_ACTION: Final = "action"
CONF_DAG_ID: Final = "dag_id"
CONF_RUN_ID: Final = "run_id"
CONF_TASK_IDS: Final = "task_ids"
CONF_ANY_STATE: Final = "any_state"  # admin override: act whatever the target run's state
CONF_ISSUED_BY: Final = "issued_by"
CONF_ISSUED_AT: Final = "issued_at"
CONF_SIGNATURE: Final = "signature"

SIGNED_FIELDS: Final = (
    CONF_ACTION,
    CONF_DAG_ID,
    CONF_RUN_ID,
    CONF_TASK_IDS,
    CONF_ANY_STATE,
    CONF_ISSUED_BY,
    CONF_ISSUED_AT,
)

# Where both sides read the signing secret, first set wins: a dedicated key, else the JWT secret
# that every component of an Airflow 3 deployment already shares.
SIGNING_SECRET_OPTIONS: Final = (("warm_archive", "maintenance_signing_key"), ("api_auth", "jwt_secret"))


def signing_secret(get: Callable[[str, str], str | None]) -> str | None:
    """The maintenance signing secret from a config getter (``lambda s, o: conf.get(s, o, fallback="")``)."""
    for section, option in SIGNING_SECRET_OPTIONS:
        value = get(section, option)
        if value:
            return value
    return None


def maintenance_signature(secret: str, maintenance_dag: str, maintenance_run_id: str, conf: Mapping) -> str:
    """HMAC-SHA256 of a maintenance conf, bound to the maintenance run (DAG and run id) it was issued for.

    Only the api-server signs (after checking the caller's rights on the target DAG), so a worker
    that finds a valid signature knows the monitor issued exactly this conf for exactly this run:
    an edited conf or one copied into a new run, of this or another maintenance DAG, does not verify.
    """
    fields = {name: conf.get(name) for name in SIGNED_FIELDS}
    message = json.dumps(
        {"for_dag": maintenance_dag, "for_run": maintenance_run_id, **fields}, sort_keys=True, separators=(",", ":")
    )
    key = hashlib.sha256(b"warm-archive maintenance conf v2\x00" + secret.encode()).digest()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, maintenance_dag: str, maintenance_run_id: str, conf: Mapping) -> bool:
    given = conf.get(CONF_SIGNATURE)
    return isinstance(given, str) and hmac.compare_digest(
        given, maintenance_signature(secret, maintenance_dag, maintenance_run_id, conf)
    )
