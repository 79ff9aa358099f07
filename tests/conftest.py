"""Shared test setup: a private Airflow home (SQLite metadata DB, migrated once), real PostgreSQL
and MariaDB databases for the engine tests, and Airflow connections pointing at them.

The environment is set at import time, before any test module imports Airflow.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_DB = "wa_engine"
MY_DB = "wa_engine"
# The servers' ports (default 5432, 3306): a second pair of servers runs the engine tests apart
# from other runs on a shared machine (their t_src/t_warm tables have fixed names).
PG_PORT = int(os.environ.get("WARM_TEST_PG_PORT", "5432"))
MY_PORT = int(os.environ.get("WARM_TEST_MY_PORT", "3306"))

_home = Path(tempfile.mkdtemp(prefix="warm-airflow-home-"))
atexit.register(shutil.rmtree, _home, True)
os.environ.update(
    AIRFLOW_HOME=str(_home),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    # the maintenance DAG file and one generated DAG file per spec (bench.deployment.warm_dags_folder)
    AIRFLOW__CORE__DAGS_FOLDER=str(_home / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
    AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER=str(_home / "specs"),
    # The dedicated maintenance signing key (the deployments in tests/api etc. use the JWT secret).
    AIRFLOW__WARM_ARCHIVE__MAINTENANCE_SIGNING_KEY="warm-tests-maintenance-signing-key",
    AIRFLOW_CONN_T_PG=f"postgresql://root@127.0.0.1:{PG_PORT}/{PG_DB}",
    AIRFLOW_CONN_T_MY=f"mysql://root@127.0.0.1:{MY_PORT}/{MY_DB}",
    # The same databases as another user: two connections, so the engine cannot take its
    # one-database path (INSERT ... SELECT) and must move rows between connections.
    AIRFLOW_CONN_T_PG2=f"postgresql://warm_other@127.0.0.1:{PG_PORT}/{PG_DB}",
    AIRFLOW_CONN_T_MY2=f"mysql://warm_other@127.0.0.1:{MY_PORT}/{MY_DB}",
    # The same MariaDB database with LOAD DATA LOCAL allowed (Airflow's MySqlHook extra).
    AIRFLOW_CONN_T_MY_LOAD=f"mysql://root@127.0.0.1:{MY_PORT}/{MY_DB}?local_infile=true",
)
from bench.deployment import warm_dags_folder  # noqa: E402 (after the environment is set)

os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
(_home / "specs").mkdir()

# test modules refresh the generated files after writing specs (tests/airflow/test_dags.py: dagbag())
warm_dags_folder(_home / "specs", _home / "dags")


def _create_databases():
    import MySQLdb
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=root dbname=test", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
            c.execute(f'CREATE DATABASE "{PG_DB}"')
        if not c.execute("SELECT 1 FROM pg_roles WHERE rolname = 'warm_other'").fetchone():
            c.execute("CREATE ROLE warm_other LOGIN SUPERUSER")
    m = MySQLdb.connect(host="127.0.0.1", port=MY_PORT, user="root")
    m.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{MY_DB}`")
    for host in ("localhost", "127.0.0.1"):
        m.cursor().execute(f"CREATE USER IF NOT EXISTS 'warm_other'@'{host}'")
        m.cursor().execute(f"GRANT ALL PRIVILEGES ON *.* TO 'warm_other'@'{host}'")
    m.close()


_create_databases()


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata DB (SQLite) in the private Airflow home."""
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], check=True, capture_output=True, cwd=ROOT, timeout=300)
    return _home


@pytest.fixture
def specs_dir():
    folder = _home / "specs"
    for p in folder.glob("*"):
        p.unlink()
    yield folder
    for p in folder.glob("*"):
        p.unlink()


# ------------------------------------------------ the fault and abuse suite's summary and deployment

_FAULT_PACKAGES = ("tests/faults/", "tests/abuse/")


def pytest_runtest_logreport(report):
    """Count the deterministic kill points of tests/engine/test_kill.py in the suite's summary."""
    if "tests/engine/test_kill.py" in report.nodeid and report.when == "call":
        from tests.faults import tally

        tally.counts["engine_kill_tried"] += 1
        tally.counts["engine_kill_survived"] += report.passed


def pytest_runtest_teardown(item, nextitem):
    """Stop the fault and abuse packages' shared Airflow after their last test, so that its
    scheduler and api-server do not slow the packages that run after them."""
    if item.nodeid.startswith(_FAULT_PACKAGES) and (
        nextitem is None or not nextitem.nodeid.startswith(_FAULT_PACKAGES)
    ):
        from tests.faults import stack

        stack.shutdown()


def pytest_sessionfinish(session):
    import sys

    if "tests.faults.stack" in sys.modules:
        sys.modules["tests.faults.stack"].shutdown()


def pytest_terminal_summary(terminalreporter):
    import sys

    tally = sys.modules.get("tests.faults.tally")
    if tally is not None and +tally.counts:  # only after fault, abuse or kill tests ran
        tally.print_summary(terminalreporter)
