"""A dry run through the real api-server: it shows what the real run would do, changes nothing, and
its source data can be neither deleted nor marked processed (409 with the reason; README "Dry run")."""

from __future__ import annotations

import pytest

from tests.api.test_1_simple_api import API, checksum, task_path
from tests.faults import tally
from tests.processes import pg

pytestmark = pytest.mark.timeout(600)


def _warm_table_exists() -> bool:
    with pg("wa_api") as c:
        return c.execute("SELECT to_regclass('api_warm.copyme') IS NOT NULL").fetchone()[0]


def _ids() -> list[int]:
    with pg("wa_api") as c:
        return [r[0] for r in c.execute("SELECT id FROM api_src.copyme ORDER BY id").fetchall()]


def _maintenance_runs(d) -> int:
    runs = d.get("/api/v2/dags/~/dagRuns", params={"limit": 1, "dag_id_pattern": "%__maintenance"}).json()
    return runs["total_entries"]


@pytest.fixture(scope="module")
def dry(stack):
    stack.use("simple")
    # rows of its own, whatever the earlier modules left of api_src.copyme (a move empties it)
    with pg("wa_api") as c:
        c.execute(
            "INSERT INTO api_src.copyme SELECT g, md5(g::text) FROM generate_series(100001, 101200) g "
            "ON CONFLICT DO NOTHING"
        )
        # the last 150 of them archived already (after the first batch, whose statements the test reads)
        c.execute("CREATE TABLE IF NOT EXISTS api_warm.copyme (LIKE api_src.copyme INCLUDING ALL)")
        c.execute(
            "INSERT INTO api_warm.copyme SELECT * FROM api_src.copyme WHERE id BETWEEN 101051 AND 101200 "
            "ON CONFLICT DO NOTHING"
        )
    before = checksum("api_src.copyme"), _warm_table_exists()
    run_id = stack.trigger("api_copy", {"dry_run": True})  # the spec's strategy: move
    assert stack.wait_run("api_copy", run_id) == "success"
    return run_id, before


def test_dry_run_changes_nothing_and_the_api_shows_what_the_real_run_would_execute(simple, dry):
    run_id, (src_before, warm_existed) = dry
    assert checksum("api_src.copyme") == src_before and _warm_table_exists() == warm_existed

    r = simple.get(task_path("api_copy", run_id))
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["dry_run"] is True and t["conf"]["dry_run"] is True
    assert t["actions"]["delete_source"] == {"allowed": False, "reason": t["actions"]["source_status"]["reason"]}
    assert "dry run" in t["actions"]["delete_source"]["reason"]
    (s,) = t["subtasks"]
    assert s["dry_run"] is True and s["rows_archived"] == 0 and s["rows_planned"] == src_before[0]
    ids = _ids()
    assert len(ids) > 500 and s["key_range"] == [[ids[0]], [ids[-1]]]  # more than one batch

    # the planned rows already in the warm table, counted as our own SQL counts them, and what
    # on_conflict (the spec's: skip) will do with them
    with pg("wa_api") as c:
        (already,) = c.execute(
            "SELECT count(*) FROM api_src.copyme s WHERE EXISTS (SELECT 1 FROM api_warm.copyme w WHERE w.id = s.id)"
        ).fetchone()
    assert already >= 150
    assert s["already_archived"] == already and s["on_conflict"] == "skip"
    assert s["on_conflict_effect"] == (
        f"{already:,} of the planned rows are already in the warm table: on_conflict=skip leaves them as they are "
        "and does not copy them again; it deletes from the source those equal to their warm row and keeps the others"
    )
    statements = [e for e in s["dry_run_sql"] if "statement" in e]
    writes = [e["statement"] for e in statements if not e["executed"]]
    # hot and warm tables in one database: one INSERT ... SELECT on the server
    assert any(w.startswith('INSERT INTO "api_warm"."copyme"') for w in writes), writes
    (delete,) = [e for e in statements if e["statement"].startswith("DELETE")]
    assert delete["statement"].startswith('DELETE FROM "api_src"."copyme" WHERE') and not delete["executed"]
    assert ids[499] - ids[0] == 499  # a dense first batch of 500 keys: one BETWEEN
    assert delete["params"][:2] == [ids[0], ids[499]] and delete["rows"] == 500

    # what it shows is the run's work: no probe, no 1=1; its own reads are checks
    assert not [e for e in statements if "1=1" in e["statement"].replace(" ", "") or "LIMIT 0" in e["statement"]]
    assert s["sql"] and {x["kind"] for x in s["sql"]} == {"check"}

    # the list marks it too
    listed = simple.get(f"{API}/tasks", params={"tab": "completed", "run_id": run_id}).json()["tasks"]
    assert [x["dry_run"] for x in listed] == [True]


@pytest.mark.parametrize(
    ("action", "path", "body"),
    [
        ("source_status", "/source-status", {"status": "processed"}),
        ("delete_source", "/delete-source", {}),
        ("maintenance.delete_source", "/maintenance", {"action": "delete_source"}),
        ("maintenance.delete_source", "/maintenance", {"action": "delete_source", "any_state": True}),
    ],
)
def test_source_data_of_a_dry_run_cannot_be_deleted_or_marked_processed(simple, dry, action, path, body):
    run_id, (src_before, _) = dry
    maintenance_before = _maintenance_runs(simple)
    tally.bad_inputs()  # a write the run's state forbids: counted with the abuse suite's refused inputs
    r = simple.post(task_path("api_copy", run_id) + path, "admin", json=body)
    assert r.status_code == 409, r.text
    assert "dry run" in r.json()["detail"] and "no source data" in r.json()["detail"]
    # refused whole: no maintenance run, no status change, the refusal recorded with its reason
    assert _maintenance_runs(simple) == maintenance_before
    t = simple.get(task_path("api_copy", run_id)).json()
    assert t["source_status"] == "retained" and not t["source_status_overridden"] and t["delete_run_id"] is None
    assert checksum("api_src.copyme") == src_before
    log = simple.get(f"{API}/actions", params={"run_id": run_id, "action": action, "limit": 5}).json()["actions"]
    assert log and log[0]["outcome"] == "refused" and log[0]["http_status"] == 409
    assert "dry run" in log[0]["detail"]


def test_a_real_run_of_the_same_dag_is_not_refused(simple, dry):
    """The rule is the dry run's, not the DAG's: a real run's source data may be marked processed."""
    run_id = simple.trigger("api_copy", {"strategy": "copy"})
    assert simple.wait_run("api_copy", run_id) == "success"
    t = simple.get(task_path("api_copy", run_id)).json()
    assert t["dry_run"] is False
    assert t["actions"]["source_status"] == t["actions"]["delete_source"] == {"allowed": True, "reason": None}
    r = simple.post(task_path("api_copy", run_id) + "/source-status", "admin", json={"status": "processed"})
    assert r.status_code == 200, r.text
