"""Helpers for scenarios against the shared Airflow deployment (stack.py)."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psutil

from tests.faults.fdb import FEngine, FPair
from tests.processes import wait_for


def pairs_for(engines: dict, jobs: list[tuple[str, str, str]], n: int = 2400) -> dict[str, FPair]:
    """jobs: (source engine, warm engine, table name) -> FPair reset with ``n`` rows."""
    return {name: FPair(s, w, name, engines).reset(n=n) for s, w, name in jobs}


def own_engines() -> dict:
    return {"pg": FEngine("pg"), "my": FEngine("my")}


def try_warm_lock(e: FEngine, warm_table: str) -> bool:
    """Take and release the job's warm-table lock: True once no job holds it."""
    from warm_archive.dialects import _lock_id

    name = f"warm_archive:{warm_table}"
    if e.kind == "pg":
        if e.execute("SELECT pg_try_advisory_lock(%s)", (_lock_id(name),)).fetchone()[0]:
            e.execute("SELECT pg_advisory_unlock(%s)", (_lock_id(name),))
            return True
        return False
    if e.execute("SELECT GET_LOCK(%s, 0)", (name[:64],)).fetchone()[0] == 1:
        e.execute("SELECT RELEASE_LOCK(%s)", (name[:64],))
        return True
    return False


class HeldWarmLock:
    """The test holds the warm-table lock, as another job would."""

    def __init__(self, kind: str, warm_table: str):
        from warm_archive.dialects import _lock_id

        self.e = FEngine(kind)
        name = f"warm_archive:{warm_table}"
        if kind == "pg":
            assert self.e.execute("SELECT pg_try_advisory_lock(%s)", (_lock_id(name),)).fetchone()[0]
        else:
            assert self.e.execute("SELECT GET_LOCK(%s, 0)", (name[:64],)).fetchone()[0] == 1

    def release(self):
        self.e.close()  # session locks end with the session


def wait_job_gone(pair: FPair, timeout: float = 60) -> None:
    e = FEngine(pair.warm.kind)
    try:
        wait_for(lambda: try_warm_lock(e, pair.warm_table), timeout, 0.3, "the job to release its warm table")
    finally:
        e.close()


def job_client_ports(kind: str, table_sql: str) -> list[int]:
    """Client ports of connections whose current/last statement names ``table_sql``."""
    e = FEngine(kind)
    try:
        if kind == "pg":
            rows = e.execute(
                "SELECT client_port FROM pg_stat_activity WHERE datname = 'wa_fault' AND "
                "pid <> pg_backend_pid() AND position(%s in query) > 0",
                (table_sql,),
            ).fetchall()
            return [r[0] for r in rows if r[0]]
        rows = e.execute(
            "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE %s",
            (f"%{table_sql}%",),
        ).fetchall()
        return [int(r[0].rsplit(":", 1)[1]) for r in rows if r[0] and ":" in r[0]]
    finally:
        e.close()


def kill_worker_of(stack, dag_id: str, run_id: str, task_id: str) -> int:
    """kill -9 the Airflow task process running a task instance: the task runner titles itself
    ``airflow worker -- <task instance id>``."""
    ti = stack.task_instance(dag_id, run_id, task_id)
    title = f"airflow worker -- {ti['id']}"
    pids = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and " ".join(p.info["cmdline"]).strip() == title
    ]
    assert len(pids) == 1, f"expected one process titled {title!r}, found {pids}"
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


__all__ = [
    "HeldWarmLock",
    "job_client_ports",
    "kill_worker_of",
    "own_engines",
    "pairs_for",
    "time",
    "try_warm_lock",
    "wait_job_gone",
]


def scenarios_at_once(stack, scenarios: dict):
    """Start every scenario of a module at once (each on its own DAG and tables) and yield their
    futures by name; a test checks one with ``.result()``."""
    pool = ThreadPoolExecutor(len(scenarios))
    futures = {name: pool.submit(fn, stack) for name, fn in scenarios.items()}
    yield futures
    pool.shutdown(wait=True)
