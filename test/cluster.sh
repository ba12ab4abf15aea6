#!/bin/bash
# Two monitors in one ZooKeeper cluster share memcached servers: region
# ids never collide and data stays intact; a server added to ZooKeeper at
# run time receives new pages; `ui cluster` lists monitors and servers; a
# killed monitor's membership disappears; ZooKeeper restarted mid-run is
# survived by monitors and never noticed by clients.
. "${top_srcdir:-.}/test/lib.sh"
require_root
ZKHELP="$top_srcdir/scripts/fluidmem-zk"
"$MONITOR" --help | grep -q -- --zookeeper || fail "monitor built without --zookeeper"
start_zookeeper
start_memcached; A=$MC_PORT
MC_PORT=; start_memcached; B=$MC_PORT

# Two monitors on private run dirs (start_monitor keeps one at a time).
start_mon() {
	local n=$1; shift
	mkdir -p "$TMP/m$n"
	"$MONITOR" --run-dir="$TMP/m$n" --socket="$TMP/m$n/monitor.sock" \
		--ctl-socket="$TMP/m$n/ctl.sock" --ctl-tcp=none \
		--zookeeper=127.0.0.1:$ZK_PORT "$@" >>"$TMP/m$n.log" 2>&1 &
	eval "M$n=$!"; track $!
	wait_until 15 "$UI" "$TMP/m$n/ctl.sock" version || { cat "$TMP/m$n.log"; fail "monitor $n did not start"; }
}
st() { "$UI" "$TMP/m$1/ctl.sock" stats | awk -v k="$2" '$2 == k { print $3 }'; }
cluster_has() { "$UI" "$TMP/m$1/ctl.sock" cluster | grep -q -- "$2"; }
cluster_lacks() { ! "$UI" "$TMP/m$1/ctl.sock" cluster | grep -q -- "$2"; }
run_client() { # n name seconds
	"$WORKER" --socket "$TMP/m$1/monitor.sock" --name "$2" --pages 1024 \
		--threads 2 --seconds "$3" >"$TMP/$2.out" 2>&1 &
	eval "W_$2=$!"; track $!
}
server_puts() { st "$1" "memcached_server:$2:puts"; }

# ZooKeeper unreachable at start: a clear error, not a hang.
out=$(timeout 20 "$MONITOR" --run-dir="$TMP/bad" --socket="$TMP/bad/s" --ctl-tcp=none \
	--zookeeper=127.0.0.1:1 --zk-timeout=2 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q "cannot reach 127.0.0.1:1 within 2 s" ||
	fail "unreachable ZooKeeper: rc $rc, '$out'"
log "unreachable ZooKeeper: $(echo "$out" | grep cannot)"

start_mon 1 --SERVER=127.0.0.1:$A --cache_size=128 --zk-gc-grace=3
start_mon 2 --SERVER=127.0.0.1:$A --cache_size=128
wait_until 10 cluster_has 1 "MONITOR .*pid=$M2 " || fail "monitor 2 not listed by monitor 1"
wait_until 10 cluster_has 2 "MONITOR .*pid=$M1 " || fail "monitor 1 not listed by monitor 2"

run_client 1 c1 14
run_client 2 c2 14
sleep 2
id1=$(sed -n 's/^region=\([0-9a-f]*\).*/\1/p' "$TMP/c1.out")
id2=$(sed -n 's/^region=\([0-9a-f]*\).*/\1/p' "$TMP/c2.out")
[ -n "$id1" ] && [ -n "$id2" ] && [ "$id1" != "$id2" ] || fail "region ids $id1 / $id2"
cluster_has 1 "regions=" || fail "no summary in the membership record"

# A server joins through ZooKeeper: both monitors start writing to it.
"$ZKHELP" 127.0.0.1:$ZK_PORT add-server memcached 127.0.0.1:$B || fail "fluidmem-zk add-server"
wait_until 10 cluster_has 1 "SERVER memcached 127.0.0.1:$B" || fail "server B not listed"
wait_until 15 sh -c "[ \"\$('$UI' '$TMP/m1/ctl.sock' stats | awk '\$2 == \"memcached_server:1:puts\" {print \$3}')\" -gt 0 ]" ||
	fail "monitor 1 wrote nothing to the new server"
wait_until 15 sh -c "[ \"\$('$UI' '$TMP/m2/ctl.sock' stats | awk '\$2 == \"memcached_server:1:puts\" {print \$3}')\" -gt 0 ]" ||
	fail "monitor 2 wrote nothing to the new server"
log "new server B: monitor 1 wrote $(server_puts 1 1) pages, monitor 2 $(server_puts 2 1)"

# ZooKeeper restarted while the clients run: nobody notices.
stop_zookeeper
log "zookeeper killed"
sleep 3
start_zookeeper
wait_until 20 cluster_has 1 "MONITOR .*pid=$M2 " || fail "monitor 2 did not re-register after the ZooKeeper restart"
wait_until 20 cluster_has 2 "MONITOR .*pid=$M1 " || fail "monitor 1 did not re-register after the ZooKeeper restart"

for c in c1 c2; do
	eval "wait \$W_$c" || fail "client $c: $(cat "$TMP/$c.out")"
	grep -q "mismatches=0" "$TMP/$c.out" || fail "client $c saw wrong data"
done
cat "$TMP/c1.out" "$TMP/c2.out"
# Released regions leave no keys on any server (deleted in the background).
no_keys() { [ "$(MC_PORT=$A mc_count_keys "fm:$1:")" = 0 ] && [ "$(MC_PORT=$B mc_count_keys "fm:$1:")" = 0 ]; }
wait_until 10 no_keys "$id1" || fail "released region $id1 left keys"
wait_until 10 no_keys "$id2" || fail "released region $id2 left keys"

# A region registered after the restart still gets a fresh id.
out=$("$WORKER" --socket "$TMP/m1/monitor.sock" --pages 64 --rounds 1) || fail "registration after restart: $out"
id3=$(echo "$out" | sed -n 's/^region=\([0-9a-f]*\).*/\1/p')
[ "$id3" != "$id1" ] && [ "$id3" != "$id2" ] || fail "id reused: $id3"

# A monitor killed with its client: its membership expires and another
# monitor collects the pages it left in memcached.
start_holder 1 512 "$TMP/m2/monitor.sock"
H=$W idh=$id
"$UI" "$TMP/m2/ctl.sock" evict 100000 >/dev/null
some_keys() { [ $(( $(MC_PORT=$A mc_count_keys "fm:$1:") + $(MC_PORT=$B mc_count_keys "fm:$1:") )) -ge 400 ]; }
wait_until 10 some_keys "$idh" || fail "holder's pages not in memcached"
kill -KILL $M2 $H; wait $M2 $H 2>/dev/null
wait_until 20 cluster_lacks 1 "MONITOR .*pid=$M2 " || fail "killed monitor still listed"
log "monitor 2 expired from the cluster"
wait_until 40 no_keys "$idh" || fail "pages of the dead monitor's region were never collected"
grep -q "region $idh .* orphaned by a dead monitor" "$TMP/m1.log" || fail "no log of the collection"
pass "cluster: unique ids ($id1, $id2, $id3), server join, ZooKeeper restart survived, dead monitor expired and its pages collected"
