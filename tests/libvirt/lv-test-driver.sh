#!/bin/sh
# SPDX-License-Identifier: MIT
# The libvirt driver and `inventory discover` against libvirt's test driver (test:///FILE: a host
# from an XML file, fresh in each process; no migration): discovery, merge, lifecycle, facts and
# the error paths. Usage: lv-test-driver.sh HVFLEET LV_DRIVE
set -u
HVFLEET=$1
DRIVE=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-lvtest.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# two hosts: lv1 runs web-lv1 and db-lv1; lv2 runs web-lv2 and has spare defined, shut off
for h in lv1 lv2; do
    spare=""
    [ $h = lv2 ] && spare='<domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>spare</name><memory unit="MiB">256</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <test:runstate>5</test:runstate></domain>'
    db=""
    [ $h = lv1 ] && db='<domain type="test"><name>db-lv1</name><memory unit="MiB">1024</memory>
    <vcpu>2</vcpu><os><type>hvm</type></os></domain>'
    cat > "$T/$h.xml" <<EOF
<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
    <active>4</active><mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>8388608</memory>
  <domain type="test"><name>web-$h</name><memory unit="MiB">512</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os></domain>
  $db
  $spare
</node>
EOF
done

# ---- discovery ----
"$HVFLEET" inventory discover --libvirt-template "test://$T/{host}.xml" --hosts lv1,lv2 \
    -o "$T/fleet.yaml" 2> "$T/err" || fail "discover: $(cat "$T/err")"
grep -q "discovered 2 hosts, 3 running domains" "$T/err" || fail "summary: $(cat "$T/err")"
"$HVFLEET" inventory check "$T/fleet.yaml" > /dev/null || fail "the discovered inventory is valid"
grep -q "name: lv1, .*cpus: 4, memory: 8GiB.*libvirt_uri: \"test://$T/lv1.xml\"" "$T/fleet.yaml" ||
    fail "lv1's facts: $(cat "$T/fleet.yaml")"
grep -q "name: db-lv1, host: lv1, vcpus: 2, memory: 1GiB" "$T/fleet.yaml" || fail "db-lv1"
grep -q "spare" "$T/fleet.yaml" && fail "a shut-off domain is not running: not discovered"
# the same hosts, the same inventory
"$HVFLEET" inventory discover --libvirt-template "test://$T/{host}.xml" --hosts lv1,lv2 \
    2> /dev/null | cmp -s - "$T/fleet.yaml" || fail "discovery is deterministic"

# test:///default, libvirt's built-in host: its facts and its one running domain, as libvirt
# says them (16 CPUs, a domain of 8 GiB on a host of 3: the check names the over-commitment)
"$HVFLEET" inventory discover --libvirt test:///default -o "$T/default.yaml" 2> "$T/err" ||
    fail "discover test:///default: $(cat "$T/err")"
grep -q "cpus: 16, memory: 3GiB.*libvirt_uri: \"test:///default\"" "$T/default.yaml" ||
    fail "test:///default's facts: $(cat "$T/default.yaml")"
grep -q "name: test, host: .*vcpus: 2, memory: 8GiB" "$T/default.yaml" ||
    fail "test:///default's domain: $(cat "$T/default.yaml")"
"$HVFLEET" inventory check "$T/default.yaml" > /dev/null 2> "$T/err"
grep -q "memory: '8GiB used by VMs': expected at most the 3GiB usable" "$T/err" ||
    fail "the check names the over-commitment: $(cat "$T/err")"

# --merge keeps what hosts can't tell: zone, rack, service, a VM running nowhere
cat > "$T/old.yaml" <<EOF
schema: hvfleet.inventory/v1
hosts:
  - {name: lv1, zone: z1, rack: r7, cpus: 2, memory: 4GiB, tags: [ssd]}
  - {name: lv2, zone: z2, rack: r1, cpus: 2, memory: 4GiB}
services:
  - {name: web, min_available: 1}
vms:
  - {name: web-lv1, host: lv2, vcpus: 1, memory: 256MiB, service: web, dirty_rate: 3MiB/s}
  - {name: old, host: lv2, vcpus: 1, memory: 128MiB}
EOF
"$HVFLEET" inventory discover --libvirt-template "test://$T/{host}.xml" --hosts lv1,lv2 \
    --merge "$T/old.yaml" -o "$T/merged.yaml" 2> "$T/err" || fail "merge: $(cat "$T/err")"
"$HVFLEET" inventory check "$T/merged.yaml" > /dev/null || fail "the merged inventory is valid"
grep -q "name: lv1, zone: z1, rack: r7, cpus: 4, memory: 8GiB.*tags: \[\"ssd\"\]" \
    "$T/merged.yaml" || fail "lv1 keeps its zone, rack and tags: $(cat "$T/merged.yaml")"
grep -q "name: web-lv1, host: lv1, .*memory: 512MiB.*service: web" "$T/merged.yaml" ||
    fail "web-lv1 found on lv1, its service kept: $(grep web-lv1 "$T/merged.yaml")"
grep -q "name: old, host: lv2" "$T/merged.yaml" || fail "a VM found nowhere is kept"
grep -q "2 hosts and 1 VM found again, 1 VM running on no discovered host" "$T/err" ||
    fail "merge summary: $(cat "$T/err")"

# bad input: a clear line, exit 2, nothing written
bad() {
    want=$1
    shift
    "$HVFLEET" inventory discover "$@" -o "$T/bad.yaml" > /dev/null 2> "$T/err"
    rc=$?
    [ $rc -eq 2 ] || fail "discover $*: exit $rc, expected 2"
    grep -q -- "$want" "$T/err" || fail "discover $*: expected '$want', got: $(cat "$T/err")"
    [ -e "$T/bad.yaml" ] && fail "discover $*: wrote a file"
    rm -f "$T/bad.yaml"
}
bad "expected at least one URI" --libvirt
bad "expected either --libvirt" --hosts lv1
bad "needs --hosts" --libvirt-template "test://$T/{host}.xml"
bad "expected {host} in it" --libvirt-template "test://$T/lv1.xml" --hosts lv1
bad "'a b' is not a host name" --libvirt-template "test://$T/{host}.xml" --hosts "a b"
bad "expected a duration from 1s to 60s" --libvirt "test://$T/lv1.xml" --measure-dirty-rate 90s
bad "libvirt URI 'qemu+unix:///system?socket=$T/none'" --libvirt "qemu+unix:///system?socket=$T/none"
bad "reach the same host" --libvirt-template "test://$T/{host}.xml" --hosts lv1,lv1
bad "unknown option '--frobnicate'" --libvirt "test://$T/lv1.xml" --frobnicate x

# ---- the driver ----
U="libvirt://$T/fleet.yaml"
"$DRIVE" "$U" list > "$T/out" 2> "$T/err" || fail "list: $(cat "$T/err")"
grep -q '{"vm":"web-lv2","on":"lv2","state":"running"}' "$T/out" || fail "list: $(cat "$T/out")"
grep -q '{"host":"lv1","state":"active","used_mib":1536}' "$T/out" || fail "lv1: $(cat "$T/out")"

# a stop, then the VM is stopped where it was (its lifecycle event or the worker's end)
"$DRIVE" "$U" stop web-lv1 > "$T/out" 2> "$T/err" || fail "stop: $(cat "$T/err")"
grep -q '"event":"vm_state","host":"lv1","vm":"web-lv1","vm_state":"stopped"' "$T/out" ||
    fail "stop event: $(cat "$T/out")"
grep -q '{"vm":"web-lv1","on":"lv1","state":"stopped"}' "$T/out" || fail "stopped: $(cat "$T/out")"
"$DRIVE" "$U" destroy db-lv1 > "$T/out" 2>&1 || fail "destroy: $(cat "$T/out")"
grep -q '{"vm":"db-lv1","on":"lv1","state":"stopped"}' "$T/out" || fail "destroyed: $(cat "$T/out")"

# a domain defined on lv2 and shut off starts on lv1: defined there from lv2's definition
cat "$T/fleet.yaml" > "$T/spare.yaml"
echo '  - {name: spare, host: lv2, vcpus: 1, memory: 256MiB}' >> "$T/spare.yaml"
"$DRIVE" "libvirt://$T/spare.yaml" start spare lv1 > "$T/out" 2> "$T/err" ||
    fail "start elsewhere: $(cat "$T/err")"
grep -q '{"vm":"spare","on":"lv1","state":"running"}' "$T/out" || fail "spare: $(cat "$T/out")"

# no migration in libvirt's test driver: the job fails, naming the host, domain and why
"$DRIVE" "$U" migrate web-lv2 lv1 > "$T/out" 2> "$T/err" || fail "migrate: $(cat "$T/err")"
grep -q '"job_end":"failed","error":"host .lv2. (test://.*): domain .web-lv2.: .*support' \
    "$T/out" || fail "a migration the driver can't do: $(grep job_end "$T/out")"
grep -q '{"vm":"web-lv2","on":"lv2","state":"running"}' "$T/out" || fail "still on lv2"

# refusals: exit 2 with the reason
refused() {
    want=$1
    shift
    "$DRIVE" "$@" > /dev/null 2> "$T/err"
    rc=$?
    [ $rc -eq 2 ] || fail "lv-drive $*: exit $rc, expected 2"
    grep -q -- "$want" "$T/err" || fail "lv-drive $*: expected '$want', got: $(cat "$T/err")"
}
refused "VM 'nosuch' is not in the libvirt driver's inventory" "$U" start nosuch lv1
refused "VM 'web-lv1' is running on host 'lv1': expected it stopped" "$U" start web-lv1 lv2
refused "target host 'lv1' is where it runs" "$U" migrate web-lv1 lv1
refused "workers '0': expected a whole number from 1 to 64" "$U?workers=0" list
refused "unknown parameter 'speed'" "$U?speed=2" list
refused "template 'x': expected {host} in it" "$U?template=x" list
sed 's/, libvirt_uri: "[^"]*"//' "$T/fleet.yaml" > "$T/nouri.yaml"
refused "host 'lv1' has no libvirt_uri, and the driver URI" "libvirt://$T/nouri.yaml" list
# the template fills in for hosts without a libvirt_uri (%XX-escaped in the driver URI)
"$DRIVE" "libvirt://$T/nouri.yaml?template=test%3A%2F%2F$T%2F%7Bhost%7D.xml" list > "$T/out" \
    2> "$T/err" || fail "template: $(cat "$T/err")"
grep -q '{"vm":"db-lv1","on":"lv1","state":"running"}' "$T/out" || fail "template: $(cat "$T/out")"

# a host whose daemon does not answer is down; the others work
sed "s|test://$T/lv2.xml|qemu+unix:///system?socket=$T/none|" "$T/fleet.yaml" > "$T/down.yaml"
"$DRIVE" "libvirt://$T/down.yaml?connect_timeout=5" list > "$T/out" 2> "$T/err" ||
    fail "one host down: $(cat "$T/err")"
grep -q '{"host":"lv2","state":"down"' "$T/out" || fail "lv2 down: $(cat "$T/out")"
grep -q "libvirt: host 'lv2' .* is down: .*none" "$T/err" || fail "why: $(cat "$T/err")"
refused "host 'lv2' (qemu+unix:///system?socket=$T/none) is not connected" \
    "libvirt://$T/down.yaml?connect_timeout=5" migrate web-lv1 lv2

[ $fails -eq 0 ] || exit 1
echo ok
