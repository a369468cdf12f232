# SPDX-License-Identifier: MIT
"""Real libvirtd daemons for the libvirt driver's tests: each in its own network namespace (a
veth pair joins two of them, 10.77.0.1 and 10.77.0.2) and its own mount namespace, where its
run, config, state, cache and log directories are the test's (docs/libvirt.md, ../shared
LAB.md). Each daemon has its own host UUID, so that they migrate to each other.

Everything started is known by PID and killed on every path (atexit and SIGTERM): the daemons,
the QEMUs they started (their pid files), the namespaces. Names carry the test's PID."""
import atexit
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
migration_port_min = 49152
migration_port_max = 49215
"""


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def need_root_libvirtd():
    if os.geteuid() != 0:
        skip("libvirtd in network namespaces needs root")
    for exe in ("/usr/sbin/libvirtd", "/usr/bin/virsh", "/usr/bin/qemu-system-x86_64"):
        if not os.path.exists(exe):
            skip("%s is missing (scripts/install-deps installs it)" % exe)
    if subprocess.run(["getent", "passwd", "libvirt-qemu"], capture_output=True).returncode:
        skip("no libvirt-qemu user: libvirtd will not read qemu.conf (scripts/install-deps "
             "makes it)")
    if subprocess.run(["ip", "netns", "add", "hvf-lv-probe-%d" % os.getpid()],
                      capture_output=True).returncode:
        skip("cannot make network namespaces here")
    subprocess.run(["ip", "netns", "del", "hvf-lv-probe-%d" % os.getpid()], capture_output=True)


def sh(*args, check=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


class Daemon:
    def __init__(self, lab, n):
        self.lab, self.n = lab, n
        self.ns = "hvf-lv%d-%d" % (n, os.getpid())
        self.root = os.path.join(lab.dir, "lv%d" % n)
        self.addr = "10.77.0.%d" % n
        self.pid = None
        self.uri = "qemu+unix:///system?socket=%s/run/libvirt-sock" % self.root
        for d in ("etc", "run", "lib", "cache", "log"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(os.path.join(self.root, "etc", "libvirtd.conf"), "w") as f:
            f.write('host_uuid = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'unix_sock_rw_perms = "0700"\nlog_outputs = "3:file:%s/log/libvirtd.log"\n'
                    % (uuid.uuid4(), self.root))
        with open(os.path.join(self.root, "etc", "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)

    def start(self):
        pidfile = os.path.join(self.root, "pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        binds = " ".join("mount --bind %s/%s %s;" % (self.root, d, m) for d, m in (
            ("etc", "/etc/libvirt"), ("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"),
            ("cache", "/var/cache/libvirt"), ("log", "/var/log/libvirt")))
        sh("ip", "netns", "exec", self.ns, "unshare", "--mount", "--uts", "--propagation",
           "private", "sh", "-c", "hostname lv-%d-%d; %s exec /usr/sbin/libvirtd -d -p %s"
           % (self.n, os.getpid(), binds, pidfile))
        # the first start probes QEMU's capabilities (10-30 s on a loaded machine)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.pid is None and os.path.exists(pidfile):
                try:
                    self.pid = int(open(pidfile).read().strip())
                except ValueError:
                    pass
            if self.pid and os.path.exists(pidfile) and os.path.exists(os.path.join(self.root, "run",
                                                                       "libvirt-sock")):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("libvirtd %d did not start: %s" % (self.n, self.log_tail()))
        while time.time() < deadline:
            if self.virsh("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("libvirtd %d does not answer: %s" % (self.n, self.log_tail()))

    def log_tail(self):
        try:
            return open(os.path.join(self.root, "log", "libvirtd.log")).read()[-2000:]
        except OSError:
            return "(no log)"

    def virsh(self, *args, check=True):
        return sh("virsh", "-c", self.uri, *args, check=check, timeout=60)

    def qemu_pids(self):
        pids = []
        for pf in glob.glob(os.path.join(self.root, "run", "qemu", "*.pid")):
            try:
                pids.append(int(open(pf).read().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def kill(self):
        """SIGKILL the daemon (its QEMUs live on, as on a real host)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_gone(self.pid)
            self.pid = None

    def running(self):
        """Names of the domains that run here (virsh list)."""
        r = self.virsh("list", "--name", check=False)
        return [l.strip() for l in r.stdout.splitlines() if l.strip()]


def wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # a child of ours that died is a zombie until reaped
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)


class Lab:
    def __init__(self, n=2):
        need_root_libvirtd()
        self.dir = tempfile.mkdtemp(prefix="hvf-libvirt-%d-" % os.getpid())
        self.daemons = []
        atexit.register(self.cleanup)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        for i in range(1, n + 1):
            d = Daemon(self, i)
            sh("ip", "netns", "add", d.ns)
            self.daemons.append(d)
            sh("ip", "-n", d.ns, "link", "set", "lo", "up")
        if n >= 2:
            a, b = self.daemons[0], self.daemons[1]
            va, vb = "hvlva%d" % (os.getpid() % 100000), "hvlvb%d" % (os.getpid() % 100000)
            sh("ip", "link", "add", va, "netns", a.ns, "type", "veth", "peer", "name", vb,
               "netns", b.ns)
            for d, v in ((a, va), (b, vb)):
                sh("ip", "-n", d.ns, "addr", "add", d.addr + "/24", "dev", v)
                sh("ip", "-n", d.ns, "link", "set", v, "up")
        for d in self.daemons:
            d.start()

    def cleanup(self):
        for d in self.daemons:
            pids = d.qemu_pids()
            d.kill()
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_gone(p)
        for d in self.daemons:
            sh("ip", "netns", "del", d.ns, check=False)
        self.daemons = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def domain_xml(self, name, kernel, mem_mib=64, append=""):
        return """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel><cmdline>%s</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_crash>destroy</on_crash>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
""" % (name, mem_mib, kernel, append)

    def define_and_start(self, d, name, kernel, **kw):
        path = os.path.join(self.dir, name + ".xml")
        with open(path, "w") as f:
            f.write(self.domain_xml(name, kernel, **kw))
        d.virsh("define", path)
        d.virsh("start", name)
