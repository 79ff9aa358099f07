"""The one way the test suites write a warm DAG spec (the YAML files under
``[warm_archive] specs_folder``): ``spec(dag_id, strategy, [Job(...), ...], batch_size=..., ...)``.

An option left at None is not written (the spec's default applies: retries 2, no schedule,
start_date 2024-01-01, ...); ``spec`` writes no option the spec does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    return s if _PLAIN.fullmatch(s) and s.lower() not in _YAML_WORDS else json.dumps(s)


@dataclass(frozen=True)
class Job:
    """One table job: rows of ``source_table`` (on connection ``source``) go to ``target_table``."""

    id: str
    source: str
    source_table: str
    target: str
    target_table: str
    where: str | None = None
    key: tuple[str, ...] = ("id",)

    def yaml(self) -> str:
        lines = [
            f"  - id: {_scalar(self.id)}",
            f"    source: {{conn_id: {_scalar(self.source)}, table: {_scalar(self.source_table)}}}",
            f"    target: {{conn_id: {_scalar(self.target)}, table: {_scalar(self.target_table)}}}",
            f"    key: [{', '.join(_scalar(k) for k in self.key)}]",
        ]
        if self.where is not None:
            lines.append(f"    where: {_scalar(self.where)}")
        return "\n".join(lines) + "\n"


def spec(
    dag_id: str,
    strategy: str,
    jobs: Iterable[Job],
    *,
    description: str | None = None,
    batch_size: int | None = None,
    max_rows_per_second: float | None = None,
    retries: int | None = None,
    retry_delay_seconds: int | None = None,
    pool: str | None = None,
    queue: str | None = None,
    allow_conf_where: bool | None = None,
) -> str:
    """The YAML text of a warm DAG spec."""
    options = {
        "description": description,
        "batch_size": batch_size,
        "max_rows_per_second": max_rows_per_second,
        "retries": retries,
        "retry_delay_seconds": retry_delay_seconds,
        "pool": pool,
        "queue": queue,
        "allow_conf_where": allow_conf_where,
    }
    head = [f"dag_id: {_scalar(dag_id)}", f"strategy: {_scalar(strategy)}"]
    head += [f"{k}: {_scalar(v)}" for k, v in options.items() if v is not None]
    return "\n".join(head) + "\njobs:\n" + "".join(j.yaml() for j in jobs)


def write_specs(folder: Path, specs: Mapping[str, str]) -> None:
    """Write each spec text as ``folder/<name>`` (``.yaml`` added to a name without it)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in specs.items():
        (folder / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")).write_text(text)
