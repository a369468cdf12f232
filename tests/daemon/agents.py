#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd's side of the agent protocol (docs/agent-protocol.md), spoken by this test as an agent
would: the first sync registers with facts, the token speaks for its host only, events are
committed to the feed once each (a batch sent again is not doubled), a sync without commands is
held (on a parked connection: the daemon's threads do not grow with waiting agents), a stale
session is told to re-register, and a silent agent's host goes suspect then down, in the feed,
GET /v1/agents and /metrics. Usage: agents.py HVFLEETD HVFLEET"""
import os
import sys
import threading
import time

from hvfd import Daemon, check, promtool_check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-agents")
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 5s\n")
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
op = d.token("operator", "alice")
hosts = ["kvm000%d" % i for i in range(1, 9)]
tok = {h: d.token("agent", "agent-" + h, host=h) for h in hosts}
d.start()

facts = {"agent_version": "0.1.0", "kernel": "6.1.0", "cpus": 64, "mem_mib": 524288,
         "nics": [{"name": "eno1", "mac": "3c:ec:ef:00:11:22"}], "vms": [], "unknown_qemu": []}


def sync(host, body, token=None, timeout=30):
    b = {"host": host}
    b.update(body)
    return d.request("POST", "/v1/agent/sync", token or tok[host], b, timeout=timeout)


# registering
s, _, e = sync("kvm0001", {"session": ""})
check(s == 400 and e["error"]["field"] == "facts", e)
s, _, a = sync("kvm0001", {"session": "", "boot_id": "b1", "facts": facts, "wait_s": 0})
check(s == 200 and len(a["session"]) == 32 and a["commands"] == [] and a["heartbeat_s"] == 1, a)
sess = a["session"]
# the token speaks for its host only; other roles may not sync
s, _, e = sync("kvm0002", {"session": "", "facts": facts}, token=tok["kvm0001"])
check(s == 403 and e["error"]["field"] == "host", e)
check(sync("kvm0001", {"session": sess}, token=op)[0] == 403, "an operator token may not sync")
check(d.request("GET", "/v1/agents", tok["kvm0001"])[0] == 403, "an agent token may not read")
s, _, e = sync("kvm0001", {"session": "0" * 32})
check(s == 409 and e["error"]["field"] == "session", e)
s, _, e = sync("kvm0001", {"session": sess, "results": [{"id": "x", "status": "maybe"}]})
check(s == 400 and e["error"]["field"] == "results[0]", e)
s, _, e = sync("kvm0001", {"session": sess, "events": [{"seq": 0, "type": "job"}]})
check(s == 400 and e["error"]["field"] == "events[0]", e)

# events: committed once each, acknowledged by seq
ev = [{"seq": n, "type": "vm_state", "vm": "vm%02d" % n, "state": "running"} for n in (1, 2, 3)]
hb = {"rss_bytes": 9437184, "threads": 6, "open_files": 14,
      "queues": {"commands": 0, "events": 3, "results": 0},
      "dropped": {"events": 0, "progress": 12, "commands_busy": 1}, "vms": 0}
s, _, a = sync("kvm0001", {"session": sess, "events": ev, "heartbeat": hb})
check(s == 200 and a["acked_events"] == 3, a)
ev2 = ev[1:] + [{"seq": 4, "type": "vm_state", "vm": "vm04", "state": "running"}]
s, _, a = sync("kvm0001", {"session": sess, "events": ev2, "heartbeat": hb})
check(s == 200 and a["acked_events"] == 4, a)
feed = d.request("GET", "/v1/events?since=0&limit=1000", viewer)[2]["events"]
got = sorted(e["data"]["event"]["seq"] for e in feed if e["type"] == "agent_event")
check(got == [1, 2, 3, 4], ("each agent event once in the feed", got))
check(any(e["type"] == "agent" and e["data"]["type"] == "agent_registered" for e in feed),
      "the registration is in the feed")
s, _, ag = d.request("GET", "/v1/agents", viewer)
one = [x for x in ag["agents"] if x["host"] == "kvm0001"][0]
check(one["state"] == "connected" and one["boot_id"] == "b1" and one["events"] == 4 and
      one["heartbeat"]["rss_bytes"] == 9437184 and one["facts"]["cpus"] == 64, one)

# a sync with nothing to answer is held up to wait_s (capped at the heartbeat), on a parked
# connection: eight agents waiting at once do not add a thread to the daemon
sessions = {"kvm0001": sess}
for h in hosts[1:]:
    sessions[h] = sync(h, {"session": "", "facts": facts})[2]["session"]


def threads():
    return len(os.listdir("/proc/%d/task" % d.proc.pid))


before = threads()
held = {}


def park(h):
    t0 = time.time()
    s, _, a = sync(h, {"session": sessions[h], "wait_s": 30})
    held[h] = (s, time.time() - t0, a)


ts = [threading.Thread(target=park, args=(h,)) for h in hosts]
for t in ts:
    t.start()
time.sleep(0.5)
during = threads()
for t in ts:
    t.join(30)
check(during <= before, "threads %d while 8 syncs wait, %d before" % (during, before))
check(all(v[0] == 200 and v[2]["commands"] == [] and 0.8 <= v[1] < 5 for v in held.values()),
      ("held about a heartbeat (1 s), then answered", held))

# /metrics (promtool reads it) and the page count them
s, _, m = d.request("GET", "/metrics", viewer)
check("hvfleet_agents_connected 8" in m, [x for x in m.splitlines() if "agents" in x])
check('hvfleet_agent_dropped{what="progress"} 12' in m, "the agents' drops summed")
promtool_check(m)

# silence: kvm0002..8 keep syncing, kvm0001 stops: suspect after 3 heartbeats, down after 5 s
stop = threading.Event()


def keep_alive():
    while not stop.is_set():
        for h in hosts[1:]:
            sync(h, {"session": sessions[h]})
        stop.wait(0.3)


ka = threading.Thread(target=keep_alive)
ka.start()
try:
    wait_for(lambda: [x for x in d.request("GET", "/v1/agents", viewer)[2]["agents"]
                      if x["host"] == "kvm0001" and x["state"] == "suspect"], "suspect", 20)
    wait_for(lambda: [x for x in d.request("GET", "/v1/agents", viewer)[2]["agents"]
                      if x["host"] == "kvm0001" and x["state"] == "down"], "down", 20)
    states = {x["host"]: x["state"] for x in d.request("GET", "/v1/agents", viewer)[2]["agents"]}
    check(all(states[h] == "connected" for h in hosts[1:]), states)
finally:
    stop.set()
    ka.join(30)
feed = d.request("GET", "/v1/events?since=0&limit=1000", viewer)[2]["events"]
kinds = [e["data"]["type"] for e in feed if e["type"] == "agent" and
         e["data"].get("host") == "kvm0001"]
check(kinds[-2:] == ["agent_suspect", "agent_down"], kinds)
# it comes back with its session: connected again, and the feed says so
s, _, a = sync("kvm0001", {"session": sess})
check(s == 200, a)
feed = d.request("GET", "/v1/events?since=0&limit=1000", viewer)[2]["events"]
check([e["data"]["type"] for e in feed if e["type"] == "agent"][-1] == "agent_back", "back")
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
