#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Incidents recorded from hvfleetd's own events, with the replays' KPIs: a host lost while the
fleet is idle (its VMs, none of them HA, down until an operator starts them: VM-minutes, the
host back first),
a host lost during a run (the executor's re-plan is the decision), and a run aborted. Usage:
incidents.py HVFLEETD HVFLEET"""
import json
import os
import sys
import time

from hvfd import Daemon, check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], speed=500, name="hvfd-incidents")
dev = os.path.join(d.state_dir, "deviations.json")
with open(dev, "w") as f:
    json.dump({"schema": "hvfleet.sim-deviations/v1", "deviations": [
        {"at": "100s", "kind": "host-crash", "host": "kvm0005", "for": "300s"},
        {"at": "3000s", "kind": "host-crash", "host": "kvm0003"}]}, f)
d.args = ["--driver", "sim:///default?deviations=" + dev]
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
d.start()

# the idle crash (at 100 s of driver time; 500 s pass a wall second)
lost = wait_for(lambda: [i for i in d.request("GET", "/v1/incidents", op)[2]["incidents"]
                         if i["kind"] == "host-lost" and "kvm0005" in i["title"]
                         and i["host_back_t_s"] is not None], "kvm0005 lost and back")[0]
s, _, vms = d.request("GET", "/v1/vms", op)
where = {v["name"]: v for v in vms["vms"]}
check(lost["event_t_s"] == 100.0 and lost["detected_t_s"] == 100.0, lost)
check(lost["host_back_t_s"] == 400.0, lost)
# its VMs went down with it; none is HA, and under hvfleetd the twin restarts nothing itself
# (HA owns restarts, docs/ha.md): they stay down, the incident open, until someone starts them
check(lost["vms_down"] == 6 and lost["state"] == "open", lost)
check(all(where[v]["state"] == "crashed" and not where[v]["ha"] for v in lost["vms"]),
      (lost, where))
for v in lost["vms"]:
    s, _, a = d.request("POST", "/v1/vms/%s/start" % v, op, {})
    check(s == 200, (v, s, a))
lost = wait_for(lambda: [i for i in d.request("GET", "/v1/incidents", op)[2]["incidents"]
                         if i["id"] == lost["id"] and i["state"] == "resolved"],
                "kvm0005's VMs started again")[0]
check(lost["resolved_t_s"] >= 400.0, lost)
# VM-minutes: each VM down from the loss to its start, all of them past the host's return
check(6 * 300 / 60 <= lost["vm_minutes"] <= 6 * (lost["resolved_t_s"] - 100.0) / 60 + 1e-6,
      lost)
s, _, res = d.request("GET", "/v1/incidents?state=resolved", op)
check(s == 200 and lost["id"] in [i["id"] for i in res["incidents"]], "?state=resolved")
s, _, open_ = d.request("GET", "/v1/incidents?state=open", op)
check(s == 200 and lost["id"] not in [i["id"] for i in open_["incidents"]], "?state=open")
s, _, e = d.request("GET", "/v1/incidents?state=maybe", op)
check(s == 400 and e["error"]["field"] == "state", e)

# a run with a host lost in it: kvm0003 goes at 3000 s, while zone z1 is maintained
s, _, p = d.request("POST", "/v1/plans", op, {"kind": "maintenance", "hosts": "zone:z1"})
check(s == 201, p)
d.request("POST", "/v1/plans/%s/approvals" % p["plan_hash"], ap)
s, _, run = d.request("POST", "/v1/plans/%s/runs" % p["plan_hash"], op)
check(s == 201, run)
rid = run["id"]
wait_for(lambda: d.request("GET", "/v1/runs/%d" % rid, op)[2]["state"] != "running",
         "the run ends", 120)
inc = [i for i in d.request("GET", "/v1/incidents", op)[2]["incidents"]
       if "kvm0003" in i["title"]]
check(len(inc) == 1, inc)
inc = inc[0]
check(inc["event_t_s"] == 3000.0 and inc["vms_down"] >= 0, inc)
if inc["run"] == rid:
    check(inc["decided_t_s"] is not None and inc["decided_t_s"] >= inc["event_t_s"]
          and "during a run" in inc["title"], ("the executor re-planned after the loss", inc))

# an aborted run is an incident, resolved when the run ended (z2/r01: with kvm0003 down, the
# fleet has no room left to empty z2/r02)
s, _, p2 = d.request("POST", "/v1/plans", op, {"kind": "maintenance", "hosts": "rack:z2/r01"})
d.request("POST", "/v1/plans/%s/approvals" % p2["plan_hash"], ap)
s, _, run2 = d.request("POST", "/v1/plans/%s/runs" % p2["plan_hash"], op)
check(s == 201, run2)
check(d.request("POST", "/v1/runs/%d/abort" % run2["id"], op)[0] == 202, "abort")
wait_for(lambda: d.request("GET", "/v1/runs/%d" % run2["id"], op)[2]["state"] == "aborted",
         "the run aborts", 60,
         show=lambda: (d.request("GET", "/v1/runs/%d" % run2["id"], op)[2],
                       d.request("GET", "/v1/events?limit=30", op)[2]))
halted = wait_for(lambda: [i for i in d.request("GET", "/v1/incidents", op)[2]["incidents"]
                           if i["kind"] == "run-halted" and i["run"] == run2["id"]],
                  "the aborted run's incident")[0]
check(halted["state"] == "resolved" and "aborted" in halted["title"], halted)
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
