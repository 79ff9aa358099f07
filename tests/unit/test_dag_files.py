"""``python -m warm_archive.dag_files``: one DAG file per spec, refreshed and pruned, never touching
files it did not write, and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warm_archive.dag_files import MARKER, refresh
from warm_archive.errors import SpecError

GOOD = (
    "dag_id: {}\njobs:\n  - {{id: a, source: {{conn_id: s, table: t}}, target: {{conn_id: w, table: t}}, key: [id]}}\n"
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folders(tmp_path):
    specs, dags = tmp_path / "specs", tmp_path / "dags"
    specs.mkdir()
    dags.mkdir()
    return specs, dags


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "operators"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "warm_archive.dag_files", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_writes_one_dag_file_per_spec_naming_it_relative_to_the_dags_folder(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    (specs / "items-2024.yml").write_text(GOOD.format("warm_items"))
    (specs / "notes.txt").write_text("not a spec")

    r = cli("--specs-folder", str(specs), "--dags-folder", str(dags))

    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in dags.iterdir()) == ["warm_spec_items_2024.py", "warm_spec_orders.py"]
    text = (dags / "warm_spec_orders.py").read_text()
    assert MARKER in text.splitlines()[0] and "Airflow DAG" in text.splitlines()[0]
    assert 'dag, maintenance_dag = spec_dags(__file__, "../specs/orders.yaml")' in text
    assert f"wrote {dags / 'warm_spec_orders.py'}" in r.stdout


def test_the_generated_file_builds_the_spec_dag(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    refresh(specs, dags)
    scope: dict = {"__file__": str(dags / "warm_spec_orders.py")}
    exec(compile((dags / "warm_spec_orders.py").read_text(), "warm_spec_orders.py", "exec"), scope)
    assert scope["dag"].dag_id == "warm_orders"
    assert [t.task_id for t in scope["dag"].tasks] == ["a"]
    # its maintenance DAG acts on warm_orders' runs only, with the spec it was built from
    maintain = scope["maintenance_dag"].get_task("maintain")
    assert scope["maintenance_dag"].dag_id == "warm_orders__maintenance"
    assert maintain.target_dag_id == "warm_orders"
    assert Path(maintain.spec_file) == (specs / "orders.yaml").resolve()


def test_a_second_run_changes_nothing(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    refresh(specs, dags)
    before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in dags.iterdir()}

    again = refresh(specs, dags)

    assert (again.written, again.removed, again.unchanged) == ([], [], ["warm_spec_orders.py"])
    assert {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in dags.iterdir()} == before
    r = cli("--specs-folder", str(specs), "--dags-folder", str(dags))
    assert r.returncode == 0 and "wrote" not in r.stdout and "1 DAG file(s) unchanged" in r.stdout


def test_refresh_rewrites_a_stale_file_and_removes_only_its_own_files(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    (specs / "gone.yaml").write_text(GOOD.format("warm_gone"))
    refresh(specs, dags)
    (dags / "warm_spec_orders.py").write_text((dags / "warm_spec_orders.py").read_text() + "# edited\n")
    (specs / "gone.yaml").unlink()
    mine = dags / "warm_spec_mine.py"  # a user's own file with the generated files' prefix
    mine.write_text('"""My own DAG file."""\n')
    other = dags / "my_maintenance.py"
    other.write_text('"""Not generated."""\n')

    changes = refresh(specs, dags)

    assert changes.written == ["warm_spec_orders.py"] and changes.removed == ["warm_spec_gone.py"]
    assert "# edited" not in (dags / "warm_spec_orders.py").read_text()
    assert not (dags / "warm_spec_gone.py").exists()
    assert mine.read_text() == '"""My own DAG file."""\n' and other.exists()


def test_refuses_to_overwrite_a_file_it_did_not_write_and_changes_nothing(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    (specs / "mine.yaml").write_text(GOOD.format("warm_mine"))
    (dags / "warm_spec_mine.py").write_text('"""My own DAG file."""\n')

    r = cli("--specs-folder", str(specs), "--dags-folder", str(dags))

    assert r.returncode == 2
    assert "warm_spec_mine.py exists and was not written by warm_archive.dag_files" in r.stderr
    assert sorted(p.name for p in dags.iterdir()) == ["warm_spec_mine.py"]  # orders' file not written either


def test_two_specs_that_would_share_a_dag_file_are_refused(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_a"))
    (specs / "orders.yml").write_text(GOOD.format("warm_b"))
    with pytest.raises(SpecError, match="orders.yml and orders.yaml would share the DAG file warm_spec_orders.py"):
        refresh(specs, dags)
    assert list(dags.iterdir()) == []


def test_a_broken_spec_still_gets_its_dag_file_and_is_reported(folders):
    specs, dags = folders
    (specs / "bad.yaml").write_text("dag_id: warm_bad\nbatchsize: 5\njobs: []\n")

    r = cli("--specs-folder", str(specs), "--dags-folder", str(dags))

    assert r.returncode == 0
    assert (dags / "warm_spec_bad.py").exists()  # so Airflow shows the import error on it
    assert "bad.yaml" in r.stderr and "batchsize: unknown key" in r.stderr


def test_a_missing_specs_folder_is_an_error(tmp_path):
    r = cli("--specs-folder", str(tmp_path / "nope"), "--dags-folder", str(tmp_path))
    assert r.returncode == 2 and f"specs folder {tmp_path / 'nope'} does not exist" in r.stderr


def test_a_dag_file_left_behind_by_a_removed_spec_says_how_to_fix_it(folders):
    specs, dags = folders
    (specs / "orders.yaml").write_text(GOOD.format("warm_orders"))
    refresh(specs, dags)
    (specs / "orders.yaml").unlink()
    scope: dict = {"__file__": str(dags / "warm_spec_orders.py")}
    with pytest.raises(SpecError, match=r"orders.yaml: spec file .* does not exist.*python -m warm_archive.dag_files"):
        exec(compile((dags / "warm_spec_orders.py").read_text(), "warm_spec_orders.py", "exec"), scope)
