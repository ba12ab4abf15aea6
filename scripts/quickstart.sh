#!/bin/bash
# Quick start: install dependencies, build, start a monitor on the built-in
# local backend (no server needed) with a 16 MiB cache, run an elastic
# workload four times that size through it, and show the monitor's stats.
set -e
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (sudo): the monitor serves other processes' userfaultfds"; exit 1; }
bash scripts/deps.sh
bash scripts/build.sh
dir=$(mktemp -d /tmp/fluidmem-quickstart.XXXXXX)
trap 'kill $mon 2>/dev/null; wait $mon 2>/dev/null; rm -rf "$dir"' EXIT
./monitor/monitor --cache_size=4096 --run-dir="$dir/run" \
	--socket="$dir/run/monitor.sock" --local-dir="$dir/pages" \
	--ctl-tcp=none 2>"$dir/monitor.log" &
mon=$!
for _ in $(seq 50); do [ -S "$dir/run/ctl.sock" ] && break; sleep 0.1; done
echo "== monitor running (pid $mon), cache 4096 pages = 16 MiB, local backend"
echo "== workload: 64 MiB region, 4 threads, 8 rounds of write + verify"
FLUIDMEM_QUIET=1 ./test/fm_worker --socket "$dir/run/monitor.sock" \
	--name quickstart --pages 16384 --threads 4 --rounds 8
echo "== ui stats"
./ui/ui "$dir/run/ctl.sock" stats | grep -E \
	"backend|cache_|faults |zero_pages|placed_pages|evictions|evict_writes|writes_avoided|pages_lost|regions_"
