"""Profile the table job on one pair: where does its time go? (not part of ``bench/run``)

    bench/run-profile pgpg copy_then_delete 100000

Uses its own database/tables (PostgreSQL database ``bench_prof``, MariaDB databases
``bench_prof_src``/``bench_prof_warm``) so it can run beside a benchmark. The job runs under
``py-spy record --idle`` (sampling, so waiting on the database shows up as time in the driver's
socket calls); the collapsed stacks are folded into a per-function table: ``self`` = samples with
the function on top of the stack, ``total`` = samples with it anywhere on the stack.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile

from bench import data
from bench.config import BENCH, PYTHON, child_env, my_connect, pg_connect

PROF_PG_DB = "bench_prof"


def setup(pair: str, n: int) -> str:
    src = pair[:2]
    if src == "pg" or pair[2:] == "pg":
        c = pg_connect("test")
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PROF_PG_DB,)).fetchone():
            c.execute(f"CREATE DATABASE {PROF_PG_DB}")
        c = pg_connect(PROF_PG_DB)
        c.execute("DROP SCHEMA IF EXISTS bench_prof_warm CASCADE")
        c.execute("DROP TABLE IF EXISTS public.warm_archive_ledger")
        c.execute("CREATE SCHEMA IF NOT EXISTS bench_prof_src")
        c.execute("DROP TABLE IF EXISTS bench_prof_src.orders")
        if src == "pg":
            c.execute(f"CREATE TABLE bench_prof_src.orders ({data.PG_COLS})")
            c.execute(data.PG_GEN.format(t="bench_prof_src.orders", lo=1, hi=n))
            c.execute("VACUUM ANALYZE bench_prof_src.orders")
    if src == "my" or pair[2:] == "my":
        cur = my_connect().cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS bench_prof_src")
        cur.execute("DROP DATABASE IF EXISTS bench_prof_warm")
        cur.execute("CREATE DATABASE bench_prof_warm")
        cur.execute("DROP TABLE IF EXISTS bench_prof_src.orders")
        if src == "my":
            cur.execute(f"CREATE TABLE bench_prof_src.orders ({data.MY_COLS})")
            cur.execute(
                data.MY_GEN.format(t="bench_prof_src.orders", lo=1, hi=n).replace("bench_src.seq", "bench_prof_src.seq")
            )
    return data.where(n)


def fold(raw: str, top: int = 30) -> str:
    self_c, total_c = collections.Counter(), collections.Counter()
    n = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        k = int(count)
        n += k
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        self_c[frames[-1]] += k
        for f in set(frames):
            total_c[f] += k
    out = [f"{n} samples", "", "self%   function"]
    out += [f"{100 * c / n:5.1f}   {f}" for f, c in self_c.most_common(top)]
    out += ["", "total%  function"]
    out += [f"{100 * c / n:5.1f}   {f}" for f, c in total_c.most_common(top + 10) if c < 0.99 * n][:top]
    return "\n".join(out)


def main() -> None:
    pair, strategy, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    where = setup(pair, n)
    env = child_env()
    env["AIRFLOW_CONN_BENCH_PG"] = env["AIRFLOW_CONN_BENCH_PG"].rsplit("/", 1)[0] + "/" + PROF_PG_DB
    env["AIRFLOW_CONN_BENCH_MY"] = env["AIRFLOW_CONN_BENCH_MY"].rsplit("/", 1)[0] + "/bench_prof_warm"
    conn = {"pg": "BENCH_PG", "my": "BENCH_MY"}
    params = dict(
        dag_id="prof",
        run_id="p1",
        task_id="orders",
        source_conn_id=conn[pair[:2]],
        source_table="bench_prof_src.orders",
        target_conn_id=conn[pair[2:]],
        target_table="bench_prof_warm.orders",
        key=["id"],
        where=where,
        strategy=strategy,
        batch_size=int(os.environ.get("BATCH", 20000)),
    )
    raw = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
    spy = str(BENCH.parent / ".venv" / "bin" / "py-spy")
    cmd = [
        spy,
        "record",
        "--idle",
        "--rate",
        "200",
        "--format",
        "raw",
        "-o",
        raw,
        "--",
        PYTHON,
        "-m",
        "bench.job_engine",
        json.dumps(params),
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [x for x in r.stdout.splitlines() if x.startswith("BENCH_RESULT")]
    if not line:
        print(r.stdout[-3000:], r.stderr[-3000:])
        sys.exit(1)
    res = json.loads(line[0].split(" ", 1)[1])
    print(
        f"{pair} {strategy} N={n}: run() {res['seconds']:.2f} s, status rows_copied="
        f"{res['status']['rows_copied']} rows_deleted={res['status']['rows_deleted']}"
    )
    for s in sorted(res["sql"], key=lambda s: -s["seconds"])[:8]:
        print(f"   {s['seconds']:6.2f}s x{s['count']:<4d} {s['statement'][:120]}")
    # keep only the samples inside TableJob.run (not start-up/imports)
    lines = [x for x in open(raw) if "TableJob.run (" in x or ";run (" in x and "engine.py" in x]
    print(fold("".join(lines)))


if __name__ == "__main__":
    main()
