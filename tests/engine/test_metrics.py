"""A table job's metrics reach a real StatsD listener (a UDP socket in the test) through Airflow's Stats,
with their names, values and tags: sent one by one, and sent by a real job on each engine pair."""

from __future__ import annotations

import pytest

from tests.engine.conftest import parse_statsd as parse
from warm_archive.engine import TableJob
from warm_archive.metrics import METRICS, JobMetrics
from warm_archive.replicas import LoadLimits


def test_job_metrics_reach_statsd_with_names_values_and_tags(statsd):
    m = JobMetrics("warm_orders", "orders", "public.orders")
    m.counted({"rows_copied": 700, "rows_deleted": 650, "rows_changed": 50, "rows_skipped": 3, "batches": 1})
    m.counted({"paused_s": 2.0})  # not a metric of its own: pauses go out as pause_seconds
    m.batch_time(0.25)
    m.pause("replica_lag", 1.5)
    m.pause("load", 0.0)  # nothing waited: nothing sent
    m.paused("replica_lag", True)
    m.replica_lags({"hot_replica": 4.25, "unknown_replica": None})  # a replica that cannot tell: nothing
    m.throttled(0.5)  # the throttle: no pause
    m.pacing_sleep("wal_waits", 0.75)  # the pacing controller's sleeps: apart from the pauses
    m.rollback_rows(700)
    got = [parse(x) for x in statsd(12)]
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
        ("airflow.warm_archive.paused", "replica_lag"): (1, "g"),
        ("airflow.warm_archive.replica_lag_seconds", None): (4.25, "g"),
        ("airflow.warm_archive.throttle_seconds", None): (500, "ms"),
        ("airflow.warm_archive.pacing_sleep_seconds", "wal_waits"): (750, "ms"),
        ("airflow.warm_archive.rollback_rows", None): (700, "c"),
    }
    assert all({k: t[k] for k in tags} == tags for _, t, _, _ in got)
    assert {n.removeprefix("airflow.") for n, _, _, _ in got} == set(METRICS)


def _sums(lines: list[str]) -> dict[tuple[str, str | None], tuple[float, int]]:
    """(metric, reason tag) -> (sum of values, number of lines), without the ``airflow.`` prefix."""
    out: dict[tuple[str, str | None], tuple[float, int]] = {}
    for name, tags, value, _ in (parse(x) for x in lines):
        k = (name.removeprefix("airflow."), tags.get("reason"))
        total, n = out.get(k, (0.0, 0))
        out[k] = (total + value, n + 1)
    return out


@pytest.mark.parametrize("strategy", ["copy_then_delete", "move"])
def test_a_throttled_job_and_its_rollback_send_what_they_did(pair, statsd, strategy):
    archived = len(pair.expected_archived)
    rate = archived / 1.5  # about 1.5 s of copying: the throttle must pause
    # Pacing off: its sleeps count as elapsed time for the throttle, which would then pause less.
    params = pair.params(
        strategy, run_id="m", batch_size=400, max_rows_per_second=rate, limits=LoadLimits(pacing="off")
    )
    with TableJob(params) as job:
        status = job.run()
    with TableJob(pair.params(strategy, run_id="m")) as job:
        job.prepare(create_target=False)
        job.rollback()
    batches = -(-archived // 400)
    got = _sums(statsd())
    tags = {"dag_id": "warm_test", "task_id": "orders", "table": "t_src.orders"}
    assert all({k: t.get(k) for k in tags} == tags for _, t, _, _ in (parse(x) for x in statsd(0)))
    assert got[("warm_archive.rows_copied", None)][0] == archived == status["rows_copied"]
    assert got[("warm_archive.rows_deleted", None)][0] == archived
    assert got[("warm_archive.batches", None)][0] == batches
    assert got[("warm_archive.batch_seconds", None)][1] == batches  # one timing per batch
    assert got[("warm_archive.rollback_rows", None)][0] == archived
    throttled_ms = got[("warm_archive.throttle_seconds", None)][0]
    assert throttled_ms >= 500 and abs(throttled_ms / 1000 - status["throttled_s"]) < 0.2, (throttled_ms, status)
    # the throttle is the job's own choice, not a pause: no pause metric, no paused_s
    assert not [k for k in got if k[0] in ("warm_archive.pause_seconds", "warm_archive.paused")], got
    assert status["paused_s"] == 0, status
    assert ("warm_archive.rows_skipped", None) not in got and ("warm_archive.rows_kept_changed", None) not in got
