#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Correlation (docs/ha.md, seed 003): the service two others depend on (depends_on) loses
every VM at once; hvfleetd opens ONE infrastructure incident and pauses per-VM remediation: its
HA VMs are not restarted, a crashed VM's reconciliation restart is held, GET /v1/ha says why.
An operator resumes (POST /v1/ha/resume; a viewer may not): the VMs start again, the incident
resolves once the service runs. Then a fleet-wide symptom (most VMs crashed at once) pauses
again, and ends when they run. agent:// with agents spoken by the test (fakeagent.py).
Usage: correlate.py HVFLEETD HVFLEET"""
import os
import sys
import time

from fakeagent import FakeAgent
from hvfd import Daemon, check, wait_for

HOSTS = ["h1", "h2", "h3"]
INVENTORY = """schema: hvfleet.inventory/v1
hosts:
  - {name: h1, cpus: 8, memory: 8GiB, nic: 1Gbit}
  - {name: h2, cpus: 8, memory: 8GiB, nic: 1Gbit}
  - {name: h3, cpus: 8, memory: 8GiB, nic: 1Gbit}
services:
  - {name: db, min_available: 2, ha: true}
  - {name: web, depends_on: [db]}
  - {name: api, depends_on: [db]}
  - {name: batch}
vms:
  - {name: db1, host: h1, vcpus: 1, memory: 256MiB, service: db}
  - {name: db2, host: h2, vcpus: 1, memory: 256MiB, service: db}
  - {name: web1, host: h1, vcpus: 1, memory: 256MiB, service: web}
  - {name: web2, host: h2, vcpus: 1, memory: 256MiB, service: web}
  - {name: api1, host: h3, vcpus: 1, memory: 256MiB, service: api}
  - {name: batch1, host: h3, vcpus: 1, memory: 256MiB, service: batch}
"""
ON = {"h1": ["db1", "web1"], "h2": ["db2", "web2"], "h3": ["api1", "batch1"]}

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-correlate", speed=0)
with open(os.path.join(d.state_dir, "inventory.yaml"), "w") as f:
    f.write(INVENTORY)
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 3s\nreconcile_restart: true\n"
            "driver: \"agent:///?image=/nonexistent/guest.elf\"\n")
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
op = d.token("operator", "olga")
toks = {h: d.token("agent", "agent-" + h, host=h) for h in HOSTS}
agents = {}


def feed():
    out, since = [], 0
    while True:
        got = d.request("GET", "/v1/events?since=%d&limit=1000" % since, viewer)[2]["events"]
        if not got:
            return out
        out += got
        since = got[-1]["seq"]


def ha():
    return d.request("GET", "/v1/ha", viewer)[2]


def vms():
    return {x["name"]: x for x in d.request("GET", "/v1/vms", viewer)[2]["vms"]}


def infra():
    return [i for i in d.request("GET", "/v1/incidents", viewer)[2]["incidents"]
            if i["kind"] == "infrastructure"]


def starts():
    return [a["vm"] for ag in agents.values() for _, _, a in ag.commands("vm_start")]


try:
    d.start()
    for h in HOSTS:
        agents[h] = FakeAgent(d, h, toks[h], ON[h]).start()
    wait_for(lambda: all(v["state"] == "running" for v in vms().values()), "every VM runs", 20)
    s, _, e = d.request("POST", "/v1/ha/resume", op)
    check(s == 409, ("nothing to resume", s, e))

    # the shared dependency fails: its VMs crash (their agents say so); one is enough to be under
# its min_available (2)
    agents["h1"].kill("db1")
    agents["h2"].kill("db2")
    wait_for(lambda: ha()["remediation"]["paused"], "remediation paused", 20)
    rem = ha()["remediation"]
    check(rem["infrastructure"] and "service db" in rem["why"] and "depend" in rem["why"], rem)
    check(len(infra()) == 1 and infra()[0]["state"] == "open", infra())
    time.sleep(3)  # HA would have restarted them within a second or two
    check(starts() == [], ("no restart while paused", starts()))
    check(vms()["db1"]["state"] == "crashed" and vms()["db2"]["state"] == "crashed", vms())
    held = wait_for(lambda: [e["data"] for e in feed() if e["type"] == "reconcile" and
                             e["data"]["event"] == "held"], "reconciliation's restarts held", 20)
    check(all("paused" in x["why"] for x in held), held)
    check(starts() == [], ("no restart while paused", starts()))
    alerts = wait_for(lambda: [e["data"] for e in feed() if e["type"] == "alert" and
                               e["data"]["kind"] == "ha-infrastructure"], "the alert", 20)
    check(len(alerts) == 1 and "service db" in alerts[0]["summary"], alerts)

    # an operator resumes (a viewer may not): HA restarts them, the incident resolves
    s, _, e = d.request("POST", "/v1/ha/resume", viewer)
    check(s == 403, (s, e))
    s, _, e = d.request("POST", "/v1/ha/resume", op)
    check(s == 202 and e["by"] == "olga", (s, e))
    wait_for(lambda: vms()["db1"]["state"] == "running" and vms()["db2"]["state"] == "running",
             "the db VMs run again", 20)
    check(sorted(starts()) == ["db1", "db2"], ("each started once", starts()))
    wait_for(lambda: infra()[0]["state"] == "resolved", "the incident resolved", 20)
    i = infra()[0]
    check(len(infra()) == 1 and i["actions"] == 1 and i["decided_t_s"] is not None, i)
    ev = [e["data"]["event"] for e in feed() if e["type"] == "ha" and
          e["data"]["event"] in ("infra_failed", "remediation_resumed", "infra_over")]
    check(ev == ["infra_failed", "remediation_resumed", "infra_over"], ev)
    check(not ha()["remediation"]["paused"], ha()["remediation"])

    # a fleet-wide symptom: four of six VMs crash together (none of db's): paused again
    for vm, h in (("web1", "h1"), ("web2", "h2"), ("api1", "h3"), ("batch1", "h3")):
        agents[h].kill(vm)
    wait_for(lambda: ha()["remediation"]["paused"], "paused by a fleet-wide symptom", 20)
    check("fleet-wide" in ha()["remediation"]["why"], ha()["remediation"])
    check(len(infra()) == 2, infra())
    time.sleep(2)
    check(sorted(starts()) == ["db1", "db2"], ("no restart while paused", starts()))
    s, _, e = d.request("POST", "/v1/ha/resume", op)
    check(s == 202, (s, e))
    wait_for(lambda: all(v["state"] == "running" for v in vms().values()),
             "every VM restarted (reconcile_restart) once resumed", 20)
    wait_for(lambda: all(i["state"] == "resolved" for i in infra()), "both resolved", 20)
except BaseException:
    for e in feed():
        if e["type"] in ("reconcile", "ha"):
            print("event:", e["type"], e["data"], file=sys.stderr)
    print("hvfleetd log:", d.log_text()[-3000:], file=sys.stderr)
    raise
finally:
    for a in agents.values():
        a.close()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
