#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet audit end to end: findings and exit 1, the fix plan accepted by plan check, --json,
# a clean inventory (exit 0), bad input (exit 2, one line naming FILE:LINE).
# usage: audit.sh PATH-TO-hvfleet SOURCE-ROOT
set -u
HVFLEET=${1:?usage: audit.sh PATH-TO-hvfleet SOURCE-ROOT}
SRC=${2:?usage: audit.sh PATH-TO-hvfleet SOURCE-ROOT}
export LC_ALL=C
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
FLEET="$SRC/scenarios/2002-fleet.yaml"

"$HVFLEET" audit --help >"$tmp/out" 2>&1 || fail "--help exits non-zero"
grep -q "usage: hvfleet audit --inventory FILE" "$tmp/out" || fail "--help prints no usage"

"$HVFLEET" audit --inventory "$FLEET" -o "$tmp/fix.json" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "seed 002 fleet: exit not 1: $(cat "$tmp/err")"
grep -q "\[replicas\] losing host hv03 takes all 2 replicas of critical service 'monitoring'" \
    "$tmp/out" || fail "no monitoring finding: $(cat "$tmp/out")"
grep -q "\[shared_fate\] losing host hv03 stops both 'alert-relay' and 'ticketing'" "$tmp/out" ||
    fail "no shared fate finding"
grep -q "^  move mon1 (monitoring) hv03 -> " "$tmp/out" || fail "no move of mon1"
grep -q "moves cannot fix" "$tmp/out" || fail "no unfixable findings listed"
[ -s "$tmp/fix.json" ] || fail "no fix plan written"
grep -q '"kind": "rebalance"' "$tmp/fix.json" || fail "fix plan kind"
"$HVFLEET" plan check "$tmp/fix.json" --inventory "$FLEET" >"$tmp/out" 2>&1 ||
    fail "plan check refuses the fix plan: $(cat "$tmp/out")"

"$HVFLEET" audit --inventory "$FLEET" --json >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "--json: exit not 1"
grep -q '"schema": "hvfleet.audit/v1"' "$tmp/out" || fail "--json schema"
grep -q '"kind": "shared_fate"' "$tmp/out" || fail "--json findings"

cat >"$tmp/clean.yaml" <<'YAML'
schema: hvfleet.inventory/v1
services:
  - {name: db, critical: true, depends_on: [relay], must_not_share: [relay]}
  - {name: relay, critical: true}
hosts:
  - {name: a, rack: r1, cpus: 8, memory: 32GiB}
  - {name: b, rack: r2, cpus: 8, memory: 32GiB}
vms:
  - {name: db1, host: a, vcpus: 1, memory: 1GiB, service: db}
  - {name: db2, host: b, vcpus: 1, memory: 1GiB, service: db}
  - {name: r1, host: a, vcpus: 1, memory: 1GiB, service: relay}
  - {name: r2, host: b, vcpus: 1, memory: 1GiB, service: relay}
YAML
"$HVFLEET" audit --inventory "$tmp/clean.yaml" -o "$tmp/none.json" >"$tmp/out" 2>&1
[ $? -eq 0 ] || fail "clean inventory: exit not 0: $(cat "$tmp/out")"
grep -q "no findings" "$tmp/out" || fail "clean inventory: no 'no findings'"
[ -e "$tmp/none.json" ] && fail "clean inventory: a plan was written"

sed -e 's/depends_on: \[relay\]/depends_on: [nope]/' "$tmp/clean.yaml" >"$tmp/bad.yaml"
"$HVFLEET" audit --inventory "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "unknown service in depends_on: exit not 2"
grep -q "bad.yaml:3: services\[0\].depends_on\[0\]: 'nope': expected the name of a service" \
    "$tmp/err" || fail "unknown service: no FILE:LINE: $(cat "$tmp/err")"

"$HVFLEET" audit >/dev/null 2>&1
[ $? -eq 2 ] || fail "no --inventory: exit not 2"
"$HVFLEET" audit --inventory "$tmp/nowhere.yaml" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing inventory: exit not 2"
"$HVFLEET" audit --inventory "$FLEET" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option: exit not 2"
"$HVFLEET" audit --inventory "$FLEET" extra >/dev/null 2>&1
[ $? -eq 2 ] || fail "extra argument: exit not 2"
"$HVFLEET" audit --inventory "$FLEET" --policy "$tmp/nowhere.yaml" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing policy: exit not 2"
"$HVFLEET" audit --inventory "$FLEET" -o "$tmp/no/such/dir/fix.json" >/dev/null 2>&1
[ $? -eq 2 ] || fail "unwritable plan path: exit not 2"

# --daemon-config: hvfleetd's watchers that run inside the fleet they watch (seed 002)
cat >"$tmp/hvfleetd.yaml" <<'YAML'
listen: ":8470"
peers: ["http://db1.example.com:8470"]
alert_webhooks: ["https://hooks.example.com/x", "http://user@B:9093/hook"]
deadman_url: "https://hc-ping.com/abc"
reconcile_destroy: true
YAML
"$HVFLEET" audit --inventory "$tmp/clean.yaml" --daemon-config "$tmp/hvfleetd.yaml" \
    >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "--daemon-config with watchers in the fleet: exit not 1: $(cat "$tmp/err")"
grep -q "hvfleetd.yaml: 4 watchers, 2 in the fleet's fault domains" "$tmp/out" ||
    fail "--daemon-config: no count: $(cat "$tmp/out")"
grep -q "peer db1.example.com (peers, line 2) runs on VM db1, on host a (rack r1, zone default) of the fleet" \
    "$tmp/out" || fail "--daemon-config: the peer on VM db1: $(cat "$tmp/out")"
grep -q "webhook b (alert_webhooks, line 3) runs on host b (rack r2, zone default)" "$tmp/out" ||
    fail "--daemon-config: the webhook on host b: $(cat "$tmp/out")"
grep -q "hc-ping\|hooks.example" "$tmp/out" && fail "--daemon-config: an outside URL reported"
"$HVFLEET" audit --inventory "$tmp/clean.yaml" --daemon-config "$tmp/hvfleetd.yaml" --json \
    >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "--daemon-config --json: exit not 1"
grep -q '"on_vm": "db1"' "$tmp/out" || fail "--daemon-config --json: $(cat "$tmp/out")"
printf 'peers: ["http://mon.example.net:8470"]\ndeadman_url: "https://hc-ping.com/x"\n' \
    >"$tmp/outside.yaml"
"$HVFLEET" audit --inventory "$tmp/clean.yaml" --daemon-config "$tmp/outside.yaml" \
    >"$tmp/out" 2>&1
[ $? -eq 0 ] || fail "--daemon-config, watchers outside: exit not 0: $(cat "$tmp/out")"
grep -q "2 watchers, 0 in the fleet's fault domains" "$tmp/out" || fail "outside: $(cat "$tmp/out")"
printf 'threads: 4\nalert_webhooks:\n  - "http://ok.example.com/"\n  - "ftp://x/"\n' \
    >"$tmp/badd.yaml"
"$HVFLEET" audit --inventory "$tmp/clean.yaml" --daemon-config "$tmp/badd.yaml" \
    >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "--daemon-config with a bad URL: exit not 2"
grep -q "badd.yaml:4: alert_webhooks\[1\]: 'ftp://x/': expected an http:// or https:// URL" \
    "$tmp/err" || fail "--daemon-config bad URL: no FILE:LINE: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--daemon-config bad URL: not one line"
"$HVFLEET" audit --inventory "$tmp/clean.yaml" --daemon-config "$tmp/nowhere.yaml" \
    >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing daemon config: exit not 2"

if [ "$failures" -ne 0 ]; then
    echo "$failures failed" >&2
    exit 1
fi
echo "audit: all passed"
