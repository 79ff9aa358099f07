"""A new user's path from a registry install: the wheel built from this checkout, installed into a
fresh virtualenv and a fresh Airflow home, followed as the README's "Install" and "Your first
archive" say, reaches a first archived run.

The wheel is the only copy of the project the new environment sees: the checkout's editable
install is not on its path. Airflow and the drivers come from the project's pinned virtualenv
(read through a ``.pth`` path, so nothing is downloaded), the versions a user gets from
``requirements/constraints.txt``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SPEC = """
dag_id: warm_orders
strategy: copy_then_delete
jobs:
  - id: orders
    source: {conn_id: hot_db, table: orders}
    target: {conn_id: warm_db, table: orders}   # created if missing
    key: [id]
    where: "created_at < '2025-01-01'"
"""

# What Airflow's plugins manager loads (entry point group airflow.plugins) and the page it serves.
PLUGIN_FROM_ENTRY_POINT = """
from importlib.metadata import entry_points
from pathlib import Path
(ep,) = [e for e in entry_points(group="airflow.plugins") if e.name == "warm_monitor"]
plugin = ep.load()
static = Path(__import__(plugin.__module__).__file__).parent / "static"
print(plugin.name, static, sorted(p.name for p in static.rglob("*")))
"""


def run(argv: list[str], env: dict, cwd: Path) -> str:
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(the fresh virtualenv's python, the environment of a fresh Airflow home) with the wheel in."""
    tmp = tmp_path_factory.mktemp("wheel-user")
    wheels = tmp / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)], dict(os.environ), tmp)
    (wheel,) = wheels.glob("airflow_warm_archive-*.whl")
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(venv)], dict(os.environ), tmp)
    py = venv / "bin" / "python"
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], {}, tmp).strip())
    # Airflow and the drivers from the project's virtualenv, after the new one's own packages
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], {}, tmp)

    home = tmp / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_CONN_HOT_DB=json.dumps({"conn_type": "sqlite", "host": str(tmp / "hot.db")}),
        AIRFLOW_CONN_WARM_DB=json.dumps({"conn_type": "sqlite", "host": str(tmp / "warm.db")}),
    )
    return py, env


def test_the_wheel_alone_takes_a_new_user_to_a_first_archived_run(installed):
    py, env = installed
    home = Path(env["AIRFLOW_HOME"])
    cwd = home.parent
    where = run(
        [str(py), "-c", "import warm_archive, warm_monitor; print(warm_archive.__file__, warm_monitor.__file__)"],
        env,
        cwd,
    )
    assert str(ROOT) not in where and where.count(str(cwd / "venv")) == 2, where  # the wheel's copy, not the checkout

    # README, Install: migrate (the plugin's own tables too), a specs folder, the DAG files
    run([str(py), "-m", "airflow", "db", "migrate"], env, cwd)
    with sqlite3.connect(home / "airflow.db") as meta:
        tables = {r[0] for r in meta.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"dag_run", "warm_monitor_run"} <= tables, sorted(t for t in tables if "warm" in t)
    specs = home / "dags" / "specs"
    specs.mkdir(parents=True)
    (specs / "orders.yaml").write_text(textwrap.dedent(SPEC))
    out = run([str(py), "-m", "warm_archive.dag_files"], env, cwd)
    assert (home / "dags" / "warm_spec_orders.py").exists(), out

    # the plugin (page, API, its static files) is what the wheel's entry point gives Airflow
    shipped = run([str(py), "-c", PLUGIN_FROM_ENTRY_POINT], env, cwd)
    assert "index.html" in shipped and "app.js" in shipped and str(cwd / "venv") in shipped, shipped

    # README, Your first archive: the hot table, then a run of warm_orders
    with sqlite3.connect(Path(json.loads(env["AIRFLOW_CONN_HOT_DB"])["host"])) as hot:
        hot.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, amount REAL)")
        hot.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(i, f"{2024 if i % 3 else 2025}-06-{1 + i % 28:02d}", i * 1.5) for i in range(1, 1201)],
        )
        before = dict((r[0], r[1:]) for r in hot.execute("SELECT * FROM orders"))
    old = {k: v for k, v in before.items() if v[0] < "2025-01-01"}
    run([str(py), "-m", "airflow", "dags", "test", "warm_orders", "2026-01-01"], env, cwd)

    with sqlite3.connect(Path(json.loads(env["AIRFLOW_CONN_HOT_DB"])["host"])) as hot:
        left = dict((r[0], r[1:]) for r in hot.execute("SELECT * FROM orders"))
    with sqlite3.connect(Path(json.loads(env["AIRFLOW_CONN_WARM_DB"])["host"])) as warm:
        archived = dict((r[0], r[1:]) for r in warm.execute("SELECT id, created_at, amount FROM orders"))
    assert len(old) == 800
    assert archived == old  # every old row, exactly, in the warm table
    assert left == {k: v for k, v in before.items() if k not in old}  # and only those gone from the hot one
