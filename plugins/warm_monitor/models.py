"""The plugin's own tables in Airflow's metadata DB (created by :mod:`warm_monitor.db_manager`).

* ``warm_monitor_action``: every write through the API (who, when, what, on which run, outcome).
* ``warm_monitor_run``: per warm run, what users did to it: a source-status override, the latest
  delete-source / rollback maintenance run, and the re-execution links (both ways).
* ``warm_monitor_maintenance``: every maintenance run (of ``<dag_id>__maintenance``) the plugin requested.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

ID_LEN = 250


action_table = Table(
    "warm_monitor_action",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(ID_LEN), nullable=False),
    Column("action", String(50), nullable=False),
    Column("dag_id", String(ID_LEN), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("task_id", String(ID_LEN), nullable=True),
    Column("outcome", String(20), nullable=False),  # ok | refused | error
    Column("http_status", Integer, nullable=False),
    Column("detail", Text, nullable=True),
    Column("maintenance_run_id", String(ID_LEN), nullable=True),
    Column("new_run_id", String(ID_LEN), nullable=True),
    Index("idx_warm_monitor_action_run", "dag_id", "run_id"),
    Index("idx_warm_monitor_action_created", "created_at"),
)

run_table = Table(
    "warm_monitor_run",
    metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("run_id", String(ID_LEN), primary_key=True),
    # A user override of the source data status ("processed"), with who and when.
    Column("source_override", String(20), nullable=True),
    Column("override_by", String(ID_LEN), nullable=True),
    Column("override_at", DateTime(timezone=True), nullable=True),
    # Latest maintenance runs (run_id of the DAG's maintenance DAG) acting on this run.
    Column("delete_maintenance_run_id", String(ID_LEN), nullable=True),
    Column("rollback_maintenance_run_id", String(ID_LEN), nullable=True),
    Column("rollback_task_ids", Text, nullable=True),  # JSON list, null = every sub-task
    # Re-execution links: this run re-executes ``reexecution_of``; it was re-executed as
    # ``reexecuted_as`` (the latest), starting from ``reexecute_from``.
    Column("reexecution_of", String(ID_LEN), nullable=True),
    Column("reexecuted_as", String(ID_LEN), nullable=True),
    Column("reexecute_from", String(ID_LEN), nullable=True),
    # pending (the rollback runs, the new run waits) | started | rollback_failed
    Column("reexecute_state", String(20), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("idx_warm_monitor_run_rollback", "rollback_maintenance_run_id"),
    Index("idx_warm_monitor_run_reexec_state", "reexecute_state"),
)

maintenance_table = Table(
    "warm_monitor_maintenance",
    metadata,
    Column("maintenance_run_id", String(ID_LEN), primary_key=True),
    Column("action", String(20), nullable=False),
    Column("dag_id", String(ID_LEN), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("task_ids", Text, nullable=True),
    Column("purpose", String(20), nullable=False),  # the API action that asked for it
    Column("user_name", String(ID_LEN), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("idx_warm_monitor_maintenance_run", "dag_id", "run_id"),
)
