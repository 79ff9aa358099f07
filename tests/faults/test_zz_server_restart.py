"""The MariaDB server restarted while two jobs run (docs/design.md §4.5): one reads its source from MariaDB
(``move`` MariaDB -> PostgreSQL), the other writes its warm table there (``copy_then_delete``
PostgreSQL -> MariaDB). Both fail (not hang, not succeed silently), nothing is lost, and once the
server is back the retries of the same task instances finish with exact tables.

One restart for the whole suite (other test sessions share the server); named ``zz`` so it runs
after the other fault modules. PostgreSQL is not restarted: it also holds Airflow metadata DBs of
running deployments; dropping its connections is covered by test_connection_drop.py.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.faults import tally
from tests.faults.fdb import FEngine, FPair, JobThread, ledger_batches, ledger_report
from tests.processes import wait_for


def _ping() -> bool:
    return subprocess.run(["mariadb-admin", "-h", "127.0.0.1", "-uroot", "ping"], capture_output=True).returncode == 0


def _server_gone() -> bool:
    return subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True).returncode != 0


def restart_mariadb() -> float:
    t0 = time.monotonic()
    try:
        subprocess.run(["mariadb-admin", "-h", "127.0.0.1", "-uroot", "shutdown"], check=True, timeout=120)
        wait_for(_server_gone, 120, 0.2, "the mariadbd process to exit")
    finally:  # whatever happened, the shared server must come back
        subprocess.run(
            ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"], timeout=60
        )
        wait_for(_ping, 120, 0.3, "MariaDB to come back")
    return time.monotonic() - t0


_LOCK_HOLDERS = (
    "SELECT t.trx_mysql_thread_id, t.trx_started, t.trx_rows_locked, p.USER, p.HOST, p.DB, "
    "p.COMMAND, LEFT(IFNULL(t.trx_query, p.INFO), 200) FROM information_schema.INNODB_TRX t "
    "LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
    "WHERE t.trx_rows_locked > 0"
)


def _end_leftover_lock_holders(my) -> list:
    """Connections from earlier tests still holding row locks (this test restarts the server
    anyway, which ends them all): listed in the output, then ended, so that this test's jobs do
    not wait 50 s on another test's transaction."""
    holders = list(my.execute(_LOCK_HOLDERS).fetchall())
    for h in holders:
        print("ending a leftover transaction that holds row locks:", h)
        try:
            my.execute(f"KILL {int(h[0])}")
        except Exception as e:  # noqa: BLE001 - it may have ended meanwhile
            print("  (already gone:", e, ")")
    return holders


@pytest.mark.timeout(300)
def test_mariadb_restart_during_jobs_then_retry_is_exact():
    engines = {"pg": FEngine("pg"), "my": FEngine("my")}
    _end_leftover_lock_holders(engines["my"])
    a = FPair("my", "pg", "rs_a", engines).reset()
    b = FPair("pg", "my", "rs_b", engines).reset()
    jobs = {"a": (a, "move", "rs_a_run"), "b": (b, "copy_then_delete", "rs_b_run")}
    with tally.scenario("fault"):
        threads = {
            k: JobThread(p.params(st, run, max_rows_per_second=300, batch_size=100)) for k, (p, st, run) in jobs.items()
        }
        for t in threads.values():
            t.start()
        try:
            wait_for(
                lambda: (
                    ledger_batches(a.warm, "warm_fault", "rs_a_run", "rs_a") >= 2
                    and ledger_batches(b.warm, "warm_fault", "rs_b_run", "rs_b") >= 2
                ),
                60,
                0.1,
                "both jobs under way",
            )
        except AssertionError as e:  # say who holds the locks, and leave no job running behind
            holders = list(engines["my"].execute(_LOCK_HOLDERS).fetchall())
            for t in threads.values():
                if t.job is not None:
                    t.job.stop()
                t.join(60)
            raise AssertionError(f"{e}; MariaDB transactions holding row locks: {holders}") from None
        for e in engines.values():
            e.close()
        took = restart_mariadb()
        for t in threads.values():
            t.finish(120)
            assert t.error is not None, "a job carried on through a server restart as if nothing happened"
        engines.update(pg=FEngine("pg"), my=FEngine("my"))
        for _k, (p, st, run) in jobs.items():
            p.src, p.warm = engines[p.src.kind], engines[p.warm.kind]
            p.check_nothing_lost()
            rep = ledger_report(p, run, strategy=st)
            assert rep["lost"] == 0 and rep["in_warm"] == rep["rows"], rep
        for _k, (p, st, run) in jobs.items():  # Airflow's retry of the same task instance
            retry = JobThread(p.params(st, run, batch_size=100))
            retry.start()
            assert retry.finish().error is None, retry.error
            p.check_exact(st)
        assert took < 120
    for e in engines.values():
        e.close()
