"""What a table job waits for between two batches: its throttle, replica lag and source load, then its pacing.

The copy and the verified delete call ``between_batches()`` where no transaction of theirs is
open on the source, so a pause holds no lock there. A pause (replica lag, source load) shows while
it lasts: in ``warm_status`` (the phase, the lag, why, ``paused_s`` growing every second), as the
gauges ``paused`` and ``replica_lag_seconds`` sent at every check, and as one task-log line when it
starts and one when it ends; ``pause_seconds`` then says how long it lasted. A throttle wait is the
job's own choice, no pause: it goes to ``throttled_s`` and ``throttle_seconds``.

Pacing (``pacing: auto``, the default): a feedback controller on what the source says about its
load (load_probe.py). After each batch (or verified-delete slice) the probe is sampled; while a
signal is over its limit the sleep ratio ``k`` doubles (from ``K_STEP``, up to
``pacing_max_sleep_ratio``), otherwise it decays by ``K_DECAY``; the job then sleeps ``k`` times
the time the batch took, so its duty cycle is ``1 / (1 + k)``. The sleeps are no pause of the
limits above: they go to ``warm_status.pacing`` and the ``pacing_sleep_seconds`` metric (tagged
with the signal that raised ``k``), never to ``paused_s`` / ``pause_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from warm_archive.load_probe import LoadProbe
from warm_archive.metrics import JobMetrics
from warm_archive.progress import Progress
from warm_archive.replicas import LoadGuard

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0  # like pt-archiver's --check-interval: a lag query per batch would cost small batches
PROBE_EVERY_S = 0.1  # the probe's three tiny statements at most this often (small delete slices)
K_START = 0.5  # the sleep ratio of the first batches, before the probe has seen the job's own load
K_STEP = 0.5  # the first sleep ratio once a signal is over its limit
K_DECAY = 0.7  # the ratio's factor after a calm sample
K_ZERO = 0.05  # below this the job runs at full speed again
MAX_SLEEP_S = 30.0  # one sleep at most (a very long batch)


class Pacer:
    """The pauses of one job. ``start()`` when the copy starts (the throttle counts from there)."""

    def __init__(
        self,
        max_rows_per_second: float | None,
        guard: LoadGuard | None,
        progress: Progress,
        metrics: JobMetrics,
        check_stop: Callable[[], None],
        probe: LoadProbe | None = None,
        max_sleep_ratio: float = 8.0,
    ) -> None:
        self.rate = max_rows_per_second
        self.probe = probe
        self.max_sleep_ratio = max_sleep_ratio
        self.k = K_START if probe is not None else 0.0  # sleep per second of work now
        self._worked_from = time.monotonic()
        self._sampled_at = float("-inf")
        self._why: list[tuple[str, str]] = []
        self._raised_by = "start"  # the signal that last raised k (the sleeps' metric tag; K_START's: start)
        self._slept: dict[str, float] = {}
        self.guard = guard
        self.progress = progress
        self.metrics = metrics
        self.check_stop = check_stop
        self._started = time.monotonic()
        self._checked_at = float("-inf")
        self._phase_before: str | None = None
        self._pause: tuple[str, float, float] | None = None  # (reason, started, last counted) while paused

    def start(self) -> None:
        self._started = self._worked_from = time.monotonic()

    def between_batches(self) -> None:
        self._throttle()
        self.check_load()
        self._pace()
        self._worked_from = time.monotonic()

    # -- pacing -----------------------------------------------------------------------------------
    def one_lane(self) -> bool:
        """While the controller sleeps at all, the copy and the verified delete keep one batch or
        slice in flight instead of two: two would keep both cores of a small server busy."""
        return self.k > 0

    def _pace(self) -> None:
        """Sleep ``k`` times the work since the last call; ``k`` follows the probe (module doc)."""
        if self.probe is None:
            return
        worked = time.monotonic() - self._worked_from
        now = time.monotonic()
        if now - self._sampled_at >= PROBE_EVERY_S:
            self._sampled_at = now
            samples = self.probe.take()  # every sample since the last batch: stalls during it count
            judged = [(self.probe.stressed(x), x) for x in samples]
            self._why, sample = max(judged, key=lambda j: len(j[0]))  # the worst, else the latest
            if self._why:
                self._raised_by = self._why[0][0]
                self.k = min(self.max_sleep_ratio, max(K_STEP, self.k * 2))
            else:
                self.k = self.k * K_DECAY if self.k * K_DECAY >= K_ZERO else 0.0
            self._publish(sample.figures())
        sleep = min(worked * self.k, MAX_SLEEP_S)
        if sleep <= 0:
            return
        before = self.progress.phase
        why = "; ".join(text for _, text in self._why) or "recovering from load"
        paced = f"{before} (paced: {100 / (1 + self.k):.0f} % duty cycle)"
        self.progress.update(phase=paced)
        t0 = time.monotonic()
        try:
            while True:
                self.check_stop()
                left = sleep - (time.monotonic() - t0)
                if left <= 0:
                    break
                time.sleep(min(left, 0.5))
        finally:
            slept = time.monotonic() - t0
            reason = self._raised_by
            self._slept[reason] = self._slept.get(reason, 0.0) + slept
            self.metrics.pacing_sleep(reason, slept)
            if self.progress.phase == paced:
                self.progress.update(phase=before)
            self._publish({"last_sleep_s": round(slept, 3), "last_reason": why})

    def _publish(self, figures: dict) -> None:
        probe = self.probe
        assert probe is not None
        current = dict(self.progress.pacing or {})
        total = sum(self._slept.values())
        current.update(
            mode="auto",
            latency_ratio=probe.latency_ratio,
            max_sleep_ratio=self.max_sleep_ratio,
            sleep_ratio=round(self.k, 3),
            duty_cycle_pct=round(100 / (1 + self.k), 1),
            slept_s=round(total, 2),
            slept_by_reason={r: round(v, 3) for r, v in self._slept.items()},
            why=[text for _, text in self._why],
            baseline=probe.baseline.figures(),
            **figures,
        )
        self.progress.update(pacing=current)

    def check_load(self, force: bool = False) -> None:
        """Wait while a replica lags or the source is loaded (checked at most every ``CHECK_EVERY_S``)."""
        if self.guard is None or (not force and time.monotonic() - self._checked_at < CHECK_EVERY_S):
            return
        if self.probe is not None:
            self.probe.idle(True)
        try:
            waited = self.guard.wait(self.check_stop, self._report)
        finally:
            if self.probe is not None:
                self.probe.idle(False)
        self._checked_at = time.monotonic()
        for reason, seconds in waited.items():  # paused_s grew while it lasted (_report)
            self.metrics.pause(reason, seconds)  # type: ignore[arg-type]  # the guard's reasons
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
        self.metrics.throttled(slept)  # the job's own choice: no pause
        self.progress.add(throttled_s=slept)

    def _report(self, phase: str | None, figures: dict) -> None:
        """The guard's view, at each of its checks (every second while it waits): warm_status's
        waiting phase and growing ``paused_s``, the gauges, and a log line when a pause starts and ends."""
        now = time.monotonic()
        self.metrics.replica_lags(figures.get("replica_lag_s"))
        why = "; ".join(figures.get("waiting_because") or []) or phase or ""
        if phase is not None:
            reason = "replica_lag" if phase == "waiting for replica" else "load"
            if self._pause is None:
                self._phase_before = self.progress.phase
                self._pause = (reason, now, now)
                log.info("pausing (%s): %s", reason, why)
            else:
                before, started, counted = self._pause
                self.progress.add(paused_s=now - counted)
                if before != reason:  # load gave way to replica lag (or back): one gauge at 1
                    self.metrics.paused(before, False)  # type: ignore[arg-type]
                    log.info("still paused, now (%s): %s", reason, why)
                self._pause = (reason, started, now)
            self.metrics.paused(reason, True)  # type: ignore[arg-type]
            self.progress.update(phase=phase, **figures)
        else:
            restore = {"phase": self._phase_before} if self._phase_before is not None else {}
            if self._pause is not None:
                reason, started, counted = self._pause
                self.progress.add(paused_s=now - counted)
                self.metrics.paused(reason, False)  # type: ignore[arg-type]
                log.info("going on after a %.1f s pause (%s); now: %s", now - started, reason, _figures(figures))
                self._pause = None
            self._phase_before = None
            self.progress.update(**restore, **figures)

    def close(self) -> None:
        if self._pause is not None:  # stopped while paused: the gauge must not stay at 1
            self.metrics.paused(self._pause[0], False)  # type: ignore[arg-type]
            self._pause = None
        if self.guard is not None:
            self.guard.close()
        if self.probe is not None:
            self.probe.close()


def _figures(figures: dict) -> str:
    """What a check saw, for the task log: each replica's lag and the source's running statements."""
    parts = [
        f"{r} lag {'unknown' if v is None else f'{v:.1f} s'}" for r, v in (figures.get("replica_lag_s") or {}).items()
    ]
    if figures.get("threads_running") is not None:
        parts.append(f"{figures['threads_running']} statements running on the source")
    return ", ".join(parts) or "every limit met"
