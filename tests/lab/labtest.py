# SPDX-License-Identifier: MIT
"""A lab (docs/lab.md) for the tests: `hvfleet lab up` on a random 10.77.R.0/24 in a directory
of its own, hvfleetd's API, the guests' serial logs, the QEMUs that run, and a cleanup that runs
`lab down` and then kills by recorded PID and name whatever is left (call it on every path)."""
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


def skip_unless_lab_possible():
    """Exits 77 unless root with `ip netns` and QEMU."""
    if os.geteuid() != 0:
        print("SKIP: not root")
        sys.exit(77)
    if not shutil.which("ip") or not shutil.which("tc"):
        print("SKIP: no ip or tc (iproute2)")
        sys.exit(77)
    if not shutil.which("qemu-system-x86_64"):
        print("SKIP: no qemu-system-x86_64")
        sys.exit(77)
    probe = "hvlprobe%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        print("SKIP: ip netns unusable")
        sys.exit(77)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


failures = []


def fail(what):
    """A check that failed: said at once, counted for the exit status."""
    print("FAIL:", what, file=sys.stderr)
    failures.append(what)


def run(lab, body, at_end=None):
    """Runs @body, then takes the lab down checking nothing is left; on any exception, says it
    and prints the logs; on every path @at_end, then the cleanup; exits 1 on any failure."""
    try:
        body()
        problem = lab.down_problem()
        if problem:
            fail(problem)
    except BaseException as e:
        fail("%s: %s" % (type(e).__name__, e))
        lab.logs()
    finally:
        if at_end:
            at_end()
        lab.cleanup()
    sys.exit(1 if failures else 0)


def wait_for(fn, what, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError("timed out (%d s) waiting for %s" % (timeout, what))


def _start_time(pid):
    try:
        return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class Lab:
    def __init__(self, hvfleet, prefix):
        self.hvfleet = os.path.abspath(hvfleet)
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.dir = os.path.join(self.tmp, "lab")
        self.ids, self.pids = set(), set()
        self.lab = None

    def _remember(self):
        try:
            lab = json.load(open(os.path.join(self.dir, "lab.json")))
        except (OSError, ValueError):
            return
        self.ids.add(lab["id"])
        for p in lab.get("processes", []):
            self.pids.add((p["pid"], p["start_time"]))

    def up(self, *args):
        """lab up with @args, on a subnet no other run uses; raises when it fails."""
        for _ in range(8):
            self.r = random.randint(1, 250)
            p = subprocess.run([self.hvfleet, "lab", "up", "--subnet", "10.77.%d.0/24" % self.r,
                                "--dir", self.dir] + list(args),
                               capture_output=True, text=True, timeout=300)
            self._remember()
            if p.returncode == 0 or "is in use on this machine" not in p.stderr:
                break
        if p.returncode != 0:
            raise RuntimeError("lab up: exit %d: %s" % (p.returncode, p.stderr))
        self.lab = json.load(open(os.path.join(self.dir, "lab.json")))
        self.port = int(open(os.path.join(self.dir, "state", "hvfleetd.port")).read())
        self.addr = "10.77.%d.1" % self.r
        self.token = open(os.path.join(self.dir, "token")).read().strip()
        self.second = open(os.path.join(self.dir, "approver.token")).read().strip()
        return p.stdout

    def request(self, method, path, token=None, body=None):
        c = http.client.HTTPConnection(self.addr, self.port, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": "Bearer " + (token or self.token),
                           "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def vms(self):
        return {v["name"]: v for v in self.request("GET", "/v1/vms")[1]["vms"]}

    def feed(self, type_=None):
        out, since = [], 0
        while True:
            got = self.request("GET", "/v1/events?since=%d&limit=1000" % since)[1]["events"]
            if not got:
                return [e for e in out if type_ is None or e["type"] == type_]
            out += got
            since = got[-1]["seq"]

    def serial(self, host, vm):
        p = os.path.join(self.dir, "hosts", host, "vms", vm, "serial.log")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    @staticmethod
    def counters(text):
        return [int(x) for x in re.findall(r" written=(\d+)", text)]

    def live_qemus(self):
        """(host, vm) of every live QEMU whose pidfile is in the lab's hosts, sorted."""
        out = []
        hosts_dir = os.path.join(self.dir, "hosts")
        for h in os.listdir(hosts_dir) if os.path.isdir(hosts_dir) else []:
            vdir = os.path.join(hosts_dir, h, "vms")
            for v in os.listdir(vdir) if os.path.isdir(vdir) else []:
                try:
                    pid = int(open(os.path.join(vdir, v, "pidfile")).read().split()[0])
                    if b"qemu" in open("/proc/%d/cmdline" % pid, "rb").read():
                        out.append((h, v))
                except (OSError, ValueError, IndexError):
                    pass
        return sorted(out)

    def host_veth(self, host):
        """The root side of @host's link: down, the host is cut off."""
        return "hvl%s%s" % (self.lab["id"], host)

    def down(self):
        p = subprocess.run([self.hvfleet, "lab", "down", "--dir", self.dir], capture_output=True,
                           text=True, timeout=120)
        left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True).stdout.split("\n")
                if self.lab and n.startswith("hvl%s-" % self.lab["id"])]
        return p, left

    def down_problem(self):
        """lab down; what is wrong with it ('' when it exited 0 and left nothing)."""
        p, left = self.down()
        if p.returncode != 0 or left or self.live_qemus():
            return "lab down: exit %d, left: %s %s %s" % (p.returncode, left, self.live_qemus(),
                                                         p.stderr)
        return ""

    def logs(self):
        hosts = os.path.join(self.dir, "hosts")
        for h in sorted(os.listdir(hosts)) if os.path.isdir(hosts) else []:
            log = os.path.join(hosts, h, "agent.log")
            if os.path.exists(log):
                print("agent %s:" % h, open(log).read()[-1500:], file=sys.stderr)
        log = os.path.join(self.dir, "hvfleetd.log")
        if os.path.exists(log):
            print("hvfleetd:", "\n".join(x for x in open(log).read().splitlines()
                                         if '"msg":"request"' not in x)[-3000:], file=sys.stderr)

    def cleanup(self):
        if os.path.exists(os.path.join(self.dir, "lab.json")):
            subprocess.run([self.hvfleet, "lab", "down", "--dir", self.dir], capture_output=True,
                           timeout=120)
        for pid, st in self.pids:
            if _start_time(pid) == st:
                os.kill(pid, 9)
        for lid in self.ids:
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
                    if self.tmp.encode() in open("/proc/%s/cmdline" % pid, "rb").read():
                        os.kill(int(pid), 9)
                except OSError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)
