"""A real Airflow deployment for the monitor API benchmark: processes, PostgreSQL metadata DB, api-server.

Only what ``bench/monitor_api.py`` uses, so the benchmark imports nothing from ``tests/``: each
process in its own session (a stop takes its children with it), scratch PostgreSQL databases, an
Airflow home with the spec files, the api-server (SimpleAuthManager) and its JWT. The environment is
the one the API tests' deployment uses (``tests/api/warm_api_harness.py``), so the figures compare.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from bench.processes import AIRFLOW, ROOT, VENV_BIN, Proc, recreate_pg_db, wait_port_free

SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# Users of both auth managers: name -> (password, SimpleAuthManager role, FAB role)
USERS = {
    "admin": ("admin-pw", "admin", "Admin"),
    "op": ("op-pw", "op", "Op"),
    "user": ("user-pw", "user", "User"),
    "viewer": ("viewer-pw", "viewer", "Viewer"),
}


def warm_dags_folder(specs_folder: Path, dags_folder: Path | None = None) -> Path:
    """A DAGs folder for a deployment whose specs are in ``specs_folder``: one generated DAG file per
    spec (``python -m warm_archive.dag_files``: the warm DAG and its maintenance DAG), as a user's
    deployment has. Default: ``dags/`` beside the specs folder (inside the deployment's own home), so the
    project's ``dags/`` and its demo DAG stay out of the deployment. Call it again after changing
    the specs."""
    from warm_archive.dag_files import refresh

    dags = dags_folder or specs_folder.parent / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    specs_folder.mkdir(parents=True, exist_ok=True)
    refresh(specs_folder, dags)
    return dags


def airflow_env(home: Path, base: str, meta_db: str, plugins: Path, specs_dir: Path) -> dict[str, str]:
    """The environment of every Airflow process of a bench or test deployment: this process's, less its
    Airflow settings, plus a home, a PostgreSQL metadata DB, LocalExecutor and USERS for both auth
    managers (FAB's tables are migrated, so either can serve)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(warm_dags_folder(specs_dir)),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://root@127.0.0.1:5432/{meta_db}",
            "AIRFLOW__API_AUTH__JWT_SECRET": "warm-api-tests-jwt-secret-0123456789abcdef",
            "AIRFLOW__API__SECRET_KEY": "warm-api-tests-secret-key",
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, (_, r, _) in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": FAB,  # migrate with FAB so its tables exist for both auth managers
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER": str(specs_dir),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    return env


class Deployment:
    """One Airflow home with a PostgreSQL metadata DB; the caller starts the processes it needs."""

    def __init__(
        self, *, meta_db: str, port: int, specs: dict[str, str] | None = None, connections: dict[str, str] | None = None
    ):
        self.home = Path(tempfile.mkdtemp(prefix="warm-bench-home-"))
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.meta_db = meta_db
        self.specs_dir = self.home / "specs"
        self.specs_dir.mkdir()
        for name, text in (specs or {}).items():
            (self.specs_dir / name).write_text(text)
        plugins = self.home / "plugins"  # empty: the installed distribution registers the plugin
        plugins.mkdir()
        (self.home / "passwords.json").write_text(json.dumps({u: p for u, (p, _, _) in USERS.items()}))
        env = airflow_env(self.home, self.base, meta_db, plugins, self.specs_dir)
        for conn_id, uri in (connections or {}).items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        self.env = env
        self.procs: dict[str, Proc] = {}
        self._tokens: dict[str, str] = {}

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        r = subprocess.run(
            [AIRFLOW, *args], env=self.env, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
            )
        return r

    def migrate(self) -> None:
        recreate_pg_db(self.meta_db)
        self.cli("db", "migrate", timeout=600)

    def start_api_server(self) -> None:
        """The api-server with SimpleAuthManager, once it answers its health check."""
        wait_port_free(self.port)
        env = dict(self.env, AIRFLOW__CORE__AUTH_MANAGER=SIMPLE)
        self.procs["api-server"] = Proc(
            "api-server",
            [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
            env,
            self.home,
            cwd=ROOT,
        )
        deadline = time.time() + 180
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

    def token(self, user: str) -> str:
        if user not in self._tokens:
            r = requests.post(
                f"{self.base}/auth/token", json={"username": user, "password": USERS[user][0]}, timeout=30
            )
            if r.status_code not in (200, 201):
                raise RuntimeError(f"no token for {user}: {r.status_code} {r.text}")
            self._tokens[user] = r.json()["access_token"]
        return self._tokens[user]

    def headers(self, user: str) -> dict:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def wait_dags(self, dag_ids: list[str], timeout: float = 240) -> None:
        deadline = time.time() + timeout
        missing = list(dag_ids)
        while time.time() < deadline:
            missing = [
                d
                for d in missing
                if requests.get(f"{self.base}/api/v2/dags/{d}", headers=self.headers("admin"), timeout=60).status_code
                != 200
            ]
            if not missing:
                return
            time.sleep(2)
        errs = requests.get(f"{self.base}/api/v2/importErrors", headers=self.headers("admin"), timeout=60).text
        raise RuntimeError(f"DAGs not parsed: {missing}\nimport errors: {errs}\n" + self.procs["dag-processor"].tail())
