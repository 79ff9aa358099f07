"""A broken spec in a running deployment: Airflow's import errors API names its DAG file, its YAML
file and the key, and every other warm DAG stays listed (one DAG file per spec, ADR 0007)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.api.conftest import DAGS, SPECS
from tests.processes import ROOT
from tests.specs import Job, spec

pytestmark = pytest.mark.timeout(600)

BROKEN = "api_broken"
LATE = "api_late"


def generate(stack) -> str:
    """What a user runs after changing specs, with the deployment's configuration."""
    r = subprocess.run(
        [sys.executable, "-m", "warm_archive.dag_files"],
        env=stack.env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def import_errors(stack) -> dict[str, str]:
    body = stack.ok("get", "/api/v2/importErrors", params={"limit": 100})
    return {e["filename"]: e["stack_trace"] for e in body["import_errors"]}


def warm_dag_ids(stack) -> set[str]:
    body = stack.ok("get", "/api/v2/dags", params={"tags": "warm", "limit": 100})
    return {d["dag_id"] for d in body["dags"]}


def wait(what: str, pred, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {timeout}s")
        time.sleep(2)


def test_broken_spec_is_an_import_error_of_its_own_file_and_the_other_warm_dags_stay(simple):
    good = {d for d in DAGS if d in SPECS}
    assert good <= warm_dag_ids(simple)
    (simple.specs_dir / f"{BROKEN}.yaml").write_text(
        spec(BROKEN, "move", [Job("orders", "api_pg", "api_src.orders", "api_pg", "api_warm.b")]) + "batchsize: 5\n"
    )
    (simple.specs_dir / f"{LATE}.yaml").write_text(
        spec(LATE, "copy", [Job("orders", "api_pg", "api_src.orders", "api_pg", "api_warm.late")])
    )
    try:
        out = generate(simple)
        assert f"warm_spec_{BROKEN}.py" in out and "batchsize: unknown key" in out  # told at once, too

        # a good spec added beside the broken one loads, and the broken one is an import error
        wait(f"{LATE} listed", lambda: LATE in warm_dag_ids(simple))
        errors = wait(f"import error of {BROKEN}", lambda: import_errors(simple))
        assert list(errors) == [f"warm_spec_{BROKEN}.py"]  # its own DAG file, nothing else
        message = errors[f"warm_spec_{BROKEN}.py"]
        assert f"{BROKEN}.yaml" in message and "batchsize: unknown key" in message, message
        listed = warm_dag_ids(simple)
        assert good | {LATE} <= listed and BROKEN not in listed  # every other warm DAG is still there
        assert simple.ok("get", f"/api/v2/dags/{LATE}")["is_stale"] is False
        for dag_id in good:
            assert simple.ok("get", f"/api/v2/dags/{dag_id}")["is_stale"] is False
    finally:
        (simple.specs_dir / f"{BROKEN}.yaml").unlink()
        (simple.specs_dir / f"{LATE}.yaml").unlink()
        out = generate(simple)
    # the spec removed and the DAG files refreshed: its file and its import error are gone
    assert f"removed {simple.specs_dir.parent / 'dags' / f'warm_spec_{BROKEN}.py'}" in out
    wait("no import errors", lambda: not import_errors(simple) or None)
