"""Column types across engines.

A source column is read as its engine describes it, turned into a small canonical type, then
written in the target engine's words. Same-engine copies keep the exact source type. A type with no
faithful counterpart is refused with a clear error rather than silently narrowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warm_archive.errors import WarmArchiveError


@dataclass(frozen=True)
class Column:
    name: str
    native_type: str  # exact type in its own engine ("numeric(12,2)", "int(10) unsigned", ...)
    nullable: bool
    canonical: tuple  # ("varchar", 40), ("decimal", 12, 2), ("bigint",), ...
    charset: str | None = None  # MySQL text columns: the column's character set


class UnmappableType(WarmArchiveError):
    pass


def _args(full: str) -> list[int]:
    m = re.search(r"\(([\d,\s]+)\)", full)
    return [int(x) for x in m.group(1).split(",")] if m else []


def canonical_from_postgres(typname: str, full: str) -> tuple:
    args = _args(full)
    simple = {
        "int2": ("smallint",), "int4": ("int",), "int8": ("bigint",), "float4": ("real",),
        "float8": ("double",), "bool": ("bool",), "text": ("text",), "citext": ("text",),
        "name": ("text",), "bytea": ("bytes",), "date": ("date",), "json": ("json",),
        "jsonb": ("json",), "uuid": ("uuid",),
    }
    if typname in simple:
        return simple[typname]
    if typname == "numeric":
        return ("decimal", *args) if args else ("numeric",)
    if typname in ("varchar", "bpchar"):
        kind = "varchar" if typname == "varchar" else "char"
        return (kind, args[0]) if args else ("text",)
    if typname in ("time", "timestamp", "timestamptz"):
        return (typname, args[0] if args else 6)
    raise UnmappableType(f"PostgreSQL type {full!r} has no mapping to another engine")


def canonical_from_mysql(data_type: str, column_type: str) -> tuple:
    data_type, column_type = data_type.lower(), column_type.lower()
    unsigned = "unsigned" in column_type
    args = _args(column_type)
    if data_type in ("tinyint", "smallint", "year"):
        return ("int",) if unsigned and data_type == "smallint" else ("smallint",)
    if data_type in ("mediumint", "int", "integer"):
        return ("bigint",) if unsigned else ("int",)
    if data_type == "bigint":
        return ("decimal", 20, 0) if unsigned else ("bigint",)
    if data_type in ("decimal", "numeric"):
        return ("decimal", *(args or [10, 0]))
    if data_type == "float":
        return ("real",)
    if data_type in ("double", "real"):
        return ("double",)
    if data_type in ("char", "varchar"):
        return (data_type, args[0] if args else 255)
    if data_type in ("tinytext", "text", "mediumtext", "longtext", "enum", "set"):
        return ("text",)
    if data_type in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return ("bytes",)
    if data_type == "date":
        return ("date",)
    if data_type == "time":
        return ("time", args[0] if args else 0)
    if data_type in ("datetime", "timestamp"):
        return ("timestamp", args[0] if args else 0)
    if data_type == "json":
        return ("json",)
    raise UnmappableType(f"MySQL/MariaDB type {column_type!r} has no mapping to another engine")


def canonical_from_sqlite(declared: str) -> tuple:
    """SQLite declares types loosely; follow its affinity rules with the common names."""
    d = declared.lower()
    args = _args(d)
    if "int" in d:
        return ("bigint",)
    if d.startswith(("varchar", "character varying", "nvarchar")) and args:
        return ("varchar", args[0])
    if any(w in d for w in ("char", "clob", "text")) or d == "":
        return ("text",)
    if "blob" in d:
        return ("bytes",)
    if any(w in d for w in ("real", "floa", "doub")):
        return ("double",)
    if d.startswith("bool"):
        return ("bool",)
    if d.startswith(("timestamp", "datetime")):
        return ("timestamp", 6)
    if d == "date":
        return ("date",)
    if d.startswith(("decimal", "numeric")):
        return ("decimal", *args) if args else ("numeric",)
    raise UnmappableType(f"SQLite type {declared!r} has no mapping to another engine")


def render(canonical: tuple, engine: str) -> str:
    """The type of a canonical column in the target engine's words."""
    kind, *a = canonical
    if engine == "postgres":
        return {
            "smallint": "smallint", "int": "integer", "bigint": "bigint", "real": "real",
            "double": "double precision", "bool": "boolean", "text": "text", "bytes": "bytea",
            "date": "date", "json": "jsonb", "uuid": "uuid", "numeric": "numeric",
        }.get(kind) or {
            "decimal": lambda: f"numeric({a[0]},{a[1] if len(a) > 1 else 0})",
            "varchar": lambda: f"varchar({a[0]})", "char": lambda: f"char({a[0]})",
            "time": lambda: f"time({a[0]})", "timestamp": lambda: f"timestamp({a[0]})",
            "timestamptz": lambda: f"timestamptz({a[0]})",
        }[kind]()
    if engine == "mysql":
        if kind == "varchar":
            return f"VARCHAR({a[0]})" if a[0] <= 16383 else "LONGTEXT"
        if kind == "char":
            return f"CHAR({a[0]})" if a[0] <= 255 else "LONGTEXT"
        return {
            "smallint": "SMALLINT", "int": "INT", "bigint": "BIGINT", "real": "FLOAT",
            "double": "DOUBLE", "bool": "TINYINT(1)", "text": "LONGTEXT", "bytes": "LONGBLOB",
            "date": "DATE", "json": "LONGTEXT", "uuid": "CHAR(36)", "numeric": "DECIMAL(65,30)",
        }.get(kind) or {
            "decimal": lambda: f"DECIMAL({a[0]},{a[1] if len(a) > 1 else 0})",
            "time": lambda: f"TIME({min(a[0], 6)})",
            # MySQL keeps no zone: timestamptz values are stored in UTC (the session zone).
            "timestamp": lambda: f"DATETIME({min(a[0], 6)})",
            "timestamptz": lambda: f"DATETIME({min(a[0], 6)})",
        }[kind]()
    if engine == "sqlite":
        return {
            "smallint": "INTEGER", "int": "INTEGER", "bigint": "INTEGER", "real": "REAL",
            "double": "REAL", "bool": "BOOLEAN", "bytes": "BLOB", "date": "DATE",
            "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP", "decimal": "NUMERIC",
            "numeric": "NUMERIC",
        }.get(kind, "TEXT")
    raise UnmappableType(f"no type mapping for engine {engine!r}")
