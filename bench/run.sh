#!/bin/bash
# fluidmem benchmark suite: one command (as root) that measures the raw
# floors, faults through real monitors, workloads against Linux swap, and
# monitor memory, then prints a table of ratios to same-run baselines and
# writes bench/results.json. Never part of `make check`.
#
# Environment (defaults in brackets):
#   BENCH_WS_MB [256]        workload working set
#   BENCH_CACHE_PAGES [16384] monitor cache and swap memory limit (64 MiB)
#   BENCH_OPS [200000]       timed accesses per workload run
#   BENCH_FL_PAGES [16384]   pages per fault_latency run
#   BENCH_JSON [$top_builddir/bench/results.json]
#   BENCH_QUICK=1            fewer workloads, for trying the suite out
# Setup failures exit 1 (after restoring the machine); unmet targets do not.

set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
B="$top_builddir/bench"
MONITOR="$top_builddir/monitor/monitor"
UI="$top_builddir/ui/ui"
WS_MB=${BENCH_WS_MB:-256}
CACHE_PAGES=${BENCH_CACHE_PAGES:-16384}
OPS=${BENCH_OPS:-200000}
FL_PAGES=${BENCH_FL_PAGES:-16384}
JSON=${BENCH_JSON:-$top_builddir/bench/results.json}
PS=$(getconf PAGESIZE)
export FLUIDMEM_QUIET=1

die() { echo "bench: SETUP ERROR: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (userfaultfd across processes, swap, cgroups)"
# The swap file needs a real file system, not tmpfs.
TMP=$(mktemp -d /var/tmp/fmbench.XXXXXX) || die "mktemp"
chmod 755 "$TMP"
RAW="$TMP/raw.txt"   # RESULT lines from every program
KV="$TMP/kv.txt"     # key value, one per line
NOTES="$TMP/notes.txt"
: >"$RAW"; : >"$NOTES"
OUR_PIDS=""
SWAPFILE=""
ZRAM_USED=""
CGROUP=""

cleanup() {
	local p
	for p in $OUR_PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in $OUR_PIDS; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "$CGROUP" ] && [ -d "$CGROUP" ]; then
		for p in $(cat "$CGROUP/cgroup.procs" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		sleep 0.2
		rmdir "$CGROUP" 2>/dev/null || echo "bench: could not remove $CGROUP" >&2
	fi
	if [ -n "$SWAPFILE" ]; then
		grep -q "^$SWAPFILE " /proc/swaps && swapoff "$SWAPFILE"
		rm -f "$SWAPFILE"
	fi
	if [ -n "$ZRAM_USED" ]; then
		grep -q "^$ZRAM_USED " /proc/swaps && swapoff "$ZRAM_USED"
		echo 1 >"/sys/block/${ZRAM_USED#/dev/}/reset"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

track() { OUR_PIDS="$OUR_PIDS $1"; }

wait_until() {
	local t=$1; shift
	local end=$(( $(date +%s) + t ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

free_port() {
	local p
	while :; do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null || break
	done
	echo "$p"
}

# run NAME CMD...: run a benchmark program, keep its RESULT lines. While a
# monitor is up (MON_PID), a crash of it ends the step: the crash is noted,
# the step's figures are missing, a fresh monitor replaces it, and the suite
# exits 1 at the end. A step running past BENCH_STEP_TIMEOUT is fatal.
CRASHES=0
run() {
	local what=$1 pid rc end tries=0
	shift
	note "$what"
	while :; do
		end=$(( $(date +%s) + ${BENCH_STEP_TIMEOUT:-600} ))
		"$@" >"$TMP/out" 2>"$TMP/err" &
		pid=$!
		while kill -0 $pid 2>/dev/null; do
			if [ -n "$MON_PID" ] && ! kill -0 "$MON_PID" 2>/dev/null; then
				kill -KILL $pid 2>/dev/null
				wait $pid 2>/dev/null
				CRASHES=$((CRASHES + 1))
				echo "CRASH: monitor '$MON_NAME' died during '$what': $(tail -1 "$TMP/$MON_NAME.log")" |
					tee -a "$NOTES" >&2
				grep '^RESULT ' "$TMP/out" >>"$RAW"
				start_monitor "$MON_NAME.restart$CRASHES" "${MON_ARGS[@]}"
				return 1
			fi
			if [ "$(date +%s)" -ge "$end" ]; then
				kill -KILL $pid 2>/dev/null
				die "$what: still running after ${BENCH_STEP_TIMEOUT:-600}s"
			fi
			sleep 0.05
		done
		wait $pid
		rc=$?
		# The kernel's memcg OOM killer sometimes fires on swap-in at this
		# tight limit (seen with zram): one retry, noted.
		if [ $rc = 137 ] && [ -n "$CGROUP" ] && [ $tries = 0 ]; then
			tries=1
			echo "OOM: '$what' was killed by the memory cgroup's OOM killer; retried once" | tee -a "$NOTES" >&2
			continue
		fi
		break
	done
	if [ $rc != 0 ]; then
		cat "$TMP/out" "$TMP/err" >&2
		die "$what failed (exit $rc): $*"
	fi
	grep '^RESULT ' "$TMP/out" | tee -a "$RAW" | sed 's/^/#   /' >&2
}

# ---------------------------------------------------------------- processes
MC_PORT=""
start_memcached() {
	MC_PORT=$(free_port)
	memcached -u nobody -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 2048 -t 2 \
		>>"$TMP/memcached.log" 2>&1 &
	MC_PID=$!
	track $MC_PID
	wait_until 10 bash -c "exec 5<>/dev/tcp/127.0.0.1/$MC_PORT" ||
		die "memcached did not start on port $MC_PORT"
}
# A second memcached on CPU 0 only, for the runs that keep everything on
# CPU 0 (no cross-CPU wake-ups; see "one CPU" in doc/performance.md).
MC0_PORT=""
start_memcached_cpu0() {
	MC0_PORT=$(free_port)
	taskset -c 0 memcached -u nobody -l 127.0.0.1 -p "$MC0_PORT" -U 0 -m 2048 -t 1 \
		>>"$TMP/memcached0.log" 2>&1 &
	track $!
	wait_until 10 bash -c "exec 5<>/dev/tcp/127.0.0.1/$MC0_PORT" ||
		die "memcached (CPU 0) did not start on port $MC0_PORT"
}

# start_monitor NAME ARGS...: sets MON_PID, MON_NAME, MON_ARGS, SOCK, CTL,
# RUN, LOCAL.
MON_PID=""
start_monitor() {
	local name=$1; shift
	MON_NAME=$name
	MON_ARGS=("$@")
	RUN="$TMP/$name/run"
	LOCAL="$TMP/$name/local"
	SOCK="$RUN/monitor.sock"
	CTL="$RUN/ctl.sock"
	"$MONITOR" --run-dir="$RUN" --socket="$SOCK" --local-dir="$LOCAL" \
		--ctl-tcp=none "$@" >>"$TMP/$name.log" 2>&1 &
	MON_PID=$!
	track $MON_PID
	wait_until 10 "$UI" "$CTL" version ||
		{ tail "$TMP/$name.log" >&2; die "monitor $name did not start"; }
}

stop_monitor() {
	kill -TERM "$MON_PID" 2>/dev/null
	wait "$MON_PID" 2>/dev/null
	MON_PID=""
}

# ---------------------------------------------------------------- swap
CG_ROOT=""
setup_cgroup() {
	local self
	if [ -f /sys/fs/cgroup/memory/cgroup.procs ]; then
		# cgroup v1: a child of our own memory cgroup.
		self=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
		CG_ROOT="/sys/fs/cgroup/memory${self%/}"
		CGROUP="$CG_ROOT/fmbench.$$"
		mkdir "$CGROUP" || die "cannot create memory cgroup $CGROUP"
		echo "$1" >"$CGROUP/memory.limit_in_bytes" ||
			die "cannot set memory.limit_in_bytes"
		echo "cgroup v1 memory controller, limit $1 bytes" >>"$NOTES"
	elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		# cgroup v2: a child of our own cgroup needs the memory
		# controller enabled in the parent's subtree_control.
		self=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		CG_ROOT="/sys/fs/cgroup${self%/}"
		grep -qw memory "$CG_ROOT/cgroup.subtree_control" ||
			die "cgroup v2 without the memory controller in $CG_ROOT"
		CGROUP="$CG_ROOT/fmbench.$$"
		mkdir "$CGROUP" || die "cannot create cgroup $CGROUP"
		echo "$1" >"$CGROUP/memory.max" || die "cannot set memory.max"
		echo "cgroup v2, memory.max $1 bytes" >>"$NOTES"
	else
		die "no memory cgroup controller mounted"
	fi
}

setup_swapfile() {
	SWAPFILE="$TMP/swapfile"
	fallocate -l "$1" "$SWAPFILE" && chmod 600 "$SWAPFILE" &&
		mkswap -q "$SWAPFILE" >/dev/null && swapon "$SWAPFILE" ||
		die "cannot set up the swap file $SWAPFILE"
}

teardown_swapfile() {
	swapoff "$SWAPFILE" || die "swapoff $SWAPFILE"
	rm -f "$SWAPFILE"
	SWAPFILE=""
}

# setup_zram SIZE: prints nothing and returns 1 with a reason in
# ZRAM_WHY if this machine cannot have zram.
ZRAM_WHY=""
setup_zram() {
	local dev
	if [ ! -d /sys/class/zram-control ] && [ ! -e /sys/block/zram0 ]; then
		command -v modprobe >/dev/null && modprobe zram 2>/dev/null
	fi
	if [ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ] &&
	   ! grep -q '^/dev/zram0 ' /proc/swaps; then
		dev=zram0
	elif [ -w /sys/class/zram-control/hot_add ]; then
		dev=zram$(cat /sys/class/zram-control/hot_add) ||
			{ ZRAM_WHY="zram hot_add failed"; return 1; }
	else
		ZRAM_WHY="no zram: module missing and /sys/block/zram0 absent or busy"
		return 1
	fi
	ZRAM_USED=/dev/$dev
	echo "$1" >"/sys/block/$dev/disksize" ||
		die "cannot size $ZRAM_USED"
	mkswap -q "$ZRAM_USED" >/dev/null && swapon -p 100 "$ZRAM_USED" ||
		die "cannot swapon $ZRAM_USED"
	echo "zram: $ZRAM_USED, $(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/$dev/comp_algorithm")" >>"$NOTES"
}

teardown_zram() {
	swapoff "$ZRAM_USED" || die "swapoff $ZRAM_USED"
	echo 1 >"/sys/block/${ZRAM_USED#/dev/}/reset"
	ZRAM_USED=""
}

# run_in_cgroup NAME CMD...: like run, with the command in $CGROUP.
run_in_cgroup() {
	local what=$1; shift
	run "$what" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGROUP" "$@"
}

# ---------------------------------------------------------------- build
note "building"
progs="bench/fault_latency bench/uffd_floor bench/workload"
HAVE_MC=1
command -v memcached >/dev/null || HAVE_MC=0
grep -q '^#define HAVE_MEMCACHED 1' "$top_builddir/config.h" 2>/dev/null || HAVE_MC=0
[ $HAVE_MC = 1 ] && progs="$progs bench/mc_floor"
HAVE_NVME=1
grep -q '^#define HAVE_NVME 1' "$top_builddir/config.h" 2>/dev/null || HAVE_NVME=0
[ $HAVE_NVME = 1 ] && progs="$progs bench/nvme_floor"
# shellcheck disable=SC2086
make -s -C "$top_builddir" all $progs >/dev/null || die "build failed"
[ $HAVE_MC = 1 ] || echo "memcached or the memcached backend is not built: memcached figures skipped" >>"$NOTES"

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T_START=$(date +%s)

# ---------------------------------------------------------------- floors
for m in zero copy; do
	for h in poll spin; do
		run "floor: uffd $m, handler $h" "$B/uffd_floor" --mode=$m --handler=$h
	done
done
run "floor: uffd copy, same CPU" "$B/uffd_floor" --mode=copy --pin=same --name=uffd.copy.poll_samecpu
run "floor: uffd zero, same CPU" "$B/uffd_floor" --mode=zero --pin=same --name=uffd.zero.poll_samecpu
if [ "$(nproc)" -ge 2 ]; then
	run "floor: uffd copy, cross CPU" "$B/uffd_floor" --mode=copy --pin=cross --name=uffd.copy.poll_crosscpu
	run "floor: uffd copy, cross CPU, spinning" "$B/uffd_floor" --mode=copy --pin=cross --handler=spin --name=uffd.copy.spin_crosscpu
fi
if [ $HAVE_MC = 1 ]; then
	start_memcached
	run "floor: libmemcached over TCP loopback" "$B/mc_floor" --server=127.0.0.1:$MC_PORT
	start_memcached_cpu0
	run "floor: libmemcached, client and memcached on CPU 0" taskset -c 0 "$B/mc_floor" \
		--server=127.0.0.1:$MC0_PORT --prefix=mc_cpu0
fi

# ---------------------------------------------------------------- faults
fault_runs() {
	local be=$1
	run "faults: $be, 1 thread 1 region" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --prefix=fm.$be.t1r1
	run "faults: $be, 4 threads 1 region" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --threads=4 --prefix=fm.$be.t4r1
	run "faults: $be, 4 threads 4 regions" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --threads=4 --regions=4 --prefix=fm.$be.t4r4
}
# fault_latency reads its pages back in address order: with prefetch on,
# most reads would not fault at all, so per-fault figures are taken with
# --prefetch=0 (the sequential scan below measures prefetch).
NOPF=""
"$MONITOR" --help | grep -q -- '--prefetch' && NOPF=--prefetch=0
start_monitor local --cache_size="$FL_PAGES" $NOPF
fault_runs local
stop_monitor
# The NVMe/SSD tier: a file next to the others (not tmpfs), twice the pages.
if [ $HAVE_NVME = 1 ]; then
	run "floor: O_DIRECT page reads, io_uring write batches" "$B/nvme_floor" \
		--file="$TMP/nvme.floor" --pages="$FL_PAGES"
	start_monitor nvfault --backend=nvme \
		"--locator=$TMP/nvme.data;size=$(( FL_PAGES * PS * 2 ))" --cache_size="$FL_PAGES" $NOPF
	echo "nvme: $("$UI" "$CTL" stats | awk '$2 == "nvme_io" || $2 == "nvme_direct" { printf "%s=%s ", $2, $3 }')on $(df --output=source,fstype "$TMP" | tail -1)" >>"$NOTES"
	fault_runs nvme
	stop_monitor
else
	echo "nvme: the monitor has no nvme backend (configure --enable-nvme): not measured" >>"$NOTES"
fi
# Monitor and client pinned to CPU 0, as uffd.*.poll_samecpu: the
# monitor's own cost without the scheduler's placement noise.
start_monitor localcpu0 --cache_size="$FL_PAGES" $NOPF
for t in /proc/"$MON_PID"/task/*; do taskset -p -c 0 "${t##*/}" >/dev/null; done
run "faults: local, 1 thread, all on CPU 0" taskset -c 0 "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
	--pages="$FL_PAGES" --prefix=fm.local_cpu0.t1r1
stop_monitor
# The same with busy-polling fault threads, when the monitor has it.
if "$MONITOR" --help | grep -q -- '--busy-poll'; then
	start_monitor localbp --cache_size="$FL_PAGES" $NOPF --busy-poll=50
	run "faults: local, busy-poll 50 us, 1 thread" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --prefix=fm.local_bp50.t1r1
	run "faults: local, busy-poll 50 us, 4 threads" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --threads=4 --prefix=fm.local_bp50.t4r1
	"$UI" "$CTL" stats | awk '$1 == "STAT" && $2 ~ /^busy_poll/ {
		printf "RESULT name=local_bp50.%s value=%s unit=stat\n", $2, $3 }' |
		tee -a "$RAW" | sed 's/^/#   /' >&2
	stop_monitor
fi
if [ $HAVE_MC = 1 ]; then
	start_monitor mcfault --SERVER=127.0.0.1:$MC_PORT --cache_size="$FL_PAGES" $NOPF
	fault_runs mc
	stop_monitor
	# Everything on CPU 0, floors uffd.copy.poll_samecpu + mc_cpu0.get.
	start_monitor mccpu0 --SERVER=127.0.0.1:$MC0_PORT --cache_size="$FL_PAGES" $NOPF
	for t in /proc/"$MON_PID"/task/*; do taskset -p -c 0 "${t##*/}" >/dev/null; done
	run "faults: memcached, 1 thread, all on CPU 0" taskset -c 0 "$B/fault_latency" --socket="$SOCK" \
		--ctl="$CTL" --pages="$FL_PAGES" --prefix=fm.mc_cpu0.t1r1
	stop_monitor
fi
# The remote backend over TCP loopback to a memserver (doc/memserver.md).
MEMSERVER="$top_builddir/server/memserver"
if [ -x "$MEMSERVER" ]; then
	MS_PORT=$(free_port)
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/ms.secret"
	chmod 600 "$TMP/ms.secret"
	"$MEMSERVER" --size=$(( FL_PAGES * 4 * PS / 1048576 + 64 )) --listen=127.0.0.1:$MS_PORT \
		--secret-file="$TMP/ms.secret" >>"$TMP/memserver.log" 2>&1 &
	track $!
	wait_until 10 "$MEMSERVER" --stats=127.0.0.1:$MS_PORT --secret-file="$TMP/ms.secret" ||
		die "memserver did not start"
	start_monitor msfault --backend=remote --cache_size="$FL_PAGES" $NOPF \
		"--locator=tcp://127.0.0.1:$MS_PORT;secret-file=$TMP/ms.secret"
	fault_runs ms
	stop_monitor
else
	echo "memserver is not built: remote backend figures skipped" >>"$NOTES"
fi
# Tier chains (--mem-path): the chain's own cost, with the pages on its
# first tier (local files) and with nearly all of them on its second
# (memcached: a 16-page first tier spills at once); ratios to the plain
# local and memcached fetches of this run.
if [ $HAVE_MC = 1 ]; then
	start_monitor chain0 --cache_size="$FL_PAGES" $NOPF \
		"--mem-path=local:$(( FL_PAGES * PS * 2 / 1024 ))K|memcached:--SERVER=127.0.0.1:$MC_PORT:1G"
	run "faults: chain, pages on tier 0 (local)" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --prefix=fm.chain_t0.t1r1
	stop_monitor
	start_monitor chain1 --cache_size="$FL_PAGES" $NOPF \
		"--mem-path=local:64K|memcached:--SERVER=127.0.0.1:$MC_PORT:1G"
	run "faults: chain, pages on tier 1 (memcached)" "$B/fault_latency" --socket="$SOCK" --ctl="$CTL" \
		--pages="$FL_PAGES" --prefix=fm.chain_t1.t1r1
	stop_monitor
fi

# ---------------------------------------------------------------- workloads
WORKLOADS="uniform:10 uniform:50 zipf:10 zipf:50 seq:10 seq:50"
[ "${BENCH_QUICK:-0}" = 1 ] && WORKLOADS="uniform:10 seq:50"
WS="${WS_MB}M"
wl_args() { echo "--pattern=${1%:*} --write-pct=${1#*:} --ws=$WS --ops=$OPS"; }
wl_name() { echo "${1%:*}_w${1#*:}"; }

# shellcheck disable=SC2046
for w in $WORKLOADS; do
	run "workload $(wl_name $w): all local" "$B/workload" --memory=anon $(wl_args $w) --name=wl.anon.$(wl_name $w)
done

# fluidmem, local backend; afterwards the same monitor measures its
# memory per tracked page.
start_monitor wllocal --cache_size="$CACHE_PAGES"
for w in $WORKLOADS; do
	# shellcheck disable=SC2046
	run "workload $(wl_name $w): fluidmem local" "$B/workload" --memory=fluidmem --socket="$SOCK" \
		$(wl_args $w) --name=wl.fm_local.$(wl_name $w)
done
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
RSS0=$(rss_kb "$MON_PID")
MEM_PAGES=$(( 1024 * 1024 * 1024 / PS ))
"$B/workload" --memory=fluidmem --socket="$SOCK" --ws=1G --ops=0 --hold --name=rss >"$TMP/hold.out" 2>&1 &
HOLD_PID=$!
track $HOLD_PID
wait_until 300 grep -q HOLDING "$TMP/hold.out" || { cat "$TMP/hold.out" >&2; die "memory probe did not finish"; }
RSS1=$(rss_kb "$MON_PID")
STATE_BYTES=$(stat -c %s "$RUN"/regions/*.state 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
SUMS_BYTES=$(du -B1 -c "$LOCAL"/*.sums 2>/dev/null | awk 'END { print $1 + 0 }')
kill -TERM $HOLD_PID; wait $HOLD_PID 2>/dev/null
{
	echo "RESULT name=mem.tracked_pages value=$MEM_PAGES unit=pages"
	echo "RESULT name=mem.rss_before value=$RSS0 unit=KiB"
	echo "RESULT name=mem.rss_tracking value=$RSS1 unit=KiB"
	awk -v a="$RSS0" -v b="$RSS1" -v n="$MEM_PAGES" 'BEGIN {
		printf "RESULT name=mem.rss_bytes_per_page value=%.3f unit=B\n", (b - a) * 1024 / n }'
	awk -v s="$STATE_BYTES" -v n="$MEM_PAGES" 'BEGIN {
		printf "RESULT name=mem.state_file_bytes_per_page value=%.3f unit=B\n", s / n }'
	awk -v s="$SUMS_BYTES" -v n="$MEM_PAGES" 'BEGIN {
		printf "RESULT name=mem.local_sums_bytes_per_page value=%.3f unit=B\n", s / n }'
} | tee -a "$RAW" | sed 's/^/#   /' >&2
stop_monitor

# Sequential scan with and without prefetch, when the monitor has it.
# Local backend: wl.prefetch_on/off; memcached: wl.prefetch_mc_on/off.
if "$MONITOR" --help | grep -q -- '--prefetch'; then
	pfbe="local"; [ $HAVE_MC = 1 ] && pfbe="local mc"
	for be in $pfbe; do
		for pf in on off; do
			t=$pf; args="--cache_size=$CACHE_PAGES"
			[ $be = mc ] && { t=mc_$pf; args="$args --SERVER=127.0.0.1:$MC_PORT"; }
			[ $pf = off ] && args="$args --prefetch=0"
			# shellcheck disable=SC2086
			start_monitor pf$t $args
			run "prefetch $pf ($be): sequential scan" "$B/workload" --memory=fluidmem --socket="$SOCK" \
				--pattern=seq --write-pct=0 --ws="$WS" --ops="$OPS" --name=wl.prefetch_$t.seq
			"$UI" "$CTL" stats | awk -v p=$t '$1 == "STAT" && $2 ~ /prefetch|placed_pages/ {
				printf "RESULT name=prefetch_%s.%s value=%s unit=stat\n", p, $2, $3 }' |
				tee -a "$RAW" | sed 's/^/#   /' >&2
			stop_monitor
		done
	done
else
	echo "prefetch: the monitor has no --prefetch option yet; the prefetch target cannot be measured" >>"$NOTES"
fi

if [ $HAVE_MC = 1 ]; then
	start_monitor wlmc --SERVER=127.0.0.1:$MC_PORT --cache_size="$CACHE_PAGES"
	for w in $WORKLOADS; do
		# shellcheck disable=SC2046
		run "workload $(wl_name $w): fluidmem memcached" "$B/workload" --memory=fluidmem \
			--socket="$SOCK" $(wl_args $w) --name=wl.fm_mc.$(wl_name $w)
	done
	stop_monitor
fi

# The compressed cache (--compressed-cache), when the monitor has it:
# half the working set. zcache_results NAME: its stats as results.
ZC=$(( WS_MB / 2 ))M
"$MONITOR" --help | grep -q -- '--compressed-cache' || ZC=""
zcache_results() {
	"$UI" "$CTL" stats | awk -v p="$1" '$1 == "STAT" && $2 ~ /^zcache_/ {
		printf "RESULT name=%s.%s value=%s unit=stat\n", p, $2, $3 }' |
		tee -a "$RAW" | sed 's/^/#   /' >&2
}
if [ $HAVE_MC = 1 ] && [ -n "$ZC" ]; then
	# A monitor per workload, so the cache's figures are per workload.
	for w in $WORKLOADS; do
		start_monitor wlmcz --SERVER=127.0.0.1:$MC_PORT --cache_size="$CACHE_PAGES" --compressed-cache="$ZC"
		# shellcheck disable=SC2046
		run "workload $(wl_name $w): fluidmem memcached + compressed cache" "$B/workload" --memory=fluidmem \
			--socket="$SOCK" $(wl_args $w) --name=wl.fm_mcz.$(wl_name $w)
		zcache_results mcz.$(wl_name $w)
		stop_monitor
	done
fi

# One CPU: the client on CPU 0 and the monitor's fault threads with it
# (--fault-cpus=0), memcached on CPU 0 too; the swap runs below get the
# same client pinning. A fault then costs no cross-CPU wake-up.
FCPUS=0
"$MONITOR" --help | grep -q -- '--fault-cpus' || FCPUS=""
if [ -n "$FCPUS" ]; then
	start_monitor wllocal1 --cache_size="$CACHE_PAGES" --fault-cpus=0
	for w in $WORKLOADS; do
		# shellcheck disable=SC2046
		run "workload $(wl_name $w): fluidmem local, CPU 0" taskset -c 0 "$B/workload" --memory=fluidmem \
			--socket="$SOCK" $(wl_args $w) --name=wl.fm_local1.$(wl_name $w)
	done
	stop_monitor
	if [ $HAVE_MC = 1 ]; then
		start_monitor wlmc1 --SERVER=127.0.0.1:$MC0_PORT --cache_size="$CACHE_PAGES" --fault-cpus=0
		for w in $WORKLOADS; do
			# shellcheck disable=SC2046
			run "workload $(wl_name $w): fluidmem memcached, CPU 0" taskset -c 0 "$B/workload" \
				--memory=fluidmem --socket="$SOCK" $(wl_args $w) --name=wl.fm_mc1.$(wl_name $w)
		done
		stop_monitor
		# The same with the compressed cache in front of memcached,
		# half the working set in size (zram's own memory is noted).
		if [ -n "$ZC" ]; then
			for w in $WORKLOADS; do
				start_monitor wlmcz1 --SERVER=127.0.0.1:$MC0_PORT --cache_size="$CACHE_PAGES" \
					--fault-cpus=0 --compressed-cache="$ZC"
				# shellcheck disable=SC2046
				run "workload $(wl_name $w): fluidmem memcached + compressed cache, CPU 0" \
					taskset -c 0 "$B/workload" --memory=fluidmem --socket="$SOCK" $(wl_args $w) \
					--name=wl.fm_mcz1.$(wl_name $w)
				zcache_results mcz1.$(wl_name $w)
				stop_monitor
			done
		fi
	fi
else
	echo "one CPU: the monitor has no --fault-cpus option: not measured" >>"$NOTES"
fi

# Linux swap: the same workload in a memory cgroup limited to the cache
# size plus the program's own memory (its access sequence, 4 B per op,
# and 4 MiB for text, stack and page tables).
LIMIT=$(( CACHE_PAGES * PS + OPS * 4 + 4 * 1024 * 1024 ))
setup_cgroup $LIMIT
setup_swapfile $(( WS_MB * 2 ))M
for w in $WORKLOADS; do
	# shellcheck disable=SC2046
	run_in_cgroup "workload $(wl_name $w): swap file" "$B/workload" --memory=anon $(wl_args $w) \
		--name=wl.swapfile.$(wl_name $w)
	[ -n "$FCPUS" ] && run_in_cgroup "workload $(wl_name $w): swap file, CPU 0" taskset -c 0 \
		"$B/workload" --memory=anon $(wl_args $w) --name=wl.swapfile1.$(wl_name $w)
done
teardown_swapfile
if setup_zram $(( WS_MB * 2 ))M; then
	for w in $WORKLOADS; do
		# shellcheck disable=SC2046
		run_in_cgroup "workload $(wl_name $w): zram" "$B/workload" --memory=anon $(wl_args $w) \
			--name=wl.zram.$(wl_name $w)
		[ -n "$FCPUS" ] && run_in_cgroup "workload $(wl_name $w): zram, CPU 0" taskset -c 0 \
			"$B/workload" --memory=anon $(wl_args $w) --name=wl.zram1.$(wl_name $w)
	done
	awk '{ printf "RESULT name=zram.mem_used_max value=%s unit=B\n", $5 }' \
		"/sys/block/${ZRAM_USED#/dev/}/mm_stat" | tee -a "$RAW" | sed 's/^/#   /' >&2
	teardown_zram
else
	echo "zram: not measured: $ZRAM_WHY" >>"$NOTES"
fi

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - T_START ))

# ---------------------------------------------------------------- report
# RESULT lines -> "key value": latencies give KEY.p50_us etc.
awk '{
	name = ""; delete kv
	for (i = 2; i <= NF; i++) {
		split($i, a, "=")
		if (a[1] == "name") name = a[2]; else if (a[1] != "unit") kv[a[1]] = a[2]
	}
	for (k in kv) print (k == "value" ? name : name "." k), kv[k]
}' "$RAW" | sort >"$KV"

get() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "" }' "$KV"; }
fmt() { [ -n "$1" ] && printf "%.${2:-2}f" "$1" || printf "n/a"; }
div() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b }'; }
add() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

TARGETS="$TMP/targets.txt"   # name|value|op|limit|unit|status|detail
: >"$TARGETS"
# target NAME VALUE OP LIMIT UNIT DETAIL (OP: le, ge, eq)
target() {
	local st
	if [ -z "$2" ]; then st="not measured"
	else st=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
		ok = (op == "le") ? v <= l : (op == "ge") ? v >= l : v == l
		print ok ? "MET" : "NOT MET" }')
	fi
	echo "$1|$2|$3|$4|$5|$st|$6" >>"$TARGETS"
}

{
echo "fluidmem benchmark suite, $DATE, $(nproc) CPUs, kernel $(uname -r)"
echo "load average before: $LOAD0, after: $LOAD1; ${ELAPSED}s; working set ${WS_MB} MiB, cache $CACHE_PAGES pages ($(( CACHE_PAGES * PS >> 20 )) MiB), $OPS ops per workload"
echo
echo "== floors (us; no monitor)"
printf '%-34s %9s %9s %9s\n' figure p50 p99 p999
for k in uffd.zero.poll uffd.zero.spin uffd.copy.poll uffd.copy.spin uffd.copy.poll_samecpu uffd.zero.poll_samecpu \
	 uffd.copy.poll_crosscpu uffd.copy.spin_crosscpu mc.set mc.get mc.mget16_per_key \
	 mc_cpu0.set mc_cpu0.get nvme.read; do
	[ -n "$(get $k.p50_us)" ] || continue
	printf '%-34s %9s %9s %9s\n' "$k" "$(fmt "$(get $k.p50_us)")" "$(fmt "$(get $k.p99_us)")" "$(fmt "$(get $k.p999_us)")"
done
for k in nvme.write_batch nvme.write_run; do
	[ -n "$(get $k.MB_per_s)" ] && printf '%-34s %9s MB/s\n' "$k" "$(fmt "$(get $k.MB_per_s)")"
done
echo
echo "== faults through the monitor (us; ratio = p50 / its floor)"
printf '%-34s %9s %9s %9s %11s %8s\n' figure p50 p99 p999 faults/s ratio
for be in local local_cpu0 local_bp50 mc mc_cpu0 nvme ms chain_t0 chain_t1; do
	for tr in t1r1 t4r1 t4r4; do
		for ph in zero fetch steady_write steady_read; do
			k=fm.$be.$tr.$ph
			[ -n "$(get $k.p50_us)" ] || continue
			case $ph in
			zero) base=$(get uffd.zero.poll.p50_us)
			      case $be in *_cpu0) base=$(get uffd.zero.poll_samecpu.p50_us) ;; esac ;;
			fetch) if [ $be = mc ]; then base=$(add "$(get uffd.copy.poll.p50_us)" "$(get mc.get.p50_us)")
			       elif [ $be = mc_cpu0 ]; then base=$(add "$(get uffd.copy.poll_samecpu.p50_us)" "$(get mc_cpu0.get.p50_us)")
			       elif [ $be = local_cpu0 ]; then base=$(get uffd.copy.poll_samecpu.p50_us)
			       elif [ $be = ms ]; then base=$(get fm.mc.$tr.fetch.p50_us)
			       elif [ $be = chain_t0 ]; then base=$(get fm.local.$tr.fetch.p50_us)
			       elif [ $be = chain_t1 ]; then base=$(get fm.mc.$tr.fetch.p50_us)
			       elif [ $be = nvme ]; then base=$(add "$(get uffd.copy.poll.p50_us)" "$(get nvme.read.p50_us)")
			       else base=$(get uffd.copy.poll.p50_us); fi ;;
			*) base=$(get fm.$be.$tr.fetch.p50_us) ;;
			esac
			printf '%-34s %9s %9s %9s %11.0f %8s\n' "$k" "$(fmt "$(get $k.p50_us)")" \
				"$(fmt "$(get $k.p99_us)")" "$(fmt "$(get $k.p999_us)")" \
				"$(get $k.faults_per_s)" "$(fmt "$(div "$(get $k.p50_us)" "$base")")"
		done
		k=fm.$be.$tr.evict.MB_per_s
		[ -n "$(get $k)" ] && printf '%-34s %9s MB/s\n' "fm.$be.$tr.evict" "$(fmt "$(get $k)")"
		k=fm.$be.$tr.steady_read.clean_rewrites
		[ -n "$(get $k)" ] && printf '%-34s %9s pages\n' "fm.$be.$tr.clean_rewrites" "$(fmt "$(get $k)" 0)"
	done
done
echo "  floors: zero -> uffd.zero.poll; local fetch -> uffd.copy.poll; local_cpu0 -> the *_samecpu floors;"
echo "  mc fetch -> uffd.copy.poll + mc.get; mc_cpu0 fetch -> uffd.copy.poll_samecpu + mc_cpu0.get;"
echo "  nvme fetch -> uffd.copy.poll + nvme.read;"
echo "  steady_* -> the same run's fetch p50"
echo "  ms (remote backend, memserver over TCP loopback) fetch -> the same run's mc fetch p50"
echo "  chain_t0 / chain_t1 (--mem-path, pages on tier 0 local / tier 1 memcached) fetch -> the same run's local / mc fetch p50"
if [ -n "$(get fm.nvme.t1r1.fetch.p50_us)" ]; then
	echo "  nvme / local, same run:"
	for tr in t1r1 t4r1 t4r4; do
		printf '    %-6s fetch p50 %sx, p99 %sx; eviction MB/s %sx\n' $tr \
			"$(fmt "$(div "$(get fm.nvme.$tr.fetch.p50_us)" "$(get fm.local.$tr.fetch.p50_us)")")" \
			"$(fmt "$(div "$(get fm.nvme.$tr.fetch.p99_us)" "$(get fm.local.$tr.fetch.p99_us)")")" \
			"$(fmt "$(div "$(get fm.nvme.$tr.evict.MB_per_s)" "$(get fm.local.$tr.evict.MB_per_s)")")"
	done
	echo "  nvme eviction / nvme.write_run floor: $(fmt "$(div "$(get fm.nvme.t1r1.evict.MB_per_s)" "$(get nvme.write_run.MB_per_s)")")x (t1r1)"
fi
echo
echo "== workloads: completion time in seconds (ratio to swap file | to zram)"
printf '%-12s %8s %9s %9s %9s %9s %9s %12s %8s %9s\n' workload anon fm_local fm_mc fm_mcz swapfile zram 'mc/swapfile' 'mc/zram' 'mcz/zram'
for w in $WORKLOADS; do
	n=$(wl_name $w)
	printf '%-12s %8s %9s %9s %9s %9s %9s %12s %8s %9s\n' "$n" \
		"$(fmt "$(get wl.anon.$n.run)" 3)" "$(fmt "$(get wl.fm_local.$n.run)" 3)" \
		"$(fmt "$(get wl.fm_mc.$n.run)" 3)" "$(fmt "$(get wl.fm_mcz.$n.run)" 3)" \
		"$(fmt "$(get wl.swapfile.$n.run)" 3)" "$(fmt "$(get wl.zram.$n.run)" 3)" \
		"$(fmt "$(div "$(get wl.fm_mc.$n.run)" "$(get wl.swapfile.$n.run)")")" \
		"$(fmt "$(div "$(get wl.fm_mc.$n.run)" "$(get wl.zram.$n.run)")")" \
		"$(fmt "$(div "$(get wl.fm_mcz.$n.run)" "$(get wl.zram.$n.run)")")"
done
echo "  fm_mcz: memcached behind --compressed-cache=$ZC"
echo "  (init, i.e. first fill of the working set, is in results.json as wl.*.init)"
if [ -n "$(get wl.fm_local1.$(wl_name ${WORKLOADS%% *}).run)" ]; then
	echo
	echo "== workloads on one CPU: client on CPU 0, monitor --fault-cpus=0, memcached on CPU 0 (seconds)"
	printf '%-12s %8s %9s %9s %9s %9s %9s %12s %8s %9s\n' workload anon fm_local1 fm_mc1 fm_mcz1 swapfile1 zram1 'mc/swapfile' 'mc/zram' 'mcz/zram'
	for w in $WORKLOADS; do
		n=$(wl_name $w)
		printf '%-12s %8s %9s %9s %9s %9s %9s %12s %8s %9s\n' "$n" \
			"$(fmt "$(get wl.anon.$n.run)" 3)" "$(fmt "$(get wl.fm_local1.$n.run)" 3)" \
			"$(fmt "$(get wl.fm_mc1.$n.run)" 3)" "$(fmt "$(get wl.fm_mcz1.$n.run)" 3)" \
			"$(fmt "$(get wl.swapfile1.$n.run)" 3)" "$(fmt "$(get wl.zram1.$n.run)" 3)" \
			"$(fmt "$(div "$(get wl.fm_mc1.$n.run)" "$(get wl.swapfile1.$n.run)")")" \
			"$(fmt "$(div "$(get wl.fm_mc1.$n.run)" "$(get wl.zram1.$n.run)")")" \
			"$(fmt "$(div "$(get wl.fm_mcz1.$n.run)" "$(get wl.zram1.$n.run)")")"
	done
	echo "  compressed cache ($ZC; zram's memory at most $(get zram.mem_used_max) B): fetches served, unpinned | one CPU"
	for w in $WORKLOADS; do
		n=$(wl_name $w)
		[ -n "$(get mcz.$n.zcache_hits)$(get mcz1.$n.zcache_hits)" ] || continue
		line="    $n"
		for z in mcz mcz1; do
			h=$(get $z.$n.zcache_hits); m=$(get $z.$n.zcache_misses)
			[ -n "$h" ] || { line="$line | -"; continue; }
			line="$line | $(awk -v h="$h" -v m="$m" 'BEGIN { printf "%.1f%%", h + m ? 100 * h / (h + m) : 0 }') of $((h + m)) (full $(get $z.$n.zcache_full), stale $(get $z.$n.zcache_stale), slot $(fmt "$(div "$(get $z.$n.zcache_stored_bytes)" "$(get $z.$n.zcache_stores)")" 0) B)"
		done
		echo "$line"
	done
	echo "  fm_local1 / zram1: $(for w in $WORKLOADS; do n=$(wl_name $w); printf '%s %s  ' $n "$(fmt "$(div "$(get wl.fm_local1.$n.run)" "$(get wl.zram1.$n.run)")")"; done)"
fi
if [ -n "$(get wl.prefetch_on.seq.run)" ]; then
	echo "  sequential scan (local): prefetch on $(fmt "$(get wl.prefetch_on.seq.run)" 3) s, off $(fmt "$(get wl.prefetch_off.seq.run)" 3) s"
	grep '^prefetch_on\.' "$KV" | sed 's/^/  /'
fi
if [ -n "$(get wl.prefetch_mc_on.seq.run)" ]; then
	echo "  sequential scan (memcached): prefetch on $(fmt "$(get wl.prefetch_mc_on.seq.run)" 3) s, off $(fmt "$(get wl.prefetch_mc_off.seq.run)" 3) s"
	grep '^prefetch_mc_on\.' "$KV" | sed 's/^/  /'
fi
echo
echo "== monitor memory (1 GiB region, $MEM_PAGES pages tracked)"
echo "  VmRSS $(get mem.rss_before) KiB -> $(get mem.rss_tracking) KiB: $(fmt "$(get mem.rss_bytes_per_page)") B/page"
echo "  state file $(fmt "$(get mem.state_file_bytes_per_page)") B/page (mapped; counted in VmRSS when touched)"
echo "  local backend checksums $(fmt "$(get mem.local_sums_bytes_per_page)") B/page (on disk, not monitor memory)"
} | tee "$TMP/table.txt"

# Targets (issue #5), each a ratio measured in this run.
target "zero-fill fault p50 / uffd ZEROPAGE p50" "$(div "$(get fm.local.t1r1.zero.p50_us)" "$(get uffd.zero.poll.p50_us)")" le 1.2 x ""
target "zero-fill fault p50 / ZEROPAGE p50, both on CPU 0" "$(div "$(get fm.local_cpu0.t1r1.zero.p50_us)" "$(get uffd.zero.poll_samecpu.p50_us)")" le 1.2 x ""
target "memcached fetch p50 / (uffd COPY + mc get)" "$(div "$(get fm.mc.t1r1.fetch.p50_us)" "$(add "$(get uffd.copy.poll.p50_us)" "$(get mc.get.p50_us)")")" le 1.3 x ""
target "memcached fetch p50 / (COPY + get), all on CPU 0" "$(div "$(get fm.mc_cpu0.t1r1.fetch.p50_us)" "$(add "$(get uffd.copy.poll_samecpu.p50_us)" "$(get mc_cpu0.get.p50_us)")")" le 1.3 x "no memcached"
target "steady fault p50 / fetch p50 (local)" "$(div "$(get fm.local.t1r1.steady_write.p50_us)" "$(get fm.local.t1r1.fetch.p50_us)")" le 1.5 x ""
target "steady fault p50 / fetch p50 (memcached)" "$(div "$(get fm.mc.t1r1.steady_write.p50_us)" "$(get fm.mc.t1r1.fetch.p50_us)")" le 1.5 x ""
target "eviction to local" "$(get fm.local.t1r1.evict.MB_per_s)" ge 1000 MB/s ""
target "eviction to memcached" "$(get fm.mc.t1r1.evict.MB_per_s)" ge 300 MB/s ""
pf=""; [ -n "$(get wl.prefetch_on.seq.run)" ] && pf=$(div "$(get wl.prefetch_off.seq.run)" "$(get wl.prefetch_on.seq.run)")
target "sequential scan speed-up from prefetch" "$pf" ge 3 x "monitor has no --prefetch option yet"
pf=""; [ -n "$(get wl.prefetch_mc_on.seq.run)" ] && pf=$(div "$(get wl.prefetch_mc_off.seq.run)" "$(get wl.prefetch_mc_on.seq.run)")
target "sequential scan speed-up from prefetch (memcached)" "$pf" ge 3 x "no --prefetch option or no memcached"
cr=$(awk '$1 ~ /clean_rewrites$/ { s += $2; n++ } END { if (n) print s }' "$KV")
target "clean pages written back again (all runs)" "$cr" eq 0 pages ""
for w in $WORKLOADS; do
	n=$(wl_name $w)
	target "$n: fluidmem+mc / swap file" "$(div "$(get wl.fm_mc.$n.run)" "$(get wl.swapfile.$n.run)")" le 1 x ""
	target "$n: fluidmem+mc / zram" "$(div "$(get wl.fm_mc.$n.run)" "$(get wl.zram.$n.run)")" le 1.5 x "$ZRAM_WHY"
done
for w in $WORKLOADS; do
	n=$(wl_name $w)
	target "$n, one CPU: fluidmem+mc / swap file" "$(div "$(get wl.fm_mc1.$n.run)" "$(get wl.swapfile1.$n.run)")" le 1 x "no --fault-cpus"
	target "$n, one CPU: fluidmem+mc / zram" "$(div "$(get wl.fm_mc1.$n.run)" "$(get wl.zram1.$n.run)")" le 1.5 x "no --fault-cpus or ${ZRAM_WHY:-no zram}"
	target "$n, one CPU: fluidmem+mc+compressed cache / zram" "$(div "$(get wl.fm_mcz1.$n.run)" "$(get wl.zram1.$n.run)")" le 1.5 x "no --compressed-cache or ${ZRAM_WHY:-no zram}"
done
target "monitor memory per tracked page" "$(get mem.rss_bytes_per_page)" le 16 B ""

{
echo
echo "== targets"
awk -F'|' '{
	op = ($3 == "le") ? "<=" : ($3 == "ge") ? ">=" : "=="
	v = ($2 == "") ? "n/a" : sprintf("%.3g", $2)
	printf "  %-8s %-44s %9s %s %s %s%s\n", $6, $1, v, op, $4, $5, ($6 == "not measured" && $7 != "") ? " (" $7 ")" : ""
}' "$TARGETS"
if [ -s "$NOTES" ]; then echo; echo "== notes"; sed 's/^/  /' "$NOTES"; fi
} | tee -a "$TMP/table.txt"

# JSON: run facts, every result, every target.
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
	printf '{\n  "date": %s,\n  "kernel": %s,\n  "cpus": %s,\n' "$(jstr "$DATE")" "$(jstr "$(uname -r)")" "$(nproc)"
	printf '  "loadavg_before": %s,\n  "loadavg_after": %s,\n  "elapsed_s": %s,\n' "$(jstr "$LOAD0")" "$(jstr "$LOAD1")" "$ELAPSED"
	printf '  "config": { "ws_mb": %s, "cache_pages": %s, "ops": %s, "fault_pages": %s, "page_size": %s },\n' \
		"$WS_MB" "$CACHE_PAGES" "$OPS" "$FL_PAGES" "$PS"
	printf '  "results": {\n'
	awk '{ printf "%s    \"%s\": %s", (NR > 1 ? ",\n" : ""), $1, $2 } END { print "" }' "$KV"
	printf '  },\n  "targets": [\n'
	awk -F'|' '{
		gsub(/"/, "\\\"", $1); gsub(/"/, "\\\"", $7)
		met = ($6 == "MET") ? "true" : ($6 == "NOT MET") ? "false" : "null"
		printf "%s    { \"name\": \"%s\", \"value\": %s, \"op\": \"%s\", \"limit\": %s, \"unit\": \"%s\", \"met\": %s%s }",
			(NR > 1 ? ",\n" : ""), $1, ($2 == "" ? "null" : $2), $3, $4, $5, met,
			($6 == "not measured" && $7 != "") ? ", \"why\": \"" $7 "\"" : ""
	} END { print "" }' "$TARGETS"
	printf '  ],\n  "notes": [\n'
	awk '{ gsub(/"/, "\\\""); printf "%s    \"%s\"", (NR > 1 ? ",\n" : ""), $0 } END { print "" }' "$NOTES"
	printf '  ]\n}\n'
} >"$JSON" || die "cannot write $JSON"
echo
echo "results: $JSON"
if [ "$CRASHES" -gt 0 ]; then
	echo "bench: THE MONITOR CRASHED $CRASHES time(s); figures from those steps are missing (see notes)" >&2
	exit 1
fi
