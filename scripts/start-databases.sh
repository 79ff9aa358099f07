#!/usr/bin/env bash
# Starts the local PostgreSQL and MariaDB servers the tests use, if they are down.
set -uo pipefail
log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! mariadb-admin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  log "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis (the Celery tests' broker)"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for i in $(seq 1 60); do
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && mariadb-admin -h 127.0.0.1 -uroot ping >/dev/null 2>&1 \
    && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "PostgreSQL (127.0.0.1:5432), MariaDB (127.0.0.1:3306) or Redis (127.0.0.1:6379) did not come up" >&2
exit 1
