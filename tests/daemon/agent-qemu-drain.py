#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A drain through hvfleetd on real QEMU: two hvfleet-agents (qemu executor) on 127.0.0.1 for
hosts h1 and h2, hvfleetd on the agent:// driver; the VMs start through the API, a drain of h1
approved by two people runs its live migrations as QEMU migrations, and afterwards every VM runs
exactly once (one live QEMU, on h2), and each guest's write counter went on from where it was
on h1 with no stale page. Prints the twin's predicted drain time beside the measured one.
Skipped (77) without qemu-system-x86_64. Every agent and QEMU is killed by PID on every path.
Usage: agent-qemu-drain.py HVFLEETD HVFLEET HVFLEET_AGENT GUEST_ELF"""
import json
import os
import re
import shutil
import subprocess
import sys

from hvfd import Daemon, check, wait_for

if not shutil.which("qemu-system-x86_64"):
    print("SKIP: qemu-system-x86_64 not found")
    sys.exit(77)
hvfleetd, hvfleet, agent_bin, guest = sys.argv[1:5]
d = Daemon(hvfleetd, hvfleet, name="hvfd-qemu-drain", speed=0)
HOSTS = ["h1", "h2"]
VMS = ["vm-a", "vm-b"]
with open(os.path.join(d.state_dir, "inventory.yaml"), "w") as f:
    f.write("schema: hvfleet.inventory/v1\nhosts:\n")
    for h in HOSTS:
        f.write("  - {name: %s, cpus: 4, memory: 2GiB, nic: 200Mbit}\n" % h)
    f.write("vms:\n")
    for v in VMS:
        f.write("  - {name: %s, host: h1, vcpus: 1, memory: 64MiB, dirty_rate: 1MiB/s}\n" % v)
with open(os.path.join(d.state_dir, "hvfleetd.yaml"), "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 10s\n"
            "driver: \"agent:///?image=%s&accel=tcg&append=rate={dirty_mib_per_s}\"\n"
            % os.path.abspath(guest))
d.args = ["--config", os.path.join(d.state_dir, "hvfleetd.yaml")]
viewer = d.token("viewer", "vic")
op = d.token("operator", "olga")
ap = d.token("approver", "bob")
agents = {}


def state_dir(h):
    return os.path.join(d.state_dir, "agent-" + h)


def start_agent(h, ports):
    tok = os.path.join(d.state_dir, "agent-%s.token" % h)
    with open(tok, "w") as f:
        f.write(d.token("agent", "agent-" + h, host=h) + "\n")
    log = open(state_dir(h) + ".log", "ab")
    agents[h] = subprocess.Popen(
        [agent_bin, "--controller", "http://127.0.0.1:%d" % d.port, "--token-file", tok,
         "--host", h, "--heartbeat", "1s", "--backoff-max", "1s", "--executor", "qemu",
         "--migration-address", "127.0.0.1", "--migration-ports", ports,
         "--state-dir", state_dir(h)], stdout=log, stderr=log)


def qemus():
    """{pid: host} of the live QEMUs the agents of this run started (their pidfiles)."""
    out = {}
    for h in HOSTS:
        vms = os.path.join(state_dir(h), "vms")
        for v in os.listdir(vms) if os.path.isdir(vms) else []:
            try:
                pid = int(open(os.path.join(vms, v, "pidfile")).read().split()[0])
                cmd = open("/proc/%d/cmdline" % pid, "rb").read()
            except (OSError, ValueError, IndexError):
                continue
            if state_dir(h).encode() in cmd:
                out[pid] = (h, v)
    return out


def kill_all():
    for p in agents.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    for pid in qemus():
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def serial(h, vm):
    path = os.path.join(state_dir(h), "vms", vm, "serial.log")
    return open(path, errors="replace").read() if os.path.exists(path) else ""


def counters(text):
    return [int(x) for x in re.findall(r" written=(\d+)", text)]


def vms():
    return {x["name"]: x for x in d.request("GET", "/v1/vms", viewer)[2]["vms"]}


try:
    d.start()
    start_agent("h1", "49600-49609")
    start_agent("h2", "49610-49619")
    wait_for(lambda: all(x["state"] == "active" for x in
                         d.request("GET", "/v1/hosts", viewer)[2]["hosts"]),
             "both hosts active", 30)
    for v in VMS:
        s, _, e = d.request("POST", "/v1/vms/%s/start" % v, op)
        check(s == 200, (v, s, e))
    wait_for(lambda: all(vms()[v]["state"] == "running" for v in VMS), "VMs running", 20)
    wait_for(lambda: all(len(counters(serial("h1", v))) >= 2 for v in VMS),
             "the guests filled their memory and dirty it", 20)
    s, _, p = d.request("POST", "/v1/plans", op, {"kind": "drain", "hosts": ["h1"]})
    check(s == 201, (s, p))
    check(d.request("POST", "/v1/plans/%s/approvals" % p["plan_hash"], ap)[0] == 201, "approved")
    s, _, run = d.request("POST", "/v1/plans/%s/runs" % p["plan_hash"], op)
    check(s == 201, (s, run))
    r = wait_for(lambda: (lambda x: x if x["state"] not in ("running", "starting") else None)(
        d.request("GET", "/v1/runs/%d" % run["id"], viewer)[2]), "the drain ends", 30)
    check(r["state"] == "done" and r["result"] == "done", (r, open(r["record"]).read()[:3000]))
    placed = vms()
    check(all(placed[v]["host"] == "h2" and placed[v]["state"] == "running" for v in VMS), placed)
    # exactly once: one live QEMU per VM, on h2; h1 runs none
    live = wait_for(lambda: (lambda q: q if sorted(q.values()) == [("h2", v) for v in VMS]
                             else None)(qemus()), "one QEMU per VM, on h2 only", 20)
    # each guest's writes went on from where they were on h1, none lost
    for v in VMS:
        src, dst = counters(serial("h1", v)), None
        dst = wait_for(lambda: counters(serial("h2", v)) or None, "%s reports on h2" % v, 20)
        check(dst[0] >= src[-1], (v, "counter on h2", dst[0], "last on h1", src[-1]))
        check(" stale=" not in serial("h2", v) or
              max(int(x) for x in re.findall(r" stale=(\d+)", serial("h2", v))) == 0,
              (v, "stale pages on h2"))
    print("drain of h1 (%d VMs of 64 MiB, loopback, not shaped): twin %.1f s, measured %.1f s"
          % (len(VMS), r["predicted_makespan_s"], r["actual_makespan_s"]))
except BaseException:
    print("vms:", vms(), file=sys.stderr)
    since = 0
    while True:
        got = d.request("GET", "/v1/events?since=%d&limit=1000" % since, viewer)[2]["events"]
        if not got:
            break
        since = got[-1]["seq"]
        for e in got:
            ev = e["data"].get("event") if isinstance(e["data"].get("event"), dict) else None
            if ev and ev.get("type") == "job":
                continue
            print("feed:", e["type"], json.dumps(e["data"])[:300], file=sys.stderr)
    for h in HOSTS:
        for v in VMS:
            print("serial %s/%s:" % (h, v), serial(h, v)[-600:], file=sys.stderr)
    print("hvfleetd:", "\n".join(x for x in d.log_text().splitlines()
                                  if '"msg":"request"' not in x)[-3000:], file=sys.stderr)
    for h in HOSTS:
        if os.path.exists(state_dir(h) + ".log"):
            print("agent %s log:" % h, open(state_dir(h) + ".log").read()[-2000:],
                  file=sys.stderr)
    raise
finally:
    kill_all()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
