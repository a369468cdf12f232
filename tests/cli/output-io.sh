#!/bin/sh
# SPDX-License-Identifier: MIT
# Outputs and plan files (issue 9): -o over links, devices and FIFOs; refused plans written only
# with --write-refused; run directories swapped whole and checked by report; plan files
# dispatched on their schema wherever it is.
. "$2/tests/cli/plan-lib.sh"
INV=$SRC/scenarios/2019-fleet.yaml
CHANGE=$SRC/scenarios/2019-firewall-limit.change.yaml

# --- item 21: a change plan whose schema key comes last (past the first 4 KiB) -------------
run 0 plan change --inventory "$INV" --change "$CHANGE" -o "$TMP/cp.json"
python3 - "$TMP/cp.json" "$TMP/cp-last.json" <<'PY'
import collections, json, sys
d = json.load(open(sys.argv[1]), object_pairs_hook=collections.OrderedDict)
d["schema"] = d.pop("schema")
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
[ "$(wc -c <"$TMP/cp-last.json")" -gt 4096 ] || { echo "FAIL: the test plan is under 4 KiB" >&2; failures=$((failures + 1)); }
run 1 plan check "$TMP/cp-last.json" --inventory "$INV"
has out "refused: change plan"
has out "does not match the plan's content" # key order is part of the content; read as a change plan
finish
