"""Comparing rows in SQL: row equality, row digests and canonical texts for the verified delete."""

from __future__ import annotations

from collections.abc import Sequence

from warm_archive.dialects.base import Dialect, where
from warm_archive.dialects.literals import TIMESTAMP_KINDS, utf8_text
from warm_archive.typemap import Column

GROUP_CONCAT_MAX = 4 << 20  # bytes of one MySQL GROUP_CONCAT (the server's default is 1 KB)


class Digest(Dialect):
    """The standard SQL forms; engines override what they write otherwise or faster."""

    def rows_equal(self, a: str, b: str, cols: Sequence[str]) -> str:
        return " AND ".join(f"{a}.{self.quote(c)} IS NOT DISTINCT FROM {b}.{self.quote(c)}" for c in cols)

    def delete_rows_equal_to(
        self, table: str, warm: str, key: Sequence[str], cols: Sequence[str], keys: Sequence[tuple], where_sql: str
    ) -> tuple[str, list]:
        on = " AND ".join(f"s.{self.quote(k)} = w.{self.quote(k)}" for k in key)
        cond, params = self.key_in(key, keys)
        inner, iparams = self.key_in(key, keys, alias="s")
        return (
            f"DELETE FROM {table} s USING {warm} w WHERE {on} AND {inner} AND "
            f"{self.rows_equal('s', 'w', cols)} AND ({', '.join('s.' + self.quote(k) for k in key)}) IN "
            f"(SELECT {self.cols(key)} FROM {table}{where(cond, f'({where_sql})' if where_sql else '')})",
            [*iparams, *params],
        )

    def canon_text(self, items: Sequence[tuple[str, bool, bool]], shorten: int | None = None) -> str:
        """The byte lengths of the free texts ('~' for NULL), then every canonical text in column
        order, joined by '|'. Numbers, dates and hex never hold '|' and show NULL as '~'; a free
        text is read by its known length and a NULL one is left out (its length says so). So the
        text is injective without copying each text to prefix it, and so are rows joined by '|'
        (each row has a known number of fields). With ``shorten``, a field of more bytes shows
        '#' and its MD5 instead (a free text's length still says which, hex never holds '#'),
        so that a row's text stays small."""
        lengths = [f"COALESCE({self.canon_len(e)}, '~')" for e, text, _ in items if text]
        fields = [self.shortened(e, shorten) if shorten and long else e for e, _, long in items]
        fields = [e if text else f"COALESCE({e}, '~')" for e, (_, text, _) in zip(fields, items, strict=True)]
        return f"concat_ws('|', {', '.join(lengths + fields)})"

    def canon_hash(self, items: Sequence[tuple[str, bool, bool]]) -> str:
        return f"md5({self.canon_text(items)})"

    def raw_expr(self, col: Column) -> str:
        return self.quote(col.name)


class PostgresDigest(Digest):
    def row_hash(self, cols: Sequence[str]) -> str | None:
        return "md5(ROW(" + self.cols(cols) + ")::text)"

    def canon_expr(self, col: Column) -> str | None:
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
        if kind in TIMESTAMP_KINDS:
            # Microseconds since 1970 (UTC), as MySQL's TIMESTAMPDIFF gives them: cheaper for both
            # servers than formatting. EXTRACT is exact (numeric) from PostgreSQL 14 on; before,
            # it is a double, so the value is compared in Python instead.
            if self.server_version < 140000:
                return None
            return (
                f"CASE WHEN isfinite({q}) THEN trunc(extract(epoch FROM {q}) * 1000000)::text ELSE 'x' || {q}::text END"
            )
        return None

    def canon_len(self, expr: str) -> str:
        return f"octet_length({expr})::text"

    def raw_expr(self, col: Column) -> str:
        q = self.quote(col.name)  # real reads back as the shortest text, not the float32 value
        return f"{q}::float8" if col.canonical[0] == "real" else q

    def digest_blob(self, digest: str, key: str) -> str | None:
        return f"string_agg(decode({digest}, 'hex'), ''::bytea ORDER BY {key})"

    def text_agg(self, text: str, key: str) -> str:
        return f"string_agg({text}, '|' ORDER BY {key})"

    def shortened(self, expr: str, limit: int) -> str:
        return f"CASE WHEN octet_length({expr}) <= {int(limit)} THEN {expr} ELSE '#' || md5({expr}) END"

    def delete_by_digest_blob(self, table: str, key: str, digest: str, ph: str) -> str | None:
        return f"decode({digest}, 'hex') = substring({ph}::bytea from (({key} - {ph}) * 16 + 1)::int for 16)"


class MySQLDigest(Digest):
    def rows_equal(self, a: str, b: str, cols: Sequence[str]) -> str:
        return " AND ".join(f"{a}.{self.quote(c)} <=> {b}.{self.quote(c)}" for c in cols)

    def delete_rows_equal_to(
        self, table: str, warm: str, key: Sequence[str], cols: Sequence[str], keys: Sequence[tuple], where_sql: str
    ) -> tuple[str, list]:
        # A single-table DELETE with EXISTS: MariaDB's multi-table DELETE ... JOIN, with a locking
        # read before it, took 40 % longer for the same rows.
        same = " AND ".join(
            [*(f"{table}.{self.quote(k)} = w.{self.quote(k)}" for k in key), self.rows_equal(table, "w", cols)]
        )
        cond, params = self.key_in(key, keys)
        return (
            f"DELETE FROM {table}"
            f"{where(cond, f'({where_sql})' if where_sql else '', f'EXISTS (SELECT 1 FROM {warm} w WHERE {same})')}",
            params,
        )

    def row_hash(self, cols: Sequence[str]) -> str | None:
        # Separator and NULL markers keep ('a', 'bc') apart from ('ab', 'c') and NULL from ''.
        parts = ", ".join(f"COALESCE(HEX(CAST({self.quote(c)} AS BINARY)), '~')" for c in cols)
        return f"MD5(CONCAT_WS('|', {parts}))"

    def canon_expr(self, col: Column) -> str | None:
        q, kind = self.quote(col.name), col.canonical[0]
        if kind in ("smallint", "int", "bigint", "decimal"):
            return f"CAST({q} AS CHAR)"
        if kind in ("varchar", "char", "text", "json"):
            return utf8_text(self, col)
        if kind == "bytes":
            return f"LOWER(HEX({q}))"
        if kind == "date":
            return f"DATE_FORMAT({q}, '%%Y-%%m-%%d AD')"
        if kind == "timestamp":  # zero dates have no such number: their own text, marked
            return f"COALESCE(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {q}), CONCAT('x', {q}))"
        return None

    def canon_len(self, expr: str) -> str:
        return f"LENGTH({expr})"

    def raw_expr(self, col: Column) -> str:
        q = self.quote(col.name)
        return f"CAST({q} AS DOUBLE)" if col.canonical[0] == "real" else q

    def digest_blob(self, digest: str, key: str) -> str | None:
        return f"GROUP_CONCAT(UNHEX({digest}) ORDER BY {key} SEPARATOR '')"

    def text_agg(self, text: str, key: str) -> str:  # cut at group_concat_max_len: SliceDigest checks the length
        return f"GROUP_CONCAT({text} ORDER BY {key} SEPARATOR '|')"

    def shortened(self, expr: str, limit: int) -> str:
        return f"IF(LENGTH({expr}) <= {int(limit)}, {expr}, CONCAT('#', MD5({expr})))"
