#!/bin/bash
# Per-stage latency histograms: empty before any fault, every stage moves
# after real faults, evictions and fetches, percentiles are ordered,
# clearstats empties them, and bad arguments get an ERROR.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_monitor --cache_size=256

# lat_field STAGE KEY: one value of `ui latency STAGE`.
lat_field() {
	"$UI" "$CTL" latency "$1" |
		awk -v k="$2" '$1 == "LAT" { for (i = 3; i <= NF; i++) {
			split($i, kv, "="); if (kv[1] == k) print kv[2] } }'
}
STAGES="fault zeropage copy backend_read backend_write evict"

out=$("$UI" "$CTL" latency) || fail "ui latency: $out"
[ "$(echo "$out" | grep -c '^LAT ')" = 6 ] || fail "expected 6 stages: $out"
for s in $STAGES; do
	[ "$(lat_field $s count)" = 0 ] || fail "stage $s not empty before any fault"
done

# Working set 4x the cache: zero fills, evictions, fetches.
( worker --name lat --pages 1024 --threads 2 --rounds 3 ) >"$TMP/w.out" 2>&1 ||
	{ cat "$TMP/w.out"; fail "worker failed"; }
"$UI" "$CTL" latency | sed 's/^/# /'
for s in $STAGES; do
	n=$(lat_field $s count)
	[ -n "$n" ] && [ "$n" -gt 0 ] || fail "stage $s did not move after real faults"
	awk -v a="$(lat_field $s p50_us)" -v b="$(lat_field $s p99_us)" \
	    -v c="$(lat_field $s p999_us)" -v mx="$(lat_field $s max_us)" \
	    'BEGIN { exit !(a > 0 && a <= b && b <= c && c <= mx * 1.25 + 0.1) }' ||
		fail "stage $s percentiles out of order: $("$UI" "$CTL" latency $s)"
done
# Every fault is timed once.
[ "$(lat_field fault count)" = "$(ui_stat faults)" ] ||
	fail "fault samples $(lat_field fault count) != faults $(ui_stat faults)"
"$UI" "$CTL" h zeropage | grep -q '^LAT zeropage ' || fail "short form h"

# Bad arguments: ERROR, exit 1, nothing changes.
for bad in "latency bogus" "latency fault extra" "latency FAULT" "h 1"; do
	out=$(echo "$bad" | "$UI" -i "$CTL" 2>&1); rc=$?
	[ $rc -eq 1 ] && echo "$out" | grep -q "^ERROR" || fail "'$bad': rc $rc, '$out'"
	log "'$bad' -> $out"
done
[ "$(lat_field fault count)" -gt 0 ] || fail "a bad command changed the histograms"

"$UI" "$CTL" clearstats >/dev/null || fail "clearstats"
for s in $STAGES; do
	[ "$(lat_field $s count)" = 0 ] || fail "clearstats left stage $s"
done
pass "latency histograms: all 6 stages recorded real work, errors refused"
