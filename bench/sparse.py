"""The sparse case (issue 23 item 3): one match in 1,000 rows, uncorrelated with the key, on a
column without an index. Reports the table job's longest and p99 source statement and its total
time, against pt-archiver on the same table (MariaDB), each figure with its target and check.

``bench/run --sparse [--rows N] [--max-statement-seconds S]``. The job's statement times are its
own (``SqlStats``, client side: they include the network); on MariaDB both contenders are also
timed by the server (its slow log, ``long_query_time = 0`` while they run), the same way for both.
That sets server-wide variables: run it on servers of its own (``BENCH_PG_PORT``/``BENCH_MY_PORT``).
Tables: PostgreSQL database ``bench_sparse`` (schemas ``sparse_src``, ``sparse_warm``), MariaDB
databases ``sparse_src``, ``sparse_warm``.
"""

from __future__ import annotations

import os
import subprocess
import time

from bench.config import MY_HOST, MY_PORT, MY_USER, PG_HOST, PG_PORT, PG_USER, child_env, my_connect, pg_connect

PG_DB = "bench_sparse"
SRC, WARM = "sparse_src.events", "sparse_warm.events"
EVERY = 1000  # one row in EVERY matches
WHERE = "flag = 0"


def _build(engine: str, n: int) -> int:
    """ids 1..n; ``flag = (id * 7919) % 1000``: zero on one row in 1,000, scattered; no index on flag."""
    ddl = "id bigint PRIMARY KEY, created_at {ts} NOT NULL, account int NOT NULL, flag int NOT NULL, note varchar(100) NOT NULL"
    if engine == "pg":
        with pg_connect("postgres") as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
                c.execute(f'CREATE DATABASE "{PG_DB}"')
        with pg_connect(PG_DB) as c:
            for s in ("sparse_src", "sparse_warm"):
                c.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            c.execute(f"DROP TABLE IF EXISTS {SRC}, {WARM}")
            c.execute("DROP TABLE IF EXISTS public.warm_archive_ledger")
            c.execute(f"CREATE TABLE {SRC} ({ddl.format(ts='timestamp')})")
            c.execute(
                f"INSERT INTO {SRC} SELECT g, timestamp '2024-01-01' + g * interval '1 second', g %% 9973, "
                f"(g::bigint * 7919) %% {EVERY}, repeat('x', 60) || g FROM generate_series(1, %s) g",
                (n,),
            )
            c.execute(f"VACUUM ANALYZE {SRC}")
            return c.execute(f"SELECT COUNT(*) FROM {SRC} WHERE {WHERE}").fetchone()[0]
    c = my_connect()
    cur = c.cursor()
    for s in ("sparse_src", "sparse_warm"):
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {s}")
    cur.execute(f"DROP TABLE IF EXISTS {SRC}, {WARM}, sparse_warm.warm_archive_ledger")
    cur.execute(f"CREATE TABLE {SRC} ({ddl.format(ts='datetime')}) ENGINE=InnoDB")
    cur.execute(
        f"INSERT INTO {SRC} SELECT seq, '2024-01-01' + INTERVAL seq SECOND, seq % 9973, (seq * 7919) % {EVERY}, "
        f"CONCAT(REPEAT('x', 60), seq) FROM sparse_src.seq_1_to_{int(n)}"
    )
    cur.execute(f"ANALYZE TABLE {SRC}")
    cur.fetchall()
    cur.execute(f"SELECT COUNT(*) FROM {SRC} WHERE {WHERE}")
    matches = cur.fetchone()[0]
    c.close()
    return matches


class _SlowLog:
    """MariaDB's slow log as a table, every statement logged, for the time of one contender."""

    def __enter__(self):
        c = my_connect()
        cur = c.cursor()
        cur.execute("SET GLOBAL log_output = 'TABLE'")
        cur.execute("SET GLOBAL long_query_time = 0")
        cur.execute("TRUNCATE mysql.slow_log")
        cur.execute("SET GLOBAL slow_query_log = 1")
        c.close()
        return self

    def __exit__(self, *exc):
        c = my_connect()
        cur = c.cursor()
        cur.execute("SET GLOBAL slow_query_log = 0")
        cur.execute("SET GLOBAL long_query_time = 10")
        cur.execute(
            "SELECT TIME_TO_SEC(query_time) + MICROSECOND(query_time) / 1e6, sql_text FROM mysql.slow_log "
            "WHERE sql_text LIKE '%sparse_src%' AND sql_text NOT LIKE '%slow_log%'"
        )
        self.times = [float(r[0]) for r in cur.fetchall()]
        c.close()


def _figures(times: list[float]) -> dict:
    if not times:
        return {"statements": 0, "longest_s": None, "p99_s": None}
    t = sorted(times)
    return {"statements": len(t), "longest_s": t[-1], "p99_s": t[min(len(t) - 1, int(0.99 * len(t)))]}


def _job(engine: str, n: int, bound: float, batch_size: int) -> dict:
    from warm_archive.engine import JobParams, TableJob

    conn_id = f"SPARSE_{engine.upper()}"
    params = JobParams(
        dag_id="bench_sparse",
        run_id=f"sparse_{int(time.time())}",
        task_id="events",
        source_conn_id=conn_id,
        source_table=SRC,
        target_conn_id=conn_id,
        target_table=WARM,
        key=["id"],
        where=WHERE,
        strategy="copy_then_delete",
        batch_size=batch_size,
        max_statement_seconds=bound,
    )
    with TableJob(params) as job:
        job.stats.times = {}  # every statement's time, for the percentiles
        t0 = time.monotonic()
        status = job.run()
        seconds = time.monotonic() - t0
        times = [x for s, ts in job.stats.times.items() if "sparse_src" in s for x in ts]
        slowest = max(job.stats.as_list(), key=lambda s: s["max_seconds"] if "sparse_src" in s["statement"] else 0)
    return {
        "seconds": seconds,
        "rows": status["rows_deleted"],
        "client": _figures(times),
        "slowest_statement": slowest["statement"][:160],
        "widths": (job.walk.trace[-1][2] if job.walk and job.walk.trace else None),
    }


def _pt_archiver() -> dict:
    dsn = f"h={MY_HOST},P={MY_PORT},u={MY_USER},A=binary,L=1"
    c = my_connect()
    c.cursor().execute(f"CREATE TABLE {WARM} LIKE {SRC}")
    c.close()
    argv = ["pt-archiver", "--no-check-charset", "--source", f"{dsn},D=sparse_src,t=events", "--dest"]
    argv += [f"{dsn},D=sparse_warm,t=events", "--where", WHERE, "--limit", "1000", "--bulk-insert"]
    argv += ["--bulk-delete", "--commit-each"]
    t0 = time.monotonic()
    subprocess.run(argv, check=True)
    return {"seconds": time.monotonic() - t0}


def _line(what: str, value, target: str, ok: bool | None) -> bool:
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    check = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {what:<52} {shown:>10}   target {target:<24} {check}", flush=True)
    return ok is not False


def main(a) -> int:
    env = child_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    os.environ["AIRFLOW_CONN_SPARSE_PG"] = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    os.environ["AIRFLOW_CONN_SPARSE_MY"] = f"mysql://{MY_USER}@{MY_HOST}:{MY_PORT}/sparse_warm"
    n, bound, ok = a.rows, a.max_statement_seconds, True
    print(f"sparse case: {n:,} rows, one match in {EVERY} (flag = 0, no index), max_statement_seconds {bound}")
    for engine in ("pg", "my"):
        name = "PostgreSQL" if engine == "pg" else "MariaDB"
        matches = _build(engine, n)
        print(f"{name}: {matches:,} matching rows; the table job (copy_then_delete, one database) ...", flush=True)
        if engine == "my":
            with _SlowLog() as log:
                job = _job(engine, n, bound, a.batch_size)
            job["server"] = _figures(log.times)
        else:
            job = _job(engine, n, bound, a.batch_size)
        ok &= _line(f"{name} job: rows moved", job["rows"], f"= {matches:,}", job["rows"] == matches)
        c = job["client"]
        ok &= _line(
            f"{name} job: longest source statement (client) s", c["longest_s"], f"<= {bound}", c["longest_s"] <= bound
        )
        ok &= _line(f"{name} job: p99 source statement (client) s", c["p99_s"], f"<= {bound}", c["p99_s"] <= bound)
        if "server" in job:
            s = job["server"]
            ok &= _line(
                f"{name} job: longest source statement (server) s",
                s["longest_s"],
                f"<= {bound}",
                s["longest_s"] <= bound,
            )
            ok &= _line(f"{name} job: p99 source statement (server) s", s["p99_s"], f"<= {bound}", s["p99_s"] <= bound)
        _line(f"{name} job: source statements", c["statements"], "(information)", None)
        _line(f"{name} job: total s", job["seconds"], "(information)", None)
        print(f"    slowest: {job['slowest_statement']}")
        if engine == "my":
            _build(engine, n)
            with _SlowLog() as log:
                pt = _pt_archiver()
            p = _figures(log.times)
            _line("pt-archiver --limit 1000 --bulk-*: longest (server) s", p["longest_s"], "(reference)", None)
            _line("pt-archiver: p99 source statement (server) s", p["p99_s"], "(reference)", None)
            _line("pt-archiver: source statements", p["statements"], "(reference)", None)
            _line("pt-archiver: total s", pt["seconds"], "(reference)", None)
            ratio = job["seconds"] / pt["seconds"]
            ok &= _line("MariaDB job total / pt-archiver total", ratio, "<= 1.0", ratio <= 1.0)
            longer = job["server"]["longest_s"] <= p["longest_s"]
            ok &= _line(
                "MariaDB job longest / pt-archiver longest",
                job["server"]["longest_s"] / p["longest_s"],
                "<= 1.0",
                longer,
            )
    print("sparse case:", "every check passed" if ok else "some check FAILED")
    return 0 if ok else 1
