"""Column types across engines.

A source column is read as its engine describes it, turned into a small canonical type, then
written in the target engine's words. Same-engine copies keep the exact source type. A type with no
faithful counterpart is refused with a clear error rather than silently narrowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError

from warm_archive.errors import WarmArchiveError

_T = exp.DataType.Type


@dataclass(frozen=True)
class Column:
    name: str
    native_type: str  # exact type in its own engine ("numeric(12,2)", "int(10) unsigned", ...)
    nullable: bool
    canonical: tuple  # ("varchar", 40), ("decimal", 12, 2), ("bigint",), ...
    charset: str | None = None  # text: the MySQL column's charset, the PostgreSQL database's encoding


class UnmappableType(WarmArchiveError):
    pass


def _args(full: str) -> list[int]:
    m = re.search(r"\(([\d,\s]+)\)", full)
    return [int(x) for x in m.group(1).split(",")] if m else []


# PostgreSQL types as sqlglot reads format_type()'s text, to canonical kinds (no parameters).
_FROM_POSTGRES = {
    _T.SMALLINT: "smallint",
    _T.INT: "int",
    _T.BIGINT: "bigint",
    _T.FLOAT: "real",
    _T.DOUBLE: "double",
    _T.BOOLEAN: "bool",
    _T.TEXT: "text",
    _T.NAME: "text",
    _T.VARBINARY: "bytes",
    _T.DATE: "date",
    _T.JSON: "json",
    _T.JSONB: "json",
    _T.UUID: "uuid",
}
_PG_TIMES = {_T.TIME: "time", _T.TIMESTAMP: "timestamp", _T.TIMESTAMPTZ: "timestamptz"}
_PG_NOT_PARSED = {"citext": ("text",)}  # extension types sqlglot does not know, by typname


def native_type(text: str, engine: str) -> exp.DataType | None:
    """An engine's own type text (``numeric(12,2)``, ``timestamp(3) with time zone``) as sqlglot's
    data type, or None where sqlglot does not know it (user types, some extensions)."""
    try:
        return exp.DataType.build(text, dialect=engine)
    except SqlglotError:
        return None


def _params(dt: exp.DataType) -> list[int]:
    """The number parameters of a type (length, precision, scale)."""
    return [int(p.name) for p in dt.expressions if isinstance(p, exp.DataTypeParam) and p.name.isdigit()]


def canonical_from_postgres(typname: str, full: str, builtin: bool = True) -> tuple:
    """``full`` is format_type()'s text, which carries the typmods, read by sqlglot when the type
    is PostgreSQL's own (``builtin``: in pg_catalog); other types (extensions, domains, enums,
    whose names sqlglot might read as something else) go by ``typname`` alone."""
    dt = native_type(full, "postgres") if builtin else None
    if dt is None:
        if typname in _PG_NOT_PARSED:
            return _PG_NOT_PARSED[typname]
        raise UnmappableType(f"PostgreSQL type {full!r} has no mapping to another engine")
    t, args = dt.this, _params(dt)
    if t in _FROM_POSTGRES:
        return (_FROM_POSTGRES[t],)
    if t == _T.DECIMAL:
        return ("decimal", *args) if args else ("numeric",)
    if t in (_T.VARCHAR, _T.CHAR, _T.BPCHAR):
        kind = "varchar" if t == _T.VARCHAR else "char"
        return (kind, args[0]) if args else ("text",)
    if t in _PG_TIMES:
        return (_PG_TIMES[t], args[0] if args else 6)
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


# A canonical kind as sqlglot's engine-neutral data type; sqlglot writes it in each engine's words
# (DOUBLE PRECISION or DOUBLE, BYTEA or VARBINARY, TIMESTAMP or DATETIME).
_TO_TYPE = {
    "smallint": _T.SMALLINT,
    "int": _T.INT,
    "bigint": _T.BIGINT,
    "real": _T.FLOAT,
    "double": _T.DOUBLE,
    "bool": _T.BOOLEAN,
    "text": _T.TEXT,
    "bytes": _T.VARBINARY,
    "date": _T.DATE,
    "json": _T.JSON,
    "uuid": _T.UUID,
    "numeric": _T.DECIMAL,
    "decimal": _T.DECIMAL,
    "varchar": _T.VARCHAR,
    "char": _T.CHAR,
    "time": _T.TIME,
    "timestamp": _T.TIMESTAMP,
    "timestamptz": _T.TIMESTAMPTZ,
}
# Where an engine stores a kind in another type than the neutral one: (type, fixed parameters).
_ENGINE_CHOICE: dict[str, dict[str, tuple]] = {
    "postgres": {"json": (_T.JSONB,)},
    "mysql": {
        "bool": (_T.TINYINT, 1),
        "text": (_T.LONGTEXT,),
        "bytes": (_T.LONGBLOB,),
        "json": (_T.LONGTEXT,),
        "uuid": (_T.CHAR, 36),
        "numeric": (_T.DECIMAL, 65, 30),
        # MySQL keeps no zone: timestamptz values are stored in UTC (the session zone).
        "timestamptz": (_T.DATETIME,),
    },
}
# SQLite: the words its affinity rules (and canonical_from_sqlite) read back as the same kind;
# sqlglot's SQLite spellings are the affinities themselves (BOOLEAN as INTEGER, DECIMAL as REAL).
_SQLITE = {
    "smallint": "INTEGER",
    "int": "INTEGER",
    "bigint": "INTEGER",
    "real": "REAL",
    "double": "REAL",
    "bool": "BOOLEAN",
    "bytes": "BLOB",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP",
    "decimal": "NUMERIC",
    "numeric": "NUMERIC",
}


def render(canonical: tuple, engine: str) -> str:
    """The type of a canonical column in the target engine's words (PostgreSQL's in lower case,
    as its catalog prints types; MySQL's in upper case, as messages show them)."""
    kind, *a = canonical
    if engine == "sqlite":
        return _SQLITE.get(kind, "TEXT")
    if engine not in _ENGINE_CHOICE:
        raise UnmappableType(f"no type mapping for engine {engine!r}")
    if kind == "decimal":
        a = [a[0], a[1] if len(a) > 1 else 0]
    if engine == "mysql":
        if (kind == "varchar" and a[0] > 16383) or (kind == "char" and a[0] > 255):
            return "LONGTEXT"
        if kind in ("time", "timestamp", "timestamptz"):
            a = [min(a[0], 6)]
    t, *fixed = _ENGINE_CHOICE[engine].get(kind) or (_TO_TYPE[kind],)
    params = [exp.DataTypeParam(this=exp.Literal.number(n)) for n in (fixed or a)]
    text = exp.DataType(this=t, expressions=params).sql(dialect=engine)
    return text.lower() if engine == "postgres" else text


# -- can an existing target column hold the source values exactly? ------------------------------
#
# The warm table is written once and trusted afterwards: the verified delete keeps every source row
# whose warm copy differs, so a target column that rounds, cuts or re-encodes values makes the run
# copy rows, then keep them in the source as "changed since their copy" (and ``move`` would delete
# the originals of rounded copies). A pre-existing target table is therefore checked column by
# column before a row moves, and any column narrower than its source is refused by name.


class NarrowTarget(WarmArchiveError):
    """A pre-existing target column cannot hold its source column's values exactly."""


INF = float("inf")
PG_TEXT_BYTES = (1 << 30) - 1  # the most a PostgreSQL text, bytea or json value holds (1 GB)
_MY_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
_PG_INT_BITS = {"smallint": 16, "int": 32, "bigint": 64}
_MY_LOB_BYTES = {"tiny": 255, "": 65535, "medium": (1 << 24) - 1, "long": (1 << 32) - 1}
# Most bytes (and fewest) one character takes in a character set (MySQL and PostgreSQL names).
_MAXLEN = {
    "utf8mb4": 4,
    "utf8mb3": 3,
    "utf8": 3,
    "ucs2": 2,
    "utf16": 4,
    "utf16le": 4,
    "utf32": 4,
    "big5": 2,
    "gbk": 2,
    "sjis": 2,
    "cp932": 2,
    "euckr": 2,
    "gb2312": 2,
    "ujis": 3,
    "eucjpms": 3,
    "euc_jp": 3,
    "euc_kr": 3,
    "euc_cn": 3,
    "euc_tw": 4,
    "uhc": 2,
    "johab": 3,
    "shift_jis_2004": 2,
    "euc_jis_2004": 3,
    "gb18030": 4,
}
_MINLEN = {"ucs2": 2, "utf16": 2, "utf16le": 2, "utf32": 4}
_UNICODE = {"utf8mb4", "utf16", "utf16le", "utf32", "sql_ascii"}  # + PostgreSQL's "utf8" below
_BMP = {"utf8mb3", "ucs2"}  # Unicode without 4-byte (supplementary) characters
_UTF8_BYTES = {"utf8", "utf8mb3", "utf8mb4", "ascii"}  # the same text in the same bytes


@dataclass(frozen=True)
class _Holds:
    """What one column can hold, engine details resolved (MySQL widths, charsets, ...)."""

    kind: str  # int, bool, decimal, float, text, json, uuid, bytes, date, time, timestamp, other
    lo: int = 0  # int: the range
    hi: int = 0
    year: bool = False  # MySQL YEAR: reads 0..99 as years, holds 1901..2155
    p: int | None = None  # decimal: precision (None: unbounded) and scale
    s: int = 0
    bits: int = 0  # float: mantissa bits
    fixed: bool = False  # CHAR/BINARY pad, FLOAT(M,D) rounds to D places
    listed: bool = False  # ENUM/SET: only the listed values
    tiny1: bool = False  # MySQL TINYINT(1), MySQL's BOOLEAN
    chars: float = INF  # text: most characters and most bytes (in ``charset``)
    bytes: float = INF
    charset: str | None = None
    frac: int = 0  # time, timestamp: fractional second digits
    epoch: bool = False  # MySQL TIMESTAMP: 1970..2038 only


def _repertoire(charset: str | None, engine: str) -> str:
    cs = (charset or "utf8mb4").lower()
    if cs in _UNICODE or (engine == "postgres" and cs == "utf8"):
        return "unicode"
    if cs in _BMP or cs == "utf8":
        return "bmp"
    return cs


def _maxlen(charset: str | None, engine: str) -> int:
    cs = (charset or "utf8mb4").lower()
    return 4 if engine == "postgres" and cs == "utf8" else _MAXLEN.get(cs, 1)


def _enum_chars(native: str) -> int:
    values = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", native)]
    if native.lower().startswith("set"):
        return sum(map(len, values)) + max(len(values) - 1, 0)
    return max(map(len, values), default=0)


def _int(bits: int, unsigned: bool = False) -> tuple[int, int]:
    return (0, (1 << bits) - 1) if unsigned else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _holds(col: Column, engine: str, role: str) -> _Holds:
    """``role`` "target": PostgreSQL's unbounded text and bytea take anything (their 1 GB is more
    than a row of any source carries); as a source they hold at most 1 GB."""
    kind, *a = col.canonical
    pg_big = INF if role == "target" else PG_TEXT_BYTES
    if engine == "mysql":
        native = col.native_type.lower()
        dt = re.match(r"[a-z]*", native).group(0)  # type: ignore[union-attr]  # [a-z]* matches any text
        unsigned = "unsigned" in native
        args = _args(native)
        if dt in _MY_INT_BITS:
            lo, hi = _int(_MY_INT_BITS[dt], unsigned)
            return _Holds("int", lo, hi, tiny1=native.startswith("tinyint(1)") and not unsigned)
        if dt == "year":
            return _Holds("int", 0, 2155, year=True)
        if dt in ("decimal", "numeric"):
            return _Holds("decimal", 0 if unsigned else -1, p=(args or [10])[0], s=(args + [0, 0])[1])
        if dt in ("float", "double", "real"):
            return _Holds("float", bits=24 if dt == "float" else 53, fixed=len(args) == 2)
        cs = col.charset
        if dt in ("char", "varchar"):
            n = args[0] if args else 255
            return _Holds("text", chars=n, bytes=n * _maxlen(cs, engine), charset=cs, fixed=dt == "char")
        if dt.endswith("text"):
            b = _MY_LOB_BYTES[dt[:-4]]
            chars = b // _MINLEN.get((cs or "").lower(), 1) if role == "source" else INF  # bytes bound it
            return _Holds("text", chars=chars, bytes=b, charset=cs)
        if dt in ("enum", "set"):
            n = _enum_chars(native)
            return _Holds("text", chars=n, bytes=n * _maxlen(cs, engine), charset=cs, listed=True)
        if dt in ("binary", "varbinary"):
            return _Holds("bytes", bytes=args[0] if args else 1, fixed=dt == "binary")
        if dt.endswith("blob"):
            return _Holds("bytes", bytes=_MY_LOB_BYTES[dt[:-4]])
        if dt == "json":
            return _Holds("json", chars=_MY_LOB_BYTES["long"], bytes=_MY_LOB_BYTES["long"], charset="utf8mb4")
        if dt == "timestamp":
            return _Holds("timestamp", frac=a[0], epoch=True)
    if kind in _PG_INT_BITS:
        return _Holds("int", *_int(_PG_INT_BITS[kind]))
    if kind == "bool":
        return _Holds("bool")
    if kind == "decimal":
        return _Holds("decimal", -1, p=a[0], s=a[1] if len(a) > 1 else 0)
    if kind == "numeric":
        return _Holds("decimal", -1, p=None)
    if kind in ("real", "double"):
        return _Holds("float", bits=24 if kind == "real" else 53)
    if kind in ("varchar", "char"):
        return _Holds(
            "text",
            chars=a[0],
            bytes=a[0] * _maxlen(col.charset, engine) if role == "source" else INF,
            charset=col.charset,
            fixed=kind == "char",
        )
    if kind in ("text", "json"):
        return _Holds(kind, chars=pg_big, bytes=pg_big, charset=col.charset)
    if kind == "bytes":
        return _Holds("bytes", bytes=pg_big)
    if kind in ("time", "timestamp", "timestamptz"):
        return _Holds("timestamp" if kind == "timestamptz" else kind, frac=a[0])
    if kind in ("date", "uuid"):
        return _Holds(kind)
    return _Holds("other")


def _show(col: Column, engine: str) -> str:
    """A column's type as a user writes it: MySQL upper case, with the implicit (0) of times."""
    t = col.native_type
    if engine == "mysql":
        head, quoted, tail = re.fullmatch(r"([^']*)(.*?)([^']*)", t).groups()  # type: ignore[union-attr]  # ENUM values as they are
        t = head.upper() + quoted + tail.upper()
        if re.fullmatch(r"(DATETIME|TIMESTAMP|TIME)", t):
            t += "(0)"
        return t
    return t.replace(" without time zone", "")


def narrowing(src: Column, src_engine: str, tgt: Column, tgt_engine: str) -> str | None:
    """Why the target column cannot hold every value of the source column exactly, or None.

    A target is accepted when it holds every value the source column can hold, unchanged and
    compared equal by the verified delete: at least as many fractional-second digits, characters,
    bytes (in the target's character set), decimal places and integer digits, an integer range
    that covers the source's (signed vs unsigned included), a float at least as wide, and a
    character set holding every character the source's can (MariaDB utf8mb3 lacks the 4-byte
    ones, latin1 most of Unicode). The engine's own cross-engine mappings (what it creates when the
    warm table does not exist) are always accepted: boolean into any integer (TINYINT(1) is
    MySQL's boolean, and a PostgreSQL boolean takes it back), timestamptz as a UTC DATETIME,
    unbounded numeric as MariaDB's widest DECIMAL(65,30), MySQL TIME into time; values outside
    those ranges fail loudly on insert rather than change. SQLite declares types loosely: its
    columns limit nothing, so nothing is compared there.
    """
    if "sqlite" in (src_engine, tgt_engine):
        return None
    if src_engine == tgt_engine and src.native_type == tgt.native_type and src.charset == tgt.charset:
        return None
    s, t = _holds(src, src_engine, "source"), _holds(tgt, tgt_engine, "target")
    if s.kind == "other" or t.kind == "other":
        if src_engine == tgt_engine and src.native_type == tgt.native_type:
            return None
        return "is not the same type as"
    if t.listed:
        return "accepts only its listed values, not every value of"
    if t.year and not s.year:
        return "reads small numbers as years (5 becomes 2005) and holds only 1901..2155, unlike"
    if s.kind in ("int", "bool"):
        lo, hi = (0, 1) if s.kind == "bool" else (s.lo, s.hi)
        big = max(-lo, hi)
        if t.kind == "int":
            if t.lo <= lo and hi <= t.hi:
                return None
            return f"holds only {t.lo}..{t.hi}, not the range {lo}..{hi} of"
        if t.kind == "decimal":
            if t.lo == 0 and lo < 0:
                return "is unsigned and cannot hold the negative values of"
            if t.p is None or 10 ** (t.p - t.s) > big:
                return None
            return f"holds at most {max(t.p - t.s, 0)} integer digits, not the {len(str(big))} of"
        if t.kind == "float":
            if t.fixed:
                return "rounds every value to its fixed decimal places, unlike"
            return None if big <= 1 << t.bits else f"holds integers exactly only up to 2^{t.bits}, unlike"
        if t.kind == "bool":
            ok = s.kind == "bool" or (s.tiny1 and src_engine == "mysql")
            return None if ok else "holds only true and false, not every value of"
    elif s.kind == "decimal":
        if t.kind == "decimal":
            if s.p is None:
                ok = t.p is None or (tgt_engine == "mysql" and (t.p, t.s) == (65, 30))
                return None if ok else "cannot hold every value of unbounded"
            if t.p is None:
                return None
            if t.s < s.s:
                return f"would round to {t.s} decimal places the {s.s} of"
            if t.p - t.s < s.p - s.s:
                return f"holds at most {max(t.p - t.s, 0)} integer digits, not the {s.p - s.s} of"
            if t.lo == 0 and s.lo < 0:
                return "is unsigned and cannot hold the negative values of"
            return None
        if t.kind == "int":
            if s.p is None or s.s > 0:
                return "would drop the decimal places of"
            big = 10**s.p - 1
            ok = t.lo <= (0 if s.lo == 0 else -big) and big <= t.hi
            return None if ok else f"holds only {t.lo}..{t.hi}, not every value of"
        if t.kind == "float":
            return "would round to binary floating point the exact decimals of"
    elif s.kind == "float":
        if t.kind == "float":
            if t.fixed:
                return "rounds every value to its fixed decimal places, unlike"
            return None if t.bits >= s.bits else "would round to single precision the double values of"
        if t.kind == "decimal":
            return "cannot hold exactly the binary floating point values of"
    elif s.kind in ("text", "json", "uuid"):
        if s.kind == "uuid":
            if t.kind == "uuid" or (t.kind == "text" and t.chars >= 36 and t.bytes >= 36 and not t.fixed):
                return None
            if t.kind == "text" and t.fixed and t.chars == 36:
                return None
            return "cannot hold the 36 characters of"
        if t.kind == "json":
            return None if s.kind == "json" else "accepts only JSON documents, not every value of"
        if t.kind == "text":
            why = []
            rs, rt = _repertoire(s.charset, src_engine), _repertoire(t.charset, tgt_engine)
            if not (rt == "unicode" or rs == "ascii" or rs == rt or (rt == "bmp" and rs != "unicode")):
                what = "the 4-byte characters (emoji, ...)" if rt == "bmp" else "most characters"
                why.append(f"is {t.charset} and cannot hold {what}")
            if t.fixed and not s.fixed:
                why.append("pads or strips trailing spaces")
            same_bytes = (s.charset or "utf8").lower() == (t.charset or "utf8").lower() or (
                (s.charset or "utf8").lower() in _UTF8_BYTES and (t.charset or "utf8").lower() in _UTF8_BYTES
            )
            need = s.bytes if same_bytes else s.chars * _maxlen(t.charset, tgt_engine)
            if t.chars < s.chars:
                why.append(f"would cut values to {int(t.chars)} characters")
            elif t.bytes < need:
                why.append(f"would cut values to {int(t.bytes)} bytes, fewer than the {int(need)} of")
            return " and ".join(why) + ("" if why[-1].endswith(" of") else " of") if why else None
    elif s.kind == "bytes":
        if t.kind == "bytes":
            if t.fixed and not (s.fixed and s.bytes == t.bytes):
                return "pads values with zero bytes, unlike"
            return None if t.bytes >= s.bytes else f"would cut values to {int(t.bytes)} bytes of"
    elif s.kind in ("time", "timestamp"):
        if t.kind == s.kind:
            if t.frac < s.frac:
                return "would drop the fractional seconds of"
            if t.epoch and not s.epoch:
                return "holds only 1970..2038 (MySQL TIMESTAMP), unlike"
            return None
    elif s.kind == t.kind:  # date
        return None
    return "is not the same kind of type as"


def widened(src: Column, src_engine: str, tgt: Column, tgt_engine: str) -> str:
    """The target type to suggest: the source's own, or the one the engine would create."""
    if (
        tgt_engine == "postgres"
        and src.canonical[0] in ("varchar", "char", "text", "json")
        and _repertoire(tgt.charset, "postgres") != "unicode"
    ):
        return (
            f"{_show(src, src_engine) if src_engine == tgt_engine else render(src.canonical, tgt_engine)} "
            "in a UTF8 database"
        )
    if src_engine == tgt_engine:
        t = _show(src, src_engine)
    else:
        t = render(src.canonical, tgt_engine)
    if (
        tgt_engine == "mysql"
        and src.canonical[0] in ("varchar", "char", "text")
        and _repertoire(tgt.charset, "mysql") != "unicode"
        and _repertoire(src.charset, src_engine) in ("unicode", "bmp")
    ):
        t += " CHARACTER SET utf8mb4"
    return t


def check_target_holds(
    src_cols: list[Column], tgt_cols: list[Column], src_engine: str, tgt_engine: str, target_table: str
) -> None:
    """Refuse a pre-existing target table with columns narrower than the source's (``narrowing``),
    naming every such column, before any row moves. ``tgt_cols`` is in ``src_cols`` order."""
    bad = []
    for s, t in zip(src_cols, tgt_cols):
        why = narrowing(s, src_engine, t, tgt_engine)
        if why:
            hs, ht = _holds(s, src_engine, "source"), _holds(t, tgt_engine, "target")
            same = hs.kind == ht.kind and not (ht.listed or ht.year or ht.fixed or ht.epoch)
            bad.append(
                f"target column {target_table}.{t.name} is {_show(t, tgt_engine)} and {why} "
                f"source {_show(s, src_engine)}; {'widen' if same else 'change'} it to "
                f"{widened(s, src_engine, t, tgt_engine)}"
            )
    if bad:
        raise NarrowTarget(
            f"the target table {target_table} cannot hold every source value exactly, nothing was "
            f"archived: " + ". ".join(bad) + "."
        )
