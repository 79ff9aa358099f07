"""The ``warm_status`` XCom of a table job (docs/design.md §5), and the thread that publishes it."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from warm_archive.contract import SourceStatus
from warm_archive.sqlstats import SqlStats

log = logging.getLogger(__name__)

PUSH_EVERY_S = 2.0  # the contract promises at least every 3 s
RATE_WINDOW_S = 10.0  # rows_per_second is the rate over this window


class Progress:
    """Counters of one job; safe to read from the publishing thread while the job updates them."""

    def __init__(
        self,
        strategy: str,
        table: str,
        target: str,
        dry_run: bool,
        sql_stats: SqlStats,
        on_add: Callable[[dict[str, Any]], None] | None = None,
    ):
        self._lock = threading.Lock()
        self._on_add = on_add  # hears every counter added (the job's metrics)
        self.strategy = strategy
        self.table = table
        self.target = target
        self.dry_run = dry_run
        self.sql_stats = sql_stats
        self.rows_planned = 0
        # While the copy walks the key (walk.py) the rows planned are an estimate: the rows found
        # so far over the share of the key range walked (one integer key), else the rows found.
        self.rows_planned_estimated = False
        self.plan_known = False  # the walk started: rows_planned means something (the run's progress counts it)
        self.walk_fraction: float | None = None
        self._planned_before = 0  # rows of earlier attempts (a retry), known exactly
        self.rows_copied = 0
        self.rows_skipped = 0
        self.rows_deleted = 0
        self.rows_changed = 0
        self.batches = 0
        self.phase = "starting"
        self.state = "running"
        self.error: str | None = None
        self.source_status = SourceStatus.RETAINED if strategy == "copy" or dry_run else SourceStatus.PENDING
        self.key_range: list | None = None
        self.dry_run_sql: list[dict] | None = None  # a dry run's recorded statements (dryrun.py)
        self.on_conflict: str | None = None  # the job's policy for rows already in the warm table
        # A dry run: how many planned rows the warm table holds already, and what on_conflict
        # will do with them, in words (archived.py); None on a real run.
        self.already_archived: int | None = None
        self.on_conflict_effect: str | None = None
        # Between batches (pacing.py): the pause so far and what the last load check saw.
        self.paused_s = 0.0  # replica lag and source load: grows while a pause lasts
        self.throttled_s = 0.0  # the max_rows_per_second throttle: the job's own choice, no pause
        self.replica_lag_s: dict[str, float | None] | None = None
        self.threads_running: int | None = None
        self.waiting_because: list[str] = []
        # The pacing controller's state (pacing.py): mode, sleep ratio, why, seconds slept by reason.
        self.pacing: dict[str, Any] | None = None
        self._started = time.monotonic()
        self._moved_at_start = 0
        # (when, rows moved this attempt) after each batch, over the last RATE_WINDOW_S: the current
        # rate, which falls to 0 while the job pauses instead of averaging the pause away
        self._moved_at: deque[tuple[float, int]] = deque()

    def update(self, **kw: Any) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def add(self, **kw: float) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)
            if "rows_copied" in kw or "rows_skipped" in kw:
                now = time.monotonic()
                self._moved_at.append((now, self.rows_copied + self.rows_skipped - self._moved_at_start))
                # keep the last count reached before the window: the window's base
                while len(self._moved_at) > 1 and self._moved_at[1][0] <= now - RATE_WINDOW_S:
                    self._moved_at.popleft()
        if self._on_add is not None:
            try:
                self._on_add(kw)
            except Exception:  # metrics are best effort; the job itself must go on
                log.warning("could not send metrics", exc_info=True)

    def resume_from(self, copied: int, skipped: int, deleted: int, batches: int) -> None:
        with self._lock:
            self.rows_copied, self.rows_skipped, self.rows_deleted, self.batches = (copied, skipped, deleted, batches)
            self._moved_at_start = copied + skipped

    def planning(self, before: int) -> None:
        """The copy starts walking: ``before`` rows were archived by earlier attempts."""
        with self._lock:
            self._planned_before = before
            self.rows_planned, self.rows_planned_estimated, self.walk_fraction = before, True, 0.0
            self.plan_known = True

    def walked(self, matched: int, fraction: float | None) -> None:
        """The walk found ``matched`` rows so far, through ``fraction`` of its key range (None: unknown)."""
        with self._lock:
            estimate = matched / fraction if fraction else matched
            self.rows_planned = self._planned_before + max(matched, round(estimate))
            self.walk_fraction = fraction

    def planned(self, rows: int) -> None:
        """The walk is over: ``rows`` is the exact count."""
        with self._lock:
            self.rows_planned, self.rows_planned_estimated, self.walk_fraction = rows, False, None
            self.plan_known = True

    def moved_this_attempt(self) -> int:
        """Rows copied or skipped since this attempt started (a retry starts after the ledger's)."""
        with self._lock:
            return self.rows_copied + self.rows_skipped - self._moved_at_start

    def progress_pct(self) -> float:
        if self.state == "success":
            return 100.0
        if self.rows_planned_estimated:  # how far the walk is, not a ratio of guessed rows
            copied = self.walk_fraction or 0.0
        elif not self.rows_planned:
            return 0.0
        else:
            copied = min(1.0, (self.rows_copied + self.rows_skipped) / self.rows_planned)
        if self.strategy == "copy_then_delete" and not self.dry_run:
            deleted = min(1.0, self.rows_deleted / self.rows_planned) if self.rows_planned else 0.0
            return round(100.0 * (copied + deleted) / 2, 1)
        return round(100.0 * copied, 1)

    def _rate_now(self, now: float, moved: int) -> float:
        """Rows a second over the last ``RATE_WINDOW_S`` (since the attempt started, if sooner)."""
        since, base = max(self._started, now - RATE_WINDOW_S), 0
        for t, m in self._moved_at:  # the last count reached before the window opened is its base
            if t > since:
                break
            base = m
        return (moved - base) / max(now - since, 1e-6)

    def as_dict(self) -> dict:
        with self._lock:
            now = time.monotonic()
            moved = self.rows_copied + self.rows_skipped - self._moved_at_start
            out = {
                "strategy": self.strategy,
                "table": self.table,
                "target": self.target,
                "rows_planned": self.rows_planned,
                "rows_planned_estimated": self.rows_planned_estimated,
                "plan_known": self.plan_known,
                "rows_copied": self.rows_copied,
                "rows_skipped": self.rows_skipped,
                "rows_deleted": self.rows_deleted,
                "rows_changed": self.rows_changed,
                "progress_pct": self.progress_pct(),
                "source_status": self.source_status,
                "rows_per_second": round(self._rate_now(now, moved), 1),
                "batches": self.batches,
                "dry_run": self.dry_run,
                "phase": self.phase,
                "paused_s": round(self.paused_s, 1),
                "throttled_s": round(self.throttled_s, 1),
                "replica_lag_s": self.replica_lag_s,
                "threads_running": self.threads_running,
                "waiting_because": list(self.waiting_because),
                "pacing": dict(self.pacing) if self.pacing is not None else None,
                "state": self.state,
                "error": self.error,
                "key_range": self.key_range,
                "dry_run_sql": self.dry_run_sql,
                "on_conflict": self.on_conflict,
                "already_archived": self.already_archived,
                "on_conflict_effect": self.on_conflict_effect,
                "sql": self.sql_stats.as_list(),
                "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        return out


class Publisher:
    """Pushes ``progress.as_dict()`` through ``push`` every ``PUSH_EVERY_S`` and once at the end."""

    def __init__(self, progress: Progress, push: Callable[[dict], None]):
        self.progress = progress
        self.push = push
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="warm-status", daemon=True)

    def __enter__(self) -> Publisher:
        self._safe_push()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._safe_push()

    def _loop(self) -> None:
        while not self._stop.wait(PUSH_EVERY_S):
            self._safe_push()

    def _safe_push(self) -> None:
        try:
            self.push(self.progress.as_dict())
        except Exception:  # progress is best effort; the job itself must go on
            log.warning("could not publish warm_status", exc_info=True)
