#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A lab (docs/lab.md) drained through hvfleetd with real live migrations: `hvfleet lab up`
makes N hosts (network namespaces, links shaped by tbf, an agent each, TCG guests that dirty
their memory), then a drain plan of h1 is made, approved by a second person and run through
the API; afterwards every VM runs exactly once (one live QEMU, on another host; none on h1),
and each moved guest's write counter went on from where it was on h1 with no stale page. Prints
the twin's predicted drain time beside the measured one, as one line the bench reads:
  lab-drain hosts=N vms_moved=M nic=RATE vm_memory=SIZE predicted_s=P measured_s=X
`lab down` and a cleanup by recorded PIDs and names run on every path. Skipped (77) unless root
with `ip netns` and QEMU.
Usage: lab-drain.py HVFLEET [--hosts N] [--vms-per-host K] [--nic RATE] [--vm-memory SIZE]
                            [--dirty-rate RATE]"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from labtest import Lab, fail, run, skip_unless_lab_possible, wait_for  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("hvfleet")
ap.add_argument("--hosts", type=int, default=3)
ap.add_argument("--vms-per-host", type=int, default=2)
ap.add_argument("--nic", default="200Mbit")
ap.add_argument("--vm-memory", default="64MiB")
ap.add_argument("--dirty-rate", default="2MiB/s")
args = ap.parse_args()
skip_unless_lab_possible()
lab = Lab(args.hvfleet, "hvf-lab-drain-")




def body():
    lab.up("--hosts", str(args.hosts), "--nic", args.nic, "--vms-per-host",
           str(args.vms_per_host), "--vm-memory", args.vm_memory, "--dirty-rate", args.dirty_rate)
    # a host sees only its own QEMUs: the other hosts' share the machine, not its namespace
    for a in lab.request("GET", "/v1/agents")[1]["agents"]:
        if (a.get("facts") or {}).get("unknown_qemu"):
            fail("%s reports other hosts' QEMUs as unknown: %s"
                 % (a["host"], a["facts"]["unknown_qemu"]))
    moved = sorted(v for v, x in lab.vms().items() if x["host"] == "h1")
    wait_for(lambda: all(len(lab.counters(lab.serial("h1", v))) >= 2 for v in moved),
             "h1's guests filled their memory and dirty it", 120)
    # the lab's links carry no guest traffic: migrations may take all of each NIC, and the twin
    # is told so (production keeps the default 50% for the guests; docs/agent-driver.md)
    s, p = lab.request("POST", "/v1/plans", body={"kind": "drain", "hosts": ["h1"],
                                                  "policy": {"schema": "hvfleet.policy/v1",
                                                             "migration_share": "100%"}})
    if s != 201:
        raise RuntimeError("plan: %d %s" % (s, p))
    s, a = lab.request("POST", "/v1/plans/%s/approvals" % p["plan_hash"], lab.second)
    if s != 201:
        raise RuntimeError("approval: %d %s" % (s, a))
    s, run = lab.request("POST", "/v1/plans/%s/runs" % p["plan_hash"])
    if s != 201:
        raise RuntimeError("run: %d %s" % (s, run))
    r = wait_for(lambda: (lambda x: x if x["state"] not in ("running", "starting") else None)(
        lab.request("GET", "/v1/runs/%d" % run["id"])[1]), "the drain to end", 600)
    if r["state"] != "done" or r["result"] != "done":
        fail("the drain ended %s/%s: %s" % (r["state"], r["result"],
                                            open(r["record"]).read()[:2000]))
    placed = lab.vms()
    for v in moved:
        if placed[v]["host"] == "h1" or placed[v]["state"] != "running":
            fail("%s: %s on %s after the drain" % (v, placed[v]["state"], placed[v]["host"]))
    # exactly once: one live QEMU per VM, none left on h1
    want = sorted((x["host"], v) for v, x in placed.items())
    wait_for(lambda: lab.live_qemus() == want, "one QEMU per VM, where hvfleetd says it runs", 30)
    # the moved guests' memory: their counters went on from where they were, nothing stale
    for v in moved:
        dst = placed[v]["host"]
        src_c = lab.counters(lab.serial("h1", v))
        dst_c = wait_for(lambda: lab.counters(lab.serial(dst, v)), "%s on %s" % (v, dst), 30)
        if dst_c[0] < src_c[-1]:
            fail("%s: counter %d on %s, older than its last on h1 (%d)"
                 % (v, dst_c[0], dst, src_c[-1]))
        stale = [int(x) for x in re.findall(r" stale=(\d+)", lab.serial(dst, v))]
        if stale and max(stale) != 0:
            fail("%s: %d stale pages on %s" % (v, max(stale), dst))
    print("lab-drain hosts=%d vms_moved=%d nic=%s vm_memory=%s predicted_s=%.2f measured_s=%.2f"
          % (args.hosts, len(moved), args.nic, args.vm_memory, r["predicted_makespan_s"],
             r["actual_makespan_s"]))
    for m in json.load(open(r["record"]))["migrations"]:
        if m["start_s"] is not None:
            print("  %s %s->%s predicted %.1f-%.1f s, actual %s-%s s, %s" % (
                m["vm"], m["from"], m["to"], m["predicted"]["start_s"], m["predicted"]["end_s"],
                m["start_s"], m["end_s"], m["outcome"]))


run(lab, body)
