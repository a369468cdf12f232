#!/bin/sh
# SPDX-License-Identifier: MIT
# Every command that reads a YAML or JSON file refuses the inputs that crashed libfyaml 0.7.12
# (issue 9, item 17: an unterminated quoted scalar on a long line, SIGSEGV in every command),
# their neighbours, and JSON that is not JSON (item 7): exit 2 and a FILE:LINE message naming
# the file, never a crash.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/examples/small.yaml
PLAN=$SRC/tests/fuzz/corpus/plan/sample.json

# cmd_for N FILE: the Nth command reading FILE, or nothing past the last one.
cmd_for() {
    case $1 in
    1) echo "inventory check $2" ;;
    2) echo "inventory export ganeti $2 -o $TMP/x.data" ;;
    3) echo "audit --inventory $2" ;;
    4) echo "place --inventory $2 --vcpus 1 --memory 1GiB" ;;
    5) echo "plan maintenance --inventory $2" ;;
    6) echo "plan maintenance --scenario $2" ;;
    7) echo "plan maintenance --inventory $INV --policy $2" ;;
    8) echo "plan drain kvm01 --inventory $2" ;;
    9) echo "plan check $PLAN --inventory $2" ;;
    10) echo "plan change --inventory $INV --change $2" ;;
    11) echo "simulate $2 --out $TMP/run" ;;
    12) echo "replay $2 --out $TMP/run" ;;
    13) echo "approve $2" ;;
    14) echo "plan check $2 --inventory $INV" ;;
    esac
}

k=$(printf '%01000d' 0 | tr 0 k)
b=$(printf '%01000d' 0 | tr 0 b)
printf "%s: '\n %s\n" "$k" "$b" >"$TMP/quoted.yaml"
printf '%s: "\n %s\n' "$k" "$b" >"$TMP/dquoted.yaml"
printf "{%s: '\n %s\n" "$k" "$b" >"$TMP/flow.yaml"
printf '{"%s": "\n %s\n' "$k" "$b" >"$TMP/quoted.json"
printf '{"hosts": [{"name": "kvm01", "cpus": 8, "memory": "32GiB"},]}\n' >"$TMP/comma.json"
printf '{"hosts": [{"name": "kvm01", "cpus": 8, "memory": "32GiB"},]}\n' >"$TMP/comma.yaml"

for f in quoted.yaml dquoted.yaml flow.yaml quoted.json comma.json comma.yaml; do
    n=1
    while cmd=$(cmd_for $n "$TMP/$f") && [ -n "$cmd" ]; do
        # shellcheck disable=SC2086
        run 2 $cmd
        if ! grep -q "^$TMP/$f:[0-9]*: syntax: \|^hvfleet: .*$TMP/$f" "$TMP/err"; then
            echo "FAIL: hvfleet $cmd: no FILE:LINE syntax message" >&2
            sed 's/^/  stderr: /' "$TMP/err" >&2
            failures=$((failures + 1))
        fi
        n=$((n + 1))
    done
done
finish
