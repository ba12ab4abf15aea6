#!/bin/bash
# The manual pages agree with the code: every long option `monitor --help`
# prints is in monitor(8) and accepted by the monitor, every option
# monitor(8) documents is in --help, every settable one is a key in
# monitor.conf(5), every ui command is in ui(1), every libfluidmem function
# is in libfluidmem(3), and the pages format without warnings.
. "${top_srcdir:-.}/test/lib.sh"
DOC="$top_srcdir/doc"
bad=0
miss() { echo "# $*"; bad=1; }

# roff source as plain text: \- is '-', font escapes go.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(en/-/g' "$1"; }

help_opts=$("$MONITOR" --help | grep -o -- '--[a-z][a-z0-9_-]*' | sort -u)
[ -n "$help_opts" ] || fail "monitor --help printed no options"
man_opts=$(plain "$DOC/monitor.8" | grep -o -- '--[a-z][a-z0-9_-]*' | sort -u)
for o in $help_opts; do
	grep -qx -- "$o" <<<"$man_opts" || miss "monitor --help has $o, monitor.8 does not"
	# Accepted by the parser: any complaint but "unknown option" (the
	# stray argument makes even valid values stop before start-up).
	out=$(timeout 5 "$MONITOR" "$o=x" extra 2>&1 </dev/null)
	case "$out" in *"unknown option"*)
		out=$(timeout 5 "$MONITOR" "$o" extra 2>&1 </dev/null) ;;
	esac
	case "$out" in *"unknown option"*) miss "monitor refuses $o: $out" ;; esac
done
for o in $man_opts; do
	grep -qx -- "$o" <<<"$help_opts" || miss "monitor.8 has $o, monitor --help does not"
done

conf_keys=$(plain "$DOC/monitor.conf.5" | sed -n 's/^\.BI "\([a-z_-]*\) = " .*/\1/p' | sort -u)
for o in $help_opts; do
	k=${o#--}
	case "$k" in help|version|config|debug-*|cache-size) continue ;; esac
	grep -qx -- "$k" <<<"$conf_keys" || miss "monitor.conf.5 lacks key $k"
done
for k in $conf_keys; do
	grep -qx -- "--$k" <<<"$help_opts" || miss "monitor.conf.5 key $k is no option"
done

# ui: "  stat [s]   ..." lines of --help.
ui_cmds=$("$UI" --help | sed -n 's/^  \([a-z]*\) \[\([a-z]\)\].*/\1 \2/p')
[ -n "$ui_cmds" ] || fail "ui --help printed no commands"
ui_man=$(plain "$DOC/ui.1")
while read -r cmd short; do
	grep -q "^\.BR $cmd\b.*\", \" $short\b\|^\.BR .*\b$cmd\b.*\", \" $short\b" <<<"$ui_man" ||
		miss "ui.1 lacks command $cmd ($short)"
done <<<"$ui_cmds"
for o in -i --help; do
	grep -q -- "$o" <<<"$ui_man" || miss "ui.1 lacks $o"
done

for f in $(sed -n 's/.*\b\(fm_[a-z_]*\)(.*/\1/p' "$top_srcdir/lib/fluidmem.h" | sort -u); do
	grep -q "$f" "$DOC/libfluidmem.3" || miss "libfluidmem.3 lacks $f"
done

if command -v groff >/dev/null; then
	for p in "$DOC"/*.[1-8]; do
		w=$(groff -man -ww -z "$p" 2>&1)
		[ -z "$w" ] || miss "$(basename "$p"): $w"
	done
else
	log "groff missing: formatting not checked"
fi
[ $bad = 0 ] || fail "manual pages and code disagree"
pass "manual pages match --help, the config keys, ui commands and the API"
