"""A ``where`` may only read its own table: real table jobs on PostgreSQL and MariaDB.

A run conf's where (``where_from_conf=True``: anyone allowed to trigger the DAG) that calls a
function outside the allow-list (pg_read_file, pg_sleep, dblink_exec, lo_export, set_config, SLEEP,
LOAD_FILE) or reads another table through a subquery is refused with a message naming it, before
anything is created: the source keeps its checksum, no warm table and no ledger row appear. The
conditions users really write still archive exactly the rows they select. A spec's where keeps
its parent/child subquery but no forbidden function inside it. A database value error that would
echo another table's data reaches the job's error bounded and without that data.
"""

from __future__ import annotations

import time

import pytest

from tests.dbs import CUTOFF
from tests.faults import tally
from tests.faults.fdb import FPair, JobThread, table

DIALECT = {"pg": "postgres", "my": "mysql"}
SECRET = "TOPSECRET-7f3a9c-do-not-leak"

# (engine, where, what the refusal must name): the security probe's conditions on the engine they aim at
PROBES = [
    (
        "pg",
        "CAST((SELECT string_agg(secret, ',') FROM fsrc.wh_secret) AS int) = 1",
        "subquery (it reads fsrc.wh_secret)",
    ),
    ("pg", "pg_read_file('/etc/passwd') <> ''", "pg_read_file()"),
    ("pg", "pg_sleep(30) IS NOT NULL", "pg_sleep()"),
    ("pg", "dblink_exec('dbname=wa_fault', 'DROP TABLE fsrc.wh') IS NOT NULL", "dblink_exec()"),
    ("pg", "lo_export(12345, '/tmp/warm-wh-lo') = 1", "lo_export()"),
    ("pg", "set_config('statement_timeout', '1', false) = '1'", "set_config()"),
    ("pg", "id IN (SELECT id FROM fsrc.wh_secret)", "subquery (it reads fsrc.wh_secret)"),
    (
        "pg",
        "EXISTS (SELECT 1 FROM pg_catalog.pg_authid WHERE rolpassword IS NOT NULL)",
        "subquery (it reads pg_catalog.pg_authid)",
    ),
    ("pg", "wh_secret.secret = 'x'", "wh_secret.secret (not a column of fsrc.wh)"),
    ("pg", "current_setting('data_directory') <> ''", "current_setting()"),
    ("pg", "id > $1", "variables or parameters"),
    ("my", "SLEEP(5) = 0", "sleep()"),
    ("my", "LOAD_FILE('/etc/passwd') IS NOT NULL", "load_file()"),
    ("my", "id IN (SELECT User FROM mysql.user)", "subquery (it reads mysql.user)"),
    (
        "my",
        "CAST((SELECT GROUP_CONCAT(secret) FROM wa_fault.src_wh_secret) AS SIGNED) = 1",
        "subquery (it reads wa_fault.src_wh_secret)",
    ),
    ("my", "id > @@hostname", "variables or parameters (@@hostname)"),
    ("my", "benchmark(100000000, md5('x')) = 0", "benchmark()"),
    ("my", "pg_read_file('/etc/passwd') <> ''", "pg_read_file()"),
]

# What users really write, in each engine's dialect (the status values are this data's).
ORDINARY = {
    "pg": [
        "created_at < CURRENT_DATE - INTERVAL '365' DAY",
        "created_at < now() - interval '400 days'",
        "wh.id <= 120",
        "date_part('year', created_at) < 2025",
    ],
    "my": [
        "created_at < CURRENT_DATE - INTERVAL '365' DAY",
        "created_at < DATE_SUB(NOW(), INTERVAL 400 DAY)",
        "src_wh.id <= 120",
        "YEAR(created_at) < 2025",
    ],
}
COMMON = [
    "created_at < '2025-01-01'",
    "status IN ('paid','closed') AND amount > 10",
    "LOWER(status) LIKE 'p%'",
    "COALESCE(note,'') = ''",
    "EXTRACT(YEAR FROM created_at) < 2025",
    "CAST(amount AS INTEGER) > 5000",
    "status IN ('done','void') AND amount > 10",
]


@pytest.fixture(scope="module")
def pairs(fengines):
    """One source table per engine (with a side table of secrets next to it), reset per test."""
    for kind in ("pg", "my"):
        e = fengines[kind]
        t = table(kind, "src", "wh_secret")
        e.schema(t.split(".")[0])
        e.drop(t)
        e.execute(f"CREATE TABLE {e.q(t)} (id bigint PRIMARY KEY, secret varchar(100) NOT NULL)")
        e.execute(f"INSERT INTO {e.q(t)} VALUES (1, %s), (2, %s)", (SECRET + "-1", SECRET + "-2"))
    return {kind: FPair(kind, kind, "wh", fengines) for kind in ("pg", "my")}


def _refused(pair, where, run_id, from_conf=True, created_ok=False):
    """Run the job with ``where``; it must fail with the engine's clear error and change nothing
    (``created_ok``: but for an empty warm table and the run's ledger header, when the error only
    shows once rows are read)."""
    from warm_archive.errors import WarmArchiveError

    tally.attack("where")
    params = pair.params("move", run_id, where=where, where_from_conf=from_conf)
    t0 = time.monotonic()
    t = JobThread(params)
    t.start()
    t.finish(60)
    assert time.monotonic() - t0 < 20  # nothing ran: no pg_sleep / SLEEP / BENCHMARK
    assert isinstance(t.error, WarmArchiveError), repr(t.error)
    assert "Traceback" not in str(t.error) and SECRET not in str(t.error)
    if created_ok and pair.warm.exists(pair.warm_table):  # and the job's header row in the ledger
        assert pair.warm.count(pair.warm_table) == 0
        assert (
            pair.warm.execute(
                "SELECT COUNT(*) FROM warm_archive_ledger WHERE target_table = %s AND batch_no > 0", (pair.warm_table,)
            ).fetchone()[0]
            == 0
        )
        pair.warm.drop(pair.warm_table)
        pair.warm.execute("DELETE FROM warm_archive_ledger WHERE target_table = %s", (pair.warm_table,))
    assert not pair.warm.exists(pair.warm_table)
    if pair.warm.exists_ledger():
        assert (
            pair.warm.execute(
                "SELECT COUNT(*) FROM warm_archive_ledger WHERE target_table = %s", (pair.warm_table,)
            ).fetchone()[0]
            == 0
        )
    pair.check_restored()
    return str(t.error)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind,where,names", PROBES, ids=[f"{p[0]}-{p[1][:32]}" for p in PROBES])
def test_conf_where_probe_is_refused_and_changes_nothing(pairs, kind, where, names):
    pair = pairs[kind].reset(n=300)
    message = _refused(pair, where, f"wh_probe_{PROBES.index((kind, where, names))}")
    assert message.startswith("run-conf where for job wh may not "), message
    assert names.lower() in message.lower(), message
    assert "only the source table's columns" in message


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["pg", "my"])
def test_conf_where_is_refused_when_the_conf_is_parsed(kind):
    from warm_archive.errors import SpecError
    from warm_archive.spec import parse_conf

    # Every probe but two that need the source (its table name; PostgreSQL's ``$1``, which MariaDB
    # reads as a column name): those are refused by the job, in the test above.
    for where, name in [(w, n) for k, w, n in PROBES if k == kind and "$1" not in w and "not a column" not in n]:
        tally.attack("where")
        with pytest.raises(SpecError) as err:
            parse_conf({"where": {"wh": where}}, ["wh"], allow_conf_where=True)
        assert "run-conf where for job wh may not" in str(err.value) and name.lower() in str(err.value).lower()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["pg", "my"])
@pytest.mark.parametrize("n", range(len(COMMON) + 4))
def test_ordinary_conf_where_archives_exactly_its_rows(pairs, kind, n):
    from tests.dbs import checksum
    from warm_archive.where import CONF, check_where

    where = (ORDINARY[kind] + COMMON)[n]
    pair = pairs[kind].reset(n=300)
    sql = check_where(where, DIALECT[kind], level=CONF, table=pair.src_table)  # what the job runs
    expected = pair.src.rows(pair.src_table, sql)
    if where == "created_at < '2025-01-01'":  # the database's answer agrees with the data's own
        assert expected == pair.expected_archived
    pair.expected_archived = expected
    pair.expected_kept = {k: v for k, v in pair.before_src.items() if k not in expected}
    t = JobThread(pair.params("move", f"wh_ok_{n}", where=where, where_from_conf=True))
    t.start()
    t.finish(120)
    assert t.error is None, repr(t.error)
    assert t.result["rows_copied"] == len(expected)
    pair.check_exact("move")
    assert checksum(pair.src_rows()) == checksum(pair.expected_kept)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["pg", "my"])
def test_unknown_column_is_left_to_the_database_and_named(pairs, kind):
    pair = pairs[kind].reset(n=300)
    message = _refused(pair, "no_such_col > 5", "wh_unknown_col")
    assert message.startswith(f"the where condition fails on {pair.src_table}: "), message
    assert "no_such_col" in message


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["pg", "my"])
def test_spec_where_keeps_parent_child_subquery_but_not_forbidden_functions(pairs, kind):
    pair = pairs[kind].reset(n=300)
    e, parent = pair.src, table(kind, "src", "wh_parent")
    e.drop(parent)
    e.execute(
        f"CREATE TABLE {e.q(parent)} (id bigint PRIMARY KEY, created_at {'timestamp' if kind == 'pg' else 'datetime(6)'})"
    )
    e.execute(f"INSERT INTO {e.q(parent)} SELECT id, created_at FROM {e.q(pair.src_table)}")
    where = f"id IN (SELECT id FROM {parent} WHERE created_at < '2025-01-01')"

    # the run conf may not: the subquery reads another table
    message = _refused(pair, where, "wh_parent_conf", from_conf=True)
    assert f"may not use a subquery (it reads {parent})" in message, message

    # a spec function forbidden inside the subquery
    bad_fn = "pg_read_file('/etc/passwd')" if kind == "pg" else "LOAD_FILE('/etc/passwd')"
    message = _refused(
        pair, f"id IN (SELECT id FROM {parent} WHERE {bad_fn} IS NOT NULL)", "wh_parent_fn", from_conf=False
    )
    assert message.startswith("where for job wh may not call "), message
    assert bad_fn.split("(")[0].lower() + "()" in message.lower(), message

    # the spec may: parent/child archiving archives exactly the children of old parents
    t = JobThread(pair.params("move", "wh_parent_spec", where=where))
    t.start()
    t.finish(120)
    assert t.error is None, repr(t.error)
    assert (
        t.result["rows_copied"]
        == len(pair.expected_archived)
        == sum(1 for r in pair.before_src.values() if r[1] < CUTOFF)
    )
    pair.check_exact("move")
    e.drop(parent)


@pytest.mark.timeout(120)
def test_db_value_error_is_bounded_and_does_not_carry_the_value(pairs):
    from warm_archive.dberrors import DB_MESSAGE_MAX, public_message
    from warm_archive.errors import WarmArchiveError

    pair = pairs["pg"].reset(n=300)
    where = "CAST((SELECT MAX(secret) FROM fsrc.wh_secret) AS INTEGER) = 1"  # a spec where: subqueries allowed
    # the probe (LIMIT 0) does not evaluate the subquery: the error shows when rows are counted
    message = _refused(pair, where, "wh_value_error", from_conf=False, created_ok=True)
    assert message.startswith("the where condition fails on fsrc.wh: invalid input syntax for type integer"), message
    assert "TOPSECRET" not in message and "\n" not in message
    assert len(message) <= len("the where condition fails on fsrc.wh: ") + DB_MESSAGE_MAX
    # what the operator puts into warm_status ``error`` and the task's failure
    reported = public_message(WarmArchiveError(message))
    assert reported == message

    # a database error raised mid-run (not wrapped by the engine) is reported the same way
    import psycopg

    with pytest.raises(psycopg.Error) as err:
        pair.src.execute(f"SELECT CAST(secret AS integer) FROM {pair.src.q('fsrc.wh_secret')}")
    assert SECRET in str(err.value)  # what the server said ...
    reported = public_message(err.value)  # ... and what a reader of the DAG sees
    assert SECRET not in reported and "TOPSECRET" not in reported and len(reported) <= 350, reported
    assert reported.startswith("InvalidTextRepresentation: invalid input syntax for type integer"), reported
