#!/bin/sh
# online_mem.sh: run inside a Linux guest after hot-adding memory (e.g. with
# scripts/attach-memory). Onlines every offline memory block, as movable
# memory when the kernel allows it, so that it can be unplugged again, and
# prints the new totals. POSIX sh; works with busybox. Needs root.
#   online_mem.sh [online_movable|online_kernel|online]   (default online_movable)
how=${1:-online_movable}
n=0
failed=0
for b in /sys/devices/system/memory/memory*; do
	[ -r "$b/state" ] || continue
	[ "$(cat "$b/state")" = offline ] || continue
	if echo "$how" >"$b/state" 2>/dev/null ||
	   echo online >"$b/state" 2>/dev/null; then
		n=$((n + 1))
	else
		echo "online_mem.sh: could not online ${b##*/}" >&2
		failed=$((failed + 1))
	fi
done
bs=$(cat /sys/devices/system/memory/block_size_bytes 2>/dev/null)
[ -n "$bs" ] && bs=$(( 0x$bs >> 20 )) || bs=0
echo "online_mem.sh: onlined $n blocks of $bs MiB ($((n * bs)) MiB) with $how"
grep -E "^(MemTotal|MemFree):" /proc/meminfo
[ "$failed" = 0 ]
