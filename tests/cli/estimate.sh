#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet estimate end to end: text and JSON answers, exit statuses, one-line errors for bad input.
# usage: estimate.sh PATH-TO-hvfleet
set -u
HVFLEET=${1:?usage: estimate.sh PATH-TO-hvfleet}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run EXPECTED-STATUS ARGS...: runs hvfleet, keeps stdout/stderr in $tmp/out and $tmp/err.
run() {
    want=$1
    shift
    "$HVFLEET" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "hvfleet $*: exit $got, want $want; stderr: $(cat "$tmp/err")"
        return 1
    fi
    return 0
}

expect_out() {
    grep -qF -- "$1" "$tmp/out" || fail "stdout lacks '$1': $(cat "$tmp/out")"
}

# bad ARGS... -- FLAG VALUE: exit 2, nothing on stdout, exactly one line on stderr naming both.
bad() {
    flag=$1
    value=$2
    shift 2
    run 2 estimate "$@" || return
    [ -s "$tmp/out" ] && fail "estimate $*: wrote to stdout on bad input"
    lines=$(wc -l <"$tmp/err")
    [ "$lines" -eq 1 ] || fail "estimate $*: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    grep -q '^hvfleet: estimate: ' "$tmp/err" || fail "estimate $*: no 'hvfleet: estimate:' prefix"
    grep -qF -- "$flag" "$tmp/err" || fail "estimate $*: error does not name $flag: $(cat "$tmp/err")"
    grep -qF -- "$value" "$tmp/err" || fail "estimate $*: error does not quote '$value': $(cat "$tmp/err")"
}

# json_check PYTHON-EXPRESSION: evaluates it over the JSON answer in $tmp/out as `j`.
json_check() {
    python3 - "$tmp/out" "$1" <<'EOF' || fail "JSON check failed: $1: $(cat "$tmp/out")"
import json, sys
j = json.load(open(sys.argv[1]))
for key in ("total_s", "downtime_ms", "rounds", "bytes_sent", "converged", "strategy", "reason",
            "input", "schema", "version", "throttle_pct"):
    if key not in j:
        sys.exit("missing key " + key)
for key in ("memory_bytes", "dirty_bytes_per_s", "working_set_bytes", "bandwidth_bytes_per_s",
            "downtime_limit_ms", "timeout_s", "strategy", "zero_fraction"):
    if key not in j["input"]:
        sys.exit("missing input key " + key)
if not eval("(" + sys.argv[2] + ")", {"j": j}):
    sys.exit("false: " + sys.argv[2])
EOF
}

# --- help and usage
run 0 estimate --help && expect_out "usage: hvfleet estimate"
run 0 estimate -h && expect_out "--working-set"

# --- an idle 16 GiB guest at 10 Gbit: one pass, ~13.8 s
run 0 estimate --memory 16GiB --bandwidth 10Gbit && {
    expect_out "converged   yes (precopy)"
    expect_out "rounds      1"
    expect_out "total time  13.8 s"
    expect_out "converged in round 1"
}

# --- a busy guest with a working set, as JSON
run 0 estimate --memory 16GiB --dirty-rate 200MiB/s --bandwidth 10Gbit --working-set 4GiB --json &&
    json_check 'j["converged"] is True and j["strategy"] == "precopy" and 14 < j["total_s"] < 30
        and j["rounds"] >= 2 and j["bytes_sent"] > 16 * 2**30 and j["downtime_ms"] > 0
        and j["input"]["memory_bytes"] == 16 * 2**30 and j["input"]["working_set_bytes"] == 4 * 2**30
        and j["input"]["bandwidth_bytes_per_s"] == 1.25e9 and j["input"]["downtime_limit_ms"] == 300
        and j["input"]["timeout_s"] == 12800 and "converged in round" in j["reason"]'

# --- 8 GiB at 150 MiB/s over 1 Gbit: the answer depends on the strategy
run 1 estimate --memory 8GiB --dirty-rate 150MiB/s --bandwidth 1Gbit && {
    expect_out "converged   no (precopy)"
    expect_out "aborted after timeout 1h 46m 40s"
}
run 1 estimate --memory 8GiB --dirty-rate 150MiB/s --bandwidth 1Gbit --json &&
    json_check 'j["converged"] is False and j["total_s"] == 6400 and j["downtime_ms"] == 0
        and "did not converge" in j["reason"]'
run 1 estimate --memory 8GiB --dirty-rate 150MiB/s --bandwidth 1Gbit --timeout 30m --json &&
    json_check 'j["total_s"] == 1800 and j["input"]["timeout_s"] == 1800'
run 0 estimate --memory 8GiB --dirty-rate 150MiB/s --bandwidth 1Gbit --strategy auto-converge --json &&
    json_check 'j["converged"] is True and j["strategy"] == "auto-converge" and j["throttle_pct"] > 20
        and j["input"]["strategy"] == "auto-converge"'
run 0 estimate --memory 8GiB --dirty-rate 150MiB/s --bandwidth 1Gbit --strategy post-copy --json &&
    json_check 'j["converged"] is True and j["strategy"] == "post-copy" and j["downtime_ms"] == 20
        and j["rounds"] == 1 and j["postcopy_s"] > 0 and "post-copy after round 1" in j["reason"]'

# --- options that change the answer in the expected direction
run 0 estimate --memory 16GiB --dirty-rate 600MiB/s --bandwidth 10Gbit --downtime-limit 2s --json &&
    cp "$tmp/out" "$tmp/big.json"
run 0 estimate --memory 16GiB --dirty-rate 600MiB/s --bandwidth 10Gbit --downtime-limit 30ms --json &&
    python3 - "$tmp/big.json" "$tmp/out" <<'EOF' || fail "a bigger downtime limit should mean fewer rounds"
import json, sys
big, small = (json.load(open(f)) for f in sys.argv[1:3])
assert big["rounds"] < small["rounds"] and big["downtime_ms"] > small["downtime_ms"]
EOF
run 0 estimate --memory 4GiB --bandwidth 1Gbit --link-speed 10Gbit --zero-fraction 0.5 --switchover 0ms --json &&
    json_check 'j["input"]["link_bytes_per_s"] == 1.25e9 and j["input"]["zero_fraction"] == 0.5
        and j["bytes_sent"] == 2 * 2**30 and j["downtime_ms"] < 30.1'
run 0 estimate --memory=4096 --bandwidth=1Gbit --json &&
    json_check 'j["input"]["memory_bytes"] == 4 * 2**30'

# --- bad input: exit 2 and one line naming the flag and the value
bad "--frobnicate" "--frobnicate" --memory 16GiB --bandwidth 10Gbit --frobnicate
bad "--memory" "16GiB" --bandwidth 10Gbit
bad "--bandwidth" "10Gbit" --memory 16GiB
bad "--memory" "16XB" --memory 16XB --bandwidth 10Gbit
bad "--memory" "'0'" --memory 0 --bandwidth 10Gbit
bad "--bandwidth" "0Gbit" --memory 16GiB --bandwidth 0Gbit
bad "--bandwidth" "10GiB" --memory 16GiB --bandwidth 10GiB
bad "--dirty-rate" "-5MB/s" --memory 16GiB --bandwidth 10Gbit --dirty-rate -5MB/s
bad "--working-set" "32GiB" --memory 16GiB --bandwidth 10Gbit --working-set 32GiB
bad "--strategy" "teleport" --memory 16GiB --bandwidth 10Gbit --strategy teleport
bad "--zero-fraction" "1.5" --memory 16GiB --bandwidth 10Gbit --zero-fraction 1.5
bad "--zero-fraction" "nan" --memory 16GiB --bandwidth 10Gbit --zero-fraction nan
bad "--timeout" "30parsecs" --memory 16GiB --bandwidth 10Gbit --timeout 30parsecs
bad "--downtime-limit" "3h" --memory 16GiB --bandwidth 10Gbit --downtime-limit 3h
bad "--link-speed" "1bit" --memory 16GiB --bandwidth 10Gbit --link-speed 1bit
bad "--memory" "--memory" --bandwidth 10Gbit --memory
bad "argument" "stray" --memory 16GiB --bandwidth 10Gbit stray

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all estimate CLI checks passed"
