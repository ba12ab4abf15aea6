# Shared helpers for fluidmem's shell tests: private directories, real
# memcached and monitor processes, cleanup that kills only our own PIDs.
# Exit codes follow automake: 0 pass, 77 skip, 99 hard error, else fail.

set -u
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
MONITOR="$top_builddir/monitor/monitor"
UI="$top_builddir/ui/ui"
WORKER="$top_builddir/test/fm_worker"
BADMSG="$top_builddir/test/fm_badmsg"
export FLUIDMEM_QUIET=1

TMP=$(mktemp -d /tmp/fmtest.XXXXXX) || exit 99
chmod 755 "$TMP"
OUR_PIDS=""
MON_ARGS=""

cleanup() {
	local p
	for p in $OUR_PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $OUR_PIDS; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

log() { echo "# $*"; }
fail() {
	echo "FAIL: $*"
	if [ -f "$TMP/monitor.log" ]; then
		echo "--- monitor log (last 30 lines)"; tail -30 "$TMP/monitor.log"
	fi
	exit 1
}
pass() { echo "PASS: $*"; }
track() { OUR_PIDS="$OUR_PIDS $1"; }

# A TCP port nobody listens on (checked against the kernel's table).
free_port() {
	local p
	while :; do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null || break
	done
	echo "$p"
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	local t=$1; shift
	local end=$(( $(date +%s) + t ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

start_memcached() {
	MC_PORT=${MC_PORT:-$(free_port)}
	memcached -u nobody -l 127.0.0.1 -p "$MC_PORT" -U 0 -m "${MC_MB:-256}" \
		>>"$TMP/memcached.log" 2>&1 &
	MC_PID=$!
	track $MC_PID
	wait_until 10 mc_cmd version || fail "memcached did not start on $MC_PORT"
	log "memcached pid $MC_PID on 127.0.0.1:$MC_PORT"
}

stop_memcached() {
	kill -KILL "$MC_PID" 2>/dev/null
	wait "$MC_PID" 2>/dev/null
}

# mc_cmd TEXT: send one memcached command, print the reply until END/OK.
mc_cmd() {
	local line
	exec 5<>"/dev/tcp/127.0.0.1/$MC_PORT" || return 1
	printf '%s\r\n' "$1" >&5
	while IFS= read -r -t 5 line <&5; do
		line=${line%$'\r'}
		echo "$line"
		case "$line" in END|OK|DELETED|NOT_FOUND|STORED|ERROR*|VERSION*) break ;; esac
	done
	exec 5>&-
}

# Number of keys memcached holds that start with PREFIX.
mc_count_keys() {
	local n
	# metadump URL-encodes keys: fm:ID: is listed as fm%3AID%3A
	n=$(mc_cmd "lru_crawler metadump all" | grep -c "^key=${1//:/%3A}")
	echo "$n"
}

# start_monitor ARGS...: a monitor on private paths; waits until ready.
start_monitor() {
	RUN="$TMP/run"
	SOCK="$RUN/monitor.sock"
	CTL="$RUN/ctl.sock"
	MON_ARGS="--run-dir=$RUN --socket=$SOCK --local-dir=$TMP/local $*"
	case " $* " in *" --ctl-tcp"*) ;; *) MON_ARGS="$MON_ARGS --ctl-tcp=none" ;; esac
	# shellcheck disable=SC2086
	"$MONITOR" $MON_ARGS >>"$TMP/monitor.log" 2>&1 &
	MON_PID=$!
	track $MON_PID
	wait_until 10 "$UI" "$CTL" version || fail "monitor did not start"
}

# restart_monitor: same arguments as the last start_monitor.
restart_monitor() {
	# shellcheck disable=SC2086
	"$MONITOR" $MON_ARGS >>"$TMP/monitor.log" 2>&1 &
	MON_PID=$!
	track $MON_PID
	wait_until 10 "$UI" "$CTL" version || fail "restarted monitor not answering"
}

# ui_stat NAME: one value from `ui stats`.
ui_stat() {
	"$UI" "$CTL" stats | awk -v k="$1" '$1 == "STAT" && $2 == k { print $3; exit }'
}

# expect_stat NAME OP VALUE (OP: -eq -gt -ge -lt -le)
expect_stat() {
	local v
	v=$(ui_stat "$1")
	[ -n "$v" ] || fail "stat $1 missing"
	[ "$v" "$2" "$3" ] || fail "stat $1 = $v, expected $2 $3"
	log "stat $1 = $v"
}

# worker ARGS...: run fm_worker against the monitor. It execs, so $! of
# `worker ... &` is the client's own PID: call it in the background or
# inside $( ), never directly.
worker() {
	exec "$WORKER" --socket "$SOCK" "$@"
}

# Parse "key=value" from a worker summary line.
field() { echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

require_root() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (userfaultfd across processes)"; exit 77; }
}

# Predicates for wait_until.
stat_is() { [ "$(ui_stat "$1")" = "$2" ]; }
stat_ge() { [ "$(ui_stat "$1")" -ge "$2" ]; }
stat_le() { [ "$(ui_stat "$1")" -le "$2" ]; }
mc_keys_are() { [ "$(mc_count_keys "$1")" = "$2" ]; }

# A private standalone ZooKeeper on loopback (sets ZK_PORT, ZK_PID).
# ZK_DATA survives a restart_zookeeper.
start_zookeeper() {
	ZK_PORT=${ZK_PORT:-$(free_port)}
	ZK_DIR="$TMP/zk"
	mkdir -p "$ZK_DIR/data"
	cat >"$ZK_DIR/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr
minSessionTimeout=1000
maxSessionTimeout=10000
CFG
	SERVER_JVMFLAGS=-Xmx256m ZOO_LOG_DIR="$ZK_DIR" ZOO_LOG4J_PROP=WARN,CONSOLE \
		/usr/share/zookeeper/bin/zkServer.sh start-foreground "$ZK_DIR/zoo.cfg" \
		>>"$ZK_DIR/server.log" 2>&1 &
	ZK_PID=$!
	track $ZK_PID
	wait_until 60 zk_ready || fail "ZooKeeper did not start (see $ZK_DIR/server.log)"
	log "zookeeper pid $ZK_PID on 127.0.0.1:$ZK_PORT"
}

# Ready when `srvr` reports a Mode (imok comes earlier than that).
zk_ready() {
	local out
	exec 7<>"/dev/tcp/127.0.0.1/$ZK_PORT" || return 1
	printf srvr >&7
	out=$(timeout 2 cat <&7)
	exec 7>&-
	echo "$out" | grep -q "^Mode:"
}

stop_zookeeper() {
	kill -KILL "$ZK_PID" 2>/dev/null
	wait "$ZK_PID" 2>/dev/null
}

# start_holder TAG PAGES [SOCKET]: a client that writes PAGES pages, then
# waits for `verify` (send it with release_holder). Sets W (its pid) and
# id (its region id); its summary goes to $TMP/hTAG.out.
start_holder() {
	local tag=$1 pages=$2 sock=${3:-$SOCK}
	mkfifo "$TMP/in$tag"
	"$WORKER" --socket "$sock" --mode hold --pages "$pages" \
		<"$TMP/in$tag" >"$TMP/h$tag.out" 2>&1 &
	W=$!; track $W
	exec 6>"$TMP/in$tag"
	wait_until 20 grep -q written "$TMP/h$tag.out" || fail "holder $tag did not write"
	id=$(sed -n 's/^region=\([0-9a-f]*\).*/\1/p' "$TMP/h$tag.out")
}

# release_holder TAG: let the holder verify and exit; sets $line to its
# summary (accesses= mismatches= sigbus=).
release_holder() {
	echo verify >&6; exec 6>&-
	wait $W
	line=$(grep accesses= "$TMP/h$1.out"); log "$line"
}
