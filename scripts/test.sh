#!/usr/bin/env bash
# Sets everything up, runs the fast checks (scripts/check.sh), then the whole test suite against real
# PostgreSQL, MariaDB and Airflow.
# Extra arguments go to pytest (e.g. scripts/test.sh -k rollback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh          # the fast first stage: ruff, mypy, server-free unit tests
bash scripts/start-databases.sh
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
