# shellcheck shell=bash
# Helpers for the VM tests (source after test/lib.sh): the patched QEMU
# (built by scripts/build-qemu.sh if needed), the busybox test guest
# (scripts/build-guest.sh), a guest started under TCG with its console in
# a file and a command channel on its second serial port.
#
# Guest protocol (test/guest/init): we write "ID COMMAND ARGS" lines to
# ttyS1; the guest prints "CMD-BEGIN ID" ... "CMD-END ID rc=N" on ttyS0.

SCRIPTS="$top_srcdir/scripts"
ATTACH="$SCRIPTS/attach-memory"
QMPC="$top_srcdir/test/qmp.py"
VM_CMD_SEQ=0
: "${VM_BOOT_MB:=256}"

# vm_prepare: QEMU and guest images, building them if needed.
vm_prepare() {
	local t0
	t0=$(date +%s)
	QEMU=$(bash "$SCRIPTS/build-qemu.sh" --path 2>/dev/null) ||
		QEMU=$(bash "$SCRIPTS/build-qemu.sh") || fail "QEMU build failed"
	log "QEMU $QEMU (ready after $(( $(date +%s) - t0 )) s)"
	GUEST=$(bash "$SCRIPTS/build-guest.sh") || fail "guest build failed"
	log "guest $GUEST"
}

# vm_start EXTRA_QEMU_ARGS...: boot the guest; waits for GUEST READY.
vm_start() {
	CONSOLE="$TMP/console.log"
	QMP="$TMP/qmp.sock"
	rm -f "$TMP/cmd.in" "$TMP/cmd.out" "$QMP"
	mkfifo "$TMP/cmd.in" "$TMP/cmd.out"
	: >"$CONSOLE"
	FLUIDMEM_SOCKET="$SOCK" FLUIDMEM_QUIET=0 "$QEMU" \
		-machine pc -accel tcg -nic none -nodefaults -display none \
		-no-reboot -smp 1 -m "${VM_BOOT_MB}M,slots=4,maxmem=4G" \
		-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.gz" \
		-append "console=ttyS0 panic=-1 loglevel=4 memhp_default_state=online_movable" \
		-serial "file:$CONSOLE" -serial "pipe:$TMP/cmd" \
		-qmp "unix:$QMP,server=on,wait=off" "$@" \
		>>"$TMP/qemu.log" 2>&1 &
	QEMU_PID=$!
	track $QEMU_PID
	# Keep the command channel open for the guest's lifetime.
	exec 7<>"$TMP/cmd.in"
	exec 8<>"$TMP/cmd.out"
	wait_until 120 grep -q "GUEST READY" "$CONSOLE" ||
		vm_fail "guest did not boot"
	log "guest booted (QEMU pid $QEMU_PID)"
}

vm_fail() {
	echo "--- guest console (last 40 lines)"; tail -40 "$CONSOLE" 2>/dev/null
	echo "--- qemu log"; tail -20 "$TMP/qemu.log" 2>/dev/null
	fail "$*"
}

# vm_send COMMAND ARGS...: start a guest command; sets VM_ID.
vm_send() {
	VM_CMD_SEQ=$((VM_CMD_SEQ + 1))
	VM_ID="c$VM_CMD_SEQ"
	printf '%s %s\n' "$VM_ID" "$*" >&7
}

# vm_done ID: the command ended - or it never will because QEMU or the
# monitor died (vm_wait then fails at once instead of at its timeout).
vm_done() {
	grep -q "^CMD-END $1 " "$CONSOLE" && return 0
	kill -0 "$QEMU_PID" 2>/dev/null || vm_fail "QEMU died"
	kill -0 "$MON_PID" 2>/dev/null || vm_fail "the monitor died"
	return 1
}

# vm_wait ID TIMEOUT: wait for the command's end; returns its status.
vm_wait() {
	local end=$(( $(date +%s) + $2 ))
	until vm_done "$1"; do
		[ "$(date +%s)" -ge "$end" ] && return 124
		sleep 0.5
	done
	local rc
	rc=$(sed -n "s/^CMD-END $1 rc=\([0-9]*\).*/\1/p" "$CONSOLE" | head -1)
	return "${rc:-1}"
}

# vm_cmd TIMEOUT COMMAND ARGS...: run a guest command and wait for it.
vm_cmd() {
	local t=$1
	shift
	vm_send "$@"
	vm_wait "$VM_ID" "$t"
}

# vm_output ID: what a command printed.
vm_output() {
	tr -d '\r' <"$CONSOLE" | sed -n "/^CMD-BEGIN $1\$/,/^CMD-END $1 /p"
}

# qmp COMMAND [JSON]: one QMP command, prints its JSON return.
qmp() {
	python3 "$QMPC" "$QMP" "$@"
}

# vm_stop: power off (falls back to quit, then the kill in cleanup).
vm_stop() {
	kill -0 "$QEMU_PID" 2>/dev/null || return 0
	qmp quit >/dev/null 2>&1
	wait_until 20 sh -c "! kill -0 $QEMU_PID" || kill -KILL "$QEMU_PID"
	wait "$QEMU_PID" 2>/dev/null
	exec 7>&- 8>&-
}

# Monitor statistics worth showing in a test's log.
show_stats() {
	"$UI" "$CTL" stats | grep -E "STAT (backend|cache_size|cache_used|regions|faults|zero_pages|placed_pages|fetches|evictions|evict_writes|writes_avoided|pages_lost|poisoned|checksum_errors|regions_)" |
		sed 's/^/# /'
}

# Items in our private memcached (all of them are fluidmem pages): cheaper
# than listing hundreds of thousands of keys.
mc_items() {
	mc_cmd stats | tr -d '\r' | awk '$2 == "curr_items" { print $3 }'
}
mc_items_are() { [ "$(mc_items)" = "$1" ]; }
