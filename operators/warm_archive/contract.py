"""The contract between table jobs (workers) and the monitor plugin (api-server).

Everything both sides must agree on lives here and nowhere else: status names, the XCom key,
the maintenance DAG and its conf. This module imports nothing from Airflow or the engine so the
plugin can use it without pulling the worker code in.
"""

from __future__ import annotations

from typing import Final

XCOM_KEY: Final = "warm_status"
"""Key of the progress XCom each table job pushes on its own task instance (docs/design.md §5)."""

MAINTENANCE_DAG_ID: Final = "warm_maintenance"
"""Conf-driven DAG that deletes source rows, rolls back or verifies a warm run on a worker."""

WARM_DAG_TAG: Final = "warm"
"""Tag every warm DAG carries, so the plugin can tell warm DAGs from others."""

STRATEGIES: Final = ("copy", "copy_then_delete", "move")
ON_CONFLICT: Final = ("skip", "overwrite", "error")


class SourceStatus:
    """What happened to the archived rows in the source table."""

    RETAINED: Final = "retained"  # copy strategy: the source keeps its rows
    PENDING: Final = "pending"  # archived, not deleted yet
    DELETING: Final = "deleting"
    PROCESSED: Final = "processed"  # deleted, or marked so by a user
    RESTORED: Final = "restored"  # brought back by a rollback

    ALL: Final = (RETAINED, PENDING, DELETING, PROCESSED, RESTORED)


class RollbackStatus:
    NONE: Final = "none"
    REQUESTED: Final = "requested"
    RUNNING: Final = "running"
    ROLLED_BACK: Final = "rolled_back"
    FAILED: Final = "failed"

    ALL: Final = (NONE, REQUESTED, RUNNING, ROLLED_BACK, FAILED)


class MaintenanceAction:
    """Values of ``conf["action"]`` for the ``warm_maintenance`` DAG."""

    ROLLBACK: Final = "rollback"
    DELETE_SOURCE: Final = "delete_source"
    VERIFY: Final = "verify"

    ALL: Final = (ROLLBACK, DELETE_SOURCE, VERIFY)


# Keys of a warm DAG's run conf that the plugin sets on re-execution (docs/design.md §3.3).
CONF_REEXECUTION_OF: Final = "reexecution_of"
CONF_START_FROM: Final = "start_from"

# Keys of the maintenance run conf.
CONF_ACTION: Final = "action"
CONF_DAG_ID: Final = "dag_id"
CONF_RUN_ID: Final = "run_id"
CONF_TASK_IDS: Final = "task_ids"
