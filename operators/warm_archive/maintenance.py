"""``<dag_id>__maintenance``: delete verified source rows, roll back, or verify a run of ``dag_id``, on a worker.

Triggered with ``conf = {"action": "rollback" | "delete_source" | "verify", "dag_id": ...,
"run_id": ..., "task_ids": [...], "any_state": false, "issued_by": ..., "issued_at": ...,
"signature": ...}``. Only the monitor plugin issues such a conf: it checks the caller's edit rights
on the target DAG, then signs the conf for this maintenance run (``contract.maintenance_signature``).
Anyone allowed to trigger the DAG through Airflow's REST API could send any conf, so the operator
refuses, before any row moves (docs/adr/0005, 0008):

* a conf without a valid signature for this very run, or naming another DAG than its own;
* any try but the first: a signed conf acts at most once, whatever Airflow does with its run
  (Clear, a retry, mark-failed then Clear); asking again on the page issues a new signed run;
* a target run in the wrong state (re-checked through the task SDK).

The table jobs are found in the DAG's own spec; what each job did is read from its ledger.
Its outlets are the spec's warm tables: a rollback that took rows back from one emits an asset event
saying so (``extra.action == "rollback"``); source deletion and verification leave the warm tables
as they are and emit none.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warm_archive.contract import XCOM_KEY, MaintenanceAction, Strategy, signature_ok, signing_secret
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import WarmArchiveError
from warm_archive.ledger import Batch
from warm_archive.lineage import resolve
from warm_archive.progress import Publisher
from warm_archive.spec import explain
from warm_archive.specs_folder import load_one

log = logging.getLogger(__name__)


class MaintenanceConf(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    action: Annotated[MaintenanceAction, Field(strict=False)]  # values: contract.py; a conf carries plain strings
    dag_id: Annotated[str, Field(min_length=1, max_length=250)]
    run_id: Annotated[str, Field(min_length=1, max_length=250)]
    task_ids: list[str] | None = None
    any_state: bool = False
    issued_by: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    issued_at: Annotated[str, Field(max_length=64)] | None = None
    signature: Annotated[str, Field(max_length=128)] | None = None


class WarmMaintenanceOperator(BaseOperator):
    """The one task of a warm DAG's maintenance DAG: acts on runs of ``target_dag_id`` only."""

    def __init__(self, *, target_dag_id: str, spec_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_dag_id = target_dag_id
        self.spec_file = spec_file
        self._job: TableJob | None = None

    def execute(self, context: Context) -> dict:
        try:
            mc = MaintenanceConf.model_validate(context["dag_run"].conf or {})
        except ValidationError as e:
            raise AirflowFailException(f"maintenance conf: {explain(e)}") from None
        _check_issued_by_monitor(context, mc)
        if mc.dag_id != self.target_dag_id:
            raise AirflowFailException(
                f"maintenance refused: {context['dag_run'].dag_id} acts on runs of {self.target_dag_id} only, "
                f"not of {mc.dag_id}"
            )
        _check_first_try(context)
        try:
            spec = load_one(Path(self.spec_file))
        except WarmArchiveError as e:
            raise AirflowFailException(str(e)) from None
        jobs = [j for j in spec.jobs if mc.task_ids is None or j.id in mc.task_ids]
        unknown = sorted(set(mc.task_ids or []) - {j.id for j in spec.jobs})
        if unknown:
            raise AirflowFailException(f"{mc.dag_id} has no table job(s) {unknown}")
        _check_target_state(context, mc)
        if mc.action == MaintenanceAction.ROLLBACK:
            jobs = list(reversed(jobs))  # undo later jobs first (they may depend on earlier ones)
        report: dict = {"action": mc.action, "dag_id": mc.dag_id, "run_id": mc.run_id, "jobs": {}}
        ti = context["ti"]
        self.outlets = []  # only the warm tables this run changed (a rollback's, below)
        for j in jobs:
            params = JobParams(
                dag_id=mc.dag_id,
                run_id=mc.run_id,
                task_id=j.id,
                source_conn_id=j.source.conn_id,
                source_table=j.source.table,
                target_conn_id=j.target.conn_id,
                target_table=j.target.table,
                key=j.key,
                strategy=spec.strategy,
                limits=spec.limits(),  # a delete or rollback on a busy primary waits like the copy
            )
            self._job = job = TableJob(params)
            try:
                with job, Publisher(job.progress, partial(_push, ti, f"{XCOM_KEY}.{j.id}")):
                    report["jobs"][j.id] = self._one(job, mc.action, mc.any_state)
            except WarmArchiveError as e:
                report["jobs"][j.id] = {"error": str(e)}
                log.error("%s %s: %s", mc.action, j.id, e)
                raise AirflowFailException(f"{mc.action} of {j.id}: {e}") from None
            log.info("%s %s: %s", mc.action, j.id, json.dumps(report["jobs"][j.id]))
            if mc.action == MaintenanceAction.ROLLBACK:
                self._announce_rollback(context, job, mc, report["jobs"][j.id])
        if mc.action == MaintenanceAction.VERIFY:
            lost = sum(r.get("lost", 0) for r in report["jobs"].values())
            if lost:
                raise AirflowFailException(f"verify: {lost} row(s) are in neither table: {report}")
        return report

    def _announce_rollback(self, context: Context, job: TableJob, mc: MaintenanceConf, done: dict) -> None:
        """The warm table's asset event: what the rollback took back from it, for which run."""
        if not done.get("rows_removed") and not done.get("rows_restored"):
            return
        p = job.plan.target_table if job.plan is not None else job.params.target_table
        target = resolve(job.params.target_conn_id, p)
        if target is None:
            return
        if target.asset() not in self.outlets:
            self.outlets.append(target.asset())
        context["outlet_events"][target.asset()].extra = {
            "action": "rollback",
            "dag_id": mc.dag_id,
            "run_id": mc.run_id,
            "task_id": job.params.task_id,
            "rows_removed": done.get("rows_removed", 0),
            "rows_restored": done.get("rows_restored", 0),
            "batches": done.get("batches", 0),
            "maintenance_run_id": context["dag_run"].run_id,
            "issued_by": mc.issued_by,
        }

    @staticmethod
    def _one(job: TableJob, action: str, any_state: bool = False) -> dict:
        p = job.params
        header = (
            next((b for b in job.entered()[1].batches(p.dag_id, p.run_id, p.task_id) if b.batch_no == 0), None)
            if _ledger_exists(job)
            else None
        )
        if header is None:
            return {"skipped": "this table job archived nothing in that run"}
        p = as_it_ran(p, header)
        if action == MaintenanceAction.DELETE_SOURCE and not any_state and p.strategy not in COPY_STRATEGIES:
            raise WarmArchiveError(
                f"delete_source refused: {p.task_id} ran with strategy {p.strategy!r}, which already deletes "
                "as it goes; only copy and copy_then_delete runs leave source rows to delete"
            )
        job.prepare(create_target=False, params=p)
        if action == MaintenanceAction.ROLLBACK:
            return job.rollback()
        if action == MaintenanceAction.DELETE_SOURCE:
            return job.delete_source(retrying=True)  # an earlier delete may have stopped before its stamp
        return job.verify()

    def on_kill(self) -> None:
        if self._job is not None:
            self._job.stop()


COPY_STRATEGIES = (Strategy.COPY, Strategy.COPY_THEN_DELETE)


def as_it_ran(params: JobParams, header: Batch) -> JobParams:
    """The job's parameters as its ledger header recorded them: maintenance acts on what the job
    did, even if the spec changed since (docs/design.md §4.1, §8)."""
    return replace(
        params,
        source_table=header.source_table,
        target_table=header.target_table,
        key=json.loads(header.key_cols),
        where=header.where_sql,
        strategy=header.strategy,
    )


# The target run states each action acts on, unless an admin's signed conf says any_state.
ACTS_ON_STATES = {MaintenanceAction.ROLLBACK: ("failed",), MaintenanceAction.DELETE_SOURCE: ("success",)}
STATE_WORDS = {"failed": "failed", "success": "successful"}


def _check_issued_by_monitor(context: Context, mc: MaintenanceConf) -> None:
    """Refuse, before anything else, a conf the monitor did not sign for this very run."""
    secret = signing_secret(lambda section, option: conf.get(section, option, fallback=""))
    if not secret:
        raise AirflowFailException(
            "maintenance refused: no signing key on this worker; set [warm_archive] maintenance_signing_key "
            "(or [api_auth] jwt_secret) to the same value on the api-server and the workers"
        )
    dag_run = context["dag_run"]
    if not signature_ok(secret, dag_run.dag_id, dag_run.run_id, dag_run.conf or {}):
        raise AirflowFailException(
            f"maintenance refused: run {dag_run.run_id!r} carries no conf signed by the Warm Tasks monitor "
            "for this run. Rollback and source deletion are asked for on the Warm Tasks page or its API "
            "(admins: POST /warm/api/v1/tasks/{dag_id}/{run_id}/maintenance), which check the caller's "
            "rights on the target DAG"
        )


def _check_first_try(context: Context) -> None:
    """A signed conf acts at most once. Airflow gives every new attempt of a task instance a higher
    try number (a retry, a Clear, a mark-failed then Clear), so a try after the first may follow
    one that already acted: acting again could undo what happened since (a sub-task rollback
    repeated after a Resume archived the rows again). Refused; the page issues a new signed run."""
    ti = context["ti"]
    if ti.try_number > 1:
        raise AirflowFailException(
            f"maintenance refused: this is try {ti.try_number} of {ti.dag_id} run {ti.run_id!r}; a signed "
            "maintenance conf acts once (its first try), so a cleared or retried run changes nothing. Ask "
            "again on the Warm Tasks page, which checks the run's state now and signs a new run"
        )


def _check_target_state(context: Context, mc: MaintenanceConf) -> None:
    """The api-server checked the state when it signed; it may have changed since."""
    wanted = ACTS_ON_STATES.get(mc.action)
    if wanted is None or mc.any_state:
        return
    try:
        state = context["ti"].get_dagrun_state(dag_id=mc.dag_id, run_id=mc.run_id)
    except Exception as e:  # the run is gone (deleted) or the API cannot tell
        raise AirflowFailException(
            f"maintenance refused: cannot read the state of {mc.dag_id} run {mc.run_id!r}: {type(e).__name__}"
        ) from None
    state = getattr(state, "value", state)  # a DagRunState, or its plain text
    if state not in wanted:
        raise AirflowFailException(
            f"maintenance refused: {mc.action} acts on {' or '.join(STATE_WORDS[w] for w in wanted)} runs only; "
            f"{mc.dag_id} run {mc.run_id!r} is {state}"
        )


def _push(ti: Any, key: str, status: dict) -> None:
    ti.xcom_push(key=key, value=status)


def _ledger_exists(job: TableJob) -> bool:
    """Whether the job's ledger exists where this code keeps it (beside the warm table); refused
    if an older version left the target's rows elsewhere, so nothing reads "archived nothing"."""
    ledger = job.entered()[1]
    ledger.check_location()
    return ledger.exists()
