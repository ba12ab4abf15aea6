#!/bin/bash
# A client killed with SIGKILL: its region is dropped and every key it had
# in memcached is deleted; the monitor keeps serving others.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=64
start_holder 1 512
keys=$(mc_count_keys "fm:$id:")
log "region $id has $keys keys in memcached"
[ "$keys" -ge 400 ] || fail "expected evicted pages in memcached, found $keys keys"
"$UI" "$CTL" listpids | grep -q "$id pid=$W" || fail "listpids does not show the client"
kill -KILL $W
wait $W 2>/dev/null
wait_until 10 stat_is regions 0 || fail "region of the killed client still registered"
wait_until 10 mc_keys_are "fm:$id:" 0 || fail "$(mc_count_keys "fm:$id:") keys left behind"
expect_stat regions_dropped -eq 1
expect_stat remote_deletes -ge "$keys"
[ ! -e "$RUN/regions/$id.state" ] || fail "state file left behind"
out=$(worker --pages 256 --threads 2 --rounds 2) || fail "monitor stopped serving: $out"
pass "killed client: region dropped, $keys memcached keys deleted, monitor still serving"
