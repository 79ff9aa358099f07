"""The load options of a spec and a run conf (replicas, lag, load) and the metrics docs/reference.md promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from warm_archive.errors import SpecError
from warm_archive.metrics import METRICS
from warm_archive.replicas import LoadLimits
from warm_archive.spec import WarmSpec, parse_conf

JOB = {
    "id": "orders",
    "source": {"conn_id": "hot", "table": "o"},
    "target": {"conn_id": "warm", "table": "o"},
    "key": ["id"],
}


def spec(**kw) -> WarmSpec:
    return WarmSpec.model_validate({"dag_id": "d", "jobs": [JOB], **kw})


def test_a_spec_without_load_options_waits_for_nothing():
    limits = spec().limits()
    assert limits == LoadLimits() and not limits.active


def test_spec_limits_with_a_run_conf_on_top():
    s = spec(replicas=["r1", "r2"], max_replica_lag_seconds=10, max_threads_running=40)
    assert s.limits() == LoadLimits(("r1", "r2"), 10.0, "pause", 40)
    rc = parse_conf(
        {"replicas": ["r2"], "max_replica_lag_seconds": 3, "on_replica_unreachable": "fail"},
        ["orders"],
        False,
        s.replicas,
    )
    assert s.limits(rc) == LoadLimits(("r2",), 3.0, "fail", 40)


@pytest.mark.parametrize(
    "options,says",
    [
        ({"replicas": ["r1"]}, "replicas and max_replica_lag_seconds go together"),
        ({"max_replica_lag_seconds": 5}, "replicas and max_replica_lag_seconds go together"),
        ({"replicas": ["r1", "r1"], "max_replica_lag_seconds": 5}, "replicas lists a connection twice"),
        ({"replicas": ["r1"], "max_replica_lag_seconds": 0}, "max_replica_lag_seconds"),
        ({"replicas": ["r1"], "max_replica_lag_seconds": "ten"}, "max_replica_lag_seconds"),
        ({"replicas": "r1", "max_replica_lag_seconds": 5}, "replicas"),
        ({"on_replica_unreachable": "ignore"}, "on_replica_unreachable"),
        ({"max_threads_running": 0}, "max_threads_running"),
        ({"max_threads_running": 2.5}, "max_threads_running"),
    ],
)
def test_bad_load_options_in_a_spec_are_refused_by_name(options, says):
    with pytest.raises(ValueError, match=says):
        spec(**options)


@pytest.mark.parametrize(
    "conf,says",
    [
        ({"replicas": ["prod_admin_db"]}, "replicas may only name the spec's replica connections"),
        ({"max_replica_lag_seconds": 5}, "needs replicas"),
        ({"max_threads_running": -1}, "max_threads_running"),
        ({"on_replica_unreachable": "skip"}, "on_replica_unreachable"),
    ],
)
def test_bad_load_options_in_a_run_conf_are_refused_before_any_row_moves(conf, says):
    with pytest.raises(SpecError, match=says):
        parse_conf(conf, ["orders"], False, [])


def test_the_reference_lists_every_metric_a_job_sends():
    reference = (Path(__file__).resolve().parents[2] / "docs" / "reference.md").read_text()
    missing = [name for name in METRICS if f"`{name}`" not in reference]
    assert not missing, missing
