"""The process and scratch-database helpers of the test harnesses.

They live in bench/processes.py, shared with the benchmark (bench imports nothing from tests)."""

from bench.processes import (  # noqa: F401
    AIRFLOW,
    ROOT,
    VENV_BIN,
    Proc,
    pg,
    port_free,
    recreate_my_db,
    recreate_pg_db,
    wait_for,
    wait_port_free,
)
