"""``WarmArchiveOperator``: one table job of a warm DAG (docs/design.md §4, §5)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from warm_archive import defaults
from warm_archive.contract import XCOM_KEY, SourceStatus
from warm_archive.dberrors import is_db_error, public_message
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import TERMINATED, Terminated, WarmArchiveError
from warm_archive.lineage import JobLineage, TableRef, resolve
from warm_archive.progress import Publisher
from warm_archive.spec import LoadOptions, parse_conf
from warm_archive.stop_watch import StopWatch, own_state, poll_seconds

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

log = logging.getLogger(__name__)


class WarmArchiveOperator(BaseOperator):
    """Move the rows of ``source_table`` matching ``where`` into ``target_table``, batch by batch.

    A retry continues after the last committed batch; ``on_kill`` cancels the running statement
    and the job stops with its ledger consistent. The run ``conf`` may override ``strategy``,
    ``batch_size``, ``on_conflict``, ``max_rows_per_second``, ``dry_run`` and (when the spec allows
    it) ``where``; ``jobs`` and ``start_from`` choose which table jobs run. Between batches it
    waits while a ``replicas`` connection lags more than ``max_replica_lag_seconds`` or the
    source runs more than ``max_threads_running`` statements (the run conf may override both).
    No source statement should run longer than ``max_statement_seconds`` (else the run conf's,
    else ``[warm_archive] max_statement_seconds``, 0.5 s): the key ranges it reads adapt to it.

    Its inlet is the source table's Asset, its outlet the warm table's (lineage.py): a run that
    archived rows emits an asset event whose ``extra`` carries its figures; a dry run or a run that
    archived nothing emits none. With the openlineage provider installed, its runs report the
    tables, schemas, column lineage, SQL and rows written (``get_openlineage_facets_*``).
    """

    template_fields: Sequence[str] = ("where",)
    template_fields_renderers = {"where": "sql"}
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        source_conn_id: str,
        source_table: str,
        target_conn_id: str,
        target_table: str,
        key: list[str],
        where: str | None = None,
        strategy: str = defaults.STRATEGY,
        batch_size: int = defaults.BATCH_SIZE,
        on_conflict: str = defaults.ON_CONFLICT,
        max_rows_per_second: float | None = defaults.MAX_ROWS_PER_SECOND,
        allow_conf_where: bool = False,
        job_order: list[str] | None = None,
        lock_timeout_s: float | None = None,
        replicas: list[str] | None = None,
        max_replica_lag_seconds: float | None = None,
        on_replica_unreachable: str | None = None,
        max_threads_running: int | None = None,
        max_statement_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_conn_id = source_conn_id
        self.source_table = source_table
        self.target_conn_id = target_conn_id
        self.target_table = target_table
        self.key = list(key)
        self.where = where
        self.strategy = strategy
        self.batch_size = batch_size
        self.on_conflict = on_conflict
        self.max_rows_per_second = max_rows_per_second
        self.allow_conf_where = allow_conf_where
        self.job_order = job_order or [self.task_id]
        self.lock_timeout_s = lock_timeout_s
        self.max_statement_seconds = max_statement_seconds
        # Checked here as in a spec, so a DAG written in Python gets the same clear errors.
        self.load_options = LoadOptions.model_validate(
            {
                "replicas": replicas,
                "max_replica_lag_seconds": max_replica_lag_seconds,
                "on_replica_unreachable": on_replica_unreachable,
                "max_threads_running": max_threads_running,
            }
        )
        self._job: TableJob | None = None
        self._refs: tuple[TableRef | None, TableRef | None] | None = None
        # a DAG's own inlets or outlets win, at parse time and at run time
        self._own_assets = "inlets" not in kwargs and "outlets" not in kwargs
        if self._own_assets:
            source, target = self._tables()
            self.inlets = [source.asset()] if source is not None else []
            self.outlets = [target.asset()] if target is not None else []

    def _tables(self) -> tuple[TableRef | None, TableRef | None]:
        """The source and warm tables as the connections place them (looked up once per process)."""
        if self._refs is None:
            self._refs = (
                resolve(self.source_conn_id, self.source_table),
                resolve(self.target_conn_id, self.target_table),
            )
        return self._refs

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Airflow 3 runs triggered without a logical date have no ``ds``; a warm spec's where
        (``created_at < '{{ macros.ds_add(ds, -365) }}'``) should still work: use the run's
        ``run_after`` for the date macros then."""
        if context.get("ds") is None:
            run_after = getattr(context.get("dag_run"), "run_after", None)
            if run_after is not None:
                context["ds"] = run_after.strftime("%Y-%m-%d")
                context["ds_nodash"] = run_after.strftime("%Y%m%d")
                context["ts"] = run_after.isoformat()
                context["ts_nodash"] = run_after.strftime("%Y%m%dT%H%M%S")
        super().render_template_fields(context, jinja_env)

    def _params(self, context: Context) -> JobParams:
        dag_run = context["dag_run"]
        try:
            rc = parse_conf(dag_run.conf, self.job_order, self.allow_conf_where, self.load_options.replicas)
        except WarmArchiveError as e:
            raise AirflowFailException(str(e)) from None
        if rc.jobs is not None and self.task_id not in rc.jobs:
            raise AirflowSkipException(f"conf jobs={rc.jobs} does not include {self.task_id}")
        if rc.start_from and self.job_order.index(self.task_id) < self.job_order.index(rc.start_from):
            raise AirflowSkipException(f"re-execution starts from {rc.start_from}")
        from_conf = self.task_id in (rc.where or {})
        where = (rc.where or {})[self.task_id] if from_conf else self.where
        return JobParams(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            task_id=self.task_id,
            source_conn_id=self.source_conn_id,
            source_table=self.source_table,
            target_conn_id=self.target_conn_id,
            target_table=self.target_table,
            key=self.key,
            where=where,
            where_from_conf=from_conf,
            strategy=rc.strategy or self.strategy,
            batch_size=rc.batch_size or self.batch_size,
            on_conflict=rc.on_conflict or self.on_conflict,
            max_rows_per_second=rc.max_rows_per_second or self.max_rows_per_second,
            max_statement_seconds=rc.max_statement_seconds or self._max_statement_seconds(),
            dry_run=rc.dry_run,
            lock_timeout_s=self._lock_timeout(),
            limits=self.load_options.limits(rc),
        )

    def _lock_timeout(self) -> float:
        """The operator's own, else ``[warm_archive] lock_timeout`` (read on the worker, at run time)."""
        if self.lock_timeout_s is not None:
            return self.lock_timeout_s
        from airflow.configuration import conf

        return conf.getfloat("warm_archive", "lock_timeout", fallback=defaults.LOCK_TIMEOUT_S)

    def _max_statement_seconds(self) -> float:
        """The operator's own, else ``[warm_archive] max_statement_seconds`` (read on the worker)."""
        if self.max_statement_seconds is not None:
            return self.max_statement_seconds
        from airflow.configuration import conf

        return conf.getfloat("warm_archive", "max_statement_seconds", fallback=defaults.MAX_STATEMENT_S)

    def execute(self, context: Context) -> dict:
        params = self._params(context)
        ti = context["ti"]
        self._job = job = TableJob(params)
        log.info(
            "%s: %s %s -> %s (key %s, where %s, batch %s, on_conflict %s%s)",
            self.task_id,
            params.strategy,
            params.source_table,
            params.target_table,
            params.key,
            params.where,
            params.batch_size,
            params.on_conflict,
            ", dry run" if params.dry_run else "",
        )
        with Publisher(job.progress, lambda status: ti.xcom_push(key=XCOM_KEY, value=status)):
            try:
                # a terminate reaches the job within a second, not at the supervisor's next heartbeat
                with job, StopWatch(own_state(ti), job.stop, poll_seconds()):
                    status = job.run()
            except (WarmArchiveError, Exception) as e:
                # bounded, without the data values a DB error echoes; a stop says so, not "statement cancelled"
                message = public_message(e) if not job.stopped else TERMINATED
                # A stopped job deletes nothing more: what it archived waits for a retry or action.
                stopped = job.progress.source_status == SourceStatus.DELETING
                job.progress.update(
                    state="failed", error=message, **({"source_status": SourceStatus.PENDING} if stopped else {})
                )
                if isinstance(e, Terminated) or job.stopped:
                    raise AirflowFailException(
                        message if isinstance(e, Terminated) else f"terminated: {message}"
                    ) from None
                if isinstance(e, WarmArchiveError):
                    raise AirflowFailException(message) from None
                if is_db_error(e):  # the task log is as public as warm_status: the same bounded text
                    raise RuntimeError(message) from None
                raise  # a lost connection or the like: Airflow retries, and the retry resumes
        self._announce(context, params, status)
        for s in status["sql"]:
            log.info("SQL x%-6s %8.3fs  %s", s["count"], s["seconds"], s["statement"])
        log.info(
            "%s: %s rows copied, %s skipped, %s deleted, %s kept (changed)",
            self.task_id,
            status["rows_copied"],
            status["rows_skipped"],
            status["rows_deleted"],
            status["rows_changed"],
        )
        return {k: status[k] for k in ("rows_copied", "rows_skipped", "rows_deleted", "rows_changed")}

    def _announce(self, context: Context, params: JobParams, status: dict) -> None:
        """The warm table's asset event, with the run's figures; none when no row reached the
        warm table (a dry run, nothing matched, every row already there): downstream DAGs
        scheduled on the table run only when it changed."""
        if not self._own_assets:
            return
        target = self._tables()[1]
        if target is None or params.dry_run or not status["rows_copied"]:
            self.outlets = []  # this try changed no table: no event (Airflow emits one per outlet)
            return
        self.outlets = [target.asset()]
        context["outlet_events"][target.asset()].extra = {
            "action": "archive",
            "dag_id": params.dag_id,
            "run_id": params.run_id,
            "task_id": params.task_id,
            "strategy": str(params.strategy),
            "dry_run": False,
            "rows_archived": status["rows_copied"],
            "rows_skipped": status["rows_skipped"],
            "rows_deleted": status["rows_deleted"],
            "rows_kept_changed": status["rows_changed"],
            "source": self.source_table,
            "source_conn_id": self.source_conn_id,
        }

    def on_kill(self) -> None:
        if self._job is not None:
            log.info("%s: stop requested; cancelling the running statement", self.task_id)
            self._job.stop()

    # -- OpenLineage (called by the openlineage provider's listener, when it is installed) ---------
    def _lineage(self, ran: bool) -> OperatorLineage:
        job = self._job if ran else None
        source, target = self._tables()
        status = job.progress.as_dict() if job is not None else None
        return JobLineage(source, target, job.plan if job is not None else None, status).operator_lineage()

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return self._lineage(ran=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return self._lineage(ran=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """What the failed try wrote, committed batch by batch (a retry resumes after it)."""
        return self._lineage(ran=True)
