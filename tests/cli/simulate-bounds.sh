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

# Metrics are streamed, not held: 8641 samples of 100 or of 400 hosts cost about the same memory
# (held in memory, the 300 more hosts' samples alone took 300 x 8641 x 32 bytes = 83 MB).
# Peak RSS of the child alone (wait4), in KiB.
rss() {
    python3 - "$HVFLEET" "$@" <<'PY'
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
print(ru.ru_maxrss if os.waitstatus_to_exitcode(status) == 0 else -1)
PY
}
for n in 100 400; do
    run 0 inventory generate --hosts $n --vms-per-host 2 --seed 1 -o "$TMP/f$n.yaml"
    printf 'name: m%s\ninventory: f%s.yaml\nduration: 24h\nmetrics_interval: 10s\n' $n $n >"$TMP/m$n.yaml"
done
small=$(rss simulate "$TMP/m100.yaml" --out "$TMP/m100" -q)
large=$(rss simulate "$TMP/m400.yaml" --out "$TMP/m400" -q)
rows=$(wc -l <"$TMP/m400/metrics-fleet.csv")
[ "$rows" -eq 8642 ] || { echo "FAIL: metrics-fleet.csv has $rows lines, want 8642"; failures=$((failures + 1)); }
rows=$(wc -l <"$TMP/m400/metrics-hosts.csv")
[ "$rows" -eq $((12 * 8641 + 1)) ] || { echo "FAIL: metrics-hosts.csv has $rows lines"; failures=$((failures + 1)); }
echo "peak RSS: 100 hosts $small KiB, 400 hosts $large KiB"
if [ "$small" -lt 0 ] || [ "$large" -lt 0 ] || [ $((large - small)) -gt 30000 ]; then
    echo "FAIL: 300 more hosts cost $((large - small)) KiB more (want < 30000: metrics streamed)"
    failures=$((failures + 1))
fi
finish
