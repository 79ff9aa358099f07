"""Verified deletion of archived rows from the source (docs/design.md §4.3).

A source row is deleted only if, while it is locked, the same key with the same content is in the
warm table and the row still matches the job's condition. Rows changed since their copy stay in the
source; they are counted and their keys logged, and the next run archives their new content.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from typing import Any, ParamSpec, TypeVar, cast

from warm_archive import failpoints, transfer
from warm_archive.context import RunContext
from warm_archive.contract import SourceStatus
from warm_archive.dialects import GROUP_CONCAT_MAX, Dialect
from warm_archive.ledger import Batch, Ledger, now
from warm_archive.plan import JobPlan
from warm_archive.progress import Progress
from warm_archive.sessions import Sessions
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys, int_runs, normalize_key, normalize_row

log = logging.getLogger(__name__)

LOG_KEYS = 20
CHUNK = 20000  # keys per statement (dense integer keys become a few BETWEEN ranges)
VERIFY_CHUNK = 5000  # rows per side held in memory while comparing across connections
HASH_CHUNK = 2500  # keys per slice when comparing digests (a key and a 32-char digest per row)

P = ParamSpec("P")
T = TypeVar("T")
# Per column across engines: (source SQL, warm SQL, is free text, has no size bound) of its
# canonical text, or None where the value is compared in Python (``canon_plan``).
Canon = list[tuple[str, str, bool, bool] | None]
# A slice's rows: row key (as the slice's key function makes it) -> its content (a digest, or the
# row's values as the driver returned them: any type).
Contents = dict[Any, Any]
# A slice's rows in one read: (side: 0 source, 1 warm; keys; condition; lock; read by range).
SliceReader = Callable[[Dialect, int, Sequence[tuple], str | None, bool, bool], Contents]
# What the warm side of a slice answers: its digests in one string (``DigestBlob``), its count and
# digest (``SliceDigest``), or its rows.
WarmSide = bytes | tuple | Contents
# (deleted, keys missing from the warm table, keys whose contents differ) of a slice or a batch.
Judged = tuple[int, list, list]


def _slice(
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
    where = f" AND ({d.escape_percent(where_sql)})" if where_sql else ""
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


def _values(
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
    for r in _slice(d, table, plan, stats, part, content, where_sql, lock, by_range):
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


def _key_fn(n: int) -> Callable[[Sequence[Any]], Any]:
    """The dict key of a row whose first ``n`` values are its key: for a one-column key the bare
    value (no tuple per row), normalised unless it is an int or a str; else the normalised key
    tuple. Bare on both sides, a MariaDB BIGINT UNSIGNED key (an int) finds its PostgreSQL
    NUMERIC(20) copy (a Decimal): equal numbers hash alike."""
    if n == 1:
        return lambda r: r[0] if r[0].__class__ in (int, str) else normalize_key(r[:1])[0]
    return lambda r: normalize_key(r[:n])


def _digests(
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
    key = _key_fn(n)
    rows = _slice(d, table, plan, stats, part, content, where_sql, lock, by_range)
    if not raw_cols:
        out = {key(r): r[n] for r in rows}
    else:
        out = {key(r): (r[n], normalize_row(r[n + 1 :])) for r in rows}
    del rows
    return out


class _Slices:
    """The verified delete of key slices, two connections to each side, across many batches.

    ``read(d, side, part, where_sql, lock, by_range)`` gives key -> content (``key`` makes the dict
    key of a ``keys`` entry). Slices of ``chunk`` keys take turns on two connections to each side:
    the warm rows of the next slice are read ahead, and the source rows of each slice are locked,
    compared and deleted in one transaction, so that one slice's delete overlaps the next one's
    reads. The slices of all batches stream through one pipeline: a batch's last slice does not
    wait for an empty pipeline, nor does the next batch's first slice start one. A slice's memory
    is its rows' keys and contents; at most five slices are held. With ``blob``, a dense slice
    that the warm table holds whole is judged by one DELETE on the source (``DigestBlob``); with
    ``sums``, by one digest a side (``SliceDigest``), and row by row only if they differ."""

    def __init__(
        self,
        plan: JobPlan,
        sessions: Sessions,
        ctx: RunContext,
        chunk: int,
        read: SliceReader,
        key: Callable[[Sequence[Any]], Any],
        where_sql: str,
        by_range: bool = True,
        blob: DigestBlob | None = None,
        sums: SliceDigest | None = None,
    ) -> None:
        self.plan, self.sessions, self.ctx = plan, sessions, ctx
        self.chunk, self.read, self.key = chunk, read, key
        self.where_sql, self.by_range, self.blob, self.sums = where_sql, by_range, blob, sums
        self.whole_slice = blob or sums  # reads a dense slice's warm rows as one value
        self._running: dict[int, tuple[int, Future[Judged]]] = {}  # lane -> (slice number, its future)
        self._ahead: dict[int, Future[WarmSide]] = {}  # slice number -> its warm read
        self._warm_pools: list[Executor] = []

    def run(self, key_lists: Iterable[Sequence[tuple]], batch_done: Callable[[int, Judged], None]) -> None:
        """Delete the rows of each key list whose source content equals the warm one;
        ``batch_done(i, (deleted, kept: missing from the warm table, differ: contents differ))``
        runs in this thread, in list order, once the last slice of list ``i`` committed (an
        empty list has none). Slices of later lists may be running then: ``drain`` waits for
        them; ``on_warm`` runs a statement on the job's own warm connection between its reads.
        The lists are read one at a time, as their slices are reached."""
        sessions, chunk = self.sessions, self.chunk
        slices = (
            (i, keys[j : j + chunk], j + chunk >= len(keys))
            for i, keys in enumerate(key_lists)
            for j in range(0, len(keys), chunk)
        )
        pending: dict[
            int, tuple[int, Sequence[tuple], bool]
        ] = {}  # slice number -> (list index, keys, last of its list)

        def pull(n: int) -> bool:
            if n not in pending and (nxt := next(slices, None)) is not None:
                pending[n] = nxt
            return n in pending

        if not pull(0):
            return
        # Two connections a side once slices are whole (on a tiny table MariaDB may scan past
        # a slice's rows, and two connections locking the same rows can deadlock).
        many = pull(1) and len(pending[0][1]) == chunk
        lanes, warms = sessions.source_lanes(2 if many else 1), sessions.warm_lanes(2 if many else 1)
        # One thread per warm connection: each connection reads its slices in order, one at a
        # time. Where a connection belongs to the thread that opened it (SQLite), all runs inline.
        threads = sessions.src.serves_many and sessions.warm.serves_many
        warm_pools: list[Executor] = [ThreadPoolExecutor(1) if threads else _Inline() for _ in warms]
        self._warm_pools = warm_pools
        lane_pool: Executor = ThreadPoolExecutor(len(lanes)) if threads else _Inline()
        running, ahead = self._running, self._ahead
        results: dict[int, Judged] = {}

        def warm_side(n: int, part: Sequence[tuple], by_row: bool = False) -> WarmSide:  # read-only: ends at once
            warm = warms[n % len(warms)]
            try:
                whole = None if by_row or self.whole_slice is None else self.whole_slice.warm(warm, part)
                return whole if whole is not None else self.read(warm, 1, part, None, False, self._by_range(part))
            finally:
                warm.conn.commit()

        def read_ahead(n: int, part: Sequence[tuple], by_row: bool = False) -> Future[WarmSide]:
            return warm_pools[n % len(warms)].submit(warm_side, n, part, by_row)

        def collect(n: int, future: Future[Judged]) -> None:
            i, _, last = pending.pop(n)
            deleted, kept, differ = future.result()
            d0, k0, f0 = results.pop(i, (0, [], []))
            results[i] = (d0 + deleted, k0 + kept, f0 + differ)
            if last:
                batch_done(i, results.pop(i))

        try:
            ahead[0] = read_ahead(0, pending[0][1])
            n = 0
            while n in pending:
                if pull(n + 1):
                    ahead[n + 1] = read_ahead(n + 1, pending[n + 1][1])
                lane = n % len(lanes)
                if lane in running:  # that connection's previous slice: committed before its next
                    collect(*running.pop(lane))
                for other in list(running) if self.ctx.one_lane() else ():  # pacing: one slice at a time
                    collect(*running.pop(other))
                self.ctx.check_stop()
                self.ctx.between_batches()  # replica lag and source load (pacing.py)
                part = pending[n][1]
                running[lane] = (
                    n,
                    lane_pool.submit(
                        self._source_side,
                        lanes[lane],
                        part,
                        ahead.pop(n),
                        partial(read_ahead, n, part, True),
                    ),
                )
                n += 1
            for m, future in sorted(running.values(), key=lambda r: r[0]):
                running.pop(m % len(lanes))
                collect(m, future)
        finally:
            for pool in (*warm_pools, lane_pool):
                pool.shutdown(wait=True, cancel_futures=True)

    def drain(self) -> None:
        """Wait until no slice reads or deletes: every connection of the pipeline is free."""
        wait([f for _, f in self._running.values()])
        wait(list(self._ahead.values()))

    def on_warm(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the first warm connection (the job's own), between its reads."""
        return self._warm_pools[0].submit(fn).result()

    def _by_range(self, part: Sequence[tuple]) -> bool:
        """Read the slice by its key range only where that range holds few other keys (a dense
        slice of integer keys): with sparse matches the archived keys lie far apart, and a range
        read would scan every row between them. Else by exactly its keys: index lookups, as many
        as the slice has keys, whatever the condition (docs/design.md §4.9)."""
        return self.by_range and dense_enough(self.plan, part)

    def _source_side(
        self,
        d: Dialect,
        part: Sequence[tuple],
        warm_future: Future[WarmSide],
        rerun_by_row: Callable[[], Future[WarmSide]],
    ) -> Judged:
        plan, stats, blob, sums = self.plan, self.ctx.stats, self.blob, self.sums
        with _rolled_back_on_error(d):
            d.begin_row_locks()
            if blob is not None and type(digests := warm_future.result()) is bytes:
                deleted, left = blob.delete(d, part, digests)
                failpoints.reach("during_delete_phase")
                d.conn.commit()
                return deleted, [], left  # the warm table holds every key: what is left differs
            if sums is not None and type(whole := warm_future.result()) is tuple:
                if sums.source(d, part) == whole:  # every key there, locked, and equal
                    failpoints.reach("during_delete_phase")
                    deleted = transfer.delete_keys(d, plan.source_table, plan.key, part, stats)
                    d.conn.commit()
                    return deleted, [], []
                warm_future = rerun_by_row()
            src_rows = self.read(d, 0, part, self.where_sql, True, self._by_range(part))
            warm_rows = cast(Contents, warm_future.result())  # a row read: a whole slice's answer returned above
            verified: list[tuple] = []
            kept: list[tuple] = []
            differ: list[tuple] = []
            for k in part:
                kk = self.key(k)
                s = src_rows.get(kk)
                if s is None:
                    continue  # already gone from the source, or no longer matching: nothing to delete
                w = warm_rows.get(kk)
                if w is None:
                    kept.append(k)
                elif w == s:
                    verified.append(k)
                else:
                    differ.append(k)
            del src_rows, warm_rows
            failpoints.reach("during_delete_phase")
            deleted = transfer.delete_keys(d, plan.source_table, plan.key, verified, stats)
            d.conn.commit()
            return deleted, kept, differ


DENSE = 2  # a slice read by its key range spans at most this many integers per key


def dense_enough(plan: JobPlan, part: Sequence[tuple]) -> bool:
    """Do the keys of ``part`` (in key order) fill their integer range closely enough to read
    it by range: at most ``DENSE`` times as many integers as keys?"""
    if not (plan.int_key and part):
        return False
    return int(part[-1][0]) - int(part[0][0]) + 1 <= DENSE * len(part)


def _dense_slice_row(stats: SqlStats, d: Dialect, sql: str, part: Sequence[tuple]) -> tuple | None:
    """The one row ``sql`` returns for a slice whose keys are one run of consecutive integers
    (bound to its first and last key); None, unread, for a slice with gaps."""
    runs = int_runs(part)
    if not runs or len(runs) != 1:
        return None
    cur = d.conn.cursor()
    stats.execute(cur, sql, list(runs[0]))
    row = cur.fetchone()
    cur.close()
    return row


@contextmanager
def _rolled_back_on_error(d: Dialect) -> Iterator[None]:
    """Roll back ``d``'s transaction when the block fails; the block's own error is raised."""
    try:
        yield
    except BaseException:
        try:
            d.conn.rollback()
        except Exception:  # noqa: BLE001 - the error that got us here matters more
            pass
        raise


class _Inline(Executor):
    """An executor that runs each task at once in the calling thread."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(e)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


class DigestBlob:
    """The verified delete of a dense slice of integer keys in one statement on the source.

    The warm server returns the slice's digests as one string, 16 bytes per key in key order;
    when it holds every key of the slice, the source deletes the rows whose own digest equals the
    one at their key's position (each row locked as it is judged, and judged on its current
    content), and only the keys it left are read back: they differ. No per-row value crosses
    the wire or becomes a Python object, and the source skips a separate locking read: on
    PostgreSQL that read writes a lock into every row the DELETE then writes again."""

    def __init__(self, stats: SqlStats, warm_sql: str, delete_sql: str, left_sql: str):
        self.stats, self.warm_sql, self.delete_sql, self.left_sql = stats, warm_sql, delete_sql, left_sql

    @classmethod
    def for_job(
        cls, plan: JobPlan, src: Dialect, warm: Dialect, stats: SqlStats, canon: Canon, where_sql: str
    ) -> DigestBlob | None:
        """Where the source can judge rows by position and the warm side can aggregate, every
        column is in the digest (none compared in Python) and the key is one integer column."""
        if not (plan.int_key and all(canon)):
            return None
        ks, kw = src.quote(plan.key[0]), warm.quote(plan.key[0])
        t, ph = src.table(plan.source_table), src.placeholder
        agg = warm.digest_blob(warm.canon_hash([(pl[1], *pl[2:]) for pl in canon if pl]), kw)
        judge = src.delete_by_digest_blob(t, ks, src.canon_hash([(pl[0], *pl[2:]) for pl in canon if pl]), ph)
        if agg is None or judge is None:
            return None
        in_slice = f"{ks} >= {ph} AND {ks} <= {ph} AND ({src.escape_percent(where_sql)})"
        return cls(
            stats,
            f"SELECT COUNT(*), {agg} FROM {warm.table(plan.target_table)} "
            f"WHERE {kw} >= {warm.placeholder} AND {kw} <= {warm.placeholder}",
            f"DELETE FROM {t} WHERE {in_slice} AND {judge}",
            f"SELECT {ks} FROM {t} WHERE {in_slice}",
        )

    def warm(self, d: Dialect, part: Sequence[tuple]) -> bytes | None:
        """The slice's warm digests, or None when the slice has gaps or the warm table lacks some
        of its keys (then the slice is compared row by row)."""
        row = _dense_slice_row(self.stats, d, self.warm_sql, part)
        if row is None:
            return None
        n, digests = row
        if n != len(part) or digests is None or len(digests) != 16 * n:  # (a truncated aggregate too)
            return None
        return bytes(digests)

    def delete(self, d: Dialect, part: Sequence[tuple], digests: bytes) -> tuple[int, list]:
        """Delete the slice's equal rows; (deleted, the keys of the rows still there)."""
        lo, hi = part[0][0], part[-1][0]
        cur = d.conn.cursor()
        self.stats.execute(cur, self.delete_sql, [lo, hi, digests, lo])
        deleted = cur.rowcount
        left: list = []
        if deleted < len(part):
            self.stats.execute(cur, self.left_sql, [lo, hi])
            left = [tuple(r) for r in cur.fetchall()]
        cur.close()
        return deleted, left


class SliceDigest:
    """The verified delete of a dense slice of integer keys with one digest a side, where the
    source reads its rows under lock (MySQL; a PostgreSQL source judges rows in its DELETE).

    Each server digests the canonical texts of the slice's rows joined in key order (a long text
    or bytes value enters as its own MD5, so that a slice's text stays small): the warm one in a
    plain read, the source one in a locking read. The same count (every key of the slice, so no
    other) and the same digest mean equal rows: the slice is deleted by its keys, and no per-row
    value crosses the wire or becomes a Python object. Else the slice is compared row by row."""

    LONG = 1024  # bytes of a field that enters the slice's text as it is

    def __init__(self, stats: SqlStats, warm_sql: str, source_sql: str):
        self.stats, self.warm_sql, self.source_sql = stats, warm_sql, source_sql

    @classmethod
    def for_job(
        cls, plan: JobPlan, src: Dialect, warm: Dialect, stats: SqlStats, canon: Canon, where_sql: str
    ) -> SliceDigest | None:
        if not (plan.int_key and all(canon)):
            return None
        ks, kw = src.quote(plan.key[0]), warm.quote(plan.key[0])
        text = {
            d: d.text_agg(d.canon_text([(pl[side], *pl[2:]) for pl in canon if pl], cls.LONG), k)
            for d, side, k in ((src, 0, ks), (warm, 1, kw))
        }
        # the warm text's length tells whether the source's (equal) text fits a MySQL GROUP_CONCAT
        return cls(
            stats,
            f"SELECT n, md5(t), {warm.canon_len('t')} FROM (SELECT COUNT(*) AS n, {text[warm]} AS t "
            f"FROM {warm.table(plan.target_table)} WHERE {kw} >= {warm.placeholder} AND {kw} <= {warm.placeholder}) s",
            f"SELECT COUNT(*), md5({text[src]}) FROM {src.table(plan.source_table)} "
            f"WHERE {ks} >= {src.placeholder} AND {ks} <= {src.placeholder} AND ({src.escape_percent(where_sql)})"
            f"{src.for_update()}",
        )

    def warm(self, d: Dialect, part: Sequence[tuple]) -> tuple | None:
        """(count, digest) of the slice's warm rows, or None when the slice has gaps, the warm
        table lacks some of its keys or the text is too long (then it is compared row by row)."""
        row = _dense_slice_row(self.stats, d, self.warm_sql, part)
        if row is None or row[0] != len(part) or int(row[2]) >= GROUP_CONCAT_MAX:
            return None
        return row[0], row[1]

    def source(self, d: Dialect, part: Sequence[tuple]) -> tuple:
        """(count, digest) of the rows of a slice ``warm`` found dense that still match the
        condition, locked."""
        cur = d.conn.cursor()
        self.stats.execute(cur, self.source_sql, [part[0][0], part[-1][0]])
        row = cur.fetchone()
        cur.close()
        return tuple(row)


def _hashed_slices(plan: JobPlan, sessions: Sessions, ctx: RunContext, canon: Canon, where_sql: str) -> _Slices:
    """Across engines: each server digests a canonical text of its rows (both at the same time)."""
    src, warm, stats = sessions.src, sessions.warm, ctx.stats
    blob = DigestBlob.for_job(plan, src, warm, stats, canon, where_sql)
    return _Slices(
        plan,
        sessions,
        ctx,
        HASH_CHUNK,
        lambda d, side, part, *a: _digests(
            d, plan.target_table if side else plan.source_table, plan, stats, part, canon, side, *a
        ),
        _key_fn(len(plan.key)),
        where_sql,
        blob=blob,
        sums=None if blob else SliceDigest.for_job(plan, src, warm, stats, canon, where_sql),
    )


def _value_slices(
    plan: JobPlan, sessions: Sessions, ctx: RunContext, where_sql: str, use_hash: bool, by_range: bool = True
) -> _Slices:
    """Compare whole rows (same engine over two connections: the servers' row digest; no canonical
    form, or digests that differ: the values)."""
    n, stats = len(plan.key), ctx.stats
    return _Slices(
        plan,
        sessions,
        ctx,
        VERIFY_CHUNK,
        lambda d, side, part, *a: _values(
            d, plan.target_table if side else plan.source_table, plan, stats, part, use_hash, *a
        ),
        lambda k: normalize_key(k[:n]),
        where_sql,
        by_range,
    )


def _delete_by_values(
    plan: JobPlan,
    sessions: Sessions,
    ctx: RunContext,
    keys: Sequence[tuple],
    where_sql: str,
    use_hash: bool,
    by_range: bool = True,
) -> Judged:
    """(deleted, missing from the warm table, changed) of ``keys``, compared as whole rows."""
    out: list[Judged] = [(0, [], [])]
    _value_slices(plan, sessions, ctx, where_sql, use_hash, by_range).run(
        [keys], lambda _, result: out.__setitem__(0, result)
    )
    return out[0]


def _delete_across_servers(
    plan: JobPlan,
    sessions: Sessions,
    ctx: RunContext,
    batches: list[Batch],
    where_sql: str,
    finish: Callable[[int, int, list[list], _Slices], None],
) -> None:
    """The verified delete of ``batches`` (copied under ``where_sql``) when the warm table is on
    another server or of other types; ``finish(i, deleted, kept keys, slices)`` per batch, in order.

    Across engines the digests judge first; the keys whose digests differ are then compared value
    by value (e.g. JSON spacing, numeric scale), each still-matching source row locked again."""
    src, warm = sessions.src, sessions.warm
    use_hash = plan.same_types and src.row_hash(plan.columns) is not None
    canon = None if use_hash else canon_plan(plan, src, warm)
    slices = (
        _hashed_slices(plan, sessions, ctx, canon, where_sql)
        if canon
        else _value_slices(plan, sessions, ctx, where_sql, use_hash)
    )

    def batch_done(i: int, result: Judged) -> None:
        deleted, kept, differ = result
        if differ and canon:  # on the pipeline's connections, once no slice uses them
            slices.drain()
            more, missing, changed = _delete_by_values(
                plan, sessions, ctx, differ, where_sql, use_hash=False, by_range=False
            )
            deleted += more
            order = {normalize_key(k): n for n, k in enumerate(decode_keys(batches[i].keys))}
            kept = sorted(kept + missing + changed, key=lambda k: order[normalize_key(k)])  # key order
        else:
            kept = kept + differ
        finish(i, deleted, [list(k) for k in kept], slices)

    slices.run((decode_keys(b.keys) for b in batches), batch_done)


def _delete_in_one_database(
    plan: JobPlan, ledger: Ledger, stats: SqlStats, d: Dialect, batch: Batch, keys: Sequence[tuple], gone: int = 0
) -> tuple[int, list]:
    """Hot and warm tables in one database: the server compares the rows itself.

    One statement per chunk deletes the batch's rows that still match the condition and equal
    their warm row (every column compared NULL-safe; the delete locks each row it judges, so a
    row changed meanwhile is judged on its new content). The rows it left are read back: the
    changed ones. Rows, ledger stamp and all, in one transaction. Returns (deleted, with the
    ``gone`` rows a killed attempt deleted; kept keys). ``d``: one of the job's source connections."""
    where_sql = d.escape_percent(batch_where(plan, batch))
    t, w = d.table(plan.source_table), d.table(plan.target_table)
    cur = d.conn.cursor()
    deleted, kept = 0, []
    for i in range(0, len(keys), CHUNK):
        part = keys[i : i + CHUNK]
        stats.execute(cur, *d.delete_rows_equal_to(t, w, plan.key, plan.columns, part, where_sql))
        n = cur.rowcount
        deleted += n
        if n < len(part):  # changed rows, or rows gone or no longer matching: find the changed
            cond, params = d.key_in(plan.key, part)
            stats.execute(cur, f"SELECT {d.cols(plan.key)} FROM {t} WHERE {cond} AND ({where_sql})", params)
            kept += [list(r) for r in cur.fetchall()]
    failpoints.reach("during_delete_phase")
    deleted += gone
    ledger.update(
        cur, batch.id, source_deleted_at=now(), rows_deleted=(batch.rows_deleted or 0) + deleted, rows_changed=len(kept)
    )
    failpoints.reach("before_ledger_delete_mark")
    d.conn.commit()
    return deleted, kept


def _delete_batches_in_one_database(
    plan: JobPlan,
    sessions: Sessions,
    ledger: Ledger,
    ctx: RunContext,
    batches: list[Batch],
    gone: list[int],
    out: list[tuple[int, list]],
) -> None:
    """Two batches at a time, each on its own connection: the server judges one batch's rows on
    one core while it judges the next one's on the other. Each batch is one transaction (its rows
    and its ledger stamp), so any subset of them may have committed when a job is killed."""
    lanes = sessions.source_lanes(2 if len(batches) > 1 else 1)
    pool = ThreadPoolExecutor(len(lanes))
    running: dict[int, tuple[int, Future[tuple[int, list]]]] = {}  # lane -> (batch index, its future)

    def one(d: Dialect, i: int, keys: Sequence[tuple]) -> tuple[int, list]:
        with _rolled_back_on_error(d):  # (MariaDB: a batch's last row may wait for the next batch's commit)
            d.begin_row_locks()  # MariaDB: record locks on the judged rows only, no gap locks (§4.9)
            return _delete_in_one_database(plan, ledger, ctx.stats, d, batches[i], keys, gone[i])  # stamps too

    def collect(i: int, future: Future[tuple[int, list]]) -> None:
        out[i] = future.result()
        _report(plan, ctx.progress, batches[i], *out[i])

    try:
        n = 0
        for i, b in enumerate(batches):
            keys = decode_keys(b.keys)
            if not keys:
                continue
            lane, n = n % len(lanes), n + 1
            if lane in running:  # that connection's previous batch
                collect(*running.pop(lane))
            for other in list(running) if ctx.one_lane() else ():  # pacing: one batch at a time
                collect(*running.pop(other))
            ctx.check_stop()
            ctx.between_batches()  # replica lag and source load (pacing.py)
            running[lane] = (i, pool.submit(one, lanes[lane], i, keys))
        for i, future in sorted(running.values(), key=lambda r: r[0]):
            collect(i, future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def delete_batch(
    plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, batch: Batch, *, retrying: bool
) -> tuple[int, list]:
    """Delete the verified rows of one ledger batch from the source; returns (deleted, kept keys)."""
    return delete_batches(plan, sessions, ledger, ctx, [batch], retrying=retrying)[0]


def delete_batches(
    plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, batches: list[Batch], *, retrying: bool
) -> list[tuple[int, list]]:
    """Delete the verified rows of ``batches`` from the source, stamping each in the ledger once
    its rows are judged (§4.3); returns (deleted, kept keys) per batch. Across servers the slices
    of all batches stream through one pipeline (``_Slices``). ``retrying``: an earlier attempt may
    have deleted rows after its last ledger stamp."""
    out: list[tuple[int, list]] = [(0, []) for _ in batches]
    # On a retry, the rows the killed attempt deleted after its last ledger stamp are gone
    # already; they count as deleted (as do rows the application deleted since the copy: either
    # way they now live in the warm table only). Counted before this attempt deletes any row.
    gone = [_gone_from_source(plan, sessions.src, ctx.stats, decode_keys(b.keys)) if retrying else 0 for b in batches]
    if plan.same_db and plan.same_types:
        _delete_batches_in_one_database(plan, sessions, ledger, ctx, batches, gone, out)
        return out
    warm = sessions.warm
    for where_sql, group in itertools.groupby(range(len(batches)), key=lambda i: batch_where(plan, batches[i])):
        index = list(group)

        def finish(n: int, deleted: int, kept: list[list], slices: _Slices, index: list[int] = index) -> None:
            i = index[n]
            b, deleted = batches[i], deleted + gone[i]

            def stamp() -> None:
                failpoints.reach("before_ledger_delete_mark")
                cur = warm.conn.cursor()
                ledger.update(
                    cur,
                    b.id,
                    source_deleted_at=now(),
                    rows_deleted=(b.rows_deleted or 0) + deleted,
                    rows_changed=len(kept),
                )
                warm.conn.commit()

            slices.on_warm(stamp)
            out[i] = (deleted, kept)
            _report(plan, ctx.progress, b, deleted, kept)

        _delete_across_servers(plan, sessions, ctx, [batches[i] for i in index], where_sql, finish)
    return out


def _gone_from_source(plan: JobPlan, d: Dialect, stats: SqlStats, keys: Sequence[tuple]) -> int:
    """How many keys of the batch are no longer in the source."""
    cur = d.conn.cursor()
    present = 0
    for i in range(0, len(keys), CHUNK):
        cond, params = d.key_in(plan.key, keys[i : i + CHUNK])
        stats.execute(cur, f"SELECT COUNT(*) FROM {d.table(plan.source_table)} WHERE {cond}", params)
        present += cur.fetchone()[0]
    d.conn.commit()
    return len(keys) - present


def _report(plan: JobPlan, progress: Progress, batch: Batch, deleted: int, kept: list) -> None:
    if kept:
        log.warning(
            "batch %s: %s row(s) changed in %s since their copy and were kept there "
            "(the next run archives them again): keys %s%s",
            batch.batch_no,
            len(kept),
            plan.source_table,
            kept[:LOG_KEYS],
            " ..." if len(kept) > LOG_KEYS else "",
        )
    progress.add(rows_deleted=deleted, rows_changed=len(kept))


def batch_where(plan: JobPlan, batch: Batch) -> str:
    """The condition the batch was copied under (a later spec edit must not widen the delete)."""
    return batch.where_sql or plan.where_sql


def delete_run(plan: JobPlan, sessions: Sessions, ledger: Ledger, ctx: RunContext, *, retrying: bool) -> dict:
    """Delete the verified source rows of every copied, not yet deleted batch of the job (§4.3)."""
    ctx.progress.update(phase="delete", source_status=SourceStatus.DELETING)
    batches = [
        b
        for b in ledger.batches(plan.dag_id, plan.run_id, plan.task_id)
        if b.batch_no > 0 and not b.rolled_back_at and not b.source_deleted_at
    ]
    results = delete_batches(plan, sessions, ledger, ctx, batches, retrying=retrying)
    total = sum(d for d, _ in results)
    kept = [k for _, ks in results for k in ks]
    ctx.progress.update(source_status=SourceStatus.PROCESSED)
    return {"rows_deleted": total, "rows_changed": len(kept), "changed_keys": kept[:LOG_KEYS], "batches": len(batches)}
