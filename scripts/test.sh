#!/usr/bin/env bash
# The project's test command (README, .ci/run). It starts PostgreSQL and Redis on 127.0.0.1
# (scripts/services.sh, installing them when missing), runs every jest suite on SQLite, then
# the end-to-end suites again on PostgreSQL, and closes with one line "N passed, M failed"
# summed from jest's --json summaries. With CI=true a service that cannot start fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS=--experimental-vm-modules
results=()
code=0
run() { # run <label> <jest args...>
  local file
  file="$(mktemp -t jest-results.XXXXXX.json)"
  results+=("$file")
  echo "== $1"
  shift
  npx jest --json --outputFile="$file" "$@" || code=1
}

if bash scripts/services.sh start; then
  eval "$(bash scripts/services.sh env)"
  export BINDINGS_PG_URL BINDINGS_REDIS_URL
  services=up
else
  services=down
  echo "services: PostgreSQL/Redis could not be started" >&2
  if [ "${CI:-}" = "true" ]; then echo "0 passed, 1 failed"; exit 1; fi
  echo "services: running the SQLite suites only (outside CI)" >&2
fi

# The multi-instance suites start the built sample app as separate processes.
npm run build >/tmp/nest-bindings-test-build.log 2>&1 || { cat /tmp/nest-bindings-test-build.log; echo "0 passed, 1 failed"; exit 1; }

run "all suites on SQLite" "$@"
if [ "$services" = up ] && [ $# -eq 0 ]; then
  BINDINGS_TEST_DB=postgres run "end-to-end suites on PostgreSQL" test/e2e
fi

node -e '
  let passed = 0, failed = 0;
  for (const file of process.argv.slice(1)) {
    try {
      const r = require(file);
      passed += r.numPassedTests;
      failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    } catch { failed += 1; }
  }
  console.log(`${passed} passed, ${failed} failed`);
' "${results[@]}"
rm -f "${results[@]}"
exit $code
