"""Replicated test servers: a MariaDB primary with a replica, a PostgreSQL primary with a standby.

Each pair runs on its own ports with data directories under ``.local/replication/`` (ignored by
git), is started by the tests that need it and stopped when they end; the two pre-started servers
are left alone. Lag is made the way a DBA sees it: a stopped SQL thread (MariaDB) and
``recovery_min_apply_delay`` (PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import MySQLdb
import psycopg

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / ".local" / "replication"
PG_BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"

MY_PRIMARY_PORT, MY_REPLICA_PORT = 3317, 3318
PG_PRIMARY_PORT, PG_STANDBY_PORT = 5442, 5443


def _wait(ok, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


class MariaDBPair:
    """A primary (binary log on) and a replica following it with GTIDs."""

    def __init__(self) -> None:
        self.dirs = {"primary": BASE / "my-primary", "replica": BASE / "my-replica"}
        self.ports = {"primary": MY_PRIMARY_PORT, "replica": MY_REPLICA_PORT}
        self.procs: dict[str, subprocess.Popen] = {}

    def connect(self, which: str, db: str | None = None):
        c = MySQLdb.connect(
            host="127.0.0.1", port=self.ports[which], user="root", charset="utf8mb4", **({"db": db} if db else {})
        )
        c.autocommit(True)
        return c

    def _start(self, which: str, server_id: int) -> None:
        d = self.dirs[which]
        shutil.rmtree(d, ignore_errors=True)
        (d / "data").mkdir(parents=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                "--user=root",
                f"--datadir={d / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        log = open(d / "server.log", "w")
        self.procs[which] = subprocess.Popen(
            [
                "/usr/sbin/mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={d / 'data'}",
                f"--port={self.ports[which]}",
                "--bind-address=127.0.0.1",
                f"--socket={d / 'sock'}",
                f"--pid-file={d / 'pid'}",
                f"--server-id={server_id}",
                "--log-bin=binlog",
                "--binlog-format=ROW",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--character-set-server=utf8mb4",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(lambda: self.connect(which).close() is None, f"MariaDB {which} on {self.ports[which]}")

    def start(self) -> MariaDBPair:
        self._start("primary", 11)
        self._start("replica", 12)
        p = self.connect("primary")
        p.cursor().execute("CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1'")
        p.cursor().execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
        p.close()
        r = self.connect("replica")
        r.cursor().execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={MY_PRIMARY_PORT}, "
            "MASTER_USER='repl', MASTER_USE_GTID=slave_pos"
        )
        r.cursor().execute("START SLAVE")
        r.close()
        _wait(lambda: self.replica_status()["Slave_IO_Running"] == "Yes", "MariaDB replication")
        return self

    def replica_status(self) -> dict:
        r = self.connect("replica")
        cur = r.cursor(MySQLdb.cursors.DictCursor)
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone() or {}
        r.close()
        return row

    def replica_sql(self, statement: str) -> None:
        r = self.connect("replica")
        r.cursor().execute(statement)
        r.close()

    def stop(self) -> None:
        for which in ("replica", "primary"):
            proc = self.procs.pop(which, None)
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(BASE / "my-primary", ignore_errors=True)
        shutil.rmtree(BASE / "my-replica", ignore_errors=True)


class PostgresPair:
    """A primary and a streaming standby made by ``pg_basebackup``, run as the postgres user."""

    def __init__(self, apply_delay_s: int = 0) -> None:
        self.dirs = {"primary": BASE / "pg-primary", "standby": BASE / "pg-standby"}
        self.ports = {"primary": PG_PRIMARY_PORT, "standby": PG_STANDBY_PORT}
        self.apply_delay_s = apply_delay_s
        self.procs: dict[str, subprocess.Popen] = {}

    def connect(self, which: str, db: str = "postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.ports[which], user="postgres", dbname=db, autocommit=True)

    def _as_postgres(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=180, **kw
        )

    def _run(self, which: str) -> None:
        d = self.dirs[which]
        log = open(d.parent / f"{d.name}.log", "w")
        self.procs[which] = subprocess.Popen(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(d),
                "-p",
                str(self.ports[which]),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={d.parent}",
                "-c",
                "shared_buffers=32MB",
                "-c",
                "fsync=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(lambda: self.connect(which).close() is None, f"PostgreSQL {which} on {self.ports[which]}")

    def start(self) -> PostgresPair:
        BASE.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dirs["primary"], ignore_errors=True)
        shutil.rmtree(self.dirs["standby"], ignore_errors=True)
        os.chmod(BASE, 0o777)
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.dirs["primary"]), "-A", "trust", "-U", "postgres")
        with open(self.dirs["primary"] / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._run("primary")
        self._as_postgres(
            str(PG_BIN / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(PG_PRIMARY_PORT),
            "-U",
            "postgres",
            "-D",
            str(self.dirs["standby"]),
            "-R",
            "-X",
            "stream",
        )
        with open(self.dirs["standby"] / "postgresql.auto.conf", "a") as conf:
            conf.write(f"recovery_min_apply_delay = '{self.apply_delay_s}s'\n")
        self._run("standby")
        _wait(
            lambda: (
                self.connect("standby").execute("SELECT status FROM pg_stat_wal_receiver").fetchone()[0] == "streaming"
            ),
            "PostgreSQL streaming replication",
        )
        return self

    def stop(self) -> None:
        for which in ("standby", "primary"):
            proc = self.procs.pop(which, None)
            if proc is not None:
                proc.terminate()  # runuser passes SIGTERM on: a smart shutdown
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.dirs["primary"], ignore_errors=True)
        shutil.rmtree(self.dirs["standby"], ignore_errors=True)
