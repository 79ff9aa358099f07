"""Open user databases through Airflow connections and their provider hooks."""

from __future__ import annotations

from warm_archive.dialects import Dialect, session_for
from warm_archive.errors import WarmArchiveError


def connect(conn_id: str) -> Dialect:
    """A fresh DB-API connection for ``conn_id``, wrapped in its engine's dialect."""
    from airflow.sdk import BaseHook  # lazily: importing the engine does not start Airflow's SDK

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as e:
        if type(e).__name__ in ("AirflowNotFoundException", "ConnectionNotFound") or "isn't defined" in str(e):
            raise WarmArchiveError(f"connection {conn_id!r} is not defined in Airflow") from None
        raise
    session_cls = session_for(conn.conn_type)
    hook = conn.get_hook()
    try:
        raw = hook.get_conn()
    except Exception as e:
        raise WarmArchiveError(f"cannot connect to {conn_id!r} ({conn.conn_type}): {e}") from None
    s = session_cls(
        raw,
        conn_id,
        reconnect=hook.get_conn,
        location=(session_cls.dialect_class.name, conn.host, conn.port, conn.schema, conn.login),
    )
    s.use_extras(conn.extra_dejson)
    s.setup_session()
    return s
