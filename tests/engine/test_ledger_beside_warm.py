"""The ledger sits beside the warm table (docs/adr/0001-ledger-in-the-warm-db.md, "Where in the warm
DB"; design §4.1). On MariaDB a schema is a database: with the warm table ``wa_lagwarm.orders`` on a
connection whose default database is ``wa_lagsrc`` (the hot one), the ledger and its version table
are created in ``wa_lagwarm``, nothing in ``wa_lagsrc``; rollback and a resume after a kill -9 work
from there. A ledger that an older version left in the default database is refused, with the SQL
that moves it; once moved, the retry resumes from it and redoes no batch.

Also a job process of its own (the kill): ``python -m tests.engine.test_ledger_beside_warm RUN_ID
STRATEGY run|rollback [old]`` (``old``: the previous version's place, the default database).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest

from tests.dbs import MY_PORT, Engine, checksum
from tests.engine.conftest import ROOT_DIR
from warm_archive import ledger as ledger_module
from warm_archive.engine import JobParams, TableJob
from warm_archive.ledger import LedgerLocationError

HOT, WARM_DB = "wa_lagsrc", "wa_lagwarm"
CONN = "T_LAG"
os.environ.setdefault(f"AIRFLOW_CONN_{CONN}", f"mysql://root@127.0.0.1:{MY_PORT}/{HOT}")
SRC, WARM = "orders", f"{WARM_DB}.orders"  # the source unqualified: in the connection's default database
WHERE = "created_at < '2025-01-01'"
STATUS = "LAG_STATUS "


def params(run_id: str, strategy: str = "move", **kw) -> JobParams:
    return JobParams(
        dag_id="warm_lag",
        run_id=run_id,
        task_id="orders",
        source_conn_id=CONN,
        source_table=SRC,
        target_conn_id=CONN,
        target_table=WARM,
        key=["id"],
        where=WHERE,
        strategy=strategy,
        batch_size=400,
        **kw,
    )


def main(run_id: str, strategy: str, action: str, old: str = "") -> None:
    if old:  # the previous version: every ledger in the connection's default database
        ledger_module.ledger_database = lambda warm, target: None
    with TableJob(params(run_id, strategy)) as job:
        if action == "run":
            s = job.run()
            print(STATUS + json.dumps({k: s[k] for k in ("rows_copied", "rows_skipped", "rows_deleted")}))
        else:
            job.prepare(create_target=False)
            job.rollback()


def proc(run_id: str, strategy: str, action: str = "run", kill_at: str | None = None, old: bool = False) -> dict | None:
    env = {k: v for k, v in os.environ.items() if k != "WARM_ARCHIVE_KILL_AT"}
    if kill_at:
        env["WARM_ARCHIVE_KILL_AT"] = kill_at
    args = [
        sys.executable,
        "-m",
        "tests.engine.test_ledger_beside_warm",
        run_id,
        strategy,
        action,
        *(["old"] if old else []),
    ]
    p = subprocess.run(args, cwd=ROOT_DIR, env=env, capture_output=True, timeout=180)
    out = (p.stdout + p.stderr).decode()
    if kill_at:
        assert p.returncode == -signal.SIGKILL, out[-3000:]
        return None
    assert p.returncode == 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if ln.startswith(STATUS)]
    return json.loads(lines[-1][len(STATUS) :]) if lines else None


class Lag:
    def __init__(self):
        self.e = Engine("my")
        for db in (HOT, WARM_DB):
            self.e.execute(f"DROP DATABASE IF EXISTS {db}")
            self.e.execute(f"CREATE DATABASE {db}")
        self.e.create_orders(f"{HOT}.{SRC}", 2400)
        self.before = self.e.rows(f"{HOT}.{SRC}")
        self.archived = {k: v for k, v in self.before.items() if v[1] < dt_cutoff()}

    def tables(self, db: str) -> set[str]:
        cur = self.e.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (db,))
        return {r[0] for r in cur.fetchall()}

    def src(self) -> dict:
        return self.e.rows(f"{HOT}.{SRC}")

    def warm(self) -> dict:
        return self.e.rows(WARM) if "orders" in self.tables(WARM_DB) else {}

    def batches(self, db: str, run_id: str) -> list[int]:
        cur = self.e.execute(
            f"SELECT batch_no FROM {db}.warm_archive_ledger WHERE run_id = %s AND batch_no > 0 ORDER BY batch_no",
            (run_id,),
        )
        return [r[0] for r in cur.fetchall()]

    def nothing_lost(self):
        src, warm = self.src(), self.warm()
        for k, row in self.before.items():
            assert src.get(k) == row or warm.get(k) == row, f"row {k} is in neither table"


def dt_cutoff():
    from tests.dbs import CUTOFF

    return CUTOFF


@pytest.fixture
def lag():
    w = Lag()
    yield w
    for db in (HOT, WARM_DB):
        w.e.execute(f"DROP DATABASE IF EXISTS {db}")
    w.e.close()


LEDGER = {"warm_archive_ledger", "warm_archive_schema"}


def test_the_ledger_lands_in_the_warm_tables_database_and_rollback_reads_it(lag):
    with TableJob(params("r1")) as job:
        job.run()
    assert lag.tables(HOT) == {"orders"}  # nothing of the archive in the hot database
    assert lag.tables(WARM_DB) == {"orders"} | LEDGER
    assert lag.warm() == lag.archived
    assert lag.batches(WARM_DB, "r1") == list(range(1, len(lag.batches(WARM_DB, "r1")) + 1))
    with TableJob(params("r1")) as job:
        job.prepare(create_target=False)
        out = job.rollback()
    assert out["rows_restored"] == len(lag.archived) and out["rows_removed"] == len(lag.archived), out
    assert checksum(lag.src()) == checksum(lag.before) and lag.warm() == {}
    assert lag.tables(HOT) == {"orders"}


@pytest.mark.parametrize("point", ["after_warm_commit:3", "after_source_read:2"])
def test_kill_then_resume_from_the_warm_databases_ledger(lag, point):
    proc("k", "copy_then_delete", kill_at=point)
    lag.nothing_lost()
    assert lag.tables(HOT) == {"orders"}
    totals = proc("k", "copy_then_delete")  # the retry of the same task instance
    n = len(lag.archived)
    assert totals == {"rows_copied": n, "rows_skipped": 0, "rows_deleted": n}, totals
    assert lag.warm() == lag.archived
    assert lag.src() == {k: v for k, v in lag.before.items() if k not in lag.archived}
    assert lag.tables(HOT) == {"orders"}
    # and a rollback killed half-way, then run again, restores the start from the same ledger
    proc("k", "copy_then_delete", "rollback", kill_at="during_rollback_restore:2")
    lag.nothing_lost()
    proc("k", "copy_then_delete", "rollback")
    assert checksum(lag.src()) == checksum(lag.before) and lag.warm() == {}
    assert lag.tables(HOT) == {"orders"}


def test_an_older_versions_ledger_in_the_default_database_is_refused_until_moved(lag):
    from warm_archive.maintenance import _ledger_exists

    # The previous version, killed after its third batch: its ledger is in the hot database.
    proc("old", "copy_then_delete", kill_at="after_warm_commit:3", old=True)
    done = lag.batches(HOT, "old")
    assert done and lag.tables(WARM_DB) == {"orders"}
    src, warm = lag.src(), lag.warm()

    # This version refuses it (run, dry run, rollback, maintenance), naming both places; writes nothing.
    with pytest.raises(LedgerLocationError) as refused:
        with TableJob(params("old", "copy_then_delete")) as job:
            job.run()
    message = str(refused.value)
    for words in (f"{HOT}.warm_archive_ledger", f"{WARM_DB}.warm_archive_ledger", "'T_LAG'", "INSERT INTO"):
        assert words in message, message
    with pytest.raises(LedgerLocationError):
        with TableJob(params("old", "copy_then_delete", dry_run=True)) as job:
            job.run()
    with pytest.raises(LedgerLocationError):
        with TableJob(params("old", "copy_then_delete")) as job:
            job.prepare(create_target=False)
    with pytest.raises(LedgerLocationError):
        with TableJob(params("old", "copy_then_delete")) as job:
            _ledger_exists(job)
    assert lag.tables(WARM_DB) == {"orders"} and lag.src() == src and lag.warm() == warm
    assert lag.batches(HOT, "old") == done

    # The statements the message gives move the rows; the retry then resumes after the last batch.
    for statement in message.split("one transaction", 1)[1].split(": ", 1)[1].split("; "):
        lag.e.execute(statement)
    assert lag.batches(HOT, "old") == [] and lag.batches(WARM_DB, "old") == done
    totals = proc("old", "copy_then_delete")
    n = len(lag.archived)
    assert totals == {"rows_copied": n, "rows_skipped": 0, "rows_deleted": n}, totals  # no batch redone
    batches = lag.batches(WARM_DB, "old")
    assert batches == list(range(1, len(batches) + 1)) and batches[: len(done)] == done
    assert lag.warm() == lag.archived
    # the old ledger holds no row of this target any more: no longer in the way of this version
    with TableJob(params("other", "copy")) as job:
        job.run()


def test_an_unqualified_warm_table_keeps_its_ledger_in_the_default_database(lag):
    with TableJob(replace(params("u", "copy"), target_table="orders_warm")) as job:
        job.run()
    assert lag.tables(HOT) == {"orders", "orders_warm"} | LEDGER
    assert "warm_archive_ledger" not in lag.tables(WARM_DB)


if __name__ == "__main__":
    main(*sys.argv[1:])
