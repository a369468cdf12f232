#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet simulate: a run's work is bounded before it starts (duration, samples x hosts), refused
# with the field, its value and the limit in one FILE:LINE line, exit 2, nothing written.
. "$2/tests/cli/plan-lib.sh"

cat >"$TMP/inv.yaml" <<'YAML'
hosts:
  - {name: a1, zone: z1, rack: r01, cpus: 32, memory: 256GiB}
  - {name: a2, zone: z1, rack: r01, cpus: 32, memory: 256GiB}
vms:
  - {name: v1, host: a1, vcpus: 2, memory: 4GiB}
YAML

# scn NAME DURATION [METRICS_INTERVAL]: a scenario file.
scn() {
    printf 'name: %s\ninventory: inv.yaml\nduration: %s\n' "$1" "$2" >"$TMP/$1.yaml"
    [ $# -lt 3 ] || printf 'metrics_interval: %s\n' "$3" >>"$TMP/$1.yaml"
}

scn century 36500d
run 2 simulate "$TMP/century.yaml" --out "$TMP/o1" -q
has err "century.yaml:3: duration: '36500d': expected at most 366d (a year and a day), the twin's limit on one run"
[ ! -e "$TMP/o1" ] || { echo "FAIL: a refused run wrote $TMP/o1"; failures=$((failures + 1)); }
scn hours 1000000h
run 2 simulate "$TMP/hours.yaml" --out "$TMP/o2" -q
has err "hours.yaml:3: duration: '1000000h': expected at most 366d"

# metrics_interval: the samples bound names the interval that would fit.
scn fine 1d 1us
run 2 simulate "$TMP/fine.yaml" --out "$TMP/o3" -q
has err "fine.yaml:4: metrics_interval: '1us': 86400000001 samples of 2 hosts (172800000002 host samples); expected at most 1000000 samples and 20000000 host samples (samples x hosts), e.g. a metrics_interval of at least 87 ms"
finish
