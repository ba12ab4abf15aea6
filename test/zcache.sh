#!/bin/bash
# --compressed-cache: evicted pages kept LZ4-compressed in the monitor in
# front of the backend. Clients get every byte right (0 mismatches) while
# the cache serves fetches, while it is full and recycles the slots of
# rewritten pages, for compressible and incompressible pages. It is write-through:
# after a monitor SIGKILL the cache is gone and the backend has every
# page. Bad sizes are refused.
. "${top_srcdir:-.}/test/lib.sh"
require_root

stat_of() { ui_stat "$1"; }
CLIENT_PIDS=""
# client NAME ARGS...: an integrity worker in the background, output kept.
client() {
	local n=$1; shift
	( worker --name "$n" "$@" ) >"$TMP/$n.out" 2>&1 &
	CLIENT_PIDS="$CLIENT_PIDS $!"
	track $!
}
# clients_ok: every client exited 0 with 0 mismatches and no SIGBUS.
clients_ok() {
	local p f
	for p in $CLIENT_PIDS; do wait "$p" || fail "client $p failed"; done
	CLIENT_PIDS=""
	for f in "$@"; do
		cat "$TMP/$f.out"
		grep -q "accesses=.* mismatches=0 sigbus=0" "$TMP/$f.out" || fail "$f: wrong data"
	done
}

# Bad sizes: refused before anything starts.
for bad in abc 512K 33G -1 1M5; do
	out=$("$MONITOR" --run-dir="$TMP/bad" --socket="$TMP/bad.sock" --ctl-tcp=none \
		--compressed-cache=$bad 2>&1)
	rc=$?
	[ $rc -eq 2 ] && echo "$out" | grep -q "invalid value '$bad' for --compressed-cache" ||
		fail "--compressed-cache=$bad: rc $rc: $out"
done
[ ! -e "$TMP/bad" ] || fail "a refused monitor created its run dir"
log "bad sizes refused"

# 1. memcached behind a 2 MiB cache: about 1,500 compressed or 500 raw
# pages, against 2 x 2048 pages over a 256-page cache, so the cache is
# full and its slots are recycled all the time. One client writes
# compressible pages, one incompressible.
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=256 --compressed-cache=2M --prefetch=0
client z1 --pages 2048 --threads 3 --rounds 6 --compressible
client z2 --pages 2048 --threads 2 --rounds 4
clients_ok z1 z2
"$UI" "$CTL" stats | grep "STAT zcache_" | sed 's/^/# /'
expect_stat zcache_bytes -eq 2097152
expect_stat zcache_hits -gt 1000
expect_stat zcache_full -gt 100
expect_stat zcache_stale -eq 0
expect_stat zcache_incompressible -gt 1000
[ "$(stat_of zcache_used_bytes)" -le 2097152 ] || fail "cache uses more than its size"
expect_stat zcache_crc_errors -eq 0
expect_stat pages_lost -eq 0
stored=$(stat_of zcache_stored_bytes); stores=$(stat_of zcache_stores)
raw=$(stat_of zcache_incompressible)
# Compressible copies are small: the average copy is well under a page.
[ $(( stored / stores )) -lt 4096 ] || fail "copies average $(( stored / stores )) bytes"
log "stores=$stores raw=$raw average copy $(( stored / stores )) bytes"
# Misses go to memcached: it served what the cache could not.
expect_stat memcached_gets -gt 1000
wait_until 10 stat_is regions 0 || fail "regions not released"
# Every slot is back in the pool once the regions are gone.
expect_stat zcache_used_bytes -eq 0
kill -TERM $MON_PID; wait $MON_PID 2>/dev/null
pass "compressed cache over memcached: full cache, slots recycled, 0 mismatches"

# 2. Write-through: SIGKILL with pages in the cache, restart. The new
# monitor's cache is empty; memcached has every page.
rm -rf "$TMP/run"
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=128 --compressed-cache=64M
client k1 --pages 1024 --threads 2 --seconds 8 --compressible
client k2 --pages 512 --threads 2 --seconds 8
sleep 2
wait_until 10 stat_ge zcache_hits 500 || fail "no cache hits before the kill"
used=$(stat_of zcache_used_bytes)
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
log "monitor killed with $used bytes of copies in its cache"
[ "$used" -gt 0 ] || fail "nothing in the cache at the kill"
sleep 1
restart_monitor
wait_until 10 stat_is regions 2 || fail "regions not resumed after the kill"
clients_ok k1 k2
expect_stat zcache_misses -gt 0
expect_stat zcache_crc_errors -eq 0
expect_stat pages_lost -eq 0
wait_until 10 stat_is regions 0 || fail "regions not released"
kill -TERM $MON_PID; wait $MON_PID 2>/dev/null
pass "compressed cache: a monitor SIGKILL loses nothing (write-through)"

# 3. Local backend behind, and the config-file key.
rm -rf "$TMP/run"
printf 'compressed-cache = 16M\ncache_size = 256\n' >"$TMP/z.conf"
start_monitor --config="$TMP/z.conf"
expect_stat zcache_bytes -eq 16777216
client l1 --pages 2048 --threads 2 --rounds 4 --compressible
clients_ok l1
expect_stat zcache_hits -gt 1000
expect_stat zcache_crc_errors -eq 0
pass "compressed cache over the local backend, from the config file"
