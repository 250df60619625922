#!/usr/bin/env bash
# Runs every test tier (unit, fixtures, e2e on the real kernel, storage on a real OpenSearch)
# in one serial `bun test` run and ends with the line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
log=build/test.log
./node_modules/.bin/bun test --timeout 120000 tests/unit tests/fixtures tests/e2e tests/storage tests/packaging 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
pass=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | awk '{print $1}')
fail=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | awk '{print $1}')
echo "${pass:-0} passed, ${fail:-0} failed"
if [ "$rc" -ne 0 ] && [ "${fail:-0}" = 0 ]; then echo "bun test exited $rc"; fi
exit "$rc"
