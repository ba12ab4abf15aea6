#!/bin/bash
# Pages the client discards (MADV_REMOVE -> UFFD_EVENT_REMOVE) read back as
# zeros, are dropped locally and deleted from the backend.
. "${top_srcdir:-.}/test/lib.sh"
require_root
start_memcached
start_monitor --SERVER=127.0.0.1:$MC_PORT --cache_size=64
out=$(worker --mode discard --pages 512 --threads 1 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "discarded pages did not read as zeros or kept pages changed"
expect_stat discarded_pages -ge 256
expect_stat remote_deletes -gt 0
pass "discard: zeros after MADV_REMOVE, remote copies deleted"
