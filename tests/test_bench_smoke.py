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
    assert len(doc["results"]) == 26  # 12 table jobs, 8 GenericTransfer, 2 pt-archiver, 4 limits
    for r in doc["results"]:
        assert r["runs"] == 1 and r["runs_ok"] == 1, (r["id"], r["errors"])
        assert r["rows_per_s"] and r["rows_per_s"] > 0, r["id"]
        assert r["peak_rss_mb"] and r["peak_rss_mb"] > 0, r["id"]
    for runs in doc["runs_detail"].values():
        for run in runs:
            assert run["ok"] and not run["errors"]
    assert (out / "latest.csv").exists() and (out / "latest.png").exists()
