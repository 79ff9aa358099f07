"""A real Airflow deployment for the API tests: PostgreSQL metadata DB, LocalExecutor, scheduler,
dag-processor and an api-server that is restarted when the tests switch auth manager.

Used by ``tests/api/conftest.py`` and the other harnesses; its environment, users and process
helpers are the benchmark's (bench/deployment.py, bench/processes.py), so both run the same Airflow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.deployment import FAB, SIMPLE, USERS, airflow_env
from tests.deployment import Client
from tests.processes import AIRFLOW, ROOT, Proc, recreate_pg_db, wait_port_free
from tests.specs import write_specs

__all__ = ["AIRFLOW", "FAB", "SIMPLE", "USERS", "Deployment"]


class Deployment(Client):
    """One Airflow home; the scheduler and dag-processor run for the whole session, the api-server
    is (re)started with the auth manager a test asks for. The HTTP helpers are tests.deployment.Client's;
    ``passwords`` (user -> password) defaults to USERS'."""

    def __init__(
        self,
        *,
        meta_db: str,
        port: int,
        specs: dict[str, str] | None = None,
        connections: dict[str, str] | None = None,
        copy_plugin: bool = True,
        extra_env: dict | None = None,
        passwords: dict[str, str] | None = None,
    ):
        super().__init__(
            f"http://127.0.0.1:{port}", passwords or {u: p for u, (p, _, _) in USERS.items()}, tail=self._proc_tail
        )
        self.home = Path(tempfile.mkdtemp(prefix="warm-api-home-"))
        self.port = port
        self.meta_db = meta_db
        self.specs_dir = self.home / "specs"
        write_specs(self.specs_dir, specs or {})
        plugins = self.home / "plugins"
        plugins.mkdir()
        if copy_plugin:  # a deployment that also copies the plugin folder must not register it twice
            shutil.copytree(
                ROOT / "plugins" / "warm_monitor",
                plugins / "warm_monitor",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        (self.home / "passwords.json").write_text(json.dumps({u: p for u, (p, _, _) in USERS.items()}))
        env = airflow_env(self.home, self.base, meta_db, plugins, self.specs_dir)
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
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
            )
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
        self.procs["api-server"] = Proc(
            "api-server",
            [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
            env,
            self.home,
            cwd=ROOT,
        )
        self.auth_kind = kind
        self.wait_healthy(self.procs["api-server"])

    def stop(self) -> None:
        for name in ("api-server", "scheduler", "dag-processor"):
            if name in self.procs:
                self.procs.pop(name).stop()
