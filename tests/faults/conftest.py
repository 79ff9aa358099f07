"""Fault suite setup: its own databases and connections, the shared Airflow deployment (see
stack.py), and the summary printed at the end of the session (tally.py)."""

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


def pytest_runtest_logreport(report):
    """Count the lead's deterministic kill points (tests/engine/test_kill.py) when they run in the
    same session, so the summary covers every kill point tried."""
    if "tests/engine/test_kill.py" in report.nodeid and report.when == "call":
        tally.counts["engine_kill_tried"] += 1
        tally.counts["engine_kill_survived"] += report.passed


def pytest_sessionfinish(session):
    from tests.faults import stack as st

    st.shutdown()


def pytest_terminal_summary(terminalreporter):
    tally.print_summary(terminalreporter)
