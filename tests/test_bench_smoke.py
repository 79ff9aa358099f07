"""Smoke test of the benchmark: every contender runs once on a small table and every
run's result is checked (rows moved + rows left = N, warm checksum = archived rows' checksum).
Correctness only: no timing is asserted (the servers and CPU are shared).

N is 20,000 rather than ``--quick``'s 100,000 so the test stays well under 3 minutes on the
shared 2-core machine (``--quick`` took about 8 minutes there under load, most of it the slow
baselines); pt-archiver's one-row-per-commit defaults archive only their first 300 rows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs_and_every_check_passes(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            str(ROOT / "bench" / "run"),
            "--quick",
            "--rows",
            "20000",
            "--runs",
            "1",
            "--slow-cap",
            "300",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    doc = json.loads((out / "latest.json").read_text())
    assert doc["all_checks_passed"] is True
    assert doc["rows"] == 20000
    assert len(doc["results"]) == 27  # 12 table jobs, 8 GenericTransfer, 2 pt-archiver, 4 native pipes, pgloader
    for r in doc["results"]:
        assert r["runs"] == 1 and r["runs_ok"] == 1, (r["id"], r["errors"])
        assert r["rows_per_s"] and r["rows_per_s"] > 0, r["id"]
        assert r["peak_rss_mb"] and r["peak_rss_mb"] > 0, r["id"]
    ids = {r["id"] for r in doc["results"]}
    assert {"limit.mypg", "limit.pgmy", "pgloader.fast.mypg", "limit.pgpg", "limit.mymy"} <= ids
    ratio_targets = [t for t in doc["targets"] if "copy_then_delete /" in t["target"]]
    assert len(ratio_targets) == 6 and all(t["value"] and t["met"] is not None for t in ratio_targets), ratio_targets
    # The data holds what every pipe must escape, so the checksums above prove their escaping.
    special = (
        "SELECT count(*) FILTER (WHERE note LIKE '%' || chr(128512) AND strpos(note, chr(9)) > 0"
        " AND strpos(note, chr(10)) > 0 AND strpos(note, chr(13)) > 0 AND strpos(note, '\\N') > 0"
        " AND strpos(note, '''') > 0 AND strpos(note, '\"') > 0), count(*) FILTER (WHERE coupon IS NULL)"
        " FROM bench_src.orders_seed"
    )
    with psycopg.connect("host=127.0.0.1 user=root dbname=bench_archive") as c:
        row = c.execute(special).fetchone()
    assert row is not None and row[0] == 2000 and row[1] > 0, row
    for runs in doc["runs_detail"].values():
        for run in runs:
            assert run["ok"] and not run["errors"]
    assert (out / "latest.csv").exists() and (out / "latest.png").exists()
