"""The verified delete's pipeline: slices of many batches' keys on two connections to each side (docs/design.md §4.3).

What a slice's rows are compared as is the caller's (a ``SliceReader``, from ``slice_reads.py``,
and optionally a whole-slice judge from ``slice_digests.py``); this module only schedules: the
warm read of the next slice ahead, each slice's locked read, comparison and delete in one source
transaction, two lanes taking turns, pacing between slices, and batch results in batch order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, ParamSpec, TypeVar, cast

from warm_archive import failpoints, transfer
from warm_archive.context import RunContext
from warm_archive.dialects import Dialect
from warm_archive.plan import JobPlan
from warm_archive.sessions import Sessions, rolled_back_on_error
from warm_archive.slice_digests import DigestBlob, SliceDigest
from warm_archive.slice_reads import Contents, dense_enough

P = ParamSpec("P")
T = TypeVar("T")
# A slice's rows in one read: (side: 0 source, 1 warm; keys; condition; lock; read by range).
SliceReader = Callable[[Dialect, int, Sequence[tuple], str | None, bool, bool], Contents]
# What the warm side of a slice answers: its digests in one string (``DigestBlob``), its count and
# digest (``SliceDigest``), or its rows.
WarmSide = bytes | tuple | Contents
# (deleted, keys missing from the warm table, keys whose contents differ) of a slice or a batch.
Judged = tuple[int, list, list]


class Slices:
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
        with rolled_back_on_error(d):
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
