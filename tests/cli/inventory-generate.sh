#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI tests of 'hvfleet inventory generate'.
# usage: inventory-generate.sh HVFLEET SRCDIR basic|errors|hinfo
# 'hinfo' feeds --format ganeti output to Ganeti's hinfo and hroller (ganeti-htools-3.0) and
# exits 77 (skipped) when they are not installed.
set -u
HVFLEET=$1
PART=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/hvf-generate.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

expect_status() { # WANT CMD...: stdout in $T/out, stderr in $T/err
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
    grep -q -- "$2" "$1" || { fail "$3: no '$2' in:"; head -c 2000 "$1" >&2; }
}

part_basic() {
    gen="$HVFLEET inventory generate --hosts 60 --vms-per-host 12 --zones 2 --racks-per-zone 3"
    expect_status 0 $gen --seed 7 -o "$T/a.yaml" || return
    expect_grep "$T/err" "^generated 60 hosts in 2 zones and 6 racks, 720 VMs" "summary"
    expect_status 0 "$HVFLEET" inventory check --json "$T/a.yaml" || return
    expect_grep "$T/out" '"valid": true' "check"
    expect_grep "$T/out" '"hosts": 60,' "hosts"
    expect_grep "$T/out" '"vms": 720,' "vms"
    expect_grep "$T/out" '"services": 4,' "services"
    [ "$(grep -c '"rack":' "$T/out")" -eq 6 ] || fail "expected 6 racks"
    # same seed, same bytes (file or stdout); another seed, another fleet
    expect_status 0 $gen --seed 7 && cmp -s "$T/out" "$T/a.yaml" || fail "seed 7 twice differs"
    expect_status 0 $gen --seed 8 -o "$T/b.yaml" && cmp -s "$T/a.yaml" "$T/b.yaml" &&
        fail "seeds 7 and 8 gave the same fleet"
    expect_status 0 $gen --seed 7 -o "$T/c.yaml" --json || return
    expect_grep "$T/out" '"schema": "hvfleet.generate-summary/v1"' "json summary"
    expect_grep "$T/out" '"vms": 720,' "json vms"
    cmp -s "$T/a.yaml" "$T/c.yaml" || fail "--json changed the fleet"
    expect_status 0 "$HVFLEET" inventory generate --help && expect_grep "$T/out" "usage:" "help"
    # options the brief names, with units
    expect_status 0 "$HVFLEET" inventory generate --hosts 3 --vms-per-host 4 --host-memory 64GiB \
        --host-cpus 16 -o "$T/d.yaml" || return
    expect_grep "$T/d.yaml" "cpus: 16, memory: 64GiB" "host size"
    expect_status 0 "$HVFLEET" inventory check "$T/d.yaml"
    # a large fleet is quick (timed by bench/, not here) and still valid YAML when re-read
    expect_status 0 "$HVFLEET" inventory generate --hosts 2000 --vms-per-host 20 -o "$T/big.yaml"
    [ "$(grep -c '^  - {name: ' "$T/big.yaml")" -eq $((2000 + 40000 + 4)) ] ||
        fail "expected 2000 hosts, 40000 VMs and 4 services"
}

# bad ARGS...: exit 2, one line on stderr, nothing written to $T/bad.yaml
bad() {
    rm -f "$T/bad.yaml"
    expect_status 2 "$HVFLEET" inventory generate "$@" -o "$T/bad.yaml" || return
    [ "$(wc -l <"$T/err")" -eq 1 ] || { fail "'$*': expected one line, got:"; cat "$T/err" >&2; }
    [ ! -e "$T/bad.yaml" ] || fail "'$*' wrote a file"
}

part_errors() {
    bad --hosts 0 --vms-per-host 2 && expect_grep "$T/err" "hosts '0': expected 1 to" "zero hosts"
    bad --hosts -4 --vms-per-host 2 && expect_grep "$T/err" "\-\-hosts '-4': expected a whole number" "negative"
    bad --hosts ten --vms-per-host 2 && expect_grep "$T/err" "\-\-hosts 'ten'" "non-numeric"
    bad --hosts 4 --vms-per-host 2x
    bad --hosts 4 --vms-per-host 600 && expect_grep "$T/err" "vms-per-host '600': does not fit" "too many VMs"
    bad --hosts 4 --vms-per-host 20 --host-cpus 4 && expect_grep "$T/err" "does not fit" "too few CPUs"
    bad --hosts 4 --vms-per-host 2 --zones 0
    bad --hosts 4 --vms-per-host 2 --zones 5
    bad --hosts 4 --vms-per-host 2 --racks-per-zone 5
    bad --hosts 4 --vms-per-host 2 --host-memory 12 && expect_grep "$T/err" "host-memory '12MiB'" "tiny host"
    bad --hosts 4 --vms-per-host 2 --host-memory 5parsecs
    bad --hosts 4 --vms-per-host 2 --seed -1
    bad --hosts 4 --vms-per-host 2 --format xml
    bad --hosts 4 --vms-per-host 2 --frobnicate
    bad --hosts 4
    bad --hosts 4 --vms-per-host 2 stray
    bad --hosts 4 --vms-per-host
}

find_htool() { # NAME
    for d in "${HTOOLS_DIR:-}" /usr/lib/ganeti/3.0/usr/bin; do
        [ -n "$d" ] && [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    command -v "$1" 2>/dev/null
}

part_hinfo() {
    HINFO=$(find_htool hinfo) || { echo "hinfo not installed: skipped"; exit 77; }
    expect_status 0 "$HVFLEET" inventory generate --hosts 40 --vms-per-host 10 --zones 2 \
        --format ganeti -o "$T/g.data" || return
    "$HINFO" -t "$T/g.data" >"$T/hinfo.out" 2>&1 || { fail "hinfo failed:"; cat "$T/hinfo.out" >&2; }
    expect_grep "$T/hinfo.out" "Loaded 40 nodes, 400 instances, 2 node groups" "hinfo counts"
    grep -q "inconsistent data" "$T/hinfo.out" && fail "hinfo: inconsistent data"
    HROLLER=$(find_htool hroller)
    if [ -n "$HROLLER" ]; then
        "$HROLLER" -t "$T/g.data" --ignore-non-redundant >"$T/hroller.out" 2>&1 ||
            { fail "hroller failed:"; cat "$T/hroller.out" >&2; }
        expect_grep "$T/hroller.out" "Node Reboot Groups" "hroller"
    fi
    # and the ganeti form imports back to the same hosts and VMs
    expect_status 0 "$HVFLEET" inventory import ganeti "$T/g.data" -o "$T/g.yaml" || return
    expect_status 0 "$HVFLEET" inventory check --json "$T/g.yaml" && expect_grep "$T/out" '"vms": 400,' "re-import"
}

case $PART in
basic) part_basic ;;
errors) part_errors ;;
hinfo) part_hinfo ;;
*) echo "unknown part '$PART'" >&2; exit 2 ;;
esac
[ "$failures" -eq 0 ] || exit 1
echo "ok: $PART"
