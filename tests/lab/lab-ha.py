#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Host failure in a lab (docs/ha.md): a 3-host lab whose VMs are HA, fenced by `hvfleet lab
fence` (the lab's power switch). A QEMU killed behind its agent's back is restarted (its host
answers for it: no fence). h1's link is cut (its veth down): h1 goes unreachable, hvfleetd
fences it, and its VMs start on the other hosts; a watcher checks every second that no VM ever
runs twice, and the host-lost incident records its KPIs. Then the links of the two hosts left
are cut at once: that is the controller's network, not the hosts (the storm guard): nothing is
fenced or restarted, the VMs go on running, and one storm incident is opened.
`lab down` and a cleanup by recorded PIDs and names run on every path. Skipped (77) unless root
with `ip netns` and QEMU. Usage: lab-ha.py HVFLEET"""
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
lab = Lab(sys.argv[1], "hvf-lab-ha-")
seen_twice = []
stop = threading.Event()



def watcher():
    """Every second: each VM's live QEMUs; more than one at any instant is a VM run twice."""
    while not stop.is_set():
        for vm, n in collections.Counter(v for _, v in lab.live_qemus()).items():
            if n > 1:
                seen_twice.append((time.time(), vm, lab.live_qemus()))
        stop.wait(1)


def ha_events():
    return [e["data"] for e in lab.feed("ha")]



def body():
    alerts = os.path.join(lab.tmp, "alerts.jsonl")
    lab.up("--hosts", "3", "--vms-per-host", "2", "--vm-memory", "64MiB", "--dirty-rate",
           "1MiB/s", "--ha", "--down-after", "8s", "--alert-command",
           "cat >> %s; echo >> %s" % (alerts, alerts))
    w = threading.Thread(target=watcher, daemon=True)
    w.start()

    # a QEMU killed behind its agent's back: the VM crashed on a host in service, restarted
    pid = int(open(os.path.join(lab.dir, "hosts", "h2", "vms", "h2-vm1", "pidfile")).read())
    t0 = time.time()
    os.kill(pid, 9)
    wait_for(lambda: [e for e in ha_events() if e["event"] == "restart" and
                      e["vm"] == "h2-vm1"], "h2-vm1 restarted after its QEMU was killed", 30)
    wait_for(lambda: lab.vms()["h2-vm1"]["state"] == "running" and
             sum(1 for _, v in lab.live_qemus() if v == "h2-vm1") == 1,
             "h2-vm1 running once again", 30)
    print("a killed HA VM ran again %.1f s later" % (time.time() - t0))

    # h1 cut off: unreachable, fenced, its HA VMs started elsewhere
    lost = sorted(v for v, x in lab.vms().items() if x["host"] == "h1")
    restarted_before = len([e for e in ha_events() if e["event"] == "restart"])
    t0 = time.time()
    subprocess.run(["ip", "link", "set", lab.host_veth("h1"), "down"], check=True)
    placed = wait_for(lambda: (lambda v: v if all(v[n]["host"] != "h1" and
                                                 v[n]["state"] == "running" for n in lost)
                               else None)(lab.vms()), "h1's VMs running elsewhere", 90)
    took = time.time() - t0
    want = sorted((x["host"], n) for n, x in placed.items())
    wait_for(lambda: lab.live_qemus() == want, "one QEMU per VM, none on h1", 30)
    ev = ha_events()
    kinds = [(e["event"], e.get("host") or e.get("vm")) for e in ev]
    for k in [("unreachable", "h1"), ("fence_start", "h1"), ("fenced", "h1")]:
        if k not in kinds:
            fail("no %s event in the feed: %s" % (k, kinds))
    restarts = sorted(e["vm"] for e in ev[0:] if e["event"] == "restart" and e["from"] == "h1")
    if len([e for e in ev if e["event"] == "restart"]) != restarted_before + len(lost):
        fail("restarts other than h1's VMs: %s" % ev)
    if restarts != lost:
        fail("restarts %s, expected h1's VMs %s" % (restarts, lost))
    inc = [i for i in lab.request("GET", "/v1/incidents")[1]["incidents"]
           if i["kind"] == "host-lost"]
    if len(inc) != 1 or inc[0]["state"] != "resolved" or inc[0]["decided_t_s"] is None or \
            sorted(inc[0]["vms"]) != lost or inc[0]["vm_minutes"] <= 0:
        fail("the host-lost incident: %s" % inc)
    print("h1 lost: its %d HA VMs ran elsewhere %.1f s after its link was cut (down-after 8 s); "
          "incident: detected %.1f s, decided %.1f s, resolved %.1f s, %.2f VM-minutes"
          % (len(lost), took, inc[0]["detected_t_s"], inc[0]["decided_t_s"],
             inc[0]["resolved_t_s"], inc[0]["vm_minutes"]) if inc else "")

    # the other two cut at once: a storm, nothing fenced or restarted
    before = lab.live_qemus()
    n_before = len(ha_events())
    for h in ("h2", "h3"):
        subprocess.run(["ip", "link", "set", lab.host_veth(h), "down"], check=True)
    wait_for(lambda: [e for e in ha_events() if e["event"] == "storm"], "a storm", 60)
    st = wait_for(lambda: (lambda v: v if v["storm"] else None)(lab.request("GET", "/v1/ha")[1]),
                  "GET /v1/ha saying storm", 20)
    if ("h1", "fenced") not in [(h["host"], h["state"]) for h in st["hosts"]]:
        fail("GET /v1/ha: h1 is not fenced: %s" % st)
    time.sleep(4)  # what a fence would have started by now
    ev = ha_events()[n_before:]
    if [e for e in ev if e["event"] in ("fence_start", "fenced", "restart")]:
        fail("fenced or restarted during the storm: %s" % ev)
    if lab.live_qemus() != before:
        fail("VMs changed during the storm: %s, were %s" % (lab.live_qemus(), before))
    # the storm reaches a person: an alert through the command hook
    wait_for(lambda: os.path.exists(alerts) and '"ha-storm"' in open(alerts).read(),
             "the storm alerted through the command hook", 30)
    storms = [i for i in lab.request("GET", "/v1/incidents")[1]["incidents"]
              if i["kind"] == "storm"]
    if len(storms) != 1:
        fail("one storm incident expected: %s" % storms)
    stop.set()
    w.join()
    if seen_twice:
        fail("a VM ran twice: %s" % seen_twice[:3])


run(lab, body, stop.set)
