"""The DB-API 2 cursor as the engine code uses it: one type for a cursor of any driver.

The drivers (psycopg, MySQLdb, sqlite3) ship no common type, and a session's connection is the
driver's own object. A function handed a cursor says so with ``Cursor``: the calls it may make
are checked, and a recording cursor (``dryrun.py``) fits as well as a driver's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """What the engine code calls on a cursor; rows are the driver's (tuples or lists of values)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Any = ..., /) -> object: ...

    def executemany(self, sql: str, seq: Any, /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...

    def fetchmany(self, size: int = ..., /) -> Sequence[Any]: ...

    def close(self) -> object: ...
