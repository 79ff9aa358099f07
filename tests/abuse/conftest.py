"""Abuse suite setup: the fault suite's databases and shared Airflow deployment (tests/faults)."""

from tests.faults import fdb
from tests.faults.fixtures import fengines, stack  # noqa: F401

fdb.create_databases()
