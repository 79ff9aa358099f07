"""Database errors: the text of them users may read, and which ones let a batch run again."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from warm_archive.errors import WarmArchiveError

DB_MESSAGE_MAX = 300
ERROR_MAX = 600
# A quoted string right after one of these words names an object (column "foo", table 'x.y',
# at or near "..."); any other quoted string in a database error may be a data value.
_NAMING_WORDS = frozenset(
    {
        "column",
        "columns",
        "relation",
        "table",
        "schema",
        "database",
        "function",
        "procedure",
        "constraint",
        "index",
        "key",
        "type",
        "sequence",
        "view",
        "trigger",
        "near",
        "in",
        "field",
        "extension",
        "collation",
        "operator",
        "role",
    }
)
_QUOTE = re.compile(r"['\"]")
_WORD_BEFORE = re.compile(r"([A-Za-z_]+)\s+$")


# -- which errors are worth another try (docs/design.md §4.5) -----------------------------------
@dataclass(frozen=True)
class ErrorKind:
    """Driver errors of one kind: PostgreSQL SQLSTATEs (and whole classes: their first two
    characters) raised by psycopg, MySQL/MariaDB error codes raised by MySQLdb."""

    sqlstates: frozenset[str]
    mysql_codes: frozenset[int]
    sqlstate_classes: tuple[str, ...] = ()

    def matches(self, e: BaseException) -> bool:
        if _is(e, "psycopg", "Error"):
            state = getattr(e, "sqlstate", None) or ""
            return state in self.sqlstates or state[:2] in self.sqlstate_classes
        if _is(e, "MySQLdb", "MySQLError") and e.args and isinstance(e.args[0], int):
            return e.args[0] in self.mysql_codes
        return False


def _is(e: BaseException, driver: str, base: str) -> bool:
    """``e`` is an instance of the driver's error base class. A driver that was never imported
    raised nothing, so it is looked up, not imported: a DAG file that imports the operator does
    not pay for both drivers at every parse."""
    module = sys.modules.get(driver)
    return module is not None and isinstance(e, getattr(module, base))


# The transaction failed but its connection is fine: roll back and run the batch again.
RETRY_IN_PLACE = ErrorKind(
    sqlstates=frozenset({"40001", "40P01", "55P03"}),  # serialization_failure, deadlock_detected, lock_not_available
    mysql_codes=frozenset({1205, 1213}),  # ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
)
# The connection is gone (network, server restart, admin shutdown): nothing can run on it again.
# The job fails; Airflow's task retry opens new connections and resumes from the ledger (§4.2).
CONNECTION_LOST = ErrorKind(
    sqlstates=frozenset({"57P01", "57P02", "57P03"}),  # admin_shutdown, crash_shutdown, cannot_connect_now
    sqlstate_classes=("08",),  # connection_exception
    # CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, ER_SERVER_SHUTDOWN
    mysql_codes=frozenset({2006, 2013, 2002, 2003, 1053}),
)


def retry_in_place(e: BaseException) -> bool:
    """Serialization failures, deadlocks and lock waits: the batch is safe to run again on the
    same connections once they are rolled back."""
    return RETRY_IN_PLACE.matches(e)


def connection_lost(e: BaseException) -> bool:
    """The server or the network dropped the connection: only a new connection helps."""
    if _is(e, "psycopg", "OperationalError") and getattr(e, "sqlstate", None) is None:
        return True  # psycopg's client-side "connection lost/closed" carries no SQLSTATE
    return CONNECTION_LOST.matches(e)


def data_or_statement_error(e: BaseException) -> bool:
    """An error a statement raises from the data it reads or its own text (a value that does not
    cast, a division by zero, an unknown column: PostgreSQL classes 22 and 42, the drivers'
    ``DataError``/``ProgrammingError``): running it again cannot help."""
    return any(_is(e, driver, base) for driver in ("psycopg", "MySQLdb") for base in ("DataError", "ProgrammingError"))


def is_db_error(e: BaseException) -> bool:
    return type(e).__module__.split(".")[0] in ("psycopg", "MySQLdb", "sqlite3")


# -- what users may read ------------------------------------------------------------------------
def db_message(e: BaseException) -> str:
    """A database error as users may read it (warm_status, task log): its first line, data values
    the server echoes (``invalid input syntax for type integer: "..."``, ``Truncated incorrect
    DOUBLE value: '...'``) replaced by ``…``, at most DB_MESSAGE_MAX characters. The full text can
    carry other rows' values (of any table a spec's subquery reads), so it never leaves the job."""
    args: tuple = getattr(e, "args", ())
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):  # MySQLdb
        text = f"({args[0]}) {args[1]}"
    else:
        text = str(e)
    text = text.strip()
    if not text:
        return type(e).__name__
    return one_line(redact_values(text.splitlines()[0]), DB_MESSAGE_MAX)


def redact_values(line: str) -> str:
    """``line`` with every quoted string that does not follow a naming word replaced by ``'…'``;
    a value's quote runs to the last same quote of the line (values may hold quotes)."""
    out, i = [], 0
    while (m := _QUOTE.search(line, i)) is not None:
        q, ch = m.start(), m.group()
        out.append(line[i:q])
        word = _WORD_BEFORE.search(line, 0, q)
        if word is not None and word.group(1).lower() in _NAMING_WORDS:
            end = line.find(ch, q + 1)
        else:
            end = line.rfind(ch)
            if end > q:
                out.append(f"{ch}…{ch}")
                i = end + 1
                continue
            end = -1
        if end == -1:  # unterminated: the rest may be a value
            out.append(f"{ch}…")
            return "".join(out)
        out.append(line[q : end + 1])
        i = end + 1
    out.append(line[i:])
    return "".join(out)


def one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def public_message(e: BaseException) -> str:
    """What a failed job reports (warm_status ``error``, the task's failure): our own messages on
    one line and bounded, database errors through ``db_message``."""
    if isinstance(e, WarmArchiveError):
        return one_line(str(e), ERROR_MAX) or type(e).__name__
    if is_db_error(e):
        return f"{type(e).__name__}: {db_message(e)}"
    return one_line(str(e), ERROR_MAX) or type(e).__name__
