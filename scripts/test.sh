#!/usr/bin/env bash
# The project's test command (README, .ci/run). It starts PostgreSQL and Redis on 127.0.0.1
# (scripts/services.sh, installing them when missing), runs every jest suite on SQLite, then
# the end-to-end suites again on PostgreSQL and on Fastify, and closes with one line "N passed, M failed"
# summed from jest's --json summaries. With CI=true a service that cannot start fails the run.
# What it starts it stops (by PID, checked), and its temporary files live in one folder of
# its own that is removed at the end, so checkouts running side by side never share a file.
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS=--experimental-vm-modules
work="$(mktemp -d -t nest-bindings-test.XXXXXX)"
# Temporary folders made by the suites (and by the processes they start) land in here too.
export TMPDIR="$work"
results=()
code=0
started_services=no
finish() {
  if [ "$started_services" = yes ]; then
    bash scripts/services.sh stop || { echo "services: could not stop PostgreSQL/Redis" >&2; code=1; }
  fi
  rm -rf "$work"
}
trap finish EXIT
run() { # run <label> <jest args...>
  local file="$work/jest-results-${#results[@]}.json"
  results+=("$file")
  echo "== $1"
  shift
  # The marker lets the leak check below find every process the suites started.
  NEST_BINDINGS_TEST_RUN="$work" npx jest --json --outputFile="$file" "$@" || code=1
}

if bash scripts/services.sh running; then
  services=up
elif bash scripts/services.sh start; then
  services=up
  started_services=yes
else
  services=down
  echo "services: PostgreSQL/Redis could not be started" >&2
  if [ "${CI:-}" = "true" ]; then echo "0 passed, 1 failed"; exit 1; fi
  echo "services: running the SQLite suites only (outside CI)" >&2
fi
if [ "$services" = up ]; then
  eval "$(bash scripts/services.sh env)"
  export BINDINGS_PG_URL BINDINGS_REDIS_URL
fi

# The multi-instance suites start the built sample app as separate processes.
npm run build >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "0 passed, 1 failed"; exit 1; }

run "all suites on SQLite" "$@"
if [ "$services" = up ] && [ $# -eq 0 ]; then
  BINDINGS_TEST_DB=postgres run "end-to-end suites on PostgreSQL" test/e2e
fi
# The same end-to-end suites on Nest's other HTTP platform (SQLite; about a minute).
if [ $# -eq 0 ]; then
  BINDINGS_TEST_PLATFORM=fastify run "end-to-end suites on Fastify" test/e2e
fi

# Every process the suites started (it carries the marker in its environment) must be gone.
leaked=0
for _ in $(seq 50); do # a worker may still be on its way out: give it 5 s
  leftover=$(grep -lsz "^NEST_BINDINGS_TEST_RUN=$work\$" /proc/[0-9]*/environ | cut -d/ -f3)
  [ -z "$leftover" ] && break
  sleep 0.1
done
if [ -n "$leftover" ]; then
  echo "processes left running by the suites (now killed):" >&2
  ps -o pid,args -p $leftover >&2 || true
  kill $leftover 2>/dev/null || true
  leaked=1
  code=1
fi

summary=$(node -e '
  let passed = 0, failed = Number(process.argv[1]);
  for (const file of process.argv.slice(2)) {
    try {
      const r = require(file);
      passed += r.numPassedTests;
      failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    } catch { failed += 1; }
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$leaked" "${results[@]}")
finish
trap - EXIT
echo "$summary"
exit $code
