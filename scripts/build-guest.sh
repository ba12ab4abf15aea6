#!/bin/bash
# Build the VM tests' guest: Debian's cloud kernel (downloaded with
# apt-get download and unpacked, never installed) and a busybox-static
# initramfs holding test/guest/init and a static test/guest/memverify.
# Idempotent: reuses what it built for the same kernel and sources.
# Everything lives under $FM_GUEST_WORK (default /var/cache/fluidmem/guest).
# Prints the directory holding vmlinuz and initrd.gz.
set -e
cd "$(dirname "$0")/.."
WORK=${FM_GUEST_WORK:-/var/cache/fluidmem/guest}
log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }
mkdir -p "$WORK"

# The cloud kernel the metapackage currently points at.
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
KVER=$(apt-cache policy "$KPKG" | sed -n 's/^ *Candidate: //p')
HASH=$( (echo "$KPKG $KVER"; cat test/guest/init test/guest/memverify.c scripts/online_mem.sh) |
	sha256sum | cut -c1-12)
OUT=$WORK/$HASH
if [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinuz" ]; then
	echo "$OUT"
	exit 0
fi
for t in gcc cpio gzip; do
	command -v "$t" >/dev/null || die "$t missing: run scripts/deps.sh --vm"
done
# busybox-static installs a static /bin/busybox.
[ -x /bin/busybox ] || die "/bin/busybox missing: install busybox-static"

log "kernel $KPKG $KVER"
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/deb" "$OUT.tmp/root"/{bin,proc,sys,dev,tmp}
deb=$(ls "$WORK"/dl/"${KPKG}"_*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
	mkdir -p "$WORK/dl"
	(cd "$WORK/dl" && apt-get -q -o APT::Sandbox::User=root download \
		"$KPKG" >/dev/null) || die "apt-get download $KPKG failed"
	deb=$(ls "$WORK"/dl/"${KPKG}"_*.deb | head -1)
fi
dpkg-deb -x "$deb" "$OUT.tmp/deb"
cp "$OUT.tmp/deb"/boot/vmlinuz-* "$OUT.tmp/vmlinuz"

root=$OUT.tmp/root
cp /bin/busybox "$root/bin/busybox"
install -m 755 test/guest/init "$root/init"
install -m 755 scripts/online_mem.sh "$root/online_mem.sh"
gcc -static -O2 -Wall -Wextra -o "$root/memverify" test/guest/memverify.c
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$OUT.tmp/initrd.gz"
rm -rf "$OUT.tmp/deb" "$root"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
# Guests built from other sources or kernels are not needed any more.
for g in "$WORK"/*; do
	case "$g" in "$OUT" | "$WORK/dl") ;; *) [ -f "$g/initrd.gz" ] && rm -rf "$g" ;; esac
done
log "guest in $OUT"
echo "$OUT"
