"""``bench/run --live``: the table job against an application running on the same table.

For each pair, with the warm table in another database of the same server (``same``) and, for a
PostgreSQL warm side, on a second PostgreSQL cluster this module starts (``other``: initdb under
``.local/live-pg2``, port 5499, stopped and removed at the end):

1. the application's capacity: its request mix closed-loop for a few seconds;
2. the application alone, open loop at ``--live-load`` (default 40 %) of that capacity: the
   baseline p50/p99/p99.9 (latency from each request's scheduled start);
3. the same load with the table job (``copy_then_delete``) at each pacing setting, and on
   MariaDB->MariaDB with ``pt-archiver --bulk-insert --bulk-delete``: the application's figures
   over the window the archiver ran, and the archiver's rows/s.

PostgreSQL's application is ``pgbench -R`` with four custom scripts (the mix below, weighted);
MariaDB's is ``bench/live_app.py`` (a small open-loop Python driver: pgbench speaks only
PostgreSQL). Mix: 40 % point reads of recent orders, 25 % updates of recent orders, 15 % inserts of
new orders, 20 % range reads of 20 keys; the recent third of the table is never archived.

Targets, each run: app p99 <= 1.5x and p99.9 <= 2x the same invocation's baseline, no app error,
archive rows/s under load >= pt-archiver's under the same load (MariaDB->MariaDB's, the only pair
it serves). Results: ``bench/results/live-<time>.{json,txt}`` and ``live-latest.*``.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench import data
from bench.config import (
    CONN_IDS,
    MY_HOST,
    MY_PORT,
    MY_USER,
    PAIR_LABEL,
    PG_DB,
    PYTHON,
    ROOT,
    SRC_TABLE,
    WARM_TABLE,
    child_env,
    my_connect,
    pg_connect,
)
from bench.runner import run

SETTINGS = {  # name -> LoadLimits pacing fields (the trade-off curve)
    "off": {"pacing": "off"},
    "gentle": {"pacing": "auto", "pacing_latency_ratio": 5.0, "pacing_max_sleep_ratio": 2.0},
    "medium": {"pacing": "auto", "pacing_latency_ratio": 3.0, "pacing_max_sleep_ratio": 4.0},
    "auto": {"pacing": "auto"},  # the defaults: latency ratio 2, max sleep ratio 8
}
P99_MAX, P999_MAX = 1.5, 2.0
PG2_PORT = 5499
PG2_DIR = ROOT / ".local" / "live-pg2"
PG_BIN = Path("/usr/lib/postgresql") / (sorted(os.listdir("/usr/lib/postgresql")) or ["15"])[-1] / "bin"

PGBENCH_SCRIPTS = {  # name -> (weight, script); ids of recent orders: (2N/3, N]
    "read": (40, "\\set rid random(:lo, :n)\nSELECT * FROM bench_src.orders WHERE id = :rid;\n"),
    "update": (
        25,
        "\\set rid random(:lo, :n)\nUPDATE bench_src.orders SET status = 'paid', amount = amount + 1 WHERE id = :rid;\n",
    ),
    "insert": (
        15,
        "\\set c random(1, 50000)\nINSERT INTO bench_src.orders (id, created_at, customer_id, amount, status, note)"
        " VALUES (nextval('bench_src.live_ids'), now(), :c, 12.50, 'new', 'a new order from the live load');\n",
    ),
    "range": (
        20,
        "\\set rid random(:lo, :n)\nSELECT id, amount FROM bench_src.orders WHERE id BETWEEN :rid AND :rid + 20;\n",
    ),
}


def log(msg: str) -> None:
    print(msg, flush=True)


# -- the second PostgreSQL server ---------------------------------------------------------------
class SecondPostgres:
    """A throwaway PostgreSQL cluster for the warm side "on another server" (same machine)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        shutil.rmtree(PG2_DIR, ignore_errors=True)
        PG2_DIR.mkdir(parents=True)
        for d in (PG2_DIR.parent, PG2_DIR):
            os.chmod(d, 0o777)
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(PG2_DIR / "data"), "-A", "trust"],
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(PG2_DIR / "data"),
                "-p",
                str(PG2_PORT),
            ]
            + ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={PG2_DIR}"],
            stdout=open(PG2_DIR / "server.log", "w"),
            stderr=subprocess.STDOUT,
        )
        import psycopg

        for _ in range(100):
            try:
                c = psycopg.connect(
                    host="127.0.0.1", port=PG2_PORT, user="postgres", dbname="postgres", autocommit=True
                )
                break
            except Exception:
                time.sleep(0.2)
        else:
            raise SystemExit("the second PostgreSQL cluster did not start")
        c.execute(f"CREATE DATABASE {PG_DB}")
        c.close()
        c = psycopg.connect(host="127.0.0.1", port=PG2_PORT, user="postgres", dbname=PG_DB, autocommit=True)
        c.execute("CREATE SCHEMA bench_warm")
        c.close()

    def reset(self) -> None:
        import psycopg

        c = psycopg.connect(host="127.0.0.1", port=PG2_PORT, user="postgres", dbname=PG_DB, autocommit=True)
        c.execute(f"DROP TABLE IF EXISTS {WARM_TABLE}")
        c.execute("DROP TABLE IF EXISTS public.warm_archive_ledger")
        c.execute("CHECKPOINT")
        c.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # runuser passes SIGTERM on: a smart shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        shutil.rmtree(PG2_DIR, ignore_errors=True)


# -- the application ----------------------------------------------------------------------------
class PgApp:
    """pgbench with the mix's scripts; latency per transaction from its log (from the scheduled start under -R)."""

    def __init__(self, n: int, env: dict, workdir: Path) -> None:
        self.n, self.env, self.dir = n, env, workdir
        self.files = []
        for name, (weight, text) in PGBENCH_SCRIPTS.items():
            f = workdir / f"{name}.sql"
            f.write_text(text)
            self.files += ["-f", f"{f}@{weight}"]
        c = pg_connect()
        c.execute(f"CREATE SEQUENCE IF NOT EXISTS bench_src.live_ids START {n * 10 + 1}")
        c.close()

    def _argv(self, extra: list[str]) -> list[str]:
        return (
            ["pgbench", "-n", "-c", "8", "-j", "2", "-D", f"lo={2 * self.n // 3 + 1}", "-D", f"n={self.n}"]
            + self.files
            + extra
        )

    def capacity(self, seconds: float = 4) -> float:
        out = subprocess.run(self._argv(["-T", str(int(seconds))]), env=self.env, capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.startswith("tps ="):
                return float(line.split()[2])
        raise SystemExit(f"pgbench failed: {out.stderr[-500:]}")

    def start(self, rate: float, seconds: float) -> None:
        for f in glob.glob(str(self.dir / "pgb*")):
            os.remove(f)
        self.proc = subprocess.Popen(
            self._argv(["-R", str(int(rate)), "-T", str(int(seconds)), "-l", f"--log-prefix={self.dir}/pgb"]),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def finish(self, stop: bool) -> dict:
        if stop:  # pgbench has no clean stop: SIGINT; its log's buffered tail (the last ~0.1 s) is lost
            os.killpg(self.proc.pid, signal.SIGINT)
        out, err = self.proc.communicate(timeout=600)
        reqs = []
        for f in glob.glob(str(self.dir / "pgb*")):
            for line in open(f):
                p = line.split()
                if len(p) >= 6 and p[2].isdigit():
                    end = int(p[4]) + int(p[5]) / 1e6
                    lat = int(p[2]) / 1000
                    reqs.append([end - lat / 1000, lat, True])
        errors = sum(1 for line in err.splitlines() if "aborted" in line or "ERROR" in line)
        for line in out.splitlines():
            if line.startswith("number of failed transactions"):
                errors += int(line.split(":")[1].split()[0])
        return {"requests": reqs, "error_count": errors, "errors": [x for x in err.splitlines() if "ERROR" in x][:5]}


class MyApp:
    """bench/live_app.py in its own process."""

    def __init__(self, n: int, env: dict, workdir: Path) -> None:
        self.n, self.env, self.dir = n, env, workdir

    def _argv(self, rate: float, seconds: float) -> list[str]:
        out = str(self.dir / "myapp.json")
        return [
            PYTHON,
            "-m",
            "bench.live_app",
            "--rate",
            str(rate),
            "--rows",
            str(self.n),
            "--seconds",
            str(seconds),
            "--out",
            out,
        ]

    def capacity(self, seconds: float = 4) -> float:
        subprocess.run(self._argv(0, seconds), env=self.env, check=True)
        got = json.loads((self.dir / "myapp.json").read_text())
        return len(got["requests"]) / seconds

    def start(self, rate: float, seconds: float) -> None:
        self.proc = subprocess.Popen(self._argv(rate, seconds), env=self.env, start_new_session=True)

    def finish(self, stop: bool) -> dict:
        if stop:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(600)
        return json.loads((self.dir / "myapp.json").read_text())


def figures(app: dict, t0: float | None = None, t1: float | None = None, seconds: float | None = None) -> dict:
    """p50/p99/p99.9 and the completed rate of the requests scheduled in [t0, t1)."""
    reqs = [r for r in app["requests"] if (t0 is None or r[0] >= t0) and (t1 is None or r[0] < t1)]
    lat = sorted(r[1] for r in reqs)
    span = (t1 - t0) if t0 is not None and t1 is not None else seconds
    if not lat:
        return {"requests": 0}

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    return {
        "requests": len(lat),
        "rate": len(lat) / span if span else None,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": lat[-1],
        "mean_ms": statistics.fmean(lat),
        "errors": app.get("error_count", 0) + sum(1 for r in reqs if not r[2]),
    }


# -- the archivers ------------------------------------------------------------------------------
def job_argv(pair: str, where: str, setting: str, warm_conn: str, batch_size: int) -> list[str]:
    params = dict(
        dag_id="bench_live",
        run_id=f"live_{int(time.time() * 1000)}",
        task_id="orders",
        source_conn_id=CONN_IDS[pair[:2]],
        source_table=SRC_TABLE,
        target_conn_id=warm_conn,
        target_table=WARM_TABLE,
        key=["id"],
        where=where,
        strategy="copy_then_delete",
        batch_size=batch_size,
        on_conflict="skip",
        limits=SETTINGS[setting],
    )
    return [PYTHON, "-m", "bench.job_engine", json.dumps(params)]


def pt_argv(where: str) -> list[str]:
    dsn = f"h={MY_HOST},P={MY_PORT},u={MY_USER},A=binary,L=1"
    return [
        "pt-archiver",
        "--no-check-charset",
        "--source",
        f"{dsn},D=bench_src,t=orders",
        "--dest",
        f"{dsn},D=bench_warm,t=orders",
        "--where",
        where,
        "--limit",
        "1000",
        "--bulk-insert",
        "--bulk-delete",
        "--commit-each",
    ]


def reset(pair: str, n: int, warm_where: str, pg2: SecondPostgres | None, create_warm: bool) -> None:
    src = pair[:2]
    if src == "pg":
        c = pg_connect()
        c.execute(f"DELETE FROM {SRC_TABLE} WHERE id > %s", (n,))  # the live load's inserts
        c.close()
    else:
        cur = my_connect().cursor()
        cur.execute(f"DELETE FROM {SRC_TABLE} WHERE id > %s", (n,))
    data.reset_source(src, n)
    if warm_where == "other":
        assert pg2 is not None
        pg2.reset()
    else:
        data.reset_warm(pair[2:], create=create_warm)
    if src != pair[2:] or warm_where == "other":
        data.reset_warm(src, create=False)
    data.settle()


def one(
    pair: str, where_warm: str, contender: str, app, rate: float, a, exp: dict, env: dict, pg2: SecondPostgres | None
) -> dict:
    """The application at ``rate`` with one archiver (or none: ``contender == "baseline"``)."""
    reset(pair, exp["rows"], where_warm, pg2, create_warm=contender == "pt")
    if contender == "baseline":
        app.start(rate, a.live_seconds)
        t0 = time.time() + 1
        got = app.finish(stop=False)
        return {"app": figures(got, t0, t0 + a.live_seconds - 1.5)}
    app.start(rate, 3600)
    time.sleep(2)  # the load settles first
    warm_conn = "BENCH_PG2" if where_warm == "other" else CONN_IDS[pair[2:]]
    argv = (
        pt_argv(exp["where"]) if contender == "pt" else job_argv(pair, exp["where"], contender, warm_conn, a.batch_size)
    )
    t0 = time.time()
    res = run(argv, env, a.timeout)
    t1 = time.time()
    time.sleep(1)
    got = app.finish(stop=True)
    child = res.get("child") or {}
    status = child.get("status") or {}
    ok = res["rc"] == 0 and (contender == "pt" or status.get("state") == "success")
    seconds = child.get("seconds") if contender != "pt" else res["wall_s"]
    if contender != "pt" and seconds:  # the job's own work: after its interpreter and Airflow's imports
        t0 = max(t0, t1 - seconds)
    out = {
        "window_s": t1 - t0,
        "app": figures(got, t0, t1),
        "archiver_ok": ok,
        "archiver_s": seconds,
        "rows_per_s": exp["archived"] / seconds if ok and seconds else None,
        "pacing": status.get("pacing"),
    }
    if not ok:
        out["archiver_error"] = (res.get("stderr_tail") or "")[-600:]
    return out


def live(a) -> int:
    env = child_env()
    env["AIRFLOW_CONN_BENCH_PG2"] = f"postgresql://postgres@127.0.0.1:{PG2_PORT}/{PG_DB}"
    n = a.rows
    log(f"live load: {n:,} rows, the app at {a.live_load:.0%} of its capacity, {a.live_seconds:.0f} s baselines")
    exp = data.build(n, log=log)
    pairs = [p.strip() for p in a.live_pairs.split(",") if p.strip()]
    settings = [s.strip() for s in a.live_settings.split(",") if s.strip()]
    wheres = [w.strip() for w in a.live_warm.split(",") if w.strip()]
    pg2 = None
    results: list[dict] = []
    started = dt.datetime.now()
    workdir = Path(tempfile.mkdtemp(prefix="live-"))
    try:
        if "other" in wheres and any(p.endswith("pg") for p in pairs):
            log("  starting a second PostgreSQL cluster (warm on another server) on port 5499")
            pg2 = SecondPostgres()
            pg2.start()
        apps: dict[str, tuple] = {}
        for pair in pairs:
            src = pair[:2]
            if src not in apps:
                app = PgApp(n, env, workdir) if src == "pg" else MyApp(n, env, workdir)
                reset(pair, n, "same", None, create_warm=False)
                cap = app.capacity()
                apps[src] = (app, cap, a.live_load * cap)
                log(f"  {src}: app capacity {cap:,.0f} req/s (closed loop); load {a.live_load * cap:,.0f} req/s")
            app, cap, rate = apps[src]
            for where_warm in wheres:
                if where_warm == "other" and not pair.endswith("pg"):
                    continue  # only a second PostgreSQL is cheap to start here
                label = f"{PAIR_LABEL[pair]} warm {'on another server' if where_warm == 'other' else 'same server'}"
                base = one(pair, where_warm, "baseline", app, rate, a, exp, env, pg2)
                log(f"  {label}: baseline {fmt_app(base['app'])}")
                runs = {"baseline": base}
                contenders = list(settings) + (["pt"] if pair == "mymy" and where_warm == "same" else [])
                for c in contenders:
                    r = one(pair, where_warm, c, app, rate, a, exp, env, pg2)
                    runs[c] = r
                    rate_txt = (
                        f"{r['rows_per_s']:,.0f} rows/s"
                        if r["rows_per_s"]
                        else "FAILED " + r.get("archiver_error", "")[-200:]
                    )
                    log(f"  {label}: {c:8s} {rate_txt}; app {fmt_app(r['app'])}")
                results.append(
                    {"pair": pair, "warm": where_warm, "label": label, "capacity": cap, "rate": rate, "runs": runs}
                )
    finally:
        if pg2 is not None:
            pg2.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return report(results, a, started)


def fmt_app(f: dict) -> str:
    if not f.get("requests"):
        return "no requests"
    return (
        f"{f['rate']:,.0f} req/s p50 {f['p50_ms']:.1f} ms p99 {f['p99_ms']:.1f} ms "
        f"p99.9 {f['p999_ms']:.1f} ms errors {f['errors']}"
    )


def report(results: list[dict], a, started: dt.datetime) -> int:
    pt = next((r["runs"]["pt"] for r in results if "pt" in r["runs"]), None)
    pt_rate = pt["rows_per_s"] if pt else None
    lines = [f"bench/run --live  {started:%Y-%m-%d %H:%M}  rows {a.rows:,}  load {a.live_load:.0%} of capacity", ""]
    all_ok = True
    for r in results:
        base = r["runs"]["baseline"]["app"]
        lines.append(
            f"{r['label']}: app capacity {r['capacity']:,.0f} req/s, load {r['rate']:,.0f} req/s; "
            f"baseline p50 {base['p50_ms']:.1f} ms, p99 {base['p99_ms']:.1f} ms, p99.9 {base['p999_ms']:.1f} ms, "
            f"errors {base['errors']}"
        )
        lines.append(
            f"  {'archiver':10s} {'rows/s':>9s} {'app req/s':>9s} {'p50':>8s} {'p99':>9s} {'p99.9':>9s} {'err':>4s}  targets"
        )
        for name, run_ in r["runs"].items():
            if name == "baseline":
                continue
            f = run_["app"]
            checks = []
            if f.get("requests"):
                x99, x999 = f["p99_ms"] / max(base["p99_ms"], 1e-3), f["p999_ms"] / max(base["p999_ms"], 1e-3)
                checks.append(f"p99 {x99:.1f}x<=1.5x {'✓' if x99 <= P99_MAX else '✗'}")
                checks.append(f"p99.9 {x999:.1f}x<=2x {'✓' if x999 <= P999_MAX else '✗'}")
                checks.append(f"errors {f['errors']}=0 {'✓' if f['errors'] == 0 else '✗'}")
                run_["x_p99"], run_["x_p999"] = x99, x999
            rate = run_["rows_per_s"]
            if pt_rate and rate and name != "pt":
                checks.append(f"rows/s {rate / pt_rate:.2f}x pt>=1 {'✓' if rate >= pt_rate else '✗'}")
            if name != "pt":
                all_ok = all_ok and all("✓" in c for c in checks) and bool(rate)
            p = run_.get("pacing") or {}
            paced = (
                f" slept {p.get('slept_s', 0):.1f} s {p.get('slept_by_reason') or ''}"
                if p.get("mode") == "auto"
                else ""
            )
            lines.append(
                f"  {name:10s} {(rate or 0):9,.0f} {f.get('rate') or 0:9,.0f} {f.get('p50_ms', 0):8.1f} "
                f"{f.get('p99_ms', 0):9.1f} {f.get('p999_ms', 0):9.1f} {f.get('errors', 0):4d}  "
                + "; ".join(checks)
                + paced
            )
        curve = [
            (n, x["rows_per_s"], x["app"].get("p99_ms"))
            for n, x in r["runs"].items()
            if n != "baseline" and x.get("rows_per_s")
        ]
        lines.append(
            "  trade-off (rows/s -> app p99): "
            + ", ".join(f"{n} {rps:,.0f} -> {p99:.0f} ms" for n, rps, p99 in sorted(curve, key=lambda c: c[1]))
            + (f"; pt-archiver (MariaDB->MariaDB) {pt_rate:,.0f} -> {pt['app']['p99_ms']:.0f} ms" if pt else "")
        )
        lines.append("")
    text = "\n".join(lines)
    print(text, flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    blob = json.dumps({"rows": a.rows, "load": a.live_load, "results": results}, indent=1, default=str)
    for name in (f"live-{stamp}", "live-latest"):
        (out / f"{name}.json").write_text(blob)
        (out / f"{name}.txt").write_text(text + "\n")
    return 0 if all_ok else 1
