#!/usr/bin/env bash
# npm run bench: builds, makes sure Redis runs (scripts/services.sh), runs bench/run.mjs with
# the given arguments (--quick), and stops the servers it started, as npm test does.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run build || exit 1
started=no
if ! bash scripts/services.sh running; then
  bash scripts/services.sh start || exit 1
  started=yes
fi
# Redis serves the bench's servers, so it runs on their core (0) for the run and the load keeps
# core 1 to itself, as it does with one instance; its own affinity is given back at the end.
redis_pid=$(cat .services/redis.pid 2>/dev/null || true)
redis_cpus=
if [ -n "$redis_pid" ] && [ "$(nproc)" -gt 1 ]; then
  redis_cpus=$(taskset -pc "$redis_pid" | sed 's/.*: //')
  taskset -apc 0 "$redis_pid" >/dev/null
fi
finish() {
  if [ -n "$redis_cpus" ] && kill -0 "$redis_pid" 2>/dev/null; then taskset -apc "$redis_cpus" "$redis_pid" >/dev/null; fi
  if [ "$started" = yes ]; then bash scripts/services.sh stop; fi
}
trap finish EXIT
eval "$(bash scripts/services.sh env)"
export BINDINGS_REDIS_URL BINDINGS_PG_URL
node bench/run.mjs "$@"
