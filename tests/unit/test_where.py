"""The where classifier (warm_archive.where) and the database-message redaction, without a server.

Run-conf wheres (anyone who may trigger the DAG) may read only the source table's own row; spec
wheres (DAG authors) keep subqueries; neither may call a function outside the allow-list.
"""

from __future__ import annotations

import pytest

from warm_archive.dberrors import db_message, public_message, redact_values
from warm_archive.errors import SpecError, WarmArchiveError
from warm_archive.spec import parse_conf
from warm_archive.where import CONF, EVERY_ROW, SPEC, check_conf_where, check_where

DIALECTS = ["postgres", "mysql"]
TABLE = "fsrc.wh"

# (probe, what the refusal must name), refused at the run-conf level in both dialects
CONF_PROBES = [
    ("CAST((SELECT string_agg(x, ',') FROM other_table) AS int) = 1", "subquery (it reads other_table)"),
    ("pg_read_file('/etc/passwd') <> ''", "pg_read_file()"),
    ("pg_sleep(30) IS NOT NULL", "pg_sleep()"),
    ("dblink_exec('host=evil dbname=x', 'DROP TABLE fsrc.wh') IS NOT NULL", "dblink_exec()"),
    ("lo_export(12345, '/tmp/warm-x') = 1", "lo_export()"),
    ("set_config('statement_timeout', '0', false) = '0'", "set_config()"),
    ("SLEEP(5) = 0", "sleep()"),
    ("LOAD_FILE('/etc/passwd') IS NOT NULL", "load_file()"),
    ("id IN (SELECT id FROM mysql.user)", "subquery (it reads mysql.user)"),
    ("EXISTS (SELECT 1 FROM other_table)", "subquery (it reads other_table)"),
    ("other_table.id > 3", "other_table.id (not a column of fsrc.wh)"),
    ("elsewhere.wh.id > 3", "elsewhere.wh.id (not a column of fsrc.wh)"),
    ("pg_catalog.lower(status) = 'x'", "schema-qualified function"),
    ("current_setting('data_directory') <> ''", "current_setting()"),
    ("version() <> ''", "current_version()"),
    ("current_user = 'root'", "current_user()"),
    ("user = 'root'", "read user"),
    ("benchmark(100000000, md5('x')) = 0", "benchmark()"),
    ("id > @x", "variables or parameters"),
    ("id > @@version", None),  # PostgreSQL reads it as a full-text match, MariaDB as a variable
    ("id > ?", "variables or parameters"),
    ("id > :x", "variables or parameters"),
    ("uuid() IS NOT NULL", "uuid()"),
    ("payload->>'k' = 'v'", "json_extract_scalar()"),
    ("\"pg_read_file\"('/etc/passwd') <> ''", "pg_read_file()"),  # a quoted function name
    ("pg_read_file /* x */ ('/etc/passwd') <> ''", "pg_read_file()"),
    ("{fn SLEEP(5)} = 0", "sleep()"),  # an ODBC escape
    ("MAX(id) OVER () > 1", "WINDOW"),
    ("id IN (1, (SELECT 1))", "subquery"),
]
PG_ONLY = [
    ("id > $1", "variables or parameters"),
    ("'fsrc.wh'::regclass IS NOT NULL", "cast to REGCLASS"),
    ("CAST(id AS evil_type) IS NOT NULL", "cast to evil_type"),
    ("id = ANY(ARRAY[1, 2])", "ANY"),
]
MY_ONLY = [
    ("database() <> ''", "current_schema()"),
    ("id > @@hostname", "variables or parameters (@@hostname)"),
]

# What users really write: accepted at the run-conf level, per dialect
ORDINARY = {
    "postgres": [
        "created_at < '2025-01-01'",
        "created_at < CURRENT_DATE - INTERVAL '365' DAY",
        "created_at < now() - interval '1 year'",
        "created_at < date_trunc('month', now())",
        "age(created_at) > interval '30 days'",
        "date_part('year', created_at) < 2025",
        "amount::numeric(12,2) > 3",
        "status ~ '^d'",
        "to_char(created_at, 'YYYY') = '2024'",
    ],
    "mysql": [
        "created_at < '2025-01-01'",
        "created_at < CURRENT_DATE - INTERVAL '365' DAY",
        "created_at < DATE_SUB(NOW(), INTERVAL 1 YEAR)",
        "TIMESTAMPDIFF(DAY, created_at, NOW()) > 30",
        "DATEDIFF(CURDATE(), created_at) > 30",
        "DATE_FORMAT(created_at, '%Y') = '2024'",
        "YEAR(created_at) < 2025",
        "status REGEXP '^d'",
        "IFNULL(note, '') = ''",
    ],
}
COMMON = [
    "status IN ('done','void') AND amount > 10",
    "LOWER(status) LIKE 'd%'",
    "COALESCE(note,'') = ''",
    "EXTRACT(YEAR FROM created_at) < 2025",
    "CAST(amount AS INTEGER) > 5",
    "NOT flag",
    "id BETWEEN 1 AND 100 OR id % 7 = 0",
    "NULLIF(TRIM(note), '') IS NULL",
    "CASE WHEN status = 'done' THEN amount ELSE 0 END > 10",
    "ROUND(amount) >= ABS(-5)",
    "LENGTH(status) > 2 AND SUBSTRING(status, 1, 2) = 'do'",
    "wh.id > 3",
    "fsrc.wh.id > 3",
    "created_at > DATE '2024-01-01'",
    "GREATEST(id, 3) = 3",
    "\"status\" = 'done'",
]


def _conf(where: str, dialect: str) -> str:
    return check_where(where, dialect, "run-conf where for job orders", level=CONF, table=TABLE)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("where,names", CONF_PROBES, ids=[p[0][:40] for p in CONF_PROBES])
def test_conf_level_refuses_probe(dialect, where, names):
    with pytest.raises(WarmArchiveError) as err:
        _conf(where, dialect)
    message = str(err.value)
    assert message.startswith("run-conf where for job orders "), message
    if "may not" not in message:  # a parse error is a refusal too, but only in a dialect that has no such syntax
        assert "does not parse" in message, message
        return
    assert "only the source table's columns" in message
    if names:
        assert names.lower() in message.lower(), message


@pytest.mark.parametrize("dialect,where,names", [("postgres", *p) for p in PG_ONLY] + [("mysql", *p) for p in MY_ONLY])
def test_conf_level_refuses_dialect_probe(dialect, where, names):
    with pytest.raises(WarmArchiveError, match="may not") as err:
        _conf(where, dialect)
    assert names.lower() in str(err.value).lower(), str(err.value)


@pytest.mark.parametrize("dialect,where", [(d, w) for d in DIALECTS for w in ORDINARY[d] + COMMON])
def test_conf_level_accepts_ordinary_conditions(dialect, where):
    sql = _conf(where, dialect)
    assert sql and sql != "1=1"
    assert check_where(sql, dialect, level=CONF, table=TABLE) == sql  # the rendered SQL passes too


@pytest.mark.parametrize("dialect", DIALECTS)
def test_spec_level_keeps_parent_child_subqueries(dialect):
    where = "order_id IN (SELECT id FROM public.orders WHERE created_at < '2025-01-01')"
    assert "SELECT id FROM public.orders" in check_where(where, dialect, level=SPEC)
    assert check_where("id <= (SELECT MAX(id) FROM public.orders)", dialect, level=SPEC)
    with pytest.raises(WarmArchiveError, match="may not use a subquery .it reads public.orders"):
        _conf(where, dialect)


@pytest.mark.parametrize("dialect", DIALECTS + [None])
@pytest.mark.parametrize(
    "where,name",
    [
        ("order_id IN (SELECT id FROM public.orders WHERE pg_read_file('/etc/passwd') <> '')", "pg_read_file()"),
        ("order_id IN (SELECT id FROM public.orders WHERE SLEEP(5) = 0)", "sleep()"),
        ("EXISTS (SELECT 1 FROM public.orders o WHERE lo_export(o.blob, '/tmp/x') = 1)", "lo_export()"),
        ("dblink_exec('dbname=x', 'DROP TABLE t') IS NOT NULL", "dblink_exec()"),
        ("x.lower(status) = 'a'", "schema-qualified function"),
    ],
)
def test_spec_level_refuses_functions_anywhere(dialect, where, name):
    with pytest.raises(WarmArchiveError) as err:
        check_where(where, dialect, "where for job orders", level=SPEC)
    message = str(err.value)
    assert name.lower() in message.lower() and "MIN/MAX/COUNT/SUM/AVG" in message, message


@pytest.mark.parametrize(
    "where,match",
    [
        ("created_at <", "does not parse"),
        ("id > 1; DELETE FROM t", "one boolean expression, found 2 statements"),
        ("1=1) OR (1=1", "does not parse"),
        ("id", "must be a boolean condition"),
        ("DELETE FROM t", "not a statement"),
    ],
)
@pytest.mark.parametrize("level", [SPEC, CONF])
def test_syntax_errors_keep_their_messages(where, match, level):
    with pytest.raises(WarmArchiveError, match=match):
        check_where(where, "postgres", level=level, table=TABLE)


def test_conf_where_is_checked_when_the_conf_is_parsed():
    with pytest.raises(SpecError, match=r"run-conf where for job orders may not call pg_sleep\(\)"):
        parse_conf({"where": {"orders": "pg_sleep(30) IS NOT NULL"}}, ["orders"], allow_conf_where=True)
    with pytest.raises(SpecError, match="may not use a subquery"):
        parse_conf({"where": {"orders": "id IN (SELECT id FROM mysql.user)"}}, ["orders"], allow_conf_where=True)
    # MariaDB-only and PostgreSQL-only syntax both pass here; the job checks again in its dialect
    for where in ("created_at < DATE_SUB(NOW(), INTERVAL 1 YEAR)", "status ~ '^d'", "`status` = 'x'"):
        assert parse_conf({"where": {"orders": where}}, ["orders"], allow_conf_where=True).where == {"orders": where}
    check_conf_where(None)


# -- database error text ---------------------------------------------------------------------------
class _MyErr(Exception):  # MySQLdb's errors carry (code, message)
    pass


@pytest.mark.parametrize(
    "text,kept,gone",
    [
        (
            'invalid input syntax for type integer: "TOPSECRET1,TOPSECRET2"',
            "invalid input syntax for type integer",
            "TOPSECRET",
        ),
        ('value "TOPSECRET99" is out of range for type integer', "is out of range for type integer", "TOPSECRET"),
        ('invalid input syntax for type integer: "TOP" for type "SECRET"', "for type integer", "SECRET"),
        ('invalid input syntax for type integer: "TOPSECRET', "for type integer", "TOPSECRET"),
        ('column "foo" does not exist', 'column "foo" does not exist', None),
        ('relation "fsrc.nope" does not exist', 'relation "fsrc.nope" does not exist', None),
        ('"TOPSECRET" is not a valid binary digit', "is not a valid binary digit", "TOPSECRET"),
    ],
)
def test_postgres_value_errors_are_redacted(text, kept, gone):
    out = db_message(Exception(text + "\nLINE 1: SELECT ... TOPSECRET\nDETAIL: Key (id)=(TOPSECRET)"))
    assert kept in out and "\n" not in out and "LINE 1" not in out
    if gone:
        assert gone not in out, out


@pytest.mark.parametrize(
    "code,text,kept,gone",
    [
        (1292, "Truncated incorrect DOUBLE value: 'TOPSECRET'", "Truncated incorrect DOUBLE value", "TOPSECRET"),
        (
            1292,
            "Incorrect datetime value: 'TOPSECRET' for column `wa_fault`.`src_wh`.`created_at` at row 1",
            "`created_at` at row 1",
            "TOPSECRET",
        ),
        (1062, "Duplicate entry 'TOPSECRET' for key 'PRIMARY'", "Duplicate entry", "TOPSECRET"),
        (1054, "Unknown column 'foo' in 'where clause'", "Unknown column 'foo' in 'where clause'", None),
    ],
)
def test_mariadb_value_errors_are_redacted(code, text, kept, gone):
    out = db_message(_MyErr(code, text))
    assert out.startswith(f"({code}) ") and kept in out, out
    if gone:
        assert gone not in out, out


def test_messages_are_bounded_and_on_one_line():
    assert len(db_message(Exception("x" * 5000))) <= 300
    assert len(public_message(WarmArchiveError("y " * 5000))) <= 600
    assert "\n" not in public_message(WarmArchiveError("a\nb"))
    assert redact_values("no quotes at all") == "no quotes at all"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_comments_do_not_reach_the_database(dialect):
    # MariaDB runs the code in /*! ... */; the job runs sqlglot's rendering, which drops comments
    assert _conf("id = 1 /*! OR SLEEP(5) */", dialect) == "id = 1"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_one_equals_one_is_every_row_as_no_condition_is(dialect):
    """The docs' "write 1=1 for every row" and no condition give the same plan: statements then
    carry no condition at all (JobPlan.src_where), not a 1=1 a DBA would take for a probe."""
    assert check_where("1=1", dialect) == check_where(" 1 = 1 ", dialect) == check_where(None, dialect) == EVERY_ROW
    assert check_where("1=1 AND id > 3", dialect) != EVERY_ROW
