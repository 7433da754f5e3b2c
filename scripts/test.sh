#!/usr/bin/env bash
# The project's test command (README, .ci/run): every jest suite, then one closing line
# "N passed, M failed" counted from jest's --json summary.
set -uo pipefail
cd "$(dirname "$0")/.."
results="$(mktemp -t jest-results.XXXXXX.json)"
NODE_OPTIONS=--experimental-vm-modules npx jest --json --outputFile="$results" "$@"
code=$?
node -e '
  const r = require(process.argv[1]);
  const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
  console.log(`${r.numPassedTests} passed, ${failed} failed`);
' "$results" || { echo "0 passed, 1 failed"; code=1; }
rm -f "$results"
exit $code
