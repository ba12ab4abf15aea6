#!/bin/bash
# The configuration file (--config): every option can be set there, the
# command line wins, bad values and keys are refused with FILE:LINE and
# exit status 2, SIGHUP applies what can change at run time and keeps the
# settings when the file is broken, and the shipped example is valid.
. "${top_srcdir:-.}/test/lib.sh"
require_root
CONF="$TMP/monitor.conf"
GRP=$(getent group nogroup daemon | head -1 | cut -d: -f1)
[ -n "$GRP" ] || exit 99

# expect_bad LINE WANT CONTENT-LINES...: refused, naming CONF:LINE.
expect_bad() {
	local line=$1 want=$2 out rc
	shift 2
	printf '%s\n' "$@" >"$CONF"
	out=$(timeout 10 "$MONITOR" --config="$CONF" --run-dir="$TMP/bad" \
		--socket="$TMP/bad/s" --ctl-tcp=none 2>&1)
	rc=$?
	[ $rc -eq 2 ] || fail "config '$*' exited $rc, expected 2 ($out)"
	case "$out" in
	"monitor: $CONF:$line: "*"$want"*) log "refused: ${out:0:150}" ;;
	*) fail "config '$*': '$out' lacks '$CONF:$line: ... $want'" ;;
	esac
}

long=$(printf 'd%.0s' $(seq 300))
# Every option with a bad value, on line 3 after a comment and a blank.
expect_bad 3 "invalid value 'abc' for --cache_size" "# c" "" "cache_size = abc"
expect_bad 3 "invalid value '0' for --cache-size" "# c" "" "cache-size = 0"
expect_bad 3 "unknown backend" "# c" "" "backend = ramcloud"
expect_bad 3 "'locator' needs a value" "# c" "" "locator ="
expect_bad 3 "path too long" "# c" "" "socket = /$long"
expect_bad 3 "path too long" "# c" "" "run-dir = /$long"
expect_bad 3 "path too long" "# c" "" "ctl-socket = /$long"
expect_bad 3 "expected [HOST:]PORT or none" "# c" "" "ctl-tcp = localhost:99999"
expect_bad 3 "path too long" "# c" "" "local-dir = /$long"
expect_bad 3 "no such group" "# c" "" "group = no-such-group-here"
expect_bad 3 "invalid value '0' for --fault-threads" "# c" "" "fault-threads = 0"
expect_bad 3 "invalid value '5000' for --evict-batch" "# c" "" "evict-batch = 5000"
expect_bad 3 "invalid value '-1' for --headroom" "# c" "" "headroom = -1"
expect_bad 3 "invalid value '100000' for --orphan-grace" "# c" "" "orphan-grace = 100000"
expect_bad 3 "invalid value '0' for --max-regions" "# c" "" "max-regions = 0"
expect_bad 3 "invalid value 'loud' for --log-level" "# c" "" "log-level = loud"
expect_bad 3 "invalid value 'nohost' for --zookeeper" "# c" "" "zookeeper = nohost"
expect_bad 3 "invalid value '0' for --zk-timeout" "# c" "" "zk-timeout = 0"
expect_bad 3 "invalid value 'x' for --zk-gc-grace" "# c" "" "zk-gc-grace = x"
expect_bad 3 "invalid value '65' for --prefetch" "# c" "" "prefetch = 65"
expect_bad 3 "invalid value 'fast' for --busy-poll" "# c" "" "busy-poll = fast"
# Keys and syntax.
expect_bad 2 "unknown key 'readahead'" "cache_size = 10" "readahead = 1"
expect_bad 1 "expected 'key = value'" "cache_size 10"
expect_bad 1 "bad key" "Cache_Size = 10"
expect_bad 1 "'config' cannot be set" "config = /etc/other.conf"
expect_bad 1 "unknown key 'help'" "help = yes"
expect_bad 1 "test-only option" "debug-skip-wp = yes"
expect_bad 1 "test-only option" "debug-victim = recent"
expect_bad 2 "'cache_size' needs a value" "" "cache_size =   # nothing"
# Across options: no line to name, but the file is.
printf 'backend = memcached\n' >"$CONF"
out=$("$MONITOR" --config="$CONF" --run-dir="$TMP/bad" --ctl-tcp=none 2>&1)
[ $? -eq 2 ] && [[ "$out" == *"needs a LOCATOR"*"$CONF"* ]] || fail "backend without locator: $out"
out=$("$MONITOR" --config="$TMP/missing.conf" 2>&1)
[ $? -eq 2 ] && [[ "$out" == *"$TMP/missing.conf: No such file"* ]] || fail "missing file: $out"
log "syntax and values: all refused with their line"

# start_conf LOG ARGS...: a monitor from $CONF (+ARGS); sets PID, CTL2.
start_conf() {
	local logf=$1
	shift
	"$MONITOR" --config="$CONF" "$@" >>"$logf" 2>&1 &
	PID=$!
	track $PID
	wait_until 10 "$UI" "$CTL2" version || { cat "$logf"; fail "monitor from $CONF did not start"; }
}
stop_pid() { kill -TERM "$1"; wait "$1" 2>/dev/null; }
stat_of() { "$UI" "$CTL2" stats | awk -v k="$1" '$1 == "STAT" && $2 == k { print $3 }'; }

# Every option from the file, spacing, comments and later-wins included.
PORT=$(free_port)
CTL2="$TMP/ctl2.sock"
cat >"$CONF" <<CONF
# every option
   cache-size=64	# overridden below
cache_size = 300
backend = local
socket = $TMP/run/reg.sock
run-dir = $TMP/run
ctl-socket = $CTL2
ctl-tcp = 127.0.0.1:$PORT
local-dir = $TMP/pages
group = $GRP
fault-threads = 3
evict-batch = 32
headroom = 11
orphan-grace = 7
max-regions = 9
busy-poll = 5
prefetch = 8
fault-cpus = 0
compressed-cache = 1M
log-level = debug
CONF
start_conf "$TMP/m1.log"
want="cache_size=300 backend=local locator=- socket=$TMP/run/reg.sock run-dir=$TMP/run ctl-socket=$CTL2 ctl-tcp=127.0.0.1:$PORT local-dir=$TMP/pages group=$GRP fault-threads=3 evict-batch=32 headroom=11 orphan-grace=7 max-regions=9 busy-poll=5 prefetch=8 fault-cpus=0 compressed-cache=1048576 log-level=debug config=$CONF"
grep -qF "settings: $want" "$TMP/m1.log" || { grep settings: "$TMP/m1.log"; fail "settings from the file not in effect"; }
[ "$(stat_of cache_size)" = 300 ] && [ "$(stat_of cache_headroom)" = 11 ] &&
	[ "$(stat_of fault_threads)" = 3 ] || fail "stats disagree with the file"
"$UI" "127.0.0.1:$PORT" version >/dev/null || fail "ctl-tcp from the file not listening"
[ "$(stat -c %G "$TMP/run/reg.sock")" = "$GRP" ] || fail "socket not given to group $GRP"
"$WORKER" --socket "$TMP/run/reg.sock" --pages 1024 --rounds 1 >/dev/null 2>&1 ||
	fail "worker against the file's socket"
[ "$(stat_of local_dir)" = "$TMP/pages" ] && [ -d "$TMP/pages" ] || fail "local-dir from the file unused"
log "all options taken from the file"

# SIGHUP: reloadable keys apply, others wait for a restart.
sed -i -e 's/^cache_size = 300/cache_size = 400/' -e 's/^headroom = 11/headroom = 13/' \
	-e 's/^log-level = debug/log-level = info/' -e 's/^orphan-grace = 7/orphan-grace = 8/' \
	-e 's/^fault-threads = 3/fault-threads = 4/' "$CONF"
kill -HUP $PID
wait_until 5 grep -q "reload of $CONF: 4 changes applied, 1 waiting" "$TMP/m1.log" ||
	{ tail -8 "$TMP/m1.log"; fail "reload did not report its changes"; }
grep -q "reload: log-level debug -> info" "$TMP/m1.log" &&
	grep -q "reload: fault-threads changed; it takes effect after a restart" "$TMP/m1.log" &&
	grep -q "reload: orphan-grace 7 -> 8 s" "$TMP/m1.log" || fail "reload log lines missing"
[ "$(stat_of cache_size)" = 400 ] && [ "$(stat_of cache_headroom)" = 13 ] &&
	[ "$(stat_of fault_threads)" = 3 ] || fail "reload: stats not updated"
# A ui resize survives a reload that does not change cache_size.
"$UI" "$CTL2" resize 500 >/dev/null || fail "ui resize"
sed -i 's/^headroom = 13/headroom = 14/' "$CONF"
kill -HUP $PID
wait_until 5 grep -q "reload: headroom 14 pages" "$TMP/m1.log" || fail "headroom not reloaded"
[ "$(stat_of cache_headroom)" = 14 ] || fail "headroom stat not updated"
[ "$(stat_of cache_size)" = 500 ] || fail "reload reverted a ui resize"
# A broken file changes nothing and the monitor keeps running.
sed -i 's/^cache_size = 400/cache_size = lots/' "$CONF"
kill -HUP $PID
line=$(grep -n '^cache_size = lots' "$CONF" | cut -d: -f1)
wait_until 5 grep -q "reload: $CONF:$line: invalid value 'lots'.*settings unchanged" "$TMP/m1.log" ||
	{ tail -3 "$TMP/m1.log"; fail "broken reload not reported with its line"; }
[ "$(stat_of cache_size)" = 500 ] && "$UI" "$CTL2" version >/dev/null || fail "broken reload changed settings"
stop_pid $PID
log "SIGHUP reload"

# The command line wins; its backend drops the file's locator.
start_memcached
CTL2="$TMP/run3/ctl.sock"
cat >"$CONF" <<CONF
cache_size = 300
locator = --SERVER=127.0.0.1:$MC_PORT
run-dir = $TMP/run3
socket = $TMP/run3/reg.sock
ctl-tcp = none
local-dir = $TMP/pages3
log-level = warn
CONF
start_conf "$TMP/m2.log" --cache_size=123 --log-level=info
[ "$(stat_of backend)" = memcached ] && [ "$(stat_of cache_size)" = 123 ] ||
	fail "file locator or command-line cache_size not in effect"
grep -q "settings: .*log-level=info" "$TMP/m2.log" || fail "command-line log-level lost"
stop_pid $PID
start_conf "$TMP/m3.log" --backend=local
[ "$(stat_of backend)" = local ] || fail "command-line --backend did not win"
stop_pid $PID
log "command line wins"

# The shipped example starts (its group may not exist here; paths
# overridden on the command line).
EX="$top_srcdir/etc/monitor.conf"
if getent group fluidmem >/dev/null; then cp "$EX" "$CONF"; else grep -v '^group' "$EX" >"$CONF"; fi
CTL2="$TMP/run4/ctl.sock"
start_conf "$TMP/m4.log" --run-dir="$TMP/run4" --socket="$TMP/run4/reg.sock" \
	--local-dir="$TMP/pages4" --ctl-tcp=none
grep -q "settings: cache_size=20000 .*log-level=info" "$TMP/m4.log" || fail "example config not applied"
stop_pid $PID

# Under systemd ($JOURNAL_STREAM names stderr) lines carry syslog levels.
: >"$TMP/m5.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/m5.log") \
	start_conf "$TMP/m5.log" --run-dir="$TMP/run5" --socket="$TMP/run5/reg.sock" \
	--local-dir="$TMP/pages5" --ctl-tcp=none --ctl-socket="$CTL2"
echo "fault-threads = 5" >>"$CONF"
kill -HUP $PID
wait_until 5 grep -q '^<6>monitor\[info\]: reload of' "$TMP/m5.log" || fail "no <6> priority for the journal"
grep -q '^<4>monitor\[warn\]: reload: fault-threads changed' "$TMP/m5.log" || fail "no <4> priority for the journal"
stop_pid $PID
log "journal priorities"
pass "configuration file"
