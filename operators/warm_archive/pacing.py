"""What a table job waits for between two batches: its throttle, then replica lag and source load.

The copy and the verified delete call ``between_batches()`` where no transaction of theirs is
open on the source, so a pause holds no lock there. Each pause shows in ``warm_status`` (the
phase, the lag, why) and reaches the metrics as ``pause_seconds`` tagged with its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from warm_archive.metrics import JobMetrics
from warm_archive.progress import Progress
from warm_archive.replicas import LoadGuard

CHECK_EVERY_S = 1.0  # like pt-archiver's --check-interval: a lag query per batch would cost small batches


class Pacer:
    """The pauses of one job. ``start()`` when the copy starts (the throttle counts from there)."""

    def __init__(
        self,
        max_rows_per_second: float | None,
        guard: LoadGuard | None,
        progress: Progress,
        metrics: JobMetrics,
        check_stop: Callable[[], None],
    ) -> None:
        self.rate = max_rows_per_second
        self.guard = guard
        self.progress = progress
        self.metrics = metrics
        self.check_stop = check_stop
        self._started = time.monotonic()
        self._checked_at = float("-inf")
        self._phase_before: str | None = None

    def start(self) -> None:
        self._started = time.monotonic()

    def between_batches(self) -> None:
        self._throttle()
        self.check_load()

    def check_load(self, force: bool = False) -> None:
        """Wait while a replica lags or the source is loaded (checked at most every ``CHECK_EVERY_S``)."""
        if self.guard is None or (not force and time.monotonic() - self._checked_at < CHECK_EVERY_S):
            return
        waited = self.guard.wait(self.check_stop, self._report)
        self._checked_at = time.monotonic()
        for reason, seconds in waited.items():
            self.metrics.pause(reason, seconds)  # type: ignore[arg-type]  # the guard's reasons
            self.progress.add(paused_s=seconds)
            self._started += seconds  # no burst after a pause: the throttle counts copying time only

    def _throttle(self) -> None:
        if not self.rate:
            return
        ahead = self.progress.moved_this_attempt() / self.rate - (time.monotonic() - self._started)
        if ahead <= 0:
            return
        t0 = time.monotonic()
        while ahead > 0:
            self.check_stop()
            time.sleep(min(ahead, 0.5))
            ahead -= 0.5
        slept = time.monotonic() - t0
        self.metrics.pause("throttle", slept)
        self.progress.add(paused_s=slept)

    def _report(self, phase: str | None, figures: dict) -> None:
        """The guard's view into warm_status: a waiting phase while it waits, the job's own after."""
        if phase is not None:
            if self._phase_before is None:
                self._phase_before = self.progress.phase
            self.progress.update(phase=phase, **figures)
        else:
            restore = {"phase": self._phase_before} if self._phase_before is not None else {}
            self._phase_before = None
            self.progress.update(**restore, **figures)

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()
