"""Each strategy archives exactly the matching rows on every engine pair (docs/design.md §3, §4)."""

from __future__ import annotations

import pytest

from tests.dbs import checksum


@pytest.mark.parametrize("strategy", ["copy", "copy_then_delete", "move"])
def test_strategy_archives_exactly_the_matching_rows(pair, strategy):
    status = pair.run(strategy)

    assert pair.warm_rows() == pair.expected_archived
    kept = {k: v for k, v in pair.before_src.items() if k not in pair.expected_archived}
    assert pair.src_rows() == (pair.before_src if strategy == "copy" else kept)
    n = len(pair.expected_archived)
    assert 1500 < n < 2500  # about two thirds of 3000
    assert status["rows_copied"] == n
    assert status["rows_deleted"] == (0 if strategy == "copy" else n)
    assert status["state"] == "success" and status["progress_pct"] == 100.0
    assert status["source_status"] == ("retained" if strategy == "copy" else "processed")
    assert status["batches"] == -(-n // 700)


def test_running_the_same_rows_twice_never_duplicates(pair):
    pair.run("copy")
    first = checksum(pair.warm_rows())
    again = pair.run("copy")  # a new run over the same, still present, source rows
    assert again["rows_copied"] == 0
    assert again["rows_skipped"] == len(pair.expected_archived)
    assert checksum(pair.warm_rows()) == first
    assert pair.src_rows() == pair.before_src


def test_status_records_every_statement_with_counts_and_time(pair):
    status = pair.run("move")
    sql = status["sql"]
    assert sql and all(set(s) == {"statement", "count", "seconds", "max_seconds", "kind"} for s in sql)
    assert {s["kind"] for s in sql} == {"work", "check"}  # the condition probe is a check
    deletes = [s for s in sql if s["statement"].startswith("DELETE FROM")]
    assert deletes and sum(s["count"] for s in deletes) >= status["batches"]
    # one entry per distinct statement: the batches' key parameters are not part of the text
    selects = [s for s in sql if "LIMIT %s" in s["statement"]]  # first batch, and the ones after
    assert len(selects) == 2 and sum(s["count"] for s in selects) == status["batches"] + 1
    for field in (
        "strategy",
        "table",
        "target",
        "rows_planned",
        "rows_copied",
        "rows_skipped",
        "rows_deleted",
        "progress_pct",
        "source_status",
        "rows_per_second",
        "batches",
        "dry_run",
        "sql",
        "updated_at",
    ):
        assert field in status


def test_dry_run_counts_and_moves_nothing(pair):
    status = pair.run("move", dry_run=True)
    assert status["rows_planned"] == len(pair.expected_archived)
    lo, hi = min(pair.expected_archived), max(pair.expected_archived)
    assert status["key_range"] == [[lo], [hi]]
    assert status["rows_copied"] == 0 and status["dry_run"] is True
    assert pair.src_rows() == pair.before_src
    assert not pair.warm.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 't_warm' AND table_name = 'orders'"
    ).fetchone()[0]


def test_overwrite_replaces_rows_already_in_the_warm_table(pair):
    pair.run("copy")
    # Change two warm rows behind the job's back; overwrite puts the source content back.
    ids = sorted(pair.expected_archived)[:2]
    pair.warm.execute(f"UPDATE {pair.warm.q('t_warm.orders')} SET status = 'tampered' WHERE id IN ({ids[0]}, {ids[1]})")
    status = pair.run("copy", on_conflict="overwrite")
    assert status["rows_copied"] == len(pair.expected_archived)
    assert pair.warm_rows() == pair.expected_archived


def test_on_conflict_error_refuses_and_changes_nothing(pair):
    pair.run("copy")
    before = checksum(pair.warm_rows())
    from warm_archive.errors import ConflictError

    with pytest.raises(ConflictError, match="already in t_warm.orders"):
        pair.run("move", on_conflict="error")
    assert checksum(pair.warm_rows()) == before
    assert pair.src_rows() == pair.before_src


def test_composite_key_and_throttle(engines):
    from warm_archive.engine import JobParams, TableJob

    pg = engines["pg"]
    pg.schema("t_src")
    pg.schema("t_warm")
    pg.execute("DROP TABLE IF EXISTS t_src.items; DROP TABLE IF EXISTS t_warm.items")
    pg.execute(
        "CREATE TABLE t_src.items (order_id int, line_no int, qty int NOT NULL, PRIMARY KEY (order_id, line_no))"
    )
    pg.execute("INSERT INTO t_src.items SELECT o, l, o * l FROM generate_series(1, 300) o, generate_series(1, 4) l")
    p = JobParams(
        dag_id="warm_test",
        run_id="composite",
        task_id="items",
        source_conn_id="T_PG",
        source_table="t_src.items",
        target_conn_id="T_PG",
        target_table="t_warm.items",
        key=["order_id", "line_no"],
        where="order_id <= 200",
        strategy="move",
        batch_size=77,
        max_rows_per_second=2000,
    )
    import time

    t0 = time.monotonic()
    with TableJob(p) as job:
        status = job.run()
    assert time.monotonic() - t0 >= 800 / 2000 * 0.8  # the throttle held the pace down
    assert status["rows_copied"] == 800 and status["rows_deleted"] == 800
    assert pg.execute("SELECT COUNT(*), MIN(order_id) FROM t_src.items").fetchone() == (400, 201)
    assert pg.execute("SELECT COUNT(*), SUM(qty) FROM t_warm.items").fetchone() == (
        800,
        sum(o * line for o in range(1, 201) for line in range(1, 5)),
    )
