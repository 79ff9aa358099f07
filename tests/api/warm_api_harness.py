"""A real Airflow deployment for the API tests: PostgreSQL metadata DB, LocalExecutor, scheduler,
dag-processor and an api-server that is restarted when the tests switch auth manager.

Used by ``tests/api/conftest.py``; ``bench/monitor_api.py`` reuses the process helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.deployment import Client
from tests.processes import AIRFLOW, ROOT, VENV_BIN, Proc, recreate_pg_db, wait_port_free
from tests.specs import write_specs

SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# Users of both auth managers: name -> (password, SimpleAuthManager role, FAB role)
USERS = {
    "admin": ("admin-pw", "admin", "Admin"),
    "op": ("op-pw", "op", "Op"),
    "user": ("user-pw", "user", "User"),
    "viewer": ("viewer-pw", "viewer", "Viewer"),
}


class Deployment(Client):
    """One Airflow home; the scheduler and dag-processor run for the whole session, the api-server
    is (re)started with the auth manager a test asks for. The HTTP helpers are tests.deployment.Client's;
    ``passwords`` (user -> password) defaults to USERS'."""

    def __init__(self, *, meta_db: str, port: int, specs: dict[str, str] | None = None,
                 connections: dict[str, str] | None = None, copy_plugin: bool = True, extra_env: dict | None = None,
                 passwords: dict[str, str] | None = None):
        super().__init__(f"http://127.0.0.1:{port}", passwords or {u: p for u, (p, _, _) in USERS.items()},
                         tail=self._proc_tail)
        self.home = Path(tempfile.mkdtemp(prefix="warm-api-home-"))
        self.port = port
        self.meta_db = meta_db
        self.specs_dir = self.home / "specs"
        write_specs(self.specs_dir, specs or {})
        plugins = self.home / "plugins"
        plugins.mkdir()
        if copy_plugin:  # a deployment that also copies the plugin folder must not register it twice
            shutil.copytree(ROOT / "plugins" / "warm_monitor", plugins / "warm_monitor",
                            ignore=shutil.ignore_patterns("__pycache__"))
        (self.home / "passwords.json").write_text(json.dumps({u: p for u, (p, _, _) in USERS.items()}))
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")):
                del env[k]
        env.update({
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://root@127.0.0.1:5432/{meta_db}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "warm-api-tests-jwt-secret-0123456789abcdef",
            "AIRFLOW__API__SECRET_KEY": "warm-api-tests-secret-key",
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, (_, r, _) in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": FAB,  # migrate with FAB so its tables exist for both phases
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER": str(self.specs_dir),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        })
        for conn_id, uri in (connections or {}).items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        env.update(extra_env or {})
        self.env = env
        self.procs: dict[str, Proc] = {}
        self.auth_kind: str | None = None

    def _proc_tail(self, role: str) -> str:
        return self.procs[role].tail(40) if role in self.procs else ""

    # -- lifecycle ----------------------------------------------------------------------------------

    def cli(self, *args: str, auth: str = FAB, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(self.env, AIRFLOW__CORE__AUTH_MANAGER=auth)
        r = subprocess.run([AIRFLOW, *args], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
        return r

    def migrate(self) -> None:
        recreate_pg_db(self.meta_db)
        self.cli("db", "migrate", timeout=600)

    def start_background(self) -> None:
        for name in ("scheduler", "dag-processor"):
            self.procs[name] = Proc(name, [AIRFLOW, name], self.env, self.home, cwd=ROOT)

    def use(self, kind: str) -> None:
        """Make sure the api-server runs with ``kind`` ("simple" or "fab") as auth manager."""
        if self.auth_kind == kind and self.procs.get("api-server") and self.procs["api-server"].alive():
            return
        if "api-server" in self.procs:
            self.procs.pop("api-server").stop()
        self.forget_tokens()
        wait_port_free(self.port)
        env = dict(self.env, AIRFLOW__CORE__AUTH_MANAGER=SIMPLE if kind == "simple" else FAB)
        self.procs["api-server"] = Proc("api-server", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(self.port),
                                                       "-w", "1"], env, self.home, cwd=ROOT)
        self.auth_kind = kind
        self.wait_healthy(self.procs["api-server"])

    def stop(self) -> None:
        for name in ("api-server", "scheduler", "dag-processor"):
            if name in self.procs:
                self.procs.pop(name).stop()
