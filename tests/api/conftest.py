"""One real Airflow deployment for the whole tests/api session (see harness.py), user data in PostgreSQL
(``wa_api``) and MariaDB (``wa_api``), and a few warm runs started at session start."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.api.warm_api_harness import AIRFLOW, USERS, Deployment
from tests.processes import pg, recreate_my_db
from tests.specs import Job, spec

PORT = 28081
META_DB = "wa_api_meta"
PG_URI = "postgresql://root@127.0.0.1:5432/wa_api"
MY_URI = "mysql://root@127.0.0.1:3306/wa_api"


WHERE = "created_at < '2025-01-01'"


def _job(job_id: str, table: str, source: str = "api_pg", source_schema: str = "api_src") -> Job:
    return Job(job_id, source, f"{source_schema}.{table}", "api_pg", f"api_warm.{table}")


SPECS = {
    "api_orders": spec(
        "api_orders",
        "copy_then_delete",
        [
            Job("orders", "api_pg", "api_src.orders", "api_pg", "api_warm.orders", where=WHERE),
            _job("items", "items", source="api_my", source_schema="wa_api"),
        ],
        batch_size=500,
        retries=0,
    ),
    "api_copy": spec("api_copy", "move", [_job("copyme", "copyme")], batch_size=500, retries=0),
    "api_slow": spec("api_slow", "move", [_job("slow", "slow")], batch_size=500, retries=0, max_rows_per_second=800),
    "api_reexec": spec(
        "api_reexec",
        "copy_then_delete",
        [_job("first", "re_first"), _job("second", "re_second")],
        batch_size=500,
        retries=0,
    ),
    "api_hidden": spec("api_hidden", "copy", [_job("hidden", "hidden")], batch_size=500, retries=0),
}
DAGS = [*SPECS, *(f"{d}__maintenance" for d in SPECS)]


def _seed_user_data() -> None:
    import MySQLdb

    with pg("postgres") as c:
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'wa_api'")
        c.execute('DROP DATABASE IF EXISTS "wa_api"')
        c.execute('CREATE DATABASE "wa_api"')
    with pg("wa_api") as c:
        c.execute("CREATE SCHEMA api_src; CREATE SCHEMA api_warm")
        c.execute("""CREATE TABLE api_src.orders (id int PRIMARY KEY, created_at timestamptz NOT NULL,
                     amount numeric(12,2), note text)""")
        c.execute("""INSERT INTO api_src.orders SELECT g, timestamptz '2024-01-01' + g * interval '1 hour',
                     g * 1.5, 'it''s #' || g FROM generate_series(1, 1500) g""")
        for t in ("copyme", "slow", "re_first", "hidden"):
            n = {"copyme": 1200, "slow": 16000, "re_first": 300, "hidden": 50}[t]
            c.execute(f"CREATE TABLE api_src.{t} (id int PRIMARY KEY, v text NOT NULL)")
            c.execute(f"INSERT INTO api_src.{t} SELECT g, md5(g::text) FROM generate_series(1, {n}) g")
        # the warm table of the slow job exists (empty) before the run, so checksums compare both tables
        c.execute("CREATE TABLE api_warm.slow (id int PRIMARY KEY, v text NOT NULL)")
        # api_src.re_second is missing: the first run of api_reexec fails on its second job
    recreate_my_db("wa_api")
    m = MySQLdb.connect(host="127.0.0.1", user="root", db="wa_api")
    cur = m.cursor()
    cur.execute("CREATE TABLE wa_api.items (id int PRIMARY KEY, sku varchar(40) NOT NULL, qty int)")
    cur.execute("INSERT INTO wa_api.items SELECT seq, CONCAT('sku-', seq), seq % 7 FROM wa_api.seq_1_to_700")
    m.commit()
    m.close()


@pytest.fixture(scope="package")
def stack():
    _seed_user_data()
    d = Deployment(meta_db=META_DB, port=PORT, specs=SPECS, connections={"api_pg": PG_URI, "api_my": MY_URI})
    try:
        d.migrate()
        d.start_background()
        d.use("simple")
        d.wait_dags(DAGS)
        yield d
    finally:
        d.stop()
        shutil.rmtree(d.home, ignore_errors=True)


@pytest.fixture(scope="package")
def runs(stack):
    """Warm runs every module may look at, started together (different DAGs run side by side)."""
    started = {
        "orders": ("api_orders", stack.trigger("api_orders")),
        "copy": ("api_copy", stack.trigger("api_copy", {"strategy": "copy", "batch_size": 500})),
        "reexec": ("api_reexec", stack.trigger("api_reexec")),
        "hidden": ("api_hidden", stack.trigger("api_hidden")),
    }
    expected = {"orders": "success", "copy": "success", "reexec": "failed", "hidden": "success"}
    for key, (dag_id, run_id) in started.items():
        state = stack.wait_run(dag_id, run_id)
        if state != expected[key]:
            logs = "\n".join(
                f"--- {p}\n" + p.read_text(errors="replace")[-4000:]
                for p in (stack.home / "logs").rglob("*")
                if p.is_file() and dag_id in str(p)
            )
            raise AssertionError(f"{dag_id} run ended {state}, expected {expected[key]}\n{logs}")
    return started


@pytest.fixture
def simple(stack):
    stack.use("simple")
    return stack


@pytest.fixture
def fab(stack, runs):
    if stack.auth_kind != "fab":
        stack.use("fab")
        _fab_users(stack)
    return stack


_FAB_DONE = False


def _fab_users(stack) -> None:
    """Admin/Op/User/Viewer users, and "limited": may read the runs of api_orders only."""
    global _FAB_DONE
    if _FAB_DONE:
        return
    import json

    stack.cli("sync-perm", "--include-dags")
    roles = stack.home / "roles.json"
    roles.write_text(
        json.dumps(
            [
                {"name": "Limited", "resource": "DAG:api_orders", "action": "can_read"},
                {"name": "Limited", "resource": "DAG Runs", "action": "can_read"},
            ]
        )
    )
    stack.cli("roles", "import", str(roles))
    users = {u: (p, r) for u, (p, _, r) in USERS.items()}
    users["limited"] = ("limited", "Limited")
    procs = [
        subprocess.Popen(
            [AIRFLOW, "users", "create", "-u", u, "-p", p, "-r", r, "-e", f"{u}@example.com", "-f", u, "-l", "test"],
            env=stack.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for u, (p, r) in users.items()
    ]
    for pr in procs:
        out, _ = pr.communicate(timeout=300)
        assert pr.returncode == 0, out[-3000:]
    _FAB_DONE = True
