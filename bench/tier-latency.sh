#!/bin/bash
# Fetch latency per tier on loopback: the same fault_latency run through a
# monitor on each backend and on tier chains, monitor and client pinned to
# CPU 0 (so the figures show the tiers, not cross-CPU wake-ups); the
# servers (memcached, memserver) run unpinned, as they would on another
# host. Run by hand, as root, after `make all bench/fault_latency`:
#   bench/tier-latency.sh [REPS (2)]
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
B=$top_builddir
REPS=${1:-2}
N=${BENCH_FL_PAGES:-8192}
export FLUIDMEM_QUIET=1
[ "$(id -u)" = 0 ] || { echo "tier-latency: run as root" >&2; exit 2; }
for f in monitor/monitor ui/ui bench/fault_latency server/memserver; do
	[ -x "$B/$f" ] || { echo "tier-latency: $B/$f is not built" >&2; exit 2; }
done
T=$(mktemp -d /var/tmp/fmtl.XXXXXX) || exit 1
PIDS=""
trap 'kill $PIDS 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
PORT=$(( 20000 + RANDOM % 20000 )); MSPORT=$((PORT + 1))
memcached -u nobody -l 127.0.0.1 -p $PORT -U 0 -m 2048 -t 2 >/dev/null 2>&1 &
PIDS="$PIDS $!"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret"
chmod 600 "$T/secret"
"$B/server/memserver" --size=512 --listen=127.0.0.1:$MSPORT \
	--secret-file="$T/secret" >/dev/null 2>&1 &
PIDS="$PIDS $!"
sleep 1
# one NAME MONITOR-ARGS...: prints "NAME p50 p99" of the fetch phase.
one() {
	local name=$1 m
	shift
	rm -rf "$T/run"
	"$B/monitor/monitor" --run-dir="$T/run" --socket="$T/run/s" --ctl-tcp=none \
		--local-dir="$T/local" --cache_size=$N --prefetch=0 "$@" >>"$T/$name.log" 2>&1 &
	m=$!
	for _ in $(seq 50); do "$B/ui/ui" "$T/run/ctl.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
	for t in /proc/$m/task/*; do taskset -p -c 0 "${t##*/}" >/dev/null; done
	taskset -c 0 "$B/bench/fault_latency" --socket="$T/run/s" --ctl="$T/run/ctl.sock" \
		--pages=$N --prefix=x 2>/dev/null |
		awk -v n="$name" '$2 == "name=x.fetch" { sub("p50_us=", "", $4); sub("p99_us=", "", $5);
			printf "%-26s %8s %8s\n", n, $4, $5 }'
	kill $m; wait $m 2>/dev/null
}
NVME=0
"$B/monitor/monitor" --help | grep -q 'nvme' && NVME=1
printf '%-26s %8s %8s\n' "fetch (us)" p50 p99
for _ in $(seq "$REPS"); do
	one local
	one chain:local "--mem-path=local:$((N * 8))K|memcached:--SERVER=127.0.0.1:$PORT:1G"
	one memcached --SERVER=127.0.0.1:$PORT
	one chain:memcached "--mem-path=local:64K|memcached:--SERVER=127.0.0.1:$PORT:1G"
	one remote --backend=remote "--locator=tcp://127.0.0.1:$MSPORT;secret-file=$T/secret"
	if [ $NVME = 1 ]; then
		one nvme --backend=nvme "--locator=$T/nvme.img;size=$((N * 8))K"
		one chain:nvme-remote "--mem-path=nvme:$T/nvme2.img;size=64K:64K|remote:127.0.0.1:$MSPORT;secret-file=$T/secret:256M"
	fi
done
