#!/bin/bash
# Negative control for race.sh: with the write-protect step skipped
# (--debug-skip-wp) eviction is broken, and the same workload must detect
# lost writes. If this test fails, race.sh cannot be trusted.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_monitor --cache_size=8 --debug-victim=recent --debug-skip-wp
out=$(worker --mode race --pages 32 --threads 4 --iters 100000 2>&1)
echo "$out"
line=$(echo "$out" | grep accesses=)
[ -n "$line" ] || fail "worker did not finish"
lost=$(field mismatches "$line")
[ "$lost" -gt 0 ] || fail "broken eviction lost no writes: the race test cannot catch it"
pass "negative control: broken eviction lost $lost writes and the test saw them"
