#!/bin/bash
# EMP's chain with our own tiers: an NVMe file tier first, then a real
# memserver's DRAM in its own network namespace (traffic crosses a veth),
# then the resident cache ("nvme:...|remote:...|dram:..."). The file tier
# fills and demotes its coldest pages over the network; every page comes
# back intact, after a monitor SIGKILL too; a region's slots on both tiers
# are freed with it. Then the memserver dies and comes back empty: pages
# that lived on it fail loudly (SIGBUS), never as wrong data.
# test-timeout: 240
. "${top_srcdir:-.}/test/lib.sh"
require_root
. "${top_srcdir:-.}/test/memserver-lib.sh"
"$MONITOR" --help | grep -q 'nvme' || fail "this monitor has no nvme backend (configure --enable-nvme)"
ms_netns
ms_secrets
start_memserver --size=16

# Cache 128 pages, NVMe file 256 pages, memserver tier 2048 pages.
CHAIN="nvme:$TMP/tier.img;size=1M:1M|remote:$MS_IP:$MS_PORT;secret-file=$SECRET:8M|dram:512K"
start_monitor "--mem-path=$CHAIN"
[ "$(ui_stat tier:1:kind)" = remote ] || fail "tier 1 is $(ui_stat tier:1:kind)"
worker --name a --pages 768 --threads 3 --rounds 12 >"$TMP/a.out" 2>&1 &
A=$!; track $A
worker --name b --pages 512 --threads 2 --seconds 12 >"$TMP/b.out" 2>&1 &
B=$!; track $B
wait_until 60 stat_ge tier:1:demoted_in 1 || fail "nothing demoted from the nvme tier to the memserver"
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
log "monitor killed with pages on both tiers"
restart_monitor
wait_until 10 stat_is regions 2 || fail "regions not resumed after the kill"
wait $A || fail "client a: $(cat "$TMP/a.out")"
wait $B || fail "client b: $(cat "$TMP/b.out")"
cat "$TMP/a.out" "$TMP/b.out"
grep -h accesses= "$TMP/a.out" "$TMP/b.out" | grep -v "mismatches=0 sigbus=0" &&
	fail "data damaged"
"$UI" "$CTL" tiers | sed 's/^/# /'
expect_stat tier:0:demoted_out -gt 0
expect_stat tier:1:gets -gt 0
# A fetch that races with a demotion may read a freed-and-reused nvme slot:
# the slot's owner check refuses it (the tier counts a checksum error) and
# the chain looks again where the page went. Never a loss for the client:
expect_stat checksum_errors -eq 0
expect_stat pages_lost -eq 0
expect_stat tier:1:remote_lost -eq 0
expect_ms_stat reads -gt 0
wait_until 10 stat_is regions 0 || fail "regions not released"
wait_until 10 ms_stat_is used_slots 0 || fail "memserver slots left: $(ms_stat used_slots)"
wait_until 10 stat_is tier:0:nvme_used_slots 0 || fail "nvme slots left: $(ui_stat tier:0:nvme_used_slots)"
pass "nvme -> memserver chain: demoted over a veth, survived SIGKILL, 0 mismatches, all slots freed"

# The memserver dies and restarts empty under a client that holds pages
# on it: the pages it had are lost loudly.
worker --name c --pages 1024 --threads 2 --rounds 40 >"$TMP/c.out" 2>&1 &
C=$!; track $C
wait_until 60 stat_ge tier:1:used 64 || fail "no pages reached the memserver tier"
kill -KILL $MS_PID; wait $MS_PID 2>/dev/null
start_memserver --size=16
log "memserver restarted empty"
wait $C; rc=$?
cat "$TMP/c.out"
grep accesses= "$TMP/c.out" | grep -q 'mismatches=[1-9]' && fail "wrong data after the memserver restart"
[ $rc -ne 0 ] || fail "client finished although its pages on the memserver were gone"
expect_stat pages_lost -gt 0
pass "memserver restarted empty: $(ui_stat pages_lost) page(s) lost loudly (SIGBUS), no wrong data"
