"""After a bulk delete the planner knows the source's new size: the job runs ``ANALYZE`` on a
PostgreSQL source it shrank by a tenth or more, as a DBA would, and leaves small changes, and the
warm table, to autovacuum (engine.TableJob._refresh_statistics, dialects' ``refresh_statistics``)."""

from __future__ import annotations

import pytest

from tests.engine.conftest import SRC, Pair


def reltuples(engine, table: str) -> float:
    return engine.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]


@pytest.mark.parametrize("kinds", [("pg", "pg"), ("pg", "my")], ids=lambda k: f"{k[0]}->{k[1]}")
def test_a_bulk_change_leaves_the_planner_the_new_counts(engines, kinds):
    pair = Pair(engines[kinds[0]], engines[kinds[1]]).reset()
    pair.src.execute(f"ANALYZE {SRC}")
    assert reltuples(pair.src, SRC) == 3000
    status = pair.run("copy_then_delete")
    moved = len(pair.expected_archived)
    assert status["rows_deleted"] == moved > 300  # more than a tenth of the table
    analyzed = {s["statement"] for s in status["sql"] if s["statement"].startswith("ANALYZE")}
    assert analyzed == {'ANALYZE "t_src"."orders"'}  # the hot table, where the application's plans matter
    # what the planner now believes is what is there (a 3,000-row table is sampled whole)
    assert reltuples(pair.src, SRC) == pair.src.count(SRC) == 3000 - moved


def test_a_small_change_is_left_to_autovacuum(engines):
    pair = Pair(engines["pg"], engines["pg"]).reset()
    pair.src.execute(f"ANALYZE {SRC}")
    status = pair.run("copy_then_delete", where="id <= 100")
    assert status["rows_deleted"] == 100  # a thirtieth of the table
    assert reltuples(pair.src, SRC) == 3000  # not re-counted: the job did not analyze it
    assert not [s for s in status["sql"] if s["statement"].startswith('ANALYZE "t_src"')]
    assert pair.src.count(SRC) == 2900


def test_mariadb_tables_are_left_to_innodb(engines):
    """InnoDB recounts a table's persistent statistics itself once a tenth of it changed; the
    job sends no ANALYZE TABLE (on MariaDB it may read the whole table for its histograms)."""
    pair = Pair(engines["my"], engines["my"]).reset()
    status = pair.run("copy_then_delete")
    assert status["rows_deleted"] == len(pair.expected_archived)
    assert not [s for s in status["sql"] if "ANALYZE" in s["statement"].upper()]
