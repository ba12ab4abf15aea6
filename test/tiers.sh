#!/bin/bash
# Tier chains (--mem-path): three real tiers (local files, then two real
# memcached servers) small enough that pages must be demoted twice; every
# page still comes back intact, after a monitor SIGKILL too. When every
# tier is full, eviction stops loudly and no page is lost; a bigger cache
# lets the client finish. Bad chains are refused.
# test-timeout: 240
. "${top_srcdir:-.}/test/lib.sh"
require_root

# Bad specs: a clear error, exit status 2, nothing started.
bad_spec() {
	local out rc
	out=$("$MONITOR" --run-dir="$TMP/bad" --socket="$TMP/bad/s" \
		--ctl-tcp=none --mem-path="$1" 2>&1); rc=$?
	[ $rc = 2 ] || fail "--mem-path='$1': exit $rc, expected 2 ($out)"
	echo "$out" | grep -q "$2" || fail "--mem-path='$1': no '$2' in: $out"
	log "refused --mem-path='$1': $(echo "$out" | tail -1)"
}
bad_spec 'dram:64' 'names no tier besides dram'
bad_spec 'local:64|dram:x' 'expected one dram:SIZE'
bad_spec 'local:64|dram:8|dram:8' 'expected one dram:SIZE'
bad_spec 'local' 'expected KIND'
bad_spec 'local:0' 'bad size'
bad_spec 'local:4K' 'under 16 pages'
bad_spec 'floppy:64' 'unknown kind'
bad_spec 'local:64|local:64' 'one local tier'
bad_spec 'a:1|b:1|c:1|d:1|e:1|f:1|g:1|h:1|i:1' 'at most 8 tiers'
# Each tier's locator is checked by its own backend, before start-up.
bad_spec 'local:/x:64' 'takes no locator'
bad_spec 'remote:127.0.0.1:1:1M' 'secret-file=PATH is required'
bad_spec "remote:127.0.0.1:1;secret-file=$TMP/none:1M" "secret file $TMP/none"
"$MONITOR" --help | grep -q nvme &&
	bad_spec 'nvme:/tmp/x;bogus=1:1M' 'bad nvme locator option "bogus=1"'
out=$("$MONITOR" --run-dir="$TMP/bad" --socket="$TMP/bad/s" --ctl-tcp=none \
	--mem-path='local:64' --SERVER=127.0.0.1:1 2>&1) && fail "mem-path + LOCATOR accepted"
echo "$out" | grep -q "one or the other" || fail "mem-path + LOCATOR: $out"
out=$("$MONITOR" --run-dir="$TMP/bad" --socket="$TMP/bad/s" --ctl-tcp=none \
	--cache_size=10 --mem-path='local:64|dram:64' 2>&1) && fail "dram vs cache_size accepted"
echo "$out" | grep -q "disagrees" || fail "dram vs cache_size: $out"
[ -e "$TMP/bad/s" ] && fail "a refused monitor created its socket"

start_memcached
MC1=$MC_PORT; MC1_PID=$MC_PID
MC_PORT=; start_memcached
MC2=$MC_PORT
tier_stat() { ui_stat "tier:$1:$2"; }

# 1. Demotion through three tiers: cache 128 pages, local 256, memcached
# 512, memcached 16 MiB; two clients write 1536 pages.
CHAIN="local:1M|memcached:--SERVER=127.0.0.1:$MC1:2M|memcached:--SERVER=127.0.0.1:$MC2:16M"
start_monitor --mem-path="$CHAIN|dram:512K"
expect_stat cache_size -eq 128
[ "$(tier_stat 0 capacity)" = 256 ] || fail "tier 0 capacity $(tier_stat 0 capacity)"
[ "$(tier_stat 2 kind)" = memcached ] || fail "tier 2 kind $(tier_stat 2 kind)"
worker --name a --pages 1024 --threads 3 --rounds 12 >"$TMP/a.out" 2>&1 &
A=$!; track $A
worker --name b --pages 512 --threads 2 --seconds 12 >"$TMP/b.out" 2>&1 &
B=$!; track $B
wait_until 60 stat_ge tier:1:demoted_out 1 || fail "nothing demoted from tier 1"
"$UI" "$CTL" tiers >"$TMP/tiers.out" || fail "ui tiers failed"
sed 's/^/# /' "$TMP/tiers.out"
[ "$(grep -c '^TIER [012] ' "$TMP/tiers.out")" = 3 ] || fail "ui tiers shows no 3 tiers"
grep -q '^TIER 1 memcached capacity=512 ' "$TMP/tiers.out" || fail "ui tiers: tier 1 wrong"
"$UI" "$CTL" tiers extra >/dev/null 2>&1 && fail "ui tiers with an argument accepted"
log "monitor killed mid-run with pages on all three tiers"
kill -KILL $MON_PID; wait $MON_PID 2>/dev/null
restart_monitor
wait_until 10 stat_is regions 2 || fail "regions not resumed after the kill"
wait $A || fail "client a: $(cat "$TMP/a.out")"
wait $B || fail "client b: $(cat "$TMP/b.out")"
cat "$TMP/a.out" "$TMP/b.out"
grep -h accesses= "$TMP/a.out" "$TMP/b.out" | grep -v "mismatches=0 sigbus=0" &&
	fail "data damaged"
"$UI" "$CTL" stats | grep 'STAT tier' | grep -v ':locator' | sed 's/^/# /'
# Every chain statistic is documented (a tier backend's own under its name).
for name in $("$UI" "$CTL" stats | awk '$1 == "STAT" && $2 ~ /^tier/ { print $2 }' |
	sed 's/^tier:[0-9]*:/tier:<n>:/; s/memcached_server:[0-9]*:/memcached_server:<n>:/' | sort -u); do
	grep -qF "\`$name\`" "$top_srcdir/doc/protocol.md" ||
		grep -qF "\`${name#tier:<n>:}\`" "$top_srcdir/doc/protocol.md" ||
		fail "undocumented stat: $name"
done
for t in 0 1; do
	[ "$(tier_stat $t used)" -le "$(tier_stat $t capacity)" ] ||
		fail "tier $t holds more than its capacity"
done
expect_stat tier:0:demoted_out -gt 0
expect_stat tier:2:demoted_in -gt 0
expect_stat tier:2:gets -gt 0
expect_stat pages_lost -eq 0
expect_stat checksum_errors -eq 0
wait_until 10 stat_is regions 0 || fail "regions not released"
wait_until 10 stat_is tier:0:used 0 || fail "tier 0 still holds pages"
for p in $MC1 $MC2; do
	MC_PORT=$p
	wait_until 10 mc_keys_are fm: 0 || fail "released regions left keys on memcached $p"
done
ls "$TMP/local" | grep -q . && fail "released regions left files in the local tier: $(ls "$TMP/local")"
ls "$RUN/chain" | grep -q '\.map$' && fail "released regions left tier maps"
kill -TERM $MON_PID; wait $MON_PID 2>/dev/null
rm -rf "$RUN"
start_monitor --cache_size=64
out=$("$UI" "$CTL" tiers 2>&1) && fail "ui tiers without a chain succeeded"
echo "$out" | grep -q "no tier chain" || fail "ui tiers without a chain: $out"
kill -TERM $MON_PID; wait $MON_PID 2>/dev/null
pass "three-tier chain: demoted twice, survived SIGKILL, 0 mismatches, nothing left behind"

# 2. Every tier full: eviction fails loudly, no page is lost; more cache
# lets the client finish with every page intact.
rm -rf "$RUN"
MC_PORT=$MC1
start_monitor --cache_size=128 --evict-batch=16 \
	--mem-path="local:64K|memcached:--SERVER=127.0.0.1:$MC2:64K"
worker --name full --pages 512 --threads 2 --rounds 3 >"$TMP/full.out" 2>&1 &
F=$!; track $F
wait_until 60 stat_ge backend_put_errors 1 || fail "a full chain did not refuse pages"
sleep 2
kill -0 $F 2>/dev/null || fail "client finished although nothing fits: $(cat "$TMP/full.out")"
grep -q "every tier is full" "$TMP/monitor.log" || fail "no log line says a tier is full"
expect_stat pages_lost -eq 0
[ "$(tier_stat 0 used)" -le 16 ] && [ "$(tier_stat 1 used)" -le 16 ] ||
	fail "tiers over capacity: $(tier_stat 0 used) $(tier_stat 1 used)"
"$UI" "$CTL" resize 1024 >/dev/null || fail "ui resize"
wait $F || fail "client failed after the resize: $(cat "$TMP/full.out")"
cat "$TMP/full.out"
grep accesses= "$TMP/full.out" | grep -q "mismatches=0 sigbus=0" || fail "data damaged"
expect_stat pages_lost -eq 0
pass "full chain: put errors counted, client held back, no page lost"
