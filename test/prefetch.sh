#!/bin/bash
# Prefetch: a client scanning sequentially over a working set 8x the cache
# gets pages fetched ahead of its faults (issued > 0, most of them hits)
# with every byte right, on the local backend and on memcached, also with
# a stride of 3 pages and descending; the same client in random order gets
# (nearly) nothing prefetched. PREFETCH_ARG
# overrides the monitor option (--prefetch=0 must make this test fail).
. "${top_srcdir:-.}/test/lib.sh"
require_root
CACHE=512
PAGES=4096
PF=${PREFETCH_ARG:-}

# run_client NAME ORDER THREADS [ARGS]: fm_worker integrity rounds, checked.
run_client() {
	( worker --name "$1" --pages $PAGES --threads "$3" --rounds 3 --order "$2" \
		"${@:4}" ) >"$TMP/$1.out" 2>&1
	local rc=$? line
	cat "$TMP/$1.out"
	line=$(grep accesses= "$TMP/$1.out")
	[ $rc -eq 0 ] && [ "$(field mismatches "$line")" = 0 ] ||
		fail "$1: wrong data (rc $rc)"
	[ "$(field accesses "$line")" -eq $((PAGES * 7)) ] || fail "$1: accesses"
}

pf_stats() {
	"$UI" "$CTL" stats | awk '$1 == "STAT" && $2 ~ /^(prefetch|placed_pages|evictions$)/ {
		printf "%s=%s ", $2, $3 } END { print "" }'
}

# expect_runs WHAT: most fetches were prefetched, most of those were hits.
expect_runs() {
	local issued hits placed
	log "$1: $(pf_stats)"
	issued=$(ui_stat prefetch_issued); hits=$(ui_stat prefetch_hits)
	placed=$(ui_stat placed_pages)
	[ "$issued" -gt $((placed / 2)) ] ||
		fail "$1: prefetched $issued of $placed pages fetched"
	[ "$hits" -gt $((issued * 8 / 10)) ] ||
		fail "$1: prefetch hits $hits of $issued issued"
	expect_stat pages_lost -eq 0
	expect_stat poisoned -eq 0
	"$UI" "$CTL" clearstats >/dev/null
}

check_backend() {
	local be=$1 issued placed
	# Sequential, one stream per client thread.
	run_client seq.$be seq 2
	expect_runs "$be sequential"

	# Random order: the detector must not fire (< 1% of fetches).
	run_client rnd.$be random 2
	log "$be random: $(pf_stats)"
	issued=$(ui_stat prefetch_issued); placed=$(ui_stat placed_pages)
	[ "$placed" -gt $((PAGES * 2)) ] || fail "$be: random run fetched only $placed pages"
	[ "$issued" -le $((placed / 100)) ] ||
		fail "$be: random access prefetched $issued pages ($placed fetched)"
	"$UI" "$CTL" clearstats >/dev/null
}

# shellcheck disable=SC2086
start_monitor --cache_size=$CACHE --headroom=128 $PF
check_backend local
# Strided (every 3rd page) and descending runs are runs too.
run_client stride3 seq 1 --stride 3
expect_runs "local stride 3"
run_client rev rev 1
expect_runs "local descending"
# Adversarial eviction (the page installed last goes first): prefetched
# pages are evicted before use, refault and must still be right.
kill "$MON_PID"; wait "$MON_PID" 2>/dev/null
# shellcheck disable=SC2086
start_monitor --cache_size=$CACHE --headroom=128 --debug-victim=recent $PF
run_client recent seq 1
log "victim=recent: $(pf_stats)"
expect_stat pages_lost -eq 0
kill "$MON_PID"; wait "$MON_PID" 2>/dev/null

start_memcached
# shellcheck disable=SC2086
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=$CACHE --headroom=128 $PF
check_backend memcached
expect_stat memcached_bad_values -eq 0
pass "prefetch: sequential scans prefetched with hits, random access not, 0 mismatches (local, memcached)"
