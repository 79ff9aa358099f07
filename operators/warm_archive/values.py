"""Values that must survive a trip through JSON (ledger keys, overwritten rows) and comparisons
across engines (verified deletion, checksums)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal

_TAGS = {
    "d": (Decimal, str, Decimal),
    "b": ((bytes, bytearray, memoryview), lambda v: base64.b64encode(bytes(v)).decode(), base64.b64decode),
    "dt": (dt.datetime, dt.datetime.isoformat, dt.datetime.fromisoformat),
    "da": (dt.date, dt.date.isoformat, dt.date.fromisoformat),
    "t": (dt.time, dt.time.isoformat, dt.time.fromisoformat),
    "td": (dt.timedelta, lambda v: v.total_seconds(), lambda s: dt.timedelta(seconds=s)),
    "u": (uuid.UUID, str, uuid.UUID),
}


def _enc(v):
    if v is None or isinstance(v, bool | int | float | str):
        return v
    for tag, (types, to, _) in _TAGS.items():
        if isinstance(v, types):
            return {"$": tag, "v": to(v)}
    if isinstance(v, dict | list):  # JSON columns
        return {"$": "j", "v": v}
    raise TypeError(f"cannot encode {type(v).__name__}")


def _dec(v):
    if isinstance(v, dict):
        tag = v["$"]
        return v["v"] if tag == "j" else _TAGS[tag][2](v["v"])
    return v


def encode_rows(rows) -> str:
    return json.dumps([[_enc(v) for v in r] for r in rows], separators=(",", ":"))


def decode_rows(text: str | None) -> list[tuple]:
    return [tuple(_dec(v) for v in r) for r in json.loads(text)] if text else []


def encode_keys(keys: list[tuple]) -> str:
    """Keys of one batch. Runs of consecutive integers (the usual id column) shrink to ranges."""
    runs = int_runs(keys)
    if runs is not None:
        return json.dumps({"runs": runs}, separators=(",", ":"))
    return json.dumps({"keys": json.loads(encode_rows(keys))}, separators=(",", ":"))


def decode_keys(text: str | None) -> list[tuple]:
    if not text:
        return []
    obj = json.loads(text)
    if "runs" in obj:
        return [(k,) for a, b in obj["runs"] for k in range(a, b + 1)]
    return [tuple(_dec(v) for v in k) for k in obj["keys"]]


def normalize(v):
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
            v = v.astimezone(dt.timezone.utc).replace(tzinfo=None)
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


def normalize_row(row) -> tuple:
    # The hot loop of cross-engine verification: plain values skip the type tests.
    return tuple(
        v if v.__class__ in _PLAIN or (v.__class__ is str and (not v or v[0] not in "{["))
        else normalize(v)
        for v in row
    )


def normalize_key(key) -> tuple:
    if all(v.__class__ in _PLAIN or v.__class__ is str for v in key):
        return tuple(key)
    return tuple(normalize(v) for v in key)


def int_runs(keys: list[tuple]) -> list[tuple[int, int]] | None:
    """Consecutive runs of a single integer key (``[(1, 20000)]`` for a dense id batch), else None."""
    if not keys or len(keys[0]) != 1:
        return None
    runs: list[list[int]] = []
    for (k,) in keys:
        if k.__class__ is not int:
            return None
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return [(a, b) for a, b in runs]
