"""What a running table job carries besides its plan: recorded SQL, progress counters and the stop request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from warm_archive.errors import Terminated
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats


@dataclass
class RunContext:
    task_id: str
    stats: SqlStats
    progress: Progress
    stop_event: threading.Event = field(default_factory=threading.Event)

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        """Raise ``Terminated`` once the job was asked to stop (docs/design.md §4.8)."""
        if self.stop_event.is_set():
            raise Terminated(f"{self.task_id}: terminated; the ledger holds every committed batch")
