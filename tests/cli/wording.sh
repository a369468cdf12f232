#!/bin/sh
# SPDX-License-Identifier: MIT
# What a new user reads (issue 9, items 9 and 15): counts in the singular, rates echoed in the
# unit given, place naming the rejected hosts, plan maintenance saying which VMs cannot
# live-migrate at all.
# usage: wording.sh HVFLEET SRCDIR
. "$2/tests/cli/plan-lib.sh"

# "1 zones", "1 racks", "valid: 1 hosts"
run 0 inventory generate --hosts 1 --zones 1 --racks-per-zone 1 --vms-per-host 1 --seed 1 \
    -o "$TMP/one.yaml"
has err "generated 1 host in 1 zone and 1 rack, 1 VM ("
run 0 inventory check "$TMP/one.yaml"
has out "inventory is valid: 1 host, 1 VM, "
run 0 place --inventory "$TMP/one.yaml" --vcpus 1 --memory 1GiB
has out "1 host examined: 1 candidate, 0 rejected"
run 0 inventory generate --hosts 4 --zones 2 --racks-per-zone 2 --vms-per-host 1 --seed 1 \
    -o "$TMP/two.yaml"
has err "generated 4 hosts in 2 zones and 4 racks, 4 VMs ("

# estimate echoes sizes and rates in the units given, not converted to MB/s.
run 0 estimate --memory 16GiB --dirty-rate 200MiB/s --bandwidth 10Gbit --working-set 4GiB
has out "migration of 16 GiB, dirtying 200 MiB/s within 4 GiB, at 10 Gbit (final copy 10 Gbit)"
run 0 estimate --memory 2GiB --dirty-rate 50MB/s --bandwidth 1Gbit --link-speed 25Gbit
has out "dirtying 50 MB/s, at 1 Gbit (final copy 25 Gbit)"

# place names the closest rejected hosts with their reasons; when few hosts are rejected,
# every one of them, matching the counts per filter.
run 0 place --inventory "$SRC/examples/small.yaml" --vcpus 4 --memory 16GiB --service monitoring --json
python3 - "$TMP/out" <<'PY' || failures=$((failures + 1))
import json, sys, collections
r = json.load(open(sys.argv[1]))
near = r["closest_rejected"]
nrej = r["examined"] - r["candidates"]
assert 0 < nrej <= 5 and len(near) == nrej, (nrej, near)
assert r["host"] not in [n["host"] for n in near], r
counts = collections.Counter(n["reason"] for n in near)
assert counts == {k: v for k, v in r["rejected"].items() if v}, (counts, r["rejected"])
PY
run 0 place --inventory "$SRC/examples/small.yaml" --vcpus 4 --memory 16GiB --service monitoring
has out "closest rejected hosts:"
python3 - "$TMP/out" "$SRC/examples/small.yaml" <<'PY' || failures=$((failures + 1))
import sys
out = open(sys.argv[1]).read().split("closest rejected hosts:\n")[1].splitlines()
assert out and all(l.split()[0].startswith("kvm") for l in out), out
PY
# Nothing fits: at most 5 named, those with the most memory first.
run 0 inventory generate --hosts 40 --vms-per-host 5 --seed 3 -o "$TMP/g.yaml"
run 1 place --inventory "$TMP/g.yaml" --vcpus 2 --memory 4TiB --json
python3 - "$TMP/out" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
near = r["closest_rejected"]
assert r["host"] is None and len(near) == 5, r
mem = [n["available_mib"] for n in near if n["reason"] == "memory"]
assert mem == sorted(mem, reverse=True) and len(mem) == 5, near
assert "needed" in near[0]["detail"], near[0]
PY

# plan maintenance on the imported Ganeti example: plain-disk instances are not live-migratable
# (migratable: false), which the verdict says, not that they "do not converge".
run 0 inventory import ganeti "$SRC/examples/cluster.data" -o "$TMP/c.yaml"
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all --json
python3 - "$TMP/out" "$TMP/c.yaml" <<'PY' || failures=$((failures + 1))
import json, re, sys
r = json.load(open(sys.argv[1]))
fixed = sorted(re.findall(r"name: ([\w.-]+), host: [\w.-]+, .*migratable: false", open(sys.argv[2]).read()))
assert fixed, "the example should hold VMs that cannot live-migrate"
assert sorted(r["not_live_migratable"]) == fixed, (r["not_live_migratable"], fixed)
reasons = r["plan"]["summary"]["seatbelt"]["reasons"]
assert any("not live-migratable" in x for x in reasons), reasons
assert not any("converge" in x and any(v in x for v in fixed) for x in reasons), reasons
PY
run 0 plan maintenance --inventory "$TMP/c.yaml" --hosts all
has out "not live-migratable (migratable: false"
has out "VMs that cannot live-migrate (migratable: false): 2"
finish
