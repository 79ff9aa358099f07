"""Rows as text another engine ingests, built by the source server (the cross-engine passthrough).

PostgreSQL renders each value as a MySQL literal (quotes doubled, backslashes doubled unless the
target session has NO_BACKSLASH_ESCAPES, bytes as X'..'), exactly what mysqlclient's
``executemany`` does client-side, or, where the warm connection allows ``LOAD DATA LOCAL``, each
row as a line of its text form; MySQL renders each row as a PostgreSQL COPY text line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from warm_archive.dialects.base import Dialect
from warm_archive.typemap import Column

# Canonical kinds of dates and times (see typemap): their text crosses engines as ISO text.
TIMESTAMP_KINDS = frozenset(("date", "timestamp", "timestamptz"))

_UTF8 = ("utf8mb4", "utf8mb3", "utf8", "ascii")


def utf8_text(d: Dialect, col: Column) -> str:
    """SQL (MySQL): the text column as UTF-8: as it is when it already is, else converted."""
    q = d.quote(col.name)
    return q if col.charset in _UTF8 else f"CONVERT({q} USING utf8mb4)"


class PostgresLiterals(Dialect):
    """A PostgreSQL row as a MySQL ``(v1,v2,...)`` tuple of SQL literals."""

    def passthrough_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        if target.name != "mysql":
            return None
        parts = [self._mysql_literal(c, target) for c in cols]
        if None in parts:
            return None
        return "'(' || " + " || ',' || ".join(cast(list[str], parts)) + " || ')'"

    def load_data_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        """A line ``LOAD DATA`` reads with its defaults, whatever the target's sql_mode: fields
        joined by tabs; backslash, tab, newline and CR escaped; NULL as \\N. Bytes have no
        place in a UTF-8 text stream: a table with a bytes column goes as SQL literals."""
        if target.name != "mysql":
            return None
        parts = [self._load_data_field(c) for c in cols]
        if None in parts:
            return None
        return " || chr(9) || ".join(cast(list[str], parts))

    def _load_data_field(self, col: Column) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        null = "chr(92) || 'N'"
        if kind in ("smallint", "int", "bigint", "decimal", "numeric", "real", "double"):
            return f"COALESCE({q}::text, {null})"  # NaN/Infinity: refused by MySQL, so the batch fails
        if kind == "bool":
            return f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' ELSE {null} END"
        if kind in TIMESTAMP_KINDS:
            return f"COALESCE({self._ts_text(q, kind)}, {null})"
        if kind in ("varchar", "char", "text", "json", "uuid", "time"):
            s = f"{q}::text"
            escaped = s
            for code, letter in ((92, "chr(92)"), (9, "'t'"), (10, "'n'"), (13, "'r'")):
                escaped = f"replace({escaped}, chr({code}), chr(92) || {letter})"
            # four string scans are far cheaper than four copies of every text; few need them
            needs = " + ".join(f"strpos({s}, chr({code}))" for code in (92, 9, 10, 13))
            return f"COALESCE(CASE WHEN {needs} > 0 THEN {escaped} ELSE {s} END, {null})"
        return None

    # Timestamps leave as their ISO text (the session's DateStyle; timestamptz in UTC, without an
    # offset): 'YYYY-MM-DD HH:MM:SS[.ffffff]', which MySQL reads exactly, for a third less
    # PostgreSQL CPU than to_char. BC, infinite and 5-digit-year values keep PostgreSQL's own text
    # behind an 'x', which MySQL refuses and which never equals a MySQL canonical form: an error or
    # a kept row, never a silently different value.
    def _ts_text(self, q: str, kind: str) -> str:
        v = f"({q} AT TIME ZONE 'UTC')" if kind == "timestamptz" else q
        return (
            f"CASE WHEN isfinite({q}) AND {q} >= '0001-01-01' AND {q} < '10000-01-01' "
            f"THEN {v}::text ELSE 'x' || {q}::text END"
        )

    def _mysql_literal(self, col: Column, target: Dialect) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        if kind in ("smallint", "int", "bigint", "decimal", "numeric", "real", "double"):
            return f"COALESCE({q}::text, 'NULL')"  # NaN/Infinity stay bare words: MySQL refuses them
        if kind == "bool":
            return f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' ELSE 'NULL' END"
        if kind in TIMESTAMP_KINDS:  # digits, '-', ':', '.', ' ' or a word: nothing to escape
            return f"COALESCE(chr(39) || ({self._ts_text(q, kind)}) || chr(39), 'NULL')"
        if kind in ("varchar", "char", "text", "json", "uuid", "time"):
            s = f"{q}::text"
            if not target.no_backslash_escapes:
                s = f"replace({s}, chr(92), chr(92) || chr(92))"
            return f"COALESCE(chr(39) || replace({s}, chr(39), chr(39) || chr(39)) || chr(39), 'NULL')"
        if kind == "bytes":
            return f"COALESCE('X' || chr(39) || encode({q}, 'hex') || chr(39), 'NULL')"
        return None


class MySQLLiterals(Dialect):
    """A MySQL row as a PostgreSQL COPY text line: backslash, newline, CR and tab escaped, NULL as
    \\N. Written with CHAR() so that the SQL means the same under any sql_mode."""

    _BS = "CHAR(92 USING utf8mb4)"

    # Matches a character COPY must see escaped (backslash, newline, CR, tab): a regular expression
    # test is far cheaper than four REPLACE copies of every text, and few texts need them.
    _NEEDS_ESCAPE = "CONCAT('[', CHAR(92, 92, 10, 13, 9 USING utf8mb4), ']')"

    def passthrough_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        if target.name != "postgres":
            return None
        parts = [self._copy_field(c) for c in cols]
        if None in parts:
            return None
        return f"CONCAT_WS(CHAR(9 USING utf8mb4), {', '.join(cast(list[str], parts))})"

    def _copy_field(self, col: Column) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        null = f"CONCAT({self._BS}, 'N')"
        if kind in ("smallint", "int", "bigint", "decimal", "double", "date", "timestamp"):
            return f"IFNULL({q}, {null})"  # CONCAT_WS prints them in the result's character set
        if kind == "real":  # FLOAT prints 6 digits (16777216 -> 16777200); as DOUBLE it is exact
            return f"IFNULL(CAST({q} AS DOUBLE), {null})"
        if kind in ("varchar", "char", "text", "json"):
            x = escaped = utf8_text(self, col)
            for code, letter in ((92, None), (10, "n"), (13, "r"), (9, "t")):
                rep = f"CONCAT({self._BS}, {self._BS})" if letter is None else f"CONCAT({self._BS}, '{letter}')"
                escaped = f"REPLACE({escaped}, CHAR({code} USING utf8mb4), {rep})"
            return f"IFNULL(IF({x} REGEXP {self._NEEDS_ESCAPE}, {escaped}, {x}), {null})"
        return None
