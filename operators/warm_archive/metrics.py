"""A table job's metrics, sent through Airflow's own Stats (StatsD, Datadog or OpenTelemetry, as Airflow is configured).

Operators watch archiving in the dashboards they already have: the names are fixed, and the
DAG, task and table travel as tags (StatsD needs ``[metrics] statsd_influxdb_enabled`` or Datadog
to carry tags), the way Airflow 3 names its own modern metrics.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

PREFIX = "warm_archive"

# name -> (kind, what it counts); the README's metrics table is this one.
METRICS: dict[str, tuple[str, str]] = {
    f"{PREFIX}.rows_copied": ("counter", "rows written into the warm table"),
    f"{PREFIX}.rows_deleted": ("counter", "source rows deleted after their copy was verified"),
    f"{PREFIX}.rows_kept_changed": ("counter", "source rows kept because they changed since their copy"),
    f"{PREFIX}.rows_skipped": ("counter", "rows already in the warm table (on_conflict: skip)"),
    f"{PREFIX}.batches": ("counter", "batches committed"),
    f"{PREFIX}.batch_seconds": ("timer", "time of one batch, read to commit"),
    f"{PREFIX}.pause_seconds": ("timer", "time waited between batches, tagged reason=replica_lag|load|throttle"),
    f"{PREFIX}.rollback_rows": ("counter", "warm rows removed and source rows restored by a rollback"),
}

PauseReason = Literal["replica_lag", "load", "throttle"]


class JobMetrics:
    """The metrics of one table job, tagged with its DAG, task and source table."""

    def __init__(self, dag_id: str, task_id: str, table: str) -> None:
        self.tags = {"dag_id": dag_id, "task_id": task_id, "table": table}

    @staticmethod
    def _stats():
        from airflow.sdk.observability import stats  # Airflow's configured backend, set up by the task runner

        return stats

    def rows(self, *, copied: int = 0, deleted: int = 0, kept_changed: int = 0, skipped: int = 0) -> None:
        stats = self._stats()
        for name, n in (
            ("rows_copied", copied),
            ("rows_deleted", deleted),
            ("rows_kept_changed", kept_changed),
            ("rows_skipped", skipped),
        ):
            if n:
                stats.incr(f"{PREFIX}.{name}", n, tags=self.tags)

    def batch(self, seconds: float) -> None:
        stats = self._stats()
        stats.incr(f"{PREFIX}.batches", 1, tags=self.tags)
        stats.timing(f"{PREFIX}.batch_seconds", dt.timedelta(seconds=seconds), tags=self.tags)

    def pause(self, reason: PauseReason, seconds: float) -> None:
        if seconds > 0:
            self._stats().timing(
                f"{PREFIX}.pause_seconds", dt.timedelta(seconds=seconds), tags=self.tags | {"reason": reason}
            )

    def rollback_rows(self, n: int) -> None:
        if n:
            self._stats().incr(f"{PREFIX}.rollback_rows", n, tags=self.tags)
