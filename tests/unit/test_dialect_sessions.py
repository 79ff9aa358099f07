"""The session the engine code gets offers every method of its dialect; dialects write SQL alone."""

from __future__ import annotations

import inspect

import pytest

from warm_archive import dialects
from warm_archive.dialects import base, session_for
from warm_archive.typemap import Column

ENGINES = ["postgres", "mysql", "sqlite"]

# What engine.py, deletion.py (with same_db_delete.py and the slice_*.py modules), rollback.py,
# transfer.py, ledger.py, maintenance.py and connections.py call on the objects
# connections.connect returns (src, warm, lanes).
USED = (
    "conn",
    "conn_id",
    "name",
    "sqlglot",
    "placeholder",
    "serves_many",
    "location",
    "reconnect",
    "quote",
    "table",
    "cols",
    "params",
    "escape_percent",
    "key_after",
    "key_between",
    "key_in",
    "batch_scan",
    "key_upto",
    "for_update",
    "columns",
    "unique_keys",
    "key_index",
    "create_table",
    "setup_session",
    "begin_snapshot",
    "begin_row_locks",
    "try_lock",
    "unlock",
    "cancel",
    "rows_equal",
    "delete_rows_equal_to",
    "row_hash",
    "passthrough_row",
    "canon_expr",
    "canon_len",
    "canon_text",
    "canon_hash",
    "shortened",
    "text_agg",
    "digest_blob",
    "delete_by_digest_blob",
    "raw_expr",
    "ledger_types",
    "no_backslash_escapes",
)


class _NoConn:
    """A connection the SQL writers must never touch."""

    def __getattr__(self, name):
        raise AssertionError(f"the dialect used the connection ({name})")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_session_offers_what_the_engine_calls(engine):
    s = session_for(engine)(_NoConn(), "c")
    missing = [n for n in USED if not hasattr(s, n)]
    assert not missing, missing
    public = [n for n, _ in inspect.getmembers(base.Dialect) if not n.startswith("_")]
    assert all(hasattr(s, n) for n in public)
    assert s.key_in is not None and s.name == s.dialect.name == engine


@pytest.mark.parametrize("engine", ENGINES)
def test_the_dialect_writes_sql_without_a_connection(engine):
    d = session_for(engine).dialect_class()
    cols = [Column("id", "bigint", False, ("bigint",)), Column("note", "text", True, ("text",), "utf8mb4")]
    assert d.key_after(["id"], (5,))[1] == [5]
    assert d.key_between(["a", "b"], (1, 2), (3, 4))[1] == [1, 2, 3, 4]
    assert d.create_table_sql("t", cols, ["id"], "postgres")[-1].startswith("CREATE TABLE IF NOT EXISTS")
    assert set(d.ledger_types()) == {"id", "str", "text", "int", "ts"}


def test_keyset_sql_per_engine():
    pg, my = dialects.PostgresDialect(), dialects.MySQLDialect()
    assert pg.key_after(["a", "b"], (1, 2)) == ('("a", "b") > (%s, %s)', [1, 2])
    assert my.key_after(["a", "b"], (1, 2)) == ("((`a` > %s) OR (`a` = %s AND `b` > %s))", [1, 1, 2])
    assert pg.key_in(["id"], [(3,), (1,)]) == ('"id" = ANY(%s)', [[3, 1]])
    assert my.key_in(["id"], [(3,), (1,)]) == ("`id` IN (%s, %s)", [3, 1])
    assert my.batch_scan("t", ["id"], "PRIMARY", [9]) == ("`t` FORCE INDEX (`PRIMARY`)", "`id` <= %s", [9])
    # the walk's upper bound (walk.py): a row value on PostgreSQL, an index range on MariaDB
    assert pg.batch_scan("t", ["a", "b"], None, [1, 2]) == ('"t"', '("a", "b") <= (%s, %s)', [1, 2])
    assert my.key_upto(["a", "b"], (1, 2)) == (
        "`a` <= %s AND ((`a` < %s) OR (`a` = %s AND `b` < %s) OR (`a` = %s AND `b` = %s))",
        [1, 1, 1, 2, 1, 2],
    )


def test_passthrough_follows_the_target_session_sql_mode():
    pg = dialects.PostgresDialect()
    my = dialects.MySQLDialect()
    col = [Column("note", "text", True, ("text",), "utf8")]
    assert "chr(92) || chr(92)" in pg.passthrough_row(col, my)
    my.no_backslash_escapes = True
    assert "chr(92) || chr(92)" not in pg.passthrough_row(col, my)
    assert pg.passthrough_row(col, dialects.SQLiteDialect()) is None


def test_unknown_connection_type_is_refused():
    with pytest.raises(Exception, match="'oracle' is not supported"):
        session_for("Oracle")


def test_statements_say_only_what_restricts_them():
    """No ``1=1`` for the first key read or a job without a condition: a DBA reads the statement
    as written (``base.where`` leaves empty conditions out, and the WHERE itself when none is left)."""
    pg, my = dialects.PostgresDialect(), dialects.MySQLDialect()
    assert pg.key_after(["id"], None) == ("", []) and my.key_after(["a", "b"], None) == ("", [])
    assert base.where("", '"id" <= %s') == ' WHERE "id" <= %s'
    assert base.where("(x < 1)", "", "y > 2") == " WHERE (x < 1) AND y > 2"
    assert base.where("", "") == ""
    sql, _ = pg.delete_rows_equal_to('"s"', '"w"', ["id"], ["id", "v"], [(1,)], "")
    assert "1=1" not in sql and "()" not in sql and sql.endswith('WHERE "id" = ANY(%s))')
    sql, _ = my.delete_rows_equal_to("`s`", "`w`", ["id"], ["id", "v"], [(1,)], "v > 0")
    assert sql.startswith("DELETE FROM `s` WHERE `id` IN (%s) AND (v > 0) AND EXISTS (SELECT 1 FROM `w` w WHERE ")
