"""Reading a table's definition from the database catalog: its columns and its unique keys.

Unique keys (the primary key, unique constraints, unique indexes) are read through SQLAlchemy's
``Inspector``, which knows each engine's catalog. The columns stay hand-written queries, because
they need what the Inspector does not give exactly: the type as the engine itself prints it
(PostgreSQL ``format_type`` with its typmods, e.g. ``numeric(12,2)``, ``timestamp(3) with time
zone``; MariaDB ``COLUMN_TYPE`` with ``unsigned``, display widths and ENUM values), which the
same-engine copy re-creates verbatim and ``typemap.narrowing`` compares; the character set of
each MariaDB text column and PostgreSQL's server encoding (the Inspector reflects a collation at
most); and SQLite's declared type text, which its affinity rules read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from warm_archive import typemap
from warm_archive.dialects.base import Dialect, split_table
from warm_archive.typemap import Column

_TEXT_KINDS = ("varchar", "char", "text", "json")


def text(v: str | bytes | bytearray) -> str:
    """A catalog value as text (MySQLdb returns some information_schema columns as bytes)."""
    return v.decode() if isinstance(v, bytes | bytearray) else v


# -- columns: hand-written, per engine ----------------------------------------------------------
def postgres_columns(conn: Any, d: Dialect, table: str) -> list[Column]:
    cur = conn.cursor()
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, "
        "t.typnamespace = 'pg_catalog'::regnamespace, NOT a.attnotnull, "
        "current_setting('server_encoding') FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (d.table(table),),
    )
    rows = cur.fetchall()
    conn.commit()
    out = []
    for name, full, typname, builtin, nullable, encoding in rows:
        try:
            canonical = typemap.canonical_from_postgres(typname, full, builtin)
        except typemap.UnmappableType:
            canonical = ("unmappable", full)
        text_col = canonical[0] in _TEXT_KINDS  # the database's encoding
        out.append(Column(name, full, nullable, canonical, encoding.lower() if text_col else None))
    return out


def mysql_columns(conn: Any, table: str) -> list[Column]:
    schema, name = split_table(table)
    cur = conn.cursor()
    cur.execute(
        "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME "
        "FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
        (schema, name),
    )
    rows = cur.fetchall()
    conn.commit()
    out = []
    for col, column_type, data_type, nullable, charset in rows:
        column_type = text(column_type)
        try:
            canonical = typemap.canonical_from_mysql(text(data_type), column_type)
        except typemap.UnmappableType:
            canonical = ("unmappable", column_type)
        out.append(
            Column(text(col), column_type, nullable == "YES", canonical, text(charset).lower() if charset else None)
        )
    return out


def sqlite_columns(conn: Any, table: str) -> list[Column]:
    _, name = split_table(table)
    cur = conn.execute('SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (name,))
    out = []
    for col, declared, notnull, pk in cur.fetchall():
        try:
            canonical = typemap.canonical_from_sqlite(declared or "")
        except typemap.UnmappableType:
            canonical = ("unmappable", declared)
        out.append(Column(col, declared or "", not (notnull or pk), canonical))
    return out


# -- unique keys: SQLAlchemy's Inspector --------------------------------------------------------
def unique_indexes(c: SAConnection, table: str) -> list[tuple[str | None, list[str]]]:
    """(name, columns in index order) of the primary key (its name None), then of each unique
    constraint and
    unique index that guarantees the uniqueness of plain columns; partial (``WHERE``) and expression
    indexes do not, and are left out. Empty when the table does not exist."""
    schema, name = split_table(table)
    insp = sa.inspect(c)
    kw = {"include_auto_indexes": True} if c.dialect.name == "sqlite" else {}  # UNIQUE columns
    try:
        pk = insp.get_pk_constraint(name, schema)
        found: list[tuple[str | None, list[str]]] = []
        if pk.get("constrained_columns"):
            found.append((None, list(pk["constrained_columns"])))
        found += [(u["name"], list(u["column_names"])) for u in insp.get_unique_constraints(name, schema)]
        for ix in insp.get_indexes(name, schema, **kw):
            where = any(k.endswith("_where") and v is not None for k, v in ix.get("dialect_options", {}).items())
            cols = ix["column_names"]
            if ix["unique"] and not where and None not in cols:
                found.append((ix["name"], [c for c in cols if c is not None]))
    except sa.exc.NoSuchTableError:
        return []
    return found


def unique_keys(c: SAConnection, table: str) -> list[set[str]]:
    """Column sets of the primary key, unique constraints and unique indexes."""
    keys: list[set[str]] = []
    for _, cols in unique_indexes(c, table):
        if set(cols) not in keys:
            keys.append(set(cols))
    return keys


def mysql_key_index(c: SAConnection, table: str, key: Sequence[str]) -> str | None:
    """The unique index whose columns are exactly ``key`` in that order (names compared without
    case), the primary key first (MySQL calls its index ``PRIMARY``), then by name."""
    wanted = [k.lower() for k in key]
    ordered = sorted(unique_indexes(c, table), key=lambda f: (f[0] is not None, f[0] or ""))
    return next(
        ("PRIMARY" if name is None else name for name, cols in ordered if [x.lower() for x in cols] == wanted), None
    )
