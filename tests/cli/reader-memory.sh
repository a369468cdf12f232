#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 9, item 18: running out of memory while reading a valid inventory is reported as memory,
# never as a syntax error ("expected a YAML or JSON document", as it was). The address space is
# cut with ulimit -v, from plenty down to too little: every run either reads the file or says
# "memory" with exit 2. Skipped under ASan, which needs terabytes of address space.
. "$2/tests/cli/plan-lib.sh"
if [ -n "${ASAN_OPTIONS:-}" ] || [ -n "${UBSAN_OPTIONS:-}" ]; then
    echo "skipped: sanitizer build"
    exit 77
fi
"$HVFLEET" inventory generate --hosts 2000 --vms-per-host 20 -o "$TMP/big.yaml" 2>/dev/null ||
    { echo "FAIL: generate"; exit 1; }
said_memory=0
for kib in 400000 100000 60000 45000 30000; do
    # an address space the program cannot even start in says nothing about the reader
    (ulimit -v "$kib" && "$HVFLEET" --help >/dev/null 2>&1) || continue
    (ulimit -v "$kib" && exec "$HVFLEET" inventory check "$TMP/big.yaml") >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if grep -q "syntax" "$TMP/err"; then
        echo "FAIL: ulimit -v $kib: a valid file reported as a syntax error" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        failures=$((failures + 1))
    elif [ "$rc" -eq 2 ] && grep -q "^$TMP/big.yaml:[0-9]*: memory: " "$TMP/err"; then
        said_memory=$((said_memory + 1))
    elif [ "$rc" -ne 0 ]; then
        echo "FAIL: ulimit -v $kib: exit $rc without a memory message" >&2
        sed 's/^/  stderr: /' "$TMP/err" >&2
        failures=$((failures + 1))
    fi
done
[ "$said_memory" -gt 0 ] || { echo "FAIL: no limit made the reader run out of memory" >&2; failures=$((failures + 1)); }
finish
