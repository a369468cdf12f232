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

# --- item 1: every writer writes through links and refuses what is not a regular file --------
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
run 0 inventory generate --hosts 12 --vms-per-host 6 --seed 3 --racks-per-zone 3 -o "$TMP/fleet.yaml"
STORM=$SRC/scenarios/2017-maintenance-storm.yaml
REPLAY=$SRC/scenarios/2017-maintenance-storm.replay.yaml
# One command per writer; @ stands for the output path.
cat >"$TMP/writers" <<EOW
inventory generate --hosts 4 --vms-per-host 2 --seed 1 -o @
inventory import ganeti $SRC/tests/data/ganeti/small.data -o @
inventory export ganeti $SMALL -o @
plan maintenance --inventory $TMP/fleet.yaml --hosts rack:r02 --no-compare -o @
plan drain kvm0003 --inventory $TMP/fleet.yaml -o @
plan change --inventory $INV --change $CHANGE -o @
audit --inventory $SRC/scenarios/2002-fleet.yaml -o @
report $SRC/tests/data/report/minimal -o @
simulate $STORM --quiet --out @
replay $REPLAY --quiet --out @
EOW
n=0
while read -r line; do
    n=$((n + 1))
    fifo=$TMP/fifo$n
    mkfifo "$fifo"
    # shellcheck disable=SC2086 # word splitting of the command is wanted
    run 2 $(echo "$line" | sed "s|@|$fifo|")
    has err "'$fifo': it is a FIFO"
    lines err 1
    test -p "$fifo" || bad "$line: the FIFO was replaced"
done <"$TMP/writers"
# A symlink to a file: the file gets the output, the link stays.
printf 'old\n' >"$TMP/real.yaml"
chmod 640 "$TMP/real.yaml"
ln -s real.yaml "$TMP/link.yaml"
run 0 inventory generate --hosts 4 --vms-per-host 2 --seed 1 -o "$TMP/link.yaml"
test -L "$TMP/link.yaml" || bad "-o link replaced the link"
grep -q '^schema: hvfleet.inventory/v1' "$TMP/real.yaml" || bad "-o link did not write the target"
[ "$(stat -c %a "$TMP/real.yaml")" = 640 ] || bad "the target lost its permissions"
# A directory is refused too.
mkdir "$TMP/adir"
run 2 plan change --inventory "$INV" --change "$CHANGE" -o "$TMP/adir"
has err "it is a directory"
# /dev/null: refused and left a device (only once a FIFO is known to be refused, so that a
# binary without the fix never gets to replace it).
if test -p "$TMP/fifo1"; then
    run 2 inventory generate --hosts 4 --vms-per-host 2 --seed 1 -o /dev/null
    has err "'/dev/null': it is a character device"
    test -c /dev/null || bad "/dev/null is no longer a device"
fi

# --- item 19: run directories swapped whole, sealed with a run id that report checks ---------
run 0 simulate "$STORM" --quiet --out "$TMP/runs/a"
run 0 simulate "$STORM" --quiet --seed 8 --out "$TMP/runs/b"
grep -q '"run_id": "[0-9a-f]\{16\}"' "$TMP/runs/a/run.json" || bad "no run id in run.json"
run 0 report "$TMP/runs/a"
# events of seed 8 with the summary of seed 7: refused, not reported
cp "$TMP/runs/b/events.jsonl" "$TMP/runs/a/events.jsonl"
rm -f "$TMP/runs/a/report.html"
run 2 report "$TMP/runs/a"
has err "run directory '$TMP/runs/a' mixes runs: events.jsonl is not the file of run"
lines err 1
test -e "$TMP/runs/a/report.html" && bad "a report was written for a mixed run"
# A killed run's staging directory (its process gone) is removed by the next run, which
# replaces the mixed directory as a whole.
dead=$(sh -c 'echo $$')
mkdir "$TMP/runs/a.tmp.$dead.abcdef"
: >"$TMP/runs/a.tmp.$dead.abcdef/summary.json"
: >"$TMP/runs/a/summary.json.tmp.Xy12ab" # a temporary of an older hvfleet
run 0 simulate "$STORM" --quiet --out "$TMP/runs/a"
test -e "$TMP/runs/a.tmp.$dead.abcdef" && bad "the stale staging directory is still there"
test -e "$TMP/runs/a/summary.json.tmp.Xy12ab" && bad "the old run's temporary survived the swap"
ls "$TMP/runs" | grep -q '\.tmp\.' && bad "temporaries left: $(ls "$TMP/runs")"
run 0 report "$TMP/runs/a"
# The same input and seed give the same run id.
run 0 simulate "$STORM" --quiet --out "$TMP/runs/c"
cmp -s "$TMP/runs/a/run.json" "$TMP/runs/c/run.json" || bad "run.json differs between two identical runs"
# A directory holding something no run writes is not replaced.
mkdir "$TMP/notes"
printf 'mine\n' >"$TMP/notes/todo.txt"
run 2 simulate "$STORM" --quiet --out "$TMP/notes"
has err "holds 'todo.txt', which no run writes"
test -s "$TMP/notes/todo.txt" || bad "a user's file was removed"
# Replays: the whole OUT is one swap; each variant's run is sealed and reports.
run 0 replay "$REPLAY" --quiet --out "$TMP/rep"
run 0 replay "$REPLAY" --quiet --out "$TMP/rep"
for v in "$TMP"/rep/*/; do
    test -s "$v/run.json" || bad "replay variant $v has no run.json"
    run 0 report "$v"
done
finish
