"""Pacing on the source's load (pacing.py, load_probe.py) against real servers: once the job has
taken its baseline, sessions that keep statements running on the source raise a load signal the
server itself reports (PostgreSQL's active sessions, MariaDB's ``Threads_running``); the job then
sleeps between batches and says so in ``warm_status.pacing`` and the ``pacing_sleep_seconds``
metric, tagged with the reason. With ``pacing: off`` the same load leaves it at full speed.
Asserts the mechanism, not timings."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from tests.dbs import my, pg
from tests.engine.conftest import Pair
from tests.engine.conftest import parse_statsd as parse
from warm_archive.engine import TableJob
from warm_archive.load_probe import EXTRA_RUNNING, LoadProbe
from warm_archive.replicas import LoadLimits

pytestmark = pytest.mark.timeout(180)

HOGS = EXTRA_RUNNING + 3  # statements running beyond the baseline's limit


@pytest.fixture(params=[("pg", "pg"), ("my", "my")], ids=lambda p: f"{p[0]}->{p[1]}")
def same_server(request, engines):
    s, w = request.param
    return Pair(engines[s], engines[w]).reset(n=3000)


@contextmanager
def busy_source(kind: str):
    """``HOGS`` sessions each running one long statement on the source, cancelled at the end."""
    conns = [pg() if kind == "pg" else my() for _ in range(HOGS)]
    ids = [None if kind == "pg" else c.thread_id() for c in conns]
    sql = "SELECT pg_sleep(60)" if kind == "pg" else "SELECT SLEEP(60)"
    threads = []
    for c in conns:

        def hold(c=c):
            try:
                c.cursor().execute(sql)
            except Exception:
                pass  # cancelled

        t = threading.Thread(target=hold, daemon=True)
        t.start()
        threads.append(t)
    killer = pg() if kind == "pg" else my()
    try:
        probe_running = 0
        for _ in range(100):  # until the server counts them
            if kind == "pg":
                probe_running = killer.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%%'"
                ).fetchone()[0]
            else:
                cur = killer.cursor()
                cur.execute("SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%%'")
                probe_running = cur.fetchone()[0]
            if probe_running >= HOGS:
                break
            threading.Event().wait(0.05)
        assert probe_running >= HOGS
        yield
    finally:
        for c, thread_id in zip(conns, ids, strict=True):
            if kind == "pg":
                c.cancel()
            else:
                killer.cursor().execute("KILL QUERY %s", (thread_id,))
        for t in threads:
            t.join(10)
        for c in conns + [killer]:
            c.close()


def run_under_load(pair: Pair, pacing: str) -> dict:
    params = pair.params(batch_size=150, limits=LoadLimits(pacing=pacing))  # ~13 batches and slices
    with TableJob(params) as job:
        job.prepare()  # the baseline: taken now, before the load
        with busy_source(pair.src.kind):
            status = job.run()
    assert status["state"] == "success"
    assert status["rows_deleted"] == len(pair.expected_archived)
    return status


def test_the_job_slows_down_while_the_source_is_loaded(same_server, statsd):
    status = run_under_load(same_server, "auto")
    pacing = status["pacing"]
    assert pacing["mode"] == "auto"
    assert pacing["slept_by_reason"].get("statements_running", 0) > 0, pacing
    assert pacing["sleep_ratio"] > 0 and pacing["duty_cycle_pct"] < 100
    assert any("statements running on the source" in w for w in pacing["why"]), pacing
    assert pacing["baseline"]["running"] is not None and pacing["running"] >= pacing["baseline"]["running"] + HOGS
    assert status["paused_s"] == 0  # pacing sleeps are no pause of the load limits
    sleeps = [parse(x) for x in statsd()]
    paced = [(t["reason"], v) for n, t, v, _ in sleeps if n == "airflow.warm_archive.pacing_sleep_seconds"]
    assert paced and {r for r, _ in paced} >= {"statements_running"}
    assert not [n for n, *_ in sleeps if n == "airflow.warm_archive.pause_seconds"]


def test_with_pacing_off_the_same_load_does_not_slow_the_job(same_server, statsd):
    status = run_under_load(same_server, "off")
    assert status["pacing"] == {"mode": "off"}
    assert not [x for x in statsd() if "pacing_sleep_seconds" in x]


def test_the_probe_reads_the_servers_own_figures(engines):
    from warm_archive.connections import connect

    for kind in ("pg", "my"):
        Pair(engines[kind], engines[kind]).reset(n=50)
        probe = LoadProbe.open(connect, engines[kind].conn_id, "t_src.orders", ["id"], 3.0)
        assert probe is not None
        s = probe.sample()
        assert s.read_ms is not None and s.read_ms > 0 and s.running is not None
        if kind == "pg":  # a commit that flushes the WAL, and the sessions waiting on it
            assert s.commit_ms is not None and s.wal_waits is not None
        assert probe.stressed(s) == [] or all(r in {"probe_latency", "commit_latency"} for r, _ in probe.stressed(s))
        probe.close()
