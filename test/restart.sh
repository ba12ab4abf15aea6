#!/bin/bash
# The monitor is killed (SIGKILL) and restarted, then stopped with
# `ui stop` and restarted, while clients run: they survive, their data is
# intact, the regions are resumed (BACKEND=local|memcached).
. "${top_srcdir:-.}/test/lib.sh"
require_root
run_case() {
	local backend=$1
	rm -rf "$TMP/run" "$TMP/local"
	if [ "$backend" = memcached ]; then
		start_memcached
		start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=128
	else
		start_monitor --cache_size=128
	fi
	worker --name r1 --pages 1024 --threads 3 --seconds 9 >"$TMP/r1.out" 2>&1 &
	local w1=$!; track $w1
	worker --name r2 --pages 512 --threads 2 --seconds 9 >"$TMP/r2.out" 2>&1 &
	local w2=$!; track $w2
	sleep 2
	wait_until 10 stat_ge evictions 1000 || fail "no evictions before the kill"
	kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
	log "$backend: monitor killed mid-run"
	sleep 1
	restart_monitor
	wait_until 10 stat_is regions 2 || fail "regions not resumed after kill (regions=$(ui_stat regions))"
	expect_stat regions_reattached -eq 2
	sleep 2
	"$UI" "$CTL" stop | grep -q "OK stopping" || fail "ui stop"
	wait $MON_PID 2>/dev/null
	log "$backend: monitor stopped with ui stop"
	sleep 0.5
	restart_monitor
	wait_until 10 stat_is regions 2 || fail "regions not resumed after stop"
	wait $w1 || fail "client r1 failed: $(cat "$TMP/r1.out")"
	wait $w2 || fail "client r2 failed: $(cat "$TMP/r2.out")"
	cat "$TMP/r1.out" "$TMP/r2.out"
	grep -h accesses= "$TMP"/r?.out | grep -v "mismatches=0 sigbus=0" && fail "data damaged"
	expect_stat placed_pages -gt 0
	wait_until 10 stat_is regions 0 || fail "regions not released at the end"
	kill -TERM $MON_PID; wait $MON_PID 2>/dev/null
	[ "$backend" = memcached ] && stop_memcached
	pass "$backend: clients survived a monitor SIGKILL and a ui stop, data intact"
}
run_case local
MC_PORT=
run_case memcached
