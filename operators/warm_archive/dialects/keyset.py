"""Keyset paging SQL: which rows come after, between or among given keys, per engine."""

from __future__ import annotations

from collections.abc import Sequence

from warm_archive.dialects.base import Dialect
from warm_archive.values import int_runs


class Keyset(Dialect):
    """Row values (``(a, b) > (x, y)``): one index range scan on PostgreSQL and SQLite."""

    def key_after(self, key: Sequence[str], last: Sequence | None) -> tuple[str, list]:
        if last is None:
            return "", []
        if len(key) > 1:
            return f"({self.cols(key)}) > ({self.params(len(key))})", list(last)
        return self._expanded_after(key, last)

    def _expanded_after(self, key: Sequence[str], last: Sequence) -> tuple[str, list]:
        """(a > x) OR (a = x AND b > y) ...: the form every planner reads as an index range."""
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

    def key_upto(self, key: Sequence[str], hi: Sequence) -> tuple[str, list]:
        if len(key) == 1:
            return f"{self.quote(key[0])} <= {self.placeholder}", [hi[0]]
        return f"({self.cols(key)}) <= ({self.params(len(key))})", list(hi)

    def _expanded_upto(self, key: Sequence[str], hi: Sequence) -> tuple[str, list]:
        """a <= x AND ((a < x) OR (a = x AND b < y) ... OR (a = x AND b = y)): an index range."""
        terms, params = [], []
        for i, col in enumerate(key):
            eq = [f"{self.quote(c)} = {self.placeholder}" for c in key[:i]]
            terms.append("(" + " AND ".join(eq + [f"{self.quote(col)} < {self.placeholder}"]) + ")")
            params += list(hi[:i]) + [hi[i]]
        terms.append("(" + " AND ".join(f"{self.quote(c)} = {self.placeholder}" for c in key) + ")")
        params += list(hi)
        first = f"{self.quote(key[0])} <= {self.placeholder}"
        return f"{first} AND (" + " OR ".join(terms) + ")", [hi[0], *params]

    def batch_scan(self, table: str, key: Sequence[str], index: str | None, hi: Sequence) -> tuple[str, str, list]:
        cond, params = self.key_upto(key, hi)
        return self.table(table), cond, params

    def for_update(self) -> str:
        return " FOR UPDATE"


class PostgresKeyset(Keyset):
    def key_in(self, key: Sequence[str], keys: Sequence[tuple], alias: str = "") -> tuple[str, list]:
        runs = int_runs(keys) if len(keys) > 64 else None
        if len(key) == 1 and runs is None:  # one array parameter: the plan is cached, the statement short
            col = f"{alias}.{self.quote(key[0])}" if alias else self.quote(key[0])
            return f"{col} = ANY({self.placeholder})", [[k[0] for k in keys]]
        return super().key_in(key, keys, alias)


class MySQLKeyset(Keyset):
    def key_after(self, key: Sequence[str], last: Sequence | None) -> tuple[str, list]:
        # MySQL/MariaDB: row values are not an index range there; the expanded form is.
        return ("", []) if last is None else self._expanded_after(key, last)

    def key_upto(self, key: Sequence[str], hi: Sequence) -> tuple[str, list]:
        return super().key_upto(key, hi) if len(key) == 1 else self._expanded_upto(key, hi)

    def batch_scan(self, table: str, key: Sequence[str], index: str | None, hi: Sequence) -> tuple[str, str, list]:
        # With a condition on an indexed column (created_at < ...), MariaDB often reads that index
        # and sorts every remaining match to return the first n keys: each batch then costs the
        # whole rest of the job. Walking the key's own index (as pt-archiver does) reads only the
        # key range of one walk step (walk.py), which ends at ``hi``.
        cond, params = self.key_upto(key, hi)
        if index is None:
            return self.table(table), cond, params
        return f"{self.table(table)} FORCE INDEX ({self.quote(index)})", cond, params


class SQLiteKeyset(Keyset):
    def for_update(self) -> str:
        return ""  # BEGIN IMMEDIATE already holds the write lock for the batch
