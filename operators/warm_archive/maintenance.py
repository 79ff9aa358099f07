"""``warm_maintenance``: delete verified source rows, roll back, or verify a warm run, on a worker.

Triggered with ``conf = {"action": "rollback" | "delete_source" | "verify", "dag_id": ...,
"run_id": ..., "task_ids": [...]}`` (the monitor plugin does exactly this). The table jobs are
found in the spec of ``dag_id``; what each job did is read from its ledger.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warm_archive import deletion, rollback
from warm_archive.contract import XCOM_KEY, MaintenanceAction
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import WarmArchiveError
from warm_archive.progress import Publisher
from warm_archive.spec import explain
from warm_archive.specs_folder import find_spec

log = logging.getLogger(__name__)


class MaintenanceConf(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    action: Literal["rollback", "delete_source", "verify"]
    dag_id: Annotated[str, Field(min_length=1, max_length=250)]
    run_id: Annotated[str, Field(min_length=1, max_length=250)]
    task_ids: list[str] | None = None


assert set(MaintenanceConf.model_fields["action"].annotation.__args__) == set(MaintenanceAction.ALL)


class WarmMaintenanceOperator(BaseOperator):
    def __init__(self, *, specs_folder: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.specs_folder = specs_folder
        self._job: TableJob | None = None

    def execute(self, context) -> dict:
        try:
            mc = MaintenanceConf.model_validate(context["dag_run"].conf or {})
        except ValidationError as e:
            raise AirflowFailException(f"maintenance conf: {explain(e)}") from None
        try:
            spec = find_spec(mc.dag_id, Path(self.specs_folder) if self.specs_folder else None)
        except WarmArchiveError as e:
            raise AirflowFailException(str(e)) from None
        jobs = [j for j in spec.jobs if mc.task_ids is None or j.id in mc.task_ids]
        unknown = sorted(set(mc.task_ids or []) - {j.id for j in spec.jobs})
        if unknown:
            raise AirflowFailException(f"{mc.dag_id} has no table job(s) {unknown}")
        if mc.action == MaintenanceAction.ROLLBACK:
            jobs = list(reversed(jobs))  # undo later jobs first (they may depend on earlier ones)
        report: dict = {"action": mc.action, "dag_id": mc.dag_id, "run_id": mc.run_id, "jobs": {}}
        ti = context["ti"]
        for j in jobs:
            params = JobParams(
                dag_id=mc.dag_id, run_id=mc.run_id, task_id=j.id, source_conn_id=j.source.conn_id,
                source_table=j.source.table, target_conn_id=j.target.conn_id, target_table=j.target.table,
                key=j.key, strategy=spec.strategy)
            self._job = job = TableJob(params)
            try:
                with job, Publisher(job.progress, lambda s, t=j.id: ti.xcom_push(key=f"{XCOM_KEY}.{t}", value=s)):
                    report["jobs"][j.id] = self._one(job, mc.action)
            except WarmArchiveError as e:
                report["jobs"][j.id] = {"error": str(e)}
                log.error("%s %s: %s", mc.action, j.id, e)
                raise AirflowFailException(f"{mc.action} of {j.id}: {e}") from None
            log.info("%s %s: %s", mc.action, j.id, json.dumps(report["jobs"][j.id]))
        if mc.action == MaintenanceAction.VERIFY:
            lost = sum(r.get("lost", 0) for r in report["jobs"].values())
            if lost:
                raise AirflowFailException(f"verify: {lost} row(s) are in neither table: {report}")
        return report

    @staticmethod
    def _one(job: TableJob, action: str) -> dict:
        p = job.p
        header = next((b for b in job.ledger.batches(p.dag_id, p.run_id, p.task_id) if b.batch_no == 0), None) \
            if _ledger_exists(job) else None
        if header is None:
            return {"skipped": "this table job archived nothing in that run"}
        # Act on what the job did, even if the spec changed since.
        p.source_table, p.target_table = header.source_table, header.target_table
        p.key, p.where, p.strategy = json.loads(header.key_cols), header.where_sql, header.strategy
        job.prepare(create_target=False)
        if action == MaintenanceAction.ROLLBACK:
            return rollback.rollback_job(job)
        if action == MaintenanceAction.DELETE_SOURCE:
            job.acquire_lock()
            job.retrying = True  # an earlier delete of this run may have stopped before its stamp
            return deletion.delete_run(job)
        return rollback.verify_job(job)

    def on_kill(self) -> None:
        if self._job is not None:
            self._job.stop()


def _ledger_exists(job: TableJob) -> bool:
    from warm_archive.ledger import TABLE

    return bool(job.warm.columns(TABLE))
