#!/bin/bash
# memcached stops answering mid-eviction (SIGSTOP) after taking a batch:
# the batch's pages must stay resident (2 s timeout, counted as failed),
# the connection must survive so that what the server applies late comes
# before anything written later, and once it runs again (SIGCONT) the
# same pages are evicted and come back intact.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=256
start_holder 1 512
wait_until 10 stat_ge memcached_puts 256 || fail "nothing evicted"
batches0=$(ui_stat memcached_put_batches)

kill -STOP "$MC_PID"
"$UI" "$CTL" evict 1000 >/dev/null
wait_until 20 stat_ge memcached_put_errors 1 || { kill -CONT "$MC_PID"; fail "a stopped server took no time out"; }
used=$(ui_stat cache_used) errs=$(ui_stat memcached_put_errors)
log "stalled: cache_used $used, put errors $errs"
[ "$used" -ge "$errs" ] || { kill -CONT "$MC_PID"; fail "unstored pages left the cache"; }
kill -CONT "$MC_PID"

# The server runs again: the same pages go out now (after the owed
# answer of the stalled batch has come in).
evict_all() { "$UI" "$CTL" evict 1000 >/dev/null; stat_is cache_used 0; }
wait_until 20 evict_all || fail "pages not evicted after the server resumed"
expect_stat memcached_errors -ge 1
[ "$(ui_stat memcached_put_batches)" -gt "$batches0" ] || fail "no batch after the stall"
release_holder 1
[ "$(field mismatches "$line")" = 0 ] && [ "$(field sigbus "$line")" = 0 ] ||
	fail "wrong or lost data after the stall: $line"
expect_stat pages_lost -eq 0
expect_stat poisoned -eq 0
pass "stalled memcached: $(ui_stat memcached_put_errors) pages kept resident, all 512 back intact"
