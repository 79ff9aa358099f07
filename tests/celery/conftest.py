"""The CeleryExecutor deployment (cluster.py) for the whole tests/celery session, the warm specs it
runs, and their user data: PostgreSQL ``wa_celery`` (schemas sc_src, sc_warm) and MariaDB
``wa_celery`` (tables src_*, warm_*), realistic orders rows (JSON, tricky text, decimals)."""

from __future__ import annotations

import json
import shutil
import threading

import MySQLdb
import psycopg
import pytest

from tests.celery.cluster import Cluster
from tests.dbs import CUTOFF, Engine
from tests.processes import pg, recreate_my_db, recreate_pg_db
from tests.specs import Job, spec

PG_URI = "postgresql://root@127.0.0.1:5432/wa_celery"
MY_URI = "mysql://root@127.0.0.1:3306/wa_celery"
WHERE = "created_at < '2025-01-01'"
MY_POOL = "sc_my_hot"  # one pool per source database: at most this many table jobs on it at once
MY_POOL_SLOTS = 1

# table: (engine, rows); every job archives the rows created before 2025 (about two thirds)
TABLES = {
    # four warm DAGs at once, throttled so their progress can be watched (4 engine pairs)
    "par_pgpg": ("pg", 6000),
    "par_pgmy": ("pg", 6000),
    "par_mypg": ("my", 6000),
    "par_mymy": ("my", 6000),
    # the same four pairs unthrottled: the throughput figure
    "bulk_pgpg": ("pg", 30000),
    "bulk_pgmy": ("pg", 30000),
    "bulk_mypg": ("my", 30000),
    "bulk_mymy": ("my", 30000),
    # monitor actions: a fast first job, a slow second one
    "act1": ("pg", 1500),
    "act2": ("my", 9000),
    # the pool (both on the MariaDB source) and the queue
    "pool1": ("my", 4500),
    "pool2": ("my", 4500),
    "queued": ("pg", 3000),
    # kill -9 of a worker
    "kill": ("pg", 12000),
}


def src_table(name: str) -> str:
    return f"sc_src.{name}" if TABLES[name][0] == "pg" else f"wa_celery.src_{name}"


def warm_table(name: str, kind: str) -> str:
    return f"sc_warm.{name}" if kind == "pg" else f"wa_celery.warm_{name}"


def _job(job_id: str, table: str, warm_kind: str) -> Job:
    return Job(
        job_id,
        "sc_pg" if TABLES[table][0] == "pg" else "sc_my",
        src_table(table),
        "sc_pg" if warm_kind == "pg" else "sc_my",
        warm_table(table, warm_kind),
        where=WHERE,
    )


def _spec(
    dag_id: str, jobs: list[Job], strategy: str = "move", batch_size: int = 500, retries: int = 0, **options
) -> str:
    return spec(dag_id, strategy, jobs, batch_size=batch_size, retries=retries, **options)


# (dag_id, table, warm engine, strategy) of the parallel and bulk DAGs
PAIRS = [
    ("pgpg", "pg", "move"),
    ("pgmy", "my", "copy_then_delete"),
    ("mypg", "pg", "copy_then_delete"),
    ("mymy", "my", "move"),
]
PAR_DAGS = {f"sc_par_{p}": (f"par_{p}", w, s) for p, w, s in PAIRS}
BULK_DAGS = {f"sc_bulk_{p}": (f"bulk_{p}", w, s) for p, w, s in PAIRS}

SPECS: dict[str, str] = {}
for _dag, (_t, _w, _s) in PAR_DAGS.items():
    SPECS[f"{_dag}.yaml"] = _spec(_dag, [_job("orders", _t, _w)], _s, 200, max_rows_per_second=600)
for _dag, (_t, _w, _s) in BULK_DAGS.items():
    SPECS[f"{_dag}.yaml"] = _spec(_dag, [_job("orders", _t, _w)], _s, 5000)
SPECS["sc_act.yaml"] = _spec(
    "sc_act", [_job("first", "act1", "my"), _job("second", "act2", "pg")], "move", 200, max_rows_per_second=700
)
for _n in ("pool1", "pool2"):
    SPECS[f"sc_{_n}.yaml"] = _spec(
        f"sc_{_n}", [_job("orders", _n, "pg")], "copy_then_delete", 300, max_rows_per_second=1000, pool=MY_POOL
    )
SPECS["sc_queued.yaml"] = _spec("sc_queued", [_job("orders", "queued", "pg")], "move", 500, queue="near_pg")
SPECS["sc_kill.yaml"] = _spec(
    "sc_kill", [_job("orders", "kill", "my")], "move", 300, max_rows_per_second=600, retries=3, retry_delay_seconds=1
)
DAG_IDS = [s[:-5] for s in SPECS] + [f"{s[:-5]}__maintenance" for s in SPECS]


class DataDB(Engine):
    """tests.dbs.Engine on this suite's own databases (wa_celery on both servers)."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "pg":
            self.conn = psycopg.connect(
                "host=127.0.0.1 user=root dbname=wa_celery", autocommit=True, prepare_threshold=None
            )
            self.conn_id = "sc_pg"
        else:
            self.conn = MySQLdb.connect(host="127.0.0.1", user="root", db="wa_celery", charset="utf8mb4")
            self.conn.autocommit(True)
            self.conn_id = "sc_my"

    def insert(self, table: str, rows):
        if self.kind != "pg":
            return super().insert(table, rows)
        from tests.dbs import COLUMNS, _pg_row

        with self.conn.cursor() as cur, cur.copy(f"COPY {self.q(table)} ({', '.join(COLUMNS)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(_pg_row(r))


class Data:
    """The user databases, and each source table's content before any run."""

    def __init__(self):
        self.db = {"pg": DataDB("pg"), "my": DataDB("my")}
        self.before: dict[str, dict] = {}

    def seed(self) -> None:
        """Both servers at once (one thread each, each with its own connection)."""

        def one(kind: str) -> None:
            for name, (k, n) in TABLES.items():
                if k == kind:
                    self.db[kind].create_orders(src_table(name), n, seed=len(name) + n)
                    self.before[name] = self.db[kind].rows(src_table(name))

        run_threads([lambda: one("pg"), lambda: one("my")])

    def src_rows(self, name: str) -> dict:
        return self.db[TABLES[name][0]].rows(src_table(name))

    def warm_rows(self, name: str, warm_kind: str) -> dict:
        return self.db[warm_kind].rows(warm_table(name, warm_kind))

    def expected(self, name: str) -> tuple[dict, dict]:
        """(rows that must end in the warm table, rows that must stay in the source)."""
        before = self.before[name]
        archived = {k: v for k, v in before.items() if v[1] < CUTOFF}
        return archived, {k: v for k, v in before.items() if k not in archived}

    def close(self) -> None:
        for e in self.db.values():
            e.close()


def run_threads(fns) -> None:
    """Run the functions in parallel threads; re-raise the first error."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _recreate_user_dbs() -> None:
    recreate_pg_db("wa_celery")
    with pg("wa_celery") as c:
        c.execute("CREATE SCHEMA sc_src; CREATE SCHEMA sc_warm")
    recreate_my_db("wa_celery")


@pytest.fixture(scope="package")
def data():
    _recreate_user_dbs()
    d = Data()
    yield d
    d.close()


@pytest.fixture(scope="package")
def cluster(data, request):
    c = Cluster(specs=SPECS, connections={"sc_pg": PG_URI, "sc_my": MY_URI})

    def deploy():
        c.migrate()
        c.start()
        c.wait_ready(DAG_IDS)
        # the admin creates one pool per hot source database
        c.api["a"].ok(
            "post",
            "/api/v2/pools",
            json={"name": MY_POOL, "slots": MY_POOL_SLOTS, "description": "archive jobs reading MariaDB sc_my"},
        )

    try:
        run_threads([data.seed, deploy])  # the user data is seeded while Airflow starts
        yield c
    except BaseException:
        print(c.tails())
        raise
    finally:
        c.stop()
        if request.session.testsfailed == 0:
            shutil.rmtree(c.dir, ignore_errors=True)
        else:
            print(f"Airflow homes and process logs kept in {c.dir}")


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]
