"""A table job's metrics, sent through Airflow's own Stats (StatsD, Datadog or OpenTelemetry, as Airflow is configured).

Operators watch archiving in the dashboards they already have: the names are fixed, and the
DAG, task and table travel as tags (StatsD needs ``[metrics] statsd_influxdb_enabled`` or Datadog
to carry tags), the way Airflow 3 names its own modern metrics.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

PREFIX = "warm_archive"

# name -> (kind, what it counts); the README's metrics table is this one.
METRICS: dict[str, tuple[str, str]] = {
    f"{PREFIX}.rows_copied": ("counter", "rows written into the warm table"),
    f"{PREFIX}.rows_deleted": ("counter", "source rows deleted after their copy was verified"),
    f"{PREFIX}.rows_kept_changed": ("counter", "source rows kept because they changed since their copy"),
    f"{PREFIX}.rows_skipped": ("counter", "rows already in the warm table (on_conflict: skip)"),
    f"{PREFIX}.batches": ("counter", "batches committed"),
    f"{PREFIX}.batch_seconds": ("timer", "time of one batch, read to commit"),
    f"{PREFIX}.pause_seconds": ("timer", "time a pause lasted (sent when it ends), tagged reason=replica_lag|load"),
    f"{PREFIX}.paused": (
        "gauge",
        "1 while the job pauses (sent every second of the pause, then 0), tagged reason=replica_lag|load",
    ),
    f"{PREFIX}.replica_lag_seconds": ("gauge", "each watched replica's lag at each check, tagged replica=<conn_id>"),
    f"{PREFIX}.throttle_seconds": ("timer", "time the max_rows_per_second throttle waited (no pause)"),
    f"{PREFIX}.pacing_sleep_seconds": (
        "timer",
        "time the pacing controller slept because the source was loaded, tagged "
        "reason=commit_latency|probe_latency|wal_waits|statements_running|start",
    ),
    f"{PREFIX}.rollback_rows": ("counter", "archived rows a rollback took back out of the warm table"),
}

PauseReason = Literal["replica_lag", "load"]


class JobMetrics:
    """The metrics of one table job, tagged with its DAG, task and source table."""

    def __init__(self, dag_id: str, task_id: str, table: str) -> None:
        self.tags = {"dag_id": dag_id, "task_id": task_id, "table": table}

    @staticmethod
    def _stats() -> Any:  # the module airflow.sdk.observability.stats: its functions are the backend's
        from airflow.sdk.observability import stats  # Airflow's configured backend, set up by the task runner

        return stats

    # warm_status counter -> metric: every counter the job adds to reaches Stats as it is added.
    COUNTERS = {
        "rows_copied": "rows_copied",
        "rows_deleted": "rows_deleted",
        "rows_changed": "rows_kept_changed",
        "rows_skipped": "rows_skipped",
        "batches": "batches",
    }

    def counted(self, deltas: dict[str, float]) -> None:
        """What ``Progress.add`` just added (``rows_copied=20000, batches=1``...)."""
        stats = self._stats()
        for counter, n in deltas.items():
            name = self.COUNTERS.get(counter)
            if name and n:
                stats.incr(f"{PREFIX}.{name}", int(n), tags=self.tags)

    def batch_time(self, seconds: float) -> None:
        self._stats().timing(f"{PREFIX}.batch_seconds", dt.timedelta(seconds=seconds), tags=self.tags)

    def pause(self, reason: PauseReason, seconds: float) -> None:
        if seconds > 0:
            self._stats().timing(
                f"{PREFIX}.pause_seconds", dt.timedelta(seconds=seconds), tags=self.tags | {"reason": reason}
            )

    def paused(self, reason: PauseReason, on: bool) -> None:
        """The pause gauge: 1 at every check while ``reason`` holds the job, 0 once it goes on."""
        self._stats().gauge(f"{PREFIX}.paused", 1 if on else 0, tags=self.tags | {"reason": reason})

    def replica_lags(self, lags: dict[str, float | None] | None) -> None:
        """Each watched replica's lag as the last check saw it (a replica that cannot tell sends nothing)."""
        for replica, lag in (lags or {}).items():
            if lag is not None:
                self._stats().gauge(f"{PREFIX}.replica_lag_seconds", lag, tags=self.tags | {"replica": replica})

    def throttled(self, seconds: float) -> None:
        """A wait of the ``max_rows_per_second`` throttle: the job's own choice, no pause."""
        if seconds > 0:
            self._stats().timing(f"{PREFIX}.throttle_seconds", dt.timedelta(seconds=seconds), tags=self.tags)

    def pacing_sleep(self, reason: str, seconds: float) -> None:
        """A sleep of the pacing controller (pacing.py); no pause: kept out of ``pause_seconds``."""
        if seconds > 0:
            self._stats().timing(
                f"{PREFIX}.pacing_sleep_seconds", dt.timedelta(seconds=seconds), tags=self.tags | {"reason": reason}
            )

    def rollback_rows(self, n: int) -> None:
        if n:
            self._stats().incr(f"{PREFIX}.rollback_rows", n, tags=self.tags)
