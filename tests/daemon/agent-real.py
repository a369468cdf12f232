#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real hvfleet-agent against the real hvfleetd, both on 127.0.0.1: the agent registers with
its host's facts and heartbeats on one connection; killed (SIGKILL), its host goes suspect then
down; started again, it registers anew and the host is connected again. Every process is killed
by PID on every path. Usage: agent-real.py HVFLEETD HVFLEET HVFLEET_AGENT"""
import os
import signal
import subprocess
import sys
import time

from hvfd import Daemon, check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-agent-real")
agent_bin = sys.argv[3]
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 4s\n")
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
tok = os.path.join(d.state_dir, "agent.token")
with open(tok, "w") as f:
    f.write(d.token("agent", "agent-kvm0001", host="kvm0001") + "\n")
d.start()
agents = []


def start_agent():
    log = open(os.path.join(d.state_dir, "agent.log"), "ab")
    p = subprocess.Popen([agent_bin, "--controller", "http://127.0.0.1:%d" % d.port,
                          "--token-file", tok, "--host", "kvm0001", "--heartbeat", "1s",
                          "--state-dir", os.path.join(d.state_dir, "agent")],
                         stdout=log, stderr=log)
    agents.append(p)
    return p


def kill_agents():
    for p in agents:
        if p.poll() is None:
            p.kill()
            p.wait()


def agent_row():
    rows = [x for x in d.request("GET", "/v1/agents", viewer)[2]["agents"]
            if x["host"] == "kvm0001"]
    return rows[0] if rows else None


try:
    a = start_agent()
    row = wait_for(lambda: (lambda r: r if r and r["heartbeat"] else None)(agent_row()),
                   "the agent registers and heartbeats", 20)
    check(row["state"] == "connected" and row["facts"]["cpus"] == os.cpu_count(), row)
    check(row["heartbeat"]["threads"] <= 4 + 3 and row["heartbeat"]["rss_bytes"] > 0, row)
    with open("/proc/%d/status" % a.pid) as f:
        threads = [int(x.split()[1]) for x in f if x.startswith("Threads:")][0]
    check(threads <= 4 + 3, "the agent has %d threads" % threads)
    s, _, m = d.request("GET", "/metrics", viewer)
    check("hvfleet_agents_connected 1" in m, "counted in /metrics")
    a.send_signal(signal.SIGKILL)
    a.wait()
    wait_for(lambda: agent_row()["state"] == "suspect", "suspect after 3 heartbeats", 20)
    wait_for(lambda: agent_row()["state"] == "down", "down after 4 s", 20)
    start_agent()
    wait_for(lambda: agent_row()["state"] == "connected", "connected again", 20)
    ev = [e["data"]["type"] for e in d.request("GET", "/v1/events?since=0&limit=1000",
                                               viewer)[2]["events"] if e["type"] == "agent"]
    check(ev.count("agent_registered") == 2 and "agent_down" in ev, ev)
finally:
    kill_agents()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
