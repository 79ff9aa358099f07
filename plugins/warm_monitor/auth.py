"""Authentication, authorisation and the CSRF check of the plugin's routes.

* Identity: Airflow's own ``get_user`` (Bearer token, else the ``_token`` cookie); no credentials -> 401.
* Reads need read access to the DAG's runs, writes need edit access (the auth manager decides:
  SimpleAuthManager roles, FAB roles and per-DAG permissions, ...).
* Cookie-authenticated writes must come from the page itself: the browser's ``Sec-Fetch-Site``
  must say ``same-origin`` (or, for browsers without it, ``Origin`` must equal this server), and the
  request must carry a JSON body or the ``X-Requested-With`` header, which a cross-site HTML form
  cannot send without a CORS preflight (which this app never grants). Bearer-token writes (scripts)
  are not exposed to CSRF and pass.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status

from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

read_run = requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN)
edit_run = requires_access_dag(method="PUT", access_entity=DagAccessEntity.RUN)


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
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
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

UserDep = GetUserDep
__all__ = ["EditRun", "ReadRun", "UserDep", "WriteGuard", "csrf_check", "Annotated"]
