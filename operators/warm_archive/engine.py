"""A table job: opens its sessions, plans, takes the warm table's lock and dispatches the work.

The copy (docs/design.md §4.1), the verified delete (§4.3) and the rollback (§4.4) are separate
modules, each told explicitly what it works on (a ``JobPlan``, the ``Sessions``, the ``Ledger``
and a ``RunContext``): ``plan.py`` checks the inputs and builds the frozen plan, ``copying.py``
copies the batches (§4.1, §4.7), ``conflicts.py`` is the on_conflict policy, ``deletion.py`` and
``rollback.py`` the verified delete and the rollback.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from warm_archive import dryrun, failpoints
from warm_archive.archived import AlreadyArchived, ArchivedCounter
from warm_archive.connections import connect as airflow_connect
from warm_archive.context import RunContext
from warm_archive.contract import OnConflict, SourceStatus, Strategy
from warm_archive.copying import BatchCopy, write_header
from warm_archive.deletion import delete_batch, delete_run
from warm_archive.dialects import Dialect
from warm_archive.errors import WarmArchiveError
from warm_archive.ledger import Ledger
from warm_archive.load_probe import LoadProbe
from warm_archive.metrics import JobMetrics
from warm_archive.pacing import Pacer
from warm_archive.plan import JobParams, JobPlan, make_plan
from warm_archive.progress import Progress
from warm_archive.replicas import LoadGuard
from warm_archive.rollback import rollback_job, verify_job
from warm_archive.sessions import Sessions
from warm_archive.sqlstats import SqlStats
from warm_archive.values import decode_keys
from warm_archive.walk import KeyWalk, count_matches, key_ends

__all__ = ["JobParams", "JobPlan", "TableJob"]  # JobParams: the callers' inputs, defined with the plan

log = logging.getLogger(__name__)

LOCK_POLL_S = 1.0


class TableJob:
    """``with TableJob(params) as job: job.run()``; ``job.stop()`` from another thread cancels it."""

    def __init__(self, params: JobParams, connect: Callable[[str], Dialect] = airflow_connect):
        self.params = params
        self._connect = connect
        self.stats = SqlStats()
        self.metrics = JobMetrics(params.dag_id, params.task_id, params.source_table)
        self.progress = Progress(
            params.strategy, params.source_table, params.target_table, params.dry_run, self.stats, self.metrics.counted
        )
        self.ctx = RunContext(params.task_id, self.stats, self.progress, self.metrics)
        self.sessions: Sessions | None = None
        self.ledger: Ledger | None = None
        self.plan: JobPlan | None = None  # set by prepare()
        self.walk: KeyWalk | None = None  # the copy's walk over the source key, once it runs
        self._locked = False

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> TableJob:
        self.sessions = Sessions(
            self._connect, self.params.source_conn_id, self.params.target_conn_id, self.ctx.check_stop
        )
        self.ledger = Ledger(self.sessions.warm, self.stats, self.params.target_table)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ctx.pacer is not None:
            self.ctx.pacer.close()
        if self.sessions is not None:
            self.sessions.close()

    def entered(self) -> tuple[Sessions, Ledger]:
        """The sessions and ledger of an entered job (``with TableJob(...) as job``)."""
        if self.sessions is None or self.ledger is None:
            raise RuntimeError("use the job as a context manager: with TableJob(params) as job: ...")
        return self.sessions, self.ledger

    def _planned(self) -> JobPlan:
        if self.plan is None:
            raise RuntimeError("prepare() the job first")
        return self.plan

    @property
    def src(self) -> Dialect:
        return self.entered()[0].src

    @property
    def warm(self) -> Dialect:
        return self.entered()[0].warm

    def stop(self) -> None:
        """Ask the job to stop: cancels the running statements; the job raises ``Terminated`` (§4.8)."""
        self.ctx.stop_event.set()
        if self.sessions is not None:
            self.sessions.cancel()

    @property
    def stopped(self) -> bool:
        return self.ctx.stopped

    def check_stop(self) -> None:
        self.ctx.check_stop()

    @property
    def lock_name(self) -> str:
        table = self.plan.target_table if self.plan is not None else self.params.target_table
        return f"warm_archive:{table}"

    def acquire_lock(self) -> None:
        """One job at a time per warm table: a second run waits, then gives up with a clear error (§4.2)."""
        if self._locked:
            return
        timeout = self.params.lock_timeout_s
        deadline = time.monotonic() + timeout
        waited = False
        while not self.warm.try_lock(self.lock_name):
            if not waited:
                log.info("another warm job holds %s; waiting up to %.0f s", self.lock_name, timeout)
                self.progress.update(phase="waiting")
                waited = True
            self.check_stop()
            if time.monotonic() > deadline:
                table = self.lock_name.removeprefix("warm_archive:")
                raise WarmArchiveError(f"another warm job is working on {table}; gave up after {timeout:.0f} s")
            time.sleep(LOCK_POLL_S)
        self._locked = True

    # -- planning -------------------------------------------------------------------------------
    def prepare(self, create_target: bool = True, params: JobParams | None = None) -> JobPlan:
        """Check every input against the real databases before any row moves, and keep the plan.
        ``params``: other inputs than the job's own (maintenance: those of the ledger header)."""
        p = params if params is not None else self.params
        if p.limits.max_threads_running is not None and self.src.name == "sqlite":
            raise WarmArchiveError("max_threads_running: the source is SQLite, which runs no statements to count")
        self.plan = make_plan(
            p, self.src, self.warm, self.stats, create_target=create_target, check_stop=self.check_stop
        )
        self.progress.update(on_conflict=self.plan.on_conflict)
        if self.ctx.pacer is None:
            lim = p.limits
            guard = LoadGuard(lim, self._connect, p.source_conn_id) if lim.active else None
            probe = None
            if lim.pacing == "auto" and not p.dry_run:  # the baseline: before the job's first batch
                probe = LoadProbe.open(self._connect, p.source_conn_id, p.source_table, p.key, lim.pacing_latency_ratio)
            self.progress.update(pacing={"mode": "auto" if probe else "off"})
            self.ctx.pacer = Pacer(
                p.max_rows_per_second,
                guard,
                self.progress,
                self.metrics,
                self.check_stop,
                probe,
                lim.pacing_max_sleep_ratio,
            )
        ledger = self.entered()[1]
        ledger.check_location()  # an older version's ledger elsewhere: refused, dry run too
        if not p.dry_run:
            ledger.ensure()
        return self.plan

    # -- the copy -------------------------------------------------------------------------------
    def run(self) -> dict:
        """Archive every matching row. Resumes after the last committed batch of this task."""
        with _heap_frozen():
            return self._run()

    def _run(self) -> dict:
        plan = self.prepare()
        progress = self.progress
        sessions, ledger = self.entered()
        if plan.dry_run:
            # Counted along the walk, one bounded statement per step (walk.py): a dry run reads the
            # range once; the real run counts as it copies.
            ends = key_ends(plan, self.src, self.stats, None, self.check_stop)
            # ... and, in the same steps, the planned keys the warm table holds already (archived.py)
            archived = ArchivedCounter(plan, self.src, self.warm, self.stats) if plan.warm_cols else None
            count, rng = count_matches(
                plan.counted(ends), self.src, self.stats, self.check_stop, archived.step if archived else None
            )
            already = archived.result() if archived else AlreadyArchived(0, plan.on_conflict, plan.strategy)
            progress.update(
                rows_planned=count,
                key_range=rng,
                already_archived=already.rows,
                on_conflict_effect=already.effect(),
            )
            # The real run's statements for its first batch, recorded and not run (dryrun.py).
            sql = dryrun.first_batch(plan.counted(rng), sessions, self.ctx) if count else [dryrun.NOTHING_TO_DO]
            progress.update(dry_run_sql=sql, phase="dry_run", state="success", source_status=SourceStatus.RETAINED)
            log.info("dry run: %s rows of %s match, key range %s; nothing moved", count, plan.source_table, rng)
            if already.rows:
                log.info("dry run: %s", already.effect())
            for entry in sql:
                text = str(entry.get("statement") or entry.get("note") or entry.get("error"))
                log.info("dry run, %s: %s", entry.get("step"), text if len(text) < 300 else text[:300] + " ...")
            return progress.as_dict()
        self.acquire_lock()
        done = [
            b for b in ledger.batches(plan.dag_id, plan.run_id, plan.task_id) if b.batch_no > 0 and not b.rolled_back_at
        ]
        # A previous attempt may have deleted source rows after its last ledger stamp: deletions
        # then also count the batch's rows already gone from the source (deletion.delete_batches).
        retrying = bool(done)
        if not any(b.batch_no == 0 for b in ledger.batches(plan.dag_id, plan.run_id, plan.task_id)):
            write_header(plan, self.warm, ledger)
        last = done[-1].hi if done else None
        copied = sum(b.rows_inserted for b in done)
        skipped = sum(len(decode_keys(b.existing)) for b in done) if plan.on_conflict == OnConflict.SKIP else 0
        progress.resume_from(copied, skipped, sum(b.rows_deleted or 0 for b in done), len(done))
        # The key's ends only (its index): the matching rows are found, and counted, along the walk.
        rng = key_ends(plan, self.src, self.stats, last, self.check_stop)
        self.plan = plan = plan.counted(rng)
        progress.planning(copied + skipped)
        progress.update(key_range=rng, phase="copy")
        failpoints.reach("after_plan")
        if done:
            log.info("resuming %s after batch %s (key %s)", plan.task_id, done[-1].batch_no, last)
        if plan.strategy == Strategy.MOVE:
            progress.update(source_status=SourceStatus.DELETING)
            for b in done:
                if not b.source_deleted_at:  # crashed between the warm commit and the delete (§4.2)
                    delete_batch(plan, sessions, ledger, self.ctx, b, retrying=retrying)

        batch_no = max((b.batch_no for b in ledger.batches(plan.dag_id, plan.run_id, plan.task_id)), default=0)
        copy = BatchCopy(plan, sessions, ledger, self.ctx, start=rng[0] if rng else None)
        self.walk = copy.walk
        copy.run(batch_no, last)
        progress.planned(progress.rows_copied + progress.rows_skipped)
        progress.update(key_range=copy.walk.key_range())
        if plan.strategy == Strategy.COPY_THEN_DELETE:
            delete_run(plan, sessions, ledger, self.ctx, retrying=retrying)
        self._refresh_statistics(plan, progress.rows_deleted)
        progress.update(
            state="success",
            phase="done",
            source_status=SourceStatus.RETAINED if plan.strategy == Strategy.COPY else SourceStatus.PROCESSED,
        )
        return progress.as_dict()

    def _refresh_statistics(self, plan: JobPlan, deleted: int) -> None:
        """After deleting many source rows, the planner's statistics of the source, so that the
        application's next queries on it are not planned on counts from before the job (the
        session decides if the change is big enough and if it is its job:
        ``Session.refresh_statistics``). The warm table, read by few, is left to autovacuum: its
        ANALYZE would cost the job as much again."""
        if deleted:
            t0 = time.perf_counter()
            done = self.src.refresh_statistics(plan.source_table, deleted)
            if done:  # shown with the job's other statements
                self.stats.add(done, time.perf_counter() - t0)
                log.info("%s: %s rows deleted", done, deleted)

    # -- maintenance (docs/design.md §8); prepare() first ---------------------------------------
    def rollback(self) -> dict:
        """Undo every batch of the planned job (§4.4)."""
        self.acquire_lock()
        return rollback_job(self._planned(), *self.entered(), self.ctx)

    def delete_source(self, retrying: bool = True) -> dict:
        """The verified delete of every copied batch not deleted yet (§4.3). ``retrying``: an
        earlier delete of this run may have stopped before its ledger stamp."""
        self.acquire_lock()
        plan = self._planned()
        done = delete_run(plan, *self.entered(), self.ctx, retrying=retrying)
        self._refresh_statistics(plan, done["rows_deleted"])
        return done

    def verify(self) -> dict:
        """Where is every row the ledger knows of (§8)."""
        return verify_job(self._planned(), *self.entered(), self.stats)


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
