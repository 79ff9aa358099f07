"""Named points where the fault tests kill the process (``kill -9`` of itself).

``WARM_ARCHIVE_KILL_AT="after_warm_commit:3"`` kills the process the 3rd time it reaches
``after_warm_commit``. Unset (always, in production) a failpoint costs one dict lookup.

``WARM_ARCHIVE_KILL_ONLY="<dag_id>[:<try_number>]"`` narrows it to the task processes of that DAG
(and try), read from the ``AIRFLOW_CTX_*`` variables Airflow's task runner exports: a deployment
shared by many tests can then make one DAG's first try fail without touching the others or the retry.

``WARM_ARCHIVE_PAUSE_AT="after_source_read:1"`` with ``WARM_ARCHIVE_PAUSE_FILE=<path>`` pauses the
process there instead (the 1st time): it creates ``<path>.paused`` and waits until ``<path>`` exists
(at most ``PAUSE_MAX_S``), so a test can act while the job holds, say, a batch's transaction open.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _point(variable: str) -> tuple[str, int] | None:
    """``name[:nth]`` from the environment variable, as (point, nth reach)."""
    spec = os.environ.get(variable, "")
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth or 1)


_target = _point("WARM_ARCHIVE_KILL_AT")
_only = os.environ.get("WARM_ARCHIVE_KILL_ONLY", "")
_seen: dict[str, int] = {}
_pause = _point("WARM_ARCHIVE_PAUSE_AT")
_pause_file = os.environ.get("WARM_ARCHIVE_PAUSE_FILE", "")
PAUSE_MAX_S = 120.0

POINTS = (
    "after_plan",
    "after_source_read",
    "during_warm_write",
    "before_warm_commit",
    "after_warm_commit",
    "after_source_delete",
    "before_ledger_delete_mark",
    "during_delete_phase",
    "during_rollback_restore",
    "after_rollback_restore",
)


def _in_scope() -> bool:
    if not _only:
        return True
    dag_id, _, try_number = _only.partition(":")
    if os.environ.get("AIRFLOW_CTX_DAG_ID") != dag_id:
        return False
    return not try_number or os.environ.get("AIRFLOW_CTX_TRY_NUMBER") == try_number


def reach(name: str) -> None:
    if _pause is not None and _pause[0] == name and _pause_file:
        _wait_here(name)
    if _target is None or _target[0] != name or not _in_scope():
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def _wait_here(name: str) -> None:
    key = "pause:" + name
    _seen[key] = _seen.get(key, 0) + 1
    if _pause is None or _seen[key] != _pause[1]:
        return
    go = Path(_pause_file)
    Path(f"{_pause_file}.paused").touch()
    deadline = time.monotonic() + PAUSE_MAX_S
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
