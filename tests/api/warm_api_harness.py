"""A real Airflow deployment for the API tests: PostgreSQL metadata DB, LocalExecutor, scheduler,
dag-processor and an api-server that is restarted when the tests switch auth manager.

Used by ``tests/api/conftest.py``; ``bench/monitor_api.py`` reuses the process helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.processes import Proc, recreate_pg_db, wait_port_free

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")

SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# Users of both auth managers: name -> (password, SimpleAuthManager role, FAB role)
USERS = {
    "admin": ("admin-pw", "admin", "Admin"),
    "op": ("op-pw", "op", "Op"),
    "user": ("user-pw", "user", "User"),
    "viewer": ("viewer-pw", "viewer", "Viewer"),
}


class Deployment:
    """One Airflow home; the scheduler and dag-processor run for the whole session, the api-server
    is (re)started with the auth manager a test asks for."""

    def __init__(self, *, meta_db: str, port: int, specs: dict[str, str] | None = None,
                 connections: dict[str, str] | None = None, copy_plugin: bool = True, extra_env: dict | None = None):
        self.home = Path(tempfile.mkdtemp(prefix="warm-api-home-"))
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.meta_db = meta_db
        self.specs_dir = self.home / "specs"
        self.specs_dir.mkdir()
        for name, text in (specs or {}).items():
            (self.specs_dir / name).write_text(text)
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
        self._tokens: dict[str, str] = {}

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
        self._tokens.clear()
        wait_port_free(self.port)
        env = dict(self.env, AIRFLOW__CORE__AUTH_MANAGER=SIMPLE if kind == "simple" else FAB)
        self.procs["api-server"] = Proc("api-server", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(self.port),
                                                       "-w", "1"], env, self.home, cwd=ROOT)
        self.auth_kind = kind
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            proc = self.procs["api-server"]
            if not proc.alive():
                raise RuntimeError("api-server died:\n" + proc.tail())
            try:
                if requests.get(f"{self.base}/api/v2/monitor/health", timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError("api-server not healthy:\n" + self.procs["api-server"].tail())

    def stop(self) -> None:
        for name in ("api-server", "scheduler", "dag-processor"):
            if name in self.procs:
                self.procs.pop(name).stop()

    # -- HTTP -----------------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        if user not in self._tokens:
            pw = USERS[user][0] if user in USERS else user
            r = requests.post(f"{self.base}/auth/token", json={"username": user, "password": pw}, timeout=30)
            assert r.status_code in (200, 201), (user, r.status_code, r.text)
            self._tokens[user] = r.json()["access_token"]
        return self._tokens[user]

    def headers(self, user: str | None) -> dict:
        return {"Authorization": f"Bearer {self.token(user)}"} if user else {}

    def get(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return requests.get(self.base + path, headers={**self.headers(user), **kw.pop("headers", {})}, timeout=60, **kw)

    def post(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return requests.post(self.base + path, headers={**self.headers(user), **kw.pop("headers", {})}, timeout=60, **kw)

    def patch(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return requests.patch(self.base + path, headers={**self.headers(user), **kw.pop("headers", {})}, timeout=60, **kw)

    # -- Airflow helpers -------------------------------------------------------------------------------

    def wait_dags(self, dag_ids: list[str], timeout: float = 240) -> None:
        deadline = time.time() + timeout
        missing = list(dag_ids)
        while time.time() < deadline:
            missing = [d for d in missing if self.get(f"/api/v2/dags/{d}").status_code != 200]
            if not missing:
                return
            time.sleep(2)
        errs = self.get("/api/v2/importErrors").text
        raise RuntimeError(f"DAGs not parsed: {missing}\nimport errors: {errs}\n"
                           + self.procs["dag-processor"].tail())

    def trigger(self, dag_id: str, conf: dict | None = None, user: str = "admin") -> str:
        r = self.post(f"/api/v2/dags/{dag_id}/dagRuns", user, json={"logical_date": None, "conf": conf or {}})
        assert r.status_code == 200, r.text
        return r.json()["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        r = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        assert r.status_code == 200, r.text
        return r.json()["state"]

    def wait_run(self, dag_id: str, run_id: str, states=("success", "failed"), timeout: float = 240) -> str:
        deadline = time.time() + timeout
        state = None
        while time.time() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in states:
                return state
            time.sleep(1)
        raise AssertionError(f"{dag_id}/{run_id} still {state} after {timeout}s\n"
                             + self.procs["scheduler"].tail(40))

    def return_value(self, dag_id: str, run_id: str, task_id: str):
        r = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                     params={"deserialize": "true"})
        assert r.status_code == 200, r.text
        return r.json()["value"]
