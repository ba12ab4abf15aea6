#!/bin/bash
# Install what fluidmem needs on Debian 12 (idempotent); run as root.
#   deps.sh        build and core tests: compilers, autotools, libmemcached,
#                  memcached, ZooKeeper; rpm, cpio and groff-base check the
#                  packaging and the man pages
#   deps.sh --vm   the VM tests too: QEMU build dependencies, firmware and
#                  data files for the built emulator, busybox and static libc
#                  for the test guest, libvirt 9 for the virsh test
set -e
FM_PACKAGES="gcc make autoconf automake libtool pkg-config libc6-dev
	libmemcached-dev memcached util-linux coreutils
	libzookeeper-mt-dev zookeeper
	rpm cpio groff-base
	librdmacm-dev libibverbs-dev iproute2
	liburing-dev liblz4-dev"
# Not libvirt-daemon-system: it pulls in systemd as init. The virsh test
# starts its own libvirtd in a private mount namespace instead.
FM_VM_PACKAGES="meson ninja-build ccache dpkg-dev python3
	libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev
	seabios qemu-system-data ipxe-qemu
	busybox-static gzip
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
want=$FM_PACKAGES
[ "${1:-}" = --vm ] && want=$FM_VM_PACKAGES
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "fluidmem: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "${1:-}" = --vm ]; then
	# The directories libvirt-daemon-system would create; the virsh test
	# bind-mounts private ones over them.
	mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
fi
