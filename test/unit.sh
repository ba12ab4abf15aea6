#!/bin/bash
# Unit tests of the shared helpers (no monitor needed).
exec "${top_builddir:-.}/test/fm_unit"
