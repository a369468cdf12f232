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

# --- item 8: a refused plan is written only with --write-refused ----------------------------
SMALL=$SRC/examples/small.yaml
run 1 plan maintenance --inventory "$SMALL" --no-compare -o "$TMP/pm.json"
has err "the seatbelt refused the plan: '$TMP/pm.json' not written (--write-refused writes it"
test -e "$TMP/pm.json" && { echo "FAIL: a refused maintenance plan was written" >&2; failures=$((failures + 1)); }
run 1 plan maintenance --inventory "$SMALL" --no-compare -o "$TMP/pm.json" --write-refused
grep -q '"verdict": "refused"' "$TMP/pm.json" || { echo "FAIL: --write-refused wrote no refused plan" >&2; failures=$((failures + 1)); }
run 1 plan drain kvm01 kvm02 --inventory "$SMALL" -o "$TMP/drain.json"
test -e "$TMP/drain.json" && { echo "FAIL: a refused drain plan was written" >&2; failures=$((failures + 1)); }
AS_IT_WAS=$SRC/scenarios/2019-firewall-limit-as-it-happened.change.yaml
run 1 plan change --inventory "$INV" --change "$AS_IT_WAS" -o "$TMP/chg.json"
has err "'$TMP/chg.json' not written"
test -e "$TMP/chg.json" && { echo "FAIL: a refused change plan was written" >&2; failures=$((failures + 1)); }
run 1 plan change --inventory "$INV" --change "$AS_IT_WAS" -o "$TMP/chg.json" --write-refused
grep -q '"verdict": "refused"' "$TMP/chg.json" || { echo "FAIL: --write-refused wrote no change plan" >&2; failures=$((failures + 1)); }
printf 'window: {start: 1h}\n' >"$TMP/late.yaml"
run 1 audit --inventory "$SRC/scenarios/2002-fleet.yaml" --policy "$TMP/late.yaml" -o "$TMP/fix.json"
has err "the seatbelt refused the fix plan"
test -e "$TMP/fix.json" && { echo "FAIL: a refused fix plan was written" >&2; failures=$((failures + 1)); }
for sub in "plan maintenance" "plan drain" "plan change" "audit"; do
    run 0 $sub --help
    has out "--write-refused"
done
finish
