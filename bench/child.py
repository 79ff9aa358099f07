"""What every Python contender process reports back to the driver.

The driver measures peak RSS from outside (``os.wait4``); the child adds its own timing of the
operation itself, so Python start-up and Airflow's import time (paid once by a worker, not per
table) do not count against the Python contenders, and its RSS right before the work starts, so
the memory the work itself needs is visible apart from the interpreter + Airflow baseline.
"""

from __future__ import annotations

import json
import resource
import sys

import psutil

MARK = "BENCH_RESULT "


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(**values) -> None:
    sys.stdout.write(MARK + json.dumps(values, default=str) + "\n")
    sys.stdout.flush()
