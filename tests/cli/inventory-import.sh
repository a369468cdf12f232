#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI tests of 'hvfleet inventory import|export ganeti'.
# usage: inventory-import.sh HVFLEET SRCDIR import|hinfo|errors
# The 'hinfo' part checks our files against Ganeti's own parser: it runs hinfo -t (Debian package
# ganeti-htools-3.0, binaries in /usr/lib/ganeti/3.0/usr/bin) on the fixture and on what
# 'inventory export ganeti' writes; it exits 77 (skipped) when hinfo is not installed.
set -u
HVFLEET=$1
SRC=$2
PART=$3
DATA=$SRC/tests/data/ganeti/small.data
T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-import.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_status WANT CMD...: runs CMD with stdout/stderr in $T/out and $T/err
expect_status() {
    want=$1
    shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "'$*' exited $got, expected $want; stderr:"
        cat "$T/err" >&2
        return 1
    fi
    return 0
}

expect_grep() { # FILE PATTERN WHAT
    grep -q -- "$2" "$1" || { fail "$3: no '$2' in:"; cat "$1" >&2; }
}

part_import() {
    expect_status 0 "$HVFLEET" inventory import ganeti "$DATA" -o "$T/inv.yaml" || return
    expect_grep "$T/err" "imported '.*small.data': 4 hosts (1 down, 0 in maintenance) in 3 zones, 8 VMs" "summary"
    expect_grep "$T/err" "note: 2 DRBD instances: each live-migrates only to its secondary node" "drbd note"
    expect_grep "$T/inv.yaml" "name: web1, host: kvm01, .*secondary: kvm02}" "drbd secondary"
    expect_status 0 "$HVFLEET" inventory check --json "$T/inv.yaml" || return
    expect_grep "$T/out" '"valid": true' "check"
    expect_grep "$T/out" '"hosts": 4,' "hosts"
    expect_grep "$T/out" '"vms": 8,' "vms"
    expect_grep "$T/out" '"services": 2,' "services"
    expect_grep "$T/out" '"memory_used_mib": 45056,' "memory used"
    [ "$(grep -c '"rack":' "$T/out")" -eq 4 ] || fail "expected 4 racks"
    [ "$(grep -c '"zone":' "$T/out")" -eq 7 ] || fail "expected 3 zones (and 4 racks naming theirs)"
    expect_grep "$T/inv.yaml" "name: kvm04, zone: lab, rack: default, .*state: down" "offline node"
    expect_grep "$T/inv.yaml" "name: db1, host: kvm01, .*migratable: false" "plain instance"
    expect_grep "$T/inv.yaml" "name: kvm03, zone: par7, rack: r1, .*cpu_allocation_ratio: 2" "ipolicy"
    # stdout and -o give the same bytes; the JSON summary needs -o
    expect_status 0 "$HVFLEET" inventory import ganeti "$DATA" && cmp -s "$T/out" "$T/inv.yaml" ||
        fail "stdout output differs from -o output"
    expect_status 0 "$HVFLEET" inventory import ganeti "$DATA" -o "$T/inv2.yaml" --json &&
        expect_grep "$T/out" '"drbd_instances": 2' "json summary"
    expect_status 2 "$HVFLEET" inventory import ganeti "$DATA" --json
    expect_status 0 "$HVFLEET" inventory import --help && expect_grep "$T/out" "usage:" "help"
    # export then import gives the same inventory for what the format carries
    expect_status 0 "$HVFLEET" inventory export ganeti "$T/inv.yaml" -o "$T/rt.data" || return
    expect_status 0 "$HVFLEET" inventory import ganeti "$T/rt.data" -o "$T/rt.yaml" || return
    grep -v '^  - {name: tick1' "$T/inv.yaml" >"$T/a"
    grep -v '^  - {name: tick1' "$T/rt.yaml" >"$T/b"
    cmp -s "$T/a" "$T/b" || { fail "round trip changed the inventory:"; diff "$T/a" "$T/b" >&2; }
}

find_hinfo() {
    for h in "${HINFO:-}" "$(command -v hinfo 2>/dev/null)" /usr/lib/ganeti/3.0/usr/bin/hinfo; do
        if [ -n "$h" ] && [ -x "$h" ]; then
            echo "$h"
            return 0
        fi
    done
    return 1
}

# hinfo_accepts FILE NODES INSTANCES GROUPS: loads without error or "inconsistent data"
hinfo_accepts() {
    "$HINFO" -t "$1" >"$T/hinfo.out" 2>&1 || { fail "hinfo -t $1 failed:"; cat "$T/hinfo.out" >&2; return; }
    expect_grep "$T/hinfo.out" "Loaded $2 nodes*, $3 instances*, $4 node groups*" "hinfo counts"
    if grep -q "inconsistent data" "$T/hinfo.out"; then
        fail "hinfo found inconsistent data in $1:"
        cat "$T/hinfo.out" >&2
    fi
}

part_hinfo() {
    HINFO=$(find_hinfo) || { echo "hinfo not installed: skipped"; exit 77; }
    # the hand-written fixture is valid Ganeti data
    hinfo_accepts "$DATA" 4 8 3
    expect_status 0 "$HVFLEET" inventory import ganeti "$DATA" -o "$T/inv.yaml" || return
    expect_status 0 "$HVFLEET" inventory export ganeti "$T/inv.yaml" -o "$T/rt.data" || return
    hinfo_accepts "$T/rt.data" 4 8 3
    expect_status 0 "$HVFLEET" inventory export ganeti "$SRC/examples/small.yaml" -o "$T/ex.data" || return
    hinfo_accepts "$T/ex.data" 3 4 2
    HROLLER=$(dirname "$HINFO")/hroller
    if [ -x "$HROLLER" ]; then
        # hroller also needs a master node, which the export names
        "$HROLLER" -t "$T/ex.data" >"$T/hroller.out" 2>&1 || { fail "hroller -t failed:"; cat "$T/hroller.out" >&2; }
        expect_grep "$T/hroller.out" "Node Reboot Groups" "hroller"
    fi
}

# bad FILE-CONTENT LINE PATTERN: import fails with exit 2, the first line names FILE:LINE
bad() {
    printf '%b' "$1" >"$T/bad.data"
    rm -f "$T/bad.yaml"
    expect_status 2 "$HVFLEET" inventory import ganeti "$T/bad.data" -o "$T/bad.yaml" || return
    head -n 1 "$T/err" | grep -q -- "^$T/bad.data:$2: $3" ||
        { fail "expected '$T/bad.data:$2: $3' first, got:"; cat "$T/err" >&2; }
    [ ! -e "$T/bad.yaml" ] || fail "a failed import wrote $T/bad.yaml"
    ls "$T" | grep -q 'bad.yaml.tmp' && fail "a failed import left a temporary file"
}

part_errors() {
    G='g1|u1|preferred||\n\n'
    N='n1|8192|512|7680|100|100|4|N|u1|1\n'
    bad '' 1 "file: '': expected groups, nodes and instances sections"
    bad "${G}n1|8192|512|7680\n\n\n" 3 "nodes: 'n1|8192|512|7680': expected at least 9 fields"
    bad "${G}${N}\ni1|1024|10|1|running|Y|n1||pla" 5 "instances: 'i1|1024|10|1|running|Y|n1||pla': expected at least 10 fields"
    bad "${G}n1|8192|512|7680|100|100|4.x|N|u1|1\n\n\n" 3 "nodes\[n1\].total_cpu: '4.x': expected a number"
    bad "${G}${N}\ni1|1O24|10|1|running|Y|n1||plain||1\n" 5 "instances\[i1\].memory: '1O24': expected a whole number of MiB"
    bad "${G}${N}\ni1|1024|10|1|running|Y|n1||plain||1\ni2|1024|10|1|running|Y|kvm9||plain||1\n" 6 "instances\[i2\].primary_node: 'kvm9': expected the name of a node"
    # every problem is reported, one line each, then one summary line
    bad "${G}n1|x|512|7680|100|100|4|N|u1|1\nn2|8192|512|7680|100|100|4|N|u9|1\n\n\n" 3 "nodes\[n1\].total_mem"
    [ "$(wc -l <"$T/err")" -eq 3 ] || { fail "expected 2 problems + 1 summary line"; cat "$T/err" >&2; }
    expect_grep "$T/err" "bad.data:4: nodes\[n2\].group_uuid: 'u9'" "second problem"
    expect_grep "$T/err" "^hvfleet: '.*bad.data' has 2 problems$" "summary line"
    # usage and files
    expect_status 2 "$HVFLEET" inventory import xen "$DATA" && expect_grep "$T/err" "format 'xen': expected ganeti" "format"
    expect_status 2 "$HVFLEET" inventory import ganeti "$T/missing.data" && expect_grep "$T/err" "cannot open" "missing file"
    expect_status 2 "$HVFLEET" inventory import ganeti && expect_grep "$T/err" "expected FORMAT and FILE" "no file"
    expect_status 2 "$HVFLEET" inventory import ganeti "$DATA" --bogus
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "a usage error should be one line"
    expect_status 2 "$HVFLEET" inventory export ganeti "$T/missing.yaml"
}

case $PART in
import) part_import ;;
hinfo) part_hinfo ;;
errors) part_errors ;;
*) echo "unknown part '$PART'" >&2; exit 2 ;;
esac
[ "$failures" -eq 0 ] || exit 1
echo "ok: $PART"
