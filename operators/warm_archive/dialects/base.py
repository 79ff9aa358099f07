"""The interface of a dialect: the stateless SQL writer of one engine (names, placeholders, SQL)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from warm_archive.errors import WarmArchiveError
from warm_archive.typemap import Column

_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def where(*conds: str) -> str:
    """`` WHERE a AND b`` of the conditions given, the empty ones left out (no WHERE at all when
    none is left): a statement says only what restricts it, so a DBA reads no ``1=1``."""
    said = [c for c in conds if c]
    return f" WHERE {' AND '.join(said)}" if said else ""


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
    """What differs between engines in the SQL text, and nothing else: a dialect holds no
    connection and runs no statement (``session.Session`` does). It only knows the facts of its
    server that change the SQL it writes (``server_version``, ``no_backslash_escapes``), which the
    session sets when it opens.

    Identifiers are always quoted by SQLAlchemy's identifier preparer of the engine, values always
    go as bound parameters; the one exception is the cross-engine passthrough (``literals.py``).
    The SQL comes in jobs, each in its own module, the engines side by side:
    ``keyset.py`` (batch key reads), ``digest.py`` (comparing rows, verified delete),
    ``literals.py`` (rows as text another engine ingests), ``ddl.py`` (table and ledger types).
    A method answering None means "no such fast path here": the engine code then takes the
    general one (reads in Python).
    """

    name: str
    sqlglot: str  # sqlglot's name for the dialect (where.py parses user conditions with it)
    placeholder = "%s"
    _preparer: Any
    # A database server: several connections at once, each usable from any thread (SQLite is
    # neither: one writer, and a connection belongs to the thread that opened it).
    serves_many = False
    server_version = 0  # PostgreSQL: server_version_num (e.g. 150004), set by the session
    no_backslash_escapes = False  # MySQL: the session's sql_mode has NO_BACKSLASH_ESCAPES
    load_local = False  # MySQL: the connection may send LOAD DATA LOCAL (its extra ``local_infile``)

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

    # -- keyset paging (keyset.py) --------------------------------------------------------------
    def key_after(self, key: Sequence[str], last: Sequence | None) -> tuple[str, list]:
        """(condition, params): rows strictly after ``last`` in key order (keyset paging); an
        empty condition for ``last`` None (every row: join it with ``where``)."""
        raise NotImplementedError

    def key_between(self, key: Sequence[str], lo: Sequence, hi: Sequence) -> tuple[str, list]:
        """(condition, params): rows from ``lo`` to ``hi`` in key order, both included."""
        raise NotImplementedError

    def key_in(self, key: Sequence[str], keys: Sequence[tuple], alias: str = "") -> tuple[str, list]:
        """(condition, params): rows whose key is one of ``keys`` (columns under ``alias``)."""
        raise NotImplementedError

    def key_upto(self, key: Sequence[str], hi: Sequence) -> tuple[str, list]:
        """(condition, params): rows up to ``hi`` in key order, ``hi`` included."""
        raise NotImplementedError

    def batch_scan(self, table: str, key: Sequence[str], index: str | None, hi: Sequence) -> tuple[str, str, list]:
        """(``FROM`` target, condition, its params) of a read of the key range ending at ``hi``
        (walk.py): on MySQL/MariaDB the key's own ``index`` is named (``FORCE INDEX``)."""
        raise NotImplementedError

    def for_update(self) -> str:
        """The clause that locks the rows a read returns."""
        raise NotImplementedError

    # -- comparing rows (digest.py) -------------------------------------------------------------
    def rows_equal(self, a: str, b: str, cols: Sequence[str]) -> str:
        """SQL: rows aliased ``a`` and ``b`` hold the same values (NULL equal to NULL)."""
        raise NotImplementedError

    def delete_rows_equal_to(
        self, table: str, warm: str, key: Sequence[str], cols: Sequence[str], keys: Sequence[tuple], where_sql: str
    ) -> tuple[str, list]:
        """(SQL, params) deleting the rows of ``keys`` in ``table`` that match ``where_sql`` (empty: every row) and
        equal the row of the same key in ``warm`` (same database); each row locked as it is judged.
        The condition is checked on the source alone, where its columns are not ambiguous."""
        raise NotImplementedError

    def row_hash(self, cols: Sequence[str]) -> str | None:
        """SQL giving one text digest per row, identical for identical rows of identical types."""
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
        bound: free text or bytes). See ``digest.Digest.canon_text``."""
        raise NotImplementedError

    def canon_hash(self, items: Sequence[tuple[str, bool, bool]]) -> str:
        """SQL: the MD5 digest (hex) of one row's canonical text."""
        raise NotImplementedError

    def shortened(self, expr: str, limit: int) -> str:
        """SQL: ``expr``, or '#' and its MD5 when it has more than ``limit`` bytes."""
        raise NotImplementedError

    def text_agg(self, text: str, key: str) -> str:
        """SQL aggregate: the texts joined by '|' in ``key`` order (``slice_digests.SliceDigest``)."""
        raise NotImplementedError

    def digest_blob(self, digest: str, key: str) -> str | None:
        """SQL aggregate: the raw 16 bytes of each row's hex ``digest``, concatenated in ``key``
        order (``slice_digests.DigestBlob``); None where the engine has no such aggregate."""
        return None

    def delete_by_digest_blob(self, table: str, key: str, digest: str, ph: str) -> str | None:
        """SQL condition: a row's hex ``digest`` equals the 16 bytes at its position in a blob;
        two parameters ``ph``: the blob, then the slice's first key. None where judging rows this
        way is not cheaper than reading them locked (MariaDB: measured slower)."""
        return None

    def raw_expr(self, col: Column) -> str:
        """SQL reading ``col`` exactly for a comparison in Python (MySQL FLOAT: as DOUBLE)."""
        raise NotImplementedError

    # -- text passthrough across engines (literals.py, used by transfer.passthrough) ------------
    def load_data_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        """SQL of one row as a line of ``LOAD DATA``'s default text form (tab-separated,
        backslash-escaped, NULL as \\N) for a MySQL ``target``, or None where this engine
        cannot render it."""
        return None

    def passthrough_row(self, cols: Sequence[Column], target: Dialect) -> str | None:
        """SQL giving one row as one string in the form ``target`` ingests as text (a COPY text
        line for PostgreSQL, a ``(v1,v2,...)`` tuple of SQL literals for MySQL), built by this
        server; None when a column has no such exact form (the batch then goes through Python)."""
        return None

    # -- DDL (ddl.py) ---------------------------------------------------------------------------
    def create_table_sql(
        self, table: str, columns: Sequence[Column], key: Sequence[str], source_engine: str
    ) -> list[str]:
        """The statements creating the warm table (and its schema) for ``columns``."""
        raise NotImplementedError

    def ledger_types(self) -> dict[str, str]:
        """The ledger's column types in this engine's words, by kind (id, str, text, int, ts)."""
        raise NotImplementedError
