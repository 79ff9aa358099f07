#!/usr/bin/env bash
# Installs everything the project needs on a Debian machine: system packages, database servers
# started if they are down, and the virtualenv (.venv) with pinned versions. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# 1. System packages (mysqlclient build, database clients, pt-archiver and pgloader for the benchmark, and
#    Chromium for the browser tests).
need=()
for pkg in pkg-config default-libmysqlclient-dev build-essential postgresql-client mariadb-client percona-toolkit pgloader chromium redis-server; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. The virtualenv, reinstalled only when the dependency files change.
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || { log "creating .venv"; "$PY" -m venv .venv; }
stamp=.venv/.warm-archive-installed
want=$(cat setup.cfg pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages into .venv (pinned by requirements/constraints.txt)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c requirements/constraints.txt -e ".[test,bench,lint]" > .venv/install.log 2>&1 \
    || { cat .venv/install.log; exit 1; }
  echo "$want" > "$stamp"
fi
