"""Every distinct statement a job runs, how often and for how long (docs/design.md §4.6)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from warm_archive.contract import StatementKind
from warm_archive.dbapi import Cursor

_PLACEHOLDER_LIST = re.compile(r"\((?:\s*(?:%s|\?)\s*,)+\s*(?:%s|\?)\s*\)")
_TUPLE_LIST = re.compile(r"(?:\(\.\.\.\)\s*,\s*)+\(\.\.\.\)")
_SPACE = re.compile(r"\s+")

MAX_STATEMENTS = 50

C = TypeVar("C", bound=Cursor)


def shape(sql: str) -> str:
    """The statement with its parameter lists folded: ``IN (%s, %s, %s)`` -> ``IN (...)``."""
    sql = _PLACEHOLDER_LIST.sub("(...)", sql)
    sql = _TUPLE_LIST.sub("(...)", sql)
    return _SPACE.sub(" ", sql).strip()


class SqlStats:
    """Per distinct statement: how often it ran, its total and its longest time, and its kind
    (the run's work, or a check: said where the statement is built, ``StatementKind``).
    ``keep_times`` (the benchmark): also every single time, by statement, for percentiles."""

    def __init__(self, keep_times: bool = False):
        self._stats: dict[str, list] = {}  # shape -> [count, seconds, max seconds, kind]
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] | None = {} if keep_times else None

    @contextmanager
    def timed(self, sql: str, kind: StatementKind = StatementKind.WORK) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(sql, time.perf_counter() - start, kind=kind)

    def add(self, sql: str, seconds: float, count: int = 1, kind: StatementKind = StatementKind.WORK) -> None:
        key = shape(sql)
        with self._lock:
            entry = self._stats.get(key)
            if entry is None:
                if len(self._stats) >= MAX_STATEMENTS:
                    key = "(other statements)"
                entry = self._stats.setdefault(key, [0, 0.0, 0.0, kind])
            entry[0] += count
            entry[1] += seconds
            entry[2] = max(entry[2], seconds / max(count, 1))
            if self.times is not None:
                self.times.setdefault(key, []).append(seconds)

    def execute(self, cur: C, sql: str, params: Any = None, kind: StatementKind = StatementKind.WORK) -> C:
        with self.timed(sql, kind):
            cur.execute(sql, params) if params is not None else cur.execute(sql)
        return cur

    def executemany(self, cur: C, sql: str, seq: Any) -> C:
        with self.timed(sql):
            cur.executemany(sql, seq)
        return cur

    def as_list(self) -> list[dict]:
        with self._lock:
            return [
                {"statement": s, "count": c, "seconds": round(t, 4), "max_seconds": round(m, 4), "kind": k}
                for s, (c, t, m, k) in self._stats.items()
            ]
