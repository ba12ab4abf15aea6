#!/bin/bash
# Configure (once) and build fluidmem in the source tree.
set -e
cd "$(dirname "$0")/.."
[ -x configure ] || ./autogen.sh >/dev/null
[ -f Makefile ] || ./configure --enable-memcached --enable-zookeeper --enable-rdma --enable-nvme --enable-lz4 >/dev/null
make -j"$(nproc)" >/dev/null
make -j"$(nproc)" test/fm_worker >/dev/null
make -j"$(nproc)" test/ms_badframe test/ms_unit >/dev/null
