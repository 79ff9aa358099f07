"""The application never waits for the job (issue 23 item 4, docs/design.md §4.9): while the job
holds a batch's source transaction open (paused at a failpoint), another session inserts a row
at the table's end and updates a row outside the condition, with a one-second lock timeout, and
both go through at once. On MariaDB this needs the job's locking transactions to be READ
COMMITTED: in REPEATABLE READ its locking reads keep next-key locks on every row they scanned,
matching or not, and on the gap up to the next row, the table's end included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.engine.conftest import ROOT_DIR, SRC, Pair

WHERE = "amount < 50000"  # about every other row: matching and other rows interleave
CASES = [
    (s, w, strategy, point)
    for s, w in [("pg", "pg2"), ("my", "my2"), ("pg", "pg"), ("my", "my")]
    for strategy, point in [("move", "before_warm_commit:1"), ("copy_then_delete", "during_delete_phase:1")]
]


def _other_session(pair: Pair):
    """A session of the application's: autocommit, a one-second lock wait."""
    e = pair.src
    if e.kind == "pg":
        import psycopg

        from tests.dbs import PG_DSN

        c = psycopg.connect(PG_DSN, autocommit=True)
        c.execute("SET lock_timeout = '1s'")
        return c, lambda sql, p=None: c.execute(sql, p)
    from tests.dbs import my

    c = my()
    c.cursor().execute("SET SESSION innodb_lock_wait_timeout = 1")
    return c, lambda sql, p=None: c.cursor().execute(sql, p)


@pytest.mark.parametrize("src,warm,strategy,point", CASES, ids=[f"{s}->{w}-{st}" for s, w, st, _ in CASES])
def test_inserts_at_the_end_and_updates_outside_the_condition_never_wait(engines, tmp_path, src, warm, strategy, point):
    pair = Pair(engines[src], engines[warm]).reset(n=300)
    t = pair.src.q(SRC)
    last = max(pair.before_src)
    pair.src.execute(f"UPDATE {t} SET amount = 1 WHERE id = {last}")  # the table's last row matches
    pair.reset_expected()
    matching = sorted(k for k, v in pair.before_src.items() if v[2] < 50000)
    outside = [k for k in pair.before_src if k not in matching and matching[0] < k < matching[-1]]
    target = outside[len(outside) // 2]  # a row the batch's key range covers, not matching

    go = tmp_path / "go"
    env = dict(os.environ, WARM_ARCHIVE_PAUSE_AT=point, WARM_ARCHIVE_PAUSE_FILE=str(go))
    env.pop("WARM_ARCHIVE_KILL_AT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.job_process", src, warm, strategy, "nowait", "run", "", WHERE],
        cwd=ROOT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "go.paused").exists():
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the job never reached its failpoint"
            time.sleep(0.05)
        conn, run = _other_session(pair)
        try:
            t0 = time.monotonic()
            run(
                f"INSERT INTO {t} (id, created_at, amount, status, note, flag, payload) "
                "VALUES (%s, '2026-06-01', 99999, 'new', 'fresh', true, NULL)",
                (last + 1,),
            )
            inserted_in = time.monotonic() - t0
            t0 = time.monotonic()
            run(f"UPDATE {t} SET status = 'touched' WHERE id = %s", (target,))
            updated_in = time.monotonic() - t0
        finally:
            conn.close()
        assert inserted_in < 0.5 and updated_in < 0.5, (inserted_in, updated_in)
    finally:
        go.touch()
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    archived = {k: v for k, v in pair.before_src.items() if k in matching}
    assert pair.warm_rows() == archived
    left = pair.src_rows()
    assert set(left) == (set(pair.before_src) - set(matching)) | {last + 1}
    assert left[target][3] == "touched"
