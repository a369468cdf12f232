#!/bin/sh
# SPDX-License-Identifier: MIT
# The fallout replays end to end: hvfleet simulate and replay on seeds 001 and 003, the
# components' figures in summary.json, and exit 2 with one FILE:LINE line for a bad section.
# usage: fallout.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: fallout.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: fallout.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$HVFLEET" simulate "$SRC/scenarios/2022-agent-process-storm-hvfleet.yaml" --out "$tmp/a" --json \
    >"$tmp/out" 2>"$tmp/err" || fail "2022 hvfleet: exit non-zero: $(cat "$tmp/err")"
grep -q '"hv_agent":{"model":"pooled",' "$tmp/out" || fail "2022: no hv_agent figures"
grep -q '"peak_agent_threads":5,' "$tmp/out" || fail "2022: the pooled agent is not bounded"
grep -q '"type":"proxy_saturated"' "$tmp/a/events.jsonl" || fail "2022: no proxy_saturated event"

"$HVFLEET" replay "$SRC/scenarios/2024-bus-fallout.replay.yaml" --out "$tmp/r" >"$tmp/out" \
    2>"$tmp/err" || fail "2024 replay: exit non-zero: $(cat "$tmp/err")"
grep -q "as it happened    with hvfleet      correlation only" "$tmp/out" ||
    fail "2024 replay: no side-by-side table"
grep -q '"mode": "correlated"' "$tmp/r/with-hvfleet/summary.json" ||
    fail "2024 replay: no remediation figures"
grep -q '"policy": "unbounded"' "$tmp/r/as-it-happened/summary.json" ||
    fail "2024 replay: no telemetry figures"
grep -q '"type":"vm_zombie"' "$tmp/r/as-it-happened/events.jsonl" || fail "2024: no zombie"

sed 's/^  buffer: unbounded .*$/  buffer: sometimes/' "$SRC/scenarios/2024-bus-fallout.yaml" \
    >"$tmp/bad.yaml"
cp "$SRC/scenarios/2024-fallout-fleet.yaml" "$tmp/"
"$HVFLEET" simulate "$tmp/bad.yaml" --out "$tmp/b" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "bad section: exit not 2"
grep -q "bad.yaml:[0-9]*: telemetry.buffer: 'sometimes': expected one of" "$tmp/err" ||
    fail "bad section: no FILE:LINE: $(cat "$tmp/err")"
[ -e "$tmp/b" ] && fail "bad section: output written"

[ "$failures" -eq 0 ] || exit 1
echo "fallout: all passed"
