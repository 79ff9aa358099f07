"""Run one contender process and measure it from outside.

The command runs under GNU ``/usr/bin/time``, which forks it from a 2 MB process and reports
``ru_maxrss`` from ``wait4``: the peak RSS of the largest process of the run (for the
``psql | psql`` pipe: of the biggest psql, as bash reaps both), without sampling. Forking the
command straight from the driver would not do: a forked child inherits the driver's RSS
high-water mark, which survives ``exec``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

from bench.child import MARK


def run(argv: list[str], env: dict, timeout_s: float) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, *argv],
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        deadline = t0 + timeout_s
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    os.killpg(proc.pid, 9)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        except BaseException:  # interrupted driver: take the contender (its own session) with it
            os.killpg(proc.pid, 9)
            raise
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        rss.seek(0)
        lines = [x for x in rss.read().split() if x.strip().isdigit()]
        peak_kb = int(lines[-1]) if lines else usage.ru_maxrss
    child = None
    for line in stdout.splitlines():
        if line.startswith(MARK):
            child = json.loads(line[len(MARK) :])
    return {
        "rc": proc.returncode,
        "wall_s": wall,
        "peak_rss_mb": peak_kb / 1024,
        "timed_out": wall >= timeout_s,
        "child": child,
        "stdout_tail": stdout[-2000:],
        "stderr_tail": stderr[-3000:],
    }
