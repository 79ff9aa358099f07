"""A table job: archive the rows of one source table that match a condition, batch by batch.

Per batch (docs/design.md §4):
1. read the next ``batch_size`` keys after the last archived key, in key order, in one snapshot of
   the source (locked ``FOR UPDATE`` when the strategy deletes right away);
2. on the warm DB, in ONE transaction: write the rows that are not there yet and the batch's
   ledger row, commit;
3. ``move`` only: delete exactly those (locked, so unchanged) rows from the source, then stamp the
   ledger. A crash between 2 and 3 leaves the rows in both tables; the retry finishes the delete.
``copy_then_delete`` runs the verified delete (``deletion.py``) once every batch is copied.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from warm_archive import defaults, failpoints, transfer, typemap
from warm_archive.connections import connect as airflow_connect
from warm_archive.contract import SourceStatus
from warm_archive.dberrors import connection_lost, db_message, retry_in_place
from warm_archive.dialects import Dialect
from warm_archive.errors import ConflictError, Terminated, WarmArchiveError
from warm_archive.ledger import Ledger
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats
from warm_archive.values import IntKeys, decode_keys, encode_keys, encode_rows, fetch_keys, normalize_key
from warm_archive.where import CONF, SPEC, check_where

log = logging.getLogger(__name__)

RETRIES_PER_BATCH = 5
LOCK_POLL_S = 1.0


@dataclass
class JobParams:
    dag_id: str
    run_id: str
    task_id: str
    source_conn_id: str
    source_table: str
    target_conn_id: str
    target_table: str
    key: list[str]
    where: str | None = None
    where_from_conf: bool = False  # the run conf's where (anyone who may trigger): checked strictly
    strategy: str = defaults.STRATEGY
    batch_size: int = defaults.BATCH_SIZE
    on_conflict: str = defaults.ON_CONFLICT
    max_rows_per_second: float | None = defaults.MAX_ROWS_PER_SECOND
    dry_run: bool = False
    lock_timeout_s: float = defaults.LOCK_TIMEOUT_S
    extra: dict = field(default_factory=dict)


class TableJob:
    def __init__(self, params: JobParams, connect: Callable[[str], Dialect] = airflow_connect):
        self.p = params
        self._connect = connect
        self.stats = SqlStats()
        self.progress = Progress(params.strategy, params.source_table, params.target_table,
                                 params.dry_run, self.stats)
        self._stop = threading.Event()
        self.src: Dialect | None = None
        self.warm: Dialect | None = None
        self.columns: list[str] = []
        self.where_sql = "1=1"
        self.same_types = False
        self.same_db = False
        self.src_cols: list = []  # typemap.Column, in ``columns`` order
        self.warm_cols: list = []  # the warm table's, same order (empty until it exists)
        self.passthrough: str | None = None  # SQL of one row in the warm engine's text form
        self.key_index: str | None = None  # the source index batch key reads walk (MySQL)
        self.int_key = False  # the key is one integer column
        self.planned_hi: list | None = None  # the last matching key when the run planned
        # A previous attempt may have deleted source rows after its last ledger stamp: deletions
        # then also count the batch's rows already gone from the source (deletion.delete_batch).
        self.retrying = False
        self._lanes: list[Dialect] = []  # more source connections (second batch, verified delete)
        self._warm_lanes: list[Dialect] = []  # a second warm connection (second batch)
        self._locked = False

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self):
        self.src = self._connect(self.p.source_conn_id)
        self.warm = self._connect(self.p.target_conn_id)
        self.ledger = Ledger(self.warm, self.stats)
        return self

    def __exit__(self, *exc):
        for d in (self.src, self.warm, *self._lanes, *self._warm_lanes):
            try:
                if d is not None:
                    d.conn.close()  # rolls back what is open and frees the job's lock
            except Exception:
                pass

    def stop(self) -> None:
        """Ask the job to stop: cancels the running statements; the job raises ``Terminated``."""
        self._stop.set()
        for d in (self.src, self.warm, *self._lanes, *self._warm_lanes):
            try:
                if d is not None:
                    d.cancel()
            except Exception:
                log.debug("cancel failed", exc_info=True)

    def check_stop(self) -> None:
        if self._stop.is_set():
            raise Terminated(f"{self.p.task_id}: terminated; the ledger holds every committed batch")

    def source_lanes(self, wanted: int) -> list[Dialect]:
        """Up to ``wanted`` connections to the source, the job's own first; the others are opened
        on first use and kept for the job. One only where the source cannot take two writers at
        once (SQLite)."""
        return self._more(self.src, self._lanes, self.p.source_conn_id, wanted)

    def warm_lanes(self, wanted: int) -> list[Dialect]:
        """The same for the warm database."""
        return self._more(self.warm, self._warm_lanes, self.p.target_conn_id, wanted)

    def _more(self, first: Dialect, extra: list, conn_id: str, wanted: int) -> list[Dialect]:
        if not first.serves_many:
            return [first]
        while len(extra) < wanted - 1:
            self.check_stop()
            extra.append(self._connect(conn_id))
        return [first, *extra[:wanted - 1]]

    @property
    def lock_name(self) -> str:
        return f"warm_archive:{self.p.target_table}"

    def acquire_lock(self) -> None:
        """One job at a time per warm table: a second run waits, then gives up with a clear error."""
        deadline = time.monotonic() + self.p.lock_timeout_s
        waited = False
        while not self.warm.try_lock(self.lock_name):
            if not waited:
                log.info("another warm job holds %s; waiting up to %.0f s", self.lock_name,
                         self.p.lock_timeout_s)
                self.progress.update(phase="waiting")
                waited = True
            self.check_stop()
            if time.monotonic() > deadline:
                raise WarmArchiveError(
                    f"another warm job is working on {self.p.target_table}; gave up after "
                    f"{self.p.lock_timeout_s:.0f} s")
            time.sleep(LOCK_POLL_S)
        self._locked = True

    # -- checks ---------------------------------------------------------------------------------
    def prepare(self, create_target: bool = True) -> None:
        """Check every input against the real databases before any row moves."""
        p, src, warm = self.p, self.src, self.warm
        src_cols = src.columns(p.source_table)
        if not src_cols:
            raise WarmArchiveError(
                f"source table {p.source_table!r} does not exist on connection {p.source_conn_id!r}")
        names = [c.name for c in src_cols]
        self.columns = names
        self.src_cols = src_cols
        by_name = {c.name: c for c in src_cols}
        missing = [k for k in p.key if k not in by_name]
        if missing:
            raise WarmArchiveError(
                f"key column(s) {missing} not in {p.source_table}; its columns are {names}")
        if set(p.key) not in src.unique_keys(p.source_table):
            raise WarmArchiveError(
                f"key {p.key} is not unique on {p.source_table}: no primary key or unique index "
                "on exactly these columns")
        self.key_index = src.key_index(p.source_table, p.key)
        self.int_key = len(p.key) == 1 and by_name[p.key[0]].canonical[0] in ("smallint", "int", "bigint")
        if p.where_from_conf:
            self.where_sql = check_where(p.where, src.sqlglot, f"run-conf where for job {p.task_id}",
                                         level=CONF, table=p.source_table)
        else:
            self.where_sql = check_where(p.where, src.sqlglot, f"where for job {p.task_id}", level=SPEC)
        self._probe_where()
        nullable = [k for k in p.key if by_name[k].nullable]
        if nullable:
            cond = " OR ".join(f"{src.quote(k)} IS NULL" for k in nullable)
            cur = src.conn.cursor()
            self.stats.execute(cur, f"SELECT 1 FROM {src.table(p.source_table)} WHERE {cond} LIMIT 1")
            if cur.fetchall():
                raise WarmArchiveError(f"key column(s) {nullable} of {p.source_table} hold NULLs")
            src.conn.commit()

        tgt_cols = warm.columns(p.target_table)
        existed = bool(tgt_cols)
        if not tgt_cols:
            if src.name != warm.name:
                bad = [f"{c.name} ({c.native_type})" for c in src_cols if c.canonical[0] == "unmappable"]
                if bad:
                    raise WarmArchiveError(
                        f"cannot create {p.target_table} on {warm.name}: no faithful type for "
                        f"{', '.join(bad)}")
            if create_target and not p.dry_run:
                warm.create_table(p.target_table, src_cols, p.key, src.name)
                tgt_cols = warm.columns(p.target_table)
            self.same_types = src.name == warm.name
        if tgt_cols:
            fold = (lambda s: s.lower()) if warm.name != "postgres" or src.name != "postgres" else str
            tgt = {fold(c.name): c for c in tgt_cols}
            absent = [n for n in names if fold(n) not in tgt]
            extra = [c.name for c in tgt_cols if c.name not in {fold(n) for n in names} and fold(c.name) not in {fold(n) for n in names}]
            if absent or extra:
                raise WarmArchiveError(
                    f"target table {p.target_table} does not match source {p.source_table}: "
                    f"missing columns {absent}, extra columns {extra}")
            if {fold(k) for k in p.key} not in [{fold(c) for c in u} for u in warm.unique_keys(p.target_table)]:
                raise WarmArchiveError(
                    f"target table {p.target_table} has no primary key or unique index on {p.key}")
            self.same_types = src.name == warm.name and all(
                tgt[fold(c.name)].native_type == c.native_type for c in src_cols)
            self.warm_cols = [tgt[fold(n)] for n in names]
            if existed:  # a column that rounds or cuts values: refused by name, before a row moves
                typemap.check_target_holds(src_cols, self.warm_cols, src.name, warm.name, p.target_table)
        if src.name != warm.name:
            # Across PostgreSQL and MySQL: rows leave the source already in the text form the
            # warm engine ingests (COPY text lines / SQL literals), never decoded in Python.
            self.passthrough = src.passthrough_row(src_cols, warm)
        # Hot and warm tables in one database: a batch never leaves the server, and its rows,
        # its ledger row and (move) its source delete commit in ONE transaction.
        self.same_db = (src.location is not None and src.location == warm.location
                        and src.name in ("postgres", "mysql"))
        if not p.dry_run:
            self.ledger.ensure()

    def _probe_where(self):
        """Let the source judge the condition (unknown columns, types) before anything is created."""
        src = self.src
        cur = src.conn.cursor()
        try:
            self.stats.execute(
                cur, f"SELECT 1 FROM {src.table(self.p.source_table)} WHERE {self._src_where()} LIMIT 0")
            cur.fetchall()
            src.conn.commit()
        except Exception as e:
            src.conn.rollback()
            self.check_stop()
            raise WarmArchiveError(
                f"the where condition fails on {self.p.source_table}: {db_message(e)}") from None

    # -- planning -------------------------------------------------------------------------------
    def _src_where(self) -> str:
        return f"({self.src.escape_percent(self.where_sql)})"

    def plan(self, after: tuple | None) -> tuple[int, list | None]:
        """Rows still to archive after ``after``, and their key range: for a one-column key in one
        pass over the matching rows (an index on the condition's column serves it), else the
        count, then each end read in key order."""
        src, p = self.src, self.p
        cond, params = src.key_after(p.key, after)
        t = src.table(p.source_table)
        cur = src.conn.cursor()
        one = len(p.key) == 1
        first = src.quote(p.key[0])
        what = f"COUNT(*), MIN({first}), MAX({first})" if one else "COUNT(*)"
        try:
            self.stats.execute(cur, f"SELECT {what} FROM {t} WHERE {self._src_where()} AND {cond}", params)
        except Exception as e:
            src.conn.rollback()
            self.check_stop()
            raise WarmArchiveError(f"the where condition fails on {p.source_table}: {db_message(e)}") from None
        row = cur.fetchone()
        count = row[0]
        rng = None
        if count and one:
            rng = json.loads(json.dumps([[row[1]], [row[2]]], default=str))
        elif count:
            ends = []
            for direction in ("ASC", "DESC"):
                order = ", ".join(f"{src.quote(k)} {direction}" for k in p.key)
                self.stats.execute(
                    cur, f"SELECT {src.cols(p.key)} FROM {t} WHERE {self._src_where()} AND {cond} "
                    f"ORDER BY {order} LIMIT 1", params)
                ends.append(list(cur.fetchone()))
            rng = json.loads(json.dumps(ends, default=str))
        src.conn.commit()
        return count, rng

    # -- the copy -------------------------------------------------------------------------------
    def run(self) -> dict:
        """Archive every matching row. Resumes after the last committed batch of this task."""
        with _heap_frozen():
            return self._run()

    def _run(self) -> dict:
        p = self.p
        self.prepare()
        if p.dry_run:
            count, rng = self.plan(None)
            self.progress.update(rows_planned=count, key_range=rng, phase="dry_run", state="success",
                                 source_status=SourceStatus.RETAINED)
            log.info("dry run: %s rows of %s match, key range %s; nothing moved", count, p.source_table, rng)
            return self.progress.as_dict()
        self.acquire_lock()
        done = [b for b in self.ledger.batches(p.dag_id, p.run_id, p.task_id)
                if b.batch_no > 0 and not b.rolled_back_at]
        self.retrying = bool(done)
        if not any(b.batch_no == 0 for b in self.ledger.batches(p.dag_id, p.run_id, p.task_id)):
            self._write_header()
        last = done[-1].hi if done else None
        copied = sum(b.rows_inserted for b in done)
        skipped = sum(len(decode_keys(b.existing)) for b in done) if p.on_conflict == "skip" else 0
        self.progress.resume_from(copied, skipped, sum(b.rows_deleted or 0 for b in done), len(done))
        remaining, rng = self.plan(last)
        self.planned_hi = rng[1] if rng else None
        self.progress.update(rows_planned=copied + skipped + remaining, key_range=rng, phase="copy")
        failpoints.reach("after_plan")
        if done:
            log.info("resuming %s after batch %s (key %s)", p.task_id, done[-1].batch_no, last)
        if p.strategy == "move":
            self.progress.update(source_status=SourceStatus.DELETING)
            for b in done:
                if not b.source_deleted_at:  # crashed between the warm commit and the delete
                    from warm_archive.deletion import delete_batch
                    delete_batch(self, b)

        batch_no = max((b.batch_no for b in self.ledger.batches(p.dag_id, p.run_id, p.task_id)), default=0)
        started = time.monotonic()
        if self._overlaps_batches():
            self._copy_two_at_a_time(batch_no, last, started)
        else:
            while True:
                self.check_stop()
                batch_no += 1
                last = self._batch_with_retries(batch_no, last)
                if last is None:
                    break
                self._throttle(started)
        if p.strategy == "copy_then_delete":
            from warm_archive.deletion import delete_run

            delete_run(self)
        self.progress.update(
            state="success", phase="done",
            source_status=SourceStatus.RETAINED if p.strategy == "copy" else SourceStatus.PROCESSED)
        return self.progress.as_dict()

    def _write_header(self):
        cur = self.warm.conn.cursor()
        self._ledger_row(cur, 0, rows_inserted=0, rows_deleted=0)
        self.warm.conn.commit()

    def _ledger_row(self, cur, batch_no: int, keys: list[tuple] | None = None, existing_raw=(), **values):
        """Insert this job's ledger row for ``batch_no`` (0: the job's header) on ``cur``."""
        p = self.p
        if keys:
            values.update(key_lo=json.dumps(list(keys[0]), default=str),
                          key_hi=json.dumps(list(keys[-1]), default=str), keys=encode_keys(keys),
                          existing=encode_keys(existing_raw) if existing_raw else None)
        self.ledger.insert(
            cur, dag_id=p.dag_id, run_id=p.run_id, task_id=p.task_id, batch_no=batch_no,
            strategy=p.strategy, source_table=p.source_table, target_table=p.target_table,
            key_cols=json.dumps(p.key), where_sql=self.where_sql, rows_changed=0, created_at=_now(),
            **values)

    def _throttle(self, started: float):
        rate = self.p.max_rows_per_second
        if not rate:
            return
        moved = self.progress.rows_copied + self.progress.rows_skipped - self.progress._moved_at_start
        ahead = moved / rate - (time.monotonic() - started)
        while ahead > 0:
            self.check_stop()
            time.sleep(min(ahead, 0.5))
            ahead -= 0.5

    def _batch_with_retries(self, batch_no: int, last):
        return self._with_retries(lambda: self._batch(batch_no, last), (self.src, self.warm), f"batch {batch_no}")

    def _overlaps_batches(self) -> bool:
        """Two batches copy at a time where nothing is deleted during the copy and the rows stream
        between two servers (both ingest on more than one core). Not with ``on_conflict: overwrite``:
        it deletes warm rows, and on MariaDB that delete's next-key lock can block the
        batch before it, which the later batch waits for before committing (a wait no server
        sees as a deadlock)."""
        return (self.p.strategy != "move" and self.p.on_conflict != "overwrite" and not self.same_db
                and self._streams() and self.src.serves_many and self.warm.serves_many)

    def _copy_two_at_a_time(self, batch_no: int, last, started: float) -> None:
        """Copy the batches two at a time, each over its own pair of connections: while one batch
        streams, the next one's keys are read and its rows stream too. Commits stay in batch order
        (a batch commits only after the one before it did, and not at all if that one failed), so
        the ledger always holds a prefix of the batches and a retry resumes after the last."""
        lanes = list(zip(self.source_lanes(2), self.warm_lanes(2)))
        running: dict[int, tuple] = {}  # lane -> (batch number, its future)
        pool = ThreadPoolExecutor(2, thread_name_prefix="warm-batch")
        try:
            while True:
                self.check_stop()
                batch_no += 1
                lane = batch_no % 2
                if lane in running:  # that lane's previous batch, two batches back
                    running.pop(lane)[1].result()
                src, warm = lanes[lane]
                read = self._read_keys_with_retries(src, last)
                if read is None:
                    break
                keys, rows = read
                before = running.get(1 - lane)
                running[lane] = (batch_no, pool.submit(
                    self._write_with_retries, src, warm, batch_no, keys, rows,
                    before[1].result if before else None))
                last = keys[-1]
                self._throttle(started)
            for _, future in sorted(running.values(), key=lambda r: r[0]):
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _read_keys_with_retries(self, src: Dialect, last):
        return self._with_retries(lambda: self._read_keys(src, last), (src,), "key read")

    def _write_with_retries(self, src: Dialect, warm: Dialect, batch_no: int, keys, rows, before_commit):
        return self._with_retries(lambda: self._write_batch(src, warm, batch_no, keys, rows, before_commit),
                                  (src, warm), f"batch {batch_no}")

    def _with_retries(self, step, conns, what: str):
        """Run ``step``; on a serialization failure or deadlock roll back ``conns`` and run it again."""
        for attempt in range(1, RETRIES_PER_BATCH + 1):
            try:
                return step()
            except Exception as e:
                for d in conns:
                    try:
                        d.conn.rollback()
                    except Exception:
                        pass
                if self._stop.is_set():
                    self.check_stop()
                if connection_lost(e):
                    log.warning("%s: connection lost (%s); the task's retry resumes from the ledger",
                                what, db_message(e))
                if not retry_in_place(e) or attempt == RETRIES_PER_BATCH:
                    raise
                log.warning("%s: %s; retrying (%s/%s)", what, db_message(e), attempt, RETRIES_PER_BATCH)
                time.sleep(0.2 * attempt)

    def _batch(self, batch_no: int, last):
        if self.same_db:
            return self._batch_in_one_database(batch_no, last)
        read = self._read_keys(self.src, last)
        if read is None:
            return None
        keys, rows = read
        self._write_batch(self.src, self.warm, batch_no, keys, rows)
        return keys[-1]

    def _streams(self) -> bool:
        """Rows go from server to server without being decoded here (COPY, or passthrough text)."""
        return (self.src.name == "postgres" and self.warm.name == "postgres") or self.passthrough is not None

    def _read_keys(self, src: Dialect, last) -> tuple[list[tuple], list | None] | None:
        """The next batch's keys in key order, in a snapshot of the source that stays open for the
        batch's copy (locked when ``move``); with its rows when they go through Python. None: done."""
        p = self.p
        lock = src.for_update() if p.strategy == "move" else ""
        src.begin_snapshot()
        rows = None
        if self._streams():
            keys = self._batch_keys(src, last, lock)
        else:
            cur = transfer.server_cursor(src)
            select, params = self._keyset_select(src, last, self.columns)
            self.stats.execute(cur, select + lock, params)
            rows = [tuple(r) for r in cur.fetchall()]
            cur.close()
            kidx = [self.columns.index(k) for k in p.key]
            keys = [tuple(r[i] for i in kidx) for r in rows]
        if not keys:
            src.conn.commit()
            return None
        failpoints.reach("after_source_read")
        return keys, rows

    def _batch_keys(self, d: Dialect, last, lock: str) -> Sequence[tuple]:
        """The next batch's keys after ``last``, in key order, in the open snapshot of ``d``.

        A single integer key whose batch is dense (as many keys as integers from the first to the
        last, the usual id column) is known from one row: its count and ends. Only a batch with
        gaps, or a locking read, fetches every key."""
        order = d.cols(self.p.key)
        select, params = self._keyset_select(d, last, self.p.key)
        if self.int_key and not lock:
            cur = d.conn.cursor()
            self.stats.execute(cur, f"SELECT COUNT(*), MIN({order}), MAX({order}) FROM ({select}) b", params)
            n, first, last_key = cur.fetchone()
            cur.close()
            if not n:
                return []
            if last_key - first + 1 == n:
                return IntKeys.span(first, last_key)
        cur = _key_cursor(d)
        self.stats.execute(cur, select + lock, params)
        keys = fetch_keys(cur)
        cur.close()
        return keys

    def _keyset_select(self, d: Dialect, last, columns: Sequence[str]) -> tuple[str, list]:
        """(SQL, params) reading ``columns`` of the next batch's matching rows after ``last``, in
        key order (without a locking clause)."""
        p = self.p
        after, params = d.key_after(p.key, last)
        order = d.cols(p.key)
        scan, bound, bparams = d.batch_scan(p.source_table, p.key, self.key_index, self.planned_hi)
        return (f"SELECT {d.cols(columns)} FROM {scan} WHERE {self._src_where()} AND {after} AND {bound} "
                f"ORDER BY {order} LIMIT {d.placeholder}", [*params, *bparams, p.batch_size])

    def _write_batch(self, src: Dialect, warm: Dialect, batch_no: int, keys: list[tuple], rows,
                     before_commit: Callable[[], None] | None = None) -> None:
        """Write one batch's rows and its ledger row in one warm transaction (``before_commit``
        runs after the rows, before the ledger row and the commit); ``move``: then delete the
        batch's rows from the source."""
        p = self.p
        lock = src.for_update() if p.strategy == "move" else ""
        t = src.table(p.source_table)
        order = src.cols(p.key)
        lo, hi = keys[0], keys[-1]

        # Warm side: rows + ledger row, one transaction.
        wcur = warm.conn.cursor()
        between, bparams = warm.key_between(p.key, lo, hi)
        tt = warm.table(p.target_table)
        self.stats.execute(wcur, f"SELECT {warm.cols(p.key)} FROM {tt} WHERE {between}", bparams)
        in_range = wcur.fetchall()  # usually none: the warm table has nothing of this batch yet
        existing, existing_raw = [], []
        if in_range:
            batch_keys = {normalize_key(k): k for k in keys}
            existing = [k for k in (normalize_key(r) for r in in_range) if k in batch_keys]
            existing_raw = [batch_keys[k] for k in existing]
            del batch_keys
        del in_range
        previous = None
        if existing and p.on_conflict == "error":
            raise ConflictError(
                f"{len(existing)} row(s) of this batch are already in {p.target_table} "
                f"(on_conflict: error), e.g. key {list(existing_raw[0])}")
        if existing and p.on_conflict == "overwrite":
            old = transfer.select_by_keys(warm, p.target_table, self.columns, p.key, existing_raw, self.stats)
            previous = encode_rows(old)
            transfer.delete_keys(warm, p.target_table, p.key, existing_raw, self.stats)
        skip = set(existing) if p.on_conflict == "skip" else set()
        failpoints.reach("during_warm_write")
        if self.passthrough is not None:
            between_s, sparams = src.key_between(p.key, lo, hi)
            inserted = transfer.passthrough(
                src, warm, f"SELECT {order}, {self.passthrough} FROM {t} WHERE {self._src_where()} AND "
                f"{between_s} ORDER BY {order}{lock if src.name == 'mysql' else ''}", [*sparams],
                p.target_table, self.columns, len(p.key), skip, self.stats)
        elif rows is None and not skip:
            between_s, sparams = src.key_between(p.key, lo, hi)
            transfer.copy_pg_to_pg(
                src, warm, f"SELECT {src.cols(self.columns)} FROM {t} WHERE {self._src_where()} AND "
                f"{between_s} ORDER BY {order}", [*sparams], p.target_table, self.columns,
                self.same_types, self.stats)
            inserted = len(keys)
        else:
            if rows is None:  # stream path with some rows already archived: decode this batch
                wanted = [k for k in keys if normalize_key(k) not in skip]
                rows = transfer.select_by_keys(src, p.source_table, self.columns, p.key, wanted, self.stats)
            else:
                kidx = [self.columns.index(k) for k in p.key]
                rows = [r for r in rows if normalize_key(tuple(r[i] for i in kidx)) not in skip]
            inserted = transfer.insert_rows(warm, p.target_table, self.columns, rows, self.stats)
        if before_commit is not None:
            # Before the ledger row: its unique index's duplicate check can lock the index record
            # of the next batch's row (seen with delete-marked rows of an earlier run), and the next
            # batch waits for this one before it commits, a wait no server sees as a deadlock.
            before_commit()
        self._ledger_row(wcur, batch_no, keys, existing_raw, previous=previous, rows_inserted=inserted,
                         rows_deleted=0)
        failpoints.reach("before_warm_commit")
        warm.conn.commit()
        failpoints.reach("after_warm_commit")
        self.progress.add(rows_copied=inserted, rows_skipped=len(keys) - inserted if p.on_conflict == "skip" else 0,
                          batches=1)

        if p.strategy == "move":
            doomed = [k for k in keys if normalize_key(k) not in skip] + self._same_in_warm(existing_raw, skip)
            deleted = transfer.delete_keys(src, p.source_table, p.key, doomed, self.stats)
            src.conn.commit()
            failpoints.reach("after_source_delete")
            batch_id = self._batch_id(batch_no)
            self.ledger.update(wcur, batch_id, source_deleted_at=_now(), rows_deleted=deleted)
            warm.conn.commit()
            self.progress.add(rows_deleted=deleted)
        else:
            src.conn.commit()

    def _batch_in_one_database(self, batch_no: int, last):
        """``INSERT INTO warm SELECT ... FROM hot``: rows, ledger row and (move) the source delete
        in one transaction of one connection. A crash anywhere leaves the batch entirely undone."""
        p, d = self.p, self.src
        lock = d.for_update() if p.strategy == "move" else ""
        t, w, order = d.table(p.source_table), d.table(p.target_table), d.cols(p.key)
        d.begin_snapshot()
        keys = self._batch_keys(d, last, lock)
        cur = d.conn.cursor()
        if not keys:
            d.conn.commit()
            return None
        failpoints.reach("after_source_read")
        lo, hi = keys[0], keys[-1]
        between, bparams = d.key_between(p.key, lo, hi)
        self.stats.execute(cur, f"SELECT {order} FROM {w} WHERE {between}", bparams)
        in_range = cur.fetchall()  # usually none: the warm table has nothing of this batch yet
        existing_raw = []
        if in_range:
            batch_keys = {normalize_key(k): k for k in keys}
            existing_raw = [batch_keys[k] for k in (normalize_key(r) for r in in_range) if k in batch_keys]
        if existing_raw and p.on_conflict == "error":
            raise ConflictError(
                f"{len(existing_raw)} row(s) of this batch are already in {p.target_table} "
                f"(on_conflict: error), e.g. key {list(existing_raw[0])}")
        previous = None
        if existing_raw and p.on_conflict == "overwrite":
            previous = encode_rows(transfer.select_by_keys(d, p.target_table, self.columns, p.key,
                                                           existing_raw, self.stats))
            transfer.delete_keys(d, p.target_table, p.key, existing_raw, self.stats)
        skip = {normalize_key(k) for k in existing_raw} if p.on_conflict == "skip" else set()
        failpoints.reach("during_warm_write")
        not_skipped, sparams = "", []
        if skip:
            cond, sparams = d.key_in(p.key, existing_raw)
            not_skipped = f" AND NOT ({cond})"
        cols = d.cols(self.columns)
        self.stats.execute(
            cur, f"INSERT INTO {w} ({cols}) SELECT {cols} FROM {t} WHERE {self._src_where()} AND "
            f"{between}{not_skipped}", [*bparams, *sparams])
        inserted = cur.rowcount
        deleted = 0
        if p.strategy == "move":
            doomed = [k for k in keys if normalize_key(k) not in skip] + self._same_in_warm(existing_raw, skip)
            deleted = transfer.delete_keys(d, p.source_table, p.key, doomed, self.stats)
        self._ledger_row(cur, batch_no, keys, existing_raw, previous=previous, rows_inserted=inserted,
                         rows_deleted=deleted, source_deleted_at=_now() if p.strategy == "move" else None)
        failpoints.reach("before_warm_commit")
        d.conn.commit()
        failpoints.reach("after_warm_commit")
        self.progress.add(rows_copied=inserted, rows_deleted=deleted, batches=1,
                          rows_skipped=len(keys) - inserted if p.on_conflict == "skip" else 0)
        return hi

    def _same_in_warm(self, existing_raw: list[tuple], skip: set) -> list[tuple]:
        """Of the skipped keys (already in the warm table), those whose warm row equals the
        (locked) source row: only these may leave the source. The others are kept and reported."""
        if not skip:
            return []
        from warm_archive.deletion import same_values

        p = self.p
        equal, in_source = same_values(self, existing_raw)
        self.warm.conn.commit()
        same = [k for k in existing_raw if normalize_key(k) in equal]
        kept = [list(k) for k in existing_raw if normalize_key(k) in in_source and normalize_key(k) not in equal]
        if kept:
            log.warning("%s row(s) of %s differ from the row already in %s and stay in the source: "
                        "keys %s", len(kept), p.source_table, p.target_table, kept[:20])
            self.progress.add(rows_changed=len(kept))
        return same

    def _batch_id(self, batch_no: int) -> int:
        cur = self.warm.conn.cursor()
        ph = self.warm.placeholder
        q = self.warm.quote
        self.stats.execute(
            cur, f"SELECT {q('id')} FROM {self.ledger.t} WHERE {q('dag_id')} = {ph} AND {q('run_id')} = {ph} "
            f"AND {q('task_id')} = {ph} AND {q('batch_no')} = {ph}",
            (self.p.dag_id, self.p.run_id, self.p.task_id, batch_no))
        return cur.fetchone()[0]


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep the objects that exist before the job (Airflow's imports: about 190,000) out of the
    garbage collector's full passes while the job runs. Its batches allocate tuples by the
    hundred thousand, and each full pass walked that whole heap again: about 0.1 CPU-second per
    133,333 rows, measured. A process that froze its heap itself (Airflow does before forking
    workers) keeps it frozen."""
    already = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already:
            gc.unfreeze()


def _now() -> str:
    from warm_archive.ledger import now

    return now()


def _key_cursor(d: Dialect):
    """The cursor of a batch's key read: MySQLdb's default cursor turns every row into a tuple
    before the first fetch; its streaming one lets ``fetch_keys`` take a chunk at a time."""
    return transfer.server_cursor(d) if d.name == "mysql" else d.conn.cursor()
