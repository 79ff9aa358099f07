"""What a running table job carries besides its plan: recorded SQL, progress counters, metrics, its pauses and the stop request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from warm_archive.errors import TERMINATED, Terminated
from warm_archive.metrics import JobMetrics
from warm_archive.pacing import Pacer
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats


@dataclass
class RunContext:
    task_id: str
    stats: SqlStats
    progress: Progress
    metrics: JobMetrics
    stop_event: threading.Event = field(default_factory=threading.Event)
    pacer: Pacer | None = None  # set once the job is planned

    def between_batches(self) -> None:
        """Wait out the throttle, replica lag and source load (pacing.py); no transaction may be open."""
        if self.pacer is not None:
            self.pacer.between_batches()

    def one_lane(self) -> bool:
        """Pacing (pacing.py): run one batch or slice at a time, not two, while the source is loaded."""
        return self.pacer is not None and self.pacer.one_lane()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def check_stop(self) -> None:
        """Raise ``Terminated`` once the job was asked to stop (docs/design.md §4.8)."""
        if self.stop_event.is_set():
            raise Terminated(TERMINATED)
