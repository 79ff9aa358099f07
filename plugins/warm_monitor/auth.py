"""Authentication, authorisation and the CSRF check of the plugin's routes.

* Identity: Airflow's own ``get_user`` (Bearer token, else the ``_token`` cookie); no credentials -> 401.
* Reads need read access to the DAG's runs, writes need edit access (the auth manager decides:
  SimpleAuthManager roles, FAB roles and per-DAG permissions, ...).
* Cookie-authenticated writes must come from the page itself: the browser's ``Sec-Fetch-Site``
  must say ``same-origin`` (or, for browsers without it, ``Origin`` must equal this server), and the
  request must carry a JSON body or the ``X-Requested-With`` header, which a cross-site HTML form
  cannot send without a CORS preflight (which this app never grants). Writes authenticated by a
  Bearer token (scripts) are not exposed to CSRF and pass; a blank ``Bearer`` header authenticates
  nothing (Airflow then falls back to the cookie), so it is no exemption.
* Re-execution creates a DAG run: it also needs create on the DAG's runs, as Airflow's own trigger.
* Resume clears task instances: it also needs edit on the DAG's task instances, as Airflow's own
  "Clear" (``POST /api/v2/dags/{dag_id}/clearTaskInstances``).
* The admin maintenance route needs, besides edit on the target DAG, the right to trigger its
  maintenance DAG (``<dag_id>__maintenance``) and to edit connections (the credentials a maintenance
  run acts with).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException, Request, status
from fastapi.security.utils import get_authorization_scheme_param

from warm_archive.contract import maintenance_dag_id

read_run = requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN)
edit_run = requires_access_dag(method="PUT", access_entity=DagAccessEntity.RUN)
create_run = requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN)
edit_task_instances = requires_access_dag(method="PUT", access_entity=DagAccessEntity.TASK_INSTANCE)


def bearer_authenticated(request: Request) -> bool:
    """True when a Bearer token is what identifies the caller: the same test as Airflow's
    ``HTTPBearer(auto_error=False)``, which ignores a header without credentials."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    return scheme.lower() == "bearer" and bool(credentials.strip())


def admin_maintenance(dag_id: str, user: GetUserDep) -> None:
    from airflow.api_fastapi.app import get_auth_manager

    am = get_auth_manager()
    maintenance = maintenance_dag_id(dag_id)
    if not (
        am.is_authorized_connection(method="PUT", user=user)
        and am.is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=maintenance), user=user
        )
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"direct maintenance runs are for admins: they need edit rights on connections and the right "
            f"to trigger {maintenance}; use the Warm Tasks page's actions otherwise",
        )


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _allowed_origins(request: Request) -> set[str]:
    from airflow.configuration import conf

    allowed = {_origin_of(str(request.base_url))}
    base = conf.get("api", "base_url", fallback="") or ""
    if base.startswith(("http://", "https://")):
        allowed.add(_origin_of(base))
    return allowed


def csrf_check(request: Request) -> None:
    """Refuse a cookie-authenticated write that does not provably come from this site's page."""
    if bearer_authenticated(request):
        return
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if fetch_site is not None:  # set by the browser itself; a page cannot forge it
        same_site = fetch_site.lower() == "same-origin"
    else:  # older browsers: the Origin header of a POST
        same_site = origin is not None and origin.lower() in _allowed_origins(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    scripted = content_type == "application/json" or bool(request.headers.get("x-requested-with"))
    if not (same_site and scripted):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "cross-site request refused: a cookie-authenticated write must come from the Warm Tasks "
            "page (same origin, JSON body or X-Requested-With header); scripts should use a Bearer token",
        )


def _write_guard(request: Request, user: GetUserDep) -> None:
    csrf_check(request)


WriteGuard = Depends(_write_guard)
ReadRun = Depends(read_run)
EditRun = Depends(edit_run)
CreateRun = Depends(create_run)
EditTaskInstances = Depends(edit_task_instances)
AdminMaintenance = Depends(admin_maintenance)

UserDep = GetUserDep
__all__ = [
    "AdminMaintenance",
    "CreateRun",
    "EditRun",
    "EditTaskInstances",
    "ReadRun",
    "UserDep",
    "WriteGuard",
    "csrf_check",
    "Annotated",
]
