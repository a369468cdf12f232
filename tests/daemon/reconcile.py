#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reconciliation's actions (docs/ha.md, seed 003) with hvfleetd's agent:// driver and agents
spoken by the test (fakeagent.py), whose QEMUs change behind hvfleetd's back:
- a VM alive where hvfleetd believes it stopped is held while the fleet is frozen, then stopped
  by its agent; one whose stop does nothing is not stopped again within the cooldown;
- a copy of a VM started on a second host is killed there (qemu_kill), the other runs on;
- a VM whose QEMU crashed is started again on its host, an unknown QEMU adopted;
- during a storm (two of five hosts silent) a stop is held, and taken once the storm is over;
- with one action a minute, a duplicate's destroy goes before a stop, which waits; a restart
  not allowed by the policy is reported only.
Every process is stopped by PID on every path. Usage: reconcile.py HVFLEETD HVFLEET [rate|storm]"""
import os
import sys
import time

from fakeagent import FakeAgent
from hvfd import Daemon, check, wait_for

HOSTS = ["h1", "h2", "h3", "h4", "h5"]


def inventory():
    text = "schema: hvfleet.inventory/v1\nhosts:\n"
    for h in HOSTS:
        text += "  - {name: %s, cpus: 8, memory: 8GiB, nic: 1Gbit}\n" % h
    text += "vms:\n"
    for h in HOSTS:
        for j in range(2):
            text += "  - {name: %s-vm%d, host: %s, vcpus: 1, memory: 256MiB}\n" % (h, j, h)
    return text


def daemon(name, extra):
    d = Daemon(sys.argv[1], sys.argv[2], name=name, speed=0)
    with open(os.path.join(d.state_dir, "inventory.yaml"), "w") as f:
        f.write(inventory())
    cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
    with open(cfg, "w") as f:
        f.write("agent_heartbeat_s: 1\nagent_down_after: 3s\n"
                "driver: \"agent:///?image=/nonexistent/guest.elf\"\n" + extra)
    d.args = ["--config", cfg]
    return d


def feed(d, tok):
    out, since = [], 0
    while True:
        got = d.request("GET", "/v1/events?since=%d&limit=1000" % since, tok)[2]["events"]
        if not got:
            return out
        out += got
        since = got[-1]["seq"]


def rc(d, tok, event=None, vm=None):
    return [e["data"] for e in feed(d, tok) if e["type"] == "reconcile" and
            (event is None or e["data"]["event"] == event) and
            (vm is None or e["data"]["vm"] == vm)]


def vms(d, tok):
    return {x["name"]: x for x in d.request("GET", "/v1/vms", tok)[2]["vms"]}


def agent_tokens(d):
    return {h: d.token("agent", "agent-" + h, host=h) for h in HOSTS}


def start_agents(d, toks, stopped=()):
    agents = {}
    for h in HOSTS:
        tok = toks[h]
        mine = ["%s-vm%d" % (h, j) for j in range(2) if "%s-vm%d" % (h, j) not in stopped]
        agents[h] = FakeAgent(d, h, tok, mine).start()
    return agents


def first_daemon(part):
    d = daemon("hvfd-reconcile", "reconcile_destroy: true\nreconcile_stop: true\n"
               "reconcile_restart: true\nreconcile_adopt: true\n"
               "reconcile_actions_per_minute: 120\n")
    viewer = d.token("viewer", "vic")
    op = d.token("operator", "olga")
    toks = agent_tokens(d)
    d.start()
    # h3-vm1, h2-vm1 and h1-vm1 run nowhere at the start: hvfleetd has them stopped
    agents = start_agents(d, toks, stopped=("h3-vm1", "h2-vm1", "h1-vm1"))
    try:
        wait_for(lambda: vms(d, viewer)["h1-vm0"]["state"] == "running" and
                 vms(d, viewer)["h3-vm1"]["state"] == "stopped", "the agents' VMs known", 20)
        time.sleep(2)
        check(rc(d, viewer, "found") == [], ("nothing diverges at the start", rc(d, viewer)))

        if part == "actions":
            phase_actions(d, agents, viewer, op)
        else:
            phase_storm(d, agents, viewer)
    except BaseException:
        for e in feed(d, viewer):
            if e["type"] in ("reconcile", "ha"):
                print("event:", e["type"], e["data"], file=sys.stderr)
        print("hvfleetd log:", d.log_text()[-3000:], file=sys.stderr)
        raise
    finally:
        for a in agents.values():
            a.close()
    check(d.stop() == 0, "SIGTERM: exit 0")


def phase_actions(d, agents, viewer, op):
    # unexpected, while frozen: held, not stopped; unfrozen: stopped by its agent
    s, _, e = d.request("PUT", "/v1/freeze", op, {"reason": "test: a change freeze"})
    check(s in (200, 201), (s, e))
    agents["h3"].run_behind("h3-vm1")
    wait_for(lambda: rc(d, viewer, "held", "h3-vm1"), "the stop held by the freeze", 20)
    held = rc(d, viewer, "held", "h3-vm1")[0]
    check("frozen" in held["why"] and held["action"] == "stop", held)
    time.sleep(1.5)
    check(agents["h3"].commands("vm_stop") == [], ("no stop while frozen",
                                                   agents["h3"].commands()))
    check("h3-vm1" in agents["h3"].alive, "h3-vm1 runs on while frozen")
    s, _, e = d.request("DELETE", "/v1/freeze", op)
    check(s in (200, 204), (s, e))
    wait_for(lambda: "h3-vm1" not in agents["h3"].alive, "h3-vm1 stopped once unfrozen", 20)
    stops = agents["h3"].commands("vm_stop")
    check(len(stops) == 1 and stops[0][2]["vm"] == "h3-vm1", stops)
    wait_for(lambda: rc(d, viewer, "ended", "h3-vm1"), "the divergence's end", 20)
    check(vms(d, viewer)["h3-vm1"]["state"] == "stopped", vms(d, viewer)["h3-vm1"])

    # a copy of h1-vm0 started by hand on h2: killed there, h1's runs on
    agents["h2"].add_unknown(4242, "qemu-system-x86_64 -name guest=h1-vm0 -m 256")
    wait_for(lambda: 4242 not in agents["h2"].unknown, "the extra copy killed", 20)
    kills = agents["h2"].commands("qemu_kill")
    check([(k[2]["vm"], k[2]["pid"]) for k in kills] == [("h1-vm0", 4242)], kills)
    check("h1-vm0" in agents["h1"].alive and agents["h1"].commands("vm_destroy") == [],
          "the copy hvfleetd believes in runs on")
    destroy = rc(d, viewer, "destroy", "h1-vm0")
    check([(x["host"], x["result"]) for x in destroy] == [("h2", "sent")], destroy)
    wait_for(lambda: rc(d, viewer, "ended", "h1-vm0"), "the duplicate's end", 20)

    # a QEMU that crashed: started again on its host
    agents["h4"].kill("h4-vm0")
    wait_for(lambda: "h4-vm0" in agents["h4"].alive, "h4-vm0 started again", 20)
    check([c[2]["vm"] for c in agents["h4"].commands("vm_start")] == ["h4-vm0"],
          agents["h4"].commands())
    wait_for(lambda: vms(d, viewer)["h4-vm0"]["state"] == "running", "h4-vm0 running", 20)
    restart = rc(d, viewer, "restart", "h4-vm0")
    check(restart and restart[0]["to"] == "h4" and restart[0]["result"] == "sent", restart)

    # an unknown QEMU: adopted, shown in GET /v1/ha, no longer a divergence
    # (and a VM of the agent's own list that the inventory does not have)
    agents["h5"].add_unknown(777, "qemu-system-x86_64 -name guest=stranger")
    agents["h5"].run_behind("ghost")
    wait_for(lambda: len(rc(d, viewer, "adopt")) == 2, "the unknown QEMUs adopted", 20)
    ha = d.request("GET", "/v1/ha", viewer)[2]
    check(sorted((a["host"], a["pid"]) for a in ha["adopted"]) == [("h5", 0), ("h5", 777)],
          ha["adopted"])
    wait_for(lambda: len([x for x in rc(d, viewer, "ended") if x["kind"] == "unknown"]) == 2,
             "the adopted QEMUs no longer divergences", 20)
    check(777 in agents["h5"].unknown and "ghost" in agents["h5"].alive,
          "an adopted QEMU is not killed")
    time.sleep(1.5)
    check(len(rc(d, viewer, "adopt")) == 2 and len(d.request("GET", "/v1/ha", viewer)[2]
                                                    ["adopted"]) == 2,
          ("adopted once each", rc(d, viewer, "adopt")))

    # each divergence is an incident; those acted on count their actions
    inc = {i["title"]: i for i in d.request("GET", "/v1/incidents", viewer)[2]["incidents"]
           if i["kind"] == "divergence"}
    one = [i for t, i in inc.items() if t.startswith("unexpected: h3-vm1")]
    check(one and one[0]["state"] == "resolved" and one[0]["actions"] == 1 and
          one[0]["decided_t_s"] is not None, inc)


def phase_storm(d, agents, viewer):
    # a stop that does nothing: the divergence lasts, no second stop within the cooldown
    agents["h2"].ignore.add("vm_stop")
    agents["h2"].run_behind("h2-vm1")
    wait_for(lambda: agents["h2"].commands("vm_stop"), "the stop of h2-vm1", 20)
    time.sleep(3)
    check(len(agents["h2"].commands("vm_stop")) == 1, agents["h2"].commands("vm_stop"))
    div = [x for x in d.request("GET", "/v1/ha", viewer)[2]["divergences"]
           if x["vm"] == "h2-vm1"]
    check(div and div[0]["kind"] == "unexpected" and div[0]["action"] in ("taken",
                                                                           "cooldown"), div)
    check(len(rc(d, viewer, "queued", "h2-vm1")) == 1, rc(d, viewer, "queued", "h2-vm1"))

    # a storm (two of five hosts silent): a stop is held; taken once the storm is over
    agents["h4"].silent = agents["h5"].silent = True
    wait_for(lambda: d.request("GET", "/v1/ha", viewer)[2]["storm"], "the storm", 20)
    agents["h1"].run_behind("h1-vm1")
    wait_for(lambda: rc(d, viewer, "held", "h1-vm1"), "the stop held by the storm", 20)
    check("storm" in rc(d, viewer, "held", "h1-vm1")[0]["why"], rc(d, viewer, "held"))
    time.sleep(1.5)
    check(agents["h1"].commands("vm_stop") == [], "no stop during the storm")
    agents["h4"].silent = agents["h5"].silent = False
    wait_for(lambda: not d.request("GET", "/v1/ha", viewer)[2]["storm"], "the storm over",
             20)
    wait_for(lambda: "h1-vm1" not in agents["h1"].alive, "h1-vm1 stopped after the storm",
             20)



def rate_daemon():
    d = daemon("hvfd-reconcile-rate", "reconcile_destroy: true\nreconcile_stop: true\n"
               "reconcile_actions_per_minute: 1\n")
    viewer = d.token("viewer", "vic")
    toks = agent_tokens(d)
    d.start()
    agents = start_agents(d, toks, stopped=("h1-vm1",))
    try:
        wait_for(lambda: vms(d, viewer)["h3-vm0"]["state"] == "running", "the agents' VMs", 20)
        time.sleep(2.5)
        # in one heartbeat: a duplicate, an unexpected VM, a crashed one
        with agents["h1"].lock, agents["h3"].lock:
            agents["h1"].unknown[4343] = "qemu-system-x86_64 -name guest=h2-vm0"
            agents["h1"].alive["h1-vm1"] = 6001
            agents["h3"].alive.pop("h3-vm0")
            agents["h3"]._event({"type": "vm_state", "vm": "h3-vm0", "state": "crashed"})
        wait_for(lambda: rc(d, viewer, "not_acted", "h3-vm0") and
                 [1 for _, t, _ in agents["h1"].commands() if t != "dirty_rate"],
                 "a first action", 20)
        time.sleep(3)
        got = [(t, a["vm"]) for _, t, a in agents["h1"].commands() if t != "dirty_rate"]
        check(got == [("qemu_kill", "h2-vm0")], ("the destroy first, then nothing: one action "
                                                 "a minute", got))
        ha = d.request("GET", "/v1/ha", viewer)[2]
        q = ha["reconcile_actions"]
        check(q["queued"] == 1 and q["taken"] == 1 and q["rate_limited"] > 0, q)
        check("h1-vm1" in agents["h1"].alive, "the stop waits for its turn")
        na = rc(d, viewer, "not_acted", "h3-vm0")
        check(na and "reconcile_restart is off" in na[0]["why"], na)
        check(agents["h3"].commands("vm_start") == [], "no restart: the policy says report")
    except BaseException:
        for e in feed(d, viewer):
            if e["type"] in ("reconcile", "ha"):
                print("event:", e["type"], e["data"], file=sys.stderr)
        print("hvfleetd log:", d.log_text()[-3000:], file=sys.stderr)
        raise
    finally:
        for a in agents.values():
            a.close()
    check(d.stop() == 0, "SIGTERM: exit 0")


if sys.argv[3:] == ["rate"]:
    rate_daemon()
elif sys.argv[3:] == ["storm"]:
    first_daemon("storm")
else:
    first_daemon("actions")
print("ok")
