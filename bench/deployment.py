"""A real Airflow deployment for the monitor API benchmark: processes, PostgreSQL metadata DB, api-server.

Only what ``bench/monitor_api.py`` uses, so the benchmark imports nothing from ``tests/``: each
process in its own session (a stop takes its children with it), scratch PostgreSQL databases, an
Airflow home with the spec files, the api-server (SimpleAuthManager) and its JWT. The environment is
the one the API tests' deployment uses (``tests/api/warm_api_harness.py``), so the figures compare.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
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


def pg(dbname: str):
    """An autocommit connection to a local PostgreSQL database, as root."""
    import psycopg

    return psycopg.connect(f"host=127.0.0.1 user=root dbname={dbname}", autocommit=True)


def recreate_pg_db(name: str) -> None:
    with pg("postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_port_free(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_free(port):
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout}s waiting for port {port} to be free")


class Proc:
    """One process started in its own session; its output goes to ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path, cwd: Path | None = None):
        self.name, self.args, self.env = name, args, env
        self.cwd = cwd or log_dir
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=str(self.cwd),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left after ``timeout``."""
        if self.p.poll() is None:
            pids = self._tree()
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            for pid in [self.p.pid, *pids]:  # the group, and any descendant that left it (setsid)
                try:
                    (os.killpg if pid == self.p.pid else os.kill)(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.p.wait(10)
        self.log.close()

    def _tree(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.p.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


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
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")):
                del env[k]
        env.update(
            {
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
                "AIRFLOW__CORE__AUTH_MANAGER": FAB,  # migrate with FAB so its tables exist for both auth managers
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER": str(self.specs_dir),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
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
