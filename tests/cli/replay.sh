#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet replay end to end: the KPI table, output files, --json, --summary, exit 2 on bad input.
# usage: replay.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: replay.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: replay.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
STORM="$SRC/scenarios/2017-maintenance-storm.replay.yaml"

"$HVFLEET" replay --help >"$tmp/out" 2>&1 || fail "--help exits non-zero"
grep -q "usage: hvfleet replay FILE" "$tmp/out" || fail "--help prints no usage"

"$HVFLEET" replay "$STORM" --out "$tmp/o" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "storm replay: exit non-zero: $(cat "$tmp/err")"
for row in "time of event" detection decision resolution "VMs down (distinct)" \
        "VM-minutes lost" "hosts crashed" "actions queued"; do
    grep -q "^  $row " "$tmp/out" || fail "table has no row '$row'"
done
grep -q "as it happened  *with hvfleet" "$tmp/out" || fail "table has no variant columns"
grep -q "^  time of event  *0:30:00  *0:30:00$" "$tmp/out" || fail "time of event: $(cat "$tmp/out")"
for d in as-it-happened with-hvfleet; do
    for f in summary.json events.jsonl metrics-fleet.csv metrics-hosts.csv report.html; do
        [ -s "$tmp/o/$d/$f" ] || fail "$d/$f missing or empty"
    done
done
grep -q '"schema": "hvfleet.replay-summary/v1"' "$tmp/o/summary.json" || fail "summary.json schema"
grep -q '"kpis": {' "$tmp/o/summary.json" || fail "summary.json has no kpis"
grep -q '"kpis": {' "$tmp/o/with-hvfleet/summary.json" || fail "a variant's summary.json has no kpis"
grep -q 'Key figures' "$tmp/o/with-hvfleet/report.html" || fail "a variant's report has no KPI table"
grep -q 'href="as-it-happened/report.html"' "$tmp/o/report.html" || fail "replay report.html links"
grep -q 'VM-minutes lost' "$tmp/o/report.html" || fail "replay report.html has no KPI table"
ls "$tmp/o" | grep -q tmp && fail "temporary files left in the output directory"

"$HVFLEET" replay "$STORM" --out "$tmp/j" --json --seed 3 >"$tmp/out" 2>"$tmp/err" ||
    fail "--json exit non-zero"
grep -q '"sim_seed": 3,' "$tmp/out" || fail "--json: --seed not applied"
cmp -s "$tmp/out" "$tmp/j/summary.json" || fail "--json differs from summary.json"

"$HVFLEET" replay --summary "$STORM" "$STORM" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "--summary: exit non-zero: $(cat "$tmp/err")"
[ "$(grep -c '^000 ' "$tmp/out")" -eq 2 ] || fail "--summary: not one line per replay: $(cat "$tmp/out")"
grep -q "as it happened" "$tmp/out" || fail "--summary: no variant header"
[ "$(wc -l <"$tmp/out")" -le 24 ] || fail "--summary: more than a screen"

"$HVFLEET" replay "$SRC/scenarios/2002-monitoring-on-one-host.replay.yaml" --out "$tmp/k" \
    >"$tmp/out" 2>"$tmp/err" || fail "seed 002 replay: exit non-zero: $(cat "$tmp/err")"
grep -q "^  detection  *never  *+1m 30s$" "$tmp/out" || fail "seed 002 detection: $(cat "$tmp/out")"
grep -q '"type":"alert_lost"' "$tmp/k/as-it-happened/events.jsonl" || fail "seed 002: no alert_lost"
grep -q '"type":"alert","host":"hv03","detail":"via pager: ' "$tmp/k/with-hvfleet/events.jsonl" ||
    fail "seed 002: no alert via the pager"

cat >"$tmp/bad.yaml" <<'YAML'
schema: hvfleet.replay/v1
name: bad
seed: "x y"
title: t
variants:
  - {label: a, scenario: nowhere.yaml}
YAML
"$HVFLEET" replay "$tmp/bad.yaml" --out "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "bad replay: exit not 2"
grep -q "bad.yaml:3: seed: 'x y'" "$tmp/err" || fail "bad replay: no FILE:LINE: $(cat "$tmp/err")"

sed -e 's/x y/9/' "$tmp/bad.yaml" >"$tmp/missing.yaml"
"$HVFLEET" replay "$tmp/missing.yaml" --out "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "missing variant file: exit not 2"
grep -q "missing.yaml:6: variants\[0\].scenario: 'nowhere.yaml': " "$tmp/err" ||
    fail "missing variant file: no FILE:LINE: $(cat "$tmp/err")"
[ -e "$tmp/bad" ] && fail "bad replay wrote output"

"$HVFLEET" replay "$SRC/scenarios/2017-maintenance-storm.yaml" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "a scenario given as a replay: exit not 2"
[ "$(wc -l <"$tmp/err")" -le 2 ] || fail "a scenario given as a replay: more than one problem line"
"$HVFLEET" replay >/dev/null 2>&1
[ $? -eq 2 ] || fail "no argument: exit not 2"
"$HVFLEET" replay --summary >/dev/null 2>&1
[ $? -eq 2 ] || fail "--summary without files: exit not 2"
"$HVFLEET" replay "$STORM" --seed x >/dev/null 2>&1
[ $? -eq 2 ] || fail "--seed x: exit not 2"

if [ "$failures" -ne 0 ]; then
    echo "$failures failed" >&2
    exit 1
fi
echo "replay: all passed"
