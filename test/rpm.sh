#!/bin/bash
# The RPM spec works: `make dist`, then `rpmbuild -ta` on the tarball in a
# private _topdir, and the binary RPMs hold what fluidmem.spec says. Runs
# with --nodeps: on Debian the BuildRequires (Fedora names) are not in the
# rpm database. Also builds --without memcached --with zookeeper --without
# nvme --with rdma. Not in `make check` (it runs make dist and make check itself);
# scripts/test.sh runs it.
. "${top_srcdir:-.}/test/lib.sh"
command -v rpmbuild >/dev/null || fail "rpmbuild missing (Debian: apt-get install rpm)"
cd "$top_builddir" || exit 99
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' config.h)
tarball="fluidmem-$version.tar.gz"
make dist >"$TMP/dist.log" 2>&1 || { tail -20 "$TMP/dist.log"; fail "make dist"; }
log "built $tarball"

# build NAME ARGS...: rpmbuild -ta into $TMP/NAME.
build() {
	local name=$1 start=$SECONDS
	shift
	rpmbuild -ta --nodeps --define "_topdir $TMP/$name" "$@" "$tarball" \
		>"$TMP/$name.log" 2>&1 || { tail -30 "$TMP/$name.log"; fail "rpmbuild $*"; }
	log "rpmbuild $* took $((SECONDS - start)) s:" \
		$(cd "$TMP/$name" && ls RPMS/*/*.rpm SRPMS/*.rpm)
}
build full
RPMS="$TMP/full/RPMS"
ls "$TMP"/full/SRPMS/fluidmem-"$version"-*.src.rpm >/dev/null || fail "no source RPM"
pkg() { ls "$RPMS"/*/"$1"-"$version"-*.rpm 2>/dev/null | grep -v debug | head -1; }
main=$(pkg fluidmem) libs=$(pkg fluidmem-libs) devel=$(pkg fluidmem-devel)
[ -n "$main" ] && [ -n "$libs" ] && [ -n "$devel" ] || fail "missing binary RPMs: $(ls -R "$RPMS")"

# has RPM PATTERN...: every pattern matches a file the package holds.
has() {
	local rpm=$1 p files
	shift
	files=$(rpm -qlp "$rpm" 2>/dev/null)
	for p in "$@"; do
		grep -qx -- "$p" <<<"$files" || { echo "$files"; fail "$(basename "$rpm") lacks $p"; }
	done
}
has "$main" /usr/bin/monitor /usr/bin/ui /usr/sbin/memserver /etc/fluidmem/monitor.conf \
	/usr/lib/systemd/system/fluidmem-monitor.service \
	/usr/lib/sysusers.d/fluidmem.conf \
	'/usr/share/man/man8/monitor\.8.*' '/usr/share/man/man1/ui\.1.*' \
	'/usr/share/man/man8/memserver\.8.*' \
	'/usr/share/man/man5/monitor\.conf\.5.*' \
	'/usr/share/doc/fluidmem[-0-9.]*/README\.md' '/usr/share/doc/fluidmem[-0-9.]*/protocol\.md' \
	'/usr/share/fluidmem/scripts/.*\.sh'
if ls "$top_srcdir"/qemu-patches/*.patch >/dev/null 2>&1; then
	has "$main" '/usr/share/fluidmem/qemu-patches/.*\.patch'
fi
has "$libs" '/usr/lib[0-9]*/libfluidmem\.so\.0.*'
has "$devel" /usr/include/fluidmem.h '/usr/lib[0-9]*/libfluidmem\.so' \
	'/usr/lib[0-9]*/pkgconfig/fluidmem\.pc' '/usr/share/man/man3/libfluidmem\.3.*'
rpm -qcp "$main" 2>/dev/null | grep -qx /etc/fluidmem/monitor.conf || fail "monitor.conf is not %config"
rpm -qp --scripts "$main" 2>/dev/null | grep -q "groupadd -r fluidmem" || fail "no group creation in %pre"
rpm -qp --requires "$devel" 2>/dev/null | grep -q "fluidmem-libs" || fail "devel does not require libs"
grep -q "test/unit.sh" "$TMP/full.log" && grep -q "^PASS: test/manpages.sh" "$TMP/full.log" ||
	fail "%check did not run the unit and man page tests"

# The packaged programs run.
mkdir "$TMP/root" && (cd "$TMP/root" && rpm2cpio "$main" | cpio -idm --quiet) || fail "unpack $main"
"$TMP/root/usr/bin/monitor" --version | grep -q "$version" || fail "packaged monitor --version"
"$TMP/root/usr/bin/monitor" --help | grep -q "backend: local, memcached, nvme" || fail "packaged monitor lacks memcached or nvme"
readelf -d "$TMP/root/usr/bin/monitor" | grep -q 'liburing' || fail "default build does not link liburing"
readelf -d "$TMP/root/usr/bin/monitor" | grep -q 'liblz4' || fail "default build does not link liblz4"
grep -q "^ExecStart=/usr/bin/monitor --config=/etc/fluidmem/monitor.conf$" \
	"$TMP/root/usr/lib/systemd/system/fluidmem-monitor.service" || fail "unit's ExecStart"

readelf -d "$TMP/root/usr/bin/monitor" | grep -q 'libzookeeper' && fail "default build links ZooKeeper"

# The conditionals the other way round.
build alt --without memcached --with zookeeper --without nvme --with rdma
mkdir "$TMP/alt-root" && (cd "$TMP/alt-root" &&
	rpm2cpio "$(ls "$TMP"/alt/RPMS/*/fluidmem-"$version"-*.rpm | head -1)" | cpio -idm --quiet) || fail "unpack"
"$TMP/alt-root/usr/bin/monitor" --help | grep -q "backend: local, remote, chain (default" ||
	fail "--without memcached still has memcached: $("$TMP/alt-root/usr/bin/monitor" --help | grep backend:)"
readelf -d "$TMP/alt-root/usr/bin/monitor" | grep -q 'libzookeeper_mt' || fail "--with zookeeper did not link ZooKeeper"
readelf -d "$TMP/alt-root/usr/sbin/memserver" | grep -q 'librdmacm' || fail "--with rdma did not link librdmacm into memserver"
pass "rpmbuild -ta: fluidmem, -libs, -devel and the source RPM hold what the spec says"
