#!/bin/sh
# SPDX-License-Identifier: MIT
# make install (scripts/install) into a temporary DESTDIR: binary, bash completion and man pages
# where PREFIX says; the completion offers what the command tables hold; the top-level help
# lists every subcommand; the man pages render and cover every command.
# With the daemon: hvfleetd in sbin, its systemd unit, example config and docs in share/doc.
# And the agent: hvfleet-agent in sbin, its unit in share/doc. And the lab guest (built next to
# the binary's tree) in share/hvfleet, where hvfleet lab up looks for it.
# usage: install.sh HVFLEET SRCDIR HVFLEETD HVFLEET_AGENT
HVFLEETD=$3
HVFLEET_AGENT=$4
. "$2/tests/cli/plan-lib.sh"

case "$HVFLEET" in /*) ;; *) HVFLEET=$(pwd)/$HVFLEET ;; esac
D="$TMP/dest"
P=/opt/hvf

# The Makefile's target hands PREFIX and DESTDIR to scripts/install.
make -s -n -C "$SRC" install BUILD=nosuch PREFIX=/x/y DESTDIR=/d/e 2>/dev/null >"$TMP/make" || true
grep -q 'PREFIX="/x/y" DESTDIR="/d/e" scripts/install nosuch/src/cli/hvfleet' "$TMP/make" ||
    { echo "FAIL: make install does not pass PREFIX and DESTDIR:" >&2; cat "$TMP/make" >&2;
      failures=$((failures + 1)); }

if ! PREFIX=$P DESTDIR=$D "$SRC/scripts/install" "$HVFLEET" >"$TMP/out" 2>"$TMP/err"; then
    echo "FAIL: scripts/install exited non-zero" >&2
    cat "$TMP/err" >&2
    exit 1
fi
for f in bin/hvfleet share/bash-completion/completions/hvfleet share/man/man1/hvfleet.1 \
    share/man/man7/hvfleet-planning.7 share/man/man7/hvfleet-inventory.7; do
    [ -f "$D$P/$f" ] || { echo "FAIL: $P/$f not installed" >&2; failures=$((failures + 1)); }
done
[ -x "$D$P/bin/hvfleet" ] || { echo "FAIL: binary not executable" >&2; failures=$((failures + 1)); }
# the daemon, into a DESTDIR of its own
GUEST=$(dirname "$HVFLEET")/../../guest/lab-guest.elf
if ! PREFIX=$P DESTDIR="$TMP/dest2" "$SRC/scripts/install" "$HVFLEET" "$HVFLEETD" \
        "$HVFLEET_AGENT" "$GUEST" >/dev/null 2>"$TMP/err2"; then
    echo "FAIL: scripts/install with hvfleetd exited non-zero" >&2
    cat "$TMP/err2" >&2
    failures=$((failures + 1))
fi
for f in sbin/hvfleetd share/doc/hvfleet/hvfleetd.service share/doc/hvfleet/hvfleetd.yaml \
    share/doc/hvfleet/daemon.md sbin/hvfleet-agent share/doc/hvfleet/hvfleet-agent.service; do
    [ -f "$TMP/dest2$P/$f" ] || { echo "FAIL: $P/$f not installed" >&2; failures=$((failures + 1)); }
done
if [ -f "$GUEST" ] && ! cmp -s "$GUEST" "$TMP/dest2$P/share/hvfleet/lab-guest.elf"; then
    echo "FAIL: the lab guest is not installed as $P/share/hvfleet/lab-guest.elf" >&2
    failures=$((failures + 1))
fi
"$TMP/dest2$P/sbin/hvfleetd" --version | grep -q '^hvfleetd ' ||
    { echo "FAIL: the installed hvfleetd does not run" >&2; failures=$((failures + 1)); }
if PREFIX=$P DESTDIR="$TMP/dest3" "$SRC/scripts/install" "$HVFLEET" /nonexistent 2>"$TMP/err3"; then
    echo "FAIL: a missing hvfleetd binary was accepted" >&2
    failures=$((failures + 1))
fi
# Nothing outside DESTDIR/PREFIX.
extra=$(cd "$D" && find . -type f | grep -v "^\./${P#/}/" || true)
[ -z "$extra" ] || { echo "FAIL: installed outside PREFIX: $extra" >&2; failures=$((failures + 1)); }
# One man page per doc.
ndocs=$(ls "$SRC"/docs/*.md | wc -l)
nman=$(ls "$D$P"/share/man/man7/*.7 | wc -l)
[ "$ndocs" -eq "$nman" ] || { echo "FAIL: $nman man7 pages for $ndocs docs" >&2; failures=$((failures + 1)); }
# PREFIX must be absolute.
if PREFIX=relative DESTDIR=$D "$SRC/scripts/install" "$HVFLEET" >/dev/null 2>&1; then
    echo "FAIL: a relative PREFIX was accepted" >&2
    failures=$((failures + 1))
fi

# The top-level help lists every subcommand each command's own help lists.
run 0 --help
cp "$TMP/out" "$TMP/top"
for cmd in inventory plan; do
    run 0 "$cmd" --help
    for sub in $(sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' "$TMP/out"); do
        grep -q "^    $sub " "$TMP/top" ||
            { echo "FAIL: hvfleet --help omits '$cmd $sub'" >&2; failures=$((failures + 1)); }
    done
done

# Completion: what bash offers, from the installed script.
complete_words() { # WORDS...: the completions bash offers for the last word
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hvfleet
             printf "%s\n" "${COMPREPLY[@]}"' sh "$D$P/share/bash-completion/completions/hvfleet" "$@"
}
if command -v bash >/dev/null; then
    [ "$(complete_words hvfleet pl | tr '\n' ' ')" = "place plan " ] ||
        { echo "FAIL: 'hvfleet pl' completes to: $(complete_words hvfleet pl)" >&2; failures=$((failures + 1)); }
    for sub in maintenance drain check change show diff; do
        complete_words hvfleet plan "" | grep -qx "$sub" ||
            { echo "FAIL: 'hvfleet plan' does not offer $sub" >&2; failures=$((failures + 1)); }
    done
    complete_words hvfleet plan maintenance --no | grep -qx -- "--no-compare" ||
        { echo "FAIL: no --no-compare for plan maintenance" >&2; failures=$((failures + 1)); }
    # Every long option a command's help names is offered for it.
    for cmd in estimate place audit "inventory generate" "plan show" freeze; do
        run 0 $cmd --help
        for opt in $(grep -o -- '--[a-z][a-z-]*' "$TMP/out" | sort -u); do
            # shellcheck disable=SC2086
            complete_words hvfleet $cmd -- | grep -qx -- "$opt" ||
                { echo "FAIL: 'hvfleet $cmd' does not complete $opt" >&2; failures=$((failures + 1)); }
        done
    done
fi

# The man pages render without warnings and cover every command and subcommand.
if command -v groff >/dev/null; then
    for page in "$D$P"/share/man/man*/*; do
        groff -man -Tutf8 -ww -Wbreak -z "$page" 2>"$TMP/groff" || failures=$((failures + 1))
        [ ! -s "$TMP/groff" ] || { echo "FAIL: groff on $page:" >&2; head -5 "$TMP/groff" >&2;
                                    failures=$((failures + 1)); }
    done
fi
for cmd in $(sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' "$TMP/top"); do
    grep -q "^\.SS hvfleet $cmd" "$D$P/share/man/man1/hvfleet.1" ||
        { echo "FAIL: hvfleet.1 has no section for $cmd" >&2; failures=$((failures + 1)); }
done
grep -q '^\.SS hvfleet plan diff$' "$D$P/share/man/man1/hvfleet.1" ||
    { echo "FAIL: hvfleet.1 has no section for plan diff" >&2; failures=$((failures + 1)); }
finish
