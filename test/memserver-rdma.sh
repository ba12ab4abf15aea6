#!/bin/bash
# test-timeout: 90
# The integrity run of test/memserver.sh over rdma:// - needs an RDMA
# device (a NIC, or soft-RoCE: rdma link add rxe0 type rxe netdev eth0).
# Without one it skips, saying why. FM_RDMA_IP picks the address to use;
# by default the first IPv4 address of the device's network interface.
. "${top_srcdir:-.}/test/lib.sh"
. "${top_srcdir:-.}/test/memserver-lib.sh"
require_root
devs=$(ls /sys/class/infiniband 2>/dev/null)
if [ -z "$devs" ]; then
	echo "SKIP: no RDMA device (/sys/class/infiniband is empty or absent; no InfiniBand/RoCE/rxe on this machine)"
	exit 77
fi
"$MEMSERVER" --help | grep -q "this one: yes" ||
	fail "an RDMA device exists but memserver was built without RDMA (configure --enable-rdma)"
if [ -z "${FM_RDMA_IP:-}" ]; then
	dev=${devs%% *}
	netdev=$(cat /sys/class/infiniband/"$dev"/ports/1/gid_attrs/ndevs/0 2>/dev/null)
	[ -n "$netdev" ] && FM_RDMA_IP=$(ip -4 -o addr show dev "$netdev" | awk '{ sub("/.*", "", $4); print $4; exit }')
fi
[ -n "${FM_RDMA_IP:-}" ] || fail "RDMA device $devs has no IPv4 address (set FM_RDMA_IP)"
log "RDMA device(s): $devs; using $FM_RDMA_IP"
ms_secrets
MS_IP=$FM_RDMA_IP
MS_PORT=$(free_port)
"$MEMSERVER" --transport=rdma --listen="$MS_IP:$MS_PORT" --size=64 \
	--secret-file="$SECRET" >>"$TMP/memserver.log" 2>&1 &
MS_PID=$!; track $MS_PID
sleep 1
kill -0 $MS_PID || fail "rdma memserver did not start: $(cat "$TMP/memserver.log")"
start_monitor --cache_size=512 --backend=remote \
	"--locator=rdma://$MS_IP:$MS_PORT;secret-file=$SECRET"
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
	[ "$(field mismatches "$line")" = 0 ] && [ "$(field sigbus "$line")" = 0 ] || fail "$f: $line"
done
expect_stat placed_pages -gt 4096
expect_stat pages_lost -eq 0
expect_stat remote_gets -gt 4096
"$UI" "$CTL" stats | grep -q "STAT memserver:transport rdma" || fail "not served over rdma"
wait_until 10 stat_is regions 0 || fail "regions not released"
expect_stat memserver:used_slots -eq 0
pass "integrity over rdma:// ($devs)"
