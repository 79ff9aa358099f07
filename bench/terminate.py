"""Terminate latency: from the monitor's Terminate to the job's last commit, on PostgreSQL and MariaDB.

A real deployment (PostgreSQL metadata DB, LocalExecutor, scheduler, api-server) runs a throttled
``move`` of a 200,000-row table; the bench terminates it through the Warm Tasks API at a random
moment 0.5-4 s after its first commit, then watches the ledger every 20 ms until the job's rows stop
changing. Reported per engine and per stop mechanism, over ``--terminates`` terminates each:

* the time from the terminate request, and from its answer (when the run is failed in Airflow and
  the job can learn of it), to the last batch committed after it (p50, p95);
* the batches committed after the request and after its answer (at 10 batches a second, every
  batch a job commits before it learns of the terminate counts here).

The baseline, measured in the same invocation, is Airflow's own mechanism alone: the worker's
supervisor notices the terminate at its next heartbeat and kills the task
(``[warm_archive] stop_poll_seconds = 0``); the product polls its task instance's state through the
task SDK every 0.5 s.

    .venv/bin/python -m bench.terminate [--terminates 20] [--rows 200000]     (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests

from bench.deployment import Deployment
from bench.processes import AIRFLOW, Proc, wait_for

META_DB = "wa_term_bench_meta"
PORT = 28095
RATE = 20000  # rows/s: a run lasts ~10 s, so every terminate lands mid-copy
BATCH = 2000
TARGET_P95_S = 1.0  # the job learns within a second of the terminate (its answer) and commits at most
# the batch in flight then


def _spec(dag_id: str, conn: str, src: str, warm: str) -> str:
    return (
        f"dag_id: {dag_id}\nstrategy: move\nschedule: null\nbatch_size: {BATCH}\nmax_rows_per_second: {RATE}\n"
        f"retries: 0\njobs:\n  - id: orders\n    source: {{conn_id: {conn}, table: {src}}}\n"
        f"    target: {{conn_id: {conn}, table: {warm}}}\n    key: [id]\n    where: \"created_at < '2030-01-01'\"\n"
    )


class PgSide:
    name = "PG->PG"
    dag_id = "term_pg"

    def __init__(self, rows: int):
        import psycopg

        self.rows = rows
        with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'wa_term'").fetchone():
                c.execute("CREATE DATABASE wa_term")
        self.c = psycopg.connect("host=127.0.0.1 user=root dbname=wa_term", autocommit=True)

    def reset(self) -> None:
        c = self.c
        c.execute("CREATE SCHEMA IF NOT EXISTS src; CREATE SCHEMA IF NOT EXISTS warm")
        c.execute("DROP TABLE IF EXISTS src.orders, warm.orders")
        c.execute("CREATE TABLE src.orders (id bigint PRIMARY KEY, created_at timestamp NOT NULL, note text)")
        c.execute(
            "INSERT INTO src.orders SELECT g, timestamp '2020-01-01' + g * interval '1 minute', repeat('x', 80) "
            "FROM generate_series(1, %s) g",
            (self.rows,),
        )
        if c.execute("SELECT to_regclass('warm_archive_ledger')").fetchone()[0]:
            c.execute("DELETE FROM warm_archive_ledger WHERE dag_id = %s", (self.dag_id,))

    def batches(self, run_id: str) -> int:
        if not self.c.execute("SELECT to_regclass('warm_archive_ledger')").fetchone()[0]:
            return 0
        return self.c.execute(
            "SELECT count(*) FROM warm_archive_ledger WHERE dag_id = %s AND run_id = %s AND batch_no > 0",
            (self.dag_id, run_id),
        ).fetchone()[0]


LEDGER_DB = "wa_term_warm"  # MariaDB: the ledger sits in the warm table's database (ledger.ledger_database)


class MySide:
    name = "MariaDB->MariaDB"
    dag_id = "term_my"

    def __init__(self, rows: int):
        import MySQLdb

        self.rows = rows
        c = MySQLdb.connect(host="127.0.0.1", user="root", passwd="", autocommit=True)
        c.cursor().execute("CREATE DATABASE IF NOT EXISTS wa_term_src")
        c.cursor().execute("CREATE DATABASE IF NOT EXISTS wa_term_warm")
        c.close()
        self.c = MySQLdb.connect(host="127.0.0.1", user="root", passwd="", db="wa_term_src", autocommit=True)

    def reset(self) -> None:
        cur = self.c.cursor()
        cur.execute("DROP TABLE IF EXISTS wa_term_src.orders, wa_term_warm.orders")
        cur.execute("CREATE TABLE wa_term_src.orders (id bigint PRIMARY KEY, created_at datetime NOT NULL, note text)")
        cur.execute(
            "INSERT INTO wa_term_src.orders SELECT seq, '2020-01-01' + INTERVAL seq MINUTE, REPEAT('x', 80) "
            f"FROM seq_1_to_{int(self.rows)}"
        )
        # The ledger is beside the warm table (wa_term_warm); an older version kept it in the
        # connection's default database (wa_term_src), where its rows would make a job refuse.
        for db in (LEDGER_DB, "wa_term_src"):
            cur.execute(f"SHOW TABLES FROM {db} LIKE 'warm_archive_ledger'")
            if cur.fetchone():
                cur.execute(f"DELETE FROM {db}.warm_archive_ledger WHERE dag_id = %s", (self.dag_id,))

    def batches(self, run_id: str) -> int:
        cur = self.c.cursor()
        cur.execute(f"SHOW TABLES FROM {LEDGER_DB} LIKE 'warm_archive_ledger'")
        if not cur.fetchone():
            return 0
        cur.execute(
            f"SELECT count(*) FROM {LEDGER_DB}.warm_archive_ledger WHERE dag_id = %s AND run_id = %s AND batch_no > 0",
            (self.dag_id, run_id),
        )
        return int(cur.fetchone()[0])


def _call(d: Deployment, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, d.base + path, headers=d.headers("admin"), timeout=60, **kw)


def _trigger(d: Deployment, dag_id: str) -> str:
    r = _call(d, "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {}})
    assert r.status_code in (200, 201), r.text
    return r.json()["dag_run_id"]


def _run_state(d: Deployment, dag_id: str, run_id: str) -> str:
    return _call(d, "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()["state"]


def one_terminate(d: Deployment, side, rng: random.Random) -> dict:
    side.reset()
    run = _trigger(d, side.dag_id)
    wait_for(lambda: side.batches(run) >= 1, 120, 0.02, "the first commit")
    time.sleep(rng.uniform(0.5, 4.0))
    before = side.batches(run)
    seen: list[tuple[float, int]] = []  # (when, batches) every 20 ms, from just before the request
    done = threading.Event()

    def sample() -> None:
        count, quiet_since = before, None
        while not done.is_set() or quiet_since is None or time.monotonic() - quiet_since < 6.0:
            n = side.batches(run)
            if n != count or not seen:
                seen.append((time.monotonic(), n))
                count = n
                quiet_since = time.monotonic() if done.is_set() else None
            elif done.is_set() and quiet_since is None:
                quiet_since = time.monotonic()
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    r = _call(d, "POST", f"/warm/api/v1/tasks/{side.dag_id}/{quote(run, safe='')}/terminate", json={})
    if r.status_code != 200:  # the run ended before the terminate: say why
        done.set()
        sampler.join()
        status = _call(d, "GET", f"/warm/api/v1/tasks/{side.dag_id}/{quote(run, safe='')}").json()
        raise RuntimeError(
            f"{side.name} run {run}: terminate answered {r.status_code} {r.text}; error: {status.get('error')}"
        )
    t1 = time.monotonic()  # the run is failed in Airflow from here on: the job can learn of it
    done.set()  # the sampler goes on until the ledger has been quiet for 6 s
    sampler.join()
    last_change = max((t for t, n in seen if n > before), default=t0)
    count = seen[-1][1]
    wait_for(lambda: _run_state(d, side.dag_id, run) in ("success", "failed"), 60, 0.5, "the run to end")
    at_response = max((n for t, n in seen if t <= t1), default=before)
    return {
        "run_id": run,
        "request_seconds": t1 - t0,
        "seconds_to_last_commit": max(0.0, last_change - t0),
        "seconds_after_response": max(0.0, last_change - t1),
        "batches_after": count - before,
        "batches_after_response": count - at_response,
    }


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, int(round(q * len(values))) - 1)]


def summarise(samples: list[dict]) -> dict:
    secs = [s["seconds_to_last_commit"] for s in samples]
    after = [s["seconds_after_response"] for s in samples]
    return {
        "n": len(samples),
        "p50_s": statistics.median(secs),
        "p95_s": _p(secs, 0.95),
        "max_s": max(secs),
        "p50_after_response_s": statistics.median(after),
        "p95_after_response_s": _p(after, 0.95),
        "p50_request_s": statistics.median(s["request_seconds"] for s in samples),
        "max_batches_after": max(s["batches_after"] for s in samples),
        "mean_batches_after": statistics.mean(s["batches_after"] for s in samples),
        "max_batches_after_response": max(s["batches_after_response"] for s in samples),
    }


def run(terminates: int, rows: int, out: Path, log=print, pairs: str = "pg,my") -> dict:
    sides = [side(rows) for key, side in (("pg", PgSide), ("my", MySide)) if key in pairs.split(",")]
    specs = {
        "term_pg.yaml": _spec("term_pg", "term_pg", "src.orders", "warm.orders"),
        "term_my.yaml": _spec("term_my", "term_my", "wa_term_src.orders", "wa_term_warm.orders"),
    }
    conns = {"term_pg": "postgresql://root@127.0.0.1/wa_term", "term_my": "mysql://root@127.0.0.1/wa_term_src"}
    result: dict = {"rows": rows, "rate": RATE, "batch": BATCH, "terminates": terminates, "cases": []}
    rng = random.Random(7)
    for mechanism, poll in (("heartbeat only (baseline)", "0"), ("task SDK poll, 0.5 s", "0.5")):
        d = Deployment(meta_db=META_DB, port=PORT, specs=specs, connections=conns)
        d.env["AIRFLOW__WARM_ARCHIVE__STOP_POLL_SECONDS"] = poll
        try:
            d.migrate()
            for name in ("scheduler", "dag-processor"):
                d.procs[name] = Proc(name, [AIRFLOW, name], d.env, d.home)
            d.start_api_server()
            d.wait_dags([s.dag_id for s in sides])
            for s in sides:
                assert _call(d, "PATCH", f"/api/v2/dags/{s.dag_id}", json={"is_paused": False}).status_code == 200
            for side in sides:
                samples = [one_terminate(d, side, rng) for _ in range(terminates)]
                case = {"pair": side.name, "mechanism": mechanism, **summarise(samples), "samples": samples}
                result["cases"].append(case)
                log(
                    f"  {side.name:18} {mechanism:28} terminate -> last commit: p50 {case['p50_s']:.2f} s, "
                    f"p95 {case['p95_s']:.2f} s (the request itself p50 {case['p50_request_s']:.2f} s; after its "
                    f"answer p95 {case['p95_after_response_s']:.2f} s); batches after: max {case['max_batches_after']} "
                    f"(after the answer: max {case['max_batches_after_response']})"
                )
        finally:
            d.stop()
    for side in sides:
        base = next(c for c in result["cases"] if c["pair"] == side.name and c["mechanism"].startswith("heartbeat"))
        new = next(c for c in result["cases"] if c["pair"] == side.name and c["mechanism"].startswith("task SDK"))
        ok_p95 = new["p95_after_response_s"] <= TARGET_P95_S
        log(
            f"  {side.name}: last commit p95 {new['p95_after_response_s']:.2f} s after the terminate's answer "
            f"(target <= {TARGET_P95_S} s) {'✓' if ok_p95 else '✗'}; from the request: p95 {new['p95_s']:.2f} s = "
            f"{new['p95_s'] / max(base['p95_s'], 1e-9):.2f}x Airflow's heartbeat alone ({base['p95_s']:.2f} s), "
            f"{new['max_batches_after']} batches at most against {base['max_batches_after']}"
        )
        result.setdefault("checks", []).append(
            {"pair": side.name, "p95_ratio": new["p95_s"] / max(base["p95_s"], 1e-9), "p95_met": ok_p95}
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "terminate.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description="Terminate-to-last-commit latency (see the module docstring)")
    ap.add_argument("--terminates", type=int, default=20)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--pairs", default="pg,my", help="pg (PG->PG), my (MariaDB->MariaDB), or both")
    a = ap.parse_args()
    res = run(a.terminates, a.rows, Path(a.out), pairs=a.pairs)
    raise SystemExit(0 if all(c["p95_met"] for c in res["checks"]) else 1)


if __name__ == "__main__":
    main()
