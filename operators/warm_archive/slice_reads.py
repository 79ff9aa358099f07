"""A slice of a verified delete's keys read on either side as comparable contents (docs/design.md §4.3).

Whatever the comparison, a slice's rows are read the same way, by its key range or by its keys
(``dense_enough``), and become key -> content: the values themselves, the server's row digest
(same engine and types), or across engines a digest of a canonical text that both servers
compute (``canon_plan``: which columns have one; the rest are compared as normalised values).
The pipeline (``slice_pipeline.py``) compares what two such reads return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from warm_archive.dialects import Dialect
from warm_archive.plan import JobPlan, condition
from warm_archive.sqlstats import SqlStats
from warm_archive.values import normalize_key, normalize_row

# Per column across engines: (source SQL, warm SQL, is free text, has no size bound) of its
# canonical text, or None where the value is compared in Python (``canon_plan``).
Canon = list[tuple[str, str, bool, bool] | None]
# A slice's rows: row key (as the slice's key function makes it) -> its content (a digest, or the
# row's values as the driver returned them: any type).
Contents = dict[Any, Any]


def read_slice(
    d: Dialect,
    table: str,
    plan: JobPlan,
    stats: SqlStats,
    part: Sequence[tuple],
    content: str,
    where_sql: str | None = None,
    lock: bool = False,
    by_range: bool = True,
) -> Sequence[Any]:
    """Rows (key columns, then ``content``) of ``table`` for the keys of ``part`` that match
    ``where_sql``, locked when ``lock``: read by the part's key range (a slice of the batch's key
    order, dense) or, ``by_range`` False, by exactly its keys (a few scattered rows)."""
    if by_range:
        cond, params = d.key_between(plan.key, tuple(part[0]), tuple(part[-1]))
    else:
        cond, params = d.key_in(plan.key, part)
    where = f" AND {c}" if (c := condition(d, where_sql)) else ""
    cur = d.conn.cursor()
    stats.execute(
        cur,
        f"SELECT {d.cols(plan.key)}, {content} FROM {d.table(table)} WHERE {cond}{where}"
        f"{d.for_update() if lock else ''}",
        params,
    )
    rows = cur.fetchall()
    cur.close()
    return rows


def read_values(
    d: Dialect,
    table: str,
    plan: JobPlan,
    stats: SqlStats,
    part: Sequence[tuple],
    use_hash: bool = False,
    where_sql: str | None = None,
    lock: bool = False,
    by_range: bool = True,
) -> Contents:
    """key -> comparable content of the rows of ``part``: the server's row digest (same engine and
    column types), the raw values (one driver returns equal rows as equal tuples), or across engines
    the values in one normalised form."""
    raw = plan.same_types
    content = d.row_hash(plan.columns) if use_hash else d.cols(plan.columns)
    n = len(plan.key)
    out: Contents = {}
    for r in read_slice(d, table, plan, stats, part, content, where_sql, lock, by_range):
        out[normalize_key(r[:n])] = r[n] if use_hash else tuple(r[n:]) if raw else normalize_row(r[n:])
    return out


_FAMILY: dict[str, str] = {
    "smallint": "num",
    "int": "num",
    "bigint": "num",
    "decimal": "num",
    "numeric": "num",
    "bool": "num",
    "varchar": "text",
    "char": "text",
    "text": "text",
    "json": "text",
    "uuid": "text",
    "bytes": "bytes",
    "date": "date",
    "timestamp": "ts",
    "timestamptz": "ts",
}


def canon_plan(plan: JobPlan, src: Dialect, warm: Dialect) -> Canon | None:
    """Across engines: per column, (source SQL, warm SQL, is free text, has no size bound) of its
    canonical text, or None when the value is compared in Python (floats, times, columns whose two
    types are not of one family). None as a whole when either side cannot hash."""
    if not plan.warm_cols or src.name not in ("postgres", "mysql") or warm.name not in ("postgres", "mysql"):
        return None
    canon: Canon = []
    for sc, wc in zip(plan.src_cols, plan.warm_cols):
        a, b = src.canon_expr(sc), warm.canon_expr(wc)
        family = _FAMILY.get(sc.canonical[0], "?")
        same_family = family == _FAMILY.get(wc.canonical[0], "!")
        canon.append((a, b, family == "text", family in ("text", "bytes")) if a and b and same_family else None)
    if not any(canon):
        return None
    return canon


def row_key_fn(n: int) -> Callable[[Sequence[Any]], Any]:
    """The dict key of a row whose first ``n`` values are its key: for a one-column key the bare
    value (no tuple per row), normalised unless it is an int or a str; else the normalised key
    tuple. Bare on both sides, a MariaDB BIGINT UNSIGNED key (an int) finds its PostgreSQL
    NUMERIC(20) copy (a Decimal): equal numbers hash alike."""
    if n == 1:
        return lambda r: r[0] if r[0].__class__ in (int, str) else normalize_key(r[:1])[0]
    return lambda r: normalize_key(r[:n])


def read_digests(
    d: Dialect,
    table: str,
    plan: JobPlan,
    stats: SqlStats,
    part: Sequence[tuple],
    canon: Canon,
    side: int,
    where_sql: str | None = None,
    lock: bool = False,
    by_range: bool = True,
) -> Contents:
    """key -> digest of the hashed columns (plus, when some columns are compared in Python, their
    normalised values)."""
    items = [(pl[side], *pl[2:]) for pl in canon if pl]
    cols = plan.src_cols if side == 0 else plan.warm_cols
    raw_cols = [d.raw_expr(c) for c, pl in zip(cols, canon) if not pl]
    content = d.canon_hash(items) + (", " + ", ".join(raw_cols) if raw_cols else "")
    n = len(plan.key)
    key = row_key_fn(n)
    rows = read_slice(d, table, plan, stats, part, content, where_sql, lock, by_range)
    if not raw_cols:
        out = {key(r): r[n] for r in rows}
    else:
        out = {key(r): (r[n], normalize_row(r[n + 1 :])) for r in rows}
    del rows
    return out


DENSE = 2  # a slice read by its key range spans at most this many integers per key


def dense_enough(plan: JobPlan, part: Sequence[tuple]) -> bool:
    """Do the keys of ``part`` (in key order) fill their integer range closely enough to read
    it by range: at most ``DENSE`` times as many integers as keys?"""
    if not (plan.int_key and part):
        return False
    return int(part[-1][0]) - int(part[0][0]) + 1 <= DENSE * len(part)
