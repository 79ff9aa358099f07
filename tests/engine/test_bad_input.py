"""Bad input: a clear error, and nothing changed on either side (docs/design.md §3.2)."""

from __future__ import annotations

import pytest

from tests.dbs import checksum
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import WarmArchiveError
from warm_archive.spec import parse_conf


def _unchanged(pair, warm_before=None):
    assert pair.src_rows() == pair.before_src
    if warm_before is None:  # nothing created on the warm side either
        assert not pair.warm.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 't_warm' AND table_name = 'orders'"
        ).fetchone()[0]
    else:
        assert checksum(pair.warm_rows()) == warm_before


def _fails(pair, match, **kw):
    overrides = {k: kw.pop(k) for k in list(kw) if k in JobParams.__dataclass_fields__}
    p = pair.params(kw.pop("strategy", "move"))
    for k, v in overrides.items():
        setattr(p, k, v)
    with pytest.raises(WarmArchiveError, match=match):
        with TableJob(p) as job:
            job.run()


def test_unknown_conn_id(pair):
    _fails(pair, "connection 'NOPE' is not defined", source_conn_id="NOPE")
    _unchanged(pair)


def test_missing_table(pair):
    _fails(pair, "source table 't_src.missing' does not exist", source_table="t_src.missing")
    _unchanged(pair)


def test_key_that_is_not_unique(pair):
    _fails(pair, r"key \['status'\] is not unique on t_src.orders", key=["status"])
    _unchanged(pair)


def test_key_with_nulls(pair):
    pair.src.execute(
        f"CREATE UNIQUE INDEX orders_note ON {pair.src.q('t_src.orders')} (note{'(100)' if pair.src.kind == 'my' else ''})"
    )
    _fails(pair, r"key column\(s\) \['note'\] of t_src.orders hold NULLs", key=["note"])
    _unchanged(pair)


@pytest.mark.parametrize(
    "where,match",
    [
        ("created_at <", "does not parse"),
        ("id > 1; DELETE FROM t_src.orders", "one boolean expression, found 2 statements"),
        ("1=1) OR (1=1", "does not parse"),
        ("id", "must be a boolean condition"),
        ("no_such_column > 1", "the where condition fails on t_src.orders"),
    ],
)
def test_where_that_is_not_one_condition(pair, where, match):
    _fails(pair, match, where=where)
    _unchanged(pair)


@pytest.mark.parametrize("bound", [0, -1.0, 7200, "0.5", True])
def test_max_statement_seconds_out_of_bounds(pair, bound):
    _fails(pair, "max_statement_seconds must be from 0.01 to 3600 seconds", max_statement_seconds=bound)
    _unchanged(pair)


def test_target_whose_columns_do_not_match(pair):
    pair.warm.schema("t_warm")
    pair.warm.execute(f"CREATE TABLE {pair.warm.q('t_warm.orders')} (id bigint PRIMARY KEY, other int)")
    _fails(pair, r"does not match source t_src.orders: missing columns \['created_at'")
    assert pair.src_rows() == pair.before_src
    assert pair.warm.count("t_warm.orders") == 0


def test_conf_where_on_a_spec_that_does_not_allow_it():
    with pytest.raises(WarmArchiveError, match="does not set allow_conf_where: true"):
        parse_conf({"where": {"orders": "id < 10"}}, ["orders"], allow_conf_where=False)
    assert parse_conf({"where": {"orders": "id < 10"}}, ["orders"], allow_conf_where=True).where == {
        "orders": "id < 10"
    }


@pytest.mark.parametrize(
    "conf,match",
    [
        ({"batch_size": "1000"}, "batch_size: Input should be a valid integer"),
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 1"),
        ({"strategy": "purge"}, "strategy: Input should be 'copy', 'copy_then_delete' or 'move'"),
        ({"dry_run": "yes"}, "dry_run: Input should be a valid boolean"),
        ({"jobs": "orders"}, "jobs: Input should be a valid list"),
        ({"jobs": ["orders", "ghost"]}, r"unknown job\(s\) \['ghost'\]"),
        ({"stratgey": "move"}, "stratgey: unknown key .allowed: strategy, batch_size"),
        ({"max_rows_per_second": -5}, "max_rows_per_second: Input should be greater than 0"),
        ({"max_statement_seconds": 0}, "max_statement_seconds: Input should be greater than or equal to 0.01"),
        ({"max_statement_seconds": "fast"}, "max_statement_seconds: Input should be a valid number"),
    ],
)
def test_bad_conf_types(conf, match):
    with pytest.raises(WarmArchiveError, match=match):
        parse_conf(conf, ["orders"], allow_conf_where=False)
