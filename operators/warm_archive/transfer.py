"""Moving one batch of rows between engines, on the fastest path each pair allows (docs/design.md §4.7).

- PostgreSQL -> PostgreSQL: ``COPY (SELECT ...) TO STDOUT`` streamed straight into
  ``COPY ... FROM STDIN``: the rows are never decoded in Python (binary when the column types are
  identical, text otherwise).
- MySQL/MariaDB <-> PostgreSQL (``passthrough``): the source server renders each row in the form
  the target ingests as text (a ``COPY`` text line for PostgreSQL, a tuple of SQL literals for
  MySQL); Python only joins the strings, no value is decoded. A column without an exact text form
  (MySQL binary/TIME columns into PostgreSQL) sends the table through Python values instead:
- into PostgreSQL from elsewhere: ``COPY ... FROM STDIN`` fed row by row by psycopg.
- into MySQL/MariaDB: multi-row ``INSERT`` (mysqlclient folds ``executemany`` into one statement).
- anything else with a DB-API driver (SQLite): ``executemany``.
Reads go through server-side cursors; memory is bounded by one batch.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from warm_archive.dbapi import Cursor
from warm_archive.dialects import Dialect
from warm_archive.sqlstats import SqlStats
from warm_archive.values import normalize_key

INSERT_CHUNK = 2000  # rows per multi-row INSERT: well under max_allowed_packet for wide rows


def server_cursor(d: Dialect) -> Cursor:
    """A cursor that streams results instead of buffering them client-side."""
    if d.name == "mysql":
        import MySQLdb.cursors  # the driver, imported where it is used: a DAG parse does not pay for it

        return d.conn.cursor(MySQLdb.cursors.SSCursor)
    if d.name == "postgres":
        return d.conn.cursor(name=f"warm_{uuid.uuid4().hex[:12]}")
    return d.conn.cursor()


def adapt_rows(rows: Iterable[Sequence], target: Dialect) -> Iterable[tuple]:
    """Python values from one driver in the form the target's driver accepts faithfully."""
    if target.name == "postgres":
        return rows  # type: ignore[return-value]  # psycopg adapts every type the other engines return
    conv = _to_mysql if target.name == "mysql" else _to_sqlite
    return (tuple(conv(v) for v in r) for r in rows)


def _to_mysql(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, dict | list):
        return json.dumps(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def _to_sqlite(v: Any) -> Any:
    v = _to_mysql(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return v


def insert_rows(target: Dialect, table: str, columns: Sequence[str], rows: Iterable[Sequence], stats: SqlStats) -> int:
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


def copy_pg_to_pg(
    source: Dialect,
    target: Dialect,
    select_sql: str,
    params: list,
    table: str,
    columns: Sequence[str],
    binary: bool,
    stats: SqlStats,
) -> None:
    """Stream a query's result from one PostgreSQL into a table of another, undecoded."""
    fmt = " (FORMAT BINARY)" if binary else ""
    out_sql = f"COPY ({select_sql}) TO STDOUT{fmt}"
    in_sql = f"COPY {target.table(table)} ({target.cols(columns)}) FROM STDIN{fmt}"
    with stats.timed(out_sql), stats.timed(in_sql):
        with source.conn.cursor().copy(out_sql, params) as out, target.conn.cursor().copy(in_sql) as inn:
            for block in out:
                inn.write(block)


def delete_keys(
    d: Dialect, table: str, key: Sequence[str], keys: Sequence[tuple], stats: SqlStats, chunk: int = 5000
) -> int:
    """Delete rows by key, in chunks (short statements, no long locks); returns rows deleted."""
    cur = d.conn.cursor()
    n = 0
    for i in range(0, len(keys), chunk):
        part = keys[i : i + chunk]
        cond, params = d.key_in(key, part)
        stats.execute(cur, f"DELETE FROM {d.table(table)} WHERE {cond}", params)
        n += cur.rowcount
    return n


def select_by_keys(
    d: Dialect,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    keys: Sequence[tuple],
    stats: SqlStats,
    chunk: int = 5000,
) -> list[tuple]:
    cur = d.conn.cursor()
    out: list[tuple] = []
    for i in range(0, len(keys), chunk):
        cond, params = d.key_in(key, keys[i : i + chunk])
        stats.execute(cur, f"SELECT {d.cols(columns)} FROM {d.table(table)} WHERE {cond}", params)
        out.extend(tuple(r) for r in cur.fetchall())
    return out


PASS_CHUNK_ROWS = 500  # rows per fetch and per multi-row INSERT (memory: about three chunks)
PASS_CHUNK_BYTES = 4 << 20  # one multi-row INSERT stays well under max_allowed_packet (16 MB)


def passthrough(
    source: Dialect,
    target: Dialect,
    select_sql: str,
    params: list,
    table: str,
    columns: Sequence[str],
    nkey: int,
    skip: set,
    stats: SqlStats,
    load_data: bool = False,
) -> int:
    """Move rows that the source server already rendered in the target's text form.

    ``select_sql`` returns the key columns, then one string per row: a COPY text line for a
    PostgreSQL target (PostgreSQL parses its own text form); for a MySQL target, a line of
    ``LOAD DATA``'s text form where ``load_data`` (the warm connection allows LOAD DATA LOCAL),
    else a ``(v1,...)`` tuple of SQL literals. Python only concatenates; no value is decoded. Streams through a server-side
    cursor a chunk at a time, so memory stays at one chunk. Rows whose key is in ``skip`` are left
    out. Returns the rows written."""
    cur = server_cursor(source)
    stats.execute(cur, select_sql, params)
    n = 0

    def read() -> Iterator[list[str]]:
        while True:
            rows = cur.fetchmany(PASS_CHUNK_ROWS)
            if not rows:
                return
            if skip:
                rows = [r for r in rows if normalize_key(r[:nkey]) not in skip]
            yield [r[nkey] if r[nkey].__class__ is str else bytes(r[nkey]).decode() for r in rows]

    def chunks() -> Iterator[list[str]]:
        # The next chunk is read from the source while this one is written to the target: the two
        # servers work at the same time (both drivers release the GIL while they wait).
        q: queue.Queue[list[str] | BaseException | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def hand_over(item: list[str] | BaseException | None) -> bool:
            """Put ``item`` for the writer; False once the writer stopped taking (it failed, or
            was cancelled): no put ever waits for a writer that is gone."""
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    pass
            return False

        def produce() -> None:
            try:
                for c in read():
                    if not hand_over(c):
                        return
                hand_over(None)
            except BaseException as e:  # handed to the writer, which raises it
                hand_over(e)

        t = threading.Thread(target=produce, name="warm-passthrough-reader", daemon=True)
        t.start()
        try:
            while True:
                c = q.get()
                if c is None:
                    return
                if isinstance(c, BaseException):
                    raise c
                yield c
        finally:
            stop.set()
            t.join()

    try:
        if target.name == "postgres":
            sql = f"COPY {target.table(table)} ({target.cols(columns)}) FROM STDIN"
            with stats.timed(sql), target.conn.cursor().copy(sql) as copy:
                for lines in chunks():
                    if lines:
                        lines.append("")
                        copy.write("\n".join(lines))
                        n += len(lines) - 1
            return n
        if load_data:
            return target.load_local_rows(table, columns, chunks(), stats)
        head = f"INSERT INTO {target.table(table)} ({target.cols(columns)}) VALUES "
        wcur = target.conn.cursor()

        def flush(rows: list[str]) -> None:
            with stats.timed(head + "(...)"):  # one entry, whatever the literals
                wcur.execute(head + ",".join(rows))

        pending: list[str] = []
        size = 0
        for lines in chunks():
            for line in lines:
                pending.append(line)
                size += len(line)
                if size >= PASS_CHUNK_BYTES:
                    flush(pending)
                    n += len(pending)
                    pending, size = [], 0
            if len(pending) >= PASS_CHUNK_ROWS:
                flush(pending)
                n += len(pending)
                pending, size = [], 0
        if pending:
            flush(pending)
            n += len(pending)
        return n
    finally:
        try:
            cur.close()
        except Exception:  # noqa: BLE001 - the error that got us here matters more
            pass
