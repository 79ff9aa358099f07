"""Fault suite setup: its databases, connections and shared Airflow deployment (fixtures.py)."""

from tests.faults import fdb
from tests.faults.fixtures import fengines, stack  # noqa: F401

fdb.create_databases()
