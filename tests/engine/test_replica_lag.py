"""Replica lag and server load, read from real replicated servers (tests/replication.py): a MariaDB
replica behind a stopped SQL thread or ``MASTER_DELAY``, a PostgreSQL standby behind
``recovery_min_apply_delay``; the guard waits while a limit is exceeded and never ignores a replica
that cannot vouch for its lag."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.engine.conftest import parse_statsd
from tests.replication import MariaDBPair, PostgresPair
from warm_archive.connections import connect
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import Terminated, WarmArchiveError
from warm_archive.replicas import LoadGuard, LoadLimits, NotReplicating, replica_lag

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def my_pair():
    pair = MariaDBPair().start()
    yield pair
    pair.stop()


@pytest.fixture(scope="module")
def pg_pair():
    pair = PostgresPair(apply_delay_s=4).start()
    yield pair
    pair.stop()


@pytest.fixture(autouse=True)
def conns(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_R_MY_PRIMARY", "mysql://root@127.0.0.1:3317/mysql")
    monkeypatch.setenv("AIRFLOW_CONN_R_MY_REPLICA", "mysql://root@127.0.0.1:3318/mysql")
    monkeypatch.setenv("AIRFLOW_CONN_R_PG_PRIMARY", "postgresql://postgres@127.0.0.1:5442/postgres")
    monkeypatch.setenv("AIRFLOW_CONN_R_PG_STANDBY", "postgresql://postgres@127.0.0.1:5443/postgres")
    monkeypatch.setenv("AIRFLOW_CONN_R_NOWHERE", "postgresql://postgres@127.0.0.1:5449/postgres")


def no_stop() -> None:
    pass


class Recorder:
    def __init__(self):
        self.calls: list[tuple[float, str, dict]] = []

    def __call__(self, phase: str, detail: dict) -> None:
        self.calls.append((time.monotonic(), phase, detail))

    def phases(self) -> list[str]:
        return [c[1] for c in self.calls]


def later(seconds: float, fn) -> threading.Timer:
    t = threading.Timer(seconds, fn)
    t.start()
    return t


def test_caught_up_replicas_report_no_lag_and_the_guard_does_not_wait(my_pair, pg_pair):
    for conn_id in ("r_my_replica", "r_pg_standby"):
        s = connect(conn_id)
        assert replica_lag(s.conn, s.name) == 0.0, conn_id
        s.conn.close()
    guard = LoadGuard(LoadLimits(("r_my_replica", "r_pg_standby"), 5), connect)
    rec = Recorder()
    assert guard.wait(no_stop, rec) == {}
    assert rec.phases() == [None]
    assert rec.calls[0][2]["replica_lag_s"] == {"r_my_replica": 0.0, "r_pg_standby": 0.0}
    guard.close()


def test_a_primary_is_no_replica(my_pair, pg_pair):
    for conn_id in ("r_my_primary", "r_pg_primary"):
        s = connect(conn_id)
        with pytest.raises(NotReplicating):
            replica_lag(s.conn, s.name)
        s.conn.close()


def test_mariadb_replica_with_a_stopped_sql_thread_pauses_the_job_until_it_runs_again(my_pair):
    my_pair.replica_sql("STOP SLAVE SQL_THREAD")
    restart = later(3.0, lambda: my_pair.replica_sql("START SLAVE SQL_THREAD"))
    guard = LoadGuard(LoadLimits(("r_my_replica",), 5), connect)
    rec = Recorder()
    try:
        waited = sum(guard.wait(no_stop, rec, poll_s=0.3).values())
    finally:
        restart.join()
        guard.close()
    assert waited >= 2.5
    assert rec.phases()[0] == "waiting for replica" and rec.phases()[-1] is None
    assert "SQL thread No" in rec.calls[0][2]["waiting_because"][0]
    assert rec.calls[0][2]["replica_lag_s"] == {"r_my_replica": None}


def test_mariadb_replica_that_cannot_vouch_fails_the_job_when_the_spec_says_fail(my_pair):
    my_pair.replica_sql("STOP SLAVE SQL_THREAD")
    try:
        guard = LoadGuard(LoadLimits(("r_my_replica",), 5, on_replica_unreachable="fail"), connect)
        with pytest.raises(WarmArchiveError, match="replica 'r_my_replica' cannot vouch for its lag"):
            guard.wait(no_stop, Recorder())
    finally:
        my_pair.replica_sql("START SLAVE SQL_THREAD")


def test_mariadb_delayed_replica_shows_its_lag_and_the_guard_waits_it_out(my_pair):
    my_pair.replica_sql("STOP SLAVE")
    my_pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 4")
    my_pair.replica_sql("START SLAVE")
    try:
        p = my_pair.connect("primary")
        p.cursor().execute("CREATE DATABASE IF NOT EXISTS lagdb")
        p.cursor().execute("CREATE TABLE IF NOT EXISTS lagdb.t (id int primary key, v int)")
        for i in range(3):
            p.cursor().execute("REPLACE INTO lagdb.t VALUES (%s, %s)", (i, i))
            time.sleep(1.2)
        p.close()
        guard = LoadGuard(LoadLimits(("r_my_replica",), 1), connect)
        rec = Recorder()
        waited = sum(guard.wait(no_stop, rec, poll_s=0.3).values())
        guard.close()
        assert waited > 0.5, rec.calls
        lags = [c[2]["replica_lag_s"]["r_my_replica"] for c in rec.calls if c[1] == "waiting for replica"]
        assert lags and max(lags) > 1, rec.calls
        assert rec.calls[-1][1] is None and rec.calls[-1][2]["replica_lag_s"]["r_my_replica"] <= 1
    finally:
        my_pair.replica_sql("STOP SLAVE")
        my_pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 0")
        my_pair.replica_sql("START SLAVE")


def test_postgres_standby_behind_its_apply_delay_pauses_the_job(pg_pair):
    guard = LoadGuard(LoadLimits(("r_pg_standby",), 1), connect)
    p = pg_pair.connect("primary")
    p.execute("CREATE TABLE IF NOT EXISTS lag_t (id int PRIMARY KEY, v int)")
    time.sleep(0.5)
    # Nothing replayed yet that dates the lag: the standby is behind by an unknown amount, and waits.
    first = Recorder()
    assert sum(guard.wait(no_stop, first, poll_s=0.3).values()) >= 2.0, first.calls
    assert first.calls[0][2]["replica_lag_s"] == {"r_pg_standby": None}
    assert "behind by more than it can date yet" in first.calls[0][2]["waiting_because"][0]
    for i in range(3):
        p.execute("INSERT INTO lag_t VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v + 1", (i, i))
        time.sleep(0.8)
    p.close()
    rec = Recorder()
    waited = sum(guard.wait(no_stop, rec, poll_s=0.3).values())
    guard.close()
    assert waited >= 1.0, rec.calls
    assert rec.phases()[0] == "waiting for replica" and rec.phases()[-1] is None
    lags = [c[2]["replica_lag_s"]["r_pg_standby"] for c in rec.calls if c[1] == "waiting for replica"]
    assert all(lag is not None for lag in lags) and max(lags) > 1, lags
    assert rec.calls[-1][2]["replica_lag_s"]["r_pg_standby"] <= 1


def test_an_unreachable_replica_pauses_and_a_stop_still_ends_the_wait(pg_pair):
    guard = LoadGuard(LoadLimits(("r_nowhere",), 5), connect)
    rec = Recorder()
    stop = threading.Event()
    later(2.0, stop.set)

    def check_stop():
        if stop.is_set():
            raise Terminated("stopped")

    t0 = time.monotonic()
    with pytest.raises(Terminated):
        guard.wait(check_stop, rec, poll_s=0.3)
    assert time.monotonic() - t0 < 5
    assert rec.phases() and set(rec.phases()) == {"waiting for replica"}
    assert "r_nowhere cannot vouch for its lag" in rec.calls[0][2]["waiting_because"][0]


@pytest.mark.parametrize("conn_id,sleep", [("r_my_primary", "SELECT SLEEP(3)"), ("r_pg_primary", "SELECT pg_sleep(3)")])
def test_the_guard_waits_while_too_many_statements_run_on_the_source(my_pair, pg_pair, conn_id, sleep):
    source = connect(conn_id)
    others = [connect(conn_id) for _ in range(3)]
    runners = [threading.Thread(target=lambda s=s: s.conn.cursor().execute(sleep)) for s in others]
    for r in runners:
        r.start()
    time.sleep(0.5)
    guard = LoadGuard(LoadLimits(max_threads_running=2), connect, source_conn_id=conn_id)
    rec = Recorder()
    waited = sum(guard.wait(no_stop, rec, poll_s=0.3).values())
    for r in runners:
        r.join()
    for s in [source, *others]:
        s.conn.close()
    assert waited >= 1.5, rec.calls
    assert rec.phases()[0] == "waiting for load" and rec.calls[0][2]["threads_running"] >= 4
    assert rec.calls[-1][1] is None


# -- a whole table job on the replicated primary ---------------------------------------------


def _orders(cur, table: str, n: int, placeholder: str) -> None:
    cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, created_at date NOT NULL, note varchar(40))")
    rows = [(i, "2024-03-01" if i % 3 else "2026-03-01", f"order {i}") for i in range(1, n + 1)]
    cur.executemany(f"INSERT INTO {table} VALUES ({placeholder}, {placeholder}, {placeholder})", rows)


def _job(conn_id: str, replica: str, run_id: str, **kw) -> TableJob:
    return TableJob(
        JobParams(
            dag_id="warm_lag",
            run_id=run_id,
            task_id="orders",
            source_conn_id=conn_id,
            source_table="lagjob.orders",
            target_conn_id=conn_id,
            target_table="lagwarm.orders",
            key=["id"],
            where="created_at < '2025-01-01'",
            batch_size=kw.pop("batch_size", 200),
            limits=LoadLimits((replica,), kw.pop("max_lag", 5)),
            **kw,
        )
    )


class Watch:
    """Samples a running job's warm_status, as the page's 3-second refresh would (faster)."""

    def __init__(self, job: TableJob):
        self.job, self.seen, self.result, self.error = job, [], None, None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with self.job:
                self.result = self.job.run()
        except Exception as e:  # noqa: BLE001 - the test asserts on it
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def sample_until(self, cond, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.job.progress.as_dict()
            self.seen.append(status)
            if cond(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"not seen within {timeout} s; last warm_status: {self.seen[-1]}")

    def __exit__(self, *exc):
        self.thread.join(120)


def test_a_job_waits_while_its_mariadb_replica_stands_still_and_finishes_exact_after(my_pair, statsd, caplog):
    caplog.set_level(logging.INFO, logger="warm_archive.pacing")
    p = my_pair.connect("primary")
    cur = p.cursor()
    for db in ("lagjob", "lagwarm"):
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
    _orders(cur, "lagjob.orders", 1500, "%s")
    cur.execute("SELECT id, created_at, note FROM lagjob.orders WHERE created_at < '2025-01-01' ORDER BY id")
    expected = cur.fetchall()
    my_pair.replica_sql("STOP SLAVE SQL_THREAD")
    restarted = False
    try:
        with Watch(_job("r_my_primary", "r_my_replica", "stalled")) as w:
            waiting = w.sample_until(lambda s: s["phase"] == "waiting for replica")
            time.sleep(2.5)
            held = w.job.progress.as_dict()
            my_pair.replica_sql("START SLAVE SQL_THREAD")
            restarted = True
        assert w.error is None, w.error
    finally:
        if not restarted:
            my_pair.replica_sql("START SLAVE SQL_THREAD")
    assert waiting["replica_lag_s"] == {"r_my_replica": None}
    assert "r_my_replica cannot vouch for its lag" in waiting["waiting_because"][0]
    assert held["phase"] == "waiting for replica" and held["rows_copied"] == 0  # the first batch waits too
    # the pause shows while it lasts: paused_s grows during it (it used to arrive only at its end)
    assert held["paused_s"] >= 1.5, held["paused_s"]
    done = w.result
    assert done["state"] == "success" and done["phase"] == "done" and done["waiting_because"] == []
    assert done["paused_s"] >= 2.5 and done["replica_lag_s"] == {"r_my_replica": 0.0}
    cur.execute("SELECT id, created_at, note FROM lagwarm.orders ORDER BY id")
    assert cur.fetchall() == expected
    cur.execute("SELECT COUNT(*) FROM lagjob.orders WHERE created_at < '2025-01-01'")
    assert cur.fetchone()[0] == 0
    p.close()
    pauses = [parse_statsd(x) for x in statsd()]
    lag_ms = sum(v for name, tags, v, _ in pauses if name.endswith("pause_seconds") and tags["reason"] == "replica_lag")
    assert abs(lag_ms / 1000 - done["paused_s"]) < 0.3, (lag_ms, done["paused_s"])
    # while paused, a gauge every second (1), then 0 once the job goes on; the lag gauge once it can tell
    gauge = [
        v for name, tags, v, _ in pauses if name.endswith("warm_archive.paused") and tags["reason"] == "replica_lag"
    ]
    assert gauge.count(1) >= 2 and gauge[-1] == 0, gauge
    lags = [(tags["replica"], v) for name, tags, v, _ in pauses if name.endswith("replica_lag_seconds")]
    assert ("r_my_replica", 0.0) in lags, lags
    # and the task log says when the pause started and ended, with why
    said = [r.getMessage() for r in caplog.records if r.name == "warm_archive.pacing"]
    assert any(
        m.startswith("pausing (replica_lag): ") and "r_my_replica cannot vouch for its lag" in m for m in said
    ), said
    assert any(m.startswith("going on after a ") and "r_my_replica lag 0.0 s" in m for m in said), said


def test_a_job_on_a_postgres_primary_waits_for_its_delayed_standby_batch_by_batch(pg_pair):
    p = pg_pair.connect("primary")
    for schema in ("lagjob", "lagwarm"):
        p.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        p.execute(f"CREATE SCHEMA {schema}")
    with p.cursor() as cur:
        _orders(cur, "lagjob.orders", 600, "%s")
    expected = p.execute("SELECT * FROM lagjob.orders WHERE created_at < '2025-01-01' ORDER BY id").fetchall()
    time.sleep(5)  # the standby replays the setup (its apply delay is 4 s)
    with Watch(
        _job("r_pg_primary", "r_pg_standby", "delayed", batch_size=150, max_lag=1, max_rows_per_second=100.0)
    ) as w:
        w.sample_until(lambda s: s["state"] != "running" or w.error is not None, timeout=90)
    assert w.error is None, w.error
    waits = [s for s in w.seen if s["phase"] == "waiting for replica"]
    assert waits, "the job never waited for its standby"
    lags = [s["replica_lag_s"]["r_pg_standby"] for s in waits]
    assert any(lag is not None and lag > 1 for lag in lags), lags  # warm_status shows the lag it waits out
    copied_while_waiting = {s["rows_copied"] for s in waits}
    assert len(copied_while_waiting) >= 2, copied_while_waiting  # it waited between batches, not only before
    assert w.result["paused_s"] >= 3
    assert p.execute("SELECT * FROM lagwarm.orders ORDER BY id").fetchall() == expected
    assert p.execute("SELECT COUNT(*) FROM lagjob.orders WHERE created_at < '2025-01-01'").fetchone()[0] == 0
    p.close()
