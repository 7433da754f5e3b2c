#!/usr/bin/env bash
# Starts (or stops) the servers the tests need, on 127.0.0.1 only, installing them with
# apt-get when missing:  scripts/services.sh start|stop|env|running
#   running: exits 0 when both servers of this checkout are up (so a caller knows whether
#   it started them and must stop them)
#   PostgreSQL 15 on port $PG_PORT, a throwaway cluster under .services/pg
#   Redis on port $REDIS_PORT, no persistence
# Every server is stopped by its PID. With CI=true a server that cannot start is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.services"
# Ports: as given, else the ones this checkout used last, else free ones (another checkout's
# servers may hold the usual ones).
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
mkdir -p "$root"
PG_PORT="${PG_PORT:-$(cat "$root/pg.port" 2>/dev/null || free_port)}"
REDIS_PORT="${REDIS_PORT:-$(cat "$root/redis.port" 2>/dev/null || free_port)}"
echo "$PG_PORT" >"$root/pg.port"
echo "$REDIS_PORT" >"$root/redis.port"
PG_BIN="/usr/lib/postgresql/15/bin"

install_missing() {
  local missing=()
  [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "services: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
}

start_pg() {
  mkdir -p "$root"
  chown postgres "$root" 2>/dev/null || true
  if [ ! -f "$root/pg/PG_VERSION" ]; then
    rm -rf "$root/pg"
    su postgres -c "$PG_BIN/initdb -D '$root/pg' --auth=trust -U postgres" >/dev/null
  fi
  if su postgres -c "$PG_BIN/pg_ctl -D '$root/pg' status" >/dev/null 2>&1; then
    # Already running: its port is the 4th line of postmaster.pid.
    sed -n 4p "$root/pg/postmaster.pid" >"$root/pg.port"
  else
    su postgres -c "$PG_BIN/pg_ctl -D '$root/pg' -l '$root/pg.log' -o \"-p $PG_PORT -k '$root/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\" -w start" >/dev/null
  fi
}

start_redis() {
  mkdir -p "$root"
  if [ -f "$root/redis.pid" ] && kill -0 "$(cat "$root/redis.pid")" 2>/dev/null; then return 0; fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$root/redis.pid" --save "" --appendonly no --logfile "$root/redis.log"
  for _ in $(seq 50); do [ -s "$root/redis.pid" ] && break; sleep 0.1; done
}

case "${1:-start}" in
  start)
    install_missing
    start_pg
    start_redis
    ;;
  stop)
    # By PID, then wait until both are gone: a caller may check that nothing is left running.
    pids=()
    if [ -f "$root/pg/postmaster.pid" ]; then pids+=("$(head -1 "$root/pg/postmaster.pid")"); fi
    if [ -f "$root/redis.pid" ]; then pids+=("$(cat "$root/redis.pid")"); fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    rm -f "$root/redis.pid"
    [ "$alive" = 0 ] || { echo "services: still running after stop: ${pids[*]}" >&2; exit 1; }
    ;;
  running)
    [ -f "$root/pg/postmaster.pid" ] && kill -0 "$(head -1 "$root/pg/postmaster.pid")" 2>/dev/null &&
      [ -f "$root/redis.pid" ] && kill -0 "$(cat "$root/redis.pid")" 2>/dev/null
    ;;
  env)
    echo "BINDINGS_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "BINDINGS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
    ;;
  *) echo "usage: $0 start|stop|env|running" >&2; exit 2 ;;
esac
