#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet place: answers, reasons, JSON, exit statuses and bad input.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/examples/small.yaml

run 0 place --help
has out "usage: hvfleet place"

run 0 place --inventory "$INV" --vm-spec new1:4:8GiB
has out "new1 (4 vCPUs, 8 GiB): kvm02 (zone par6, rack r2)"
has out "3 hosts examined: 2 candidates, 1 rejected"
has out "1  state"

# web has replicas on kvm01 and kvm02 (spread: host); kvm03 is in maintenance.
run 1 place --inventory "$INV" --vm-spec web3:2:4GiB:web
has out "web3 (2 vCPUs, 4 GiB, service web): fits nowhere"
has out "2  spread"

run 0 place --inventory "$INV" --vcpus 2 --memory 4GiB --service monitoring --json
has out '"schema": "hvfleet.placement/v1"'
has out '"host": "kvm02"'
has out '"spread": 1'

run 1 place --inventory "$INV" --vcpus 2 --memory 2TiB --json
has out '"host": null'
has out '"memory": 2'

# Headroom from a policy pushes the big VM off the hosts.
cat >"$TMP/policy.yaml" <<'P'
headroom: 400GiB
P
run 0 place --inventory "$INV" --vcpus 2 --memory 200GiB
run 1 place --inventory "$INV" --vcpus 2 --memory 200GiB --policy "$TMP/policy.yaml"

# Bad input: one line, exit 2.
run 2 place --inventory "$INV" --vm-spec new1:4
has err "--vm-spec 'new1:4': expected NAME:VCPUS:MEMORY[:SERVICE]"
lines err 1
run 2 place --inventory "$INV" --vm-spec "bad name:4:8GiB"
lines err 1
run 2 place --inventory "$INV" --vm-spec new1:0:8GiB
has err "vcpus '0'"
run 2 place --inventory "$INV" --vm-spec new1:2:lots
has err "memory 'lots'"
run 2 place --inventory "$INV" --vm-spec new1:2:8GiB:nosuch
has err "service 'nosuch' is not in"
run 2 place --vm-spec new1:2:8GiB
has err "--inventory FILE is required"
run 2 place --inventory "$INV"
has err "give either --vm-spec"
run 2 place --inventory "$INV" --vm-spec a:1:1GiB --vcpus 2
run 2 place --inventory "$INV" --vm-spec a:1:1GiB --frobnicate
has err "unknown option '--frobnicate'"
run 2 place --inventory "$TMP/missing.yaml" --vm-spec a:1:1GiB
has err "cannot open"
printf 'max_parallel_hosts: many\n' >"$TMP/bad-policy.yaml"
run 2 place --inventory "$INV" --vm-spec a:1:1GiB --policy "$TMP/bad-policy.yaml"
has err "bad-policy.yaml:1: max_parallel_hosts: 'many'"
finish
