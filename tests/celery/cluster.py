"""A CeleryExecutor deployment of Airflow 3.3 on this machine, one process per role as it would be on
separate machines: two api-servers (different ports), one scheduler, one dag-processor and two Celery
workers (Redis broker, PostgreSQL metadata DB and result backend).

Every process has its own AIRFLOW_HOME with its own copy of the DAG files and specs (what a git-sync
or an image gives each machine): nothing on local disk is shared between them. They share only what
a real multi-machine deployment shares: the metadata DB, the broker and the configuration (env).
Worker "a" talks to api-server "a" (execution API) and worker "b" to api-server "b".

Each worker reports its own hostname (``[core] hostname_callable``), so the tests can tell from a
task instance which worker ran it: worker a is "127.0.0.1", worker b "127.0.0.2" (both loopback,
so an api-server can reach worker a's log server; on one machine only one worker can own the log
port that the api-servers call).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.deployment import warm_dags_folder
from tests.deployment import Client, q  # noqa: F401 (q: the tests quote run ids with it)
from tests.processes import AIRFLOW, ROOT, VENV_BIN, Proc, port_free, recreate_pg_db  # noqa: F401 (ROOT: the tests use it)
from tests.specs import write_specs

META_DB = "wa_celery_meta"
BROKER = "redis://127.0.0.1:6379/7"
API_PORTS = {"a": 28140, "b": 28141}
LOG_PORTS = {"a": 28144, "b": 28145}  # the api-servers fetch worker logs on 28144 (worker a's)
WORKER_HOST = {"a": "127.0.0.1", "b": "127.0.0.2"}
# worker a serves the default queue; worker b also the queue of jobs kept "near" the PostgreSQL source
WORKER_QUEUES = {"a": "default", "b": "default,near_pg"}
CONCURRENCY = 2
HEARTBEAT_TIMEOUT_S = 40
PASSWORD = "admin-pw"
JWT_SECRET = "warm-celery-tests-jwt-secret-0123456789abcdef"

IDENTITY = """import os


def hostname():
    return os.environ["WARM_WORKER_HOSTNAME"]
"""


class Cluster:
    def __init__(self, *, specs: dict[str, str], connections: dict[str, str]):
        self.dir = Path(tempfile.mkdtemp(prefix="warm-celery-"))
        self.specs = specs
        self.procs: dict[str, Proc] = {}
        # one HTTP client per api-server (its own login: a JWT it issued)
        self.api = {
            k: Client(f"http://127.0.0.1:{p}", {"admin": PASSWORD}, name=k, tail=self._tail)
            for k, p in API_PORTS.items()
        }
        identity = self.dir / "identity"
        identity.mkdir()
        (identity / "warm_worker_identity.py").write_text(IDENTITY)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_HOME"))}
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                # the same airflow.cfg on every machine (here: environment variables)
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://root@127.0.0.1:5432/{META_DB}",
                "AIRFLOW__CELERY__BROKER_URL": BROKER,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://root@127.0.0.1:5432/{META_DB}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CONCURRENCY),
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
                "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
                "AIRFLOW__API__SECRET_KEY": "warm-celery-tests-secret-key",
                "AIRFLOW__API__WORKERS": "1",
                # workers reach the execution API of a busy api-server (2 shared cores here): be patient
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "8",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(LOG_PORTS["a"]),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                # a worker lost with its machine: its task instances fail (and are retried) after 40 s
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            }
        )
        for conn_id, uri in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        self.base_env = env

    # -- one machine per role ------------------------------------------------------------------------

    def _home(self, role: str) -> tuple[Path, dict]:
        """A private AIRFLOW_HOME with its own copy of the DAG files and the specs."""
        home = self.dir / role
        dags = home / "dags"
        write_specs(dags / "specs", self.specs)
        warm_dags_folder(dags / "specs", dags)  # the maintenance DAG file and one DAG file per spec
        (home / "passwords.json").write_text(json.dumps({"admin": PASSWORD}))
        env = dict(
            self.base_env,
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{API_PORTS['a']}/execution/",
        )
        return home, env

    def migrate(self) -> None:
        import redis

        broker = redis.Redis.from_url(BROKER, socket_connect_timeout=5)
        try:
            broker.ping()
        except redis.RedisError as e:
            raise RuntimeError(
                f"the Celery broker (Redis on 127.0.0.1:6379) is not reachable: {e}. Start it: "
                "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
                "--appendonly no"
            ) from None
        broker.flushdb()  # our own broker DB number: no messages of an earlier session
        recreate_pg_db(META_DB)
        home, env = self._home("migrate")
        r = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, cwd=str(home), capture_output=True, text=True, timeout=600
        )
        if r.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")

    def start(self) -> None:
        for port in [*API_PORTS.values(), *LOG_PORTS.values()]:
            if not port_free(port):
                raise RuntimeError(f"port {port} is in use (an earlier session still running?)")
        for k, port in API_PORTS.items():
            home, env = self._home(f"api-server-{k}")
            env["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{port}"
            self.procs[f"api-server-{k}"] = Proc(
                f"api-server-{k}", [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"], env, home
            )
        home, env = self._home("scheduler")
        self.procs["scheduler"] = Proc("scheduler", [AIRFLOW, "scheduler", "--skip-serve-logs"], env, home)
        home, env = self._home("dag-processor")
        self.procs["dag-processor"] = Proc("dag-processor", [AIRFLOW, "dag-processor"], env, home)
        for k in ("a", "b"):
            self.start_worker(k)

    def start_worker(self, k: str) -> None:
        home, env = self._home(f"worker-{k}")
        env.update(
            {
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{API_PORTS[k]}/execution/",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(LOG_PORTS[k]),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "warm_worker_identity.hostname",
                "WARM_WORKER_HOSTNAME": WORKER_HOST[k],
                # the identity module, and whatever code path the test session runs with (a checkout's)
                "PYTHONPATH": os.pathsep.join(filter(None, [str(self.dir / "identity"), os.environ.get("PYTHONPATH")])),
            }
        )
        self.procs[f"worker-{k}"] = Proc(
            f"worker-{k}",
            [
                AIRFLOW,
                "celery",
                "worker",
                "-q",
                WORKER_QUEUES[k],
                "-c",
                str(CONCURRENCY),
                "-H",
                f"warm-{k}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            env,
            home,
        )

    def wait_ready(self, dag_ids: list[str], timeout: float = 300) -> None:
        deadline = time.time() + timeout
        for k, api in self.api.items():
            api.wait_healthy(self.procs[f"api-server-{k}"], timeout=max(1.0, deadline - time.time()))
        self.api["a"].wait_dags(dag_ids, timeout=max(1.0, deadline - time.time()))
        while len(self.celery_ping()) < 2:
            for k in ("a", "b"):
                if not self.procs[f"worker-{k}"].alive():
                    raise RuntimeError(f"worker-{k} died:\n" + self.procs[f"worker-{k}"].tail())
            if time.time() > deadline:
                raise RuntimeError("Celery workers did not answer a ping")
            time.sleep(1)

    def celery_ping(self) -> list[str]:
        """Names of the Celery workers answering on the broker."""
        from celery import Celery

        app = Celery(broker=BROKER)
        try:
            replies = app.control.ping(timeout=2.0) or []
        finally:
            app.close()
        return sorted(name for r in replies for name in r)

    def worker_of(self, hostname: str) -> str:
        return next(k for k, h in WORKER_HOST.items() if h == hostname)

    def stop(self) -> None:
        """Stop every process at once (each: SIGTERM to its group, SIGKILL after 20 s)."""
        import threading

        threads = [threading.Thread(target=p.stop) for p in self.procs.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.procs.clear()

    def _tail(self, role: str) -> str:
        return self.procs[role].tail(40) if role in self.procs else ""

    def tails(self) -> str:
        return "\n".join(f"===== {n}\n{p.tail(40)}" for n, p in self.procs.items())
