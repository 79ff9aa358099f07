"""What differs between engines: the SQL each writes (``Dialect``), the connection that runs it (``Session``).

One module per engine (``postgres``, ``mysql``, ``sqlite``) assembles its dialect from one module
per job of the SQL (``keyset``, ``digest``, ``literals``, ``ddl``) and adds its session; ``base``
is the dialect's interface, ``session`` the session's, ``catalog`` reads table definitions.
The engine code (``engine.py`` and the modules it calls) speaks only through a ``Session``
(``connections.connect`` opens one), which also offers every method of its dialect.
"""

from __future__ import annotations

from warm_archive.dialects import base
from warm_archive.dialects.base import split_table
from warm_archive.dialects.digest import GROUP_CONCAT_MAX
from warm_archive.dialects.mysql import MySQLDialect, MySQLSession
from warm_archive.dialects.postgres import PostgresDialect, PostgresSession
from warm_archive.dialects.postgres import lock_id as _lock_id  # noqa: F401  (tests/faults)
from warm_archive.dialects.session import Session
from warm_archive.dialects.sqlite import SQLiteDialect, SQLiteSession
from warm_archive.errors import WarmArchiveError

__all__ = [
    "GROUP_CONCAT_MAX",
    "Dialect",
    "MySQLDialect",
    "MySQLSession",
    "PostgresDialect",
    "PostgresSession",
    "SQLiteDialect",
    "SQLiteSession",
    "Session",
    "dialect_for",
    "session_for",
    "split_table",
]

# engine.py, transfer.py and ledger.py name the object ``connections.connect`` gives them a
# ``Dialect`` (from when one class both wrote the SQL and held the connection). That object is a
# Session, which offers every method of its dialect; this name lets them import it unchanged.
# New code says Session; the SQL writers' interface is ``base.Dialect``.
Dialect = Session

_SESSIONS: dict[str, type[Session]] = {
    "postgres": PostgresSession,
    "postgresql": PostgresSession,
    "mysql": MySQLSession,
    "mariadb": MySQLSession,
    "sqlite": SQLiteSession,
}


def session_for(conn_type: str | None) -> type[Session]:
    """The session class of an Airflow connection type."""
    conn_type = (conn_type or "").lower()
    try:
        return _SESSIONS[conn_type]
    except KeyError:
        raise WarmArchiveError(
            f"connection type {conn_type!r} is not supported: use postgres, mysql or sqlite"
        ) from None


def dialect_for(conn_type: str | None) -> type[base.Dialect]:
    """The dialect class (the SQL alone) of an Airflow connection type."""
    return session_for(conn_type).dialect_class
