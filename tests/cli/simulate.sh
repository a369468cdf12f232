#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet simulate end to end: output files, text and JSON summaries, exit 2 on bad input.
# usage: simulate.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: simulate.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: simulate.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$HVFLEET" simulate --help >"$tmp/out" 2>&1 || fail "--help exits non-zero"
grep -q "usage: hvfleet simulate" "$tmp/out" || fail "--help prints no usage"

"$HVFLEET" simulate "$SRC/scenarios/2017-maintenance-storm.yaml" --out "$tmp/o" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "storm: exit non-zero: $(cat "$tmp/err")"
for f in summary.json events.jsonl metrics-fleet.csv metrics-hosts.csv; do
    [ -s "$tmp/o/$f" ] || fail "storm: $f missing or empty"
done
grep -q "hosts evacuating" "$tmp/out" || fail "storm: no text summary"
head -1 "$tmp/o/metrics-fleet.csv" | grep -q '^t_s,migrations_active,hosts_evacuating,' ||
    fail "metrics-fleet.csv header"
head -1 "$tmp/o/events.jsonl" | grep -q '"type":"sim_start"' || fail "events.jsonl first line"
ls "$tmp/o" | grep -q tmp && fail "temporary files left in the output directory"

"$HVFLEET" simulate "$SRC/scenarios/2017-maintenance-storm.yaml" --out "$tmp/j" --json --seed 5 \
    >"$tmp/out" 2>"$tmp/err" || fail "--json exit non-zero"
grep -q '"schema":"hvfleet.sim-summary/v1"' "$tmp/out" || fail "--json prints no summary"
grep -q '"seed":5' "$tmp/out" || fail "--seed not applied"

cat >"$tmp/bad.yaml" <<'YAML'
name: bad
inventory: ../nowhere/fleet.yaml
duration: 2 weeks
YAML
"$HVFLEET" simulate "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "bad scenario: exit not 2"
grep -q "bad.yaml:3: duration: '2 weeks'" "$tmp/err" || fail "bad scenario: no FILE:LINE: $(cat "$tmp/err")"
[ -e "out/bad" ] && fail "bad scenario wrote output"

"$HVFLEET" simulate >/dev/null 2>&1
[ $? -eq 2 ] || fail "no argument: exit not 2"
"$HVFLEET" simulate "$SRC/scenarios/2017-maintenance-storm.yaml" --seed x >/dev/null 2>&1
[ $? -eq 2 ] || fail "--seed x: exit not 2"

if [ "$failures" -ne 0 ]; then
    echo "$failures failed" >&2
    exit 1
fi
echo "simulate: all passed"
