"""Named points where the fault tests kill the process (``kill -9`` of itself).

``WARM_ARCHIVE_KILL_AT="after_warm_commit:3"`` kills the process the 3rd time it reaches
``after_warm_commit``. Unset (always, in production) a failpoint costs one dict lookup.

``WARM_ARCHIVE_KILL_ONLY="<dag_id>[:<try_number>]"`` narrows it to the task processes of that DAG
(and try), read from the ``AIRFLOW_CTX_*`` variables Airflow's task runner exports: a deployment
shared by many tests can then make one DAG's first try fail without touching the others or the retry.
"""

from __future__ import annotations

import os
import signal

_spec = os.environ.get("WARM_ARCHIVE_KILL_AT", "")
_target: tuple[str, int] | None = None
if _spec:
    _name, _, _nth = _spec.partition(":")
    _target = (_name, int(_nth or 1))
_only = os.environ.get("WARM_ARCHIVE_KILL_ONLY", "")
_seen: dict[str, int] = {}

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
    if _target is None or _target[0] != name or not _in_scope():
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
