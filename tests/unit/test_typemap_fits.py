"""The rule "can an existing target column hold the source values exactly" (typemap.narrowing),
on catalog-shaped columns, without a server."""

from __future__ import annotations

import pytest

from warm_archive import typemap
from warm_archive.errors import WarmArchiveError
from warm_archive.typemap import Column, check_target_holds, narrowing

TEXT_KINDS = ("varchar", "char", "text", "json")


def pg(full: str, typname: str | None = None, encoding: str = "utf8") -> tuple[Column, str]:
    """A PostgreSQL column as ``PostgresDialect.columns`` reads it (format_type, typname)."""
    typname = (
        typname
        or {
            "smallint": "int2",
            "integer": "int4",
            "bigint": "int8",
            "real": "float4",
            "double precision": "float8",
            "boolean": "bool",
            "text": "text",
            "bytea": "bytea",
            "date": "date",
            "jsonb": "jsonb",
            "json": "json",
            "uuid": "uuid",
        }.get(full)
        or full.split("(")[0].replace("character varying", "varchar").replace("character", "bpchar")
    )
    if " with time zone" in full:
        typname = {"timestamp": "timestamptz"}.get(typname.split()[0], typname.split()[0])
    typname = typname.split()[0]
    try:
        canonical = typemap.canonical_from_postgres(typname, full)
    except typemap.UnmappableType:
        canonical = ("unmappable", full)
    return Column("c", full, True, canonical, encoding if canonical[0] in TEXT_KINDS else None), "postgres"


def my(column_type: str, charset: str | None = "utf8mb4") -> tuple[Column, str]:
    """A MariaDB column as ``MySQLDialect.columns`` reads it (COLUMN_TYPE, DATA_TYPE, charset)."""
    data_type = column_type.split("(")[0].split()[0]
    try:
        canonical = typemap.canonical_from_mysql(data_type, column_type)
    except typemap.UnmappableType:
        canonical = ("unmappable", column_type)
    text = canonical[0] in TEXT_KINDS
    return Column("c", column_type, True, canonical, charset if text else None), "mysql"


def why(src, tgt) -> str | None:
    return narrowing(src[0], src[1], tgt[0], tgt[1])


REFUSED = [
    # fractional seconds
    (pg("timestamp(6) without time zone"), my("datetime"), "fractional seconds"),
    (pg("timestamp without time zone"), pg("timestamp(0) without time zone"), "fractional seconds"),
    (pg("timestamp(6) with time zone"), pg("timestamp(3) with time zone"), "fractional seconds"),
    (my("datetime(6)"), my("datetime(3)"), "fractional seconds"),
    (my("datetime(6)"), pg("timestamp(0) without time zone"), "fractional seconds"),
    (pg("time(6) without time zone", "time"), my("time"), "fractional seconds"),
    (my("datetime(6)"), my("timestamp(6)"), "1970..2038"),
    # text length
    (pg("character varying(60)"), pg("character varying(50)"), "50 characters"),
    (pg("text"), pg("character varying(50)"), "50 characters"),
    (pg("text"), my("varchar(50)"), "50 characters"),
    (my("varchar(60)"), my("varchar(50)"), "50 characters"),
    (my("text"), my("tinytext"), "255 bytes"),
    (my("mediumtext"), my("tinytext"), "255 bytes"),
    (my("longtext"), pg("character varying(100)"), "100 characters"),
    (pg("text"), my("mediumtext"), "16777215 bytes"),
    (my("varchar(100)"), my("tinytext"), "255 bytes"),
    (my("text", "latin1"), my("text"), "65535 bytes"),
    (my("varchar(10)"), my("char(10)"), "trailing spaces"),
    (pg("character varying(10)"), pg("character(10)", "bpchar"), "trailing spaces"),
    (my("enum('a','bb')"), my("varchar(1)"), "1 characters"),
    (my("varchar(2)"), my("enum('a','bb')"), "listed values"),
    # character sets
    (pg("text"), my("longtext", "utf8mb3"), "4-byte"),
    (my("varchar(10)"), my("varchar(10)", "utf8mb3"), "4-byte"),
    (my("varchar(10)"), my("varchar(10)", "latin1"), "latin1"),
    (pg("character varying(10)"), my("varchar(10)", "latin1"), "latin1"),
    (my("varchar(10)", "utf8mb3"), my("varchar(10)", "latin1"), "latin1"),
    (my("varchar(10)"), pg("character varying(10)", encoding="latin1"), "latin1"),
    (pg("text"), pg("text", encoding="latin1"), "latin1"),
    # numbers
    (pg("numeric(12,2)"), pg("numeric(12,1)"), "1 decimal places"),
    (pg("numeric(12,2)"), pg("numeric(10,2)"), "integer digits"),
    (pg("numeric(12,2)"), my("decimal(11,2)"), "integer digits"),
    (my("decimal(12,2)"), pg("numeric(12,0)"), "0 decimal places"),
    (my("decimal(12,2)"), my("decimal(12,2) unsigned"), "negative"),
    (pg("numeric(12,2)"), pg("integer"), "decimal places"),
    (pg("numeric"), pg("numeric(30,10)"), "unbounded"),
    (pg("numeric(10,0)"), pg("integer"), "not every value"),
    (pg("bigint"), pg("integer"), "range"),
    (pg("integer"), pg("smallint"), "range"),
    (pg("integer"), my("mediumint"), "range"),
    (pg("smallint"), my("tinyint(4)"), "range"),
    (pg("integer"), my("int(10) unsigned"), "range"),
    (my("int(10) unsigned"), pg("integer"), "range"),
    (my("int(10) unsigned"), my("int(11)"), "range"),
    (my("bigint(20) unsigned"), pg("bigint"), "range"),
    (my("bigint(20) unsigned"), pg("numeric(19,0)"), "integer digits"),
    (pg("bigint"), pg("numeric(12,0)"), "integer digits"),
    (pg("bigint"), pg("double precision"), "2^53"),
    (pg("integer"), pg("real"), "2^24"),
    (my("int(11)"), my("float"), "2^24"),
    (pg("smallint"), my("year(4)"), "years"),
    (pg("integer"), pg("boolean"), "true and false"),
    (pg("double precision"), pg("real"), "single precision"),
    (my("double"), my("float"), "single precision"),
    (my("double"), my("double(10,2)"), "fixed decimal places"),
    (pg("double precision"), pg("numeric(30,10)"), "binary floating point"),
    (pg("numeric(10,2)"), pg("double precision"), "binary floating point"),
    # bytes
    (pg("bytea"), my("blob"), "65535 bytes"),
    (my("blob"), my("tinyblob"), "255 bytes"),
    (my("varbinary(10)"), my("binary(10)"), "zero bytes"),
    (my("varbinary(20)"), my("varbinary(10)"), "10 bytes"),
    # other kinds
    (pg("text"), pg("jsonb"), "JSON documents"),
    (pg("text"), pg("uuid"), "not the same kind"),
    (pg("date"), pg("timestamp without time zone"), "not the same kind"),
    (pg("uuid"), my("char(32)"), "36 characters"),
]


@pytest.mark.parametrize("src,tgt,reason", REFUSED, ids=lambda x: x[0].native_type if isinstance(x, tuple) else None)
def test_narrower_target_is_refused_with_the_reason(src, tgt, reason):
    got = why(src, tgt)
    assert got is not None and reason in got, got


ACCEPTED = [
    (pg("character varying(40)"), pg("character varying(100)")),
    (pg("character varying(40)"), pg("text")),
    (pg("character varying(40)"), my("varchar(100)")),
    (pg("character varying(40)"), my("text")),
    (pg("character varying(60)"), my("tinytext")),  # 240 bytes of utf8mb4
    (pg("integer"), pg("bigint")),
    (pg("integer"), pg("numeric(10,0)")),
    (pg("integer"), pg("double precision")),
    (pg("smallint"), pg("real")),
    (my("int(10) unsigned"), pg("bigint")),
    (my("int(10) unsigned"), my("bigint(20)")),
    (my("bigint(20) unsigned"), pg("numeric(20,0)")),
    (my("tinyint(3) unsigned"), my("smallint(6)")),
    (my("year(4)"), pg("smallint")),
    (my("datetime(3)"), my("datetime(6)")),
    (my("datetime"), pg("timestamp(0) without time zone")),
    (my("timestamp(6)"), my("datetime(6)")),
    (pg("timestamp(6) with time zone"), my("datetime(6)")),
    (pg("timestamp without time zone"), pg("timestamp with time zone")),
    (pg("numeric(10,2)"), pg("numeric(12,2)")),
    (pg("numeric(10,2)"), pg("numeric(12,4)")),
    (pg("numeric(10,2)"), pg("numeric")),
    (pg("numeric(10,0)"), pg("bigint")),
    (my("decimal(12,2) unsigned"), my("decimal(12,2)")),
    (pg("real"), pg("double precision")),
    (my("float"), pg("real")),
    (pg("boolean"), my("tinyint(1)")),
    (pg("boolean"), pg("integer")),
    (my("tinyint(1)"), pg("boolean")),
    (my("text", "latin1"), pg("text")),
    (my("varchar(20)", "latin1"), pg("character varying(20)")),
    (my("varchar(10)", "latin1"), my("varchar(10)", "utf8mb3")),
    (my("varchar(10)", "utf8mb3"), my("varchar(10)")),
    (my("varchar(10)", "ascii"), my("varchar(10)", "latin1")),
    (my("text", "utf8mb3"), my("text")),  # the same bytes
    (my("text"), my("mediumtext")),
    (my("enum('a','bb')"), my("varchar(2)")),
    (my("longtext"), pg("text")),
    (pg("text"), my("longtext")),
    (pg("bytea"), my("longblob")),
    (my("binary(16)"), my("varbinary(16)")),
    (my("blob"), pg("bytea")),
    (pg("uuid"), my("char(36)", "latin1")),
    (pg("jsonb"), pg("json")),
    (pg("jsonb"), my("longtext")),
    (pg("character(6)", "bpchar"), my("char(6)")),
    (pg("date"), my("date")),
    (pg("numeric"), my("decimal(65,30)")),  # what the engine creates: MariaDB's widest
    (pg("time(6) without time zone", "time"), my("time(6)")),
]


@pytest.mark.parametrize("src,tgt", ACCEPTED, ids=lambda x: x[0].native_type)
def test_wider_or_equal_target_is_accepted(src, tgt):
    assert why(src, tgt) is None


SOURCES = (
    [
        pg(t)
        for t in (
            "smallint",
            "integer",
            "bigint",
            "real",
            "double precision",
            "boolean",
            "text",
            "bytea",
            "date",
            "jsonb",
            "uuid",
            "numeric",
            "numeric(12,2)",
            "character varying(40)",
            "timestamp without time zone",
            "timestamp(3) without time zone",
            "timestamp(6) with time zone",
        )
    ]
    + [
        pg("character(6)", "bpchar"),
        pg("time(6) without time zone", "time"),
    ]
    + [
        my(t)
        for t in (
            "tinyint(4)",
            "tinyint(1)",
            "tinyint(3) unsigned",
            "smallint(5) unsigned",
            "mediumint(9)",
            "int(11)",
            "int(10) unsigned",
            "bigint(20)",
            "bigint(20) unsigned",
            "year(4)",
            "decimal(12,2)",
            "float",
            "double",
            "varchar(40)",
            "char(6)",
            "tinytext",
            "text",
            "mediumtext",
            "longtext",
            "blob",
            "varbinary(20)",
            "date",
            "time(3)",
            "datetime",
            "datetime(6)",
            "timestamp(6)",
        )
    ]
)


def _created(col: Column, src_engine: str, tgt_engine: str) -> tuple[Column, str]:
    """The column the engine creates on ``tgt_engine`` for ``col``, as the catalog reads it back."""
    rendered = col.native_type if src_engine == tgt_engine else typemap.render(col.canonical, tgt_engine)
    if tgt_engine == "mysql":
        return my(rendered.lower(), col.charset if src_engine == tgt_engine else "utf8mb4")
    full = rendered.replace("varchar", "character varying").replace("timestamp(", "timestamp(")
    if full.startswith("timestamp("):
        full += " without time zone"
    if full.startswith("time("):
        return pg(full + " without time zone", "time")
    if full.startswith("char("):
        return pg(full.replace("char", "character"), "bpchar")
    return pg(full)


@pytest.mark.parametrize("tgt_engine", ["postgres", "mysql"])
@pytest.mark.parametrize("src", SOURCES, ids=lambda c: f"{c[1]}:{c[0].native_type}")
def test_the_table_the_engine_creates_is_accepted_on_the_next_run(src, tgt_engine):
    """A run into the warm table an earlier run created must not be refused."""
    assert why(src, _created(src[0], src[1], tgt_engine)) is None


def test_every_narrow_column_is_named_in_one_message():
    src = [
        Column("created_at", "timestamp(6) without time zone", False, ("timestamp", 6)),
        Column("note", "text", True, ("text",), "utf8"),
        Column("amount", "numeric(12,2)", False, ("decimal", 12, 2)),
        Column("id", "bigint", False, ("bigint",)),
    ]
    tgt = [my("datetime")[0], my("varchar(50)")[0], my("decimal(12,2)")[0], my("bigint(20)")[0]]
    tgt = [Column(s.name, t.native_type, t.nullable, t.canonical, t.charset) for s, t in zip(src, tgt)]
    with pytest.raises(WarmArchiveError) as e:
        check_target_holds(src, tgt, "postgres", "mysql", "archive.orders")
    msg = str(e.value)
    assert (
        "target column archive.orders.created_at is DATETIME(0) and would drop the fractional "
        "seconds of source timestamp(6); widen it to DATETIME(6)"
    ) in msg
    assert (
        "archive.orders.note is VARCHAR(50) and would cut values to 50 characters of source text; "
        "widen it to LONGTEXT" in msg
    )
    assert "amount" not in msg and "archive.orders.id" not in msg


def test_charset_fix_is_suggested():
    src = [Column("note", "varchar(60)", True, ("varchar", 60), "utf8mb4")]
    tgt = [Column("note", "varchar(40)", True, ("varchar", 40), "utf8mb3")]
    with pytest.raises(
        WarmArchiveError,
        match=r"note is VARCHAR\(40\) and is utf8mb3 and cannot hold the "
        r"4-byte characters .* and would cut values to 40 characters of source VARCHAR\(60\); "
        r"widen it to VARCHAR\(60\) CHARACTER SET utf8mb4",
    ):
        check_target_holds(src, tgt, "mysql", "mysql", "w.t")


def test_same_type_and_sqlite_are_never_compared():
    assert why(my("bit(3)"), my("bit(3)")) is None  # no canonical type, but the very same
    assert why(pg("inet", "inet"), pg("inet", "inet")) is None
    assert "not the same type" in why(pg("inet", "inet"), pg("cidr", "cidr"))
    assert "not the same type" in why(my("bit(3)"), my("bit(2)"))
    assert (
        narrowing(
            Column("c", "TEXT", True, ("text",)), "sqlite", Column("c", "VARCHAR(2)", True, ("varchar", 2)), "sqlite"
        )
        is None
    )
