#!/bin/bash
# Install dependencies, build, and run the whole test suite (make check).
# Prints a closing "N passed, N failed" line; exit status 0 only if all pass.
set -e
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (sudo): tests drive userfaultfd across processes"; exit 1; }
bash scripts/deps.sh
bash scripts/build.sh
set +e
make check
rc=$?
set -e
log=test-suite.log
npass=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
nfail=$(( $(sed -n 's/^# FAIL: *//p' "$log" | head -1) + $(sed -n 's/^# ERROR: *//p' "$log" | head -1) + $(sed -n 's/^# XPASS: *//p' "$log" | head -1) ))
nskip=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
[ $rc -ne 0 ] && [ "$nfail" = 0 ] && nfail=1
[ $rc -ne 0 ] && cat "$log"
echo "tests: ${npass:-0} passed, ${nfail} failed, ${nskip:-0} skipped"
exit $rc
