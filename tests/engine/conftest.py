"""Engine fixtures: a fresh source table and empty warm side on each engine for every test."""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pytest

from tests.dbs import Engine
from warm_archive.engine import JobParams, TableJob

ROOT_DIR = Path(__file__).resolve().parents[2]
WHERE = "created_at < '2025-01-01'"
SRC, WARM = "t_src.orders", "t_warm.orders"
# pg->pg and my->my: one database (INSERT ... SELECT, server-side verification);
# pg->pg2 and my->my2: the same engine over two connections; then the cross-engine pairs.
PAIRS = [("pg", "pg"), ("my", "my"), ("pg", "pg2"), ("my", "my2"), ("my", "pg"), ("pg", "my")]
_runs = itertools.count(1)


@pytest.fixture(scope="session")
def engines():
    e = {k: Engine(k) for k in ("pg", "my", "pg2", "my2", "myload")}
    yield e
    for x in e.values():
        x.close()


class Pair:
    def __init__(self, src: Engine, warm: Engine):
        self.src, self.warm = src, warm

    def reset(self, n: int = 3000):
        self.src.alive(), self.warm.alive()
        for e in {self.src.kind: self.src, self.warm.kind: self.warm}.values():
            e.schema("t_warm")
            e.drop(WARM)
            e.clear_ledger()
        self.src.create_orders(SRC, n)
        return self.reset_expected()

    def reset_expected(self):
        """Take the source as it is now as the starting point (after a test changed it)."""
        self.before_src = self.src.rows(SRC)
        self.expected_archived = {k: v for k, v in self.before_src.items() if v[1] < _cutoff()}
        return self

    def params(self, strategy="copy_then_delete", run_id=None, **kw) -> JobParams:
        return JobParams(
            dag_id="warm_test",
            run_id=run_id or f"run_{next(_runs)}",
            task_id="orders",
            source_conn_id=self.src.conn_id,
            source_table=SRC,
            target_conn_id=self.warm.conn_id,
            target_table=WARM,
            key=["id"],
            where=kw.pop("where", WHERE),
            strategy=strategy,
            batch_size=kw.pop("batch_size", 700),
            **kw,
        )

    def run(self, strategy="copy_then_delete", run_id=None, **kw) -> dict:
        with TableJob(self.params(strategy, run_id, **kw)) as job:
            return job.run()

    def warm_exists(self) -> bool:
        return bool(
            self.warm.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 't_warm' AND table_name = 'orders'"
            ).fetchone()[0]
        )

    def src_rows(self):
        return self.src.rows(SRC)

    def warm_rows(self):
        return self.warm.rows(WARM)


def _cutoff():
    from tests.dbs import CUTOFF

    return CUTOFF


@pytest.fixture(params=PAIRS, ids=lambda p: f"{p[0]}->{p[1]}")
def pair(request, engines):
    s, w = request.param
    return Pair(engines[s], engines[w]).reset()


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

    def received(wanted: int | None = None) -> list[str]:
        """The lines so far, after ``wanted`` of them arrived (None: once 0.5 s pass without one)."""
        deadline, quiet_since = time.monotonic() + 5, time.monotonic()
        while time.monotonic() < deadline and (len(lines) < wanted if wanted is not None else True):
            try:
                lines.extend(sock.recv(65535).decode().splitlines())
                quiet_since = time.monotonic()
            except TimeoutError:
                if wanted is None and time.monotonic() - quiet_since > 0.5:
                    break
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


def parse_statsd(line: str) -> tuple[str, dict, float, str]:
    """``airflow.name,tag=v,...:value|type`` (StatsD with InfluxDB-style tags)."""
    head, rest = line.split(":", 1)
    name, *tags = head.split(",")
    value, kind = rest.split("|")[:2]
    return name, dict(t.split("=", 1) for t in tags), float(value), kind
