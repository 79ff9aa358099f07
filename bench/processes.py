"""Real Airflow processes for the benchmark and the tests: each in its own process group (a stop or a kill
takes its children with it), free ports, scratch PostgreSQL and MariaDB databases, and waiting for a
condition with a clear message when it never comes. The tests import it from here (bench/ imports
nothing from tests/)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")


def pg(dbname: str):
    """An autocommit connection to a local PostgreSQL database, as root."""
    import psycopg

    return psycopg.connect(f"host=127.0.0.1 user=root dbname={dbname}", autocommit=True)


def recreate_pg_db(name: str) -> None:
    with pg("postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def recreate_my_db(name: str) -> None:
    """Drop and create a local MariaDB database, as root."""
    import MySQLdb

    m = MySQLdb.connect(host="127.0.0.1", user="root")
    try:
        cur = m.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}`")
    finally:
        m.close()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_port_free(port: int, timeout: float = 30) -> None:
    wait_for(lambda: port_free(port), timeout, 0.5, f"port {port} to be free")


def wait_for(fn, timeout: float = 60, step: float = 0.1, what: str = "condition"):
    """Call ``fn`` every ``step`` seconds until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    """One process started in its own session; its output goes to ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path, cwd: Path | None = None):
        self.name, self.args, self.env = name, args, env
        self.cwd = cwd or log_dir
        self.log_path = Path(log_dir) / f"{name}.log"
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=str(self.cwd),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def tree(self) -> list[int]:
        """This process and all its descendants (a worker's pool, supervisors and task processes)."""
        import psutil

        try:
            return [self.p.pid] + [c.pid for c in psutil.Process(self.p.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill9(self) -> list[int]:
        """kill -9 of the process, its group and every descendant, at once."""
        pids = self.tree()
        self._signal_all(pids, signal.SIGKILL)
        self.p.wait(10)
        return pids

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left after ``timeout``."""
        if self.p.poll() is None:
            pids = self.tree()
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            self._signal_all(pids, signal.SIGKILL)
            self.p.wait(10)
        self.log.close()

    def _signal_all(self, pids: list[int], sig: int) -> None:
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass
        for pid in pids:  # a descendant that left the group (setsid) gets it too
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
