#!/usr/bin/env bash
# Sets everything up and runs the whole test suite against real PostgreSQL, MariaDB and Airflow.
# Extra arguments go to pytest (e.g. scripts/test.sh -k rollback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/start-databases.sh
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
