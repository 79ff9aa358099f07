"""How loaded the source is now, against how loaded it was when the job started (pacing.py).

A table job shares its source with an application. Each batch is a burst of reads, writes and
WAL flushes the application's requests queue behind: measured on a 2-core machine, a job at full
speed raised an open-loop application's p99 from ~5 ms to over a second (PostgreSQL: its
sessions waiting on WAL writes) or drove the run queue to 7-10 (MariaDB: the verified delete's
digests). The probe asks the source, over a connection of its own, what an application request
waits now:

- the latency of a tiny point read at the hot end of the source table's key;
- on PostgreSQL, the latency of a commit that must flush the WAL (what every writing request
  waits for);
- the server's own figures: statements running, and on PostgreSQL the sessions waiting on the
  WAL (``pg_stat_activity``); MariaDB's ``Threads_running``.

The first figures, taken before the job's first batch, are the baseline; ``stressed()`` says
which signals are over their limit. After the baseline a thread of the probe samples every
``SAMPLE_EVERY_S`` while the job works, so the stalls *during* a batch count: sampled only between
batches, the source looks calm, since the job's own statement has just ended. ``take()`` gives the
samples since the last call. The SQL is the dialect's (dialects/load.py).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 0.1  # the probe's three tiny statements ten times a second, on its own connection
FLOOR_MS = 1.0  # a latency baseline below this counts as this: sub-millisecond noise is no signal
BASELINE_SAMPLES = 5
EXTRA_WAL_WAITS = 2  # PostgreSQL: more sessions than at the baseline waiting on the WAL
EXTRA_RUNNING = 4  # statements running beyond the baseline (the job's own lanes count: up to ~4)


@dataclass
class Sample:
    read_ms: float | None
    commit_ms: float | None
    running: int | None
    wal_waits: int | None

    def figures(self) -> dict[str, Any]:
        return {
            "probe_ms": _r(self.read_ms),
            "commit_ms": _r(self.commit_ms),
            "running": self.running,
            "wal_waits": self.wal_waits,
        }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


class LoadProbe:
    """One connection to the source; ``sample()`` times the probes, ``stressed()`` judges a sample."""

    def __init__(self, session: Any, table: str, key: list[str] | tuple[str, ...], latency_ratio: float):
        self.session = session
        self.latency_ratio = latency_ratio
        self._read = session.probe_read(table, list(key))
        self._commit = session.probe_commit()
        self._signal = session.load_signal()
        self._conn_lock = threading.Lock()
        samples = []
        for _ in range(BASELINE_SAMPLES):
            samples.append(self.sample())
            time.sleep(0.02)
        self.baseline = Sample(
            _median([s.read_ms for s in samples]),
            _median([s.commit_ms for s in samples]),
            _median_int([s.running for s in samples]),
            _median_int([s.wal_waits for s in samples]),
        )
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._stop = threading.Event()
        self._idle = threading.Event()  # set while the job waits for its load limits: no sampling
        self._thread = threading.Thread(target=self._loop, name="warm-load-probe", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            if self._idle.is_set():
                continue
            try:
                s = self.sample()
            except Exception as e:  # a probe that fails says nothing; the job's own connections report a lost server
                log.debug("load probe failed: %s", e)
                try:
                    self.session.conn.rollback()
                except Exception:
                    pass
                continue
            with self._lock:
                self._samples.append(s)
                del self._samples[:-200]

    def idle(self, idle: bool) -> None:
        """Stop sampling while the job waits for a replica or its load limit: the commit probe
        writes a commit record each time, and a stream of commits keeps a delayed standby from
        ever catching up (its lag stays the apply delay)."""
        if idle:
            self._idle.set()
        else:
            with self._lock:
                self._samples = []  # what was seen before the wait says nothing of after
            self._idle.clear()

    def take(self) -> list[Sample]:
        """The samples since the last call (the latest first); a fresh one if none came yet."""
        with self._lock:
            got, self._samples = self._samples, []
        return list(reversed(got)) or [self.sample()]

    @classmethod
    def open(
        cls, connect: Callable[[str], Any], conn_id: str, table: str, key: list[str] | tuple[str, ...], ratio: float
    ) -> LoadProbe | None:
        """A probe on the source, or None where the source is no server (SQLite): nothing to pace on."""
        session = connect(conn_id)
        if session.probe_read(table, list(key)) is None:
            session.conn.close()
            return None
        try:
            return cls(session, table, key, ratio)
        except BaseException:
            session.conn.close()
            raise

    def _timed(self, sql: str, commit: bool) -> float:
        cur = self.session.conn.cursor()
        try:
            t0 = time.perf_counter()
            cur.execute(sql)
            cur.fetchall()
            if commit:
                self.session.conn.commit()
            return (time.perf_counter() - t0) * 1000
        finally:
            cur.close()

    def sample(self) -> Sample:
        """One sample now (the sampling thread's; safe from any thread: one statement at a time)."""
        with self._conn_lock:
            return self._sample()

    def _sample(self) -> Sample:
        conn = self.session.conn
        read_ms = self._timed(self._read, commit=False)
        conn.commit()  # no read view held open between samples
        commit_ms = self._timed(self._commit, commit=True) if self._commit else None
        running = wal = None
        if self._signal:
            cur = conn.cursor()
            try:
                cur.execute(self._signal)
                row = cur.fetchone()
            finally:
                cur.close()
            conn.commit()
            running = int(row[0]) if row and row[0] is not None else None
            wal = int(row[1]) if row and row[1] is not None else None
        return Sample(read_ms, commit_ms, running, wal)

    def stressed(self, s: Sample) -> list[tuple[str, str]]:
        """The signals over their limit now, as (metric reason, sentence)."""
        b, x = self.baseline, self.latency_ratio
        why: list[tuple[str, str]] = []
        for reason, now, base, what in (
            ("commit_latency", s.commit_ms, b.commit_ms, "a commit on the source"),
            ("probe_latency", s.read_ms, b.read_ms, "a point read on the source"),
        ):
            if now is None or base is None:
                continue
            limit = x * max(base, FLOOR_MS)
            if now > limit:
                why.append((reason, f"{what} took {now:.1f} ms (baseline {base:.1f} ms, limit {limit:.1f} ms)"))
        if s.wal_waits is not None and b.wal_waits is not None and s.wal_waits > b.wal_waits + EXTRA_WAL_WAITS:
            why.append(("wal_waits", f"{s.wal_waits} sessions wait on WAL writes (baseline {b.wal_waits})"))
        if s.running is not None and b.running is not None and s.running > b.running + EXTRA_RUNNING:
            why.append(("statements_running", f"{s.running} statements running on the source (baseline {b.running})"))
        return why

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.session.conn.close()
        except Exception:
            pass


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _median_int(values: list[int | None]) -> int | None:
    m = _median([float(v) if v is not None else None for v in values])
    return None if m is None else int(round(m))
