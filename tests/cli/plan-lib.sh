# SPDX-License-Identifier: MIT
# Helpers for the plan-*.sh CLI tests: run hvfleet, check its exit status and output.
# Usage in a test: . "$SRC/tests/cli/plan-lib.sh"; then run EXPECTED_STATUS ARGS...
set -u
HVFLEET=$1
SRC=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hvf-cli-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export LC_ALL=C
export HVFLEET_STATE_DIR="$TMP/state"
failures=0

# run STATUS ARGS...: runs hvfleet, keeps stdout in $TMP/out and stderr in $TMP/err.
run() {
    want=$1
    shift
    "$HVFLEET" "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: hvfleet $*: exit $got, want $want" >&2
        sed 's/^/  stdout: /' "$TMP/out" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        failures=$((failures + 1))
    fi
}

# has FILE TEXT: FILE (out or err) contains TEXT.
has() {
    if ! grep -qF -- "$2" "$TMP/$1"; then
        echo "FAIL: $1 lacks '$2'" >&2
        sed "s/^/  $1: /" "$TMP/$1" >&2
        failures=$((failures + 1))
    fi
}

# lines FILE N: FILE has exactly N lines (one-line errors).
lines() {
    n=$(wc -l <"$TMP/$1")
    if [ "$n" -ne "$2" ]; then
        echo "FAIL: $1 has $n lines, want $2" >&2
        sed "s/^/  $1: /" "$TMP/$1" >&2
        failures=$((failures + 1))
    fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    echo ok
}
