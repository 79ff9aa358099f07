"""Kill -9 of the job's process at deterministic points (docs/design.md §4.5): at every instant each archived
row is in the source or the warm table; the retry then finishes with exactly the expected tables, and
a rollback (itself killed once) restores the starting state exactly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.dbs import checksum
from tests.engine.conftest import PAIRS, ROOT_DIR
from tests.engine.job_process import STATUS

MOVE = ["after_plan:1", "after_source_read:2", "during_warm_write:3", "before_warm_commit:2", "after_warm_commit:4"]
COPY_THEN_DELETE = [
    "after_source_read:2",
    "during_warm_write:3",
    "after_warm_commit:4",
    "during_delete_phase:2",
    "before_ledger_delete_mark:3",
]
ONE_DATABASE = {("pg", "pg"), ("my", "my")}  # batch and source delete commit together: no gap


def points(pair, strategy):
    extra = ["after_source_delete:3"] if strategy == "move" and pair not in ONE_DATABASE else []
    return (MOVE if strategy == "move" else COPY_THEN_DELETE) + extra


CASES = [(s, w, st, pt) for s, w in PAIRS for st in ("move", "copy_then_delete") for pt in points((s, w), st)]


def job(pair, strategy, run_id, action="run", kill_at=None, rate=""):
    env = dict(os.environ)
    env.pop("WARM_ARCHIVE_KILL_AT", None)
    if kill_at:
        env["WARM_ARCHIVE_KILL_AT"] = kill_at
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.engine.job_process",
            pair.src.name,
            pair.warm.name,
            strategy,
            run_id,
            action,
            rate,
        ],
        cwd=ROOT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(proc, expect_killed=False) -> dict | None:
    """Wait for the job process; the totals it reported (None when it was killed)."""
    out, _ = proc.communicate(timeout=120)
    if expect_killed:
        assert proc.returncode == -signal.SIGKILL, out.decode()[-3000:]
        return None
    assert proc.returncode == 0, out.decode()[-3000:]
    lines = [ln for ln in out.decode().splitlines() if ln.startswith(STATUS)]
    return json.loads(lines[-1][len(STATUS) :]) if lines else None


def assert_nothing_lost(pair):
    src, warm = pair.src_rows(), pair.warm_rows() if pair.warm_exists() else {}
    for k, row in pair.before_src.items():
        assert src.get(k) == row or warm.get(k) == row, f"row {k} is in neither table"
    assert set(warm) <= set(pair.expected_archived)


def assert_archived(pair, strategy):
    assert pair.warm_rows() == pair.expected_archived
    kept = {k: v for k, v in pair.before_src.items() if k not in pair.expected_archived}
    assert pair.src_rows() == (pair.before_src if strategy == "copy" else kept)


@pytest.fixture
def kill_pair(request, engines):
    from tests.engine.conftest import Pair

    s, w = request.param
    return Pair(engines[s], engines[w]).reset(n=2400)


@pytest.mark.parametrize(
    "kill_pair,strategy,point",
    [((s, w), st, p) for s, w, st, p in CASES],
    ids=[f"{s}->{w}-{st}-{p}" for s, w, st, p in CASES],
    indirect=["kill_pair"],
)
def test_kill_then_retry_is_exact(kill_pair, strategy, point):
    pair = kill_pair
    finish(job(pair, strategy, "k", kill_at=point), expect_killed=True)
    assert_nothing_lost(pair)
    totals = finish(job(pair, strategy, "k"))  # the retry of the same task instance
    assert_archived(pair, strategy)
    # what the task reports counts the rows of both attempts, once each
    n = len(pair.expected_archived)
    assert totals == {"rows_copied": n, "rows_skipped": 0, "rows_deleted": n}, totals


@pytest.mark.parametrize("kill_pair", PAIRS, ids=[f"{s}->{w}" for s, w in PAIRS], indirect=True)
@pytest.mark.parametrize("point", ["during_rollback_restore:2", "after_rollback_restore:3"])
def test_kill_during_rollback_then_rollback_again_is_exact(kill_pair, point):
    pair = kill_pair
    finish(job(pair, "move", "k"))
    finish(job(pair, "move", "k", "rollback", kill_at=point), expect_killed=True)
    assert_nothing_lost(pair)
    finish(job(pair, "move", "k", "rollback"))
    assert checksum(pair.src_rows()) == checksum(pair.before_src)
    assert pair.warm_rows() == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kill_pair", [("pg", "pg"), ("my", "my")], ids=["pg->pg", "my->my"], indirect=True)
def test_kill_from_outside_at_a_random_moment(kill_pair, seed):
    """SIGKILL from another process at a seeded random time while a throttled job runs."""
    pair = kill_pair
    strategy = random.Random(seed).choice(["move", "copy_then_delete"])
    proc = job(pair, strategy, "x", rate="3000")
    time.sleep(random.Random(seed).uniform(1.5, 2.2))  # the job runs ~0.7 s of setup, then ~0.5 s a batch
    proc.kill()
    proc.communicate(timeout=60)
    assert_nothing_lost(pair)
    finish(job(pair, strategy, "x"))
    assert_archived(pair, strategy)
