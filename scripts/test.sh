#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, type-checks everything (tests too), lints
# (Biome, dependency-cruiser's layer rules),
# runs the whole suite against the real peers, and ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
npx tsc -p tsconfig.test.json || exit 1
npm run --silent lint || exit 1
results=$(mktemp /tmp/mpiscsi-vitest.XXXXXX.json)
npx vitest run --reporter=default --reporter=json --outputFile="$results"
rc=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" 2>/dev/null || echo "tests: 0 passed, 1 failed"
rm -f "$results"
exit $rc
