#!/bin/bash
# Pipelined memcached stores report each page: memcached runs with -M (it
# refuses stores when full instead of evicting), is filled with filler
# keys, and then gets room back a few keys at a time while a client needs
# evictions. Every batch of quiet sets then mixes stored pages with
# refused ones; a refused page must stay resident (a page wrongly taken
# for stored would come back missing: poisoned, SIGBUS, wrong data).
. "${top_srcdir:-.}/test/lib.sh"
require_root
command -v memcached >/dev/null || fail "memcached not installed"
CACHE=128
PAGES=448 # needs >= 320 pages in memcached; -m 2 holds about 460

MC_PORT=$(free_port)
memcached -u nobody -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 2 -M \
	>>"$TMP/memcached.log" 2>&1 &
track $!
wait_until 10 mc_cmd version || fail "memcached did not start"

# Fill it with 4 KiB filler values until it refuses.
exec 6<>"/dev/tcp/127.0.0.1/$MC_PORT" || fail "cannot connect to memcached"
v=$(head -c 4120 /dev/zero | tr '\0' x)
FILL=0
while :; do
	printf 'set filler%d 0 0 4120\r\n%s\r\n' $FILL "$v" >&6
	IFS= read -r -t 5 line <&6 || fail "memcached did not answer"
	case "$line" in STORED*) FILL=$((FILL + 1)) ;; *) break ;; esac
	[ $FILL -lt 5000 ] || fail "memcached -M -m 2 never filled up"
done
log "memcached full after $FILL filler values ($line)"
# The monitor's start-up probe needs a few bytes.
for i in 0 1 2; do
	printf 'delete filler%d\r\n' $i >&6; IFS= read -r -t 5 line <&6
done

start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=$CACHE
worker --name a --pages $PAGES --threads 2 --rounds 4 >"$TMP/a.out" 2>&1 &
A=$!; track $A
wait_until 30 stat_ge memcached_put_errors 64 ||
	fail "memcached never refused a page"
# Room comes back a few values at a time: batches half stored, half not.
for ((i = 3; i < FILL; i++)); do
	printf 'delete filler%d\r\n' $i >&6
	IFS= read -r -t 5 line <&6 || fail "memcached did not answer"
	[ $((i % 8)) = 0 ] && sleep 0.05
done
exec 6>&-
wait $A; ra=$?
cat "$TMP/a.out"
[ $ra -eq 0 ] || fail "client reported wrong data or died (rc $ra)"
line=$(grep accesses= "$TMP/a.out")
[ "$(field mismatches "$line")" = 0 ] || fail "mismatches"
expect_stat memcached_put_errors -gt 64
expect_stat evict_aborts -gt 64
expect_stat memcached_puts -gt $((PAGES - CACHE))
expect_stat pages_lost -eq 0
expect_stat poisoned -eq 0
expect_stat memcached_bad_values -eq 0
errs=$(ui_stat memcached_put_errors); puts=$(ui_stat memcached_puts)
batches=$(ui_stat memcached_put_batches)
[ "$batches" -gt 0 ] && [ "$batches" -lt $(( (puts + errs) / 4 )) ] ||
	fail "stores were not batched: $batches batches for $((puts + errs)) pages"
pass "memcached refused $errs stores, stored $puts in $batches round trips, 0 mismatches"
