#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd with TLS (a self-signed certificate made by openssl for 127.0.0.1) and its --config
file: HTTPS answers with the certificate checked, plain HTTP is refused, the config's settings
take effect and flags win over them; bad configs and TLS files are refused with the reason.
Usage: tls-config.py HVFLEETD HVFLEET SRCDIR"""
import http.client
import os
import ssl
import subprocess
import sys

import hvfd
from hvfd import Daemon, check

d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-tls")
src = sys.argv[3]
cert = os.path.join(d.state_dir, "cert.pem")
key = os.path.join(d.state_dir, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
viewer = d.token("viewer", "vic")

# the shipped example config, with flags over it (state dir, listen)
d.args = ["--config", os.path.join(src, "contrib", "hvfleetd.yaml"),
          "--tls-cert", cert, "--tls-key", key]


def https(path, token=None, ctx=None):
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=20, context=ctx)
    h = {"Authorization": "Bearer " + token} if token else {}
    try:
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# start: Daemon.start polls over plain HTTP, so wait for the port file and use HTTPS here
d.start(wait=False)
port_file = os.path.join(d.state_dir, "hvfleetd.port")
hvfd.wait_for(lambda: os.path.exists(port_file), "the port file", 30)
d.port = int(open(port_file).read())
ctx = ssl.create_default_context(cafile=cert)
status, body = hvfd.wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
    (lambda: https("/v1/health", ctx=ctx))()), "HTTPS /v1/health", 30)
check(b'"status":"ok"' in body, body)
check(https("/v1/hosts", viewer, ctx)[0] == 200, "an authenticated request over TLS")
# a client that does not trust the certificate is refused by its own check
try:
    https("/v1/health", ctx=ssl.create_default_context())
    check(False, "an untrusted certificate was accepted")
except ssl.SSLError:
    pass
# plain HTTP to a TLS port gets no answer, and the daemon goes on serving
try:
    s, _, _ = d.request("GET", "/v1/health", timeout=5)
    check(s >= 400, "plain HTTP answered %d" % s)
except (OSError, http.client.HTTPException):
    pass
check(https("/v1/health", ctx=ctx)[0] == 200, "still serving TLS")
check(d.stop() == 0, "SIGTERM: exit 0")


def refused(args, words, rc=2):
    p = subprocess.run([sys.argv[1], "--state-dir", d.state_dir, "--listen", "127.0.0.1:0"]
                       + args, capture_output=True, text=True, timeout=30)
    plain = [x for x in p.stderr.splitlines() if not x.startswith("{")]
    check(p.returncode == rc and all(w in plain[0] for w in words) and len(plain) == 1,
          (args, p.returncode, p.stderr))


bad = os.path.join(d.state_dir, "bad.yaml")
with open(bad, "w") as f:
    f.write("threads: 0\n")
refused(["--config", bad], ["bad.yaml", "threads"])
with open(bad, "w") as f:
    f.write("listen: 127.0.0.1:99999\n")
refused(["--config", bad], ["bad.yaml", "listen", "65535"])
with open(bad, "w") as f:
    f.write("nonsense: 1\n")
refused(["--config", bad], ["bad.yaml", "nonsense"])
# agents that fence themselves after 60 s cannot be taken for fenced when lost at 60 s
with open(bad, "w") as f:
    f.write("agent_down_after: 60s\nha_fence_after: 60s\n")
refused(["--config", bad], ["bad.yaml", "ha_fence_after", "agent_down_after"])
with open(bad, "w") as f:
    f.write("reconcile_destroy: maybe\n")
refused(["--config", bad], ["bad.yaml", "reconcile_destroy"])
with open(bad, "w") as f:
    f.write("reconcile_stop: true\nreconcile_actions_per_minute: 0\n")
refused(["--config", bad], ["bad.yaml", "reconcile_actions_per_minute"])
with open(bad, "w") as f:
    f.write("peers: [\"http://:8470\"]\n")
refused(["--config", bad], ["bad.yaml", "peers"])
with open(bad, "w") as f:
    f.write("ha_storm_share: 2\n")
refused(["--config", bad], ["bad.yaml", "ha_storm_share"])
with open(bad, "w") as f:
    f.write("ha_fence_timeout: 0s\n")
refused(["--config", bad], ["bad.yaml", "ha_fence_timeout"])
with open(bad, "w") as f:
    f.write("peer_every: 0s\n")
refused(["--config", bad], ["bad.yaml", "peer_every"])
with open(bad, "w") as f:
    f.write("alert_webhooks: [\"file:///etc/passwd\"]\n")
refused(["--config", bad], ["bad.yaml", "alert_webhooks", "http://"])
refused(["--config", "/nonexistent/hvfleetd.yaml"], ["/nonexistent/hvfleetd.yaml"])
refused(["--tls-cert", cert], ["--tls-key"])
refused(["--tls-cert", "/nonexistent.pem", "--tls-key", key], ["/nonexistent.pem"])
refused(["--driver", "nosuch:///"], ["nosuch"])
refused(["--driver", "agent:///nonexistent/inventory.yaml"], ["/nonexistent/inventory.yaml"])
refused(["--driver", "agent:///%s?accel=arm" % os.path.join(src, "examples", "small.yaml")],
        ["accel", "arm", "tcg or kvm"])
refused(["--driver", "agent:///%s?image" % os.path.join(src, "examples", "small.yaml")],
        ["parameter 'image'", "NAME=VALUE"])
refused(["--speed", "-1"], ["--speed"])
# several controllers (docs/controller-ha.md): the store, name, URL and lease refused with why
refused(["--store", "/var/lib/elsewhere"], ["--store", "/var/lib/elsewhere", "postgresql://"])
refused(["--store", "postgresql://hvf:secret@127.0.0.1:1/hvfleet"],
        ["postgresql://hvf:***@127.0.0.1:1/hvfleet", "cannot open store"])
refused(["--name", "no spaces"], ["name 'no spaces'", "letters"])
refused(["--advertise-url", "ftp://x"], ["advertise-url 'ftp://x'", "http://"])
with open(bad, "w") as f:
    f.write("lease_ttl: 1s\n")
refused(["--config", bad], ["bad.yaml", "lease_ttl", "3s to 5m"])
with open(bad, "w") as f:
    f.write("lease_ttl: 6s\nlease_renew: 5s\n")
refused(["--config", bad], ["bad.yaml", "lease_renew", "a third of lease_ttl"])
# a second daemon on the same state directory is refused while the first runs
d.args = []
d.start()
refused([], ["another hvfleetd", d.state_dir], rc=1)
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
