#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd's HA on the twin at fleet scale (issue 13): a generated fleet of 10,000 hosts in 10
zones of 50 racks, 2 VMs a host, driven by the sim driver's deviations (docs/ha.md):
- a rack lost (its hosts crash: powered off, fenced by construction): its HA VMs start
  elsewhere, within capacity, no service's anti-affinity broken, each VM once; its VMs that are
  not HA stay down (under hvfleetd the twin restarts nothing itself: HA owns restarts);
- a zone lost: the storm guard holds (nothing fenced or restarted), one incident; when the
  zone is back its HA VMs start again;
- one host out of the controller's reach (controller-partition): not fenced (no fence command
  and no agent), nothing restarted, its VMs run on;
- four zones out of the controller's reach: a storm, nothing fenced or restarted, one incident.
Usage: ha-scale.py HVFLEETD HVFLEET"""
import json
import os
import re
import subprocess
import sys
import time

from hvfd import Daemon, check, wait_for

SPEED = 1000
d = Daemon(sys.argv[1], sys.argv[2], speed=SPEED, name="hvfd-ha-scale")
inv = os.path.join(d.state_dir, "fleet.yaml")
subprocess.run([sys.argv[2], "inventory", "generate", "--hosts", "10000", "--vms-per-host", "2",
                "--zones", "10", "--racks-per-zone", "50", "-o", inv], check=True, timeout=60)

# ---- the fleet's HA VMs and two services whose spread the restarts must keep ----
lines = open(inv).read().split("\n")
host_of_rack, zone_of, rack_of = {}, {}, {}
for ln in lines:
    m = re.match(r"  - \{name: (\S+), zone: (\S+), rack: (\S+),", ln)
    if m:
        h, z, r = m.groups()
        zone_of[h], rack_of[h] = z, z + "/" + r
        host_of_rack.setdefault(z + "/" + r, []).append(h)
LOST_RACK = "z1/r01"
FREE_RACKS = {"z10/r%02d" % i for i in range(46, 51)}  # no replica of front: where it may go
first_done, vms_on = set(), {}
out = []
for ln in lines:
    m = re.match(r"  - \{name: (\S+), host: (\S+),(.*)\}$", ln)
    if not m or "service:" in ln:
        out.append(ln)
        continue
    vm, h, _ = m.groups()
    first = h not in first_done
    first_done.add(h)
    extra = ""
    rack = rack_of[h]
    if first and h == host_of_rack[rack][0] and rack not in FREE_RACKS:
        extra = ", service: front"   # spread: rack, one a rack but FREE_RACKS
    elif not first and (zone_of[h] != "z1" or rack == LOST_RACK):
        extra = ", service: edge"    # spread: host, one a host outside z1 (and in the lost rack)
    elif rack == LOST_RACK and int(h[3:]) % 2 == 0:
        extra = ", ha: true"         # HA on its own
    vms_on.setdefault(h, []).append(vm)
    out.append(ln[:-1] + extra + "}")
text = "\n".join(out).replace(
    "services:\n",
    "services:\n  - {name: front, critical: true, min_available: 1, spread: rack, ha: true}\n"
    "  - {name: edge, critical: false, min_available: 1, spread: host, ha: true}\n", 1)
open(inv, "w").write(text)

# ---- what goes wrong, in driver time (SPEED driver seconds a wall second) ----
ZONE_LOST, ONE_CUT = "z3", "kvm03501"
CUT_ZONES = ["z5", "z6", "z7", "z8"]
check(zone_of[ONE_CUT] == "z4", ONE_CUT)
devs = [{"at": "100s", "kind": "host-crash", "host": h} for h in host_of_rack[LOST_RACK]]
devs += [{"at": "2000s", "kind": "host-crash", "host": h, "for": "3000s"}
         for h in zone_of if zone_of[h] == ZONE_LOST]
devs += [{"at": "8000s", "kind": "controller-partition", "host": ONE_CUT, "for": "1000s"}]
devs += [{"at": "11000s", "kind": "controller-partition", "host": h, "for": "2000s"}
         for h in zone_of if zone_of[h] in CUT_ZONES]
dev = os.path.join(d.state_dir, "deviations.json")
with open(dev, "w") as f:
    json.dump({"schema": "hvfleet.sim-deviations/v1", "deviations": devs}, f)
op = d.token("operator", "alice")
# a controller-partition must name a host: refused at the start with one line, exit 2
bad = os.path.join(d.state_dir, "bad-deviations.json")
with open(bad, "w") as f:
    json.dump({"schema": "hvfleet.sim-deviations/v1",
               "deviations": [{"at": "1s", "kind": "controller-partition", "vm": "vm00001"}]}, f)
r = subprocess.run([sys.argv[1], "--state-dir", d.state_dir, "--listen", "127.0.0.1:0",
                    "--driver", "sim://" + inv + "?deviations=" + bad], capture_output=True,
                   text=True, timeout=60)
check(r.returncode == 2 and "deviations[0].host" in r.stderr and
      "the host this deviation is about" in r.stderr, (r.returncode, r.stderr[-500:]))
d.args = ["--driver", "sim://" + inv + "?deviations=" + dev]
t0 = time.time()
d.start()


def get(path):
    s, _, body = d.request("GET", path, op, timeout=60)
    check(s == 200, (path, s, body))
    return body


FEED = {"seq": 0, "ha": []}


def ha_events(t_from, t_to):
    """HA's events of the feed between these driver times (s)."""
    while True:
        e = get("/v1/events?since=%d&limit=1000&timeout=0" % FEED["seq"])
        FEED["ha"] += [x["data"] for x in e["events"] if x["type"] == "ha"]
        if not e["events"]:
            break
        FEED["seq"] = e["last"]
    return [x for x in FEED["ha"] if t_from * 1e6 <= x["t_us"] < t_to * 1e6]


def wait_slow(fn, what, show=None):
    """wait_for, looking once a second: a look reads 20,000 VMs, which looked at ten times a
    second would slow the daemon it watches (two cores)."""
    def slow():
        v = fn()
        if not v:
            time.sleep(0.9)
        return v
    return wait_for(slow, what, 60, show)


def vms():
    return {v["name"]: v for v in get("/v1/vms")["vms"]}


def incidents(kind):
    return [i for i in get("/v1/incidents")["incidents"] if i["kind"] == kind]


def spread_ok(where):
    """No two front replicas in one rack, no two edge replicas on one host (running or not)."""
    racks, hosts = {}, {}
    for v in where.values():
        if v.get("service") == "front":
            racks.setdefault(rack_of[v["host"]], []).append(v["name"])
        if v.get("service") == "edge":
            hosts.setdefault(v["host"], []).append(v["name"])
    bad = [x for x in list(racks.values()) + list(hosts.values()) if len(x) > 1]
    return bad


def capacity_ok():
    return [h["name"] for h in get("/v1/hosts")["hosts"] if h["used_mib"] > h["usable_mib"]]


start = vms()
check(len(start) == 20000 and not spread_ok(start), "the fleet as generated keeps its spread")
lost_hosts = set(host_of_rack[LOST_RACK])
rack_vms = [v for h in sorted(lost_hosts) for v in vms_on[h]]
rack_ha = [v for v in rack_vms if start[v]["ha"]]
check(len(rack_ha) >= 30 and len(rack_ha) < len(rack_vms), (len(rack_ha), len(rack_vms)))

# ---- a rack lost: its HA VMs run elsewhere, the others stay down ----
wait_for(lambda: len([e for e in ha_events(0, 2000) if e["event"] == "fenced"]) == 20,
         "the lost rack's hosts fenced (powered off)", 60)
wait_slow(lambda: (lambda w: all(w[v]["state"] == "running" for v in rack_ha))(vms()),
          "the lost rack's HA VMs run again",
          show=lambda: (get("/v1/ha"), [w for v, w in vms().items() if v in rack_ha]))
w = vms()
check(len(w) == 20000, "each VM once")
for v in rack_ha:
    check(w[v]["host"] not in lost_hosts, ("restarted outside the lost rack", w[v]))
for v in set(rack_vms) - set(rack_ha):
    check(w[v]["state"] == "crashed" and w[v]["host"] in lost_hosts,
          ("a VM that is not HA stays down: the twin restarts nothing under hvfleetd", w[v]))
check(not spread_ok(w), ("anti-affinity kept", spread_ok(w)))
front_lost = [v for v in rack_ha if w[v].get("service") == "front"]
check(len(front_lost) == 1 and rack_of[w[front_lost[0]]["host"]] in FREE_RACKS,
      ("front's replica went to a rack without one", front_lost and w[front_lost[0]]))
for v in rack_ha:
    if w[v].get("service") == "edge":
        check(zone_of[w[v]["host"]] == "z1", ("edge's replica went to a host without one", w[v]))
check(not capacity_ok(), ("no host over capacity", capacity_ok()))
ha_ev = ha_events(0, 2000)
fenced = [e for e in ha_ev if e["event"] == "fenced"]
check(sorted(e["host"] for e in fenced) == sorted(lost_hosts) and
      all(e["how"] == "powered-off" for e in fenced), fenced)
check(not [e for e in ha_ev if e["event"] == "storm"], "a rack is no storm")
check(sorted(e["vm"] for e in ha_ev if e["event"] == "restart") == sorted(rack_ha),
      "each HA VM restarted once")

# ---- a zone lost: the storm guard holds, one incident ----
zone_hosts = {h for h in zone_of if zone_of[h] == ZONE_LOST}
storm = wait_for(lambda: [i for i in incidents("storm") if i["title"].find(ZONE_LOST) >= 0],
                 "the zone's storm incident", 60)
check(len(storm) == 1 and storm[0]["event_t_s"] == 2000.0, storm)
zone_vms = [v for h in sorted(zone_hosts) for v in vms_on[h]]
wait_for(lambda: [i for i in incidents("storm") if i["event_t_s"] == 2000.0
                  and i["state"] == "resolved"], "the zone back", 60)
check([i["resolved_t_s"] >= 5000.0 for i in incidents("storm") if i["event_t_s"] == 2000.0] == [True],
      incidents("storm"))
# the storm lists 512 of its VMs at most, and counts them all (the zone's VMs as placed at the
# start, give or take the rack's restarts above)
z = [i for i in incidents("storm") if i["event_t_s"] == 2000.0][0]
check(len(z["vms"]) == z["vms_down"] == 512 and
      max(513, len(zone_vms) - 40) <= z["vms_total"] <= len(zone_vms) + 40,
      ("the storm's VMs: 512 listed, all counted", len(z["vms"]), z["vms_down"],
       z["vms_total"], len(zone_vms)))
ha_ev = ha_events(2000, 5000)
check(not [e for e in ha_ev if e["event"] in ("fenced", "fence_start", "restart")],
      ("nothing fenced or restarted in the storm",
       [e for e in ha_ev if e["event"] in ("fenced", "fence_start", "restart")][:3]))
lost_inc = [i for i in incidents("host-lost") if i["title"].split()[1] in zone_hosts]
check(not lost_inc, ("the zone's hosts are the storm's incident, not one each", lost_inc[:2]))
# the zone back: the storm over, its HA VMs started again (where they fit, spread kept)
zone_ha = [v for v in zone_vms if start[v]["ha"]]
wait_slow(lambda: (lambda w: all(w[v]["state"] == "running" for v in zone_ha))(vms()),
          "the zone's HA VMs run again once it is back", show=lambda: get("/v1/ha"))
check([i["state"] for i in incidents("storm") if i["event_t_s"] == 2000.0] == ["resolved"],
      incidents("storm"))
w = vms()
check(not spread_ok(w) and not capacity_ok(), ("spread and capacity", spread_ok(w)))
check(all(w[v]["state"] == "crashed" for v in zone_vms if not start[v]["ha"]),
      "the zone's VMs that are not HA stay down")

# ---- one host out of the controller's reach: not fenced, nothing restarted ----
one = wait_for(lambda: [i for i in incidents("host-lost") if ONE_CUT in i["title"]
                        and i["decided_t_s"] is not None], "the cut host's incident", 60,
           show=lambda: ([i for i in incidents("host-lost") if ONE_CUT in i["title"]],
                         [e for e in ha_events(7000, 10000) if e["event"] != "restart"][:5],
                         get("/v1/ha")["restart_queue"][:3]))
ha_ev = ha_events(8000, 9000)
mine = [e for e in ha_ev if e.get("host") == ONE_CUT]
check([e["event"] for e in mine][:2] == ["unreachable", "not_fenced"] and
      mine[0]["off"] is False, mine)
w = vms()
check(all(w[v]["state"] == "running" and w[v]["host"] == ONE_CUT for v in vms_on[ONE_CUT]),
      "its VMs run on where they were")
wait_for(lambda: [i for i in incidents("host-lost") if ONE_CUT in i["title"]
                  and i["state"] == "resolved"], "the cut host back", 60)

# ---- four zones out of the controller's reach: a storm, nothing fenced or restarted ----
cut = {h for h in zone_of if zone_of[h] in CUT_ZONES}
wait_for(lambda: [i for i in incidents("storm") if i["event_t_s"] == 11000.0],
         "the partition's storm", 60)
ha_ev = ha_events(11000, 13000)
check(not [e for e in ha_ev if e["event"] in ("fenced", "fence_start", "restart",
                                               "not_fenced")],
      "a partition: nothing fenced or restarted")
w = vms()
check(all(w[v]["state"] == "running" and w[v]["host"] in cut
          for h in cut for v in vms_on[h]), "the cut hosts' VMs run on")
check(not [i for i in incidents("host-lost") if i["title"].split()[1] in cut],
      "one incident, not one a host")
wait_for(lambda: [i["state"] for i in incidents("storm")] == ["resolved", "resolved"],
         "the partition over", 60)
ha = get("/v1/ha")
check(not ha["storm"] and ha["liveness"] == "driver", ha)
w = vms()
check(len(w) == 20000 and not spread_ok(w) and not capacity_ok(), "the end: spread, capacity")
print("ha tick at 10,000 hosts: last %d us, max %d us; %.1f s wall"
      % (ha["tick_us"]["last"], ha["tick_us"]["max"], time.time() - t0))
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
