#!/bin/bash
# A memcached that speaks only the text protocol (-B ascii) refuses the
# pipelined binary stores: the monitor must notice, say so, and store
# one page per round trip through libmemcached instead, losing nothing.
. "${top_srcdir:-.}/test/lib.sh"
require_root
command -v memcached >/dev/null || fail "memcached not installed"
CACHE=128
PAGES=1024

MC_PORT=$(free_port)
memcached -u nobody -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -B ascii \
	>>"$TMP/memcached.log" 2>&1 &
track $!
wait_until 10 mc_cmd version || fail "memcached did not start"

start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=$CACHE
worker --name a --pages $PAGES --threads 2 --rounds 3 >"$TMP/a.out" 2>&1 &
A=$!; track $A
# Without the fallback nothing can be evicted and the client stalls.
wait_until 30 stat_ge memcached_puts $((PAGES - CACHE)) ||
	fail "no page was stored ($(ui_stat memcached_put_errors) put errors)"
wait $A; ra=$?
cat "$TMP/a.out"
[ $ra -eq 0 ] || fail "client reported wrong data or died (rc $ra)"
line=$(grep accesses= "$TMP/a.out")
[ "$(field mismatches "$line")" = 0 ] || fail "mismatches"
grep -q "pipelined binary sets refused" "$TMP/monitor.log" ||
	fail "the monitor did not say it fell back"
expect_stat memcached_put_batches -eq 0
expect_stat memcached_put_errors -eq 0
expect_stat pages_lost -eq 0
expect_stat poisoned -eq 0
wait_until 10 stat_is regions 0 || fail "region not released"
wait_until 10 mc_keys_are fm: 0 || fail "the released region left keys"
pass "text-only memcached: $(ui_stat memcached_puts) pages stored one by one, 0 mismatches"
