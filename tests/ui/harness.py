"""Harness of the browser tests of the Warm Tasks page: one real Airflow deployment per session.

``airflow standalone`` (api-server, scheduler with the LocalExecutor, dag-processor, triggerer) on
port 28100 with a PostgreSQL metadata DB (``wa_ui_meta``), real warm DAGs from spec files, user
data in PostgreSQL and MariaDB (``wa_ui``), and Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

from bench.deployment import warm_dags_folder
from tests import processes
from tests.deployment import Client
from tests.processes import AIRFLOW, ROOT, VENV_BIN, Proc, port_free
from tests.specs import Job, spec, write_specs

PORT = 28100
BASE = f"http://127.0.0.1:{PORT}"
META_DB = "wa_ui_meta"
USER_DB = "wa_ui"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORDS = {"admin": "admin-ui-pw", "viewer": "viewer-ui-pw"}

WHERE = "created_at < '2025-01-01'"


def _job(job_id: str, table: str, where: str | None = WHERE, target: str = "ui_pg") -> Job:
    return Job(
        job_id,
        "ui_pg",
        f"ui_src.{table}",
        target,
        f"ui_warm.{table}" if target == "ui_pg" else f"{USER_DB}.{table}",
        where=where,
    )


SPECS = {
    # Two table jobs, one per warm engine; completes in seconds. Completed-tab actions use it.
    "ui_copy": spec(
        "ui_copy",
        "copy",
        [_job("customers", "customers"), _job("invoices", "invoices", target="ui_my")],
        description="Copy old customers and invoices (source kept)",
        batch_size=100,
        retries=0,
    ),
    # Throttled so a run stays In progress long enough to watch, verify and terminate.
    "ui_orders": spec(
        "ui_orders",
        "copy_then_delete",
        [_job("orders", "orders")],
        description="Archive old orders (throttled)",
        batch_size=500,
        max_rows_per_second=1500,
        retries=0,
    ),
    # payments fails part-way: its warm table refuses row 1500 (a CHECK constraint the test drops
    # before re-executing). Exceptional-tab actions use it.
    "ui_mixed": spec(
        "ui_mixed",
        "move",
        [_job("regions", "regions", None), _job("payments", "payments", None)],
        description="Move regions and payments",
        batch_size=250,
        max_rows_per_second=1000,
        retries=0,
    ),
    # Throttled move that test_resume_button.py terminates, then resumes from the page (it creates
    # its own tables).
    "ui_resume": spec(
        "ui_resume",
        "move",
        [_job("resumed", "resumed", None)],
        description="Move resumed rows (terminated, then resumed)",
        batch_size=100,
        max_rows_per_second=300,
        retries=0,
    ),
    # Tiny; its one real run is cloned 10,000 times for the paging test.
    "ui_bulk": spec("ui_bulk", "copy", [_job("notes", "notes", None)], retries=0),
}

# Long DAG ids, run ids, table names and error texts, for test_nothing_clipped.py (which creates
# their tables): one run of each ends in Completed, Exceptional (its warm table refuses a row with a
# long message) and In progress (throttled; the test terminates it).
WIDE_TABLE = "ledger_entries_of_quarterly_customer_accounts_2019_2024_{}"
WIDE_DAGS = {
    "done": "ui_wide_copy_of_the_quarterly_customer_ledger_and_payment_history",
    "fail": "ui_wide_move_of_the_quarterly_customer_ledger_refused_by_its_warm_table",
    "slow": "ui_wide_throttled_move_of_the_quarterly_customer_ledger_still_running",
}
for _kind, _dag in WIDE_DAGS.items():
    SPECS[_dag] = spec(
        _dag,
        "copy" if _kind == "done" else "move",
        [_job(f"ledger_{_kind}", WIDE_TABLE.format(_kind), None)],
        description="Long names everywhere: nothing of them may be cut off on the page",
        batch_size=100,
        max_rows_per_second=100 if _kind == "slow" else None,
        retries=0,
    )

ORDERS_ROWS = 90_000

# A user's DAG scheduled on a warm table's asset (the providers' URI of ui_copy's ui_warm.customers):
# it runs after each ui_copy run that archived customers, and returns its triggering events' figures.
WARM_CUSTOMERS = f"postgres://127.0.0.1:5432/{USER_DB}/ui_warm/customers"
DOWNSTREAM_DAG = "ui_after_warm_customers"
DOWNSTREAM_DAG_FILE = f"""
import pendulum
from airflow.sdk import Asset, dag, task


@dag(
    dag_id="{DOWNSTREAM_DAG}",
    schedule=[Asset("{WARM_CUSTOMERS}")],
    start_date=pendulum.datetime(2024, 1, 1),
    catchup=False,
)
def after_warm_customers():
    @task
    def read_figures(triggering_asset_events=None):
        return [dict(e.extra) for events in triggering_asset_events.values() for e in events]

    read_figures()


after_warm_customers()
"""


# ---------------------------------------------------------------------------- databases


def pg(db: str = USER_DB):
    return processes.pg(db)


def _reset_databases() -> None:
    for db in (META_DB, USER_DB):
        processes.recreate_pg_db(db)
    processes.recreate_my_db(USER_DB)
    with pg() as c:
        c.execute("CREATE SCHEMA ui_src; CREATE SCHEMA ui_warm")
        for name, n in (("customers", 400), ("invoices", 600), ("notes", 20)):
            c.execute(
                f"CREATE TABLE ui_src.{name} (id bigint PRIMARY KEY, created_at timestamp NOT NULL, "
                "amount numeric(12,2) NOT NULL, note text)"
            )
            c.execute(
                f"INSERT INTO ui_src.{name} SELECT g, timestamp '2023-01-01' + g * interval '1 hour', "
                f"g * 1.25, 'row ' || g FROM generate_series(1, {n}) g"
            )
        c.execute(
            "CREATE TABLE ui_src.orders (id bigint PRIMARY KEY, created_at timestamp NOT NULL, "
            "amount numeric(12,2) NOT NULL, status varchar(20) NOT NULL, note text)"
        )
        c.execute(
            "INSERT INTO ui_src.orders SELECT g, timestamp '2023-01-01' + g * interval '1 minute', "
            "g % 1000 + 0.5, (ARRAY['new','paid','shipped'])[g % 3 + 1], 'order ' || g "
            f"FROM generate_series(1, {ORDERS_ROWS}) g"
        )
        c.execute("CREATE TABLE ui_src.regions (id int PRIMARY KEY, name text NOT NULL)")
        c.execute("INSERT INTO ui_src.regions SELECT g, 'region ' || g FROM generate_series(1, 200) g")
        c.execute(
            "CREATE TABLE ui_src.payments (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, "
            "paid_at timestamp NOT NULL)"
        )
        c.execute(
            "INSERT INTO ui_src.payments SELECT g, g * 0.5, timestamp '2024-01-01' + g * interval '1 minute' "
            "FROM generate_series(1, 3000) g"
        )
        # the fault: the warm table refuses one row
        c.execute(
            "CREATE TABLE ui_warm.payments (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, "
            "paid_at timestamp NOT NULL, CONSTRAINT no_1500 CHECK (id <> 1500))"
        )


def count(table: str) -> int:
    with pg() as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------------------- the deployment


class Airflow(Client):
    """The standalone deployment: tests.deployment.Client on BASE (PASSWORDS: what Airflow uses), its process."""

    def __init__(self, home: Path, proc: Proc):
        super().__init__(BASE, PASSWORDS, timeout=30, tail=lambda role: proc.tail(40))
        self.home, self.proc = home, proc

    def api(self, method: str, path: str, user: str = "admin", **kw):
        return self.request(method, path, user, **kw)

    def log_tail(self, n: int = 60) -> str:
        return self.proc.tail(n)


def _env(home: Path, specs: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(warm_dags_folder(specs)),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="8",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{BASE}/execution/",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://root@127.0.0.1:5432/{META_DB}",
        AIRFLOW__API__PORT=str(PORT),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__BASE_URL=BASE,
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__SECRET_KEY="warm-ui-tests-secret",
        AIRFLOW__API_AUTH__JWT_SECRET="warm-ui-tests-jwt-secret-0123456789",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(PORT + 1),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(PORT + 2),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        AIRFLOW__WARM_ARCHIVE__SPECS_FOLDER=str(specs),
        AIRFLOW_CONN_UI_PG=f"postgresql://root@127.0.0.1:5432/{USER_DB}",
        AIRFLOW_CONN_UI_MY=f"mysql://root@127.0.0.1:3306/{USER_DB}",
    )
    return env


def start_airflow() -> Airflow:
    for p in (PORT, PORT + 1, PORT + 2):
        assert port_free(p), f"port {p} is busy: is another UI test session running?"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _reset_databases()
    home = Path(tempfile.mkdtemp(prefix="warm-ui-home-"))
    specs = home / "specs"
    write_specs(specs, SPECS)
    (home / "dags").mkdir(exist_ok=True)  # beside the generated files (warm_dags_folder keeps it)
    (home / "dags" / f"{DOWNSTREAM_DAG}.py").write_text(DOWNSTREAM_DAG_FILE)
    pw_file = home / "simple_auth_manager_passwords.json.generated"
    pw_file.write_text(json.dumps(PASSWORDS))
    (ARTIFACTS / "airflow-standalone.log").unlink(missing_ok=True)
    af = Airflow(home, Proc("airflow-standalone", [AIRFLOW, "standalone"], _env(home, specs), ARTIFACTS, cwd=home))
    try:
        _wait_ready(af)
    except BaseException:
        stop_airflow(af)
        raise
    PASSWORDS.update(json.loads(pw_file.read_text()))  # what Airflow actually uses
    return af


def stop_airflow(af: Airflow) -> None:
    af.proc.stop(timeout=30)
    shutil.rmtree(af.home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow():
    af = start_airflow()
    try:
        yield af
    finally:
        stop_airflow(af)


def _wait_ready(af: Airflow, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not af.proc.alive():
            raise RuntimeError(f"airflow standalone exited ({af.proc.p.returncode}):\n{af.log_tail()}")
        try:
            h = requests.get(f"{BASE}/api/v2/monitor/health", timeout=5)
            if h.ok and h.json().get("scheduler", {}).get("status") == "healthy":
                dags = af.api("GET", "/api/v2/dags", params={"tags": "warm", "limit": 100})
                ids = {d["dag_id"] for d in dags.json().get("dags", [])} if dags.ok else set()
                page = requests.get(f"{BASE}/warm/", headers=af.headers("admin"), timeout=5)  # needs a login
                # the downstream DAG too: an asset event queues runs only for DAGs already scheduled on it
                downstream = af.api("GET", f"/api/v2/dags/{DOWNSTREAM_DAG}").ok
                ready = {"ui_copy", "ui_orders", "ui_mixed", "ui_bulk"} <= ids and downstream
                if ready and page.ok and "app.js" in page.text:
                    return
                last = f"dags={sorted(ids)} downstream={downstream} page={page.status_code}"
        except (requests.RequestException, ValueError, KeyError) as e:
            last = repr(e)
        time.sleep(2)
    raise RuntimeError(f"Airflow not ready in {timeout}s ({last}):\n{af.log_tail()}")


@pytest.fixture(scope="session")
def runs(airflow):
    """The demo's runs, started once: two completed copies, two failing moves, one bulk run."""
    r = {"copy1": airflow.trigger("ui_copy", run_id="ui_copy_run_1")}
    # The first run creates the warm side's ledger tables; jobs racing to create them at once can
    # fail (engine issue reported separately), so the other runs start once it is done.
    airflow.wait_run("ui_copy", r["copy1"], timeout=120)
    r["mixed_a"] = airflow.trigger("ui_mixed", run_id="ui_mixed_run_a")
    r["bulk"] = airflow.trigger("ui_bulk", run_id="ui_bulk_run_0")
    # max_active_runs=1: the second run of a DAG waits for the first
    r["copy2"] = airflow.trigger("ui_copy", run_id="ui_copy_run_2")
    r["mixed_b"] = airflow.trigger("ui_mixed", run_id="ui_mixed_run_b")
    return r


# ---------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(
    browser,
    airflow,
    user: str = "admin",
    width: int = 1500,
    height: int = 950,
    color_scheme="light",
    timezone_id: str | None = None,
):
    ctx = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=color_scheme,
        base_url=BASE,
        **({"timezone_id": timezone_id} if timezone_id else {}),
    )
    ctx.add_cookies([{"name": "_token", "value": airflow.token(user), "url": BASE}])
    ctx.set_default_timeout(15_000)
    ctx.set_default_navigation_timeout(60_000)  # Airflow's own SPA is heavy on a loaded 2-core machine
    page = ctx.new_page()
    page.on("pageerror", lambda e: page._errors.append(str(e)))
    page._errors = []
    _record_warm_api_requests(page)
    return page


def _record_warm_api_requests(page) -> None:
    """Keep when each request of the page to the warm API started and ended, for a failure's report."""
    page._warm_requests = []

    def started(r):
        if "/warm/api/" in r.url:
            page._warm_requests.append({"request": r, "started": time.time(), "ended": None, "outcome": None})

    def ended(r, outcome):
        for e in reversed(page._warm_requests):
            if e["request"] is r:
                e["ended"], e["outcome"] = time.time(), outcome
                return

    page.on("request", started)
    page.on("requestfinished", lambda r: ended(r, "finished"))
    page.on("requestfailed", lambda r: ended(r, f"failed: {r.failure}"))


def _warm_requests_report(page, last: int = 30) -> str:
    now = time.time()
    lines = []
    for e in page._warm_requests[-last:]:
        r = e["request"]
        took = (
            f"{e['ended'] - e['started']:6.2f}s {e['outcome']}"
            if e["ended"]
            else f"still pending after {now - e['started']:.2f}s"
        )
        lines.append(
            f"{time.strftime('%H:%M:%S', time.gmtime(e['started']))} {r.method} {r.url.split('/warm/api/', 1)[1]}  {took}"
        )
    return "\n".join(lines) or "(none)"


@pytest.fixture
def page(browser, airflow):
    p = new_page(browser, airflow)
    yield p
    assert not p._errors, f"JavaScript errors on the page: {p._errors}"
    p.context.close()


@pytest.fixture
def viewer_page(browser, airflow):
    p = new_page(browser, airflow, user="viewer")
    yield p
    assert not p._errors, f"JavaScript errors on the page: {p._errors}"
    p.context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for name in ("page", "viewer_page"):
            p = item.funcargs.get(name)
            if p is not None:
                try:
                    p.screenshot(path=str(ARTIFACTS / f"FAILED-{item.name}-{name}.png"), full_page=True)
                except Exception:
                    pass
                rep.sections.append((f"{name}: its requests to the warm API (UTC)", _warm_requests_report(p)))
        af = item.funcargs.get("airflow")
        if af is not None:
            rep.sections.append(("api-server: the warm requests it served last", _served_warm_requests(af)))
            rep.sections.append(("maintenance runs and the logs of those not successful", _maintenance_report(af)))


def _maintenance_report(af: Airflow) -> str:
    """Each warm DAG's maintenance runs, with the task log of any that did not succeed: what a
    failed source deletion or rollback said, for a failure seen only in CI."""
    out = []
    for dag_id in ("ui_copy", "ui_orders", "ui_mixed", "ui_bulk"):
        m = f"{dag_id}__maintenance"
        try:
            found = af.get(f"/api/v2/dags/{m}/dagRuns", params={"limit": 50}).json().get("dag_runs", [])
            for r in found:
                out.append(
                    f"{m} {r['dag_run_id']}: {r['state']} (start {r.get('start_date')}, end {r.get('end_date')})"
                )
                if r["state"] != "success":
                    log = af.get(f"/api/v2/dags/{m}/dagRuns/{r['dag_run_id']}/taskInstances/maintain/logs/1")
                    out.append(log.text[-3000:])
        except (requests.RequestException, ValueError, KeyError) as e:
            out.append(f"{m}: cannot list its runs ({e!r})")
    return "\n".join(out) or "(none)"


_ACCESS_LINE = re.compile(
    r"(\S+Z) .*duration_us=(\d+) .*method=(\S+) path=(/warm/\S*) query=('[^']*'|\S*) status_code=(\d+)"
)


def _served_warm_requests(af: Airflow, last: int = 40) -> str:
    lines = []
    for ln in af.log_tail(5000).splitlines():
        m = _ACCESS_LINE.search(ln)
        if m:
            at, us, method, path, query, status = m.groups()
            lines.append(f"{at[11:23]} {method} {path}?{query.strip(chr(39))} -> {status} in {int(us) / 1e6:.3f}s")
    return "\n".join(lines[-last:]) or "(none)"
