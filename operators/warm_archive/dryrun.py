"""A dry run's preview of the real run: the first batch's statements, recorded instead of written.

The dry run runs the real code path of the first batch (``copying.BatchCopy``) over *recording*
connections that wrap the job's own: every statement that would write (the warm table's
``INSERT``/``COPY``, ``CREATE TABLE``, the ledger rows, a ``move``'s ``DELETE`` from the source) is
recorded with its bound parameters and not sent; reads run for real, so the keys, bounds and
counts in the recorded statements are the ones the real run would use now. Rows a recorded write
would have changed are counted by a read of the same condition. The list goes into ``warm_status``
as ``dry_run_sql`` (docs/design.md §5). The real run never goes through this module.

The verified delete of ``copy_then_delete`` compares each source row with its warm copy, which a
dry run does not write: where the statement does not depend on that comparison (hot and warm
tables in one database) it is shown exactly; otherwise the list says that it cannot be shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from warm_archive.context import RunContext
from warm_archive.contract import Strategy
from warm_archive.copying import BatchCopy, write_header
from warm_archive.dberrors import db_message
from warm_archive.deletion import CHUNK
from warm_archive.dialects import Dialect
from warm_archive.errors import Terminated, WarmArchiveError
from warm_archive.ledger import Ledger
from warm_archive.plan import JobPlan
from warm_archive.progress import Progress
from warm_archive.sessions import Sessions
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys
from warm_archive.where import EVERY_ROW

log = logging.getLogger(__name__)

NOTHING_TO_DO = {"step": "first batch", "note": "no row matches the condition: the real run would copy nothing"}
MAX_STATEMENT = 2000  # characters of a statement shown (a multi-row INSERT of literals is long)
MAX_PARAMS = 40  # bound values shown per statement
MAX_VALUE = 200  # characters of one text value shown

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|CREATE|ALTER|DROP|TRUNCATE|RENAME|LOAD)\b", re.I)
_WITH_WRITE = re.compile(r"^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.I | re.S)
_COPY_IN = re.compile(r"^\s*COPY\s+[^(].*\bFROM\s+STDIN\b", re.I | re.S)
_SHOWN_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.I)  # not the session's settings and snapshots
_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+(\S+)\s+WHERE\s+(.*)$", re.I | re.S)
_INSERT_SELECT = re.compile(r"^\s*INSERT\s+INTO\s+\S+\s*\([^)]*\)\s*SELECT\s+.*?\s+FROM\s+(.*)$", re.I | re.S)


def is_write(sql: str) -> bool:
    """Would ``sql`` change data or schema (recorded, not run)? Snapshots, settings, locking reads
    and ``COPY (SELECT ...) TO STDOUT`` are reads."""
    return bool(_WRITE.match(sql) or _WITH_WRITE.match(sql) or _COPY_IN.match(sql))


def count_sql(sql: str) -> str | None:
    """A read counting the rows a recorded ``DELETE ... WHERE`` or ``INSERT ... SELECT`` would
    touch (the same table and condition), or None for any other statement."""
    m = _DELETE.match(sql) or _INSERT_SELECT.match(sql)
    if m is None:
        return None
    if m.re is _DELETE:
        return f"SELECT COUNT(*) FROM {m.group(1)} WHERE {m.group(2)}"
    return f"SELECT COUNT(*) FROM {m.group(1)}"


def show_value(v: Any) -> Any:
    """A bound value in a form JSON carries and a page shows: long text cut, bytes as a size."""
    if v is None or isinstance(v, bool | int | float):
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return f"<{len(bytes(v))} bytes>"
    if isinstance(v, dt.date | dt.time | dt.datetime | Decimal | uuid.UUID):
        return str(v)
    if isinstance(v, list | tuple):  # an array parameter (PostgreSQL's = ANY(%s)): its values, cut
        return show_params(v)
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= MAX_VALUE else f"{s[:MAX_VALUE]}... ({len(s)} characters)"


def show_params(params: Any) -> list | dict | None:
    """The first ``MAX_PARAMS`` bound values, and how many were left out."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {str(k): show_value(v) for k, v in list(params.items())[:MAX_PARAMS]}
    values = list(params)
    shown: list = [show_value(v) for v in values[:MAX_PARAMS]]
    if len(values) > MAX_PARAMS:
        shown.append(f"... ({len(values) - MAX_PARAMS} more values)")
    return shown


def show_statement(sql: str) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= MAX_STATEMENT else f"{sql[:MAX_STATEMENT]} ... ({len(sql)} characters)"


class Recorder:
    """The statements of the preview, in the order the real run would run them."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.step = "first batch"

    def add(self, on: str, sql: str, params: Any = None, executed: bool = False, **more: Any) -> None:
        entry = {"step": self.step, "on": on, "executed": executed, "statement": show_statement(sql)}
        shown = show_params(params)
        if shown:
            entry["params"] = shown
        entry.update({k: v for k, v in more.items() if v is not None})
        self.entries.append(entry)

    def note(self, text: str) -> None:
        self.entries.append({"step": self.step, "note": text})


class _RecordedCopy:
    """A ``COPY ... FROM STDIN`` that is recorded: the data it is given is counted, not sent."""

    def __init__(self, recorder: Recorder, on: str, sql: str):
        self.recorder, self.on, self.sql = recorder, on, sql
        self.rows = 0
        self.bytes = 0

    def __enter__(self) -> _RecordedCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            data = f"{self.rows} rows" if self.rows else f"{self.bytes} bytes of COPY data"
            self.recorder.add(self.on, self.sql, data=data)

    def write_row(self, row: Sequence) -> None:
        self.rows += 1

    def write(self, block: bytes | str) -> None:
        self.bytes += len(block)


class RecordingCursor:
    """A DB-API cursor that runs reads and records writes (``rowcount``: the rows a write would
    touch, counted by a read where the statement allows, else the rows it was given)."""

    def __init__(self, real: Any, recorder: Recorder, on: str, absent: Iterable[str]):
        self._real, self._recorder, self._on = real, recorder, on
        self._absent = tuple(absent)  # tables the real run creates first: a read of one finds nothing
        self._fake = False
        self._rowcount = -1

    def execute(self, sql: str, params: Any = None) -> RecordingCursor:
        if not is_write(sql):
            if any(t in sql for t in self._absent):
                self._recorder.add(self._on, sql, params, note="reads a table the real run creates first: no rows")
                self._fake, self._rowcount = True, 0
                return self
            self._fake = False
            self._real.execute(sql, params) if params is not None else self._real.execute(sql)
            if _SHOWN_READ.match(sql):
                self._recorder.add(self._on, sql, params, executed=True)
            return self
        self._fake, self._rowcount = True, self._count(sql, params)
        literal = params is None and " VALUES " in sql  # rows the source rendered as SQL literals (passthrough)
        self._recorder.add(
            self._on,
            sql,
            params,
            rows=self._rowcount if self._rowcount >= 0 else None,
            note="the rows' values are literals in the statement" if literal else None,
        )
        return self

    def executemany(self, sql: str, seq: Sequence) -> RecordingCursor:
        if not is_write(sql):
            self._fake = False
            self._real.executemany(sql, seq)
            return self
        rows = list(seq)
        self._fake, self._rowcount = True, len(rows)
        self._recorder.add(self._on, sql, rows[0] if rows else None, rows=len(rows), note="parameters of the first row")
        return self

    def copy(self, sql: str, params: Any = None) -> Any:
        if is_write(sql):
            return _RecordedCopy(self._recorder, self._on, sql)
        self._recorder.add(self._on, sql, params, executed=True)
        return self._real.copy(sql, params)

    def _count(self, sql: str, params: Any) -> int:
        counting = count_sql(sql)
        if counting is None or any(t in counting for t in self._absent):
            return -1
        self._real.execute(counting, params) if params is not None else self._real.execute(counting)
        return int(self._real.fetchone()[0])

    @property
    def rowcount(self) -> int:
        return self._rowcount if self._fake else self._real.rowcount

    def fetchone(self) -> Any:
        return None if self._fake else self._real.fetchone()

    def fetchall(self) -> list:
        return [] if self._fake else self._real.fetchall()

    def fetchmany(self, size: int | None = None) -> list:
        if self._fake:
            return []
        return self._real.fetchmany(size) if size is not None else self._real.fetchmany()

    def __iter__(self) -> Iterator[Any]:
        return iter(()) if self._fake else iter(self._real)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class RecordingConnection:
    """A DB-API connection whose cursors record writes; transactions end for real (they held reads only)."""

    def __init__(self, real: Any, recorder: Recorder, on: str, absent: Iterable[str]):
        self._real, self._recorder, self._on, self._absent = real, recorder, on, tuple(absent)

    def cursor(self, *args: Any, **kw: Any) -> RecordingCursor:
        return RecordingCursor(self._real.cursor(*args, **kw), self._recorder, self._on, self._absent)

    def execute(self, sql: str, params: Any = None) -> RecordingCursor:  # psycopg's shortcut
        return self.cursor().execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def recording(d: Dialect, recorder: Recorder, on: str, absent: Iterable[str]) -> Dialect:
    """A copy of session ``d`` whose connection records its writes."""
    r = type(d).__new__(type(d))
    r.__dict__.update(d.__dict__)
    r.conn = RecordingConnection(d.conn, recorder, on, absent)
    return r


class _RecordingSessions(Sessions):
    """The job's two sessions, recording; one connection a side (the first batch runs serially)."""

    def __init__(self, src: Dialect, warm: Dialect):  # noqa: D107 - no connection of its own
        self.src, self.warm = src, warm
        self.source_extra, self.warm_extra = [], []

    def source_lanes(self, wanted: int) -> list[Dialect]:
        return [self.src]

    def warm_lanes(self, wanted: int) -> list[Dialect]:
        return [self.warm]


class _RecordingLedger(Ledger):
    """The ledger on the recording warm session. Its rows are recorded, not written, so the id of
    the batch's row is not known: the recorded ``UPDATE`` names it in words."""

    first_keys: str | None = None  # the first batch's keys, encoded, as its ledger row holds them

    def insert(self, cur: Any, **values: Any) -> None:
        if values.get("batch_no") == 1:
            self.first_keys = values.get("keys")
        super().insert(cur, **values)

    def batch_id(self, warm: Dialect, dag_id: str, run_id: str, task_id: str, batch_no: int) -> Any:
        return f"<id of the ledger row of batch {batch_no}>"


def first_batch(plan: JobPlan, sessions: Sessions, ctx: RunContext) -> list[dict]:
    """The statements the real run would run for its header and first batch (and, for
    ``copy_then_delete``, its verified delete of that batch), as ``warm_status.dry_run_sql``.
    ``plan``: the dry run's plan, counted (``plan.counted``). Nothing is written."""
    rec = Recorder()
    src_s, warm_s = sessions.src, sessions.warm
    absent = [] if plan.warm_cols else [warm_s.table(plan.target_table)]
    # only where the warm table would be: a source table elsewhere may carry the same name
    src = recording(src_s, rec, "source", absent if plan.same_db else [])
    warm = recording(warm_s, rec, "warm", absent)
    stats = SqlStats()  # recorded statements took no time: kept out of the job's own statistics
    scratch = RunContext(
        ctx.task_id,
        stats,
        Progress(plan.strategy, plan.source_table, plan.target_table, False, stats),
        ctx.metrics,
        stop_event=ctx.stop_event,
    )
    ledger = _RecordingLedger(warm, stats, plan.target_table)
    try:
        if absent:
            rec.step = "create the warm table"
            warm.create_table(plan.target_table, list(plan.src_cols), list(plan.key), src_s.name)
        rec.step = "ledger header"
        write_header(plan, warm, ledger)
        rec.step = "first batch"
        copy = BatchCopy(plan, _RecordingSessions(src, warm), ledger, scratch)
        copy.first_batch()
        if plan.strategy == Strategy.COPY_THEN_DELETE:
            rec.step = "verified delete"
            _verified_delete(plan, src_s, rec, decode_keys(ledger.first_keys) if ledger.first_keys else [])
    except Terminated:
        raise
    except Exception as e:  # the preview failed where the real run would: say where and why
        for d in (src_s, warm_s):
            try:
                d.conn.rollback()
            except Exception:  # noqa: BLE001 - the error that got us here matters more
                pass
        message = e.args[0] if isinstance(e, WarmArchiveError) and e.args else db_message(e)
        log.warning("dry run: the first batch's statements stop at %s: %s", rec.step, message)
        rec.entries.append({"step": rec.step, "error": str(message)})
    return rec.entries


def _verified_delete(plan: JobPlan, src: Dialect, rec: Recorder, keys: Sequence[tuple]) -> None:
    """``copy_then_delete``: the verified delete runs once every batch is copied (§4.3)."""
    if plan.same_db and plan.same_types and keys:
        sql, params = src.delete_rows_equal_to(
            src.table(plan.source_table),
            src.table(plan.target_table),
            plan.key,
            plan.columns,
            keys[:CHUNK],
            "" if plan.where_sql == EVERY_ROW else src.escape_percent(plan.where_sql),
        )
        rec.add(
            "source",
            sql,
            params,
            note="runs after every batch is copied; deletes the batch's rows that equal their warm copy",
        )
        rec.note("then the batch's ledger row is stamped (source_deleted_at, rows_deleted) in the same transaction")
        return
    rec.note(
        "after every batch is copied, the verified delete compares each source row, locked, with its "
        "warm copy and deletes the equal ones; its statements depend on that comparison, which a dry "
        "run cannot make without writing the warm rows, so they are not shown"
    )
