#!/bin/bash
# Eviction A/B: the fault_latency runs of bench/run.sh (1 thread 1 region,
# 4 threads 1 region, 4 threads 4 regions; local backend and memcached),
# for two built trees, interleaved in one session so both see the same
# machine. Prints the median of each figure per tree and new/base.
#
#   bench/evict-ab.sh BASE_TREE NEW_TREE [REPS (3)]
#
# Each tree must be configured with --enable-memcached and have
# `make all bench/fault_latency` done. Root, like bench/run.sh.
set -u
[ $# -ge 2 ] || { echo "usage: $0 BASE_TREE NEW_TREE [REPS]" >&2; exit 2; }
BASE=$1 NEW=$2 REPS=${3:-3}
PAGES=${BENCH_FL_PAGES:-16384}
export FLUIDMEM_QUIET=1
for t in "$BASE" "$NEW"; do
	for f in monitor/monitor ui/ui bench/fault_latency; do
		[ -x "$t/$f" ] || { echo "evict-ab: $t/$f not built" >&2; exit 2; }
	done
done
command -v memcached >/dev/null || { echo "evict-ab: no memcached" >&2; exit 2; }
TMP=$(mktemp -d /var/tmp/fmab.XXXXXX) || exit 1
OUR_PIDS=""
cleanup() {
	local p
	for p in $OUR_PIDS; do kill -TERM "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(( 20000 + RANDOM % 20000 ))
memcached -u nobody -l 127.0.0.1 -p "$PORT" -U 0 -m 2048 -t 2 >"$TMP/mc.log" 2>&1 &
OUR_PIDS="$OUR_PIDS $!"
for _ in $(seq 50); do
	(exec 5<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done

# one TREE TAG MONITOR-ARGS...: a fresh monitor, the three configurations.
one() {
	local t=$1 tag=$2 r="$TMP/run.$RANDOM" p cfg n th rg
	shift 2
	"$t/monitor/monitor" --run-dir="$r/run" --socket="$r/run/m.sock" \
		--local-dir="$r/local" --ctl-tcp=none --cache_size="$PAGES" "$@" \
		>"$r.log" 2>&1 &
	p=$!
	for _ in $(seq 50); do
		"$t/ui/ui" "$r/run/ctl.sock" version >/dev/null 2>&1 && break
		sleep 0.1
	done
	for cfg in t1r1:1:1 t4r1:4:1 t4r4:4:4; do
		IFS=: read -r n th rg <<<"$cfg"
		"$t/bench/fault_latency" --socket="$r/run/m.sock" \
			--ctl="$r/run/ctl.sock" --pages="$PAGES" --threads="$th" \
			--regions="$rg" --prefix="$tag.$n" | grep '^RESULT'
	done
	kill -TERM $p
	wait $p
	rm -rf "$r"
}

echo "# evict-ab: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$REPS"); do
	for tree in base new; do
		t=$BASE; [ $tree = new ] && t=$NEW
		one "$t" $tree.local
		one "$t" $tree.mc --SERVER=127.0.0.1:$PORT
	done
done >"$TMP/raw.txt"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# figure -> values per tree; medians; new/base.
awk '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	name = ""; v = ""
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		if (kv[1] == "name") name = kv[2]
		else if (kv[1] == "p50_us" || kv[1] == "value") v = kv[2]
	}
	tree = substr(name, 1, index(name, ".") - 1)
	fig = substr(name, index(name, ".") + 1)
	if (fig !~ /(evict\.MB_per_s|fetch|steady_write|steady_read|clean_rewrites)$/)
		next
	if (!(fig in seen)) { seen[fig] = 1; order[++nf] = fig }
	vals[tree, fig] = vals[tree, fig] " " v
}
END {
	printf "%-38s %10s %10s %9s   (p50 us; MB/s; pages)\n", "figure", "base", "new", "new/base"
	for (i = 1; i <= nf; i++) {
		f = order[i]; b = median(vals["base", f]); n = median(vals["new", f])
		printf "%-38s %10.1f %10.1f %9s\n", f, b, n, (b > 0 ? sprintf("%.2f", n / b) : "-")
		med["base", f] = b; med["new", f] = n
	}
	print "steady_write p50 / fetch p50 (target <= 1.5):"
	for (i = 1; i <= nf; i++) {
		f = order[i]
		if (f !~ /\.fetch$/) continue
		s = f; sub(/fetch$/, "steady_write", s)
		if (med["base", f] > 0 && med["new", f] > 0)
			printf "  %-30s base %.2f  new %.2f\n", substr(f, 1, length(f) - 6),
				med["base", s] / med["base", f], med["new", s] / med["new", f]
	}
}' "$TMP/raw.txt"
