#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alert paths and monitors (docs/ha.md): two hvfleetds watch each other (A runs the twin, B is
--monitor-only). A's alerts (a host lost, an agent down, its dead-man's switch failing) reach
a test webhook receiver and its command hook; the dead-man's switch is hit periodically; B's
second webhook answers 500, exhausts its retries and is reported (alert-path-failed) through
the other paths, never through itself; A killed (SIGKILL): B reports peer-down (feed, webhook,
hook); A back: peer-back. /v1/monitors and /metrics (promtool) agree. A hook that hangs is
killed (its process group) at its timeout and reported through the webhook; a full queue drops
and counts. Bad settings are refused naming the key.
Usage: alerts.py HVFLEETD HVFLEET"""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading

from hvfd import Daemon, check, promtool_check, wait_for


# ---- a webhook receiver: 127.0.0.1, a free port, in this process ----
class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.posts = {}  # path -> [alert documents]
        self.gets = {}   # path -> hits
        self.status = {"/broken": 500}

    def got(self, path):
        with self.lock:
            return list(self.posts.get(path, []))

    def kinds(self, path):
        return [a["kind"] for a in self.got(path)]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self):
        code = self.server.status.get(self.path, 200)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        check(self.headers.get("Content-Type") == "application/json", dict(self.headers))
        with self.server.lock:
            self.server.posts.setdefault(self.path, []).append(json.loads(body))
        self.answer()

    def do_GET(self):
        with self.server.lock:
            self.server.gets[self.path] = self.server.gets.get(self.path, 0) + 1
        self.answer()


rx = Receiver()
threading.Thread(target=rx.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % rx.server_address[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


port_a, port_b = free_port(), free_port()
a = Daemon(sys.argv[1], sys.argv[2], name="hvfd-alerts-a")
b = Daemon(sys.argv[1], sys.argv[2], name="hvfd-alerts-b")


def hook(dmn):
    """A command hook appending its stdin and environment to files of the state directory."""
    out = os.path.join(dmn.state_dir, "hook.jsonl")
    script = os.path.join(dmn.state_dir, "hook.sh")
    with open(script, "w") as f:
        f.write('#!/bin/sh\ncat >> "%s"\nprintf "%%s %%s\\n" "$HVFLEET_ALERT_SEVERITY" '
                '"$HVFLEET_ALERT_KIND" >> "%s.env"\n' % (out, out))
    return script, out


def hook_kinds(out):
    try:
        return [json.loads(x)["kind"] for x in open(out) if x.strip()]
    except OSError:
        return []


script_a, out_a = hook(a)
script_b, out_b = hook(b)
with open(os.path.join(a.state_dir, "hvfleetd.yaml"), "w") as f:
    f.write(f"""alert_webhooks: ["{base}/a"]
alert_command: "sh {script_a}"
alert_command_timeout: 5s
deadman_url: "{base}/deadman"
deadman_every: 1s
peers: ["http://127.0.0.1:{port_b}"]
peer_every: 200ms
peer_down_after: 2s
agent_heartbeat_s: 1
agent_down_after: 3s
""")
with open(os.path.join(b.state_dir, "hvfleetd.yaml"), "w") as f:
    f.write(f"""alert_webhooks: ["{base}/b", "{base}/broken"]
alert_command: "sh {script_b}"
alert_retries: 2
alert_backoff: 50ms
alert_backoff_max: 200ms
peers: ["http://127.0.0.1:{port_a}/"]
peer_token_file: "{os.path.join(b.state_dir, 'peer.token')}"
peer_every: 200ms
peer_down_after: 2s
""")
va = a.token("viewer", "vic")
vb = b.token("viewer", "vic")
agent = a.token("agent", "agent-kvm0001", host="kvm0001")
with open(os.path.join(b.state_dir, "peer.token"), "w") as f:
    f.write(va + "\n")
# the twin loses a host 3 s (wall) after the start: the host-lost incident, alerted
dev = os.path.join(a.state_dir, "deviations.json")
with open(dev, "w") as f:
    json.dump({"schema": "hvfleet.sim-deviations/v1", "deviations": [
        {"at": "6000s", "kind": "host-crash", "host": "kvm0005"}]}, f)
a.args = ["--config", os.path.join(a.state_dir, "hvfleetd.yaml"),
          "--driver", "sim:///default?deviations=" + dev]
b.args = ["--config", os.path.join(b.state_dir, "hvfleetd.yaml"), "--monitor-only"]
a.start(["--listen", "127.0.0.1:%d" % port_a])
b.start(["--listen", "127.0.0.1:%d" % port_b])


def monitors(d, tok):
    s, _, m = d.request("GET", "/v1/monitors", tok)
    check(s == 200, (s, m))
    return m


# both see each other up
wait_for(lambda: monitors(a, va)["peers"][0]["state"] == "up", "A sees B up", 20)
wait_for(lambda: monitors(b, vb)["peers"][0]["state"] == "up", "B sees A up", 20)
mb = monitors(b, vb)
check(mb["monitor_only"] and [p["name"] for p in mb["paths"]] == ["webhook0", "webhook1",
                                                                   "command"], mb)
# B is --monitor-only: healthy, no driver, no fleet, no commands
s, _, h = b.request("GET", "/v1/health")
check(s == 200 and h["driver"] is None, (s, h))
check(b.request("GET", "/v1/hosts", vb)[0] == 503, "B has no fleet")

# ---- the dead-man's switch is hit every second ----
wait_for(lambda: rx.gets.get("/deadman", 0) >= 3, "3 hits of the dead-man's switch", 20)

# ---- an agent goes down on A: the alert reaches the webhook and the hook ----
s, _, sy = a.request("POST", "/v1/agent/sync", agent,
                     {"host": "kvm0001", "session": "", "wait_s": 0,
                      "facts": {"agent_version": "0.1.0", "cpus": 4, "mem_mib": 8192}})
check(s == 200, (s, sy))
wait_for(lambda: "agent-down" in rx.kinds("/a"), "agent-down at A's webhook", 20)
wait_for(lambda: "agent-down" in hook_kinds(out_a), "agent-down through A's hook", 20)
alert = [x for x in rx.got("/a") if x["kind"] == "agent-down"][0]
check(alert["severity"] == "warning" and "kvm0001" in alert["summary"]
      and alert["details"]["host"] == "kvm0001" and alert["instance"].endswith(":%d" % port_a),
      alert)
wait_for(lambda: open(out_a + ".env").read().count("warning agent-down") == 1,
         "the hook's environment names the alert", 10)
# ... and is an event of A's feed
_, _, ev = a.request("GET", "/v1/events?since=0&limit=1000", va)
check([e for e in ev["events"] if e["type"] == "alert" and e["data"]["kind"] == "agent-down"
       and e["data"]["id"] == alert["id"]], ev)

# ---- a host lost (the incident opens): critical, at the webhook and the hook ----
wait_for(lambda: "host-lost" in rx.kinds("/a"), "host-lost at A's webhook", 20)
wait_for(lambda: "host-lost" in hook_kinds(out_a), "host-lost through A's hook", 20)
lost = [x for x in rx.got("/a") if x["kind"] == "host-lost"][0]
check(lost["severity"] == "critical" and lost["details"]["host"] == "kvm0005", lost)

# ---- the dead-man's switch fails: alerted once, then back ----
rx.status["/deadman"] = 503
wait_for(lambda: "deadman-failed" in rx.kinds("/a"), "deadman-failed at A's webhook", 20)
wait_for(lambda: "deadman-failed" in hook_kinds(out_a), "deadman-failed through A's hook", 20)
hits = rx.gets["/deadman"]
wait_for(lambda: rx.gets["/deadman"] >= hits + 2, "the switch is still hit", 20)
check(rx.kinds("/a").count("deadman-failed") == 1, rx.kinds("/a"))
ma = monitors(a, va)
check(ma["deadman"]["state"] == "failing" and ma["deadman"]["failures"] >= 1
      and "503" in ma["deadman"]["last_error"], ma["deadman"])
del rx.status["/deadman"]
wait_for(lambda: "deadman-back" in rx.kinds("/a"), "deadman-back at A's webhook", 20)

# ---- A killed: B reports peer-down; B's broken webhook is reported through the others ----
a.kill()
wait_for(lambda: "peer-down" in rx.kinds("/b"), "peer-down at B's good webhook", 20)
wait_for(lambda: "peer-down" in hook_kinds(out_b), "peer-down through B's hook", 20)
wait_for(lambda: "alert-path-failed" in hook_kinds(out_b), "alert-path-failed via the hook", 20)
wait_for(lambda: "alert-path-failed" in rx.kinds("/b"), "alert-path-failed via webhook0", 20)
failed = [json.loads(x) for x in open(out_b) if '"alert-path-failed"' in x][0]
check(failed["details"]["path"] == "webhook1" and failed["details"]["alert_kind"] == "peer-down"
      and failed["details"]["attempts"] == 3 and "500" in failed["details"]["error"], failed)
# the broken path got the peer-down 3 times (1 + alert_retries), never the report of itself
check(rx.kinds("/broken").count("peer-down") == 3 and
      "alert-path-failed" not in rx.kinds("/broken"), rx.kinds("/broken"))
mb = monitors(b, vb)
check(mb["peers"][0]["state"] == "down" and mb["peers"][0]["last_error"], mb["peers"])
# the hook has written its stdin before hvfleetd reaps it: wait for the count
paths = wait_for(lambda: (lambda ps: ps if ps["command"]["sent"] >= 2 else None)(
    {p["name"]: p for p in monitors(b, vb)["paths"]}), "the hook's deliveries counted", 10)
check(paths["webhook1"]["state"] == "failing" and paths["webhook1"]["failed"] == 1
      and paths["webhook0"]["state"] == "ok" and paths["webhook0"]["sent"] >= 2
      and paths["command"]["sent"] >= 2, paths)
check(paths["webhook0"]["target"] == base + "/...", paths["webhook0"])
_, _, ev = b.request("GET", "/v1/events?since=0&limit=1000", vb)
kinds = [e["data"]["kind"] for e in ev["events"] if e["type"] == "alert"]
check("peer-down" in kinds and "alert-path-failed" in kinds, kinds)
s, _, m = b.request("GET", "/metrics", vb)
check(s == 200, s)
promtool_check(m)
for line in ('hvfleet_peers{state="down"} 1', 'hvfleet_alert_path_up{path="webhook1"} 0',
             'hvfleet_alerts_total{path="webhook1",result="failed"} 1',
             'hvfleet_alert_attempts_failed_total{path="webhook1"} 3'):
    check(line in m.splitlines(), (line, [x for x in m.splitlines() if "alert" in x or "peer" in x]))

# ---- A back on its port: B says so ----
a.start(["--listen", "127.0.0.1:%d" % port_a])
wait_for(lambda: "peer-back" in rx.kinds("/b"), "peer-back at B's webhook", 20)
check(monitors(b, vb)["peers"][0]["state"] == "up", "B sees A up again")
check(a.stop() == 0 and b.stop() == 0, "SIGTERM: exit 0")

# ---- a hook that hangs: killed with its process group at the timeout, reported through the
# webhook ----
c = Daemon(sys.argv[1], sys.argv[2], name="hvfd-alerts-c")
pids = os.path.join(c.state_dir, "hook.pids")
with open(os.path.join(c.state_dir, "hook.sh"), "w") as f:
    f.write('sleep 60 &\necho $$ $! >> "%s"\nwait\n' % pids)
with open(os.path.join(c.state_dir, "hvfleetd.yaml"), "w") as f:
    f.write(f"""alert_webhooks: ["{base}/c"]
alert_command: "sh {os.path.join(c.state_dir, 'hook.sh')}"
alert_command_timeout: 300ms
alert_queue: 16
peers: [{", ".join('"http://127.0.0.1:%d"' % free_port() for _ in range(24))}]
peer_every: 100ms
peer_down_after: 200ms
""")
vc = c.token("viewer", "vic")
c.args = ["--config", os.path.join(c.state_dir, "hvfleetd.yaml"), "--monitor-only"]
c.start()
wait_for(lambda: "alert-path-failed" in rx.kinds("/c"), "the hook's failure at the webhook", 20)
failed = [x for x in rx.got("/c") if x["kind"] == "alert-path-failed"][0]
check(failed["details"]["path"] == "command" and "timed out" in failed["details"]["error"]
      and failed["details"]["alert_kind"] == "peer-down", failed)


def gone(pid):
    try:
        return open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


hung = [int(x) for x in open(pids).read().split()]
wait_for(lambda: all(gone(x) for x in hung), "the hook and its child killed", 10)
mc = monitors(c, vc)
check(mc["paths"][1]["state"] == "failing", mc["paths"])
# 24 peers down at once, the hook taking 300 ms an alert: the queue holds 16, the rest dropped
# (counted for the path that had not sent them), the webhook got every one sent in time
wait_for(lambda: monitors(c, vc)["queue"]["dropped"] > 0, "alerts dropped from a full queue", 20)
mc = monitors(c, vc)
check(mc["queue"]["depth"] <= 16 and mc["paths"][1]["dropped"] == mc["queue"]["dropped"]
      and len([p for p in mc["peers"] if p["state"] == "down"]) == 24, mc)
s, _, m = c.request("GET", "/metrics", vc)
promtool_check(m)
check("hvfleet_alerts_dropped_total %d" % mc["queue"]["dropped"] in m.splitlines()
      or int([x for x in m.splitlines() if x.startswith("hvfleet_alerts_dropped_total ")][0]
             .split()[1]) >= mc["queue"]["dropped"], m)
check(c.stop() == 0, "SIGTERM: exit 0")

# ---- bad settings: one line naming the key, exit 2 ----
bad = os.path.join(b.state_dir, "bad.yaml")
for text, words in (("alert_webhooks: [\"ftp://x\"]\n", ["alert_webhooks", "http://"]),
                    ("alert_webhooks: \"http://x\"\n", ["alert_webhooks", "list"]),
                    ("peers: [\"http:///nohost\"]\n", ["peers"]),
                    ("deadman_url: \"nope\"\n", ["deadman_url"]),
                    ("deadman_every: 10ms\n", ["deadman_every", "1s"]),
                    ("peer_every: 1s\npeer_down_after: 500ms\n", ["peer_down_after"]),
                    ("alert_retries: 99\n", ["alert_retries"]),
                    ("alert_command_timeout: soon\n", ["alert_command_timeout"]),
                    ("alert_command: \"\"\n", ["alert_command"]),
                    ("monitor_only: maybe\n", ["monitor_only"])):
    with open(bad, "w") as f:
        f.write(text)
    p = subprocess.run([sys.argv[1], "--state-dir", b.state_dir, "--listen", "127.0.0.1:0",
                        "--config", bad], capture_output=True, text=True, timeout=30)
    plain = [x for x in p.stderr.splitlines() if not x.startswith("{")]
    check(p.returncode == 2 and len(plain) == 1 and all(w in plain[0] for w in words),
          (text, p.returncode, p.stderr))
with open(bad, "w") as f:
    f.write("peer_token_file: /nonexistent/token\n")
p = subprocess.run([sys.argv[1], "--state-dir", b.state_dir, "--listen", "127.0.0.1:0",
                    "--config", bad], capture_output=True, text=True, timeout=30)
plain = [x for x in p.stderr.splitlines() if not x.startswith("{")]
check(p.returncode == 2 and len(plain) == 1 and "peer_token_file" in plain[0], p.stderr)
rx.shutdown()
print("ok")
