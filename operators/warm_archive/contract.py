"""The contract between table jobs (workers) and the monitor plugin (api-server).

Everything both sides must agree on lives here and nowhere else: status names, the XCom key,
the maintenance DAG and its conf. This module imports nothing from Airflow or the engine so the
plugin can use it without pulling the worker code in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
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
CONF_ANY_STATE: Final = "any_state"  # admin override: act whatever the target run's state
CONF_ISSUED_BY: Final = "issued_by"
CONF_ISSUED_AT: Final = "issued_at"
CONF_SIGNATURE: Final = "signature"

SIGNED_FIELDS: Final = (CONF_ACTION, CONF_DAG_ID, CONF_RUN_ID, CONF_TASK_IDS, CONF_ANY_STATE,
                        CONF_ISSUED_BY, CONF_ISSUED_AT)

# Where both sides read the signing secret, first set wins: a dedicated key, else the JWT secret
# that every component of an Airflow 3 deployment already shares.
SIGNING_SECRET_OPTIONS: Final = (("warm_archive", "maintenance_signing_key"), ("api_auth", "jwt_secret"))


def signing_secret(get: Callable[[str, str], str | None]) -> str | None:
    """The maintenance signing secret from a config getter (``lambda s, o: conf.get(s, o, fallback="")``)."""
    for section, option in SIGNING_SECRET_OPTIONS:
        value = get(section, option)
        if value:
            return value
    return None


def maintenance_signature(secret: str, maintenance_run_id: str, conf: Mapping) -> str:
    """HMAC-SHA256 of a maintenance conf, bound to the maintenance run it was issued for.

    Only the api-server signs (after checking the caller's rights on the target DAG), so a worker
    that finds a valid signature knows the monitor issued exactly this conf for exactly this run:
    an edited conf or one copied into a new run does not verify.
    """
    fields = {name: conf.get(name) for name in SIGNED_FIELDS}
    message = json.dumps({"for_run": maintenance_run_id, **fields}, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(b"warm-archive maintenance conf v1\x00" + secret.encode()).digest()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signature_ok(secret: str, maintenance_run_id: str, conf: Mapping) -> bool:
    given = conf.get(CONF_SIGNATURE)
    return isinstance(given, str) and hmac.compare_digest(
        given, maintenance_signature(secret, maintenance_run_id, conf))
