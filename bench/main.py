"""``bench/run``: build the data, run every contender from the same state, check, report.

Runs are interleaved (run 1 of every contender, then run 2, ...) so that noise from other work
on the shared machine spreads over all contenders instead of hitting one. Before each run the
source table is put back to the seed, the warm table and ledger are dropped, and the servers are
settled (checkpoint, InnoDB dirty pages drained).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid

from bench import contenders as C
from bench import data, report
from bench.checks import check
from bench.config import PAIRS, RESULTS, child_env
from bench.runner import run


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="N rows in the table (default 1,000,000)")
    ap.add_argument(
        "--quick", action="store_true", help="N=100,000, one run, no 5N memory phase: the CI smoke test (< 3 min)"
    )
    ap.add_argument("--runs", type=int, default=None, help="runs per contender (default 3; quick 1)")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated contender filters, e.g. 'pgpg,pt' or 'engine.copy_then_delete,gt.best'",
    )
    ap.add_argument("--batch-size", type=int, default=20000, help="table job batch size")
    ap.add_argument(
        "--pacing",
        choices=("auto", "off"),
        default="auto",
        help="the table job's pacing on the source's load (default auto, the job's own default; off: "
        "its raw speed, as the tools it is compared with run)",
    )
    ap.add_argument(
        "--mem-scale",
        type=int,
        default=None,
        help="memory phase: rerun the table job (copy_then_delete) at this many times N "
        "(default 5; 0 = skip; quick: 0)",
    )
    ap.add_argument(
        "--scale",
        action="store_true",
        help="scale mode: the table job (copy_then_delete, every pair, one run) at --scale-from rows and "
        "at --rows (e.g. --rows 10000000): rows/s and peak RSS at both, targets RSS within 10 %% and "
        "rows/s within 10 %% (issue 23)",
    )
    ap.add_argument("--scale-from", type=int, default=1_000_000, help="scale mode: the smaller N (default 1,000,000)")
    ap.add_argument("--mem-pairs", default=",".join(PAIRS), help="pairs for the memory phase")
    ap.add_argument(
        "--slow-cap",
        type=int,
        default=None,
        help="pt-archiver defaults (one row per commit) archives only this many rows; its "
        "rows/s is measured on them (default 50,000; quick 1,000)",
    )
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run before it is killed")
    ap.add_argument("--out", default=str(RESULTS), help="directory for JSON, CSV and PNG")
    ap.add_argument(
        "--api",
        action="store_true",
        help="also measure the monitor API list endpoint (p50/p95) on a PostgreSQL metadata "
        "DB seeded with --api-runs warm runs of 5 table jobs (bench/monitor_api.py)",
    )
    ap.add_argument(
        "--sparse",
        action="store_true",
        help="the sparse case (one match in 1,000 rows, no index on the condition): the longest and p99 source "
        "statement and the total time of the table job against pt-archiver (bench/sparse.py)",
    )
    ap.add_argument(
        "--max-statement-seconds", type=float, default=0.5, help="--sparse: the table job's bound (default 0.5)"
    )
    ap.add_argument("--api-only", action="store_true", help="only the monitor API part (no table contenders)")
    ap.add_argument("--api-runs", type=int, default=10000, help="warm runs seeded for --api (default 10,000)")
    ap.add_argument("--api-requests", type=int, default=200, help="requests per API case (default 200)")
    ap.add_argument(
        "--live",
        action="store_true",
        help="only the live-load measurement (bench/live.py): an open-loop application on the source table "
        "with and without the table job (each --live-settings pacing) and pt-archiver; N default 300,000",
    )
    ap.add_argument("--live-pairs", default="pgpg,mymy,mypg", help="live: pairs (default pgpg,mymy,mypg)")
    ap.add_argument(
        "--live-warm",
        default="same,other",
        help="live: warm in another database of the same server and/or on another server",
    )
    ap.add_argument("--live-settings", default="off,gentle,medium,auto", help="live: the job's pacing settings")
    ap.add_argument("--live-load", type=float, default=0.4, help="live: the app's rate, share of its capacity (0.4)")
    ap.add_argument("--live-seconds", type=float, default=20, help="live: seconds of each baseline (20)")
    a = ap.parse_args(argv)
    if a.live and a.rows is None:
        a.rows = 300_000
    if a.api_only:
        a.api = True
    if a.rows is None:
        a.rows = 100_000 if a.quick else 1_000_000
    if a.runs is None:
        a.runs = 1 if a.quick else 3
    if a.slow_cap is None:
        a.slow_cap = 1_000 if a.quick else 50_000
    if a.mem_scale is None:
        a.mem_scale = 0 if a.quick else 5
    a.big_rows = a.rows * a.mem_scale if a.mem_scale and a.mem_scale > 1 else None
    if a.scale:  # the main phase at the smaller N, the memory phase at --rows
        if a.rows <= a.scale_from:
            ap.error("--scale needs --rows above --scale-from")
        a.big_rows, a.rows = a.rows, a.scale_from
        a.only = a.only or "engine.copy_then_delete"
        a.runs = 1
    return a


def log(msg: str) -> None:
    print(msg, flush=True)


def one_run(c, exp, a, env) -> dict:
    """Reset, settle, run, check one contender once."""
    n = exp["rows"]
    data.reset_source(c.src, n)
    data.reset_warm(c.dst, create=c.needs_table)
    if c.src != c.dst:
        data.reset_warm(c.src, create=False)
    data.settle()
    run_id = f"bench_{uuid.uuid4().hex[:10]}"
    capped = c.capped and exp.get("capped")
    where = exp["capped"]["where"] if capped else exp["where"]
    archived = exp["capped"]["archived"] if capped else exp["archived"]
    wal = data.wal_counters() if c.family == "engine" else None
    res = run(c.argv(where, run_id, a.batch_size, a.pacing), env, a.timeout)
    child = res.get("child") or {}
    if c.family == "engine":  # what the servers say the run cost them, and what it left behind
        res["slept_s"] = ((child.get("status") or {}).get("pacing") or {}).get("slept_s", 0.0)
        res["server"] = {"wal": data.wal_delta(wal) if "pg" in (c.src, c.dst) else None}
        res["server"].update(data.tables_left(c.src, c.dst))
    res["seconds"] = child.get("seconds") if c.python and child.get("seconds") else res["wall_s"]
    res["rss_before_mb"] = child.get("rss_before_mb")
    res["errors"] = check(c, exp, res)
    res["ok"] = not res["errors"]
    res["archived"] = archived
    res["rows_per_s"] = archived / res["seconds"] if res["seconds"] else None
    return res


def run_all(cs, exp, a, env, runs: int, tag: str) -> dict:
    results = {c.id: [] for c in cs}
    for r in range(1, runs + 1):
        for c in cs:
            res = one_run(c, exp, a, env)
            results[c.id].append(res)
            flag = "ok" if res["ok"] else "FAILED: " + "; ".join(res["errors"])
            log(
                f"  [{tag} run {r}/{runs}] {c.id:32s} {res['seconds']:8.2f} s "
                f"{(res['rows_per_s'] or 0):>10,.0f} rows/s  peak RSS {res['peak_rss_mb']:6.1f} MB  {flag}"
            )
    return results


def summarize(cs, results, exp) -> list[dict]:
    rows = []
    for c in cs:
        runs = results[c.id]
        good = [r for r in runs if r["ok"]]
        med = statistics.median(r["seconds"] for r in good) if good else None
        archived = good[0]["archived"] if good else exp["archived"]
        rows.append(
            {
                "id": c.id,
                "family": c.family,
                "variant": c.variant,
                "pair": c.pair,
                "pair_label": C.pair_label(c.pair),
                "label": c.label,
                "runs": len(runs),
                "runs_ok": len(good),
                "median_s": med,
                "rows_per_s": archived / med if med else None,
                "archived": archived,
                "seconds": [r["seconds"] for r in runs],
                "peak_rss_mb": max((r["peak_rss_mb"] for r in good), default=None),
                "rss_before_mb": max((r["rss_before_mb"] for r in good if r["rss_before_mb"]), default=None),
                "errors": [e for r in runs for e in r["errors"]],
            }
        )
    by_id = {r["id"]: r for r in rows}

    def ratio(r, ref_id):
        ref = by_id.get(ref_id)
        if not ref or not ref["rows_per_s"] or not r["rows_per_s"]:
            return None
        return r["rows_per_s"] / ref["rows_per_s"]

    for r in rows:
        r["x_gt_best"] = ratio(r, f"gt.best.{r['pair']}")
        r["x_gt_default"] = ratio(r, f"gt.default.{r['pair']}")
        r["x_pt_bulk"] = ratio(r, "pt.bulk.mymy") if r["pair"] == "mymy" else None
        r["x_limit"] = ratio(r, f"limit.{r['pair']}")
        r["x_pgloader"] = ratio(r, "pgloader.fast.mypg") if r["pair"] == "mypg" else None
    return rows


# (pair, label, ratio column, reference, minimum): the table job's verified copy_then_delete against
# the fastest move a DBA would make by hand (the pair's native pipe, then one DELETE) and the tools
# users pick for that pair, all measured in the same invocation (issue 18).
TARGETS = [
    ("pgpg", "PG->PG", "x_limit", "COPY pipe", 0.80),
    ("mymy", "MariaDB->MariaDB", "x_pt_bulk", "pt-archiver bulk", 2.5),
    ("mymy", "MariaDB->MariaDB", "x_limit", "INSERT ... SELECT", 0.70),
    ("mypg", "MariaDB->PG", "x_limit", "mariadb | psql COPY pipe", 0.75),
    ("mypg", "MariaDB->PG", "x_pgloader", "pgloader", 1.3),
    ("pgmy", "PG->MariaDB", "x_limit", "psql COPY | LOAD DATA pipe", 0.75),
]


def targets(rows, mem, api=None, ratios: bool = True) -> list[dict]:
    """The targets with their values; ``ratios=False`` (scale mode, no baselines run) leaves out
    the ratio targets."""
    by = {r["id"]: r for r in rows}

    def get(i, k):
        return (by.get(i) or {}).get(k)

    out = [
        {
            "target": f"{label} copy_then_delete / {ref}",
            "want": f">= {want:g}",
            "value": get(f"engine.copy_then_delete.{pair}", key),
            "min": want,
        }
        for pair, label, key, ref, want in (TARGETS if ratios else [])
    ]
    peaks = [r["peak_rss_mb"] for r in rows if r["family"] == "engine" and r["peak_rss_mb"]]
    peaks += [m["peak_rss_mb_big"] for m in mem if m.get("peak_rss_mb_big")]
    out.append(
        {
            "target": "table job peak RSS (every run, N and big N)",
            "want": "< 150 MB",
            "value": max(peaks) if peaks else None,
            "max": 150.0,
        }
    )
    for m in mem:
        out.append(
            {
                "target": f"RSS growth {m['rows_small']:,} -> {m['rows_big']:,}, {m['pair_label']}",
                "want": "< 10 %",
                "value": m.get("growth_pct"),
                "max": 10.0,
            }
        )
        out.append(
            {
                "target": f"rows/s change {m['rows_small']:,} -> {m['rows_big']:,}, {m['pair_label']}",
                "want": "|x| < 10 %",
                "value": None if m.get("rows_per_s_change_pct") is None else abs(m["rows_per_s_change_pct"]),
                "max": 10.0,
            }
        )
    if api is not None:
        for c in api.get("cases", []):
            out.append({"target": f"API p95: {c['case'][:48]}", "want": "< 150 ms", "value": c["p95_ms"], "max": 150.0})
        for g in api.get("growth", []):
            out.append(
                {
                    "target": f"API p95 x, 5x runs in other tabs: {g['case']}"[:58],
                    "want": f"< {api['growth_max']:g}x",
                    "value": g["ratio"],
                    "max": api["growth_max"],
                }
            )
        if api.get("error"):
            out.append({"target": "monitor API measurement", "want": "runs", "value": None, "max": 0})
    if not rows:
        out = [t for t in out if t["target"].startswith(("API", "monitor API"))]
    for t in out:
        v = t["value"]
        t["met"] = None if v is None else (v >= t["min"] if "min" in t else v < t["max"])
    return out


def engine_version() -> dict:
    """Which engine code was measured: git HEAD, and a digest of the working tree's engine files
    (the engine changes under active development; figures are only comparable for one digest)."""
    import hashlib
    import subprocess

    from bench.config import ROOT

    h = hashlib.sha256()
    package = ROOT / "operators" / "warm_archive"
    for f in sorted(package.rglob("*.py")):  # the dialects/ subpackage too
        h.update(f.relative_to(package).as_posix().encode() + f.read_bytes())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        head = None
    return {"git_head": head, "engine_files_sha256": h.hexdigest()[:16]}


def main(argv=None) -> int:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the running contender is killed too
    a = parse(argv)
    if a.sparse:
        from bench import sparse

        return sparse.main(a)
    if a.live:
        from bench.live import live

        return live(a)
    env = child_env()
    cs = [] if a.api_only else C.select(C.all_contenders(), a.only)
    if not cs and not a.api_only:
        log("no contender matches --only")
        return 2
    started = time.monotonic()
    version_at_start = engine_version()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if cs:
        log(f"building {a.rows:,} rows in PostgreSQL and MariaDB ...")
        exp = data.build(a.rows, log, cap=a.slow_cap)
        log(f"running {len(cs)} contenders x {a.runs} run(s) ...")
    else:
        exp = {"rows": a.rows, "archived": 0, "cutoff": None, "where": None, "archived_checksum": None}
    results = run_all(cs, exp, a, env, a.runs, "N")
    rows = summarize(cs, results, exp)

    mem = []
    mem_pairs = [p for p in a.mem_pairs.split(",") if p]
    if a.big_rows and cs:
        big = a.big_rows
        mcs = [
            c
            for c in C.all_contenders()
            if c.family == "engine" and c.variant == "copy_then_delete" and c.pair in mem_pairs
        ]
        small = {r["id"]: r["peak_rss_mb"] for r in rows if r["peak_rss_mb"]}
        small_rps = {r["id"]: r["rows_per_s"] for r in rows if r["rows_per_s"]}
        small_runs = {cid: rs[0] for cid, rs in results.items() if rs}
        for c in mcs:  # not measured at N by the main phase (--only): measure it now
            if c.id not in small:
                rn = small_runs[c.id] = one_run(c, exp, a, env)
                small[c.id] = rn["peak_rss_mb"] if rn["ok"] else None
                small_rps[c.id] = rn["rows_per_s"] if rn["ok"] else None
        log(f"memory phase: building {big:,} rows ...")
        bexp = data.build(big, log)
        bres = run_all(mcs, bexp, a, env, 1, f"{big:,}")
        for c in mcs:
            rb, sm = bres[c.id][0], small.get(c.id)
            mem.append(
                {
                    "pair": c.pair,
                    "pair_label": C.pair_label(c.pair),
                    "scale": big / a.rows,
                    "rows_small": a.rows,
                    "rows_big": big,
                    "peak_rss_mb_small": sm,
                    "peak_rss_mb_big": rb["peak_rss_mb"] if rb["ok"] else None,
                    "rows_per_s_big": rb["rows_per_s"] if rb["ok"] else None,
                    "slept_s_big": rb.get("slept_s"),
                    "server_big": rb.get("server"),
                    "rss_before_mb_big": rb["rss_before_mb"],
                    "ok": rb["ok"],
                    "errors": rb["errors"],
                    "growth_pct": (100 * (rb["peak_rss_mb"] - sm) / sm) if rb["ok"] and sm else None,
                    "rows_per_s_small": small_rps.get(c.id),
                    "slept_s_small": (small_runs.get(c.id) or {}).get("slept_s"),
                    "server_small": (small_runs.get(c.id) or {}).get("server"),
                    "rows_per_s_change_pct": (
                        100 * (rb["rows_per_s"] - small_rps[c.id]) / small_rps[c.id]
                        if rb["ok"] and small_rps.get(c.id)
                        else None
                    ),
                }
            )
    api = None
    if a.api:
        from bench import monitor_api

        log(
            f"monitor API: seeding {a.api_runs:,} warm runs x 5 table jobs in a PostgreSQL metadata DB, "
            f"{a.api_requests} requests per case ..."
        )
        try:
            api = monitor_api.run(a.api_runs, a.api_requests, log=log)
        except Exception as e:  # noqa: BLE001 - reported as a failed part, the table results stand
            api = {"error": f"{type(e).__name__}: {e}", "cases": []}
            log(f"monitor API measurement failed: {api['error']}")
    tg = targets(rows, mem, api, ratios=not a.scale)
    failed = [(cid, r["errors"]) for cid, rs in results.items() for r in rs if not r["ok"]]
    failed += [(f"{m['pair']}@{m['rows_big']}", m["errors"]) for m in mem if not m["ok"]]
    if api is not None and api.get("error"):
        failed.append(("api", [api["error"]]))
    doc = {
        "started": stamp,
        "rows": a.rows,
        "runs": a.runs,
        "quick": a.quick,
        "batch_size": a.batch_size,
        "archived": exp["archived"],
        "cutoff": exp["cutoff"],
        "where": exp["where"],
        "archived_checksum": exp["archived_checksum"],
        "elapsed_s": time.monotonic() - started,
        "engine": version_at_start,
        "engine_at_end": engine_version(),
        "all_checks_passed": not failed,
        "results": rows,
        "memory": mem,
        "api": api,
        "targets": tg,
        "runs_detail": {
            cid: [{k: v for k, v in r.items() if k not in ("stdout_tail",)} for r in rs] for cid, rs in results.items()
        },
    }
    paths = report.write(doc, a.out, stamp)
    log("")
    log(report.text(doc))
    log("")
    log("written: " + ", ".join(str(p) for p in paths))
    if failed:
        log(f"{len(failed)} run(s) FAILED their checks:")
        for cid, errs in failed:
            log(f"  {cid}: {'; '.join(errs)[:800]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
