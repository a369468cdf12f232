#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet plan show / plan diff on plans the planner made (examples/cluster.data imported:
# a fleet with plain-disk VMs, so plans hold stops as well as migrations).
# usage: plan-show-diff.sh HVFLEET SRCDIR
. "$2/tests/cli/plan-lib.sh"

run 0 inventory import ganeti "$SRC/examples/cluster.data" -o "$TMP/c.yaml"
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all --no-compare -o "$TMP/a.json"
run 0 plan drain node03 --inventory "$TMP/c.yaml" -o "$TMP/d.json"

# show: every migration and stop of the plan under the host it leaves, each exactly once.
run 0 plan show "$TMP/a.json" --json
python3 - "$TMP/out" "$TMP/a.json" <<'EOF' || failures=$((failures + 1))
import json, sys
show = json.load(open(sys.argv[1]))
plan = json.load(open(sys.argv[2]))
assert show["plan_hash"] == plan["summary"]["plan_hash"] and show["hash_ok"], show
got = sorted((h["host"], v["vm"], v["action"], v["to"], v["start_s"])
             for h in show["hosts"] for v in h["vms"])
want = sorted([(m["from"], m["vm"], "migrate", m["to"], m["start_s"]) for m in plan["migrations"]] +
              [(s["host"], s["vm"], "stop", s["start_host"], s["stop_s"]) for s in plan["stops"]])
assert got == want, (got, want)
assert plan["stops"], "the example cluster's plain-disk VMs should be stopped, not migrated"
hosts = {h["host"]: h for h in show["hosts"]}
for h in plan["hosts"]:
    assert hosts[h["host"]]["maintenance_end_s"] == h["maintenance_end_s"], h
EOF
run 0 plan show "$TMP/a.json"
first_host=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hosts"][0]["host"])' "$TMP/a.json")
has out "host $first_host: evacuated +0s"
has out "stopped"
first_vm=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["migrations"][0]["vm"])' "$TMP/a.json")
has out "$first_vm"
run 0 plan show "$TMP/d.json" --host node03
has out "host node03: evacuated"
run 2 plan show "$TMP/d.json" --host nosuch
has err "--host 'nosuch': no such host"
lines err 1

# diff: a plan against itself and against the same planning run again is the same (exit 0).
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all --no-compare -o "$TMP/a2.json"
run 0 plan diff "$TMP/a.json" "$TMP/a2.json"
has out "the plans are the same"
# One migration moved elsewhere and one removed: exactly those, exit 1 (as diff).
python3 - "$TMP/a.json" "$TMP/b.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["migrations"][0]["to"] = "node06" if p["migrations"][0]["to"] != "node06" else "node05"
del p["migrations"][-1]
p["summary"]["migrations"] -= 1
json.dump(p, open(sys.argv[2], "w"), indent=2)
EOF
run 1 plan diff "$TMP/a.json" "$TMP/b.json" --json
python3 - "$TMP/out" "$TMP/a.json" <<'EOF' || failures=$((failures + 1))
import json, sys
d = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))
assert d["same"] is False and d["added"] == [], d
assert [c["kind"] for c in d["changed"]] == ["migration"], d["changed"]
assert d["changed"][0]["key"].split("#")[0] == p["migrations"][0]["vm"], d["changed"]
assert [r["kind"] for r in d["removed"]] == ["migration"], d["removed"]
EOF
run 1 plan diff --stat "$TMP/a.json" "$TMP/b.json"
has out "migrations: 0 added, 1 removed, 1 changed"
# B to A: what was removed is added.
run 1 plan diff "$TMP/b.json" "$TMP/a.json"
has out "migrations: 1 added, 0 removed, 1 changed"
# A drain of one host against the maintenance of all: hosts removed.
run 1 plan diff --stat "$TMP/a.json" "$TMP/d.json"
has out "hosts: 0 added, 5 removed, 1 changed"

# Bad input: exit 2 with one line.
run 2 plan diff "$TMP/a.json"
has err "expected two plans"
run 2 plan show
lines err 1
run 2 plan diff "$TMP/a.json" "$TMP/nosuch.json"
run 2 plan show "$SRC/scenarios/2019-firewall-limit.change.yaml"
run 0 plan change --inventory "$SRC/scenarios/2019-fleet.yaml" \
    --change "$SRC/scenarios/2019-firewall-limit.change.yaml" -o "$TMP/ch.json"
run 2 plan show "$TMP/ch.json"
has err "is a change plan"
finish
