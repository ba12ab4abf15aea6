#!/bin/bash
# Bad input changes nothing: malformed, truncated and oversized
# registrations, unauthorized peers, bad ui commands. The monitor answers
# each with a clear error and keeps serving.
. "${top_srcdir:-.}/test/lib.sh"
require_root
PORT=$(free_port)
start_monitor --cache_size=64 --ctl-tcp=127.0.0.1:$PORT

# A healthy client keeps running across the whole abuse session.
worker --name victim --pages 512 --threads 2 --seconds 6 >"$TMP/v.out" 2>&1 &
V=$!; track $V

"$BADMSG" "$SOCK" || fail "a malformed registration was not refused"
n=$("$BADMSG" -l | wc -l)
expect_stat registrations_rejected -ge "$n"

# Socket permissions: an ordinary user cannot even connect...
perms=$(stat -c %a "$SOCK")
[ "$perms" = 600 ] || fail "registration socket mode $perms, expected 600"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$BADMSG" --unauth "$SOCK" 2>&1)
echo "$out" | grep -q "Permission denied" || fail "nobody could connect: $out"
# ...and if an operator loosens them, SO_PEERCRED still refuses.
chmod 666 "$SOCK"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$BADMSG" --unauth "$SOCK" 2>&1)
echo "$out" | grep -q "refused: status -22: not authorized" || fail "unauthorized REGISTER accepted: $out"
log "unauthorized peer: $out"
chmod 600 "$SOCK"

# ui: unknown and malformed commands get ERROR and exit 1.
expect_ui_error() {
	local out rc
	out=$("$UI" "$CTL" "$@" 2>&1); rc=$?
	[ $rc -eq 1 ] && echo "$out" | grep -q "^ERROR" || fail "ui $*: rc $rc, '$out'"
	log "ui $* -> $out"
}
expect_ui_error frobnicate
expect_ui_error resize
expect_ui_error resize abc
expect_ui_error resize 0
expect_ui_error resize -3
expect_ui_error evict 12x
expect_ui_error disconnectpid notapid
expect_ui_error disconnectpid 999999
expect_ui_error stats extra
"$UI" "$CTL" "resize 5 6" >/dev/null 2>&1; [ $? -eq 1 ] || fail "resize with two args accepted"
long=$(head -c 2000 /dev/zero | tr '\0' 'x')
out=$(printf '%s\r\n' "$long" | "$UI" -i "$CTL" 2>&1)
echo "$out" | grep -q "ERROR line too long" || fail "overlong line: $out"
expect_stat cache_size -eq 64

# Privileged commands from an unprivileged user (loopback TCP) are denied;
# reading stats is allowed.
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$UI" 127.0.0.1:$PORT resize 5 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "permission denied" || fail "nobody could resize: $out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$UI" 127.0.0.1:$PORT stop 2>&1)
echo "$out" | grep -q "permission denied" || fail "nobody could stop: $out"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$UI" 127.0.0.1:$PORT s | grep -q "STAT cache_size 64" || fail "nobody cannot read stats"
expect_stat ctl_denied -ge 2
# A control client that sends commands but never reads its replies must
# not stall the monitor: others are still answered, and registrations work.
(
	exec 8<>"/dev/tcp/127.0.0.1/$PORT" || exit 0
	for _ in $(seq 20000); do printf 'stats\r\n' >&8 || exit 0; done
	sleep 30
) 2>/dev/null &
FLOOD=$!; track $FLOOD
sleep 3
timeout 5 "$UI" "$CTL" version >/dev/null || fail "a client that never reads stalled the control socket"
out=$(timeout 20 "$WORKER" --socket "$SOCK" --pages 64 --rounds 1 2>&1) ||
	fail "a client that never reads stalled registrations: $out"
kill $FLOOD 2>/dev/null
log "a client that never reads its replies did not stall the monitor"
# root over TCP is privileged (FluidMem's `ui 127.0.0.1 ...`).
"$UI" 127.0.0.1:$PORT resize 80 | grep -q "OK cache_size 80" || fail "root resize over TCP"

wait $V || fail "the healthy client saw wrong data: $(cat "$TMP/v.out")"
grep -q "mismatches=0" "$TMP/v.out" || fail "healthy client: $(cat "$TMP/v.out")"
kill -0 $MON_PID || fail "monitor died"
pass "bad input refused with clear errors; monitor kept serving"
