#!/bin/bash
# --fault-cpus: the fault threads (named fm-fault<N>) run only on the CPUs
# given, the other threads keep the monitor's own affinity, and faults are
# served with every byte right. A CPU the monitor may not use is refused
# before anything starts; the option is also a config-file key.
. "${top_srcdir:-.}/test/lib.sh"
require_root

# thread_cpus NAME: Cpus_allowed_list of the monitor's thread NAME.
thread_cpus() {
	local t
	for t in /proc/"$MON_PID"/task/*; do
		[ "$(cat "$t/comm")" = "$1" ] || continue
		awk '$1 == "Cpus_allowed_list:" { print $2 }' "$t/status"
		return
	done
}

ALL=$(awk '$1 == "Cpus_allowed_list:" { print $2 }' /proc/self/status)
LAST=$(( $(nproc) - 1 ))
start_monitor --cache_size=256 --fault-threads=2 --fault-cpus=$LAST
for n in fm-fault0 fm-fault1; do
	got=$(thread_cpus $n)
	[ "$got" = "$LAST" ] || fail "$n allowed on '$got', expected '$LAST'"
done
got=$(thread_cpus fm-evict)
[ "$got" = "$ALL" ] || fail "fm-evict allowed on '$got', expected the monitor's own '$ALL'"
grep -q "fault-cpus=$LAST " "$TMP/monitor.log" || fail "settings line lacks fault-cpus=$LAST"
log "fault threads on CPU $LAST, evictor on $ALL"

# Faults served by the pinned threads, a working set 4x the cache.
out=$( (worker --pages 1024 --threads 2 --rounds 3) 2>&1 )
rc=$?
line=$(echo "$out" | grep accesses=)
log "$line"
[ $rc -eq 0 ] && [ "$(field mismatches "$line")" = 0 ] || fail "worker: rc $rc: $out"
expect_stat evictions -gt 1000
stop_mon() { kill -TERM "$MON_PID"; wait "$MON_PID" 2>/dev/null; }
stop_mon

# The same from the config file.
printf 'fault-cpus = %s\ncache_size = 64\n' "$LAST" >"$TMP/m.conf"
start_monitor --config="$TMP/m.conf"
[ "$(thread_cpus fm-fault0)" = "$LAST" ] || fail "fault-cpus from the config file not applied"
stop_mon

# A CPU outside the monitor's affinity: refused, exit 2, nothing started.
if [ "$(nproc)" -ge 2 ]; then
	out=$(taskset -c 0 "$MONITOR" --run-dir="$TMP/run2" --socket="$TMP/s2" --ctl-tcp=none \
		--fault-cpus=1 2>&1)
	rc=$?
	[ $rc -eq 2 ] && echo "$out" | grep -q "CPU 1 is offline or not allowed" ||
		fail "CPU outside the affinity: rc $rc: $out"
	[ ! -e "$TMP/s2" ] || fail "refused monitor created its socket"
	log "refused: $out"
fi
pass "fault-cpus"
