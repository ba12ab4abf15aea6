# Helpers for the memserver tests: a private network namespace joined to
# ours by a veth pair (so traffic really crosses an interface), and
# memservers started inside it. Sourced after test/lib.sh.
MEMSERVER="$top_builddir/server/memserver"
NS=""
VETH="fmv$$"
# A /30 per test run, from the PID: parallel runs do not collide.
NET="10.$(( 200 + $$ % 50 )).$(( ($$ / 50) % 250 ))"
HOST_IP="$NET.1"
MS_IP="$NET.2"

ms_cleanup() {
	cleanup
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	ip link del "$VETH" 2>/dev/null
}
trap ms_cleanup EXIT

# ms_netns: create the namespace and the veth pair (MS_IP inside it).
ms_netns() {
	command -v ip >/dev/null || fail "ip (iproute2) is not installed"
	NS="fmms$$"
	ip netns add "$NS" || fail "cannot create a network namespace"
	ip link add "$VETH" type veth peer name "${VETH}p" || fail "no veth"
	ip link set "${VETH}p" netns "$NS"
	ip addr add "$HOST_IP/30" dev "$VETH"
	ip link set "$VETH" up
	ip netns exec "$NS" ip addr add "$MS_IP/30" dev "${VETH}p"
	ip netns exec "$NS" ip link set "${VETH}p" up
	ip netns exec "$NS" ip link set lo up
	log "namespace $NS: memserver side $MS_IP, monitor side $HOST_IP"
}

# A shared secret (mode 0600) at $SECRET, and a wrong one at $BADSECRET.
ms_secrets() {
	SECRET="$TMP/secret"
	BADSECRET="$TMP/badsecret"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BADSECRET"
	chmod 600 "$SECRET" "$BADSECRET"
}

# start_memserver ARGS...: a memserver in the namespace on MS_IP:MS_PORT.
start_memserver() {
	MS_PORT=${MS_PORT:-$(free_port)}
	ip netns exec "$NS" "$MEMSERVER" --listen="$MS_IP:$MS_PORT" \
		--secret-file="$SECRET" "$@" >>"$TMP/memserver.log" 2>&1 &
	MS_PID=$!
	track $MS_PID
	wait_until 10 ms_stats || fail "memserver did not start on $MS_IP:$MS_PORT"
	log "memserver pid $MS_PID on $MS_IP:$MS_PORT"
}

ms_stats() { "$MEMSERVER" --stats="$MS_IP:$MS_PORT" --secret-file="$SECRET"; }

# ms_stat NAME: one value from the memserver's stats.
ms_stat() {
	ms_stats 2>/dev/null | tr -d '\r' |
		awk -v k="$1" '$1 == "STAT" && $2 == k { print $3; exit }'
}

ms_stat_is() { [ "$(ms_stat "$1")" = "$2" ]; }

expect_ms_stat() {
	local v
	v=$(ms_stat "$1")
	[ -n "$v" ] || fail "memserver stat $1 missing"
	[ "$v" "$2" "$3" ] || fail "memserver stat $1 = $v, expected $2 $3"
	log "memserver stat $1 = $v"
}

LOCATOR() { echo "tcp://$MS_IP:$MS_PORT;secret-file=${1:-$SECRET}"; }
