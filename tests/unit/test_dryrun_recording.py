"""What a dry run records instead of running, and how it shows bound values (operators/warm_archive/dryrun.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from warm_archive.dryrun import MAX_PARAMS, MAX_VALUE, count_sql, is_write, show_params, show_value


@pytest.mark.parametrize(
    "sql",
    [
        'INSERT INTO "t_warm"."orders" ("id") VALUES (%s)',
        "  delete from `t_src`.`orders` WHERE (`id` BETWEEN %s AND %s)",
        'UPDATE "warm_archive_ledger" SET "rows_deleted" = %s WHERE "id" = %s',
        'COPY "t_warm"."orders" ("id", "note") FROM STDIN',
        'COPY "t_warm"."orders" ("id") FROM STDIN (FORMAT BINARY)',
        'CREATE TABLE IF NOT EXISTS "t_warm"."orders" ("id" bigint)',
        "WITH d AS (DELETE FROM t RETURNING id) SELECT COUNT(*) FROM d",
        "REPLACE INTO t VALUES (1)",
        "TRUNCATE t",
    ],
)
def test_statements_that_change_data_are_recorded_not_run(sql):
    assert is_write(sql)


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "id" FROM "t_src"."orders" WHERE "id" > %s ORDER BY "id" LIMIT %s FOR UPDATE',
        'COPY (SELECT "id" FROM "t_src"."orders" WHERE "id" BETWEEN %s AND %s) TO STDOUT (FORMAT BINARY)',
        "START TRANSACTION WITH CONSISTENT SNAPSHOT",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SELECT 'INSERT INTO x' AS text",
        "WITH k AS (SELECT 1) SELECT * FROM k",
    ],
)
def test_reads_and_session_settings_run_for_real(sql):
    assert not is_write(sql)


def test_the_rows_a_recorded_write_would_touch_are_counted_by_the_same_condition():
    assert (
        count_sql('DELETE FROM "t_src"."orders" WHERE ("id" BETWEEN %s AND %s)')
        == 'SELECT COUNT(*) FROM "t_src"."orders" WHERE ("id" BETWEEN %s AND %s)'
    )
    assert (
        count_sql(
            'INSERT INTO "w"."o" ("id", "a") SELECT "id", "a" FROM "s"."o" WHERE (x < 1) AND "id" BETWEEN %s AND %s'
        )
        == 'SELECT COUNT(*) FROM "s"."o" WHERE (x < 1) AND "id" BETWEEN %s AND %s'
    )
    assert count_sql('INSERT INTO "w" ("id") VALUES (%s)') is None  # its rows are the ones given


def test_bound_values_are_shown_in_a_form_json_carries_and_long_ones_are_cut():
    assert show_value(b"\x00\x01\x02") == "<3 bytes>"
    assert show_value(Decimal("12.50")) == "12.50"
    assert show_value(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"
    long = "x" * (MAX_VALUE + 50)
    assert show_value(long) == f"{'x' * MAX_VALUE}... ({MAX_VALUE + 50} characters)"
    shown = show_params(list(range(MAX_PARAMS + 7)))
    assert shown[:MAX_PARAMS] == list(range(MAX_PARAMS)) and shown[-1] == "... (7 more values)"
    assert show_params(None) is None
    assert show_params([list(range(3))]) == [[0, 1, 2]]  # an array parameter keeps its values


def test_rows_already_archived_are_said_with_what_on_conflict_does_with_them():
    from warm_archive.archived import AlreadyArchived

    assert AlreadyArchived(0, "skip", "move").effect() is None
    assert AlreadyArchived(1, "error", "copy").effect() == (
        "1 of the planned rows is already in the warm table: on_conflict=error, "
        "the real run would fail at the first batch holding one"
    )
    skip = AlreadyArchived(12345, "skip", "move").effect()
    assert skip == (
        "12,345 of the planned rows are already in the warm table: on_conflict=skip leaves them as they are "
        "and does not copy them again; it deletes from the source those equal to their warm row and keeps the others"
    )
    assert "overwrite replaces them with the source rows" in AlreadyArchived(2, "overwrite", "copy").effect()
