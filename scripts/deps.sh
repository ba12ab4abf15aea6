#!/bin/bash
# Install what fluidmem needs to build and test on Debian 12 (idempotent).
# Sourced by quickstart.sh and test.sh; run as root.
set -e
FM_PACKAGES="gcc make autoconf automake libtool pkg-config libc6-dev
	libmemcached-dev memcached util-linux coreutils"
missing=""
for p in $FM_PACKAGES; do
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
