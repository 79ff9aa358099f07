"""The walk over the source's key: ranges whose width follows a target statement time (docs/design.md §4.9).

``WHERE cond AND key > last ORDER BY key LIMIT n`` (pt-archiver's read) reads rows until it has
found n matches: with one match in a thousand rows and no index on the condition's column, one
statement reads n thousand rows, and the planning ``COUNT(*)`` reads them all. Instead each step
of the walk first finds the end of its key range by reading the key's own index alone
(``ORDER BY key LIMIT 1 OFFSET width - 1``, as pt-online-schema-change finds a chunk's end), then
the batch reads the matching rows inside ``(last, end]`` only (and at most ``batch_size`` of
them). Every source statement of a step thus reads at most ``width`` index entries or rows,
whatever the condition. The width starts at ``batch_size`` and follows the time the step's
statements took (pt-online-schema-change's ``--chunk-time``): it grows (at most doubling) while
a step is quicker than its target, 40 % of the job's ``max_statement_seconds``, and shrinks in
proportion when one is slower.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from warm_archive.contract import StatementKind
from warm_archive.dberrors import db_message
from warm_archive.dialects import Dialect
from warm_archive.dialects.base import where
from warm_archive.errors import WarmArchiveError
from warm_archive.plan import JobPlan
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats

TARGET_SHARE = 0.4  # a step (its statements together) aims at 40 % of the bound: the slowest one stays well under it
GROW = 2.0  # at most this much wider after a quick step
SHRINK = 0.1  # at most this much narrower after a slow one
MIN_WIDTH = 10
MAX_WIDTH = 1_000_000_000
TRACE = 1000  # steps remembered (tests read them)


@dataclass(frozen=True)
class Step:
    """One range of the walk: ``(last, hi]``, spanning at most ``width`` keys of the table."""

    hi: list
    width: int
    at_end: bool  # the range ends at the planned end (fewer than ``width`` keys were left)


class KeyWalk:
    """The walk of one job over its source key, from after a key up to the planned end
    (``plan.planned_hi``). Thread-safe: two batches at a time report their times from two threads."""

    def __init__(self, plan: JobPlan, stats: SqlStats, start: list | None = None):
        self.plan, self.stats = plan, stats
        self.target = plan.max_statement_seconds * TARGET_SHARE
        self.width = max(MIN_WIDTH, plan.batch_size)
        self.start = start  # the first key of the range the walk covers (progress)
        self.matched = 0  # matching rows found so far
        self.first: list | None = None  # the first and last matching key found
        self.last: list | None = None
        self.trace: list[tuple[int, float, int]] = []  # (width, seconds, width after)
        self.ranges: list[tuple[list | None, list, int]] = []  # (after, up to, width) of each step
        self._lock = threading.Lock()

    def step(self, d: Dialect, last: Sequence | None, kind: StatementKind = StatementKind.WORK) -> Step | None:
        """The next range after ``last`` (None: from the start), read in ``d``'s open transaction;
        None when nothing is left up to the planned end. ``kind``: a dry run's count walks as a check."""
        plan = self.plan
        end = plan.planned_hi
        if end is None:
            return None
        width = self.width
        after, params = d.key_after(plan.key, last)
        scan, upto, uparams = d.batch_scan(plan.source_table, plan.key, plan.key_index, end)
        cur = d.conn.cursor()
        self.stats.execute(
            cur,
            f"SELECT {d.cols(plan.key)} FROM {scan}{where(after, upto)} "
            f"ORDER BY {d.cols(plan.key)} LIMIT 1 OFFSET {d.placeholder}",
            [*params, *uparams, width - 1],
            kind,
        )
        row = cur.fetchone()
        cur.close()
        step = Step(list(end), width, True) if row is None else Step(list(row), width, False)
        with self._lock:
            self.ranges.append((None if last is None else list(last), step.hi, width))
            del self.ranges[:-TRACE]
        return step

    def observe(self, width: int, seconds: float, grow: bool = True) -> None:
        """A step of ``width`` keys took ``seconds`` on the source: the width of the next steps.
        ``grow`` False: the step was cut short (its batch filled), so its time says nothing of a
        wider one; it may only shrink the width."""
        ratio = self.target / seconds if seconds > 0 else GROW
        ratio = min(GROW if grow else 1.0, max(SHRINK, ratio))
        with self._lock:
            new = int(max(MIN_WIDTH, min(MAX_WIDTH, width * ratio)))
            if ratio < 1.0:  # another thread may have shrunk it already: keep the narrower
                new = min(new, self.width)
            self.width = new
            self.trace.append((width, seconds, new))
            del self.trace[:-TRACE]

    def walked(self, pos: Sequence | None, keys: Sequence[Sequence], progress: Progress) -> None:
        """The walk reached ``pos`` and found ``keys`` (in key order) on the way: the progress'
        estimate of the rows planned (docs/design.md §5)."""
        with self._lock:
            if keys:
                self.matched += len(keys)
                self.first = self.first or list(keys[0])
                self.last = list(keys[-1])
            matched = self.matched
        progress.walked(matched, self.fraction(pos))

    def fraction(self, pos: Sequence | None) -> float | None:
        """How far the walk is through its key range, for a one-integer-column key; else None."""
        end = self.plan.planned_hi
        if not (self.plan.int_key and self.start and end and pos):
            return None
        lo, hi = int(self.start[0]), int(end[0])
        return max(0.0, min(1.0, (int(pos[0]) - lo + 1) / max(1, hi - lo + 1)))

    def key_range(self) -> list | None:
        return _jsonable([self.first, self.last]) if self.first else None


def _jsonable(v: object) -> Any:
    return json.loads(json.dumps(v, default=str))


def key_ends(
    plan: JobPlan, src: Dialect, stats: SqlStats, after: Sequence | None, check_stop: Callable[[], None]
) -> list | None:
    """The first and the last key of the source after ``after`` (None: the whole table), read at
    the ends of the key's index only, whatever the condition: [[first], [last]], or None when no
    row is left. The rows that match are found, and counted, as the walk proceeds. A check
    (``StatementKind``): the plan's read, before any row moves."""
    cond, params = src.key_after(plan.key, after)
    check = StatementKind.CHECK
    t = src.table(plan.source_table)
    cur = src.conn.cursor()
    ends = []
    try:
        if len(plan.key) == 1:
            k = src.quote(plan.key[0])
            stats.execute(cur, f"SELECT MIN({k}), MAX({k}) FROM {t}{where(cond)}", params, check)
            row = cur.fetchone()
            ends = [[row[0]], [row[1]]] if row[0] is not None else []
        else:
            for direction in ("ASC", "DESC"):
                order = ", ".join(f"{src.quote(k)} {direction}" for k in plan.key)
                stats.execute(
                    cur, f"SELECT {src.cols(plan.key)} FROM {t}{where(cond)} ORDER BY {order} LIMIT 1", params, check
                )
                row = cur.fetchone()
                if row is None:
                    break
                ends.append(list(row))
    except Exception as e:
        src.conn.rollback()
        check_stop()
        raise WarmArchiveError(f"cannot read the key range of {plan.source_table}: {db_message(e)}") from None
    src.conn.commit()
    return _jsonable(ends) if ends else None


def count_matches(
    plan: JobPlan,
    src: Dialect,
    stats: SqlStats,
    check_stop: Callable[[], None],
    also: Callable[[str, str, list, list | None], None] | None = None,
) -> tuple[int, list | None]:
    """The rows that match (a dry run's count) and their key range, counted step by step along
    the walk: no statement reads more than one step's range. ``plan``: bounded by the key's ends
    (``plan.counted(key_ends(...))``). ``also(scan, upto, upto_params, last)`` runs in each step
    that holds matches, in its transaction (a dry run counts the keys already archived there:
    archived.py). Every statement is a check (``StatementKind``): the real run walks again."""
    walk = KeyWalk(plan, stats)
    t_cond = plan.src_where(src)
    one = len(plan.key) == 1
    first_col = src.quote(plan.key[0])
    count, lo, hi, last = 0, None, None, None
    cur = src.conn.cursor()
    while True:
        check_stop()
        t0 = time.perf_counter()
        try:
            step = walk.step(src, last, StatementKind.CHECK)
            if step is None:
                break
            after, params = src.key_after(plan.key, last)
            scan, upto, uparams = src.batch_scan(plan.source_table, plan.key, plan.key_index, step.hi)
            cond = where(t_cond, after, upto)
            what = f"COUNT(*), MIN({first_col}), MAX({first_col})" if one else "COUNT(*)"
            stats.execute(cur, f"SELECT {what} FROM {scan}{cond}", [*params, *uparams], StatementKind.CHECK)
            row = cur.fetchone()
            n = row[0]
            if n and one:
                lo = lo or [row[1]]
                hi = [row[2]]
            elif n:
                for direction, put in (("ASC", "lo"), ("DESC", "hi")):
                    if put == "lo" and lo is not None:
                        continue
                    order = ", ".join(f"{src.quote(k)} {direction}" for k in plan.key)
                    stats.execute(
                        cur,
                        f"SELECT {src.cols(plan.key)} FROM {scan}{cond} ORDER BY {order} LIMIT 1",
                        [*params, *uparams],
                        StatementKind.CHECK,
                    )
                    if put == "lo":
                        lo = list(cur.fetchone())
                    else:
                        hi = list(cur.fetchone())
            if n and also is not None:
                also(scan, upto, uparams, last)
        except WarmArchiveError:
            raise
        except Exception as e:
            src.conn.rollback()
            check_stop()
            raise WarmArchiveError(f"the where condition fails on {plan.source_table}: {db_message(e)}") from None
        src.conn.commit()
        count += n
        walk.observe(step.width, time.perf_counter() - t0)
        if step.at_end:
            break
        last = step.hi
    return count, (_jsonable([lo, hi]) if count else None)
