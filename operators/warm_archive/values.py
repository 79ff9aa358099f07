"""Values that must survive a trip through JSON (ledger keys, overwritten rows) and comparisons
across engines (verified deletion, checksums)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, overload

from warm_archive.dbapi import Cursor

# tag -> (the Python types it stands for, to JSON, from JSON)
_TAGS: dict[str, tuple[type | tuple[type, ...], Callable[[Any], Any], Callable[[Any], Any]]] = {
    "d": (Decimal, str, Decimal),
    "b": ((bytes, bytearray, memoryview), lambda v: base64.b64encode(bytes(v)).decode(), base64.b64decode),
    "dt": (dt.datetime, dt.datetime.isoformat, dt.datetime.fromisoformat),
    "da": (dt.date, dt.date.isoformat, dt.date.fromisoformat),
    "t": (dt.time, dt.time.isoformat, dt.time.fromisoformat),
    "td": (dt.timedelta, lambda v: v.total_seconds(), lambda s: dt.timedelta(seconds=s)),
    "u": (uuid.UUID, str, uuid.UUID),
}


def _enc(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    for tag, (types, to, _) in _TAGS.items():
        if isinstance(v, types):
            return {"$": tag, "v": to(v)}
    if isinstance(v, dict | list):  # JSON columns
        return {"$": "j", "v": v}
    raise TypeError(f"cannot encode {type(v).__name__}")


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        tag = v["$"]
        return v["v"] if tag == "j" else _TAGS[tag][2](v["v"])
    return v


def encode_rows(rows: Iterable[Sequence[Any]]) -> str:
    return json.dumps([[_enc(v) for v in r] for r in rows], separators=(",", ":"))


def decode_rows(text: str | None) -> list[tuple]:
    return [tuple(_dec(v) for v in r) for r in json.loads(text)] if text else []


class IntKeys(Sequence[tuple]):
    """A batch's keys where the key is one integer column, in ascending order, 8 bytes each: a
    list of 1-tuples costs about 90 bytes a key, and a job holds two batches' keys while it
    copies and one while it deletes. Reads as the list of ``(key,)`` tuples it replaces."""

    __slots__ = ("values", "_runs")

    def __init__(self, values: array):
        self.values = values
        self._runs: list[tuple[int, int]] | None = None

    @classmethod
    def span(cls, first: int, last: int) -> IntKeys:
        """Every integer from ``first`` to ``last``."""
        keys = cls(array("q", range(first, last + 1)))
        keys._runs = [(first, last)]
        return keys

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> tuple[int]: ...

    @overload
    def __getitem__(self, i: slice) -> IntKeys: ...

    def __getitem__(self, i: int | slice) -> tuple[int] | IntKeys:
        if isinstance(i, slice):
            return IntKeys(self.values[i])
        return (self.values[i],)

    def __iter__(self) -> Iterator[tuple[int]]:
        return zip(self.values)  # (key,) tuples, made in C

    def runs(self) -> list[tuple[int, int]]:
        """Consecutive runs, ``[(first, last)]`` at once when the keys are dense (ascending and
        unique: as many keys as integers from the first to the last)."""
        if self._runs is None:
            v = self.values
            if not v:
                self._runs = []
            elif v[-1] - v[0] + 1 == len(v):
                self._runs = [(v[0], v[-1])]
            else:
                self._runs = _consecutive_runs(v)
        return self._runs  # type: ignore[return-value]  # set just above


def fetch_keys(cur: Cursor, chunk: int = 5000) -> Sequence[tuple]:
    """The key rows of an executed ``cur`` as a batch's key list, fetched a chunk at a time:
    ``IntKeys`` for one integer column that fits in 64 bits, else tuples."""
    rows = cur.fetchmany(chunk)
    if not (rows and len(rows[0]) == 1 and rows[0][0].__class__ is int):
        return [tuple(r) for r in rows] + [tuple(r) for r in cur.fetchall()]
    values = array("q")
    while rows:
        try:
            values += array("q", [r[0] for r in rows])
        except (OverflowError, TypeError):  # BIGINT UNSIGNED beyond 2**63
            return [(v,) for v in values] + [tuple(r) for r in rows] + [tuple(r) for r in cur.fetchall()]
        rows = cur.fetchmany(chunk)
    return IntKeys(values)


def encode_keys(keys: Sequence[tuple]) -> str:
    """Keys of one batch. Runs of consecutive integers (the usual id column) shrink to ranges."""
    runs = int_runs(keys)
    if runs is not None:
        return json.dumps({"runs": runs}, separators=(",", ":"))
    return json.dumps({"keys": json.loads(encode_rows(keys))}, separators=(",", ":"))


def decode_keys(text: str | None) -> Sequence[tuple]:
    if not text:
        return []
    obj = json.loads(text)
    if "runs" in obj:
        values = array("q")
        try:
            for a, b in obj["runs"]:
                values.extend(range(a, b + 1))
        except OverflowError:  # BIGINT UNSIGNED beyond 2**63
            return [(k,) for a, b in obj["runs"] for k in range(a, b + 1)]
        return IntKeys(values)
    return [tuple(_dec(v) for v in k) for k in obj["keys"]]


def normalize(v: Any) -> Any:
    """One comparable form for a value read from any engine (for verification and checksums)."""
    if isinstance(v, memoryview | bytearray):
        return bytes(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return v.normalize() if v == v else v
    if isinstance(v, float) and v.is_integer():
        return v
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v
    if isinstance(v, dt.time) and v.tzinfo is None:  # MySQL TIME reads as a timedelta
        return dt.timedelta(hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    if isinstance(v, str) and v[:1] in "{[":
        try:  # JSON kept as text in MySQL: compare its meaning, not its spacing
            return json.dumps(json.loads(v), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return v
    return v


_PLAIN = frozenset((int, float, type(None)))


def normalize_row(row: Iterable[Any]) -> tuple:
    # The hot loop of cross-engine verification: plain values skip the type tests.
    return tuple(
        v if v.__class__ in _PLAIN or (v.__class__ is str and (not v or v[0] not in "{[")) else normalize(v)
        for v in row
    )


def normalize_key(key: Sequence[Any]) -> tuple:
    if all(v.__class__ in _PLAIN or v.__class__ is str for v in key):
        return tuple(key)
    return tuple(normalize(v) for v in key)


def int_runs(keys: Sequence[tuple]) -> list[tuple[int, int]] | None:
    """Consecutive runs of a single integer key (``[(1, 20000)]`` for a dense id batch), else None."""
    if keys.__class__ is IntKeys:
        return keys.runs() or None
    if not keys or len(keys[0]) != 1:
        return None
    return _consecutive_runs(k for (k,) in keys)


def _consecutive_runs(ints: Iterable[Any]) -> list[tuple[int, int]] | None:
    """``[(first, last)]`` of each run of consecutive ints; None at the first value not an int."""
    runs: list[list[int]] = []
    for k in ints:
        if k.__class__ is not int:
            return None
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return [(a, b) for a, b in runs]
