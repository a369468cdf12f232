#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-fencing in a lab (docs/ha.md, docs/agent.md): agents run with --fence-after 5s and
hvfleetd relies on it (ha_fence_after), with no fence command. h1's link cut: its agent kills its
own QEMUs after 5 s alone; hvfleetd takes h1 for lost at 10 s, for fenced at once, and starts its
HA VM elsewhere, after h1's copy is gone (a watcher checks every 0.2 s that it never runs twice).
The link back: h1's agent reports its fence, and h1 is in service again.
`lab down` and a cleanup by recorded PIDs and names run on every path. Skipped (77) unless root
with `ip netns` and QEMU. Usage: lab-selffence.py HVFLEET"""
import collections
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from labtest import Lab, fail, run, skip_unless_lab_possible, wait_for  # noqa: E402

skip_unless_lab_possible()
lab = Lab(sys.argv[1], "hvf-lab-selffence-")
twice = []
gone_at = {}
stop = threading.Event()



def watcher(t0):
    while not stop.is_set():
        q = lab.live_qemus()
        for vm, n in collections.Counter(v for _, v in q).items():
            if n > 1:
                twice.append((vm, q))
        if ("h1", "h1-vm1") not in q and "h1" not in gone_at:
            gone_at["h1"] = time.time() - t0
        stop.wait(0.2)



def body():
    lab.up("--hosts", "3", "--vms-per-host", "1", "--vm-memory", "64MiB", "--dirty-rate",
           "1MiB/s", "--ha", "--self-fence", "5s", "--down-after", "10s")
    t0 = time.time()
    w = threading.Thread(target=watcher, args=(t0,), daemon=True)
    w.start()
    subprocess.run(["ip", "link", "set", lab.host_veth("h1"), "down"], check=True)
    placed = wait_for(lambda: (lambda v: v if v["h1-vm1"]["host"] != "h1" and
                               v["h1-vm1"]["state"] == "running" else None)(lab.vms()),
                      "h1-vm1 running elsewhere", 90)
    ran_at = time.time() - t0
    ev = [e["data"] for e in lab.feed("ha")]
    fenced = [e for e in ev if e["event"] == "fenced" and e["host"] == "h1"]
    if not fenced or fenced[0]["how"] != "self-fence":
        fail("h1 not taken for self-fenced: %s" % ev)
    if "h1" not in gone_at or gone_at["h1"] > ran_at or gone_at["h1"] < 4:
        fail("h1's copy gone at %s s, the VM ran elsewhere at %.1f s" % (gone_at.get("h1"),
                                                                          ran_at))
    # the link back: the agent says it fenced, and h1 serves again
    subprocess.run(["ip", "link", "set", lab.host_veth("h1"), "up"], check=True)
    row = wait_for(lambda: [a for a in lab.request("GET", "/v1/agents")[1]["agents"]
                            if a["host"] == "h1" and a.get("fenced")], "h1's fence report", 60)[0]
    if not row["fenced"].get("complete") or "h1-vm1" not in row["fenced"].get("vms", []):
        fail("h1's fence report: %s" % row["fenced"])
    wait_for(lambda: [h for h in lab.request("GET", "/v1/hosts")[1]["hosts"]
                      if h["name"] == "h1" and h["state"] == "active"], "h1 in service", 60)
    stop.set()
    w.join()
    if twice:
        fail("a VM ran twice: %s" % twice[:3])
    print("self-fence: h1's QEMU gone %.1f s after its link was cut, its VM ran elsewhere at "
          "%.1f s" % (gone_at.get("h1", -1), ran_at))


run(lab, body, stop.set)
