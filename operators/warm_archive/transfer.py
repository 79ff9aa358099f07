"""Moving one batch of rows between engines, on the fastest path each pair allows (DESIGN 4.7).

- PostgreSQL -> PostgreSQL: ``COPY (SELECT ...) TO STDOUT`` streamed straight into
  ``COPY ... FROM STDIN``: the rows are never decoded in Python (binary when the column types are
  identical, text otherwise).
- into PostgreSQL from elsewhere: ``COPY ... FROM STDIN`` fed row by row by psycopg.
- into MySQL/MariaDB: multi-row ``INSERT`` (mysqlclient folds ``executemany`` into one statement).
- anything else with a DB-API driver (SQLite): ``executemany``.
Reads go through server-side cursors; memory is bounded by one batch.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from warm_archive.dialects import Dialect

INSERT_CHUNK = 2000  # rows per multi-row INSERT: well under max_allowed_packet for wide rows


def server_cursor(d: Dialect):
    """A cursor that streams results instead of buffering them client-side."""
    if d.name == "mysql":
        import MySQLdb.cursors

        return d.conn.cursor(MySQLdb.cursors.SSCursor)
    if d.name == "postgres":
        import uuid as _uuid

        return d.conn.cursor(name=f"warm_{_uuid.uuid4().hex[:12]}")
    return d.conn.cursor()


def adapt_rows(rows: Iterable[Sequence], target: Dialect) -> Iterable[tuple]:
    """Python values from one driver in the form the target's driver accepts faithfully."""
    if target.name == "postgres":
        return rows  # psycopg adapts every type the other engines return
    conv = _to_mysql if target.name == "mysql" else _to_sqlite
    return (tuple(conv(v) for v in r) for r in rows)


def _to_mysql(v):
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(v, dict | list):
        return json.dumps(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def _to_sqlite(v):
    v = _to_mysql(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return v


def insert_rows(target: Dialect, table: str, columns: Sequence[str], rows: Iterable[Sequence], stats) -> int:
    """Insert ``rows`` into ``table`` inside the target's open transaction; returns the count."""
    rows = adapt_rows(rows, target)
    n = 0
    if target.name == "postgres":
        sql = f"COPY {target.table(table)} ({target.cols(columns)}) FROM STDIN"
        with stats.timed(sql):
            with target.conn.cursor().copy(sql) as copy:
                for r in rows:
                    copy.write_row(r)
                    n += 1
        return n
    sql = f"INSERT INTO {target.table(table)} ({target.cols(columns)}) VALUES ({target.params(len(columns))})"
    cur = target.conn.cursor()
    chunk: list = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= INSERT_CHUNK:
            stats.executemany(cur, sql, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        stats.executemany(cur, sql, chunk)
        n += len(chunk)
    return n


def copy_pg_to_pg(source: Dialect, target: Dialect, select_sql: str, params: list,
                  table: str, columns: Sequence[str], binary: bool, stats) -> None:
    """Stream a query's result from one PostgreSQL into a table of another, undecoded."""
    fmt = " (FORMAT BINARY)" if binary else ""
    out_sql = f"COPY ({select_sql}) TO STDOUT{fmt}"
    in_sql = f"COPY {target.table(table)} ({target.cols(columns)}) FROM STDIN{fmt}"
    with stats.timed(out_sql), stats.timed(in_sql):
        with source.conn.cursor().copy(out_sql, params) as out, target.conn.cursor().copy(in_sql) as inn:
            for block in out:
                inn.write(block)


def delete_keys(d: Dialect, table: str, key: Sequence[str], keys: Sequence[tuple], stats,
                chunk: int = 5000) -> int:
    """Delete rows by key, in chunks (short statements, no long locks); returns rows deleted."""
    cur = d.conn.cursor()
    n = 0
    for i in range(0, len(keys), chunk):
        part = keys[i:i + chunk]
        cond, params = d.key_in(key, part)
        stats.execute(cur, f"DELETE FROM {d.table(table)} WHERE {cond}", params)
        n += cur.rowcount
    return n


def select_by_keys(d: Dialect, table: str, columns: Sequence[str], key: Sequence[str],
                   keys: Sequence[tuple], stats, chunk: int = 5000) -> list[tuple]:
    cur = d.conn.cursor()
    out: list[tuple] = []
    for i in range(0, len(keys), chunk):
        cond, params = d.key_in(key, keys[i:i + chunk])
        stats.execute(cur, f"SELECT {d.cols(columns)} FROM {d.table(table)} WHERE {cond}", params)
        out.extend(tuple(r) for r in cur.fetchall())
    return out
