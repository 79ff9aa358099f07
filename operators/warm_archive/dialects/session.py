"""A session: one open DB-API connection to a user database, with the dialect that writes its SQL.

The session runs what needs the server: its settings (time zone), snapshots, row and advisory
locks, cancelling a running statement, reading the catalog, creating the warm table. The SQL
text comes from ``self.dialect``; the engine code calls it on the session (``src.key_in(...)``,
``warm.quote(...)``), so the session offers every public attribute of its dialect as its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from warm_archive.dialects import catalog
from warm_archive.dialects.base import Dialect
from warm_archive.errors import WarmArchiveError
from warm_archive.typemap import Column


class Session:
    dialect_class: ClassVar[type[Dialect]]
    sqlalchemy_url: ClassVar[str]  # driver of the Inspector's engine, e.g. "postgresql+psycopg://"

    def __init__(
        self, conn: Any, conn_id: str, reconnect: Callable[[], Any] | None = None, location: tuple | None = None
    ):
        self.conn = conn
        self.conn_id = conn_id
        self.dialect: Dialect = self.dialect_class()
        # Opens another connection to the same database (cancel, parallel reads, the Inspector).
        self.reconnect = reconnect
        # (engine, host, port, database, user): equal means one database.
        self.location = location
        self._sa_engine: sa.Engine | None = None

    def __getattr__(self, name: str) -> Any:
        """The dialect's public attributes (``name``, ``placeholder``, ``quote``, ``key_in``, ...)."""
        if name.startswith("_") or name in ("conn", "dialect"):
            raise AttributeError(name)
        return getattr(self.dialect, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.conn_id!r}>"

    # -- settings and transactions --------------------------------------------------------------
    def setup_session(self) -> None:
        """UTC everywhere, so timestamps cross engines unchanged."""

    def use_extras(self, extra: Mapping[str, Any]) -> None:
        """Take what the Airflow connection's extras say about this server (``connections``)."""

    def begin_snapshot(self) -> None:
        """Start a transaction whose reads see one consistent snapshot."""

    def begin_row_locks(self) -> None:
        """Make the next transaction's locking reads lock only the rows they return, so that two
        connections can lock neighbouring key ranges at once (no gap or next-key locks)."""

    def try_lock(self, name: str) -> bool:
        """Take the advisory lock ``name`` if no other session holds it; never waits."""
        return True

    def unlock(self, name: str) -> None:
        pass

    def cancel(self) -> None:
        """Cancel the statement running on ``conn`` (called from another thread or a signal)."""

    def refresh_statistics(self, table: str, changed: int) -> str | None:
        """Bring the planner's statistics of ``table`` up to date after the job inserted or
        deleted ``changed`` of its rows, as a DBA would after a bulk change; returns the
        statement run, or None: the change was small, the server keeps them itself (InnoDB's
        persistent statistics recount a table once a tenth of it changed), or doing it now
        would mean waiting on another session."""
        return None

    # -- catalog --------------------------------------------------------------------------------
    def columns(self, table: str) -> list[Column]:
        """The table's columns in order; empty when it does not exist."""
        raise NotImplementedError

    def unique_keys(self, table: str) -> list[set[str]]:
        """Column sets of the primary key and unique indexes."""
        with self.sqlalchemy_engine().connect() as c:
            return catalog.unique_keys(c, table)

    def key_index(self, table: str, key: Sequence[str]) -> str | None:
        """The unique index whose columns are exactly ``key`` in that order, where the engine
        should be told to walk it (see ``batch_scan``); None: leave the choice to the planner."""
        return None

    def sqlalchemy_engine(self) -> sa.Engine:
        """An SQLAlchemy engine on one more connection to this session's database (``reconnect``,
        the Airflow hook's ``get_conn``), opened at the first catalog read and kept for the next
        ones (a job plans with several; a connection each cost ~15 ms): the Inspector reads the
        catalog there, never on (nor in the transaction of) ``conn``. ``close_catalog`` closes it."""
        if self._sa_engine is None:
            if self.reconnect is None:
                raise WarmArchiveError(f"connection {self.conn_id!r}: cannot open a second connection")
            self._sa_engine = sa.create_engine(self.sqlalchemy_url, creator=self.reconnect, poolclass=StaticPool)
        return self._sa_engine

    def close_catalog(self) -> None:
        """Close the catalog's connection, if one was opened."""
        if self._sa_engine is not None:
            self._sa_engine.dispose()
            self._sa_engine = None

    # -- DDL ------------------------------------------------------------------------------------
    def create_table(self, table: str, columns: list[Column], key: Sequence[str], source_engine: str) -> None:
        cur = self.conn.cursor()
        for sql in self.dialect.create_table_sql(table, columns, key, source_engine):
            cur.execute(sql)
        self.conn.commit()
