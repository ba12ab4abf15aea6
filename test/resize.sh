#!/bin/bash
# Runtime resize under load, down to 1 page and back, while many client
# processes with many threads run; then many regions at once stay intact.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_monitor --cache_size=512
pids=""
for i in 1 2 3 4 5 6; do
	worker --name c$i --pages 256 --threads 2 --seconds 8 >"$TMP/c$i.out" 2>&1 &
	pids="$pids $!"; track $!
done
sleep 1
wait_until 10 stat_is regions 6 || fail "6 regions expected, stats say $(ui_stat regions)"
"$UI" "$CTL" resize 1 | grep -q "OK cache_size 1" || fail "resize 1"
wait_until 20 stat_le cache_used 1 || fail "cache did not shrink to 1 page (used $(ui_stat cache_used))"
log "shrunk to 1 page under load: cache_used=$(ui_stat cache_used)"
sleep 1
"$UI" "$CTL" r 64 | grep -q "OK cache_size 64" || fail "resize 64"
sleep 1
"$UI" "$CTL" resize 2048 >/dev/null || fail "resize 2048"
for p in $pids; do wait $p || fail "a client saw wrong data (see below)"; done
cat "$TMP"/c*.out
grep -h accesses= "$TMP"/c*.out | grep -v "mismatches=0" && fail "mismatches"
expect_stat cache_size -eq 2048
expect_stat regions_registered -eq 6
# Shrinking under load must have evicted: nothing may exceed the budget.
used=$(ui_stat cache_used)
[ "$used" -le 2048 ] || fail "cache_used $used exceeds capacity"
pass "resize 512 -> 1 -> 64 -> 2048 under 6 clients x 2 threads, 0 mismatches"
