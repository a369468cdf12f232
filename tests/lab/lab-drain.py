#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A lab (docs/lab.md) drained through hvfleetd with real live migrations: `hvfleet lab up`
makes N hosts (network namespaces, links shaped by tbf, an agent each, TCG guests that dirty
their memory), then a drain plan of h1 is made, approved by a second person and run through
the API; afterwards every VM runs exactly once (one live QEMU, on another host; none on h1),
and each moved guest's write counter went on from where it was on h1 with no stale page. Prints
the twin's predicted drain time beside the measured one, as one line the bench reads:
  lab-drain hosts=N vms_moved=M nic=RATE vm_memory=SIZE predicted_s=P measured_s=X
`lab down` and a cleanup by recorded PIDs and names run on every path. Skipped (77) unless root
with `ip netns` and QEMU.
Usage: lab-drain.py HVFLEET [--hosts N] [--vms-per-host K] [--nic RATE] [--vm-memory SIZE]
                            [--dirty-rate RATE]"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("hvfleet")
ap.add_argument("--hosts", type=int, default=3)
ap.add_argument("--vms-per-host", type=int, default=2)
ap.add_argument("--nic", default="200Mbit")
ap.add_argument("--vm-memory", default="64MiB")
ap.add_argument("--dirty-rate", default="2MiB/s")
args = ap.parse_args()
HVFLEET = os.path.abspath(args.hvfleet)

if os.geteuid() != 0:
    print("SKIP: not root")
    sys.exit(77)
if not shutil.which("qemu-system-x86_64"):
    print("SKIP: no qemu-system-x86_64")
    sys.exit(77)
probe = "hvldrain%d" % os.getpid()
if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
    print("SKIP: ip netns unusable")
    sys.exit(77)
subprocess.run(["ip", "netns", "del", probe], capture_output=True)

T = tempfile.mkdtemp(prefix="hvf-lab-drain-")
D = os.path.join(T, "lab")
recorded = {"ids": set(), "pids": set()}
failures = []


def fail(what):
    print("FAIL:", what, file=sys.stderr)
    failures.append(what)


def remember():
    try:
        lab = json.load(open(os.path.join(D, "lab.json")))
    except (OSError, ValueError):
        return
    recorded["ids"].add(lab["id"])
    for p in lab.get("processes", []):
        recorded["pids"].add((p["pid"], p["start_time"]))


def start_time(pid):
    try:
        return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def cleanup():
    if os.path.exists(os.path.join(D, "lab.json")):
        subprocess.run([HVFLEET, "lab", "down", "--dir", D], capture_output=True, timeout=120)
    for pid, st in recorded["pids"]:
        if start_time(pid) == st:
            os.kill(pid, 9)
    for lid in recorded["ids"]:
        for ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                 text=True).stdout.split("\n"):
            ns = ns.split(" ")[0]
            if ns.startswith("hvl%s-" % lid):
                for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                        text=True).stdout.split():
                    os.kill(int(p), 9)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in os.listdir("/sys/class/net"):
            if link.startswith("hvl" + lid):
                subprocess.run(["ip", "link", "del", link], capture_output=True)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if T.encode() in open("/proc/%s/cmdline" % pid, "rb").read():
                    os.kill(int(pid), 9)
            except OSError:
                pass
    shutil.rmtree(T, ignore_errors=True)


def wait_for(fn, what, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError("timed out (%d s) waiting for %s" % (timeout, what))


try:
    for attempt in range(8):
        R = random.randint(1, 250)
        up = subprocess.run([HVFLEET, "lab", "up", "--hosts", str(args.hosts), "--nic", args.nic,
                             "--vms-per-host", str(args.vms_per_host), "--vm-memory",
                             args.vm_memory, "--dirty-rate", args.dirty_rate, "--subnet",
                             "10.77.%d.0/24" % R, "--dir", D],
                            capture_output=True, text=True, timeout=300)
        remember()
        if up.returncode == 0 or "is in use on this machine" not in up.stderr:
            break
    if up.returncode != 0:
        raise RuntimeError("lab up: exit %d: %s" % (up.returncode, up.stderr))
    lab = json.load(open(os.path.join(D, "lab.json")))
    port = int(open(os.path.join(D, "state", "hvfleetd.port")).read())
    addr = "10.77.%d.1" % R
    op = open(os.path.join(D, "token")).read().strip()
    second = open(os.path.join(D, "approver.token")).read().strip()

    def request(method, path, token, body=None):
        c = http.client.HTTPConnection(addr, port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": "Bearer " + token,
                           "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def vms():
        return {v["name"]: v for v in request("GET", "/v1/vms", op)[1]["vms"]}

    def serial(host, vm):
        p = os.path.join(D, "hosts", host, "vms", vm, "serial.log")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def counters(text):
        return [int(x) for x in re.findall(r" written=(\d+)", text)]

    def live_qemus():
        """(host, vm) of every live QEMU whose pidfile is in the lab's hosts."""
        out = []
        hosts_dir = os.path.join(D, "hosts")
        for h in os.listdir(hosts_dir):
            vdir = os.path.join(hosts_dir, h, "vms")
            for v in os.listdir(vdir) if os.path.isdir(vdir) else []:
                try:
                    pid = int(open(os.path.join(vdir, v, "pidfile")).read().split()[0])
                    if b"qemu" in open("/proc/%d/cmdline" % pid, "rb").read():
                        out.append((h, v))
                except (OSError, ValueError, IndexError):
                    pass
        return sorted(out)

    moved = sorted(v for v, x in vms().items() if x["host"] == "h1")
    wait_for(lambda: all(len(counters(serial("h1", v))) >= 2 for v in moved),
             "h1's guests filled their memory and dirty it", 120)
    # the lab's links carry no guest traffic: migrations may take all of each NIC, and the twin
    # is told so (production keeps the default 50% for the guests; docs/agent-driver.md)
    s, p = request("POST", "/v1/plans", op, {"kind": "drain", "hosts": ["h1"],
                                             "policy": {"schema": "hvfleet.policy/v1",
                                                        "migration_share": "100%"}})
    if s != 201:
        raise RuntimeError("plan: %d %s" % (s, p))
    s, a = request("POST", "/v1/plans/%s/approvals" % p["plan_hash"], second)
    if s != 201:
        raise RuntimeError("approval: %d %s" % (s, a))
    s, run = request("POST", "/v1/plans/%s/runs" % p["plan_hash"], op)
    if s != 201:
        raise RuntimeError("run: %d %s" % (s, run))
    r = wait_for(lambda: (lambda x: x if x["state"] not in ("running", "starting") else None)(
        request("GET", "/v1/runs/%d" % run["id"], op)[1]), "the drain to end", 600)
    if r["state"] != "done" or r["result"] != "done":
        fail("the drain ended %s/%s: %s" % (r["state"], r["result"],
                                            open(r["record"]).read()[:2000]))
    placed = vms()
    for v in moved:
        if placed[v]["host"] == "h1" or placed[v]["state"] != "running":
            fail("%s: %s on %s after the drain" % (v, placed[v]["state"], placed[v]["host"]))
    # exactly once: one live QEMU per VM, none left on h1
    want = sorted((x["host"], v) for v, x in placed.items())
    got = wait_for(lambda: (lambda q: q if q == want else None)(live_qemus()),
                   "one QEMU per VM, where hvfleetd says it runs", 30)
    # the moved guests' memory: their counters went on from where they were, nothing stale
    for v in moved:
        dst = placed[v]["host"]
        src_c = counters(serial("h1", v))
        dst_c = wait_for(lambda: counters(serial(dst, v)), "%s reports on %s" % (v, dst), 30)
        if dst_c[0] < src_c[-1]:
            fail("%s: counter %d on %s, older than its last on h1 (%d)"
                 % (v, dst_c[0], dst, src_c[-1]))
        stale = [int(x) for x in re.findall(r" stale=(\d+)", serial(dst, v))]
        if stale and max(stale) != 0:
            fail("%s: %d stale pages on %s" % (v, max(stale), dst))
    print("lab-drain hosts=%d vms_moved=%d nic=%s vm_memory=%s predicted_s=%.2f measured_s=%.2f"
          % (args.hosts, len(moved), args.nic, args.vm_memory, r["predicted_makespan_s"],
             r["actual_makespan_s"]))
    rec = json.load(open(r["record"]))
    for m in rec["migrations"]:
        if m["outcome"] == "completed" or m["start_s"] is not None:
            print("  %s %s->%s predicted %.1f-%.1f s, actual %s-%s s, %s" % (
                m["vm"], m["from"], m["to"], m["predicted"]["start_s"], m["predicted"]["end_s"],
                m["start_s"], m["end_s"], m["outcome"]))
    # down: nothing of the lab is left
    down = subprocess.run([HVFLEET, "lab", "down", "--dir", D], capture_output=True, text=True,
                          timeout=120)
    if down.returncode != 0:
        fail("lab down: exit %d: %s" % (down.returncode, down.stderr))
    left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                      text=True).stdout.split("\n") if n.startswith("hvl%s-" % lab["id"])]
    if left or live_qemus():
        fail("left after lab down: %s %s" % (left, live_qemus()))
except BaseException as e:
    fail("%s: %s" % (type(e).__name__, e))
    for h in sorted(os.listdir(os.path.join(D, "hosts"))) if os.path.isdir(os.path.join(D, "hosts")) else []:
        log = os.path.join(D, "hosts", h, "agent.log")
        if os.path.exists(log):
            print("agent %s:" % h, open(log).read()[-1500:], file=sys.stderr)
finally:
    cleanup()
sys.exit(1 if failures else 0)
