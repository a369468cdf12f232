#!/bin/sh
# SPDX-License-Identifier: MIT
# Scenarios whose maintenance runs on hvfleet's planner (scheduler: hvfleet): hvfleet simulate,
# replay and plan maintenance accept them; bad values give FILE:LINE and exit 2.
# usage: sched.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: sched.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: sched.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
HV="$SRC/scenarios/2017-maintenance-hvfleet.yaml"

"$HVFLEET" simulate "$HV" --out "$tmp/o" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "simulate: exit non-zero: $(cat "$tmp/err")"
grep -q "^  hosts maintained     30," "$tmp/out" || fail "simulate: not 30 hosts: $(cat "$tmp/out")"
grep -q "; 0 hosts over 100%" "$tmp/out" || fail "simulate: over-commitment: $(cat "$tmp/out")"
grep -q '"scheduler": "hvfleet"' "$tmp/o/summary.json" || fail "summary.json: scheduler"
grep -q '"type":"maintenance_plan",.*verdict needs-approval' "$tmp/o/events.jsonl" ||
    fail "events.jsonl: no maintenance_plan event"
grep -q '"type":"approval_requested","detail":"plan [0-9a-f]* needs approval; a person' \
    "$tmp/o/events.jsonl" || fail "events.jsonl: no approval requested"
grep -q '"type":"decision","detail":"plan [0-9a-f]* approved by a person' \
    "$tmp/o/events.jsonl" || fail "events.jsonl: no decision"
# nothing moves before the person approves: the decision comes before the first migration
awk '/"type":"decision"/ { d = NR } /"type":"migration_start"/ && !m { m = NR }
     END { exit !(d && m && d < m) }' "$tmp/o/events.jsonl" ||
    fail "events.jsonl: a migration before the approval"
grep -q '"type":"migration_start".*"claim":false' "$tmp/o/events.jsonl" &&
    fail "a migration without a claim"

"$HVFLEET" replay "$SRC/scenarios/2017-maintenance-storm.replay.yaml" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "replay: exit non-zero: $(cat "$tmp/err")"
# the approval is a person's decision, after the plan: never "+0 s"
grep -q "^  decision  *never  *+[1-9][0-9]*m" "$tmp/out" ||
    fail "replay: decision row: $(cat "$tmp/out")"
grep -q "^  VMs down (distinct)  *[1-9][0-9]*  *0$" "$tmp/out" || fail "replay: VMs down row"
grep -q "^  hosts over-committed  *[1-9][0-9]*  *0$" "$tmp/out" || fail "replay: over-committed row"
grep -q "^  hosts maintained  *[0-9]*  *30$" "$tmp/out" || fail "replay: hosts maintained row"

# plan maintenance on such a scenario uses its hosts and its policy (3 hosts at once)
"$HVFLEET" plan maintenance --scenario "$HV" --no-compare >"$tmp/out" 2>"$tmp/err"
[ $? -eq 0 ] || fail "plan maintenance: exit non-zero: $(cat "$tmp/err")"
grep -q "for 30 hosts, .* up to 3 hosts out of service at once" "$tmp/out" ||
    fail "plan maintenance: not the scenario's policy: $(cat "$tmp/out")"

# bad values: one FILE:LINE line each, exit 2, for simulate and for a replay naming them
cp "$SRC/scenarios/2017-fleet.yaml" "$tmp/"
bad() { # NAME MAINTENANCE-LINES EXPECTED
    {
        printf 'name: %s\ninventory: 2017-fleet.yaml\nduration: 2h\nmaintenance:\n' "$1"
        printf '%s\n' "$2"
    } >"$tmp/$1.yaml"
    "$HVFLEET" simulate "$tmp/$1.yaml" --out "$tmp/bad-$1" >"$tmp/out" 2>"$tmp/err"
    [ $? -eq 2 ] || fail "$1: simulate exit not 2"
    grep -q "$3" "$tmp/err" || fail "$1: no '$3' in: $(cat "$tmp/err")"
    [ -e "$tmp/bad-$1" ] && fail "$1: simulate wrote output"
    printf 'schema: hvfleet.replay/v1\nname: r\nseed: "000"\ntitle: t\nvariants:\n  - {label: a, scenario: %s.yaml}\n' \
        "$1" >"$tmp/r-$1.yaml"
    "$HVFLEET" replay "$tmp/r-$1.yaml" --out "$tmp/bad-r-$1" >"$tmp/out" 2>"$tmp/err"
    [ $? -eq 2 ] || fail "$1: replay exit not 2"
    grep -q "$3" "$tmp/err" || fail "$1: replay: no '$3' in: $(cat "$tmp/err")"
    grep -q "r-$1.yaml:6: variants\[0\].scenario: '$1.yaml'" "$tmp/err" ||
        fail "$1: replay: no line for the variant: $(cat "$tmp/err")"
}
bad unknown "  scheduler: clever
  hosts: all" "unknown.yaml:5: maintenance.scheduler: 'clever': expected one of naive | hvfleet"
bad nofile "  scheduler: hvfleet
  hosts: all
  policy: missing-policy.yaml" "nofile.yaml:7: maintenance.policy: 'missing-policy.yaml': cannot open"
bad field "  scheduler: hvfleet
  hosts: all
  policy:
    max_parallel_hosts: lots" "field.yaml:8: maintenance.policy.max_parallel_hosts: 'lots': "
printf 'schema: hvfleet.policy/v1\nheadroom: plenty\n' >"$tmp/p.yaml"
bad filefield "  scheduler: hvfleet
  hosts: all
  policy: p.yaml" "p.yaml:2: headroom: 'plenty': "
bad naiveonly "  scheduler: hvfleet
  hosts: all
  window: 1m" "naiveonly.yaml:7: maintenance.window: '1m': expected only with scheduler: naive"

if [ "$failures" -ne 0 ]; then
    echo "$failures failed" >&2
    exit 1
fi
echo "sched: all passed"
