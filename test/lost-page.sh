#!/bin/bash
# memcached loses pages: one key deleted, one value corrupted, then the
# whole server restarted. The client must get SIGBUS for exactly those
# pages - never zeros or garbage - and the stats must count them.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=32

run_holder() {
	start_holder "$1" 128
	# Evict everything so every page lives only in memcached.
	"$UI" "$CTL" evict 1000 >/dev/null
	wait_until 10 stat_is cache_used 0 || fail "evict did not empty the cache"
}

# 1. One key deleted, one value replaced by garbage of the right length.
run_holder 1
mc_cmd "delete fm:$id:5" | grep -q DELETED || fail "could not delete a key"
garbage=$(head -c 4120 /dev/zero | tr '\0' 'G')
exec 5<>"/dev/tcp/127.0.0.1/$MC_PORT"
printf 'set fm:%s:9 0 0 4120\r\n%s\r\n' "$id" "$garbage" >&5
read -r -t 5 reply <&5; exec 5>&-
case "$reply" in STORED*) ;; *) fail "could not corrupt a value: $reply" ;; esac
release_holder 1
[ "$(field sigbus "$line")" = 2 ] || fail "expected SIGBUS on exactly 2 pages: $line"
[ "$(field mismatches "$line")" = 0 ] || fail "wrong data handed out: $line"
expect_stat pages_lost -eq 1
expect_stat checksum_errors -eq 1
expect_stat poisoned -ge 2
grep -q "backend lost the page; the access gets SIGBUS" "$TMP/monitor.log" || fail "no loud log line for the lost page"

# 2. memcached restarted: everything it held is gone.
run_holder 2
stop_memcached
start_memcached
release_holder 2
[ "$(field sigbus "$line")" = 128 ] || fail "expected SIGBUS on all 128 pages: $line"
[ "$(field mismatches "$line")" = 0 ] || fail "wrong data handed out: $line"
expect_stat pages_lost -ge 129
pass "lost and corrupted pages raise SIGBUS and are counted; no wrong data"
