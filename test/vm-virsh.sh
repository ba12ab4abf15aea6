#!/bin/bash
# test-timeout: 1500
# Stock libvirt 9 hot-plugs elastic memory: `virsh attach-device DOM
# dimm.xml --live` with a standard <memory model='dimm'> device. The domain
# uses memfd memory backing and passes -global
# memory-backend-memfd.elastic=on to the patched QEMU (doc/qemu.md), so
# every memfd backend libvirt creates - including the DIMM's - is handed
# to the monitor. The guest onlines and verifies the DIMM through a 64 MiB
# cache; detach-device releases the region.
#
# QEMU runs as libvirt-qemu, as with Debian's libvirt-daemon-system: it
# gets its userfaultfd from /dev/userfaultfd (group-accessible) and the
# monitor lets the group register (--group=libvirt-qemu). The test sets
# that up without touching the host: its own libvirtd and monitor run in a
# private mount namespace with private /etc/passwd and /etc/group
# (libvirt-qemu added if missing), /dev/userfaultfd node, /etc/libvirt
# (qemu.conf: no cgroups, no namespaces, no security driver), /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt.
. "${top_srcdir:-.}/test/lib.sh"
. "$top_srcdir/test/vm-lib.sh"
require_root
command -v libvirtd >/dev/null && command -v virsh >/dev/null ||
	fail "libvirt is not installed (scripts/deps.sh --vm installs it)"
vm_prepare
HOT_MB=512
MC_MB=1024 start_memcached

LV=$TMP/lv
mkdir -p "$LV"/{etc,run,lib,log,cache}
for d in /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
	[ -d "$d" ] || fail "$d missing (scripts/deps.sh --vm creates it)"
done
cp /etc/passwd "$LV/passwd"
cp /etc/group "$LV/group"
free_id() {
	local id=64055
	while getent "$1" "$id" >/dev/null; do id=$((id + 1)); done
	echo "$id"
}
getent group libvirt-qemu >/dev/null ||
	echo "libvirt-qemu:x:$(free_id group):" >>"$LV/group"
QGID=$(awk -F: '$1 == "libvirt-qemu" { print $3 }' "$LV/group")
getent passwd libvirt-qemu >/dev/null ||
	echo "libvirt-qemu:x:$(free_id passwd):$QGID:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" >>"$LV/passwd"
QUID=$(awk -F: '$1 == "libvirt-qemu" { print $3 }' "$LV/passwd")
[ -n "$QUID" ] && [ -n "$QGID" ] || fail "could not set up libvirt-qemu"
# /dev/userfaultfd for the group, as a udev rule would make it.
[ -c /dev/userfaultfd ] || fail "no /dev/userfaultfd (Linux >= 6.1 needed)"
ufdev=$(stat -c '%t %T' /dev/userfaultfd)
mknod "$LV/userfaultfd" c $((0x${ufdev% *})) $((0x${ufdev#* }))
chown "0:$QGID" "$LV/userfaultfd"
chmod 0660 "$LV/userfaultfd"
cat >"$LV/etc/libvirtd.conf" <<CONF
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$LV/libvirtd.log"
CONF
cat >"$LV/etc/qemu.conf" <<CONF
user = "libvirt-qemu"
group = "libvirt-qemu"
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF
# libvirtd in the namespace; exec keeps our PID for it.
unshare --mount --propagation private sh -c '
	set -e
	lv=$1
	mount --bind "$lv/passwd" /etc/passwd
	mount --bind "$lv/group" /etc/group
	mount --bind "$lv/userfaultfd" /dev/userfaultfd
	mount --bind "$lv/etc" /etc/libvirt
	mount --bind "$lv/run" /run/libvirt
	mount --bind "$lv/lib" /var/lib/libvirt
	mount --bind "$lv/log" /var/log/libvirt
	mount --bind "$lv/cache" /var/cache/libvirt
	exec libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
' sh "$LV" >>"$TMP/libvirtd.out" 2>&1 &
LIBVIRTD_PID=$!
track $LIBVIRTD_PID
VIRSH="virsh -q -c qemu:///system?socket=$LV/run/libvirt-sock"
# (not `virsh version`: it wants a system emulator, and we bring our own)
wait_until 60 $VIRSH list --all ||
	{ cat "$TMP/libvirtd.out"; tail -20 "$LV/libvirtd.log"; fail "libvirtd did not start"; }
log "$(libvirtd --version) pid $LIBVIRTD_PID; QEMU runs as libvirt-qemu ($QUID:$QGID)"

# The monitor joins the namespace (for the group name) and lets the group
# register regions; QEMU must be able to reach its socket.
printf '#!/bin/sh\nexec nsenter -t %s -m -- %s "$@"\n' "$LIBVIRTD_PID" \
	"$top_builddir/monitor/monitor" >"$TMP/monitor-ns"
chmod 755 "$TMP/monitor-ns"
MONITOR=$TMP/monitor-ns
mkdir -p "$TMP/run"
chmod 755 "$TMP/run"
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=16384 --group=libvirt-qemu

DOM=fmtest-$$
CONSOLE=$TMP/console.log
: >"$CONSOLE"
mkfifo -m 0666 "$TMP/cmd.in" "$TMP/cmd.out"
cat >"$TMP/domain.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM</name>
  <maxMemory slots='4' unit='MiB'>4096</maxMemory>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/></numa></cpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST/vmlinuz</kernel>
    <initrd>$GUEST/initrd.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=4 memhp_default_state=online_movable</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$QEMU</emulator>
    <serial type='file'><source path='$CONSOLE'/><target port='0'/></serial>
    <serial type='pipe'><source path='$TMP/cmd'/><target port='1'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-global'/>
    <qemu:arg value='memory-backend-memfd.elastic=on'/>
    <qemu:env name='FLUIDMEM_SOCKET' value='$SOCK'/>
  </qemu:commandline>
</domain>
EOF
cat >"$TMP/dimm.xml" <<EOF
<memory model='dimm'>
  <target>
    <size unit='MiB'>$HOT_MB</size>
    <node>0</node>
  </target>
</memory>
EOF
t0=$(date +%s)
out=$($VIRSH create "$TMP/domain.xml" 2>&1) || { tail -20 "$LV/log/qemu/$DOM.log" 2>/dev/null; fail "virsh create: $out"; }
QEMU_PID=$(cat "$LV/run/qemu/$DOM.pid")
track "$QEMU_PID"
[ "$(stat -c %u "/proc/$QEMU_PID")" = "$QUID" ] ||
	fail "QEMU does not run as libvirt-qemu"
exec 7<>"$TMP/cmd.in"
exec 8<>"$TMP/cmd.out"
wait_until 120 grep -q "GUEST READY" "$CONSOLE" || vm_fail "guest did not boot"
# The boot memory is a memfd backend too, so it is elastic as well.
wait_until 10 stat_is regions 1 || fail "the domain's memory is not elastic (regions=$(ui_stat regions))"
log "domain $DOM booted (QEMU pid $QEMU_PID), boot RAM registered"

out=$($VIRSH attach-device "$DOM" "$TMP/dimm.xml" --live 2>&1) || vm_fail "virsh attach-device: $out"
wait_until 10 stat_is regions 2 || fail "the DIMM is not elastic (regions=$(ui_stat regions))"
"$UI" "$CTL" listpids | sed 's/^/# /'
vm_cmd 60 online || vm_fail "guest could not online the memory"
vm_output "$VM_ID" | grep -E "online_mem|MemTotal" | sed 's/^/# guest: /'
vm_cmd 900 verify -p 3 || vm_fail "verifier failed (rc=$?)"
res=$(vm_output "$VM_ID" | grep "memverify: RESULT")
log "guest: $res"
echo "$res" | grep -q "RESULT OK" || vm_fail "verifier: $res"
used=$(vm_output "$VM_ID" | sed -n 's/.*movable_used_mb=\([0-9]*\).*/\1/p')
[ "${used:-0}" -ge $((HOT_MB * 3 / 4)) ] || fail "verifier used only ${used:-0} MB of the DIMM"
show_stats
expect_stat evictions -gt $((used * 256 * 2))
expect_stat placed_pages -gt $((used * 256 * 2))
expect_stat pages_lost -eq 0

# detach-device: libvirt sends device_del, waits for the guest, object-del.
out=$($VIRSH detach-device "$DOM" "$TMP/dimm.xml" --live 2>&1) || vm_fail "virsh detach-device: $out"
wait_until 60 stat_is regions 1 || fail "detach-device did not release the DIMM's region"
$VIRSH destroy "$DOM" >/dev/null 2>&1
wait_until 20 sh -c "! kill -0 $QEMU_PID" || fail "QEMU did not stop"
wait_until 10 stat_is regions 0 || fail "regions left after destroy"
kill -TERM "$LIBVIRTD_PID"
pass "virsh attach-device: ${HOT_MB} MiB elastic DIMM, $(field mb "$res") MB x 3 passes verified, detached ($(( $(date +%s) - t0 )) s)"
