#!/bin/bash
# Install dependencies, build, and run the whole test suite (make check),
# then the packaging checks: make distcheck (the tarball builds and passes
# make check out of tree, ~10 min; FM_SKIP_DISTCHECK=1 leaves it out) and
# test/rpm.sh (rpmbuild -ta of the tarball, contents of the RPMs).
# Prints a closing "N passed, N failed" line; exit status 0 only if all pass.
set -e
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (sudo): tests drive userfaultfd across processes"; exit 1; }
bash scripts/deps.sh
bash scripts/build.sh
# VM tests: QEMU with memory-backend-elastic, the test guest, libvirt.
bash scripts/deps.sh --vm
bash scripts/build-qemu.sh >/dev/null
bash scripts/build-guest.sh >/dev/null
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
# packaging NAME COMMAND...: one more test, its output in NAME.log.
packaging() {
	local name=$1
	shift
	if "$@" >"$name.log" 2>&1; then
		echo "PASS: $name"
		npass=$(( ${npass:-0} + 1 ))
	else
		echo "FAIL: $name (see $name.log)"; tail -30 "$name.log"
		nfail=$(( nfail + 1 )); rc=1
	fi
}
if [ "${FM_SKIP_DISTCHECK:-0}" != 1 ]; then
	packaging distcheck make distcheck
fi
packaging rpm env top_srcdir="$PWD" top_builddir="$PWD" bash test/run-test test/rpm.sh
echo "tests: ${npass:-0} passed, ${nfail} failed, ${nskip:-0} skipped"
exit $rc
