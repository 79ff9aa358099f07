"""Abuse suite setup: the fault suite's databases and shared Airflow deployment, and the summary."""

from __future__ import annotations

import pytest

from tests.faults import fdb, tally

fdb.create_databases()


@pytest.fixture(scope="session")
def fengines():
    e = {"pg": fdb.FEngine("pg"), "my": fdb.FEngine("my")}
    yield e
    for x in e.values():
        try:
            x.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def stack():
    from tests.faults import stack as st

    return st.get()


def pytest_sessionfinish(session):
    from tests.faults import stack as st

    st.shutdown()


def pytest_terminal_summary(terminalreporter):
    tally.print_summary(terminalreporter)
