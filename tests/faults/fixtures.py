"""Fixtures shared by tests/faults and tests/abuse: their user databases and their one Airflow
deployment (stack.py). The summary and the deployment's shutdown are hooks in tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.faults import fdb


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
