#!/bin/bash
# test-timeout: 1500
# Elastic DIMMs in a real guest across disruptions:
#  1. unplug (device_del + object-del) releases the region in the monitor
#     and its pages in memcached; re-plugging works and verifies;
#  2. the monitor is killed and restarted while the guest's verifier runs:
#     the guest waits, survives, and the verifier passes;
#  3. memcached is restarted (every evicted page is gone) while the
#     verifier runs: QEMU must die of SIGBUS on the first lost page, the
#     monitor must count it - never hand the guest wrong data.
. "${top_srcdir:-.}/test/lib.sh"
. "$top_srcdir/test/vm-lib.sh"
require_root
ulimit -c 0
vm_prepare
HOT_MB=512
MC_MB=1536 start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=16384
vm_start

plug() {
	local out
	out=$(python3 "$ATTACH" "$QMP" $HOT_MB --id dimm0 2>&1) || fail "attach-memory: $out"
	log "$out"
	wait_until 10 stat_is regions 1 || fail "the DIMM's region is not registered"
	vm_cmd 60 online || vm_fail "guest could not online the memory"
}

# verify_ok ID: the verifier command ID passed; logs its result line.
verify_ok() {
	local res
	res=$(vm_output "$1" | grep "memverify: RESULT")
	log "guest: $res"
	echo "$res" | grep -q "RESULT OK" || vm_fail "verifier: $res"
}

# 1. Unplug and re-plug.
t0=$(date +%s)
plug
vm_cmd 900 verify -p 1 || vm_fail "verifier failed before the unplug"
verify_ok "$VM_ID"
dropped=$(ui_stat regions_dropped)
out=$(python3 "$ATTACH" "$QMP" --detach dimm0 --timeout 120 2>&1) || vm_fail "detach: $out"
log "$out"
wait_until 10 stat_is regions 0 || fail "unplug did not release the region"
expect_stat regions_dropped -eq $((dropped + 1))
wait_until 30 mc_items_are 0 || fail "memcached still holds $(mc_items) pages of the released region"
vm_cmd 30 mem || vm_fail "mem"
vm_output "$VM_ID" | grep MemTotal | sed 's/^/# after unplug: /'
plug
vm_cmd 900 verify -p 2 || vm_fail "verifier failed after the re-plug"
verify_ok "$VM_ID"
pass "unplug released the region and its memcached pages; re-plug verified ($(( $(date +%s) - t0 )) s)"

# 2. Monitor killed and restarted under a running verifier.
t0=$(date +%s)
ev=$(ui_stat evictions)
vm_send verify -p 3
id=$VM_ID
wait_until 300 stat_ge evictions $((ev + 100000)) || vm_fail "verifier is not evicting"
kill -KILL "$MON_PID"; wait "$MON_PID" 2>/dev/null
log "monitor killed with the verifier running"
sleep 2
restart_monitor
wait_until 20 stat_is regions 1 || fail "QEMU's region was not re-registered"
expect_stat regions_reattached -ge 1
vm_wait "$id" 900 || vm_fail "verifier failed across the monitor restart (rc=$?)"
verify_ok "$id"
kill -0 "$QEMU_PID" || fail "QEMU died"
show_stats
pass "guest survived a monitor SIGKILL + restart, verifier passed ($(( $(date +%s) - t0 )) s)"

# 3. memcached restarted: the pages it held are gone.
t0=$(date +%s)
ev=$(ui_stat evictions)
vm_send verify -p 3
id=$VM_ID
wait_until 300 stat_ge evictions $((ev + 100000)) || vm_fail "verifier is not evicting"
stop_memcached
start_memcached
log "memcached restarted with the verifier running"
wait_until 300 sh -c "! kill -0 $QEMU_PID" || vm_fail "QEMU still runs after memcached lost its pages"
wait "$QEMU_PID"
rc=$?
log "QEMU exit status $rc"
[ "$rc" = 135 ] || fail "QEMU ended with status $rc, expected death by SIGBUS (135)"
vm_output "$id" | grep -q "RESULT OK" && fail "verifier claimed success over lost pages"
vm_output "$id" | grep "memverify: pass" | sed 's/^/# guest: /'
expect_stat pages_lost -ge 1
expect_stat poisoned -ge 1
"$UI" "$CTL" version >/dev/null || fail "monitor died"
grep -q "backend lost the page" "$TMP/monitor.log" || fail "no loud log line for the lost page"
show_stats
pass "memcached restart: QEMU got SIGBUS on a lost page, counted, no silent corruption ($(( $(date +%s) - t0 )) s)"
