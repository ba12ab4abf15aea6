#!/bin/bash
# Integrity on one backend (BACKEND=local|memcached): several client
# processes, several threads each, working set 8x the cache, many rounds
# of full-page write + verify. Zero mismatches allowed, and the stats must
# show the pages really went through the backend.
. "${top_srcdir:-.}/test/lib.sh"
require_root
BACKEND=${BACKEND:-local}
CACHE=512
PAGES=2048   # per client; 2 clients -> 8x the cache
if [ "$BACKEND" = memcached ]; then
	start_memcached
	start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=$CACHE
else
	start_monitor --cache_size=$CACHE
fi

worker --name a --pages $PAGES --threads 4 --rounds 30 >"$TMP/a.out" 2>&1 &
A=$!; track $A
worker --name b --pages $PAGES --threads 3 --rounds 30 >"$TMP/b.out" 2>&1 &
B=$!; track $B
wait $A; ra=$?
wait $B; rb=$?
cat "$TMP/a.out" "$TMP/b.out"
[ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "client reported wrong data (rc $ra/$rb)"
for f in a b; do
	line=$(grep accesses= "$TMP/$f.out")
	[ "$(field mismatches "$line")" = 0 ] || fail "mismatches in $f"
	[ "$(field accesses "$line")" -ge $((PAGES * 60)) ] || fail "client $f did too little"
done
expect_stat evictions -gt $((PAGES * 2))
expect_stat placed_pages -gt $((PAGES * 2))
expect_stat pages_lost -eq 0
expect_stat poisoned -eq 0
expect_stat regions_registered -eq 2
wait_until 10 stat_is regions 0 || fail "regions not released"
if [ "$BACKEND" = memcached ]; then
	expect_stat memcached_bad_values -eq 0
	wait_until 10 mc_keys_are fm: 0 || fail "released regions left keys in memcached"
fi
pass "integrity on $BACKEND: $(( $(field accesses "$(grep accesses= "$TMP/a.out")") + $(field accesses "$(grep accesses= "$TMP/b.out")") )) page accesses verified, 0 mismatches"
