#!/bin/bash
# test-timeout: 90
# memserver end to end over TCP: the server runs in a network namespace of
# its own, the monitor reaches it across a veth pair. Integrity through
# the remote backend (working set 8x the cache), server stats, a wrong
# secret and the allow-list refused clearly, malformed frames answered
# with errors while the server keeps serving, and strict options.
. "${top_srcdir:-.}/test/lib.sh"
. "${top_srcdir:-.}/test/memserver-lib.sh"
require_root
ms_netns
ms_secrets

# 1. Options: bad ones exit 2 with a reason and start nothing.
for args in "" "--size=64" "--size=abc --secret-file=$SECRET" \
	"--size=0 --secret-file=$SECRET" "--size=64 --secret-file=$SECRET --transport=foo" \
	"--size=64 --secret-file=$SECRET --allow=10.0.0.0/33" \
	"--size=64 --secret-file=$SECRET --listen=nowhere" \
	"--size=64 --secret-file=$SECRET --client-grace=-1" \
	"--size=64 --secret-file=$SECRET --bogus" "--size=64 --secret-file=$SECRET extra"; do
	# shellcheck disable=SC2086
	"$MEMSERVER" $args >"$TMP/opt.out" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "memserver $args: exit $rc, expected 2"
	grep -q "memserver: " "$TMP/opt.out" || fail "memserver $args: no reason given"
done
# memserver(8) and --help list the same options.
man_opts=$(sed -n '/^\.SH OPTIONS/,/^\.SH STATISTICS/p' "$top_srcdir/doc/memserver.8" |
	sed 's/\\-/-/g' | grep -o -- '--[a-z][a-z-]*' | sort -u)
help_opts=$("$MEMSERVER" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ "$man_opts" = "$help_opts" ] || fail "memserver.8 and --help disagree: $(diff <(echo "$man_opts") <(echo "$help_opts") | tr '\n' ' ')"
chmod 644 "$TMP/badsecret"
"$MEMSERVER" --size=4 --secret-file="$TMP/badsecret" >"$TMP/opt.out" 2>&1
[ $? = 2 ] && grep -q "readable by others" "$TMP/opt.out" || fail "a world-readable secret was accepted"
chmod 600 "$TMP/badsecret"
# RDMA on a machine without an RDMA device: a clear error, not a crash.
"$MEMSERVER" --size=4 --secret-file="$SECRET" --transport=rdma \
	--listen=127.0.0.1:$(free_port) >"$TMP/rdma.out" 2>&1
rc=$?
cat "$TMP/rdma.out"
[ $rc = 1 ] || [ $rc = 2 ] || fail "--transport=rdma: exit $rc (crash?)"
grep -Eq "RDMA device|without RDMA" "$TMP/rdma.out" || fail "--transport=rdma: no clear reason"
if [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
	"$MONITOR" --run-dir="$TMP/runr" --socket="$TMP/runr/m.sock" --ctl-tcp=none \
		--backend=remote "--locator=rdma://127.0.0.1:1;secret-file=$SECRET" >"$TMP/monr.log" 2>&1
	rc=$?
	[ $rc = 1 ] || fail "monitor with rdma:// and no device: exit $rc"
	grep -Eq "no RDMA device|not in this build" "$TMP/monr.log" || fail "monitor rdma://: $(cat "$TMP/monr.log")"
	log "rdma:// without a device: $(grep -E 'RDMA|build' "$TMP/monr.log" | tail -1)"
fi
log "bad options refused"

# 2. Integrity across the veth: two clients, working set 8x the cache.
start_memserver --size=64 --allow="$NET.0/30"
start_monitor --cache_size=512 --backend=remote "--locator=$(LOCATOR)"
worker --name a --pages 2048 --threads 4 --rounds 12 >"$TMP/a.out" 2>&1 &
A=$!; track $A
worker --name b --pages 2048 --threads 3 --rounds 12 >"$TMP/b.out" 2>&1 &
B=$!; track $B
wait $A; ra=$?
wait $B; rb=$?
cat "$TMP/a.out" "$TMP/b.out"
[ $ra = 0 ] && [ $rb = 0 ] || fail "client reported wrong data (rc $ra/$rb)"
for f in a b; do
	line=$(grep accesses= "$TMP/$f.out")
	[ "$(field mismatches "$line")" = 0 ] || fail "mismatches in $f"
	[ "$(field sigbus "$line")" = 0 ] || fail "SIGBUS in $f"
done
expect_stat evictions -gt 4096
expect_stat placed_pages -gt 4096
expect_stat pages_lost -eq 0
expect_stat backend_put_errors -eq 0
expect_stat remote_gets -gt 4096
expect_stat memserver:writes -gt 4096
expect_ms_stat reads -gt 4096
expect_ms_stat writes -gt 4096
expect_ms_stat proto_errors -eq 0
wait_until 10 stat_is regions 0 || fail "regions not released"
wait_until 10 ms_stat_is used_slots 0 || fail "released regions left $(ms_stat used_slots) slots on the memserver"

# 3. A wrong secret is refused, with a clear message on both sides.
"$MEMSERVER" --stats="$MS_IP:$MS_PORT" --secret-file="$BADSECRET" >"$TMP/bad.out" 2>&1 &&
	fail "stats with a wrong secret succeeded"
grep -q "refused authentication: wrong secret" "$TMP/bad.out" || fail "client side: $(cat "$TMP/bad.out")"
"$MONITOR" --run-dir="$TMP/run2" --socket="$TMP/run2/m.sock" --ctl-tcp=none \
	--backend=remote "--locator=$(LOCATOR "$BADSECRET")" >"$TMP/mon2.log" 2>&1 &
M2=$!; track $M2
wait_until 10 grep -q "wrong secret" "$TMP/mon2.log" || fail "monitor with a wrong secret: $(cat "$TMP/mon2.log")"
wait $M2; rc=$?
[ $rc != 0 ] || fail "monitor started with a wrong secret"
grep -q "authentication failed.*wrong secret" "$TMP/memserver.log" || fail "server side: no log line for the wrong secret"
expect_ms_stat auth_failures -ge 2
log "wrong secret refused: $(cat "$TMP/bad.out")"

# 4. The allow-list: a second server that admits only its own loopback.
MS1_PORT=$MS_PORT
MS_PORT=$(free_port)
ip netns exec "$NS" "$MEMSERVER" --listen="0.0.0.0:$MS_PORT" --size=4 \
	--secret-file="$SECRET" --allow=127.0.0.1/32 >>"$TMP/memserver2.log" 2>&1 &
track $!
inside() { ip netns exec "$NS" "$MEMSERVER" --stats="127.0.0.1:$MS_PORT" --secret-file="$SECRET"; }
wait_until 10 inside || fail "second memserver did not start"
"$MEMSERVER" --stats="$MS_IP:$MS_PORT" --secret-file="$SECRET" >"$TMP/allow.out" 2>&1 &&
	fail "a client outside --allow was served"
grep -q "allow" "$TMP/allow.out" || fail "refusal not explained: $(cat "$TMP/allow.out")"
inside | grep -q "STAT refused_addr 1" || fail "refused_addr not counted"
grep -q "refused: address not in --allow" "$TMP/memserver2.log" || fail "no server log line for the refusal"
log "allow-list: $(cat "$TMP/allow.out")"
MS_PORT=$MS1_PORT

# 5. Malformed frames: errors, nothing changed, the server keeps serving.
"$top_builddir/test/ms_badframe" "$MS_IP" "$MS_PORT" "$SECRET" | tee "$TMP/badframe.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "malformed frames were not handled"
expect_ms_stat proto_errors -ge 8
kill -0 "$MS_PID" || fail "memserver died"
expect_ms_stat used_slots -eq 0
pass "memserver over a veth: integrity, stats, auth, allow-list, bad frames"
