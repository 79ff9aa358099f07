#!/usr/bin/env bash
# Sets everything up and runs the demo: a local Airflow 3 (airflow standalone, SQLite metadata DB)
# with the Warm Archive plugin, a hot and a warm SQLite database holding 250,000 orders and their
# lines, and the demo warm DAG triggered once. Prints the URL and the login; Ctrl-C stops it all.
# DEMO_PORT (default 8080) picks the port, and with it the log servers' ports (PORT+10000 for the
# worker's, PORT+20000 for the triggerer's), so a second Airflow on the host does not collide;
# DEMO_FRESH=1 rebuilds the demo data and Airflow home.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${DEMO_PORT:-8080}
DEMO=$ROOT/.demo
export AIRFLOW_HOME=$DEMO/airflow

bash scripts/setup.sh
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

if [ "${DEMO_FRESH:-0}" = 1 ]; then rm -rf "$DEMO"; fi
if [ ! -f "$DEMO/data/hot.db" ]; then
  log "creating the demo databases"
  .venv/bin/python scripts/make_demo_data.py "$DEMO/data"
fi
mkdir -p "$AIRFLOW_HOME"
log "refreshing the DAG files of the specs in dags/specs (one DAG file per spec)"
.venv/bin/python -m warm_archive.dag_files --specs-folder dags/specs --dags-folder dags

export PATH=$ROOT/.venv/bin:$PATH
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__BASE_URL=http://localhost:$PORT
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((PORT + 10000))
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=$((PORT + 20000))
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW_CONN_DEMO_HOT="{\"conn_type\": \"sqlite\", \"host\": \"$DEMO/data/hot.db\"}"
export AIRFLOW_CONN_DEMO_WARM="{\"conn_type\": \"sqlite\", \"host\": \"$DEMO/data/warm.db\"}"

log "starting Airflow (airflow standalone) on port $PORT"
setsid airflow standalone > "$DEMO/standalone.log" 2>&1 &
AF=$!
trap 'log "stopping Airflow"; kill -TERM -$AF 2>/dev/null; wait $AF 2>/dev/null; exit 0' INT TERM

URL=http://localhost:$PORT
for i in $(seq 1 180); do
  curl -fs "$URL/api/v2/monitor/health" >/dev/null 2>&1 && break
  kill -0 $AF 2>/dev/null || { echo "Airflow stopped; see $DEMO/standalone.log" >&2; exit 1; }
  sleep 1
done
PASSWORD=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" \
  "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated")
TOKEN=$(curl -fs -X POST "$URL/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$PASSWORD\"}" | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
api() { curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

log "waiting for the demo warm DAG to be parsed"
for i in $(seq 1 120); do
  api "$URL/api/v2/dags/warm_demo_orders" >/dev/null 2>&1 && break
  sleep 1
done
api -X PATCH "$URL/api/v2/dags/warm_demo_orders" -d '{"is_paused": false}' >/dev/null
RUN=$(api -X POST "$URL/api/v2/dags/warm_demo_orders/dagRuns" -d '{"logical_date": null, "conf": {}}' \
  | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['dag_run_id'])")

cat <<MSG

  Warm Archive demo is running.

    Airflow UI         $URL            (login: admin / $PASSWORD)
    Warm Tasks page    $URL/warm/      (also in Airflow's navigation: Browse > Warm Tasks)
    Demo run           warm_demo_orders / $RUN
    Demo databases     $DEMO/data/hot.db -> $DEMO/data/warm.db
    Airflow log        $DEMO/standalone.log

  Press Ctrl-C to stop.
MSG
wait $AF
