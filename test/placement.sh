#!/bin/bash
# Stable placement over several memcached servers: pages spread over the
# pool, are always fetched from the server they were written to (even when
# the LOCATOR lists the servers in another order after a restart), a
# server that joins gets new pages, and pages on a server that left fail
# loudly (SIGBUS) while the rest stay intact.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached; A=$MC_PORT; A_PID=$MC_PID
MC_PORT=; start_memcached; B=$MC_PORT; B_PID=$MC_PID
MC_PORT=; start_memcached; C=$MC_PORT
start_monitor --SERVER=127.0.0.1:$A --SERVER=127.0.0.1:$B --cache_size=64

keys_on() { MC_PORT=$1 mc_count_keys "fm:$2:"; }
hold() {
	start_holder "$1" 512
	"$UI" "$CTL" evict 100000 >/dev/null
	wait_until 10 stat_is cache_used 0 || fail "evict did not empty the cache"
}
# restart_with NREGIONS ARGS: stop the monitor, start it again with other
# servers, wait for NREGIONS clients to come back.
restart_with() {
	local want=$1; shift
	"$UI" "$CTL" stop >/dev/null; wait $MON_PID 2>/dev/null
	MON_ARGS="--run-dir=$RUN --socket=$SOCK --local-dir=$TMP/local --ctl-tcp=none --cache_size=64 $*"
	restart_monitor
	wait_until 10 stat_is regions "$want" || fail "regions not resumed"
}

# 1. Spread, then fetched from the writer even with the order reversed.
hold 1
ka=$(keys_on $A "$id"); kb=$(keys_on $B "$id")
log "pages on A: $ka, on B: $kb"
[ $((ka + kb)) -eq 512 ] || fail "expected 512 stored pages, found $((ka + kb))"
[ "$ka" -ge 150 ] && [ "$kb" -ge 150 ] || fail "pages not spread over both servers"
restart_with 1 --SERVER=127.0.0.1:$B --SERVER=127.0.0.1:$A
release_holder 1
[ "$(field mismatches "$line")" = 0 ] && [ "$(field sigbus "$line")" = 0 ] ||
	fail "reordered LOCATOR: $line"

# 2. A server joins: new pages go to it too; old ones still come from A/B.
restart_with 0 --SERVER=127.0.0.1:$A --SERVER=127.0.0.1:$B --SERVER=127.0.0.1:$C
hold 2
kc=$(keys_on $C "$id")
log "after C joined: pages on C: $kc"
[ "$kc" -ge 100 ] || fail "the new server got no pages ($kc)"
expect_stat memcached_servers_live -eq 3

# 3. B leaves (its process is gone and it is dropped from the LOCATOR):
#    exactly B's pages raise SIGBUS, none is wrong.
kb=$(keys_on $B "$id")
kill -KILL $B_PID
restart_with 1 --SERVER=127.0.0.1:$A --SERVER=127.0.0.1:$C
expect_stat memcached_servers_live -eq 2
release_holder 2
[ "$(field mismatches "$line")" = 0 ] || fail "wrong data after B left: $line"
[ "$(field sigbus "$line")" = "$kb" ] || fail "expected SIGBUS on B's $kb pages: $line"
pass "placement stable across reorder, join and leave ($kb pages on the departed server failed loudly)"
