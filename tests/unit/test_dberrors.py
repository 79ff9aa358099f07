"""Which driver errors let a batch run again (docs/design.md §4.5): by SQLSTATE and MySQL error code."""

from __future__ import annotations

import MySQLdb
import psycopg
import psycopg.errors as pg
import pytest

from warm_archive.dberrors import connection_lost, retry_in_place


@pytest.mark.parametrize(
    "error",
    [
        pg.SerializationFailure(),
        pg.DeadlockDetected(),
        pg.LockNotAvailable(),
        MySQLdb.OperationalError(1213, "Deadlock found"),
        MySQLdb.OperationalError(1205, "Lock wait timeout exceeded"),
    ],
    ids=lambda e: type(e).__name__ + str(e.args[:1]),
)
def test_serialization_failures_deadlocks_and_lock_waits_run_again(error):
    assert retry_in_place(error) and not connection_lost(error)


@pytest.mark.parametrize(
    "error",
    [
        pg.AdminShutdown(),
        pg.ConnectionFailure(),
        pg.CannotConnectNow(),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        MySQLdb.OperationalError(2006, "MySQL server has gone away"),
        MySQLdb.OperationalError(2013, "Lost connection to server during query"),
    ],
    ids=lambda e: type(e).__name__ + str(e.args[:1]),
)
def test_a_lost_connection_is_not_retried_in_place(error):
    assert connection_lost(error) and not retry_in_place(error)


@pytest.mark.parametrize(
    "error",
    [
        pg.UniqueViolation(),
        pg.QueryCanceled(),
        MySQLdb.IntegrityError(1062, "Duplicate"),
        MySQLdb.OperationalError(1317, "Query execution was interrupted"),
        RuntimeError("SerializationFailure"),
        ValueError(1213),
    ],
    ids=lambda e: type(e).__name__ + str(e.args[:1]),
)
def test_other_errors_are_neither(error):
    assert not retry_in_place(error) and not connection_lost(error)


def test_a_class_name_alone_does_not_make_an_error_retryable():
    class SerializationFailure(Exception):  # not a driver's: the old name match took it
        pass

    class OperationalError(Exception):
        pass

    assert not retry_in_place(SerializationFailure()) and not retry_in_place(OperationalError(1213, "x"))
