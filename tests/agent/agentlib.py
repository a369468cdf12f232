# SPDX-License-Identifier: MIT
"""Shared by hvfleet-agent's tests: starts the fake controller, the leaky proxy and the agent,
each killed by PID on every path (atexit, SIGTERM, SIGINT), and watches the agent from outside
through /proc/PID: threads, open files, RSS, children, TCP connections to a port."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_procs = []


def _cleanup():
    for p in reversed(_procs):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    _procs.clear()


def _on_signal(sig, frame):
    _cleanup()
    sys.exit(128 + sig)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    _cleanup()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


class Dir:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"hvf-agent-{name}-{os.getpid()}-")
        atexit.register(self.remove)
        self.keep = os.environ.get("HVF_TEST_DEBUG") == "1"

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)

    def __truediv__(self, name):
        return os.path.join(self.path, name)


def live_qemus():
    """{pid: command line (NUL-separated)} of every live (not zombie) qemu-system process."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        if "qemu-system" in cmd.split("\0")[0]:
            out[int(pid)] = cmd
    return out


def wait_file(path, proc, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return open(path).read()
        if proc.poll() is not None:
            fail(f"{what} exited with {proc.returncode} before it was ready")
        time.sleep(0.05)
    fail(f"{what} was not ready in {timeout} s")


def spawn(args, log, env=None):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=env)
    _procs.append(p)
    return p


def stop(p, timeout=10):
    """SIGTERM, then SIGKILL after @timeout; returns the exit status (negative: killed)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _procs:
        _procs.remove(p)
    return p.returncode


def kill(p):
    if p.poll() is None:
        p.kill()
    p.wait()
    if p in _procs:
        _procs.remove(p)


class Controller:
    def __init__(self, d, mode, token, name="ctl", args=()):
        self.state_path = d / f"{name}-state.json"
        port_file = d / f"{name}.port"
        self.log = open(d / f"{name}.log", "ab")
        self.proc = spawn([sys.executable, os.path.join(HERE, "fake_controller.py"),
                           "--mode", mode, "--port-file", port_file, "--state", self.state_path,
                           "--token", token] + list(args), self.log)
        self.port = int(wait_file(port_file, self.proc, "the fake controller"))

    def state(self):
        for _ in range(20):
            try:
                with open(self.state_path) as f:
                    return json.load(f)
            except (OSError, ValueError):
                time.sleep(0.05)
        fail("cannot read the fake controller's state")


class Proxy:
    def __init__(self, d, upstream_port):
        self.count_path = d / "proxy-count.json"
        port_file = d / "proxy.port"
        self.log = open(d / "proxy.log", "ab")
        self.proc = spawn([sys.executable, os.path.join(HERE, "leaky_proxy.py"),
                           "--upstream", str(upstream_port), "--port-file", port_file,
                           "--count", self.count_path], self.log)
        self.port = int(wait_file(port_file, self.proc, "the leaky proxy"))

    def counts(self):
        try:
            with open(self.count_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}


class Agent:
    def __init__(self, binary, d, port, token, host="h1", args=(), state_dir=None, prefix=(),
                 name="agent"):
        self.state_dir = state_dir or d / "agent-state"
        token_file = d / "token"
        with open(token_file, "w") as f:
            f.write(token + "\n")
        os.chmod(token_file, 0o644)  # readable by an agent run as another user
        self.log_path = d / f"{name}.log"
        self.log = open(self.log_path, "ab")
        self.workers = 4
        a = list(args)
        if "--executor" not in a:
            a += ["--executor", "sim"]  # these tests count what the sim executor ran
        if "--workers" in a:
            self.workers = int(a[a.index("--workers") + 1])
        self.max_rss = 64 << 20
        env = dict(os.environ)
        if env.get("ASAN_OPTIONS"):
            # ASan keeps freed memory in quarantine (256 MiB by default): keep it small, so
            # that the RSS measured is the agent's, near enough.
            env["ASAN_OPTIONS"] += ":quarantine_size_mb=4:malloc_context_size=4"
        self.proc = spawn(list(prefix) + [binary, "--controller", f"http://127.0.0.1:{port}", "--token-file",
                           token_file, "--host", host, "--state-dir", self.state_dir] + a,
                          self.log, env)
        self.pid = self.proc.pid

    def executed(self):
        path = os.path.join(self.state_dir, "sim", "executed.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split()[0] for line in f if line.strip()]

    def logtext(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def _socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if t.startswith("socket:["):
                out.add(t[8:-1])
    except OSError:
        pass
    return out


def tcp_conns(pid, port, detail=None):
    """The agent's TCP sockets whose remote port is @port (any state but LISTEN)."""
    inodes = _socket_inodes(pid)
    # /proc/net/tcp read while the table changes may list a socket twice: count inodes
    seen = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    parts = line.split()
                    rem_port = int(parts[2].split(":")[1], 16)
                    if (rem_port == port and parts[3] != "0A" and parts[9] in inodes
                            and parts[9] not in seen):
                        seen.add(parts[9])
                        if detail is not None:
                            detail.append(" ".join(parts[1:4] + parts[9:10]))
        except OSError:
            pass
    return len(seen)


def proc_sample(pid):
    s = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                s["threads"] = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                s["rss"] = int(line.split()[1]) * 1024
    s["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    children = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children += f.read().split()
        except OSError:
            pass
    s["children"] = len(children)
    return s


def proc_limit(pid, name):
    """The soft limit named @name ("Max open files") of @pid, None when unlimited."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith(name):
                v = line[len(name):].split()[0]
                return None if v == "unlimited" else int(v)
    return None


def nofile_limit(pid):
    return proc_limit(pid, "Max open files")


class Monitor(threading.Thread):
    """Samples the agent every 50 ms and keeps the maxima."""

    def __init__(self, agent, port):
        super().__init__(daemon=True)
        self.agent, self.port = agent, port
        self.max = {"threads": 0, "rss": 0, "fds": 0, "children": 0, "conns": 0}
        self.samples = 0
        self.running = True
        self.start()

    def run(self):
        while self.running and self.agent.proc.poll() is None:
            try:
                s = proc_sample(self.agent.pid)
                detail = []
                s["conns"] = tcp_conns(self.agent.pid, self.port, detail)
                if s["conns"] > 1:
                    print(f"more than one connection: {detail}")
            except (OSError, ValueError):
                break
            for k in self.max:
                self.max[k] = max(self.max[k], s[k])
            self.samples += 1
            time.sleep(0.05)

    def finish(self):
        self.running = False
        self.join(5)
        return self.max


def check_bounds(agent, mon, st=None):
    """What every mode must hold, seen from outside."""
    # A loaded machine samples slowly: watch a little longer rather than judge on too few.
    end = time.time() + 15
    while mon.samples < 10 and mon.is_alive() and time.time() < end:
        time.sleep(0.1)
    m = mon.finish()
    limit = nofile_limit(agent.pid) if agent.proc.poll() is None else 256
    print(f"measured: {mon.samples} samples, max threads {m['threads']}, fds {m['fds']}, "
          f"rss {m['rss'] >> 20} MiB, connections {m['conns']}, children {m['children']}")
    check(mon.samples >= 10, f"the agent was watched ({mon.samples} samples)")
    if agent.proc.poll() is not None:
        fail(f"the agent exited ({agent.proc.returncode}): " + agent.logtext()[-500:])
    check(True, "the agent still runs")
    check(m["children"] == 0, "the agent started no process")
    check(m["threads"] <= agent.workers + 2,
          f"threads {m['threads']} <= workers {agent.workers} + 2 (main, and one spare)")
    check(limit == 256, f"the agent set RLIMIT_NOFILE to 256 ({limit})")
    check(m["fds"] < limit, f"open files {m['fds']} under the limit {limit}")
    check(m["rss"] < agent.max_rss, f"RSS {m['rss']} under --max-rss {agent.max_rss}")
    check(m["conns"] <= 1, f"at most one TCP connection to the controller at a time ({m['conns']})")
    ex = agent.executed()
    check(len(ex) == len(set(ex)), f"no command executed twice ({len(ex)} runs)")
    if st and st["heartbeats"]:
        hb = st["heartbeats"][-1]
        for k in ("rss_bytes", "threads", "open_files", "queues", "dropped"):
            check(k in hb, f"the heartbeat reports {k}")
    rc = stop(agent.proc)
    check(rc == 0, f"the agent stops on SIGTERM with status 0 ({rc})")
    return m


def wait_until(cond, timeout, what):
    """@cond() until it is true. @timeout is what a quiet machine needs; it is tripled, as the
    suite runs loaded and under ASan (as hvfd.wait_for): a passing test returns as soon as cond()
    holds, and what a test measures it checks itself, never through this bound."""
    end = time.time() + 3 * timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    fail(f"{what}: not within {3 * timeout} s")
