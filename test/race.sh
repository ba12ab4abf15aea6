#!/bin/bash
# Concurrent writers against the most adversarial victim choice: the
# monitor evicts whatever it installed last, with 4 threads writing the
# same pages. Every write must survive: 0 lost writes over >= 1M accesses.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_monitor --cache_size=8 --debug-victim=recent
out=$(worker --mode race --pages 32 --threads 4 --iters 250000 2>&1)
rc=$?
echo "$out"
line=$(echo "$out" | grep accesses=)
[ -n "$line" ] || fail "worker did not finish"
lost=$(field mismatches "$line")
acc=$(field accesses "$line")
[ "$acc" -ge 1000000 ] || fail "only $acc accesses"
[ "$lost" = 0 ] && [ $rc -eq 0 ] || fail "$lost lost writes"
expect_stat evictions -gt 100000
expect_stat faults_wp -gt 10000
pass "race: $acc accesses, $(ui_stat evictions) evictions, 0 lost writes"
