#!/bin/bash
# Integrity on a real memcached started by the test.
BACKEND=memcached exec bash "${top_srcdir:-.}/test/integrity.sh"
