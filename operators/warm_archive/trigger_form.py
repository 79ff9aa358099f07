"""A warm DAG's Airflow ``params``: the "Trigger DAG" form, built from ``RunConf``'s JSON schema.

Built, not listed, so the form cannot drift from what the operator accepts: every RunConf field
becomes a field with RunConf's own types, bounds and enums, narrowed by the spec (its job ids, its
replicas). Every default is null ("no override": ``parse_conf`` drops it), so an untouched form
runs the spec as written. Airflow validates a trigger's conf against these schemas before it
creates the run (a REST conf of the wrong type gets a 400); keys that are no field, such as the
ones the monitor plugin sets on re-execution, pass Airflow untouched and meet ``parse_conf``.
"""

from __future__ import annotations

import copy
from typing import Any

from airflow.sdk import Param

from warm_archive.spec import INTERNAL_CONF_KEYS, RunConf, WarmSpec

# Form order: what a user changes most often first. Fields not listed here follow in RunConf's order.
_ORDER = ("jobs", "dry_run", "strategy", "batch_size", "on_conflict", "max_rows_per_second", "where")
_REPLICA_KEYS = ("replicas", "max_replica_lag_seconds", "on_replica_unreachable")
LOAD_SECTION = "Load limits"
_PACING_KEYS = ("pacing", "pacing_latency_ratio", "pacing_max_sleep_ratio")
_PACING_DEFAULTS = {"pacing": "auto", "pacing_latency_ratio": "2", "pacing_max_sleep_ratio": "8"}


def form_fields(spec: WarmSpec) -> list[str]:
    """The RunConf keys the trigger form of ``spec``'s DAG shows."""
    skip = set(INTERNAL_CONF_KEYS)
    if not spec.allow_conf_where:
        skip.add("where")
    if not spec.replicas:  # nothing to narrow or to wait for
        skip.update(_REPLICA_KEYS)
    names = [n for n in RunConf.model_fields if n not in skip]
    return sorted(names, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))


def build_params(spec: WarmSpec) -> dict[str, Param]:
    """``params`` for ``DAG(...)``: one nullable field per form key, each defaulting to "no override"."""
    schema = RunConf.model_json_schema()
    props, defs = schema["properties"], schema.get("$defs", {})
    return {
        name: _param(name, props[name].get("default"), _nullable(props[name], defs), spec) for name in form_fields(spec)
    }


def _param(name: str, default: Any, field: dict[str, Any], spec: WarmSpec) -> Param:
    """RunConf's default (None, or False for dry_run) is the field's: the spec's own behaviour."""
    jobs = [j.id for j in spec.jobs]
    if name == "jobs":
        field = _choices(field, jobs)
    elif name == "replicas":
        field = _choices(field, list(spec.replicas or []))
    elif name == "where":
        field["propertyNames"] = {"enum": jobs}
    if name in ("max_threads_running", *_REPLICA_KEYS, *_PACING_KEYS):
        field["section"] = LOAD_SECTION
    description = field.pop("description", None) or ""
    keeps = _spec_value(name, spec)
    if keeps:
        description = f"{description} Empty: {keeps}.".strip()
    if None in field.get("enum", ()):  # the dropdown's empty choice reads as what it keeps, not "null"
        field["values_display"] = {"null": f"({keeps or 'no override'})"}
    field["title"] = name
    return Param(default, description=description, **field)


def _nullable(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """pydantic's ``anyOf: [X, null]`` (X maybe a ``$ref``) as one schema X whose type also allows null."""
    variants = prop.get("anyOf", [prop])
    inner = next(v for v in variants if v.get("type") != "null")
    if "$ref" in inner:
        inner = defs[inner["$ref"].rsplit("/", 1)[1]]
    out = copy.deepcopy({k: v for k, v in inner.items() if k not in ("title", "description", "default")})
    out["type"] = [out["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]  # the dropdown's empty choice
    if prop.get("description"):
        out["description"] = prop["description"]
    return out


def _choices(field: dict[str, Any], options: list[str]) -> dict[str, Any]:
    """A multi-select of ``options`` (Airflow's form shows an array with ``examples`` as one)."""
    field["items"] = {**field.get("items", {}), "enum": options}
    field["examples"] = options
    field["uniqueItems"] = True
    return field


def _spec_value(name: str, spec: WarmSpec) -> str:
    """What an empty field leaves in place, for its help text."""
    if name == "jobs":
        return "every job (" + ", ".join(j.id for j in spec.jobs) + ")"
    if name == "where":
        return "each job's condition from the spec"
    if name == "dry_run":
        return ""
    if name == "max_statement_seconds":
        return "[warm_archive] max_statement_seconds (0.5 unless set)"
    value = getattr(spec, name, None)
    if name == "on_replica_unreachable":
        value = value or "pause"
    if value is None and name in _PACING_DEFAULTS:
        return f"the spec's {_PACING_DEFAULTS[name]} (default)"
    if value is None:
        return "none, as in the spec"
    shown = ", ".join(value) if isinstance(value, list) else str(value)
    return f"the spec's {shown}"
