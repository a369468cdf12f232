# SPDX-License-Identifier: MIT
"""A real hvfleetd for the tests: started on 127.0.0.1 with a free port and a state directory
of its own, stopped (or killed) by PID on every path, with tokens made by `hvfleet token`."""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Daemon:
    def __init__(self, hvfleetd, hvfleet, args=(), state_dir=None, speed=2000, name="hvfd"):
        self.hvfleetd = hvfleetd
        self.hvfleet = hvfleet
        self.own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix=f"{name}-{os.getpid()}-")
        self.args = list(args)
        self.speed = speed
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.state_dir, "hvfleetd.log")
        atexit.register(self.cleanup)

    def token(self, role, name, host=None):
        cmd = [self.hvfleet, "token", "create", "--role", role, "--name", name,
               "--state-dir", self.state_dir]
        if host:
            cmd += ["--host", host]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    def start(self, extra=(), wait=True):
        port_file = os.path.join(self.state_dir, "hvfleetd.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.hvfleetd, "--state-dir", self.state_dir, "--listen", "127.0.0.1:0",
             "--speed", str(self.speed)] + self.args + list(extra),
            stdout=self.log, stderr=self.log)
        if not wait:
            return self
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hvfleetd exited with {self.proc.returncode}: "
                                   + open(self.log_path).read()[-2000:])
            if os.path.exists(port_file):
                self.port = int(open(port_file).read())
                try:
                    if self.request("GET", "/v1/health")[0] == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("hvfleetd did not answer in 30 s")

    def request(self, method, path, token=None, body=None, headers=None, raw=None, timeout=30):
        """Returns (status, headers dict lowercased, parsed JSON or text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text.decode(errors="replace")
        return resp.status, hdrs, payload

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise RuntimeError(f"hvfleetd did not stop within {timeout} s of signal {sig}")
        finally:
            self.log.close()
        self.proc = None
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def log_text(self):
        try:
            return open(self.log_path).read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.own_dir and os.environ.get("HVFD_KEEP") is None:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def promtool_check(text):
    """The exposition format as Prometheus reads it: `promtool check metrics` (scripts/install-deps
    installs it, Debian package prometheus)."""
    promtool = shutil.which("promtool")
    check(promtool, "promtool not found: scripts/install-deps installs it (Debian package "
                    "prometheus)")
    pt = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=60)
    check(pt.returncode == 0, "promtool check metrics: " + pt.stdout + pt.stderr)


def wait_for(fn, what, timeout=60, show=None):
    """@fn() until it is true. @timeout is what a quiet machine needs; it is tripled, as the
    suite runs loaded and under ASan (a test that passes returns as soon as fn() holds).
    @show() tells, on a timeout, what was seen instead."""
    deadline = time.time() + 3 * timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    print("FAIL: timed out waiting for", what, file=sys.stderr)
    if show:
        print("seen instead:", show(), file=sys.stderr)
    sys.exit(1)


# meson's timeout sends SIGTERM: exit through atexit, so the daemon is killed too
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
