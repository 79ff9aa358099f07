"""A table job's metrics reach a real StatsD listener (a UDP socket in the test) through Airflow's Stats,
with their names, values and tags."""

from __future__ import annotations

import socket
import time

import pytest

from warm_archive.metrics import METRICS, JobMetrics


@pytest.fixture
def statsd(monkeypatch):
    """A UDP socket that Airflow's StatsD client sends to; yields a function returning the lines so far."""
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    for key, value in {
        "STATSD_ON": "True",
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(sock.getsockname()[1]),
        "STATSD_PREFIX": "airflow",
        "STATSD_INFLUXDB_ENABLED": "True",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    lines: list[str] = []

    def received(wanted: int) -> list[str]:
        deadline = time.monotonic() + 5
        while len(lines) < wanted and time.monotonic() < deadline:
            try:
                lines.extend(sock.recv(65535).decode().splitlines())
            except TimeoutError:
                pass
        return lines

    yield received
    monkeypatch.delenv("AIRFLOW__METRICS__STATSD_ON")
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)  # back to no metrics
    sock.close()


def parse(line: str) -> tuple[str, dict, float, str]:
    """``airflow.name,tag=v,...:value|type`` (StatsD with InfluxDB-style tags)."""
    head, rest = line.split(":", 1)
    name, *tags = head.split(",")
    value, kind = rest.split("|")[:2]
    return name, dict(t.split("=", 1) for t in tags), float(value), kind


def test_job_metrics_reach_statsd_with_names_values_and_tags(statsd):
    m = JobMetrics("warm_orders", "orders", "public.orders")
    m.rows(copied=700, deleted=650, kept_changed=50, skipped=3)
    m.batch(0.25)
    m.pause("replica_lag", 1.5)
    m.pause("throttle", 0.0)  # nothing waited: nothing sent
    m.rollback_rows(700)
    got = [parse(x) for x in statsd(8)]
    tags = {"dag_id": "warm_orders", "task_id": "orders", "table": "public.orders"}
    by_name = {(n, t.get("reason")): (v, k) for n, t, v, k in got}
    assert by_name == {
        ("airflow.warm_archive.rows_copied", None): (700, "c"),
        ("airflow.warm_archive.rows_deleted", None): (650, "c"),
        ("airflow.warm_archive.rows_kept_changed", None): (50, "c"),
        ("airflow.warm_archive.rows_skipped", None): (3, "c"),
        ("airflow.warm_archive.batches", None): (1, "c"),
        ("airflow.warm_archive.batch_seconds", None): (250, "ms"),
        ("airflow.warm_archive.pause_seconds", "replica_lag"): (1500, "ms"),
        ("airflow.warm_archive.rollback_rows", None): (700, "c"),
    }
    assert all({k: t[k] for k in tags} == tags for _, t, _, _ in got)
    assert {n.removeprefix("airflow.") for n, _, _, _ in got} == set(METRICS)
