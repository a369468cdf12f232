#!/bin/sh
# SPDX-License-Identifier: MIT
# hvfleet run from the CLI: a plan carried out with --json events and a record report renders;
# hostile or mismatched plans (edited after approval, for another fleet, truncated) refused with
# nothing changed; a frozen fleet refused; bad options and files; --status, --pause, --abort.
. "$2/tests/cli/plan-lib.sh"
INV=$TMP/fleet.yaml
OTHER=$TMP/other.yaml
PLAN=$TMP/plan.json
export USER=planner

run 0 inventory generate --hosts 8 --vms-per-host 4 --seed 5 --zones 2 --racks-per-zone 2 -o "$INV"
run 0 inventory generate --hosts 8 --vms-per-host 4 --seed 6 --zones 2 --racks-per-zone 2 -o "$OTHER"
run 0 plan maintenance --inventory "$INV" --hosts all --no-compare -o "$PLAN"
# not approved yet (when it needs approval): refused, nothing started
if grep -q '"verdict": "needs-approval"' "$PLAN"; then
    run 1 run "$PLAN" --inventory "$INV"
    has err "needs an approval"
    for w in "$TMP"/state/sim-world-*.json; do
        test ! -s "$w" || grep -q '"jobs":\[\]' "$w" ||
            { echo "FAIL: a refused run started jobs" >&2; failures=$((failures + 1)); }
    done
    run 0 approve "$PLAN" --by approver
fi

# edited after approval: its hash no longer matches its content
sed 's/"start_s": 0.0,/"start_s": 0.5,/' "$PLAN" >"$TMP/edited.json"
run 1 run "$TMP/edited.json" --inventory "$INV" --state-dir "$TMP/s-edited"
has err "does not match the plan's content"
# made for another fleet: stale, refused, the driver untouched
run 1 run "$PLAN" --inventory "$OTHER" --state-dir "$TMP/s-other"
has err "stale against the fleet the driver reports"
has err "the inventory changed since the plan was made"
# truncated: a one-line error naming the file, exit 2
head -c 300 "$PLAN" >"$TMP/truncated.json"
run 2 run "$TMP/truncated.json" --inventory "$INV"
has err "truncated.json"
# frozen: refused with the freeze's reason and where the state is
run 0 freeze --reason "change freeze" --by ops
run 1 run "$PLAN" --inventory "$INV"
has err "frozen"
has err "change freeze"
run 0 unfreeze

# a change plan: its waves, baked under its gates; a change that breaks a host's clients
# (a deviation) halts the run at that wave and rolls back what was changed, newest first
CINV=$SRC/scenarios/2019-fleet.yaml
run 0 plan change --inventory "$CINV" --change "$SRC/scenarios/2019-firewall-limit.change.yaml" \
    -o "$TMP/change.json"
run 1 run "$TMP/change.json" --inventory "$CINV" --state-dir "$TMP/s-change"
has err "needs an approval"
run 0 approve "$TMP/change.json" --by approver --state-dir "$TMP/s-change"
run 0 run "$TMP/change.json" --inventory "$CINV" --state-dir "$TMP/s-change"
has out "20 hosts done, 0 failed"
printf '{"schema": "hvfleet.sim-deviations/v1", "deviations": [{"kind": "change-breaks", "host": "st16"}]}\n' \
    >"$TMP/breaks.json"
run 0 approve "$TMP/change.json" --by approver --state-dir "$TMP/s-break"
run 1 run "$TMP/change.json" --inventory "$CINV" --state-dir "$TMP/s-break" \
    --deviations "$TMP/breaks.json" --json
has out '"event":"halt"'
has out "gate client_io_latency failed on 'st16'"
python3 - "$TMP/out" <<'PY' || failures=$((failures + 1))
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
changed = [e["host"] for e in ev if e["event"] == "unit_changed"]
back = [e["host"] for e in ev if e["event"] == "unit_rolled_back"]
halt = [i for i, e in enumerate(ev) if e["event"] == "halt"]
assert "st16" in changed and halt, (changed, halt)
# every unit changed is rolled back, and no wave starts after the halt
assert sorted(back) == sorted(changed), (back, changed)
assert not [e for e in ev[halt[0]:] if e["event"] in ("wave_start", "unit_changing")]
assert ev[-1]["result"] == "partial" and "halted at wave" in ev[-1]["note"], ev[-1]
PY
# bad input
run 2 run
run 2 run "$PLAN"
run 2 run "$PLAN" --inventory "$INV" --speed fast
has err "--speed 'fast'"
run 2 run "$PLAN" --inventory "$INV" --tolerance 0
run 2 run "$PLAN" --inventory "$INV" --frobnicate
run 2 run "$PLAN" --inventory "$INV" --maintenance-command 'ssh {hostname} reboot'
has err "unknown placeholder at '{hostname}"
run 2 run --cancel-running
run 2 run "$PLAN" --inventory "$INV" --driver "xen:///system"
has err "no driver for scheme 'xen'"
# libvirt:///system is not an inventory: the driver says which file it could not read
run 2 run "$PLAN" --inventory "$INV" --driver "libvirt:///system"
has err "/system"
run 2 run "$PLAN" --inventory "$INV" --driver "sim:///default?colour=red"
has err "unknown parameter 'colour'"
printf '{"schema": "hvfleet.sim-deviations/v1", "deviations": [{"kind": "link", "host": "nope", "factor": 0.5}]}\n' \
    >"$TMP/dev.json"
run 2 run "$PLAN" --inventory "$INV" --deviations "$TMP/dev.json"
has err "deviations[0].host: 'nope': expected a host of the fleet"
run 2 run "$PLAN" --inventory "$INV" --record "$TMP"
has err "is a directory"
run 1 run --status
has out "no unfinished run"
run 2 run --pause
has err "no unfinished run"

# the run: one JSON event per line, a summary, a record that report renders
run 0 run "$PLAN" --inventory "$INV" --json --record "$TMP/rec.json"
python3 - "$TMP/out" "$TMP/rec.json" <<'PY' || failures=$((failures + 1))
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e["event"] for e in lines]
assert kinds[0] == "run_start" and kinds[-1] == "summary", kinds[:3]
assert lines[-1]["result"] == "done", lines[-1]
assert "migration_start" in kinds and "host_done" in kinds, set(kinds)
rec = json.load(open(sys.argv[2]))
assert rec["schema"] == "hvfleet.execution/v1"
assert all(h["outcome"] == "done" for h in rec["hosts"]), rec["hosts"]
assert all(m["outcome"] in ("done", "skipped") for m in rec["migrations"])
# every migration ended after it started, and each VM's moves do not overlap
for m in rec["migrations"]:
    if m["outcome"] == "done":
        assert m["end_s"] >= m["start_s"], m
PY
run 0 report "$TMP/rec.json"
has out "$TMP/rec.html"
grep -q "predicted" "$TMP/rec.html" || { echo "FAIL: no predicted figures" >&2; failures=$((failures + 1)); }
# the same plan again: the fleet moved, so it is stale now
run 1 run "$PLAN" --inventory "$INV"
has err "stale"
# --resume of a run that ended: nothing to do
run 0 run "$PLAN" --inventory "$INV" --resume
has out "already ended"

# a run killed mid-way: --status tells what its journal says, --resume finishes it
S2=$TMP/s-kill
run 0 approve "$PLAN" --by approver --state-dir "$S2"
"$HVFLEET" run "$PLAN" --inventory "$INV" --state-dir "$S2" --speed 3000 >/dev/null 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 1
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
run 0 run --status --state-dir "$S2"
has out "running, plan"
has out "so far: "
run 0 run --resume --state-dir "$S2"
has out "done: 8 hosts done, 0 failed"
run 1 run --status --state-dir "$S2"

# a third of a fleet of three out of service, approved past the seatbelt: the plan's peak is
# stated in rounded ppm, and the run must not refuse the very host it approved
S3=$TMP/s-third
{
    echo "schema: hvfleet.inventory/v1"
    echo "hosts:"
    for h in h1 h2 h3; do echo "  - {name: $h, cpus: 8, memory: 8GiB, nic: 1Gbit}"; done
    echo "vms:"
    for h in h1 h2 h3; do echo "  - {name: $h-vm0, host: $h, vcpus: 1, memory: 256MiB}"; done
} >"$TMP/three.yaml"
run 0 plan drain --inventory "$TMP/three.yaml" h1 -o "$TMP/third.json"
run 0 approve "$TMP/third.json" --by approver --state-dir "$S3"
run 0 run "$TMP/third.json" --inventory "$TMP/three.yaml" --state-dir "$S3"
has out "done: 1 hosts done, 0 failed; 1 migrations done"
# the agent driver lives in hvfleetd only: the CLI says so and touches nothing
run 2 run "$TMP/third.json" --inventory "$TMP/three.yaml" --state-dir "$TMP/s-agent" \
    --driver "agent://$TMP/three.yaml"
has err "agent:// runs inside hvfleetd"
finish
