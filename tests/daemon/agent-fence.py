#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd takes an agent's self-fence report: the real hvfleet-agent (--fence-after 3s) loses
the real hvfleetd (SIGSTOP for 5 s), fences itself, and its next sync carries "fenced"; hvfleetd
accepts the field, shows it in GET /v1/agents (as docs/openapi.json's AgentFence says), and the
agent removes STATE/fenced.json after the 200. A sync whose "fenced" is no object is refused 400.
Every process is killed by PID on every path. Usage: agent-fence.py HVFLEETD HVFLEET HVFLEET_AGENT"""
import json
import os
import signal
import subprocess
import sys
import time

from hvfd import Daemon, check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-agent-fence")
agent_bin = sys.argv[3]
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 10s\n")
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
agent_tok = d.token("agent", "agent-kvm0001", host="kvm0001")
tok = os.path.join(d.state_dir, "agent.token")
with open(tok, "w") as f:
    f.write(agent_tok + "\n")
state = os.path.join(d.state_dir, "agent")
fenced_json = os.path.join(state, "fenced.json")
d.start()
agent = None


def agent_row():
    rows = [x for x in d.request("GET", "/v1/agents", viewer)[2]["agents"]
            if x["host"] == "kvm0001"]
    return rows[0] if rows else None


try:
    log = open(os.path.join(d.state_dir, "agent.log"), "ab")
    agent = subprocess.Popen([agent_bin, "--controller", "http://127.0.0.1:%d" % d.port,
                              "--token-file", tok, "--host", "kvm0001", "--heartbeat", "1s",
                              "--fence-after", "3s", "--backoff-max", "1s", "--executor", "sim",
                              "--state-dir", state], stdout=log, stderr=log)
    wait_for(lambda: (lambda r: r and r["heartbeat"])(agent_row()), "the agent registers", 20)
    check("fenced" not in agent_row(), "no fence reported yet")
    d.proc.send_signal(signal.SIGSTOP)
    try:
        end = time.time() + 8
        while not os.path.exists(fenced_json) and time.time() < end:
            time.sleep(0.05)
        check(os.path.exists(fenced_json), "the agent fenced itself while hvfleetd was stopped")
        with open(fenced_json) as f:
            rec = json.load(f)
    finally:
        d.proc.send_signal(signal.SIGCONT)
    row = wait_for(lambda: (lambda r: r if r and "fenced" in r else None)(agent_row()),
                   "GET /v1/agents shows the fence", 20)
    check(row["fenced"] == rec, "the report as the agent wrote it: %s" % row["fenced"])
    check(set(rec) >= {"at_unix", "boot_id", "vms", "fence_after_ms"}, rec)
    wait_for(lambda: not os.path.exists(fenced_json), "fenced.json removed after the 200", 10)
    s, _, body = d.request("POST", "/v1/agent/sync", agent_tok,
                           {"host": "kvm0001", "session": "x", "fenced": [1]})
    check(s == 400 and "fenced" in json.dumps(body), "fenced: [1] is refused: %s %s" % (s, body))
finally:
    if agent and agent.poll() is None:
        agent.kill()
        agent.wait()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
