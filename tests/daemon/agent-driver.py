#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd's agent:// driver with real hvfleet-agents (sim executor) on 127.0.0.1: hosts are down
until their agent registers; VMs start through the API as agent commands; a drain plan approved
by two people runs its live migrations as migrate_in/migrate_out commands, each run once, and
the VMs end on the other hosts; an agent that stops answering takes its host down; bad input is
refused; a host whose NICs are not the inventory's stays down until the inventory is updated.
Every process is killed by PID on every path.
Usage: agent-driver.py HVFLEETD HVFLEET HVFLEET_AGENT"""
import collections
import os
import subprocess
import sys

from hvfd import Daemon, check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-agent-driver", speed=0)
agent_bin = sys.argv[3]
HOSTS = ["h1", "h2", "h3"]
# h4 claims a NIC no host of this machine has: its agent is not the host the inventory knows
H4_NICS = "nics: [{name: hvfnone0, mac: \"02:00:5e:00:00:01\"}]"


def inventory(h4_nics):
    text = "schema: hvfleet.inventory/v1\nhosts:\n"
    for h in HOSTS:
        text += "  - {name: %s, cpus: 8, memory: 8GiB, nic: 1Gbit}\n" % h
    text += "  - {name: h4, cpus: 8, memory: 8GiB, nic: 1Gbit%s}\n" % (
        ", " + h4_nics if h4_nics else "")
    text += "vms:\n"
    for h in HOSTS:
        for j in range(2):
            text += ("  - {name: %s-vm%d, host: %s, vcpus: 1, memory: 256MiB, "
                     "dirty_rate: 1MiB/s}\n" % (h, j, h))
    return text


# where PUT /v1/inventory keeps it: the driver takes it as sim:/// would
with open(os.path.join(d.state_dir, "inventory.yaml"), "w") as f:
    f.write(inventory(H4_NICS))
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 3s\n"
            "driver: \"agent:///?image=/nonexistent/guest.elf&append=rate={dirty_mib_per_s}\"\n")
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
op = d.token("operator", "olga")
ap = d.token("approver", "bob")
toks = {}
for h in HOSTS + ["h4"]:
    toks[h] = os.path.join(d.state_dir, "agent-%s.token" % h)
    with open(toks[h], "w") as f:
        f.write(d.token("agent", "agent-" + h, host=h) + "\n")
agents = {}


def start_agent(h):
    sd = os.path.join(d.state_dir, "agent-" + h)
    log = open(sd + ".log", "ab")
    agents[h] = subprocess.Popen(
        [agent_bin, "--controller", "http://127.0.0.1:%d" % d.port, "--token-file", toks[h],
         "--host", h, "--heartbeat", "1s", "--backoff-max", "1s", "--executor", "sim",
         "--sim-delay", "migrate_out=400ms", "--sim-progress", "100ms", "--state-dir", sd],
        stdout=log, stderr=log)


def executed(h):
    """The commands the agent of @h ran, as (id, type), from its sim executor's record."""
    path = os.path.join(d.state_dir, "agent-" + h, "sim", "executed.log")
    if not os.path.exists(path):
        return []
    return [tuple(x.split()[:2]) for x in open(path) if x.strip()]


def feed():
    out, since = [], 0
    while True:
        got = d.request("GET", "/v1/events?since=%d&limit=1000" % since, viewer)[2]["events"]
        if not got:
            return out
        out += got
        since = got[-1]["seq"]


def hosts():
    return {x["name"]: x for x in d.request("GET", "/v1/hosts", viewer)[2]["hosts"]}


def vms():
    return {x["name"]: x for x in d.request("GET", "/v1/vms", viewer)[2]["vms"]}


try:
    d.start()
    # nobody speaks for the hosts yet: they are down, and nothing can start there
    check(all(x["state"] == "down" for x in hosts().values()), hosts())
    s, _, e = d.request("POST", "/v1/vms/h1-vm0/start", op)
    check(s == 409 and "agent" in e["error"]["message"], (s, e))
    for h in HOSTS + ["h4"]:
        start_agent(h)
    wait_for(lambda: all(hosts()[h]["state"] == "active" for h in HOSTS),
             "every host active once its agent registered", 30)
    row = wait_for(lambda: [a for a in d.request("GET", "/v1/agents", viewer)[2]["agents"]
                            if a["host"] == "h4" and a.get("identity")],
                   "h4's agent refused for its identity", 30)[0]
    check("hvfnone0" in row["identity"] and hosts()["h4"]["state"] == "down", (row, hosts()))
    for name in sorted(vms()):
        s, _, e = d.request("POST", "/v1/vms/%s/start" % name, op)
        check(s == 200, (name, s, e))
    wait_for(lambda: all(v["state"] == "running" for v in vms().values()),
             "every VM running after vm_start commands", 30)
    check(sorted(t for _, t in executed("h1") if t == "vm_start") == ["vm_start"] * 2,
          executed("h1"))
    # each running VM's dirty rate measured on its host (the sim executor says 1e7 B/s): the
    # planners predict with it instead of the inventory's 1 MiB/s
    wait_for(lambda: all(abs(v["dirty_mib_per_s"] - 1e7 / 1048576) < 0.01
                         for v in vms().values()), "measured dirty rates in the fleet", 30)
    check(sorted(t for _, t in executed("h1")).count("dirty_rate") == 2, executed("h1"))
    s, _, e = d.request("POST", "/v1/vms/nope/start", op)
    check(s == 404, (s, e))

    # drain h1 through a plan, the two-person rule, a run
    s, _, p = d.request("POST", "/v1/plans", op, {"kind": "drain", "hosts": ["h1"]})
    check(s == 201, (s, p))
    s, _, a = d.request("POST", "/v1/plans/%s/approvals" % p["plan_hash"], ap)
    check(s == 201, (s, a))
    s, _, run = d.request("POST", "/v1/plans/%s/runs" % p["plan_hash"], op)
    check(s in (201, 202), (s, run))
    rid = run["id"]
    r = wait_for(lambda: (lambda x: x if x["state"] not in ("running", "starting") else None)(
        d.request("GET", "/v1/runs/%d" % rid, viewer)[2]), "the drain run ends", 60)
    check(r["state"] == "done" and r["result"] == "done", (r, open(r["record"]).read()[:3000]))
    placed = vms()
    check(all(placed["h1-vm%d" % j]["host"] in ("h2", "h3") for j in range(2)), placed)
    check(all(v["state"] == "running" for v in placed.values()), placed)
    # each migration: one migrate_out on h1, one migrate_in on its target; none twice
    outs = [i for i, t in executed("h1") if t == "migrate_out"]
    ins = [i for h in ("h2", "h3") for i, t in executed(h) if t == "migrate_in"]
    check(len(outs) == 2 and len(ins) == 2, (executed("h1"), ins))
    every = [i for h in HOSTS for i, _ in executed(h)]
    check(not [i for i, n in collections.Counter(every).items() if n > 1], every)
    check(hosts()["h1"]["state"] in ("draining", "active"), hosts()["h1"])

    # an agent that stops answering takes its host down; back when it syncs again
    agents["h3"].kill()
    agents["h3"].wait()
    wait_for(lambda: hosts()["h3"]["state"] == "down", "h3 down after its agent went silent", 30)
    ev = feed()
    check(any(e["type"] == "driver" and e["data"].get("event") == "host_lost" and
              e["data"].get("host") == "h3" for e in ev), "host_lost of h3 in the feed")
    s, _, e = d.request("POST", "/v1/vms/h2-vm0/migrate", op, {"host": "h3"})
    check(s in (409, 422) and "h3" in e["error"]["message"], (s, e))
    start_agent("h3")
    wait_for(lambda: hosts()["h3"]["state"] == "active", "h3 back once its agent syncs", 30)
    # its VMs: the sim executor keeps none across a restart, so they are stopped there now
    wait_for(lambda: vms()["h3-vm0"]["state"] == "stopped", "h3's VMs reported stopped", 30)
    # one VM moved by the API: a one-move plan, run as migrate_in + migrate_out
    s, _, e = d.request("POST", "/v1/vms/h2-vm0/migrate", op, {"host": "h3"})
    check(s in (200, 201, 202), (s, e))
    wait_for(lambda: vms()["h2-vm0"]["host"] == "h3" and vms()["h2-vm0"]["state"] == "running",
             "h2-vm0 runs on h3 after its migration", 30)
    check([t for _, t in executed("h3")].count("migrate_in") == 1, executed("h3"))

    # h4 is still out: the feed said why once, and its agent keeps syncing
    check(hosts()["h4"]["state"] == "down", hosts()["h4"])
    mism = [e for e in feed() if e["data"].get("type") == "agent_identity_mismatch"]
    check(len(mism) == 1 and mism[0]["data"]["host"] == "h4", mism)
    check(agents["h4"].poll() is None, "h4's agent runs on")
    # the inventory updated (h4 without its stale NICs): h4 registers and is in service
    s, _, r = d.request("PUT", "/v1/inventory", op, raw=inventory("").encode(),
                        headers={"Content-Type": "application/yaml"})
    check(s == 200 and r["driver"].startswith("agent://"), (s, r))
    wait_for(lambda: hosts()["h4"]["state"] == "active", "h4 active once the inventory agrees",
             30)

    # hvfleetd restarted on the same port: the agents are told to register again (409
    # re-register) and the new driver learns every host from them
    port = d.port
    check(d.stop() == 0, "SIGTERM: exit 0")
    d.start(extra=["--listen", "127.0.0.1:%d" % port])
    wait_for(lambda: all(x["state"] == "active" for x in hosts().values()),
             "every host active again after the daemon's restart", 30)
    check(all(p.poll() is None for p in agents.values()), "no agent exited")
except BaseException:
    print("vms:", vms(), "\nhosts:", hosts(), file=sys.stderr)
    print("executed:", {h: executed(h) for h in HOSTS}, file=sys.stderr)
    print("agents:", [(a["host"], a["state"], a["identity"]) for a in
                      d.request("GET", "/v1/agents", viewer)[2]["agents"]], file=sys.stderr)
    for e in feed():
        if e["type"] != "agent_event":
            print("event:", e["type"], e["data"], file=sys.stderr)
    for h in HOSTS:
        log = os.path.join(d.state_dir, "agent-%s.log" % h)
        if os.path.exists(log):
            print("agent %s log:" % h, open(log).read()[-1500:], file=sys.stderr)
    print("hvfleetd log:", d.log_text()[-3000:], file=sys.stderr)
    raise
finally:
    for p in agents.values():
        if p.poll() is None:
            p.kill()
            p.wait()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
