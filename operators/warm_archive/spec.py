"""The spec (docs/design.md §3): one YAML file per warm DAG, and the run ``conf`` that may override it.

Validation is pydantic's, with messages rewritten for a data engineer: which file, which key, what
is allowed. Unknown keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warm_archive import contract, defaults
from warm_archive.dialects import split_table
from warm_archive.errors import SpecError, WarmArchiveError
from warm_archive.replicas import LoadLimits
from warm_archive.where import check_conf_where, check_where

# The values are contract.py's (one truth). Not strict: the strict models get plain strings from YAML and conf.
Strategy = Annotated[contract.Strategy, Field(strict=False)]
OnConflict = Annotated[contract.OnConflict, Field(strict=False)]

_ID = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$"
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Endpoint(_Strict):
    conn_id: Annotated[str, Field(min_length=1, max_length=250)]
    table: str

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        try:
            split_table(v)
        except WarmArchiveError as e:
            raise ValueError(str(e)) from None
        return v


class JobSpec(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    source: Endpoint
    target: Endpoint
    key: Annotated[list[str], Field(min_length=1)]
    where: str | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _COLUMN.match(c)]
        if bad:
            raise ValueError(f"key columns must be plain column names, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"key lists a column twice: {v}")
        return v

    @field_validator("where")
    @classmethod
    def _where(cls, v: str | None) -> str | None:
        if v is not None and "{{" not in v and "{%" not in v:  # templated ones are checked once rendered
            try:
                check_where(v, None)
            except WarmArchiveError as e:
                raise ValueError(str(e)) from None
        return v


BatchSize = Annotated[int, Field(ge=1, le=1_000_000)]
Rate = Annotated[float, Field(gt=0)]
ConnId = Annotated[str, Field(min_length=1, max_length=250)]
LagSeconds = Annotated[float, Field(gt=0, le=86400)]
ThreadsRunning = Annotated[int, Field(ge=1, le=100_000)]
StatementSeconds = Annotated[float, Field(ge=0.01, le=3600)]  # plan.MIN_STATEMENT_S, MAX_STATEMENT_S
Unreachable = Literal["pause", "fail"]
Pacing = Literal["auto", "off"]
LatencyRatio = Annotated[float, Field(gt=1, le=1000)]
SleepRatio = Annotated[float, Field(gt=0, le=100)]


def _as_float(v: Any) -> Any:
    """YAML and JSON give ``5`` for five seconds or rows; the strict models want a float."""
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class LoadOptions(_Strict):
    """Pause between batches on replica lag and source load (pt-archiver's --check-slave-lag and
    --max-load); the spec's apply to every job, a run conf's override them for that run."""

    replicas: list[ConnId] | None = Field(default=None, description="Replica connections whose lag is watched.")
    max_replica_lag_seconds: LagSeconds | None = Field(
        default=None, description="Wait between batches while a replica lags more than this (seconds)."
    )
    on_replica_unreachable: Unreachable | None = Field(
        default=None, description="pause or fail when a replica cannot tell its lag."
    )
    max_threads_running: ThreadsRunning | None = Field(
        default=None, description="Wait while the source runs more statements than this."
    )
    pacing: Pacing | None = Field(
        default=None,
        description="auto (default): slow down while the source is loaded (probe latency, WAL waits, "
        "statements running, against a baseline taken at start); off: full speed.",
    )
    pacing_latency_ratio: LatencyRatio | None = Field(
        default=None, description="Pacing: the source counts as loaded above this many times its baseline latency (2)."
    )
    pacing_max_sleep_ratio: SleepRatio | None = Field(
        default=None, description="Pacing: at most this many seconds of sleep per second of work (8: 11 % duty cycle)."
    )

    @field_validator("max_replica_lag_seconds", "pacing_latency_ratio", "pacing_max_sleep_ratio", mode="before")
    @classmethod
    def _lag(cls, v: Any) -> Any:
        return _as_float(v)

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"replicas lists a connection twice: {v}")
        return v

    def limits(self, conf: LoadOptions | None = None) -> LoadLimits:
        """The load limits of a run: these options, with the run conf's on top."""
        rc = conf or LoadOptions()
        replicas = rc.replicas if rc.replicas is not None else self.replicas
        lag = rc.max_replica_lag_seconds if rc.max_replica_lag_seconds is not None else self.max_replica_lag_seconds
        return LoadLimits(
            replicas=tuple(replicas or ()),
            max_replica_lag_seconds=lag,
            on_replica_unreachable=rc.on_replica_unreachable or self.on_replica_unreachable or "pause",
            max_threads_running=rc.max_threads_running or self.max_threads_running,
            pacing=rc.pacing or self.pacing or "auto",
            pacing_latency_ratio=rc.pacing_latency_ratio or self.pacing_latency_ratio or 2.0,
            pacing_max_sleep_ratio=rc.pacing_max_sleep_ratio or self.pacing_max_sleep_ratio or 8.0,
        )


class WarmSpec(LoadOptions):
    dag_id: Annotated[str, Field(pattern=_ID)]
    description: str | None = None
    schedule: str | None = None
    start_date: dt.date | dt.datetime = dt.date(2024, 1, 1)
    strategy: Strategy = defaults.STRATEGY
    batch_size: BatchSize = defaults.BATCH_SIZE
    on_conflict: OnConflict = defaults.ON_CONFLICT
    max_rows_per_second: Rate | None = defaults.MAX_ROWS_PER_SECOND
    queue: str | None = None
    pool: str | None = None
    tags: list[str] = []
    allow_conf_where: bool = False
    # the longest a statement on the source may run (None: [warm_archive] max_statement_seconds, 0.5 s)
    max_statement_seconds: StatementSeconds | None = None
    retries: Annotated[int, Field(ge=0, le=100)] = defaults.RETRIES
    retry_delay_seconds: Annotated[int, Field(ge=0)] = defaults.RETRY_DELAY_S
    jobs: Annotated[list[JobSpec], Field(min_length=1)]

    @field_validator("max_rows_per_second", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        return _as_float(v)

    @field_validator("dag_id")
    @classmethod
    def _room_for_maintenance(cls, v: str) -> str:
        if v.endswith(contract.MAINTENANCE_SUFFIX):
            raise ValueError(
                f"a warm dag_id may not end with {contract.MAINTENANCE_SUFFIX!r}: that names its maintenance DAG"
            )
        if len(v) > contract.MAX_WARM_DAG_ID_LEN:
            raise ValueError(
                f"at most {contract.MAX_WARM_DAG_ID_LEN} characters (its maintenance DAG adds {contract.MAINTENANCE_SUFFIX!r})"
            )
        return v

    @model_validator(mode="after")
    def _lag_needs_replicas(self) -> WarmSpec:
        if bool(self.replicas) != (self.max_replica_lag_seconds is not None):
            raise ValueError(
                "replicas and max_replica_lag_seconds go together: list the replica connections "
                "and the lag (seconds) above which the job waits"
            )
        return self

    @model_validator(mode="after")
    def _unique_jobs(self) -> WarmSpec:
        seen: set[str] = set()
        for job in self.jobs:
            if job.id in seen:
                raise ValueError(f"duplicate job id {job.id!r}: each job id names one task")
            seen.add(job.id)
        return self


# Run conf keys the monitor plugin sets when it re-executes a run: accepted, never a trigger-form field.
INTERNAL_CONF_KEYS: tuple[str, ...] = (contract.CONF_REEXECUTION_OF, contract.CONF_START_FROM)


def _says(text: str) -> Any:
    """A field's description: the trigger form's help text under the field (trigger_form.py)."""
    return Field(default=None, description=text)


class RunConf(LoadOptions):
    """Per-run overrides, validated before any row moves. ``replicas`` may only narrow the
    spec's list: a run conf names no connection the spec's author did not. The field
    descriptions are the trigger form's help texts."""

    strategy: Strategy | None = _says("copy keeps the source rows; copy_then_delete and move delete them.")
    batch_size: BatchSize | None = _says("Rows per batch (one transaction on each side).")
    on_conflict: OnConflict | None = _says("What to do with a row already in the warm table.")
    max_rows_per_second: Rate | None = _says("Throttle: at most this many rows a second.")
    where: dict[str, str] | None = _says(
        'Conditions replacing the spec\'s, by job id, e.g. {"orders": "id < 1000"}; 1=1 for every row.'
    )
    jobs: list[str] | None = _says("Run only these jobs; the others are skipped.")
    max_statement_seconds: StatementSeconds | None = _says(
        "The longest a source statement of the job should run; the key ranges it reads adapt to it."
    )
    dry_run: bool = Field(default=False, description="Count the rows and key range a run would move; move nothing.")
    reexecution_of: str | None = None
    start_from: str | None = None

    @field_validator("max_rows_per_second", "max_statement_seconds", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        return _as_float(v)


def explain(err: ValidationError) -> str:
    """pydantic's errors as one line each: ``key.path: what is wrong (what is allowed)``."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            lines.append(f"{loc}: unknown key{_allowed(err, parent)}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def _allowed(err: ValidationError, parent: tuple) -> str:
    models: dict[str, type[BaseModel]] = {"WarmSpec": WarmSpec, "RunConf": RunConf}
    model = models.get(err.title)
    if model is None:
        return ""
    for part in parent:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        inner = getattr(ann, "__args__", (ann,))
        model = next((a for a in _flatten(inner) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return ""
    return f" (allowed: {', '.join(_own_fields_first(model))})"


def _own_fields_first(model: Any) -> list[str]:
    """A model's own keys before the shared load options, so the usual keys lead the hint."""
    own = [name for name in model.__dict__.get("__annotations__", {}) if name in model.model_fields]
    return own + [name for name in model.model_fields if name not in own]


def _flatten(args: tuple) -> Iterator[Any]:
    for a in args:
        sub = getattr(a, "__args__", None)
        if sub:
            yield from _flatten(sub)
        elif getattr(a, "__metadata__", None) is not None:
            yield a.__origin__
        else:
            yield a


def load_spec(path: Path) -> WarmSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SpecError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path.name}: a spec is a YAML mapping with dag_id and jobs")
    try:
        return WarmSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{path.name}: {explain(e)}") from None


def without_blanks(conf: Any) -> Any:
    """The conf without keys that say "no override": what the trigger form sends for a field left
    untouched or cleared (null, an empty choice, an empty text)."""
    if not isinstance(conf, dict):
        return conf if conf is not None else {}
    return {k: v for k, v in conf.items() if v is not None and v != "" and v != [] and v != {}}


def parse_conf(
    conf: dict | None, spec_jobs: list[str], allow_conf_where: bool, spec_replicas: list[str] | None = None
) -> RunConf:
    try:
        rc = RunConf.model_validate(without_blanks(conf))
    except ValidationError as e:
        raise SpecError(f"run conf: {explain(e)}") from None
    foreign = sorted(set(rc.replicas or []) - set(spec_replicas or []))
    if foreign:
        raise SpecError(
            f"run conf: replicas may only name the spec's replica connections {sorted(spec_replicas or [])}; "
            f"not {foreign}"
        )
    if rc.max_replica_lag_seconds is not None and not (rc.replicas or spec_replicas):
        raise SpecError("run conf: max_replica_lag_seconds needs replicas, and the spec lists none")
    unknown = sorted(set(rc.jobs or []) | set((rc.where or {}).keys()) | ({rc.start_from} if rc.start_from else set()))
    unknown = [j for j in unknown if j not in spec_jobs]
    if unknown:
        raise SpecError(f"run conf names unknown job(s) {unknown}; jobs are {spec_jobs}")
    if rc.where and not allow_conf_where:
        raise SpecError("run conf: where overrides are refused: the spec does not set allow_conf_where: true")
    for job, where in (rc.where or {}).items():  # before any row moves; the job checks it again
        if not where.strip():
            raise SpecError(
                f"run conf: where for job {job} is empty: leave the job out of where to keep the spec's "
                "condition, or write 1=1 to archive every row"
            )
        try:
            check_conf_where(where, f"run-conf where for job {job}")
        except WarmArchiveError as e:
            raise SpecError(str(e)) from None
    return rc
