#!/bin/bash
# Regions whose client died while no monitor was running are collected by
# the next monitor after --orphan-grace: state file and backend keys gone.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=32 --orphan-grace=2
start_holder 1 256
[ "$(mc_count_keys "fm:$id:")" -gt 100 ] || fail "no pages in memcached"
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
kill -KILL $W; wait $W 2>/dev/null
[ -e "$RUN/regions/$id.state" ] || fail "state file missing after monitor kill"
restart_monitor
wait_until 15 mc_keys_are "fm:$id:" 0 || fail "orphan's keys not collected"
wait_until 5 test ! -e "$RUN/regions/$id.state" || fail "orphan's state file not removed"
grep -q "collecting region $id" "$TMP/monitor.log" || fail "no log line for the collection"
pass "orphaned region collected after the grace period"
