#!/bin/sh
# SPDX-License-Identifier: MIT
# plan maintenance --hosts SEL: racks per zone (rack:ZONE/RACK, an ambiguous rack:RACK refused
# with its candidates), union, intersection (+), exclusion (!), and bad input, exit 2.
. "$2/tests/cli/plan-lib.sh"

cat >"$TMP/inv.yaml" <<'YAML'
hosts:
  - {name: a1, zone: z1, rack: r01, cpus: 32, memory: 256GiB, tags: [gpu]}
  - {name: a2, zone: z1, rack: r01, cpus: 32, memory: 256GiB}
  - {name: a3, zone: z1, rack: r02, cpus: 32, memory: 256GiB}
  - {name: b1, zone: z2, rack: r01, cpus: 32, memory: 256GiB, tags: [gpu]}
  - {name: b2, zone: z2, rack: r01, cpus: 32, memory: 256GiB}
  - {name: b3, zone: z2, rack: r02, cpus: 32, memory: 256GiB}
vms:
  - {name: v1, host: a1, vcpus: 2, memory: 4GiB}
  - {name: v2, host: b1, vcpus: 2, memory: 4GiB}
YAML

# planned: SEL EXPECTED-HOSTS: the plan written for --hosts SEL covers exactly those hosts.
planned() {
    rm -f "$TMP/p.json"
    run 0 plan maintenance --inventory "$TMP/inv.yaml" --hosts "$1" --no-compare -o "$TMP/p.json"
    got=$(python3 -c 'import json,sys; print(" ".join(sorted(h["host"] for h in json.load(open(sys.argv[1]))["hosts"])))' "$TMP/p.json")
    if [ "$got" != "$2" ]; then
        echo "FAIL: --hosts '$1' planned '$got', want '$2'" >&2
        failures=$((failures + 1))
    fi
}

# refused: SEL TEXT: exit 2, one line on stderr containing TEXT.
refused() {
    run 2 plan maintenance --inventory "$TMP/inv.yaml" --hosts "$1" --no-compare
    has err "$2"
    lines err 1
}

planned rack:z1/r01 "a1 a2"
refused rack:r01 "hvfleet: --hosts 'rack:r01': rack 'r01' is in 2 zones (racks are per zone); expected one of rack:z1/r01, rack:z2/r01"
planned zone:z1,rack:z2/r01 "a1 a2 a3 b1 b2"
planned zone:z1+tag:gpu "a1"
planned 'all,!tag:gpu' "a2 a3 b2 b3"
planned 'zone:z1,!rack:z1/r02' "a1 a2"
planned '!zone:z2' "a1 a2 a3"
refused zone:z9 "'zone:z9': no zone 'z9' in the inventory; expected one of z1, z2"
refused rack:z1/r09 "'rack:z1/r09': zone 'z1' has no rack 'r09'; expected one of z1/r01, z1/r02"
refused 'zone:z1,,a1' "item 2 is empty: expected a selector between the commas"
refused 'zone:z1,' "item 2 is empty"
refused 'all,!' "item 2 is '!' alone"
refused 'zone:' "expected zone:ZONE"
refused 'host:a1' "expected all, a host name, rack:[ZONE/]RACK, zone:Z or tag:T"
refused 'all,!all' "selects no host"

finish
