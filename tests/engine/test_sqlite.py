"""SQLite user databases (the demo's): the generic path, one connection per side, used only from
the thread that opened it (sqlite3 refuses any other). Every strategy archives exactly."""

from __future__ import annotations

import json
import sqlite3

import pytest

from warm_archive.engine import JobParams, TableJob

ROWS = [
    (i, f"2020-01-{1 + i % 28:02d} 10:00:00", f"note {i} | ' \\ ✓", None if i % 5 == 0 else i * 1.25)
    for i in range(1, 2001)
]


@pytest.fixture
def sqlite_conns(tmp_path, monkeypatch):
    hot, warm = tmp_path / "hot.db", tmp_path / "warm.db"
    with sqlite3.connect(hot) as c:
        c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, note TEXT, amount REAL)")
        c.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ROWS)
    for name, path in (("T_SQLITE_HOT", hot), ("T_SQLITE_WARM", warm)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return hot, warm


def _rows(path, table="orders"):
    with sqlite3.connect(path) as c:
        return {r[0]: r for r in c.execute(f"SELECT id, created_at, note, amount FROM {table} ORDER BY id")}


def sqlite_params(run_id: str, strategy: str, **extra) -> JobParams:
    """The orders job between the two SQLite databases of ``sqlite_conns``."""
    return JobParams(
        dag_id="warm_test",
        run_id=run_id,
        task_id="orders",
        source_conn_id="T_SQLITE_HOT",
        source_table="orders",
        target_conn_id="T_SQLITE_WARM",
        target_table="orders",
        key=["id"],
        where="created_at < '2020-01-15'",
        strategy=strategy,
        batch_size=300,
        **extra,
    )


@pytest.mark.parametrize("strategy", ["copy_then_delete", "move", "copy"])
def test_sqlite_to_sqlite_archives_exactly(sqlite_conns, strategy):
    hot, warm = sqlite_conns
    p = sqlite_params(f"sqlite_{strategy}", strategy)
    with TableJob(p) as job:
        status = job.run()
    old = {r[0]: r for r in ROWS if r[1] < "2020-01-15"}
    assert status["state"] == "success" and status["rows_copied"] == len(old)
    assert _rows(warm) == old
    left = _rows(hot)
    if strategy == "copy":
        assert left == {r[0]: r for r in ROWS}
    else:
        assert status["rows_deleted"] == len(old)
        assert left == {r[0]: r for r in ROWS if r[0] not in old}
