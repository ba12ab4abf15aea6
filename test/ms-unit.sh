#!/bin/bash
# Unit tests of memserver's protocol, MAC, slot pool and allow-list (no
# network or RDMA device needed).
exec "${top_builddir:-.}/test/ms_unit"
