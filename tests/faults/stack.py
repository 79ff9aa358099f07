"""One real Airflow deployment shared by tests/faults and tests/abuse (started on first use, stopped
at the end of the session): PostgreSQL metadata DB ``wa_fault_meta``, LocalExecutor, scheduler,
dag-processor, and the api-server on port 28120 under the FAB auth manager (roles and per-DAG
permissions). It reuses the process helpers of tests/api/warm_api_harness.py.

Users: admin (Admin), op (Op), viewer (Viewer: read-only), other (may read and edit the runs of
``f_other`` only).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests import specs
from tests.api.warm_api_harness import Deployment
from tests.faults.fdb import DB, MY_URI, PG_URI, table
from tests.specs import Job

PORT = 28120
LOG_PORT = 28121
META_DB = "wa_fault_meta"
JWT_SECRET = "warm-api-tests-jwt-secret-0123456789abcdef"  # the harness's [api_auth] jwt_secret

# user -> (password, FAB role)
USERS = {
    "admin": ("admin-pw", "Admin"),
    "op": ("op-pw", "Op"),
    "viewer": ("viewer-pw", "Viewer"),
    "other": ("other-pw", "Other"),
    "editor": ("editor-pw", "Editor"),
}


def spec(
    dag_id: str,
    strategy: str,
    jobs: list[tuple[str, str, str, str]],
    *,
    rate: float | None = None,
    batch: int = 100,
    retries: int = 0,
    **options,
) -> str:
    """jobs: (job id, source engine, warm engine, table name) on the fault suite's connections f_pg/f_my."""
    return specs.spec(
        dag_id,
        strategy,
        [
            Job(
                job_id,
                f"f_{s}",
                table(s, "src", name),
                f"f_{w}",
                table(w, "warm", name),
                where="created_at < '2025-01-01'",
            )
            for job_id, s, w, name in jobs
        ],
        batch_size=batch,
        retries=retries,
        retry_delay_seconds=0,
        max_rows_per_second=rate,
        **options,
    )


# DAG id -> spec. Each scenario has its own DAG and tables (see the tests that use them).
SPECS = {
    # terminate from the monitor (test_terminate_and_kill.py)
    "f_term_copy": spec("f_term_copy", "move", [("orders", "pg", "pg", "tc")], rate=150),
    "f_term_delete": spec("f_term_delete", "copy_then_delete", [("orders", "my", "my", "td")], batch=200, rate=300),
    "f_term_second": spec(
        "f_term_second", "move", [("first", "pg", "my", "ts1"), ("second", "my", "pg", "ts2")], rate=150
    ),
    "f_term_lock": spec("f_term_lock", "move", [("orders", "pg", "pg", "tl")]),
    # its pool has no slot until the test has terminated the run (the task cannot start before)
    "f_term_queued": spec("f_term_queued", "move", [("orders", "pg", "pg", "tq")], pool="f_closed"),
    # kill -9 of the Airflow worker, then Airflow's retry
    "f_kill_copy": spec("f_kill_copy", "move", [("orders", "pg", "my", "kc")], rate=150, retries=1),
    "f_kill_delete": spec("f_kill_delete", "copy_then_delete", [("orders", "my", "pg", "kd")], batch=200, retries=1),
    # resume from the monitor (test_resume.py): terminated mid-run (two jobs), failed by a
    # failpoint on its first try (FAILPOINT below), and runs the refusals act on
    "f_resume_term": spec(
        "f_resume_term", "move", [("first", "pg", "pg", "rs1"), ("second", "my", "pg", "rs2")], rate=150
    ),
    "f_resume_fault": spec("f_resume_fault", "move", [("orders", "my", "pg", "rf")]),
    "f_resume_refuse": spec("f_resume_refuse", "move", [("orders", "pg", "pg", "rr_missing")]),
    # two runs of one DAG at once (test_overlapping_runs.py)
    "f_twice": spec("f_twice", "move", [("orders", "pg", "pg", "tw")], rate=400),
    # abuse (tests/abuse)
    "f_abuse": spec("f_abuse", "copy", [("orders", "pg", "pg", "ab")], batch=500),
    "f_abuse_fail": spec("f_abuse_fail", "move", [("orders", "pg", "pg", "ab_missing")]),
    "f_abuse_slow": spec(
        "f_abuse_slow", "copy", [("orders", "pg", "pg", "abs")], rate=60, batch=20, allow_conf_where=True
    ),
    "f_other": spec("f_other", "copy", [("orders", "pg", "pg", "ot")], batch=500),
    # paths around the plugin (tests/abuse/test_paths_around_the_plugin.py)
    "f_guard": spec("f_guard", "copy", [("orders", "pg", "my", "gd")], batch=500),
    "f_guard_move": spec("f_guard_move", "move", [("orders", "my", "pg", "gm")], batch=500),
    # a signed maintenance conf acts once (tests/abuse/test_maintenance_acts_once.py)
    "f_once": spec("f_once", "move", [("orders", "pg", "my", "on")], batch=100),
}
DAGS = [*SPECS, *(f"{d}__maintenance" for d in SPECS)]
# The first try of f_resume_fault's job kills itself (kill -9) right after its 3rd warm commit,
# before that batch's source delete (operators/warm_archive/failpoints.py); no other DAG or try.
FAILPOINT = {"WARM_ARCHIVE_KILL_AT": "after_warm_commit:3", "WARM_ARCHIVE_KILL_ONLY": "f_resume_fault:1"}

# FAB roles and users in one process (one Airflow start instead of one CLI call per user): the
# builtin roles, a role "Other" that may read and edit the runs of f_other and of its maintenance DAG
# only (an owner of one warm DAG in a shared deployment), a role "Editor" that may
# edit the runs of f_abuse_fail but not create runs, and USERS.
USERS_SCRIPT = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
users = json.loads(sys.argv[1])
with get_application_builder() as ab:
    sm = ab.sm
    sm.sync_roles()
    role = sm.find_role("Other") or sm.add_role("Other")
    for resource, actions in (("DAG:f_other", ("can_read", "can_edit")),
                              ("DAG:f_other__maintenance", ("can_read", "can_edit")),
                              ("DAG Runs", ("can_read", "can_edit", "can_create"))):
        for action in actions:
            sm.add_permission_to_role(role, sm.create_permission(action, resource))
    role = sm.find_role("Editor") or sm.add_role("Editor")
    for resource, actions in (("DAG:f_abuse_fail", ("can_read", "can_edit")),
                              ("DAG Runs", ("can_read", "can_edit"))):
        for action in actions:
            sm.add_permission_to_role(role, sm.create_permission(action, resource))
    for name, (password, role_name) in users.items():
        if not sm.find_user(username=name):
            assert sm.add_user(name, name, "test", name + "@example.com", sm.find_role(role_name),
                               password=password), name
"""
VENV_PY = Path(sys.executable)

_lock = threading.Lock()
_stack: FaultStack | None = None  # noqa: F821 (defined below)


class FaultStack(Deployment):
    """The harness's Deployment, plus what the fault and abuse tests need."""

    def start(self) -> None:
        self.migrate()
        self.start_background()
        self.use("fab")
        # Only once the api-server is up: it syncs FAB's roles and permissions as it starts, and two
        # syncs at once can insert the same permission twice (a unique violation on CI).
        users = subprocess.run(
            [str(VENV_PY), "-c", USERS_SCRIPT, json.dumps(USERS)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
        )
        assert users.returncode == 0, users.stdout[-3000:]
        self.wait_dags(DAGS)

    def rollback_and_wait(self, dag_id: str, run_id: str, timeout: float = 180) -> dict:
        m = self.warm_action(dag_id, run_id, "rollback")["maintenance_run_id"]
        state = self.wait_run(f"{dag_id}__maintenance", m, timeout=timeout)
        assert state == "success", f"rollback maintenance run {m} ended {state}"
        return self.return_value(f"{dag_id}__maintenance", m, "maintain")

    def meta(self):
        import psycopg

        return psycopg.connect(f"host=127.0.0.1 user=root dbname={META_DB}", autocommit=True)


def get() -> FaultStack:
    """The shared deployment, started on first use."""
    global _stack
    with _lock:
        if _stack is None:
            s = FaultStack(
                meta_db=META_DB,
                port=PORT,
                specs=SPECS,
                passwords={u: p for u, (p, _) in USERS.items()},
                connections={"f_pg": PG_URI, "f_my": MY_URI},
                extra_env={
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(LOG_PORT),
                    "AIRFLOW__CORE__PARALLELISM": "10",
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
                    **FAILPOINT,
                },
            )
            try:
                s.start()
            except BaseException:
                s.stop()
                raise
            _stack = s
        return _stack


def shutdown() -> None:
    global _stack
    with _lock:
        if _stack is not None:
            _stack.stop()
            _stack = None


__all__ = ["DB", "FaultStack", "SPECS", "USERS", "get", "shutdown", "spec", "time"]
