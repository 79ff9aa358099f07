"""Where the benchmark's tables live and how every process reaches them.

Everything the benchmark creates is named ``bench_*`` so it never touches the tables and schemas
other test suites use on the same servers (``test`` database, ``t_*``/``arch*``):
- PostgreSQL: database ``bench_archive`` with schemas ``bench_src`` and ``bench_warm``; the
  engine's ledger lands in that database's ``public`` schema.
- MariaDB: databases ``bench_src`` and ``bench_warm``; the ledger lands in ``bench_warm``, the warm
  table's database (also the connection's default).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"  # git-ignored
PYTHON = sys.executable

# BENCH_PG_PORT / BENCH_MY_PORT: a private pair of servers (the sparse case sets server-wide logging)
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", int(os.environ.get("BENCH_PG_PORT", "5432")), "root"
PG_DB = "bench_archive"
MY_HOST, MY_PORT, MY_USER = "127.0.0.1", int(os.environ.get("BENCH_MY_PORT", "3306")), "root"
MY_WARM_DB = "bench_warm"

SRC_TABLE = "bench_src.orders"  # same qualified name in both engines
SEED_TABLE = "bench_src.orders_seed"
WARM_TABLE = "bench_warm.orders"
LEDGER = "warm_archive_ledger"

CONN_IDS = {"pg": "BENCH_PG", "my": "BENCH_MY"}
ENGINE_NAMES = {"pg": "PostgreSQL", "my": "MariaDB"}
PAIRS = ["pgpg", "mymy", "mypg", "pgmy"]  # source engine + warm engine
PAIR_LABEL = {"pgpg": "PG->PG", "mymy": "MariaDB->MariaDB", "mypg": "MariaDB->PG", "pgmy": "PG->MariaDB"}


def child_env() -> dict:
    """Environment of every contender process: Airflow connections by env var, a private
    AIRFLOW_HOME under bench/results (never ~/airflow), the repository on PYTHONPATH."""
    env = dict(os.environ)
    home = RESULTS / "airflow_home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_BENCH_PG": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}",
            # local_infile: the job writes a MariaDB warm table with LOAD DATA LOCAL (docs/reference.md)
            "AIRFLOW_CONN_BENCH_MY": f"mysql://{MY_USER}@{MY_HOST}:{MY_PORT}/{MY_WARM_DB}?local_infile=true",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            "PGHOST": PG_HOST,
            "PGPORT": str(PG_PORT),
            "PGUSER": PG_USER,
            "PGDATABASE": PG_DB,
        }
    )
    return env


def pg_connect(dbname: str = PG_DB):
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def my_connect(db: str | None = None):
    import MySQLdb

    kw = {"db": db} if db else {}
    c = MySQLdb.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, **kw)
    c.autocommit(True)
    return c
