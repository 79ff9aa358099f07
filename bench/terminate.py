"""Terminate latency: from the monitor's Terminate to the job's last commit, on PostgreSQL and MariaDB.

A real deployment (PostgreSQL metadata DB, LocalExecutor, scheduler, api-server) runs a throttled
``move`` of a 200,000-row table; the bench terminates it through the Warm Tasks API at a random
moment 0.5-4 s after its first commit, then watches the ledger every 20 ms until the job's rows stop
changing. Reported per engine and per stop mechanism, over ``--terminates`` terminates each:

* the time from the terminate request to the last batch committed after it (p50, p95, max);
* the batches committed after the terminate (the dialog promises: at most the batch in flight).

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
import time
from pathlib import Path

from bench.processes import wait_for
from tests.api.warm_api_harness import Deployment

META_DB = "wa_term_bench_meta"
PORT = 28095
RATE = 20000  # rows/s: a run lasts ~10 s, so every terminate lands mid-copy
BATCH = 2000
TARGET_BATCHES_AFTER = 1  # the batch in flight
TARGET_P95_S = 1.5  # within a second of the request, plus the batch in flight at 2,000 rows


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


class MySide:
    name = "MariaDB->MariaDB"
    dag_id = "term_my"

    def __init__(self, rows: int):
        import MySQLdb

        self.rows = rows
        self.c = MySQLdb.connect(host="127.0.0.1", user="root", passwd="", autocommit=True)
        cur = self.c.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS wa_term_src")
        cur.execute("CREATE DATABASE IF NOT EXISTS wa_term_warm")

    def reset(self) -> None:
        cur = self.c.cursor()
        cur.execute("DROP TABLE IF EXISTS wa_term_src.orders, wa_term_warm.orders")
        cur.execute("CREATE TABLE wa_term_src.orders (id bigint PRIMARY KEY, created_at datetime NOT NULL, note text)")
        cur.execute(
            "INSERT INTO wa_term_src.orders SELECT seq, '2020-01-01' + INTERVAL seq MINUTE, REPEAT('x', 80) "
            f"FROM seq_1_to_{int(self.rows)}"
        )
        cur.execute("SHOW TABLES FROM wa_term_src LIKE 'warm_archive_ledger'")
        if cur.fetchone():
            cur.execute("DELETE FROM wa_term_src.warm_archive_ledger WHERE dag_id = %s", (self.dag_id,))

    def batches(self, run_id: str) -> int:
        cur = self.c.cursor()
        cur.execute("SHOW TABLES FROM wa_term_src LIKE 'warm_archive_ledger'")
        if not cur.fetchone():
            return 0
        cur.execute(
            "SELECT count(*) FROM wa_term_src.warm_archive_ledger WHERE dag_id = %s AND run_id = %s AND batch_no > 0",
            (self.dag_id, run_id),
        )
        return int(cur.fetchone()[0])


def one_terminate(d: Deployment, side, rng: random.Random) -> dict:
    side.reset()
    run = d.trigger(side.dag_id)
    wait_for(lambda: side.batches(run) >= 1, 120, 0.02, "the first commit")
    time.sleep(rng.uniform(0.5, 4.0))
    before = side.batches(run)
    t0 = time.monotonic()
    r = d.action(side.dag_id, run, "terminate")
    assert r.status_code == 200, r.text
    last_change, count = t0, side.batches(run)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 6.0:  # the supervisor kills within its heartbeat; then quiet
        n = side.batches(run)
        if n != count:
            count, last_change, quiet_since = n, time.monotonic(), time.monotonic()
        time.sleep(0.02)
    d.wait_run(side.dag_id, run, timeout=60)
    return {"run_id": run, "seconds_to_last_commit": last_change - t0, "batches_after": count - before}


def summarise(samples: list[dict]) -> dict:
    secs = sorted(s["seconds_to_last_commit"] for s in samples)
    return {
        "n": len(secs),
        "p50_s": statistics.median(secs),
        "p95_s": secs[max(0, int(round(0.95 * len(secs))) - 1)],
        "max_s": secs[-1],
        "max_batches_after": max(s["batches_after"] for s in samples),
        "mean_batches_after": statistics.mean(s["batches_after"] for s in samples),
    }


def run(terminates: int, rows: int, out: Path, log=print) -> dict:
    sides = [PgSide(rows), MySide(rows)]
    specs = {
        "term_pg.yaml": _spec("term_pg", "term_pg", "src.orders", "warm.orders"),
        "term_my.yaml": _spec("term_my", "term_my", "wa_term_src.orders", "wa_term_warm.orders"),
    }
    conns = {"term_pg": "postgresql://root@127.0.0.1/wa_term", "term_my": "mysql://root@127.0.0.1/wa_term_src"}
    result: dict = {"rows": rows, "rate": RATE, "batch": BATCH, "terminates": terminates, "cases": []}
    rng = random.Random(7)
    for mechanism, poll in (("heartbeat only (baseline)", "0"), ("task SDK poll, 0.5 s", "0.5")):
        d = Deployment(
            meta_db=META_DB,
            port=PORT,
            specs=specs,
            connections=conns,
            extra_env={"AIRFLOW__WARM_ARCHIVE__STOP_POLL_SECONDS": poll},
        )
        try:
            d.migrate()
            d.start_background()
            d.use("simple")
            d.wait_dags([s.dag_id for s in sides])
            for s in sides:
                d.ok("patch", f"/api/v2/dags/{s.dag_id}", json={"is_paused": False})
            for side in sides:
                samples = [one_terminate(d, side, rng) for _ in range(terminates)]
                case = {"pair": side.name, "mechanism": mechanism, **summarise(samples), "samples": samples}
                result["cases"].append(case)
                log(
                    f"  {side.name:18} {mechanism:28} p50 {case['p50_s']:.2f} s  p95 {case['p95_s']:.2f} s  "
                    f"max {case['max_s']:.2f} s  batches after: max {case['max_batches_after']}, "
                    f"mean {case['mean_batches_after']:.2f}"
                )
        finally:
            d.stop()
    for side in sides:
        base = next(c for c in result["cases"] if c["pair"] == side.name and c["mechanism"].startswith("heartbeat"))
        new = next(c for c in result["cases"] if c["pair"] == side.name and c["mechanism"].startswith("task SDK"))
        ok_p95 = new["p95_s"] <= TARGET_P95_S
        ok_batches = new["max_batches_after"] <= TARGET_BATCHES_AFTER
        log(
            f"  {side.name}: p95 {new['p95_s']:.2f} s = {new['p95_s'] / base['p95_s']:.2f}x the heartbeat's "
            f"{base['p95_s']:.2f} s (target <= {TARGET_P95_S} s) {'✓' if ok_p95 else '✗'}; batches after the "
            f"terminate: at most {new['max_batches_after']} (target <= {TARGET_BATCHES_AFTER}) "
            f"{'✓' if ok_batches else '✗'}"
        )
        result.setdefault("checks", []).append(
            {"pair": side.name, "p95_ratio": new["p95_s"] / base["p95_s"], "p95_met": ok_p95, "batches_met": ok_batches}
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "terminate.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description="Terminate-to-last-commit latency (see the module docstring)")
    ap.add_argument("--terminates", type=int, default=20)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    res = run(a.terminates, a.rows, Path(a.out))
    raise SystemExit(0 if all(c["p95_met"] and c["batches_met"] for c in res["checks"]) else 1)


if __name__ == "__main__":
    main()
