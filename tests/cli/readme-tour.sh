#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's tour runs as written: every command of its first ```sh block after "## A tour",
# in order, in one shell, in a clean temporary directory that holds only what a fresh checkout
# has at its top (examples/, scenarios/, and build/src/cli/hvfleet linked to the binary under
# test). Each line must exit 0, or N when its trailing comment says "# exit N" (the README marks
# the lines that answer "no" by design that way). Variables and exports carry over from line to
# line, as when a user pastes the block.
# The tour starts hvfleetd (build/src/daemon/hvfleetd, linked too) and stops it; if a line fails
# before, the daemon the tour started (hvfleetd.pid) is stopped here, on every path.
# usage: readme-tour.sh HVFLEET SRCDIR HVFLEETD
set -u
HVFLEET=$1
SRC=$2
HVFLEETD=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-tour.XXXXXX")
tour_cleanup() {
    if [ -s "$T/run/hvfleetd.pid" ]; then
        kill -9 "$(cat "$T/run/hvfleetd.pid")" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap tour_cleanup EXIT INT TERM
export LC_ALL=C
unset HVFLEET_STATE_DIR

case "$HVFLEET" in /*) ;; *) HVFLEET=$(pwd)/$HVFLEET ;; esac
case "$HVFLEETD" in /*) ;; *) HVFLEETD=$(pwd)/$HVFLEETD ;; esac
mkdir -p "$T/run/build/src/cli" "$T/run/build/src/daemon" || exit 2
ln -s "$HVFLEET" "$T/run/build/src/cli/hvfleet"
ln -s "$HVFLEETD" "$T/run/build/src/daemon/hvfleetd"
cp -R "$SRC/examples" "$SRC/scenarios" "$T/run/" || exit 2

# The block: from the first ```sh after "## A tour" to the closing ```; a command continued
# with a trailing backslash is joined into one line, as the shell reads it.
awk '/^## A tour/ { t = 1; next }
     t && !b && /^```sh/ { b = 1; next }
     b && /^```/ { exit }
     b && cont { sub(/\\$/, "", cur); cur = cur " " $0 }
     b && !cont { cur = $0 }
     b { cont = /\\$/; if (!cont) print cur }' "$SRC/README.md" >"$T/block"
n=$(grep -c -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$T/block")
if [ "$n" -lt 5 ]; then
    echo "FAIL: found only $n commands in the README's tour block" >&2
    exit 1
fi
# The tour freezes the fleet and approves plans: it must keep that state in a directory of its
# own (HVFLEET_STATE_DIR), never in the fleet-wide default, before anything runs.
if ! grep -q '^export HVFLEET_STATE_DIR=' "$T/block"; then
    echo "FAIL: the README's tour does not export HVFLEET_STATE_DIR to a directory of its own" >&2
    exit 1
fi

# One script: each command runs in the same shell (a { } group keeps assignments), its status
# is compared with what its comment announces, and its output goes to a log per line.
{
    echo 'tour_fail=0'
    echo 'tour_check() { # LINENO WANT GOT TEXT'
    echo '    if [ "$3" -ne "$2" ]; then'
    echo '        echo "FAIL: README tour line $1 exited $3, expected $2: $4" >&2'
    echo '        sed "s/^/    /" "$TOUR_LOGS/$1" | tail -n 15 >&2'
    echo '        tour_fail=$((tour_fail + 1))'
    echo '    fi'
    echo '}'
    i=0
    while IFS= read -r line; do
        i=$((i + 1))
        stripped=$(printf '%s' "$line" | sed 's/^[[:space:]]*//')
        case "$stripped" in '' | '#'*) continue ;; esac
        want=$(printf '%s\n' "$line" | sed -n 's/.*#[[:space:]]*exit \([0-9][0-9]*\).*/\1/p')
        [ -n "$want" ] || want=0
        text=$(printf '%s' "$stripped" | sed "s/'/'\\\\''/g")
        printf '{\n%s\n} >"$TOUR_LOGS/%d" 2>&1 </dev/null\n' "$line" "$i"
        printf "tour_check %d %d \$? '%s'\n" "$i" "$want" "$text"
    done <"$T/block"
    echo 'exit $tour_fail'
} >"$T/tour.sh"

mkdir "$T/logs"
(cd "$T/run" && TOUR_LOGS="$T/logs" timeout 120 sh "$T/tour.sh")
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "FAIL: the README's tour: $rc failing line(s) (or a timeout: 124) of $n" >&2
    exit 1
fi
echo "ok: $n commands of the README's tour ran as written"
exit 0
