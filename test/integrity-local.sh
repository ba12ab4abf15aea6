#!/bin/bash
# Integrity on the built-in local backend.
BACKEND=local exec bash "${top_srcdir:-.}/test/integrity.sh"
