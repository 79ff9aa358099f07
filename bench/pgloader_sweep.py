"""Find pgloader's fastest settings on this machine, so the bench compares the job with pgloader
at its best (issue 26): ``python -m bench.pgloader_sweep [--rows N] [--runs 2]``.

Each setting moves the same archived rows MariaDB->PostgreSQL (then the DELETE, as the bench's
contender does) from the same reset state, checked like every bench run; the runs are
interleaved so that the machine's noise spreads over all settings. Prints rows/s per setting,
the fastest first; put the fastest in ``bench.pipes.PGLOADER_SETTINGS`` with its date.
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from bench import contenders as C
from bench import data, pipes
from bench.checks import check
from bench.config import child_env
from bench.runner import run

GRID = {
    "workers": (2, 4, 8),
    "concurrency": (1, 2),
    "batch rows": (25000, 100000),
    "prefetch rows": (100000,),
}


def settings_grid() -> list[dict]:
    return [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pgloader_sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    (c,) = [x for x in C.all_contenders() if x.family == "pgloader" and x.id == "pgloader.fast.mypg"]
    exp = data.build(a.rows, print)
    env = child_env()
    grid = [pipes.PGLOADER_SETTINGS, *[s for s in settings_grid() if s != pipes.PGLOADER_SETTINGS]]
    seconds: dict[int, list[float]] = {i: [] for i in range(len(grid))}
    for r in range(a.runs):
        for i, s in enumerate(grid):
            data.reset_source("my", a.rows)
            data.reset_warm("pg", create=True)
            data.settle()
            res = run(["bash", "-c", "set -eo pipefail; " + pipes.pgloader(exp["where"], s)], env, 1800)
            res["seconds"] = res["wall_s"]
            errors = check(c, exp, res)
            print(f"run {r + 1}/{a.runs} {s}: {res['wall_s']:.2f} s {'ok' if not errors else errors}", flush=True)
            if not errors:
                seconds[i].append(res["wall_s"])
    print(f"\n{exp['archived']:,} rows archived (N = {a.rows:,}), median of {a.runs} run(s), fastest first:")
    ranked = sorted((statistics.median(v), i) for i, v in seconds.items() if v)
    for med, i in ranked:
        now = "  (the bench's now)" if grid[i] == pipes.PGLOADER_SETTINGS else ""
        print(f"  {exp['archived'] / med:>9,.0f} rows/s  {med:6.2f} s  {grid[i]}{now}")


if __name__ == "__main__":
    main()
