"""What differs between engines: quoting, placeholders, catalog queries, locks, cancel.

Identifiers are always quoted by SQLAlchemy's identifier preparer of the engine, values always go
as bound parameters. The one exception is the cross-engine passthrough into MySQL: there the source
PostgreSQL renders each value as a MySQL literal (quotes doubled, backslashes doubled unless the
session has NO_BACKSLASH_ESCAPES, bytes as X'..'), exactly what mysqlclient's ``executemany`` does
client-side. The engine code (``engine.py``) speaks only through these methods.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_postgresql
from sqlalchemy.dialects import sqlite as sa_sqlite

from warm_archive import typemap
from warm_archive.errors import WarmArchiveError
from warm_archive.typemap import Column
from warm_archive.values import int_runs

_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
GROUP_CONCAT_MAX = 4 << 20  # bytes of one MySQL GROUP_CONCAT (the server's default is 1 KB)


def split_table(table: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table``; each part a plain SQL name, so nothing can be smuggled in."""
    parts = table.split(".")
    if len(parts) > 2 or not all(_PART.match(p) for p in parts):
        raise WarmArchiveError(
            f"table {table!r} is not a valid name: use [schema.]table, each part letters, digits, "
            "'_' or '$', starting with a letter or '_'"
        )
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


class Dialect:
    name: str
    sqlglot: str
    placeholder = "%s"
    _preparer: Any
    reconnect: Any = None  # opens another connection to the same database (cancel, parallel reads)
    location: tuple | None = None  # (engine, host, port, database, user): equal means one database

    def __init__(self, conn, conn_id: str):
        self.conn = conn
        self.conn_id = conn_id

    # -- naming ---------------------------------------------------------------------------------
    def quote(self, ident: str) -> str:
        return self._preparer.quote_identifier(ident)

    def table(self, table: str) -> str:
        schema, name = split_table(table)
        return f"{self.quote(schema)}.{self.quote(name)}" if schema else self.quote(name)

    def cols(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(c) for c in names)

    def params(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)

    def escape_percent(self, sql: str) -> str:
        """User SQL (a where clause) placed in a statement that also carries bound parameters."""
        return sql.replace("%", "%%") if self.placeholder == "%s" else sql

    # -- keys -----------------------------------------------------------------------------------
    def key_after(self, key: Sequence[str], last: Sequence | None) -> tuple[str, list]:
        """Rows strictly after ``last`` in key order (keyset paging)."""
        if last is None:
            return "1=1", []
        if len(key) > 1 and self.name != "mysql":  # row values: one index range scan
            return f"({self.cols(key)}) > ({self.params(len(key))})", list(last)
        # MySQL/MariaDB: the expanded form (a > x) OR (a = x AND b > y) ... uses the index.
        terms, params = [], []
        for i, col in enumerate(key):
            eq = [f"{self.quote(c)} = {self.placeholder}" for c in key[:i]]
            terms.append("(" + " AND ".join(eq + [f"{self.quote(col)} > {self.placeholder}"]) + ")")
            params += list(last[:i]) + [last[i]]
        return "(" + " OR ".join(terms) + ")", params

    def key_between(self, key: Sequence[str], lo: Sequence, hi: Sequence) -> tuple[str, list]:
        if len(key) == 1:
            q = self.quote(key[0])
            return f"{q} >= {self.placeholder} AND {q} <= {self.placeholder}", [lo[0], hi[0]]
        cols = self.cols(key)
        p = self.params(len(key))
        return f"({cols}) >= ({p}) AND ({cols}) <= ({p})", [*lo, *hi]

    def key_in(self, key: Sequence[str], keys: Sequence[tuple], alias: str = "") -> tuple[str, list]:
        q = (lambda c: f"{alias}.{self.quote(c)}") if alias else self.quote
        runs = int_runs(keys) if len(keys) > 64 else None
        if runs is not None and len(runs) <= 16:  # dense ids: index range scans, tiny statement
            col = q(key[0])
            cond = " OR ".join([f"{col} BETWEEN {self.placeholder} AND {self.placeholder}"] * len(runs))
            return f"({cond})", [v for r in runs for v in r]
        if len(key) == 1:
            return f"{q(key[0])} IN ({self.params(len(keys))})", [k[0] for k in keys]
        one = "(" + self.params(len(key)) + ")"
        return (
            f"({', '.join(q(c) for c in key)}) IN ({', '.join([one] * len(keys))})",
            [v for k in keys for v in k],
        )

    # -- catalog --------------------------------------------------------------------------------
    def columns(self, table: str) -> list[Column]:
        raise NotImplementedError

    def unique_keys(self, table: str) -> list[set[str]]:
        """Column sets of the primary key and unique indexes."""
        raise NotImplementedError

    def key_index(self, table: str, key: Sequence[str]) -> str | None:
        """The unique index whose columns are exactly ``key`` in that order, where the engine
        should be told to walk it (see ``batch_scan``); None: leave the choice to the planner."""
        return None

    def batch_scan(self, table: str, key: Sequence[str], index: str | None, hi: Sequence | None) -> tuple[str, str, list]:
        """(``FROM`` target, extra condition, its params) of a batch's keyset read."""
        return self.table(table), "1=1", []

    def create_table(self, table: str, columns: list[Column], key: Sequence[str], source_engine: str):
        defs = []
        for c in columns:
            t = c.native_type if source_engine == self.name else typemap.render(c.canonical, self.name)
            defs.append(f"{self.quote(c.name)} {t}{'' if c.nullable else ' NOT NULL'}")
        defs.append(f"PRIMARY KEY ({self.cols(key)})")
        schema, _ = split_table(table)
        cur = self.conn.cursor()
        if schema and self.name != "sqlite":
            cur.execute(f"CREATE {self._schema_word} IF NOT EXISTS {self.quote(schema)}")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({', '.join(defs)})")
        self.conn.commit()

    _schema_word = "SCHEMA"

    # -- sessions -------------------------------------------------------------------------------
    def setup_session(self):
        """UTC everywhere, so timestamps cross engines unchanged."""

    def begin_snapshot(self):
        """Start a transaction whose reads see one consistent snapshot."""

    def for_update(self) -> str:
        return " FOR UPDATE"

    # A database server: several connections at once, each usable from any thread (SQLite is
    # neither: one writer, and a connection belongs to the thread that opened it).
    serves_many = False

    def begin_row_locks(self) -> None:
        """Make the next transaction's locking reads lock only the rows they return, so that two
        connections can lock neighbouring key ranges at once (no gap or next-key locks)."""

    def try_lock(self, name: str) -> bool:
        return True

    def unlock(self, name: str) -> None:
        pass

    def cancel(self) -> None:
        """Cancel the statement running on ``conn`` (called from another thread or a signal)."""

    def rows_equal(self, a: str, b: str, cols: Sequence[str]) -> str:
        """SQL: rows aliased ``a`` and ``b`` hold the same values (NULL equal to NULL)."""
        return " AND ".join(f"{a}.{self.quote(c)} IS NOT DISTINCT FROM {b}.{self.quote(c)}" for c in cols)

    def delete_rows_equal_to(self, table: str, warm: str, key: Sequence[str], cols: Sequence[str],
                             keys: Sequence[tuple], where_sql: str) -> tuple[str, list]:
        """(SQL, params) deleting the rows of ``keys`` in ``table`` that match ``where_sql`` and
        equal the row of the same key in ``warm`` (same database); each row locked as it is judged.
        The condition is checked on the source alone, where its columns are not ambiguous."""
        on = " AND ".join(f"s.{self.quote(k)} = w.{self.quote(k)}" for k in key)
        cond, params = self.key_in(key, keys)
        inner, iparams = self.key_in(key, keys, alias="s")
        return (f"DELETE FROM {table} s USING {warm} w WHERE {on} AND {inner} AND "
                f"{self.rows_equal('s', 'w', cols)} AND ({', '.join('s.' + self.quote(k) for k in key)}) IN "
                f"(SELECT {self.cols(key)} FROM {table} WHERE {cond} AND ({where_sql}))", [*iparams, *params])

    def row_hash(self, cols: Sequence[str]) -> str | None:
        """SQL giving one text digest per row, identical for identical rows of identical types."""
        return None

    # -- text passthrough across engines (see transfer.passthrough) -----------------------------
    def passthrough_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        """SQL giving one row as one string in the form ``target`` ingests as text (a COPY text
        line for PostgreSQL, a ``(v1,v2,...)`` tuple of SQL literals for MySQL), built by this
        server; None when a column has no such exact form (the batch then goes through Python)."""
        return None

    def canon_expr(self, col: Column) -> str | None:
        """SQL giving the column's canonical text for cross-engine comparison, or None (compare the
        value in Python). Exact, never lossy: equal canonical texts mean equal values. Text
        columns give their bare text (as UTF-8); ``canon_hash`` adds their byte lengths."""
        return None

    def canon_len(self, expr: str) -> str:
        """SQL: the byte length of a canonical text, as text."""
        raise NotImplementedError

    def canon_text(self, items: Sequence[tuple[str, bool, bool]], shorten: int | None = None) -> str:
        """SQL: one row's canonical text, ``items`` being (expression, is free text, has no size
        bound: free text or bytes).

        The byte lengths of the free texts ('~' for NULL), then every canonical text in column
        order, joined by '|'. Numbers, dates and hex never hold '|' and show NULL as '~'; a free
        text is read by its known length and a NULL one is left out (its length says so). So the
        text is injective without copying each text to prefix it, and so are rows joined by '|'
        (each row has a known number of fields). With ``shorten``, a field of more bytes shows
        '#' and its MD5 instead (a free text's length still says which, hex never holds '#'),
        so that a row's text stays small."""
        lengths = [f"COALESCE({self.canon_len(e)}, '~')" for e, text, _ in items if text]
        fields = [self.shortened(e, shorten) if shorten and long else e for e, _, long in items]
        fields = [e if text else f"COALESCE({e}, '~')" for e, (_, text, _) in zip(fields, items)]
        return f"concat_ws('|', {', '.join(lengths + fields)})"

    def canon_hash(self, items: Sequence[tuple[str, bool, bool]]) -> str:
        """SQL: the MD5 digest (hex) of one row's canonical text."""
        return f"md5({self.canon_text(items)})"

    def shortened(self, expr: str, limit: int) -> str:
        """SQL: ``expr``, or '#' and its MD5 when it has more than ``limit`` bytes."""
        raise NotImplementedError

    def text_agg(self, text: str, key: str) -> str:
        """SQL aggregate: the texts joined by '|' in ``key`` order (``deletion.SliceDigest``)."""
        raise NotImplementedError

    def digest_blob(self, digest: str, key: str) -> str | None:
        """SQL aggregate: the raw 16 bytes of each row's hex ``digest``, concatenated in ``key``
        order (``deletion.DigestBlob``); None where the engine has no such aggregate."""
        return None

    def delete_by_digest_blob(self, table: str, key: str, digest: str, ph: str) -> str | None:
        """SQL condition: a row's hex ``digest`` equals the 16 bytes at its position in a blob;
        two parameters ``ph``: the blob, then the slice's first key. None where judging rows this
        way is not cheaper than reading them locked (MariaDB: measured slower)."""
        return None

    def raw_expr(self, col: Column) -> str:
        """SQL reading ``col`` exactly for a comparison in Python (MySQL FLOAT: as DOUBLE)."""
        return self.quote(col.name)

    def ledger_types(self) -> dict[str, str]:
        return {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "str": "VARCHAR(250)", "text": "TEXT",
                "int": "BIGINT", "ts": "VARCHAR(40)"}


class PostgresDialect(Dialect):
    name = "postgres"
    serves_many = True
    sqlglot = "postgres"
    _preparer = sa_postgresql.dialect().identifier_preparer

    def setup_session(self):
        from psycopg.adapt import Dumper

        class _JsonText(Dumper):  # JSON values read back as dicts go out as JSON text
            def dump(self, obj):
                return json.dumps(obj).encode()

        self.conn.adapters.register_dumper(dict, _JsonText)
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.execute("SET DateStyle = 'ISO, MDY'")  # the dates' text that passthrough sends
        self.conn.commit()

    def begin_snapshot(self):
        self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def columns(self, table):
        cur = self.conn.cursor()
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, NOT a.attnotnull, "
            "current_setting('server_encoding') FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (self.table(table),),
        )
        rows = cur.fetchall()
        self.conn.commit()
        out = []
        for name, full, typname, nullable, encoding in rows:
            try:
                canonical = typemap.canonical_from_postgres(typname, full)
            except typemap.UnmappableType:
                canonical = ("unmappable", full)
            text = canonical[0] in ("varchar", "char", "text", "json")  # the database's encoding
            out.append(Column(name, full, nullable, canonical, encoding.lower() if text else None))
        return out

    def unique_keys(self, table):
        cur = self.conn.cursor()
        cur.execute(
            "SELECT array_agg(a.attname::text) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indpred IS NULL "
            "GROUP BY i.indexrelid",
            (self.table(table),),
        )
        rows = cur.fetchall()
        self.conn.commit()
        return [set(r[0]) for r in rows]

    def try_lock(self, name):
        cur = self.conn.cursor()
        cur.execute("SELECT pg_try_advisory_lock(%s)", (_lock_id(name),))
        ok = cur.fetchone()[0]
        self.conn.commit()
        return ok

    def unlock(self, name):
        cur = self.conn.cursor()
        cur.execute("SELECT pg_advisory_unlock(%s)", (_lock_id(name),))
        self.conn.commit()

    def cancel(self):
        self.conn.cancel()

    def row_hash(self, cols):
        return "md5(ROW(" + self.cols(cols) + ")::text)"

    def digest_blob(self, digest, key):
        return f"string_agg(decode({digest}, 'hex'), ''::bytea ORDER BY {key})"

    def text_agg(self, text, key):
        return f"string_agg({text}, '|' ORDER BY {key})"

    def shortened(self, expr, limit):
        return f"CASE WHEN octet_length({expr}) <= {int(limit)} THEN {expr} ELSE '#' || md5({expr}) END"

    def delete_by_digest_blob(self, table, key, digest, ph):
        return f"decode({digest}, 'hex') = substring({ph}::bytea from (({key} - {ph}) * 16 + 1)::int for 16)"

    # Timestamps leave as their ISO text (the session's DateStyle; timestamptz in UTC, without an
    # offset): 'YYYY-MM-DD HH:MM:SS[.ffffff]', which MySQL reads exactly, for a third less
    # PostgreSQL CPU than to_char. BC, infinite and 5-digit-year values keep PostgreSQL's own text
    # behind an 'x', which MySQL refuses and which never equals a MySQL canonical form: an error or
    # a kept row, never a silently different value.
    _TS_KINDS = frozenset(("date", "timestamp", "timestamptz"))

    def _ts_text(self, q: str, kind: str) -> str:
        v = f"({q} AT TIME ZONE 'UTC')" if kind == "timestamptz" else q
        return (f"CASE WHEN isfinite({q}) AND {q} >= '0001-01-01' AND {q} < '10000-01-01' "
                f"THEN {v}::text ELSE 'x' || {q}::text END")

    def _mysql_literal(self, col: Column, target) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        if kind in ("smallint", "int", "bigint", "decimal", "numeric", "real", "double"):
            return f"COALESCE({q}::text, 'NULL')"  # NaN/Infinity stay bare words: MySQL refuses them
        if kind == "bool":
            return f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' ELSE 'NULL' END"
        if kind in self._TS_KINDS:  # digits, '-', ':', '.', ' ' or a word: nothing to escape
            return f"COALESCE(chr(39) || ({self._ts_text(q, kind)}) || chr(39), 'NULL')"
        if kind in ("varchar", "char", "text", "json", "uuid", "time"):
            s = f"{q}::text"
            if not target.no_backslash_escapes:
                s = f"replace({s}, chr(92), chr(92) || chr(92))"
            return f"COALESCE(chr(39) || replace({s}, chr(39), chr(39) || chr(39)) || chr(39), 'NULL')"
        if kind == "bytes":
            return f"COALESCE('X' || chr(39) || encode({q}, 'hex') || chr(39), 'NULL')"
        return None

    def passthrough_row(self, cols, target):
        if target.name != "mysql":
            return None
        parts = [self._mysql_literal(c, target) for c in cols]
        if any(p is None for p in parts):
            return None
        return "'(' || " + " || ',' || ".join(parts) + " || ')'"

    def canon_expr(self, col):
        q, kind = self.quote(col.name), col.canonical[0]
        if kind in ("smallint", "int", "bigint", "decimal", "numeric"):
            return f"{q}::text"
        if kind in ("varchar", "char", "text", "json", "uuid"):
            return f"{q}::text"
        if kind == "bool":
            return f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END"
        if kind == "bytes":
            return f"encode({q}, 'hex')"
        if kind == "date":  # the era always shown; infinity keeps its own word
            return f"COALESCE(to_char({q}, 'YYYY-MM-DD BC'), {q}::text)"
        if kind in self._TS_KINDS:
            # Microseconds since 1970 (UTC), as MySQL's TIMESTAMPDIFF gives them: cheaper for both
            # servers than formatting. EXTRACT is exact (numeric) from PostgreSQL 14 on; before,
            # it is a double, so the value is compared in Python instead.
            if self.conn.info.server_version < 140000:
                return None
            return (f"CASE WHEN isfinite({q}) THEN trunc(extract(epoch FROM {q}) * 1000000)::text "
                    f"ELSE 'x' || {q}::text END")
        return None

    def canon_len(self, expr):
        return f"octet_length({expr})::text"

    def raw_expr(self, col):
        q = self.quote(col.name)  # real reads back as the shortest text, not the float32 value
        return f"{q}::float8" if col.canonical[0] == "real" else q

    def key_in(self, key, keys, alias=""):
        runs = int_runs(keys) if len(keys) > 64 else None
        if len(key) == 1 and runs is None:  # one array parameter: the plan is cached, the statement short
            col = f"{alias}.{self.quote(key[0])}" if alias else self.quote(key[0])
            return f"{col} = ANY({self.placeholder})", [[k[0] for k in keys]]
        return super().key_in(key, keys, alias)

    def ledger_types(self):
        return {"id": "BIGSERIAL PRIMARY KEY", "str": "VARCHAR(250)", "text": "TEXT",
                "int": "BIGINT", "ts": "VARCHAR(40)"}


class MySQLDialect(Dialect):
    name = "mysql"
    serves_many = True
    sqlglot = "mysql"
    _preparer = sa_mysql.dialect().identifier_preparer
    _schema_word = "DATABASE"

    def setup_session(self):
        cur = self.conn.cursor()
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX}")  # digest blobs, slice texts
        cur.execute("SELECT @@SESSION.sql_mode")
        self.no_backslash_escapes = "NO_BACKSLASH_ESCAPES" in _text(cur.fetchone()[0] or "").upper()
        self.conn.autocommit(False)
        # cancel() is called from another thread while this connection is busy, and mysqlclient
        # (>= 2.2) refuses any call on a busy connection from another thread: remember the id now.
        self.thread_id = self.conn.thread_id()

    def begin_snapshot(self):
        self.conn.cursor().execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")

    def begin_row_locks(self):
        # REPEATABLE READ also locks the first row after a range it reads FOR UPDATE, which is the
        # next slice's first row. READ COMMITTED locks the matching rows only; the delete that
        # follows names exactly those (locked) keys, so no gap lock is needed.
        self.conn.commit()  # the level can only be set between transactions
        self.conn.cursor().execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def _where_table(self, table):
        schema, name = split_table(table)
        return "TABLE_SCHEMA = COALESCE(%s, DATABASE()) AND TABLE_NAME = %s", (schema, name)

    def columns(self, table):
        where, params = self._where_table(table)
        cur = self.conn.cursor()
        cur.execute(
            "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME "
            "FROM information_schema.COLUMNS "
            f"WHERE {where} ORDER BY ORDINAL_POSITION",
            params,
        )
        rows = cur.fetchall()
        self.conn.commit()
        out = []
        for name, column_type, data_type, nullable, charset in rows:
            column_type = _text(column_type)
            try:
                canonical = typemap.canonical_from_mysql(_text(data_type), column_type)
            except typemap.UnmappableType:
                canonical = ("unmappable", column_type)
            out.append(Column(_text(name), column_type, nullable == "YES", canonical,
                              _text(charset).lower() if charset else None))
        return out

    def unique_keys(self, table):
        where, params = self._where_table(table)
        cur = self.conn.cursor()
        cur.execute(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            f"WHERE {where} AND NON_UNIQUE = 0",
            params,
        )
        groups: dict[str, set] = {}
        for index, col in cur.fetchall():
            groups.setdefault(_text(index), set()).add(_text(col))
        self.conn.commit()
        return list(groups.values())

    def key_index(self, table, key):
        where, params = self._where_table(table)
        cur = self.conn.cursor()
        cur.execute(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            f"WHERE {where} AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX", params)
        groups: dict[str, list] = {}
        for index, col in cur.fetchall():
            groups.setdefault(_text(index), []).append(_text(col).lower())
        self.conn.commit()
        wanted = [k.lower() for k in key]
        return next((i for i, cols in sorted(groups.items(), key=lambda g: g[0] != "PRIMARY") if cols == wanted), None)

    def batch_scan(self, table, key, index, hi):
        # With a condition on an indexed column (created_at < ...), MariaDB often reads that index
        # and sorts every remaining match to return the first n keys: each batch then costs the
        # whole rest of the job. Walking the key's own index (as pt-archiver does) reads n rows per
        # batch; the planned last key bounds the walk, so the last batch never scans the newer
        # rows. (A row inserted during the run beyond that key waits for the next run.)
        if index is None or hi is None or len(key) != 1:
            return self.table(table), "1=1", []
        return (f"{self.table(table)} FORCE INDEX ({self.quote(index)})",
                f"{self.quote(key[0])} <= {self.placeholder}", [hi[0]])

    def try_lock(self, name):
        cur = self.conn.cursor()
        cur.execute("SELECT GET_LOCK(%s, 0)", (name[:64],))
        return cur.fetchone()[0] == 1

    def unlock(self, name):
        self.conn.cursor().execute("SELECT RELEASE_LOCK(%s)", (name[:64],))

    def cancel(self):
        thread_id = self.thread_id
        other = self.reconnect()
        try:
            other.cursor().execute("KILL QUERY %s", (thread_id,))
        finally:
            other.close()

    no_backslash_escapes = False

    # COPY text lines for PostgreSQL, built by the server: backslash, newline, CR and tab escaped,
    # NULL as \N. Written with CHAR() so that the SQL means the same under any sql_mode.
    _BS = "CHAR(92 USING utf8mb4)"

    # Matches a character COPY must see escaped (backslash, newline, CR, tab): a regular expression
    # test is far cheaper than four REPLACE copies of every text, and few texts need them.
    _NEEDS_ESCAPE = "CONCAT('[', CHAR(92, 92, 10, 13, 9 USING utf8mb4), ']')"
    _UTF8 = ("utf8mb4", "utf8mb3", "utf8", "ascii")

    def _utf8(self, col: Column) -> str:
        """The text column as UTF-8: as it is when it already is, else converted."""
        q = self.quote(col.name)
        return q if col.charset in self._UTF8 else f"CONVERT({q} USING utf8mb4)"

    def _copy_field(self, col: Column) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        null = f"CONCAT({self._BS}, 'N')"
        if kind in ("smallint", "int", "bigint", "decimal", "double", "date", "timestamp"):
            return f"IFNULL({q}, {null})"  # CONCAT_WS prints them in the result's character set
        if kind == "real":  # FLOAT prints 6 digits (16777216 -> 16777200); as DOUBLE it is exact
            return f"IFNULL(CAST({q} AS DOUBLE), {null})"
        if kind in ("varchar", "char", "text", "json"):
            x = escaped = self._utf8(col)
            for code, letter in ((92, None), (10, "n"), (13, "r"), (9, "t")):
                rep = f"CONCAT({self._BS}, {self._BS})" if letter is None else f"CONCAT({self._BS}, '{letter}')"
                escaped = f"REPLACE({escaped}, CHAR({code} USING utf8mb4), {rep})"
            return f"IFNULL(IF({x} REGEXP {self._NEEDS_ESCAPE}, {escaped}, {x}), {null})"
        return None

    def passthrough_row(self, cols, target):
        if target.name != "postgres":
            return None
        parts = [self._copy_field(c) for c in cols]
        if any(p is None for p in parts):
            return None
        return f"CONCAT_WS(CHAR(9 USING utf8mb4), {', '.join(parts)})"

    def canon_expr(self, col):
        q, kind = self.quote(col.name), col.canonical[0]
        if kind in ("smallint", "int", "bigint", "decimal"):
            return f"CAST({q} AS CHAR)"
        if kind in ("varchar", "char", "text", "json"):
            return self._utf8(col)
        if kind == "bytes":
            return f"LOWER(HEX({q}))"
        if kind == "date":
            return f"DATE_FORMAT({q}, '%%Y-%%m-%%d AD')"
        if kind == "timestamp":  # zero dates have no such number: their own text, marked
            return f"COALESCE(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {q}), CONCAT('x', {q}))"
        return None

    def canon_len(self, expr):
        return f"LENGTH({expr})"

    def raw_expr(self, col):
        q = self.quote(col.name)
        return f"CAST({q} AS DOUBLE)" if col.canonical[0] == "real" else q

    def rows_equal(self, a, b, cols):
        return " AND ".join(f"{a}.{self.quote(c)} <=> {b}.{self.quote(c)}" for c in cols)

    def digest_blob(self, digest, key):
        return f"GROUP_CONCAT(UNHEX({digest}) ORDER BY {key} SEPARATOR '')"

    def text_agg(self, text, key):  # cut at group_concat_max_len: SliceDigest checks the length
        return f"GROUP_CONCAT({text} ORDER BY {key} SEPARATOR '|')"

    def shortened(self, expr, limit):
        return f"IF(LENGTH({expr}) <= {int(limit)}, {expr}, CONCAT('#', MD5({expr})))"

    def delete_rows_equal_to(self, table, warm, key, cols, keys, where_sql):
        # A single-table DELETE with EXISTS: MariaDB's multi-table DELETE ... JOIN, with a locking
        # read before it, took 40 % longer for the same rows.
        same = " AND ".join([*(f"{table}.{self.quote(k)} = w.{self.quote(k)}" for k in key),
                             self.rows_equal(table, "w", cols)])
        cond, params = self.key_in(key, keys)
        return (f"DELETE FROM {table} WHERE {cond} AND ({where_sql}) AND "
                f"EXISTS (SELECT 1 FROM {warm} w WHERE {same})", params)

    def row_hash(self, cols):
        # Separator and NULL markers keep ('a', 'bc') apart from ('ab', 'c') and NULL from ''.
        parts = ", ".join(f"COALESCE(HEX(CAST({self.quote(c)} AS BINARY)), '~')" for c in cols)
        return f"MD5(CONCAT_WS('|', {parts}))"

    def ledger_types(self):
        return {"id": "BIGINT AUTO_INCREMENT PRIMARY KEY", "str": "VARCHAR(250)",
                "text": "LONGTEXT", "int": "BIGINT", "ts": "VARCHAR(40)"}


class SQLiteDialect(Dialect):
    name = "sqlite"
    sqlglot = "sqlite"
    placeholder = "?"
    _preparer = sa_sqlite.dialect().identifier_preparer

    def table(self, table):
        schema, name = split_table(table)
        return self.quote(name) if schema in (None, "main") else f"{self.quote(schema)}.{self.quote(name)}"

    def begin_snapshot(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    def for_update(self):
        return ""  # BEGIN IMMEDIATE already holds the write lock for the batch

    def columns(self, table):
        _, name = split_table(table)
        cur = self.conn.execute("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", (name,))
        out = []
        for col, declared, notnull, pk in cur.fetchall():
            try:
                canonical = typemap.canonical_from_sqlite(declared or "")
            except typemap.UnmappableType:
                canonical = ("unmappable", declared)
            out.append(Column(col, declared or "", not (notnull or pk), canonical))
        return out

    def unique_keys(self, table):
        _, name = split_table(table)
        keys = []
        pk = [r[0] for r in self.conn.execute(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0", (name,))]
        if pk:
            keys.append(set(pk))
        for (index,) in self.conn.execute(
                "SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1", (name,)).fetchall():
            keys.append({r[0] for r in self.conn.execute(
                "SELECT name FROM pragma_index_info(?)", (index,))})
        return keys

    def cancel(self):
        self.conn.interrupt()


def _text(v):
    return v.decode() if isinstance(v, bytes | bytearray) else v


def _lock_id(name: str) -> int:
    """A stable signed 64-bit id for an advisory lock name."""
    return zlib.crc32(name.encode()) | (zlib.adler32(name.encode()) << 32) & 0x7FFFFFFFFFFFFFFF


def dialect_for(conn_type: str) -> type[Dialect]:
    conn_type = (conn_type or "").lower()
    if conn_type in ("postgres", "postgresql"):
        return PostgresDialect
    if conn_type in ("mysql", "mariadb"):
        return MySQLDialect
    if conn_type == "sqlite":
        return SQLiteDialect
    raise WarmArchiveError(
        f"connection type {conn_type!r} is not supported: use postgres, mysql or sqlite"
    )


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)
