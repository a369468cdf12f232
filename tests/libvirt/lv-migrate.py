#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The libvirt driver against two real libvirtd daemons (lvlab.py), each in its own network
namespace, with the lab guest as a small TCG domain: a live migration from one to the other
with progress reported and the domain running exactly once afterwards; a cancelled migration; a
dead daemon mid-migration (the job fails, the domain runs on its source, the restarted daemon
is connected again and runs no copy); then `hvfleet run --driver libvirt:` drains a host.
Usage: lv-migrate.py LV_DRIVE HVFLEET GUEST_ELF. Skipped (77) where libvirtd can't run."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lvlab  # noqa: E402

drive, hvfleet, guest = sys.argv[1:4]
lab = lvlab.Lab(2)
a, b = lab.daemons


def fail(why):
    print("FAIL:", why, file=sys.stderr)
    for d in lab.daemons:
        print("--- libvirtd %d log:" % d.n, d.log_tail()[-1500:], file=sys.stderr)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


inv = os.path.join(lab.dir, "fleet.yaml")
with open(inv, "w") as f:
    f.write("""schema: hvfleet.inventory/v1
hosts:
  - {name: lv1, cpus: 2, memory: 2GiB, nic: 1Gbit/s, libvirt_uri: "%s", migration_address: %s}
  - {name: lv2, cpus: 2, memory: 2GiB, nic: 1Gbit/s, libvirt_uri: "%s", migration_address: %s}
vms:
  - {name: tiny, host: lv1, vcpus: 1, memory: 128MiB, dirty_rate: 40MiB/s}
""" % (a.uri, a.addr, b.uri, b.addr))
uri = "libvirt://" + inv


def lvd(*args, timeout=300):
    r = subprocess.run([drive, uri] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    return r.returncode, lines, r.stderr


def where(lines):
    return {l["vm"]: (l["on"], l["state"]) for l in lines if "vm" in l and "on" in l}


def job_end(lines):
    ends = [l for l in lines if "job_end" in l]
    return ends[-1] if ends else None


lab.define_and_start(a, "tiny", guest, mem_mib=128, append="rate=2")

# what the driver sees at open: tiny running on lv1, both hosts active
rc, lines, err = lvd("list")
check(rc == 0, "list: %d %s" % (rc, err))
check(where(lines)["tiny"] == ("lv1", "running"), lines)
check(all(l["state"] == "active" for l in lines if "host" in l and "used_mib" in l), lines)

# 1. a live migration to lv2, its progress reported while it runs (12 MiB/s: about 10 s)
rc, lines, err = lvd("migrate", "tiny", "lv2", "--bandwidth", "12")
check(rc == 0, "migrate: %d %s" % (rc, err))
prog = [l["progress"] for l in lines if "progress" in l]
active = [p for p in prog if p["state"] == "active" and p["transferred"] > 0]
check(len(active) >= 2 and active[-1]["transferred"] > active[0]["transferred"],
      ("progress while it ran", prog))
check(job_end(lines)["job_end"] == "completed", lines)
check(where(lines)["tiny"] == ("lv2", "running"), lines)
check(a.running() == [] and b.running() == ["tiny"], ("once, on lv2", a.running(), b.running()))
print("migrated: %d progress reports, %d active" % (len(prog), len(active)))

# its dirty rate, as libvirt measures it (the guest writes 2 MiB/s), replaces the inventory's
# guess (40 MiB/s)
r = subprocess.run([drive, uri + "?dirty_interval=1", "dirty", "tiny", "8000"],
                   capture_output=True, text=True, timeout=60)
check(r.returncode == 0, ("dirty", r.stderr))
dirty = json.loads(r.stdout.splitlines()[-1])["dirty_bytes_per_s"] / 1048576
# page sampling sees few of a small guest's pages: a slow writer reads 0 to a few MiB/s, never
# the guess
check(0 <= dirty <= 8, ("measured dirty rate of a guest writing 2 MiB/s", dirty))
print("measured dirty rate: %.1f MiB/s (the guest writes 2 MiB/s)" % dirty)
# discovery from the two daemons: the hosts, tiny where it runs, its dirty rate measured
disc = os.path.join(lab.dir, "discovered.yaml")
r = subprocess.run([hvfleet, "inventory", "discover", "--libvirt", a.uri, b.uri,
                    "--measure-dirty-rate", "3s", "-o", disc], capture_output=True, text=True,
                   timeout=120)
check(r.returncode == 0 and "discovered 2 hosts, 1 running domain (1 dirty rate measured)"
      in r.stderr, ("discover", r.returncode, r.stderr))
text = open(disc).read()
check("host: lv-2-%d, vcpus: 1, memory: 128MiB" % os.getpid() in text, text)
check(subprocess.run([hvfleet, "inventory", "check", disc], capture_output=True).returncode == 0,
      "the discovered inventory passes inventory check")

# 2. post-copy: switched mid-way (at 2 MiB/s of bandwidth pre-copy would take a minute), it
# ends on lv1, and back with plain pre-copy
rc, lines, err = lvd("migrate", "tiny", "lv1", "--bandwidth", "2", "--postcopy-after", "1500")
check(rc == 0, "postcopy: %d %s" % (rc, err))
check(any("postcopy_at_ms" in l for l in lines), ("switched to post-copy", lines))
check(any(l.get("progress", {}).get("state") == "postcopy" for l in lines), lines)
check(job_end(lines)["job_end"] == "completed", lines)
check(a.running() == ["tiny"] and b.running() == [], ("once, on lv1", a.running(), b.running()))
rc, lines, err = lvd("migrate", "tiny", "lv2", "--bandwidth", "32")
check(rc == 0 and job_end(lines)["job_end"] == "completed", (rc, err, lines))
check(a.running() == [] and b.running() == ["tiny"], ("once, on lv2", a.running(), b.running()))
print("post-copy: completed")

# 3. a cancelled migration: it stays on lv2, running once
rc, lines, err = lvd("migrate", "tiny", "lv1", "--bandwidth", "4", "--cancel-after", "1000")
check(rc == 0, "cancel: %d %s" % (rc, err))
check(any("cancelled_at_ms" in l for l in lines), ("it was cancelled while it ran", lines))
check(job_end(lines)["job_end"] == "cancelled", lines)
check(where(lines)["tiny"] == ("lv2", "running"), lines)
check(a.running() == [] and b.running() == ["tiny"], ("once, on lv2", a.running(), b.running()))

# 4. the target's daemon killed mid-migration: the job fails, tiny runs on lv2; once that daemon
# is back, the driver connects again by itself (host_back) and lv1 runs no copy
t3 = time.time()
p = subprocess.Popen([drive, uri, "migrate", "tiny", "lv1", "--bandwidth", "8", "--kill",
                      str(a.pid), "--kill-after", "1000", "--wait-host-back"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
lines = []
try:
    for raw in p.stdout:
        if raw.startswith("{"):
            lines.append(json.loads(raw))
            if "job_end" in lines[-1]:
                break
    if job_end(lines) is None:  # lv-drive stopped before the job's end: say why
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        check(False, ("the job ended", lines, "lv-drive exit", rc, p.stderr.read()[-3000:]))
    check(job_end(lines)["job_end"] == "failed" and job_end(lines)["error"], lines)
    check(b.running() == ["tiny"], ("still on lv2", b.running()))
    a.pid = None  # killed by lv-drive
    print("the job failed after %.1f s; restarting lv1's daemon" % (time.time() - t3))
    t3 = time.time()
    a.start()
    print("lv1's daemon answers again after %.1f s" % (time.time() - t3))
    out, errs = p.communicate(timeout=240)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
lines += [json.loads(l) for l in out.splitlines() if l.startswith("{")]
check(p.returncode == 0, ("host back after the restart", p.returncode, errs, lines))
check(any(l.get("event") == "host_back" and l["host"] == "lv1" for l in lines), lines)
check(where(lines)["tiny"] == ("lv2", "running"), lines)
deadline = time.time() + 60
while a.running() and time.time() < deadline:
    time.sleep(0.5)
check(a.running() == [] and b.running() == ["tiny"], ("once, on lv2", a.running(), b.running()))
print("dead daemon: %s" % job_end(lines)["error"][:160])

# 5. hvfleet run --driver libvirt: drains lv2 by a plan (2 hosts: the policy lets one go)
pol = os.path.join(lab.dir, "policy.yaml")
with open(pol, "w") as f:
    f.write("schema: hvfleet.policy/v1\nmigration_share: 100%\n"
            "seatbelt: {max_capacity_offline: 60%}\n")
plan = os.path.join(lab.dir, "plan.json")
st = os.path.join(lab.dir, "state")
env = dict(os.environ, HVFLEET_STATE_DIR=st, USER="alice")
r = subprocess.run([hvfleet, "plan", "drain", "lv2", "--inventory", inv, "--policy", pol,
                    "-o", plan], capture_output=True, text=True, env=env)
check(r.returncode == 0, ("plan", r.stdout, r.stderr))
if "needs-approval" in r.stdout + r.stderr:
    r = subprocess.run([hvfleet, "approve", plan, "--by", "bob"], capture_output=True, text=True,
                       env=env)
    check(r.returncode == 0, ("approve", r.stdout, r.stderr))
# tiny runs on lv2 now, as the inventory must say for the plan to match the fleet
with open(inv) as f:
    text = f.read().replace("host: lv1", "host: lv2")
with open(inv, "w") as f:
    f.write(text)
r = subprocess.run([hvfleet, "plan", "drain", "lv2", "--inventory", inv, "--policy", pol,
                    "-o", plan], capture_output=True, text=True, env=env)
check(r.returncode == 0, ("plan", r.stdout, r.stderr))
if "approval" in r.stdout + r.stderr:
    r = subprocess.run([hvfleet, "approve", plan, "--by", "bob"], capture_output=True, text=True,
                       env=env)
    check(r.returncode == 0, ("approve", r.stdout, r.stderr))
r = subprocess.run([hvfleet, "run", plan, "--inventory", inv, "--policy", pol, "--driver",
                    "libvirt:", "--state-dir", st], capture_output=True, text=True, env=env,
                   timeout=300)
check(r.returncode == 0, ("hvfleet run --driver libvirt:", r.returncode, r.stdout, r.stderr))
check("1 migrations done" in r.stdout or "1 migration done" in r.stdout, r.stdout)
check(a.running() == ["tiny"] and b.running() == [], ("drained to lv1", a.running(), b.running()))
print("hvfleet run: " + [l for l in r.stdout.splitlines() if "predicted vs actual" in l][0])
print("ok")
