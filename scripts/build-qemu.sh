#!/bin/bash
# Build a minimal x86_64 QEMU with memory-backend-elastic: Debian's QEMU
# source package (version resolved now, from a private deb-src apt
# configuration), Debian's patches, then ours from qemu-patches/, linked
# against this tree's libfluidmem. Idempotent: a second run with the same
# source version, patches and library reuses the build (ninja no-op), and
# ccache makes a rebuild of a fresh tree cheap.
#
# Everything lives under $FM_QEMU_WORK (default /var/cache/fluidmem/qemu);
# nothing is installed elsewhere except Debian build dependencies
# (scripts/deps.sh --vm). Prints the path of qemu-system-x86_64 last.
#
#   scripts/build-qemu.sh            build (or reuse) and print the binary
#   scripts/build-qemu.sh --path     print the binary's path if it is built
#                                    and current, else exit 1
set -e
cd "$(dirname "$0")/.."
WORK=${FM_QEMU_WORK:-/var/cache/fluidmem/qemu}
export CCACHE_DIR=${CCACHE_DIR:-$WORK/ccache}
JOBS=${JOBS:-$(nproc)}

log() { echo "build-qemu: $*" >&2; }
die() { echo "build-qemu: error: $*" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# 1. Private apt configuration that only knows Debian's source indices.
APT_DIR=$WORK/apt
apt_src() {
	local tool=$1
	shift
	"$tool" -q -o Dir::Etc::SourceList=/dev/null \
		-o Dir::Etc::SourceParts="$APT_DIR/sources" \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o APT::Sandbox::User=root "$@"
}
apt_src_setup() {
	mkdir -p "$APT_DIR/sources" "$APT_DIR/lists/partial" \
		"$APT_DIR/cache/archives/partial"
	cat >"$APT_DIR/sources/debian-src.sources" <<-EOF
	Types: deb-src
	URIs: http://deb.debian.org/debian
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb-src
	URIs: http://deb.debian.org/debian-security
	Suites: bookworm-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
}

# Debian's firmware (seabios, qemu-system-data, ipxe-qemu) is found
# without -L, also when libvirt starts the emulator.
CONFIG_FLAGS="--target-list=x86_64-softmmu --without-default-features
	--enable-tcg --enable-kvm --enable-fluidmem --disable-docs --disable-werror
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu"

# The patch series, configure flags and the library's ABI decide whether
# a tree is current.
patches_hash() {
	(cat qemu-patches/*.patch lib/fluidmem.h; echo "$CONFIG_FLAGS") |
		sha256sum | cut -c1-12
}

# 2. Library: a private copy of libfluidmem and a pkg-config file for it.
install_lib() {
	local p=$WORK/prefix so
	[ -f Makefile ] || bash scripts/build.sh
	make -s libfluidmem.la >/dev/null
	so=$(readlink -f .libs/libfluidmem.so)
	mkdir -p "$p/lib/pkgconfig" "$p/include"
	install -C -m 644 lib/fluidmem.h "$p/include/fluidmem.h"
	install -C -m 755 "$so" "$p/lib/$(basename "$so")"
	ln -sfn "$(basename "$so")" "$p/lib/libfluidmem.so.0"
	ln -sfn "$(basename "$so")" "$p/lib/libfluidmem.so"
	cat >"$p/lib/pkgconfig/fluidmem.pc.new" <<-EOF
	prefix=$p
	libdir=\${prefix}/lib
	includedir=\${prefix}/include

	Name: fluidmem
	Description: fluidmem client library (private copy for QEMU)
	Version: 0.1.0
	Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lfluidmem
	Cflags: -I\${includedir}
	EOF
	if cmp -s "$p/lib/pkgconfig/fluidmem.pc.new" "$p/lib/pkgconfig/fluidmem.pc"; then
		rm "$p/lib/pkgconfig/fluidmem.pc.new"
	else
		mv "$p/lib/pkgconfig/fluidmem.pc.new" "$p/lib/pkgconfig/fluidmem.pc"
	fi
}

VERSION_FILE=$WORK/current
if [ "${1:-}" = --path ]; then
	[ -f "$VERSION_FILE" ] || exit 1
	tree=$(cat "$VERSION_FILE")
	[ "${tree##*-}" = "$(patches_hash)" ] || exit 1
	bin=$tree/build/qemu-system-x86_64
	[ -x "$bin" ] || exit 1
	echo "$bin"
	exit 0
fi

start=$(date +%s)
# One build at a time per work dir (several clones may share it).
exec 9>"$WORK/.lock"
flock 9
if ! command -v meson >/dev/null || ! command -v ninja >/dev/null; then
	die "meson/ninja missing: run scripts/deps.sh --vm"
fi
ls qemu-patches/*.patch >/dev/null 2>&1 || die "no qemu-patches/*.patch"
install_lib

# 3. Resolve the source version (newest of bookworm, -updates, -security).
apt_src_setup
if [ ! -f "$APT_DIR/lists/.updated" ] ||
   [ -n "$(find "$APT_DIR/lists/.updated" -mmin +1440)" ]; then
	apt_src apt-get update >/dev/null ||
		die "apt-get update of the deb-src indices failed"
	touch "$APT_DIR/lists/.updated"
fi
VER=$(apt_src apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' |
	sort -V | tail -1)
[ -n "$VER" ] || die "cannot resolve the qemu source version"
log "Debian qemu source version $VER"

UVER=${VER#*:}
TREE=$WORK/qemu-$UVER-$(patches_hash)
if [ ! -f "$TREE/.patched" ]; then
	dl=$WORK/dl/$UVER
	mkdir -p "$dl"
	if ! ls "$dl"/*.dsc >/dev/null 2>&1; then
		log "downloading qemu $VER source"
		(cd "$dl" && apt_src apt-get source --download-only "qemu=$VER" >/dev/null) ||
			die "apt-get source qemu=$VER failed"
	fi
	rm -rf "$TREE"
	log "unpacking (with Debian's patches) into $TREE"
	dpkg-source --no-check --no-copy -x "$dl"/qemu_"${UVER}".dsc "$TREE" >/dev/null
	for p in qemu-patches/*.patch; do
		log "applying $(basename "$p")"
		patch -d "$TREE" -p1 --forward --quiet <"$p" || die "$p does not apply"
	done
	touch "$TREE/.patched"
fi

# 4. Configure once per tree, then let ninja decide what to rebuild.
export PKG_CONFIG_PATH=$WORK/prefix/lib/pkgconfig
export CCACHE_BASEDIR=$WORK CCACHE_NOHASHDIR=true
if [ ! -f "$TREE/build/build.ninja" ]; then
	log "configuring"
	mkdir -p "$TREE/build"
	# shellcheck disable=SC2086
	(cd "$TREE/build" && ../configure $CONFIG_FLAGS \
		--cc=/usr/lib/ccache/gcc --host-cc=/usr/lib/ccache/gcc \
		--cxx=/usr/lib/ccache/g++ >"$TREE/configure.log" 2>&1) ||
		{ tail -30 "$TREE/configure.log" >&2; die "configure failed"; }
fi
log "building (ninja -j$JOBS)"
ninja -C "$TREE/build" -j"$JOBS" qemu-system-x86_64 >"$TREE/ninja.log" 2>&1 ||
	{ tail -40 "$TREE/ninja.log" >&2; die "build failed"; }
# Run from its build tree, QEMU looks for the --firmwarepath directories
# under build/qemu-bundle: point them at Debian's.
for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
	link=$TREE/build/qemu-bundle$d
	[ -e "$link" ] || { mkdir -p "$(dirname "$link")" && ln -s "$d" "$link"; }
done
echo "$TREE" >"$VERSION_FILE"
# Old trees (other versions or patch sets) are not needed any more.
for t in "$WORK"/qemu-*; do
	[ -d "$t" ] && [ "$t" != "$TREE" ] && rm -rf "$t"
done
log "done in $(( $(date +%s) - start )) s"
echo "$TREE/build/qemu-system-x86_64"
