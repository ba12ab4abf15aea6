#!/bin/bash
# Command-line validation: bad options and values are refused with a clear
# message and exit status 2, never ignored; --help and --version work.
. "${top_srcdir:-.}/test/lib.sh"

expect_refused() {
	local want="$1"; shift
	local out rc
	out=$("$MONITOR" --run-dir="$TMP/run" --socket="$TMP/s" --ctl-tcp=none "$@" 2>&1)
	rc=$?
	[ $rc -eq 2 ] || fail "monitor $* exited $rc, expected 2 (output: $out)"
	echo "$out" | grep -qF -- "$want" || fail "monitor $*: message '$out' lacks '$want'"
	log "refused: monitor $* -> $out"
}

expect_refused "unknown option '--bogus'" --bogus
expect_refused "unknown option '--enable_prefetch=1'" --enable_prefetch=1
expect_refused "invalid value 'abc' for --cache_size" --cache_size=abc
expect_refused "invalid value '0' for --cache_size" --cache_size=0
expect_refused "invalid value '-5' for --cache_size" --cache_size=-5
expect_refused "invalid value '10x' for --cache-size" --cache-size=10x
expect_refused "needs a value" --cache_size
expect_refused "unknown backend" --backend=ramcloud
expect_refused "invalid value 'loud' for --log-level" --log-level=loud
expect_refused "invalid value '0' for --fault-threads" --fault-threads=0
expect_refused "invalid value '5000' for --evict-batch" --evict-batch=5000
expect_refused "expected [HOST:]PORT or none" --ctl-tcp=localhost:99999
expect_refused "no such group" --group=no-such-group-here
expect_refused "unexpected argument 'extra'" extra
expect_refused "needs a LOCATOR" --backend=memcached
expect_refused "expected clock or recent" --debug-victim=lru
expect_refused "invalid value 'x' for --fault-cpus: expected a CPU list" --fault-cpus=x
expect_refused "invalid value '1-0' for --fault-cpus" --fault-cpus=1-0
expect_refused "invalid value '0,' for --fault-cpus" --fault-cpus=0,
expect_refused "invalid value '' for --fault-cpus" --fault-cpus=
expect_refused "CPU numbers go up to 1023" --fault-cpus=4096
expect_refused "CPU 1000 is offline or not allowed" --fault-cpus=0,1000

# A LOCATOR libmemcached cannot parse: refused at start (exit 1, clear).
out=$("$MONITOR" --run-dir="$TMP/run" --socket="$TMP/s" --ctl-tcp=none --SERVER=127.0.0.1:1 --cache_size=10 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "monitor with an unreachable memcached started"
echo "$out" | grep -q "cannot store to memcached" || fail "unreachable memcached: unclear message: $out"
log "unreachable memcached: $out"

"$MONITOR" --help | grep -q -- "--cache_size=PAGES" || fail "--help lacks --cache_size"
"$MONITOR" --version | grep -q "fluidmem" || fail "--version"
"$UI" --help | grep -q "resize" || fail "ui --help"
"$UI" >/dev/null 2>&1; [ $? -eq 2 ] || fail "ui without arguments should exit 2"

# Two monitors on one run directory: the second is refused.
start_monitor --cache_size=16
out=$("$MONITOR" --run-dir="$TMP/run" --socket="$TMP/other.sock" --ctl-socket="$TMP/other.ctl" --ctl-tcp=none 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "another monitor" || fail "second monitor on the same run dir: $out"
log "second monitor refused: $out"
pass "command line"
