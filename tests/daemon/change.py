#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A rolling change through hvfleetd (seed 004's fleet and change): POST /v1/plans {kind: change}
plans it in waves, the two-person rule applies, the run bakes each wave under its gate; a change
that breaks a host's clients (a deviation) halts the run at that wave and rolls back every unit
changed, and the halt is an incident. Usage: change.py HVFLEETD HVFLEET SRCDIR"""
import json
import os
import sys

from hvfd import Daemon, check, wait_for

src = sys.argv[3]
d = Daemon(sys.argv[1], sys.argv[2], speed=2000, name="hvfd-change")
dev = os.path.join(d.state_dir, "deviations.json")
with open(dev, "w") as f:
    json.dump({"schema": "hvfleet.sim-deviations/v1",
               "deviations": [{"kind": "change-breaks", "host": "st16"}]}, f)
inv = os.path.join(src, "scenarios", "2019-fleet.yaml")
d.args = ["--driver", "sim://%s?deviations=%s" % (inv, dev)]
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
d.start()

# seed 004's change (scenarios/2019-firewall-limit.change.yaml) as the API takes it: JSON
change = {
    "schema": "hvfleet.change/v1", "name": "storage-firewall-limit",
    "kind": "firewall_rule", "targets": {"hosts": "tag:storage"},
    "variants_by": ["kernel", "hw", "role"],
    "waves": {"canary": 1, "factor": 2, "max_per_wave": 4, "apply": "30s", "bake": "10m",
              "gate_interval": "10s"},
    "redundancy": {"per": "rack", "max_down": 1},
    "gates": [{"type": "client_io_latency", "max": "50ms", "percentile": 99}],
    "rollback": True}
s, _, p = d.request("POST", "/v1/plans", op, {"kind": "change", "change": change})
check(s == 201 and p["units"] > 4 and p["waves"] > 1, p)
check(p["plan"]["schema"] == "hvfleet.change-plan/v1", p["plan"].get("schema"))
hsh = p["plan_hash"]
s, _, got = d.request("GET", "/v1/plans/" + hsh, op)
check(s == 200 and got["kind"] == "change" and got["author"] == "alice", got)
# bad change documents are 400s naming what is wrong
bad = dict(change, waves=dict(change["waves"], canary="many"))
s, _, e = d.request("POST", "/v1/plans", op, {"kind": "change", "change": bad})
check(s == 400 and "canary" in e["error"]["message"], e)
s, _, e = d.request("POST", "/v1/plans", op, {"kind": "change"})
check(s == 400 and e["error"]["field"] == "change", e)
s, _, e = d.request("POST", "/v1/plans", op, {"kind": "change", "change": change,
                                              "hosts": ["st16"]})
check(s == 400 and e["error"]["field"] == "hosts", e)

if p["verdict"] == "needs-approval":
    s, _, e = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
    check(s == 409 and "approv" in e["error"]["message"], e)
check(d.request("POST", "/v1/plans/%s/approvals" % hsh, ap)[0] == 201, "approved by bob")
s, _, run = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 201, run)
rid = run["id"]
fin = wait_for(lambda: (lambda r: r if r["state"] not in ("running",) else None)(
    d.request("GET", "/v1/runs/%d" % rid, op)[2]), "the change run ends", 120)
ev = [e["data"] for e in d.request("GET", "/v1/events?since=0&limit=1000", op)[2]["events"]
      if e["type"] == "run_event" and e["run"] == rid]
kinds = [e["event"] for e in ev]
check("halt" in kinds, ("the broken unit halts the run", kinds))
rolled = sorted(e["host"] for e in ev if e["event"] == "unit_rolled_back")
check("st16" in rolled, rolled)
halted = wait_for(lambda: [i for i in d.request("GET", "/v1/incidents", op)[2]["incidents"]
                           if i["kind"] == "run-halted" and i["run"] == rid],
                  "the halt's incident")[0]
check(halted["state"] == "resolved" and halted["actions"] == len(rolled) and
      halted["decided_t_s"] == halted["event_t_s"] <= halted["resolved_t_s"], halted)
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok: %d units rolled back after the halt" % len(rolled))
