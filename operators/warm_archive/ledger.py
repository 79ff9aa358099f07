"""The ledger: what each batch of a table job did, kept in the warm DB beside the rows.

A batch's ledger row commits in the same transaction as the batch's rows, so the ledger is
exactly as true as the warm table. Rollback and verified deletion read it; retries resume from it.
Row ``batch_no = 0`` of a job is its header: the parameters the job ran with.

The ledger's layout is versioned (docs/adr/0006-ledger-schema-version.md): the warm DB's
``warm_archive_schema`` table holds one row (component ``ledger``, version). ``Ledger.ensure()``
creates the ledger at this code's version, stamps an unversioned ledger of the first layout as
version 1, applies the upgrade steps of ``STEPS`` in order, and refuses a ledger newer than the code.

Where (docs/adr/0001-ledger-in-the-warm-db.md, "Where in the warm DB"): on MariaDB/MySQL a schema is
a database, so the ledger and its version table sit in the warm table's database: the one its
qualified name (``db.table``) names, else the connection's default database. On PostgreSQL a
connection is one database, which holds the warm table: the ledger is in it, unqualified (the
search path's first schema). ``Ledger.check_location()`` refuses a job whose target has ledger rows
that an older version wrote into the connection's default database instead.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warm_archive.dbapi import Cursor
from warm_archive.dialects import Dialect
from warm_archive.dialects.base import split_table
from warm_archive.errors import WarmArchiveError
from warm_archive.sqlstats import SqlStats

log = logging.getLogger(__name__)

TABLE = "warm_archive_ledger"
SCHEMA_TABLE = "warm_archive_schema"  # (component, version): one row per versioned component
COMPONENT = "ledger"
JOB_INDEX = "warm_archive_ledger_job"

# Version 1 is the layout the ledger had before it carried a version, on every warm DB that exists:
# frozen here, types included, so that nothing but an upgrade step can change a versioned layout.
_V1_COLUMNS = (
    ("dag_id", "str"), ("run_id", "str"), ("task_id", "str"), ("batch_no", "int"),
    ("strategy", "str"), ("source_table", "str"), ("target_table", "str"), ("key_cols", "text"),
    ("where_sql", "text"), ("key_lo", "text"), ("key_hi", "text"), ("keys", "text"),
    ("existing", "text"), ("previous", "text"), ("rows_inserted", "int"), ("rows_deleted", "int"),
    ("rows_changed", "int"), ("created_at", "ts"), ("source_deleted_at", "ts"),
    ("rolled_back_at", "ts"),
)  # fmt: skip
_V1_TYPES = {
    "postgres": {"id": "BIGSERIAL PRIMARY KEY", "str": "VARCHAR(250)", "text": "TEXT",
                 "int": "BIGINT", "ts": "VARCHAR(40)"},
    "mysql": {"id": "BIGINT AUTO_INCREMENT PRIMARY KEY", "str": "VARCHAR(250)", "text": "LONGTEXT",
              "int": "BIGINT", "ts": "VARCHAR(40)"},
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "str": "VARCHAR(250)", "text": "TEXT",
               "int": "BIGINT", "ts": "VARCHAR(40)"},
}  # fmt: skip
V1_NAMES = ("id", *(c for c, _ in _V1_COLUMNS))

# The upgrade steps, in order: STEPS[i] = (what it does, step) takes the ledger from version i + 1
# to i + 2. A step must be idempotent (look at the catalog, then act: a killed upgrade runs it
# again) and may meet a twin doing the same at the same moment (``ensure()`` retries a statement
# that lost such a race from a fresh look). A step that adds columns adds them to _COLUMNS too.
# None yet: the unique index on (dag_id, run_id, task_id, batch_no) already serves every lookup
# (a job's rows, by that index's prefix; one row, by id).
STEPS: tuple[tuple[str, Callable[[Ledger], None]], ...] = ()

_COLUMNS = _V1_COLUMNS
FIELDS = tuple(c for c, _ in _COLUMNS)

_ATTEMPTS = 10  # of ensure(), against a twin job creating or upgrading the ledger at the same moment


def current_version() -> int:
    """The ledger version this code reads and writes."""
    return 1 + len(STEPS)


class LedgerSchemaError(WarmArchiveError):
    """The warm DB's ledger has a layout this code must not write into (newer, or unknown)."""


class LedgerLocationError(WarmArchiveError):
    """The target's ledger rows are in the connection's default database, where an older version
    put them, not in the warm table's database, where this code reads and writes them."""


def ledger_database(warm: Dialect, target_table: str | None) -> str | None:
    """The database that holds the ledger of a job writing ``target_table`` on ``warm``; None: the
    connection's own (its default database on MariaDB/MySQL, its database on PostgreSQL).
    On MariaDB/MySQL a schema IS a database: a qualified warm table's ledger sits beside it. On
    PostgreSQL the connection's database already holds the warm table, whatever its schema."""
    if warm.name != "mysql" or not target_table:
        return None
    return split_table(target_table)[0]


class _Raced(Exception):
    """Another job moved the version while this one upgraded: look again."""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Batch:
    id: int
    dag_id: str
    run_id: str
    task_id: str
    batch_no: int
    strategy: str
    source_table: str
    target_table: str
    key_cols: str
    where_sql: str
    key_lo: str | None
    key_hi: str | None
    keys: str | None
    existing: str | None
    previous: str | None
    rows_inserted: int
    rows_deleted: int
    rows_changed: int
    created_at: str
    source_deleted_at: str | None
    rolled_back_at: str | None

    @property
    def hi(self) -> tuple | None:
        return tuple(json.loads(self.key_hi)) if self.key_hi else None


class Ledger:
    def __init__(self, warm: Dialect, stats: SqlStats, target_table: str | None = None):
        """The ledger of the jobs writing ``target_table`` on ``warm`` (None: the connection's own
        database, as for an unqualified table)."""
        self.d = warm
        self.stats = stats
        self.target_table = target_table
        self.database = ledger_database(warm, target_table)
        self.name = f"{self.database}.{TABLE}" if self.database else TABLE  # for the dialect and catalog
        self.schema_name = f"{self.database}.{SCHEMA_TABLE}" if self.database else SCHEMA_TABLE
        self.t = warm.table(self.name)

    def where(self) -> str:
        """The ledger's place, in words (messages)."""
        if self.database:
            return f"{self.name} (the warm table's database) on connection {self.d.conn_id!r}"
        return f"{TABLE} in the warm DB of connection {self.d.conn_id!r}"

    def exists(self) -> bool:
        return bool(self.d.columns(self.name))

    # -- where it is ----------------------------------------------------------------------------
    def check_location(self) -> None:
        """Refuse (``LedgerLocationError``, nothing written) a job whose qualified MariaDB/MySQL
        target has ledger rows in the connection's default database: an older version kept every
        ledger there. Reading only the warm table's database would miss them, and a resume would
        redo batches, a rollback skip them. The message names both places and how to move the rows."""
        if not self.database:
            return
        cur = self.d.conn.cursor()
        cur.execute(
            "SELECT DATABASE(), COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (TABLE,),
        )
        default, present = cur.fetchone()
        self.d.conn.commit()
        default = default.decode() if isinstance(default, bytes) else default
        if default is None or default == self.database or not present:
            return
        old = f"{self.d.quote(default)}.{self.d.quote(TABLE)}"
        cur.execute(f"SELECT COUNT(*) FROM {old} WHERE {self.d.quote('target_table')} = %s", (self.target_table,))
        n = int(cur.fetchone()[0])
        self.d.conn.commit()
        if not n:
            return
        raise LedgerLocationError(self._moved_message(default, n))

    def _moved_message(self, default: str, n: int) -> str:
        q = self.d.quote
        old_l, old_s = f"{q(default)}.{q(TABLE)}", f"{q(default)}.{q(SCHEMA_TABLE)}"
        new_s = self.d.table(self.schema_name)
        cols = self.d.cols(FIELDS)
        target = self.target_table.replace("'", "''") if self.target_table else ""
        return (
            f"the ledger of {self.target_table} belongs in its database {self.database!r} "
            f"({self.name}), but {n} ledger row(s) of {self.target_table} are in {default}.{TABLE}, "
            f"the default database of connection {self.d.conn_id!r}, where an older warm_archive kept "
            f"every ledger. Refusing to run from an incomplete ledger (a resume would redo batches, a "
            f"rollback would miss them). Move those rows, in one transaction (both ledgers at schema "
            f"version {current_version()}): CREATE TABLE IF NOT EXISTS {new_s} LIKE {old_s}; "
            f"INSERT IGNORE INTO {new_s} SELECT * FROM {old_s}; "
            f"CREATE TABLE IF NOT EXISTS {self.t} LIKE {old_l}; START TRANSACTION; "
            f"INSERT INTO {self.t} ({cols}) SELECT {cols} FROM {old_l} WHERE {q('target_table')} = '{target}'; "
            f"DELETE FROM {old_l} WHERE {q('target_table')} = '{target}'; COMMIT"
        )

    # -- the layout and its version -------------------------------------------------------------
    def ensure(self) -> None:
        """Bring the ledger to this code's version before a job writes into it: create it on an
        empty warm DB, stamp the unversioned first layout as version 1, apply the upgrade steps
        from an older version; refuse (``LedgerSchemaError``, nothing written) a newer or unknown
        layout. Two jobs may do this at the same moment: every step is idempotent, and a statement
        that loses the race (already exists, duplicate key) is retried from a fresh look."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._ensure()
                return
            except LedgerSchemaError:
                self.d.conn.rollback()
                raise
            except Exception as e:
                self.d.conn.rollback()
                if attempt == _ATTEMPTS:
                    raise
                log.info(
                    "ledger schema on %s: %s; looking again (%s)",
                    self.d.conn_id,
                    str(e).strip() or type(e).__name__,
                    attempt,
                )
                time.sleep(0.05 * attempt)

    def version(self) -> int | None:
        """The version stamped in the warm DB; None where none is (an empty or unversioned DB)."""
        if not self.d.columns(self.schema_name):
            return None
        cur = self.d.conn.cursor()
        cur.execute(
            f"SELECT {self.d.quote('version')} FROM {self.d.table(self.schema_name)} "
            f"WHERE {self.d.quote('component')} = {self.d.placeholder}",
            (COMPONENT,),
        )
        row = cur.fetchone()
        self.d.conn.commit()
        return int(row[0]) if row else None

    def _ensure(self) -> None:
        want = current_version()
        # The columns first: a twin claims its stamp before it builds a layout (below), so a layout
        # seen here has its stamp visible by the time it is read.
        names = tuple(c.name for c in self.d.columns(self.name))
        stamped = self.version()
        if stamped is not None and stamped > want:  # before anything is written
            raise LedgerSchemaError(
                f"the ledger ({self.where()}) is at schema "
                f"version {stamped}, newer than version {want}, the newest this worker's warm_archive "
                f"knows; refusing to write into a layout it does not know: upgrade warm_archive on "
                f"this worker"
            )
        if names and stamped is None and names != V1_NAMES:
            raise LedgerSchemaError(
                f"the ledger ({self.where()}) has no schema "
                f"version ({self.schema_name} holds none) and its columns {list(names)} are not those of "
                f"version 1 {list(V1_NAMES)}; refusing to write into a layout this code does not know"
            )
        if stamped == want and names:
            return
        before = stamped
        cur = self.d.conn.cursor()
        q = self.d.quote
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {self.d.table(self.schema_name)} ("
            f"{q('component')} VARCHAR(64) NOT NULL PRIMARY KEY, {q('version')} INTEGER NOT NULL)"
        )
        self.d.conn.commit()
        if stamped is None:
            # Claim the starting point first, so that a twin never mistakes a half-built layout for
            # an unknown one: today's layout is version 1; 0 is "being created". A twin that claimed
            # first makes this insert a duplicate key: ensure() looks again and follows its stamp.
            stamped = 1 if names else 0
            cur.execute(
                f"INSERT INTO {self.d.table(self.schema_name)} ({q('component')}, {q('version')}) "
                f"VALUES ({self.d.placeholder}, {self.d.placeholder})",
                (COMPONENT, stamped),
            )
            self.d.conn.commit()
        layout = stamped if names and stamped > 1 else 1  # complete up to this version, once created
        if layout == 1:
            self._create_v1()  # idempotent; also completes a v1 ledger whose index a killed job never made
        if stamped == 0:
            stamped = self._advance(0, 1)
        for version, (what, step) in enumerate(STEPS, start=2):
            if version > layout:
                log.info("ledger schema on %s: version %s: %s", self.d.conn_id, version, what)
                step(self)
                self.d.conn.commit()
                if stamped == version - 1:
                    stamped = self._advance(stamped, version)
        if stamped != want:  # a ledger dropped under its stamp, rebuilt
            stamped = self._advance(stamped, want)
        if before is None and names:
            log.info(
                "ledger schema on %s: stamped the unversioned ledger as version 1%s",
                self.d.conn_id,
                f" and upgraded it to version {want}" if want > 1 else "",
            )
        elif before and names:
            log.info("ledger schema on %s: upgraded from version %s to %s", self.d.conn_id, before, want)

    def _advance(self, stamped: int, version: int) -> int:
        """Move the stamp from ``stamped`` to ``version``, unless a twin moved it first."""
        cur = self.d.conn.cursor()
        t, q, ph = self.d.table(self.schema_name), self.d.quote, self.d.placeholder
        cur.execute(
            f"UPDATE {t} SET {q('version')} = {ph} WHERE {q('component')} = {ph} AND {q('version')} = {ph}",
            (version, COMPONENT, stamped),
        )
        if cur.rowcount != 1:
            raise _Raced(f"the ledger's version moved from {stamped} while this job upgraded it")
        self.d.conn.commit()
        return version

    def _create_v1(self) -> None:
        types = _V1_TYPES[self.d.name]
        cols = ", ".join(f"{self.d.quote(c)} {types[t]}" for c, t in _V1_COLUMNS)
        cur = self.d.conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.t} ({self.d.quote('id')} {types['id']}, {cols})")
        self.d.conn.commit()
        self.create_index(JOB_INDEX, ("dag_id", "run_id", "task_id", "batch_no"), unique=True)

    def create_index(self, name: str, columns: tuple[str, ...], unique: bool = False) -> None:
        """Create an index on the ledger unless one of that name exists (for upgrade steps too).
        The catalog is read first: PostgreSQL's CREATE INDEX IF NOT EXISTS takes its lock on the
        table (and waits for the running batches) even when the index is there."""
        cur = self.d.conn.cursor()
        if self.d.name == "mysql":
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
                "AND TABLE_NAME = %s AND INDEX_NAME = %s",
                (self.database, TABLE, name),
            )
        elif self.d.name == "postgres":
            cur.execute("SELECT COUNT(to_regclass(%s))", (self.d.quote(name),))
        else:
            cur.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
        exists = cur.fetchone()[0]
        self.d.conn.commit()
        if exists:
            return
        kind = "UNIQUE INDEX" if unique else "INDEX"
        # MySQL has no IF NOT EXISTS here: a twin's index makes this a duplicate name, and
        # ensure() looks again.
        maybe = "" if self.d.name == "mysql" else "IF NOT EXISTS "
        cur.execute(f"CREATE {kind} {maybe}{self.d.quote(name)} ON {self.t} ({self.d.cols(columns)})")
        self.d.conn.commit()

    # -- rows -----------------------------------------------------------------------------------
    def insert(self, cur: Cursor, **values: Any) -> None:
        """Insert a ledger row on ``cur`` (the caller commits, with the batch's rows)."""
        names = [f for f in FIELDS if f in values]
        sql = f"INSERT INTO {self.t} ({self.d.cols(names)}) VALUES ({self.d.params(len(names))})"
        self.stats.execute(cur, sql, [values[n] for n in names])

    def batches(self, dag_id: str, run_id: str, task_id: str) -> list[Batch]:
        """Every row of a job, header first, in batch order."""
        p = self.d.placeholder
        cur = self.d.conn.cursor()
        self.stats.execute(
            cur,
            f"SELECT {self.d.cols(('id',) + FIELDS)} FROM {self.t} WHERE {self.d.quote('dag_id')} = {p} "
            f"AND {self.d.quote('run_id')} = {p} AND {self.d.quote('task_id')} = {p} "
            f"ORDER BY {self.d.quote('batch_no')}",
            (dag_id, run_id, task_id),
        )
        rows = [Batch(*r) for r in cur.fetchall()]
        self.d.conn.commit()
        return rows

    def batch_id(self, warm: Dialect, dag_id: str, run_id: str, task_id: str, batch_no: int) -> int:
        """The id of a job's ledger row for ``batch_no``, read on ``warm`` (a connection to the warm DB)."""
        cur = warm.conn.cursor()
        ph, q = warm.placeholder, warm.quote
        self.stats.execute(
            cur,
            f"SELECT {q('id')} FROM {self.t} WHERE {q('dag_id')} = {ph} AND {q('run_id')} = {ph} "
            f"AND {q('task_id')} = {ph} AND {q('batch_no')} = {ph}",
            (dag_id, run_id, task_id, batch_no),
        )
        return cur.fetchone()[0]

    def update(self, cur: Cursor, batch_id: int, **values: Any) -> None:
        sets = ", ".join(f"{self.d.quote(k)} = {self.d.placeholder}" for k in values)
        sql = f"UPDATE {self.t} SET {sets} WHERE {self.d.quote('id')} = {self.d.placeholder}"
        self.stats.execute(cur, sql, [*values.values(), batch_id])
