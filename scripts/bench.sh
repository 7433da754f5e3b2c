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
trap '[ "$started" = yes ] && bash scripts/services.sh stop' EXIT
eval "$(bash scripts/services.sh env)"
export BINDINGS_REDIS_URL BINDINGS_PG_URL
node bench/run.mjs "$@"
