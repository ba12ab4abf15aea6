#!/bin/bash
# test-timeout: 90
# A memserver smaller than what the monitor evicts: the server says it is
# full (never drops a stored page), the monitor counts the refused puts,
# logs it once, and keeps those pages resident - the client still reads
# back every byte it wrote.
. "${top_srcdir:-.}/test/lib.sh"
. "${top_srcdir:-.}/test/memserver-lib.sh"
require_root
ms_netns
ms_secrets
start_memserver --size=4   # 1024 slots
start_monitor --cache_size=768 --backend=remote "--locator=$(LOCATOR)"
# 1536 pages: 512 more than the server holds, within cache + server.
worker --pages 1536 --threads 2 --rounds 15 >"$TMP/a.out" 2>&1 &
A=$!; track $A
wait_until 60 ms_stat_is used_slots 1024 || fail "the server never filled up ($(ms_stat used_slots) slots)"
wait $A; rc=$?
cat "$TMP/a.out"
line=$(grep accesses= "$TMP/a.out")
[ $rc = 0 ] && [ "$(field mismatches "$line")" = 0 ] || fail "wrong data (rc $rc)"
[ "$(field sigbus "$line")" = 0 ] || fail "pages were lost: $line"
expect_stat backend_put_errors -gt 0
expect_stat remote_full -gt 0
expect_stat pages_lost -eq 0
expect_stat evictions -gt 1536
expect_ms_stat capacity_slots -eq 1024
expect_ms_stat refused_full -gt 0
grep -q "remote: memserver .* is full: .* stay resident" "$TMP/monitor.log" || fail "no log line for the full server"
grep -q "pool full (1024 slots)" "$TMP/memserver.log" || fail "the server did not log that it is full"
wait_until 10 ms_stat_is used_slots 0 || fail "slots not freed with the region"
pass "full memserver: $(ms_stat refused_full) slots refused, pages kept resident, 0 mismatches"
