#!/bin/bash
# test-timeout: 90
# Failures around a memserver (in its own network namespace):
#  1. the monitor is SIGKILLed and restarted: it reclaims its slots (same
#     identity, slot maps in its run dir) and every page comes back;
#  2. the memserver is SIGKILLed and restarted empty: the pages it held
#     fail with SIGBUS (pages_lost), never zeros or stale data;
#  3. the same while a client is running: it dies of SIGBUS or reads only
#     right data, never wrong data;
#  4. a monitor is SIGKILLed in the middle of its writes: the server lives
#     on and serves it again after a restart that lost its run dir (the
#     old slots are reclaimed);
#  5. a client that never comes back: its slots are freed after
#     --client-grace.
. "${top_srcdir:-.}/test/lib.sh"
. "${top_srcdir:-.}/test/memserver-lib.sh"
require_root
ms_netns
ms_secrets
GRACE=6
start_memserver --size=32 --client-grace=$GRACE
start_monitor --cache_size=32 --backend=remote "--locator=$(LOCATOR)"

evict_all() {
	"$UI" "$CTL" evict 100000 >/dev/null
	wait_until 10 stat_is cache_used 0 || fail "evict did not empty the cache"
}

# 1. Monitor killed and restarted: the slots are still ours.
start_holder 1 256
evict_all
expect_ms_stat used_slots -ge 256
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
restart_monitor
wait_until 10 stat_is regions 1 || fail "region not resumed"
release_holder 1
[ "$(field mismatches "$line")" = 0 ] && [ "$(field sigbus "$line")" = 0 ] ||
	fail "pages lost across a monitor restart: $line"
expect_stat placed_pages -ge 256
expect_stat pages_lost -eq 0
log "1. monitor restart: all 256 pages fetched back"

# 2. memserver killed and restarted empty: loud loss.
start_holder 2 256
evict_all
kill -KILL $MS_PID; wait $MS_PID 2>/dev/null
start_memserver --size=32 --client-grace=$GRACE
# Another region of the same monitor fills the new server: the slot
# numbers the holder's map remembers now hold other pages of ours.
worker --name fill --pages 768 --threads 2 --rounds 3 >"$TMP/fill.out" 2>&1 &
F=$!; track $F
wait $F || fail "fill client: $(cat "$TMP/fill.out")"
expect_ms_stat writes -ge 512
release_holder 2
[ "$(field mismatches "$line")" = 0 ] || fail "wrong data after a server restart: $line"
[ "$(field sigbus "$line")" = 256 ] || fail "expected SIGBUS on all 256 pages: $line"
expect_stat pages_lost -ge 256
expect_stat remote_lost -ge 256
grep -q "backend lost the page; the access gets SIGBUS" "$TMP/monitor.log" || fail "no loud log line"
log "2. server restart: 256 pages SIGBUS, 0 wrong"

# 3. memserver killed while a client runs.
worker --name run --pages 1024 --threads 2 --seconds 8 >"$TMP/run.out" 2>&1 &
R=$!; track $R
wait_until 20 stat_ge placed_pages 3000 || fail "client not running"
kill -KILL $MS_PID; wait $MS_PID 2>/dev/null
log "memserver killed mid-run"
sleep 1
expect_stat remote_conn_errors -gt 0
start_memserver --size=32 --client-grace=$GRACE
wait $R; rc=$?
cat "$TMP/run.out"
line=$(grep accesses= "$TMP/run.out")
if [ $rc = 135 ]; then
	log "3. client died of SIGBUS (rc $rc): lost pages failed loudly"
else
	[ $rc = 0 ] && [ "$(field mismatches "$line")" = 0 ] || fail "client got wrong data (rc $rc): $line"
fi
expect_stat pages_lost -gt 256
expect_stat remote_reconnects -gt 0
wait_until 10 stat_is regions 0 || fail "region not released"

# 4. A monitor killed in the middle of its writes.
worker --name w4 --pages 2048 --threads 2 --seconds 20 >"$TMP/w4.out" 2>&1 &
W4=$!; track $W4
wait_until 20 stat_ge evict_writes 20000 || fail "no writes to kill"
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
kill -KILL $W4; wait $W4 2>/dev/null
log "monitor killed mid-write"
kill -0 $MS_PID || fail "memserver died with its client"
used=$(ms_stat used_slots)
[ "$used" -gt 0 ] || fail "the dead monitor's slots vanished at once"
# The same monitor identity again, but its run dir (slot maps) is gone,
# as after a reboot: it frees its unknown old slots on connecting.
rm -rf "$TMP/run"
start_monitor --cache_size=64 --backend=remote "--locator=$(LOCATOR)"
expect_ms_stat slots_reset -ge "$used"
worker --name after --pages 512 --threads 2 --rounds 6 >"$TMP/after.out" 2>&1 &
W5=$!; track $W5
wait $W5 || fail "client after the kill: $(cat "$TMP/after.out")"
line=$(grep accesses= "$TMP/after.out")
[ "$(field mismatches "$line")" = 0 ] && [ "$(field sigbus "$line")" = 0 ] || fail "$line"
wait_until 10 ms_stat_is used_slots 0 || fail "slots left after the client ended"

# 5. A client that never comes back: its slots go after --client-grace.
start_holder 5 128
evict_all
kill -KILL $MON_PID $W; wait $MON_PID $W 2>/dev/null
exec 6>&-
used=$(ms_stat used_slots)
[ "$used" -ge 128 ] || fail "holder's pages not on the server ($used)"
sleep 2
expect_ms_stat used_slots -eq "$used"
wait_until $((GRACE + 10)) ms_stat_is used_slots 0 || fail "dead client's slots not freed after the grace ($(ms_stat used_slots) used)"
expect_ms_stat slots_expired -ge "$used"
pass "monitor restart keeps pages; server loss is loud; server survives a client killed mid-write; slots expire"
