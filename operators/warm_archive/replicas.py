"""Pause between batches while a replica lags or the source is loaded (pt-archiver's --check-slave-lag, --max-load).

A DBA of a busy primary needs the archive to yield: each batch is a burst of writes that every
replica must replay. Between batches the job asks each replica how far behind it is and the
source how many statements are running, and waits while either is over its limit. A replica that
cannot be reached or is not replicating cannot vouch for its lag, so it pauses the job too (or
fails it, if the spec says so): it is never ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from warm_archive.errors import WarmArchiveError

POLL_S = 1.0

# MariaDB and MySQL before 8.0.22 know SHOW SLAVE STATUS; MySQL 8.4 only SHOW REPLICA STATUS.
_MY_STATUS = ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")
# On a standby that has replayed all it received the lag is 0, whatever the age of the last
# transaction; otherwise it is the age of the last replayed transaction, and unbounded while it has
# replayed none since it started (it is behind, by an amount nothing dates).
_PG_LAG = """SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver),
  CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity') END"""
_PG_ACTIVE = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend'"


class NotReplicating(WarmArchiveError):
    """The server is no replica, or its replication is stopped: its lag is unknown."""


def replica_lag(conn: Any, engine: str) -> float:
    """Seconds the replica behind ``conn`` is behind its primary; NotReplicating if unknown."""
    cur = conn.cursor()
    try:
        if engine == "postgres":
            cur.execute(_PG_LAG)
            in_recovery, receiver, lag = cur.fetchone()
            if not in_recovery:
                raise NotReplicating("it is not a standby (pg_is_in_recovery() is false)")
            if receiver != "streaming":
                raise NotReplicating(f"its WAL receiver is {receiver or 'not running'}")
            return float(lag or 0.0)
        row = names = None
        for statement in _MY_STATUS:
            try:
                cur.execute(statement)
            except Exception:  # the other spelling of the statement
                continue
            names = [d[0] for d in cur.description or ()]
            row = cur.fetchone()
            break
        if row is None or names is None:
            raise NotReplicating("it is not a replica (no replica status)")
        status = dict(zip(names, row, strict=True))
        io = status.get("Replica_IO_Running", status.get("Slave_IO_Running"))
        sql = status.get("Replica_SQL_Running", status.get("Slave_SQL_Running"))
        behind = status.get("Seconds_Behind_Source", status.get("Seconds_Behind_Master"))
        if sql != "Yes" or io not in ("Yes", "Connecting") or behind is None:
            raise NotReplicating(f"replication is stopped (IO thread {io}, SQL thread {sql})")
        return float(behind)
    finally:
        cur.close()
        if engine == "postgres":
            conn.rollback()


def threads_running(conn: Any, engine: str) -> int:
    """Statements running on the server now (MySQL's Threads_running; PostgreSQL's active backends)."""
    cur = conn.cursor()
    try:
        if engine == "postgres":
            cur.execute(_PG_ACTIVE)
            return int(cur.fetchone()[0])
        cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        return int(cur.fetchone()[1])
    finally:
        cur.close()
        if engine == "postgres":
            conn.rollback()


@dataclass(frozen=True)
class LoadLimits:
    """What a job waits for between batches (spec options of the same names)."""

    replicas: tuple[str, ...] = ()
    max_replica_lag_seconds: float | None = None
    on_replica_unreachable: Literal["pause", "fail"] = "pause"
    max_threads_running: int | None = None
    # Pacing on the source's load (pacing.py, load_probe.py): auto (the default) or off.
    pacing: Literal["auto", "off"] = "auto"
    pacing_latency_ratio: float = 2.0  # a probe slower than this many times its baseline: stressed
    pacing_max_sleep_ratio: float = 8.0  # at most this many seconds of sleep per second of work

    @property
    def active(self) -> bool:
        return bool(self.replicas and self.max_replica_lag_seconds is not None) or self.max_threads_running is not None


Report = Callable[[str | None, dict], None]  # (phase or None when the job may go on, figures)


class LoadGuard:
    """Holds the replica connections of one job and waits, between batches, until every limit is met.

    ``Threads_running`` is read over a connection of the guard's own to the source: the job's
    connections may be busy streaming a batch in another thread."""

    def __init__(self, limits: LoadLimits, connect: Callable[[str], Any], source_conn_id: str | None = None):
        self.limits = limits
        self._connect = connect
        self._source_conn_id = source_conn_id
        self._open: dict[str, Any] = {}  # conn_id -> a session with ``.conn`` and ``.name``

    def _session(self, conn_id: str) -> Any:
        if conn_id not in self._open:
            self._open[conn_id] = self._connect(conn_id)
        return self._open[conn_id]

    def _drop(self, conn_id: str) -> None:
        session = self._open.pop(conn_id, None)
        try:
            if session is not None:
                session.conn.close()
        except Exception:
            pass

    def reasons(self) -> tuple[list[str], dict]:
        """Why the job must wait now (empty: it may go on), and the figures behind it."""
        lim = self.limits
        why: list[str] = []
        lags: dict[str, float | None] = {}
        if lim.max_replica_lag_seconds is not None:
            for conn_id in lim.replicas:
                try:
                    session = self._session(conn_id)
                    lag = replica_lag(session.conn, session.name)
                except Exception as e:
                    self._drop(conn_id)
                    problem = _one_line(e)
                    if lim.on_replica_unreachable == "fail":
                        raise WarmArchiveError(f"replica {conn_id!r} cannot vouch for its lag: {problem}") from None
                    lags[conn_id] = None
                    why.append(f"replica {conn_id} cannot vouch for its lag: {problem}")
                    continue
                lags[conn_id] = None if math.isinf(lag) else round(lag, 1)
                if lag > lim.max_replica_lag_seconds:
                    behind = "behind by more than it can date yet" if math.isinf(lag) else f"{lag:.0f} s behind"
                    why.append(f"replica {conn_id} is {behind} (limit {lim.max_replica_lag_seconds:g} s)")
        running = None
        if lim.max_threads_running is not None and self._source_conn_id is not None:
            try:
                session = self._session(self._source_conn_id)
                running = threads_running(session.conn, session.name)
            except Exception as e:  # the job's own connections report a source that is gone
                self._drop(self._source_conn_id)
                why.append(f"the source's load cannot be read: {_one_line(e)}")
            else:
                if running > lim.max_threads_running:
                    why.append(f"{running} statements running on the source (limit {lim.max_threads_running})")
        return why, {"replica_lag_s": lags or None, "threads_running": running}

    def wait(self, check_stop: Callable[[], None], report: Report, poll_s: float = POLL_S) -> dict[str, float]:
        """Block until every limit is met; returns the seconds waited by reason (``replica_lag``,
        ``load``). ``report`` hears each check: (phase, figures) while waiting, (None, figures)
        once the job may go on. ``check_stop`` raises on a stop."""
        waited: dict[str, float] = {}
        while True:
            check_stop()
            why, figures = self.reasons()
            if not why:
                report(None, figures | {"waiting_because": []})
                return waited
            replica = any(w.startswith("replica") for w in why)
            report("waiting for replica" if replica else "waiting for load", figures | {"waiting_because": why})
            t0 = time.monotonic()
            time.sleep(poll_s)
            reason = "replica_lag" if replica else "load"
            waited[reason] = waited.get(reason, 0.0) + time.monotonic() - t0

    def close(self) -> None:
        for conn_id in list(self._open):
            self._drop(conn_id)


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
