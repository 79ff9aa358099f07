#!/usr/bin/env bash
# The fast first stage (under a minute, no server): style (ruff), types (mypy), and the unit tests
# of spec/where/typemap/contract that need no database. Run after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
log "ruff (lint + format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
log "mypy"
.venv/bin/mypy
log "unit tests (no server)"
# --confcutdir: the suite's root conftest connects to the databases; these tests must not need them.
.venv/bin/python -m pytest -q -p no:cacheprovider --confcutdir=tests/unit tests/unit
