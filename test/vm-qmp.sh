#!/bin/bash
# test-timeout: 1500
# A real guest gets 768 MiB of memory-backend-elastic hot-added over QMP
# (scripts/attach-memory) while the monitor may keep only 64 MiB resident
# with memcached behind it. The guest onlines it and verifies most of its
# memory for 4 passes with different patterns; the monitor's stats must
# show the evictions to and fetches from memcached that this takes.
# Settings that cannot work (prealloc=on, share=off) must be refused.
. "${top_srcdir:-.}/test/lib.sh"
. "$top_srcdir/test/vm-lib.sh"
require_root
vm_prepare
HOT_MB=768
CACHE_PAGES=16384
MC_MB=1536 start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=$CACHE_PAGES
t0=$(date +%s)
vm_start

# Refused settings: a clear error, nothing registered.
out=$(qmp object-add '{"qom-type":"memory-backend-elastic","id":"bad","size":67108864,"prealloc":true}') &&
	fail "prealloc=on was accepted"
echo "$out" | grep -q "prealloc" || fail "unclear prealloc error: $out"
log "prealloc=on refused: $out"
out=$(qmp object-add '{"qom-type":"memory-backend-elastic","id":"bad","size":67108864,"share":false}') &&
	fail "share=off was accepted"
log "share=off refused: $out"
out=$(python3 "$ATTACH" "$QMP" 64 --fluidmem-socket "$TMP/nonexistent.sock" 2>&1) &&
	fail "attach to a missing monitor succeeded"
echo "$out" | grep -q "fluidmem monitor" || fail "unclear error for a missing monitor: $out"
log "missing monitor: $out"
[ "$(ui_stat regions)" = 0 ] || fail "a refused backend registered a region"

out=$(python3 "$ATTACH" "$QMP" $HOT_MB --id dimm0 2>&1) || fail "attach-memory: $out"
log "$out"
wait_until 10 stat_is regions 1 || fail "the DIMM's region is not registered"
vm_cmd 60 online || vm_fail "guest could not online the memory"
vm_output "$VM_ID" | sed 's/^/# guest: /'
vm_cmd 1500 verify -p 4 || vm_fail "guest memory verifier failed (rc=$?)"
res=$(vm_output "$VM_ID" | grep "memverify: RESULT")
vm_output "$VM_ID" | grep "memverify:" | sed 's/^/# guest: /'
echo "$res" | grep -q "RESULT OK" || vm_fail "verifier: $res"
mb=$(field mb "$res")
used=$(vm_output "$VM_ID" | sed -n 's/.*movable_used_mb=\([0-9]*\).*/\1/p')
[ "${used:-0}" -ge $((HOT_MB * 3 / 4)) ] ||
	fail "verifier used only ${used:-0} MB of the $HOT_MB MB hot-added"
log "verified $mb MB x 4 passes, $used MB of it in the hot-added memory"

show_stats
# The hot-added memory is 12 times the cache: nearly every page written
# must have gone to memcached and come back for the verify.
expect_stat evictions -gt $((used * 256 * 3))
expect_stat evict_writes -gt $((used * 256 * 3))
expect_stat placed_pages -gt $((used * 256 * 3))
expect_stat cache_used -le $CACHE_PAGES
expect_stat pages_lost -eq 0
keys=$(mc_items)
[ "$keys" -gt $((used * 256 / 2)) ] || fail "memcached holds only $keys fluidmem pages"
log "memcached holds $keys fluidmem pages"
vm_stop
wait_until 10 stat_is regions 0 || fail "region not dropped after QEMU exited"
pass "elastic DIMM via QMP: ${mb} MB x 4 passes verified in the guest through a $((CACHE_PAGES / 256)) MiB cache ($(( $(date +%s) - t0 )) s)"
