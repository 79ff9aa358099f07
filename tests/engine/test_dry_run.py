"""A dry run shows what the real run would do, and does none of it (docs/design.md §5, README "Dry run").

On every engine pair and strategy: the tables are unchanged after a dry run (no warm table, no
ledger, every source row still there), ``warm_status`` holds the rows, the key range and the
first batch's statements (``dry_run_sql``), and those statements are the real run's: the same
tables, columns and key bounds, and the same SQL text the real run then executes.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.engine.conftest import SRC, WARM, WHERE
from tests.engine.test_sqlite import ROWS, _rows, sqlite_conns, sqlite_params  # noqa: F401  (a fixture)
from warm_archive.engine import TableJob
from warm_archive.sqlstats import shape

COLUMNS = ["id", "created_at", "amount", "status", "note", "flag", "payload"]


def _ledger_exists(engine) -> bool:
    """A ledger where a job on WARM would put it (MariaDB: t_warm), or in the connection's database."""
    return engine.ledger_exists(WARM) or engine.ledger_exists("warm_archive_ledger")


def _writes(status: dict) -> list[dict]:
    return [e for e in status["dry_run_sql"] if "statement" in e and not e["executed"]]


def _named(entry: dict) -> dict:
    """A recorded INSERT's bound values by column name."""
    cols = re.search(r"\(([^)]*)\) VALUES", entry["statement"]).group(1)
    names = [c.strip().strip('`"') for c in cols.split(",")]
    return dict(zip(names, entry["params"]))


def _ledger_insert(status: dict, batch_no: int) -> dict:
    rows = [
        _named(e)
        for e in _writes(status)
        if e["statement"].startswith("INSERT INTO") and "warm_archive_ledger" in e["statement"]
    ]
    return next(r for r in rows if r["batch_no"] == batch_no)


@pytest.mark.parametrize("strategy", ["copy", "copy_then_delete", "move"])
def test_dry_run_changes_nothing_and_shows_the_real_runs_statements(pair, strategy):
    status = pair.run(strategy, dry_run=True, run_id=f"dry_{strategy}")

    # Nothing changed: every source row there, no warm table, no ledger.
    assert pair.src_rows() == pair.before_src
    assert not pair.warm_exists()
    assert not _ledger_exists(pair.warm) and not _ledger_exists(pair.src)

    # What a user reads: rows, key range, and the statements, none of their writes executed.
    archived = sorted(pair.expected_archived)
    assert status["dry_run"] is True and status["state"] == "success" and status["phase"] == "dry_run"
    assert status["rows_planned"] == len(archived)
    assert status["key_range"] == [[archived[0]], [archived[-1]]]
    assert status["rows_copied"] == 0 and status["rows_deleted"] == 0
    # no warm table yet: nothing of the plan is archived already
    assert status["already_archived"] == 0 and status["on_conflict"] == "skip" and status["on_conflict_effect"] is None
    recorded = status["dry_run_sql"]
    json.dumps(recorded)  # travels in an XCom as it is
    writes = _writes(status)
    steps = [e["step"] for e in recorded]
    assert steps.index("create the warm table") < steps.index("ledger header") < steps.index("first batch")
    creates = [e["statement"] for e in writes if e["step"] == "create the warm table"]
    assert any(s.startswith("CREATE TABLE") and "orders" in s for s in creates)

    # The warm table's rows: into the warm table, every column, the first batch's rows.
    first_batch = archived[:700]
    into_warm = [
        e
        for e in writes
        if e["on"] in ("warm", "source")
        and re.match(r"(INSERT INTO|COPY) \S*orders", e["statement"])
        and "warm_archive_ledger" not in e["statement"]
    ]
    assert into_warm, recorded
    for e in into_warm:
        assert "t_warm" in e["statement"] and all(c in e["statement"] for c in COLUMNS)
    header, batch1 = _ledger_insert(status, 0), _ledger_insert(status, 1)
    assert header["strategy"] == strategy and header["source_table"] == SRC and header["target_table"] == WARM
    assert json.loads(batch1["key_lo"]) == [first_batch[0]] and json.loads(batch1["key_hi"]) == [first_batch[-1]]
    assert batch1["rows_inserted"] == len(first_batch)

    deletes = [e for e in writes if e["statement"].startswith("DELETE")]
    if strategy == "copy":
        assert not deletes
    elif strategy == "move":
        (delete,) = deletes
        assert delete["on"] == "source" and "t_src" in delete["statement"] and delete["step"] == "first batch"
        assert delete["rows"] == len(first_batch)
        assert delete["params"][:2] == [first_batch[0], first_batch[-1]]  # a dense batch: one BETWEEN
    elif pair.src.name == pair.warm.name:
        (delete,) = deletes  # one database: the server compares the rows in the DELETE itself
        assert delete["step"] == "verified delete" and "t_src" in delete["statement"]
        assert "t_warm" in delete["statement"] and delete["params"][:2] == [first_batch[0], first_batch[-1]]
    else:  # across servers it depends on a comparison a dry run cannot make: said, not shown
        assert not deletes
        (note,) = [e["note"] for e in recorded if e["step"] == "verified delete"]
        assert "not shown" in note

    # The real run then executes exactly those statements, with those key bounds.
    real = pair.run(strategy, run_id=f"real_{strategy}")
    assert real["dry_run_sql"] is None
    ran = {s["statement"] for s in real["sql"]}
    for e in recorded:
        if "statement" not in e or e["step"] == "create the warm table":
            continue  # the DDL runs outside the statement statistics
        text = e["statement"]
        if "literals" in e.get("note", ""):  # rows as literals (passthrough): one statistics entry per head
            assert any(r.startswith(text.split(" VALUES ")[0]) for r in ran), text
        else:
            assert shape(text) in ran, (text, sorted(ran))
    lo, hi = pair.warm.execute(
        f"SELECT key_lo, key_hi FROM {pair.warm.ledger(WARM)} WHERE run_id = %s AND batch_no = 1", (f"real_{strategy}",)
    ).fetchone()
    assert (lo, hi) == (batch1["key_lo"], batch1["key_hi"])


def test_dry_run_over_a_filled_warm_table_reads_it_for_real(pair):
    """Once the warm table holds the rows, the dry run finds them there (no CREATE TABLE; a
    re-run skips them) and still writes nothing."""
    pair.run("copy", run_id="filled")
    warm_before = pair.warm_rows()
    status = pair.run("copy", dry_run=True, run_id="dry_after")
    assert pair.warm_rows() == warm_before and pair.src_rows() == pair.before_src
    recorded = status["dry_run_sql"]
    assert not any(e["step"] == "create the warm table" for e in recorded)
    batch1 = _ledger_insert(status, 1)
    assert batch1["rows_inserted"] == 0  # every row of the batch is there already (on_conflict: skip)
    n = pair.warm.execute(
        f"SELECT COUNT(*) FROM {pair.warm.ledger(WARM)} WHERE run_id = %s", ("dry_after",)
    ).fetchone()[0]
    assert n == 0


def _planned_in_warm(pair) -> set:
    """The keys the dry run plans (the condition's rows) that the warm table holds, read with our own SQL."""
    planned = {r[0] for r in pair.src.execute(f"SELECT id FROM {pair.src.q(SRC)} WHERE {WHERE}").fetchall()}
    return planned & {r[0] for r in pair.warm.execute(f"SELECT id FROM {pair.warm.q(WARM)}").fetchall()}


EFFECT = {
    "skip": "on_conflict=skip leaves them as they are and does not copy them again",
    "overwrite": "on_conflict=overwrite replaces them with the source rows",
    "error": "on_conflict=error, the real run would fail at the first batch holding one",
}


@pytest.mark.parametrize("on_conflict", ["skip", "overwrite", "error"])
def test_dry_run_says_how_many_planned_rows_are_already_archived_and_what_on_conflict_does(pair, on_conflict):
    """An earlier run archived part of the plan (and rows the plan does not hold): the dry run
    counts exactly the planned keys the warm table holds and says what on_conflict will do with
    them; the real run then skips exactly those (skip), rewrites them (overwrite) or fails (error)."""
    pair.run("copy", run_id="earlier", where="id <= 500 OR (id > 1200 AND id <= 1300) OR id > 2950")
    already = _planned_in_warm(pair)
    assert 0 < len(already) < len(pair.expected_archived)  # part of the plan, by our own reading
    assert pair.warm.count(WARM) > len(already)  # and warm rows outside the plan, which do not count

    status = pair.run("copy", dry_run=True, on_conflict=on_conflict, run_id=f"dry_{on_conflict}")
    assert status["rows_planned"] == len(pair.expected_archived)
    assert status["already_archived"] == len(already) and status["on_conflict"] == on_conflict
    effect = status["on_conflict_effect"]
    assert effect.startswith(f"{len(already):,} of the planned rows are already in the warm table: "), effect
    assert EFFECT[on_conflict] in effect
    # the count read only (every statement of the dry run's own is a check, bounded by the walk)
    assert {s["kind"] for s in status["sql"]} == {"check"}
    bounded = ("<=", " IN (", "ANY(", "BETWEEN")  # the walk's step, or a chunk's keys
    assert not [
        s for s in status["sql"] if "COUNT(*)" in s["statement"] and not any(b in s["statement"] for b in bounded)
    ]

    if on_conflict == "error":
        with pytest.raises(Exception, match="on_conflict: error"):
            pair.run("copy", on_conflict="error", run_id="real_error")
        return
    real = pair.run("copy", on_conflict=on_conflict, run_id=f"real_{on_conflict}")
    if on_conflict == "skip":
        assert real["rows_skipped"] == len(already)
        assert real["rows_copied"] == len(pair.expected_archived) - len(already)
    else:
        assert real["rows_skipped"] == 0 and real["rows_copied"] == len(pair.expected_archived)
    assert _planned_in_warm(pair) == set(pair.expected_archived)


@pytest.mark.parametrize("where", [None, WHERE], ids=["no condition", "a condition"])
def test_dry_run_shows_the_runs_work_and_keeps_its_checks_apart(pair, where):
    """The statements a dry run shows are the real run's work, as a DBA reads them: no ``1=1``
    standing in for a missing condition or key, no ``LIMIT 0`` probe. The probes and the dry
    run's own counting are in ``sql`` marked ``kind: check``; the real run marks its probes so too."""
    status = pair.run("move", dry_run=True, where=where, run_id="dry_work")
    shown = [e["statement"] for e in status["dry_run_sql"] if "statement" in e]
    assert shown and not [s for s in shown if "1=1" in s.replace(" ", "") or "LIMIT 0" in s], shown
    assert {s["kind"] for s in status["sql"]} == {"check"}
    assert not [s["statement"] for s in status["sql"] if "1=1" in s["statement"].replace(" ", "")]
    probes = [s for s in status["sql"] if "LIMIT 0" in s["statement"]]
    assert len(probes) == (0 if where is None else 1)  # the condition, judged by the source before anything

    real = pair.run("move", where=where, run_id="real_work")
    kinds = {s["statement"]: s["kind"] for s in real["sql"]}
    assert not [s for s in kinds if "1=1" in s.replace(" ", "")], sorted(kinds)
    assert all(kinds[s] == "check" for s in kinds if "LIMIT 0" in s)
    for e in status["dry_run_sql"]:  # what the dry run showed is what the real run did, as its work
        if "statement" not in e or e["step"] == "create the warm table" or "literals" in e.get("note", ""):
            continue  # the DDL runs outside the statistics; rows as literals have one entry per head
        assert kinds.get(shape(e["statement"])) == "work", (e["statement"], sorted(kinds))


def test_dry_run_with_no_matching_row_says_so(pair):
    status = pair.run("move", dry_run=True, where="created_at < '1990-01-01'")
    assert status["rows_planned"] == 0 and status["key_range"] is None
    assert status["dry_run_sql"] == [
        {"step": "first batch", "note": "no row matches the condition: the real run would copy nothing"}
    ]
    assert pair.src_rows() == pair.before_src and not pair.warm_exists()


def test_dry_run_shows_where_the_real_run_would_fail(pair):
    """on_conflict: error meeting rows already archived: the preview ends with the real run's error."""
    pair.run("copy", run_id="first_copy")
    status = pair.run("copy", dry_run=True, on_conflict="error", run_id="dry_conflict")
    last = status["dry_run_sql"][-1]
    assert last["step"] == "first batch" and "already in t_warm.orders (on_conflict: error)" in last["error"]
    with pytest.raises(Exception, match="on_conflict: error"):
        pair.run("copy", on_conflict="error", run_id="real_conflict")


@pytest.mark.parametrize("strategy", ["copy", "copy_then_delete", "move"])
def test_dry_run_on_sqlite_the_demos_databases(sqlite_conns, strategy):  # noqa: F811 - the fixture
    """SQLite (the demo's user databases): nothing written, the first batch's statements recorded."""
    hot, warm = sqlite_conns
    p = sqlite_params(f"dry_sqlite_{strategy}", strategy, dry_run=True)
    with TableJob(p) as job:
        status = job.run()
    assert _rows(hot) == {r[0]: r for r in ROWS}
    with sqlite3.connect(warm) as c:
        assert c.execute("SELECT name FROM sqlite_master").fetchall() == []  # no warm table, no ledger
    old = sorted(r[0] for r in ROWS if r[1] < "2020-01-15")
    assert status["rows_planned"] == len(old) and status["key_range"] == [[old[0]], [old[-1]]]
    writes = [e["statement"] for e in _writes(status)]
    assert any(w.startswith('CREATE TABLE IF NOT EXISTS "orders"') for w in writes), writes
    assert any(w.startswith('INSERT INTO "orders"') for w in writes), writes
    # batch 1: the matching rows among the first 300 keys (the walk's first step, walk.py)
    assert _ledger_insert(status, 1)["rows_inserted"] == len([k for k in sorted(r[0] for r in ROWS)[:300] if k in old])
    deletes = [e for e in _writes(status) if e["statement"].startswith("DELETE")]
    assert len(deletes) == (1 if strategy == "move" else 0)
