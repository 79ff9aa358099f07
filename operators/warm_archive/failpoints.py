"""Named points where the fault tests kill the process (``kill -9`` of itself).

``WARM_ARCHIVE_KILL_AT="after_warm_commit:3"`` kills the process the 3rd time it reaches
``after_warm_commit``. Unset (always, in production) a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_spec = os.environ.get("WARM_ARCHIVE_KILL_AT", "")
_target: tuple[str, int] | None = None
if _spec:
    _name, _, _nth = _spec.partition(":")
    _target = (_name, int(_nth or 1))
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


def reach(name: str) -> None:
    if _target is None or _target[0] != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
