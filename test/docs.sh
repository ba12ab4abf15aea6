#!/bin/bash
# Every statistic the monitor prints and every ui command is documented in
# doc/protocol.md, so the stats format stays self-describing.
. "${top_srcdir:-.}/test/lib.sh"
require_root
DOC="$top_srcdir/doc/protocol.md"
start_monitor --cache_size=16
# A live region, so per-region stats are printed too.
mkfifo "$TMP/in"
worker --mode hold --pages 8 <"$TMP/in" >/dev/null 2>&1 &
track $!
exec 6>"$TMP/in"
wait_until 10 stat_is regions 1 || fail "no region registered"
missing=0
for name in $("$UI" "$CTL" stats | awk '$1 == "STAT" { print $2 }' |
	sed 's/^region:[0-9a-f]*:/region:<id>:/; s/^memcached_server:[0-9]*:/memcached_server:<n>:/' |
	sort -u); do
	grep -qF "\`$name\`" "$DOC" || { echo "undocumented stat: $name"; missing=1; }
done
for cmd in stats resize evict listpids disconnectpid clearstats stop version cluster tiers latency; do
	grep -qF "\`$cmd\`" "$DOC" || { echo "undocumented command: $cmd"; missing=1; }
done
# Every latency stage `ui latency` prints.
for stage in $("$UI" "$CTL" latency | awk '$1 == "LAT" { print $2 }'); do
	grep -qF "\`$stage\`" "$DOC" || { echo "undocumented latency stage: $stage"; missing=1; }
done
[ $missing = 0 ] || fail "doc/protocol.md is incomplete"
pass "all stats and commands documented"
