#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`hvfleet --server URL` against a real hvfleetd on 127.0.0.1: plan -> approve (a second
identity) -> run followed to its end -> status -> events -> freeze/unfreeze, events --follow,
and the errors: no token, a wrong token, nothing listening, an unknown host, the author
approving her own plan, a hash prefix. Usage: cli-server.py HVFLEETD HVFLEET"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from hvfd import Daemon, check

HVFLEET = sys.argv[2]
d = Daemon(sys.argv[1], HVFLEET, speed=2000, name="hvfd-cli")
alice = d.token("operator", "alice")
bob = d.token("approver", "bob")
carol = d.token("operator,approver", "carol")
viewer = d.token("viewer", "vic")
d.start()
URL = "http://127.0.0.1:%d" % d.port
tmp = tempfile.mkdtemp(prefix="hvfd-cli-%d-" % os.getpid(), dir=d.state_dir)


def hv(*args, token=None, env=None, server=URL, timeout=60):
    """Runs hvfleet [--server URL] ARGS with HVFLEET_TOKEN=token; returns (rc, out, err)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("HVFLEET_")}
    if token:
        e["HVFLEET_TOKEN"] = token
    e.update(env or {})
    cmd = [HVFLEET] + (["--server", server] if server else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


# ---- plan -> approve -> run, each verb over HTTP ----
hosts = d.request("GET", "/v1/hosts", viewer)[2]["hosts"]
rack = "rack:%s/%s" % (hosts[0]["zone"], hosts[0]["rack"])
in_rack = [h["name"] for h in hosts if (h["zone"], h["rack"]) == (hosts[0]["zone"], hosts[0]["rack"])]
plan_file = os.path.join(tmp, "plan.json")
rc, out, err = hv("plan", "maintenance", "--hosts", rack, "-o", plan_file, token=alice)
check(rc == 0 and "verdict: needs-approval" in out, (rc, out, err))
plan = json.load(open(plan_file))
h = plan["summary"]["plan_hash"]
check(len(plan["hosts"]) == len(in_rack) and sorted(x["host"] for x in plan["hosts"]) == sorted(in_rack),
      "the selector went to the daemon as is")
got = d.request("GET", "/v1/plans/" + h, viewer)[2]
check(got["author"] == "alice" and got["plan"]["summary"]["plan_hash"] == h,
      ("the daemon keeps the plan the CLI wrote", got.get("author")))
check(h in out and "%d migration" % len(plan["migrations"]) in out, out)
rc, out, err = hv("plan", "maintenance", "--hosts", rack, "--json", token=alice)
check(rc == 0 and json.loads(out)["plan_hash"] == h, "--json: the daemon's answer, same plan")

# the operator may not approve; the approver may, by hash (HVFLEET_TOKEN per call)
rc, out, err = hv("approve", h, token=alice)
check(rc == 1 and "operator" in err and "HTTP 403" in err, (rc, err))
rc, out, err = hv("approve", h, "--comment", "fine", token=bob)
check(rc == 0 and "by bob: 1 approval" in out, (rc, out, err))
check([a["by"] for a in d.request("GET", "/v1/plans/" + h, viewer)[2]["approvals"]] == ["bob"],
      "the approval is the daemon's")

t0 = time.time()
rc, out, err = hv("run", plan_file, token=alice, timeout=120)
lines = out.splitlines()
check(rc == 0, (rc, out[-500:], err))
rid = int(lines[0].split()[1].rstrip(":"))
fin = d.request("GET", "/v1/runs/%d" % rid, viewer)[2]
check(fin["state"] == "done" and ("run %d done: %d hosts done" % (rid, fin["progress"]["hosts_done"]))
      in out, (fin, out[-400:]))
check(sum(1 for x in lines if x.startswith("[")) >= 1 and "migrations" in out, "progress lines")
check("(done)" in [x for x in lines if x.startswith("[")][-1], "the last progress line says done")
rc, out, err = hv("run", "--status", token=viewer)
check(rc == 1 and "no unfinished run" in out, (rc, out, err))
rc, out, err = hv("run", "--status", str(rid), "--json", token=viewer)
check(rc == 0 and json.loads(out)["state"] == "done", (rc, out))

# ---- status, freeze, unfreeze ----
rc, out, err = hv("status", token=viewer)
nvms = len(d.request("GET", "/v1/vms", viewer)[2]["vms"])
check(rc == 0 and ("hosts: %d" % len(hosts)) in out and ("VMs: %d" % nvms) in out
      and "not frozen" in out, (rc, out, err))
rc, out, err = hv("freeze", "--reason", "cli test", token=alice)
check(rc == 0 and "frozen since" in out and "by alice: cli test" in out, (rc, out, err))
check(d.request("GET", "/v1/freeze", viewer)[2]["frozen"], "the daemon is frozen")
rc, out, err = hv("freeze", "--status", token=viewer)
check(rc == 0 and "cli test" in out, (rc, out))
rc, out, err = hv("status", "--json", token=viewer)
check(rc == 0 and json.loads(out)["freeze"]["reason"] == "cli test", out)
rc, out, err = hv("unfreeze", token=alice)
check(rc == 0 and not d.request("GET", "/v1/freeze", viewer)[2]["frozen"], (rc, err))
rc, out, err = hv("freeze", "--status", token=viewer)
check(rc == 1 and "not frozen" in out, (rc, out))

# ---- events: what happened, one JSON object a line; --follow sees what happens next ----
rc, out, err = hv("events", token=viewer)
evs = [json.loads(x) for x in out.splitlines()]
types = [e["type"] for e in evs]
check(rc == 0 and "plan" in types and "approval" in types and "freeze" in types
      and "unfreeze" in types and any(e["type"] == "journal" and e["run"] == rid for e in evs),
      (rc, types[:20], err))
every = []
since = 0
while True:  # the daemon's feed, page by page: the CLI printed all of it, in order
    page = d.request("GET", "/v1/events?since=%d&limit=1000" % since, viewer)[2]
    if not page["events"]:
        break
    every += [e["seq"] for e in page["events"]]
    since = page["last"]
check([e["seq"] for e in evs] == every, "every event once, in order")
rc, out, err = hv("events", "--since", str(every[-3]), token=viewer)
check(rc == 0 and [json.loads(x)["seq"] for x in out.splitlines()] == every[-2:], out)

e = {k: v for k, v in os.environ.items() if not k.startswith("HVFLEET_")}
e["HVFLEET_TOKEN"] = viewer
e["HVFLEET_SERVER"] = URL  # the environment instead of --server
follow = subprocess.Popen([HVFLEET, "events", "--follow"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=e)
try:
    time.sleep(0.5)
    check(follow.poll() is None, "events --follow waits")
    hv("freeze", "--reason", "followed", token=alice)
    line = follow.stdout.readline()  # bounded: the freeze makes one
    ev = json.loads(line)
    check(ev["type"] == "freeze" and ev["data"]["reason"] == "followed", line)
finally:
    follow.kill()
    follow.wait()
hv("unfreeze", token=alice)

# ---- errors ----
rc, out, err = hv("status")
check(rc == 2 and "HVFLEET_TOKEN" in err and "--token-file" in err, ("no token", rc, err))
rc, out, err = hv("status", token="hvf_not-a-token")
check(rc == 2 and "HTTP 401" in err and "HVFLEET_TOKEN" in err, ("a wrong token", rc, err))
tokfile = os.path.join(tmp, "tok")
with open(tokfile, "w") as f:
    f.write(viewer + "\n")
rc, out, err = hv("--token-file", tokfile, "status", server=None)
check(rc == 2 and "--server" in err, ("--token-file without a server is a usage error", rc, err))
rc, out, err = hv("--token-file", tokfile, "status", server=None, env={"HVFLEET_SERVER": URL})
check(rc == 0 and "hosts: " in out, ("--token-file with HVFLEET_SERVER", rc, err))
p = subprocess.run([HVFLEET, "--server", URL, "--token-file", tokfile, "freeze", "--status"],
                   capture_output=True, text=True, timeout=60,
                   env={k: v for k, v in os.environ.items() if not k.startswith("HVFLEET_")})
check(p.returncode == 1 and "not frozen" in p.stdout, ("--token-file", p.returncode, p.stderr))

s = socket.socket()
s.bind(("127.0.0.1", 0))
dead = s.getsockname()[1]
s.close()  # nothing listens there now
t0 = time.time()
rc, out, err = hv("status", token=viewer, server="http://127.0.0.1:%d" % dead)
check(rc == 1 and ("cannot reach hvfleetd at http://127.0.0.1:%d" % dead) in err
      and time.time() - t0 < 10, ("connection refused", rc, err, time.time() - t0))
rc, out, err = hv("status", token=viewer, server="ftp://127.0.0.1:%d" % d.port)
check(rc == 2 and "expected http://" in err, ("a bad URL", rc, err))

rc, out, err = hv("plan", "maintenance", "--hosts", "no-such-host-7", token=alice)
check(rc == 2 and "no-such-host-7" in err and "HTTP 400" in err and "field hosts" in err,
      ("an unknown host: the daemon's message", rc, err))
rc, out, err = hv("plan", "drain", hosts[0]["name"], "no-such-host-8", token=alice)
check(rc == 2 and "no-such-host-8" in err and "HTTP 404" in err, ("drain: unknown host", rc, err))
rc, out, err = hv("plan", "maintenance", "--inventory", plan_file, token=alice)
check(rc == 2 and "--inventory" in err, ("--inventory is for files", rc, err))

# --policy: checked here (file:line), sent as an object, planned with by the daemon
pol = os.path.join(tmp, "policy.yaml")
with open(pol, "w") as f:
    f.write("max_parallel_hosts: 3\nmax_parallel_per_rack: 0\n"
            "seatbelt: {max_hosts_without_approval: 20, max_capacity_offline: 50%, "
            "max_plan_duration: 24h}\n")
rc, out, err = hv("plan", "maintenance", "--hosts", "all", "--policy", pol, "--json", token=alice)
par = json.loads(out)["plan"]["summary"]["max_parallel_hosts_seen"] if rc == 0 else 0
rc0, out0, _ = hv("plan", "maintenance", "--hosts", "all", "--json", token=alice)
par0 = json.loads(out0)["plan"]["summary"]["max_parallel_hosts_seen"]
check(rc == 0 and par0 == 1 and 1 < par <= 3, ("the policy reached the planner", rc, err, par0, par))
with open(pol, "w") as f:
    f.write("max_parallel_hosts: many\n")
rc, out, err = hv("plan", "maintenance", "--policy", pol, token=alice)
check(rc == 2 and "policy.yaml:1: max_parallel_hosts: 'many'" in err, ("a bad policy", rc, err))

# the two-person rule: carol may approve, but not her own plan (a plan no one made before:
# plans are known by their content, and the first to make one is its author)
rc, out, err = hv("plan", "maintenance", "--hosts", "all,!" + hosts[-1]["name"], "-o",
                  os.path.join(tmp, "c.json"), token=carol)
check(rc == 0 and "needs-approval" in out, (rc, out, err))
ch = json.load(open(os.path.join(tmp, "c.json")))["summary"]["plan_hash"]
rc, out, err = hv("approve", ch, token=carol)
check(rc == 1 and "carol" in err and "second person" in err and "HTTP 403" in err, ("own plan: two-person rule", rc, err))
check(d.request("GET", "/v1/plans/" + ch, viewer)[2]["approvals"] == [], "not recorded")
rc, out, err = hv("approve", ch[:12], token=bob)
check(rc == 2 and "prefix" in err, ("a prefix is not a hash", rc, err))
rc, out, err = hv("run", ch, token=alice)
check(rc == 1 and "approv" in err and "HTTP 409" in err, ("not approved: refused", rc, err))

# pause, find the paused run (GET /v1/health names only a running one), resume, follow
allh = json.loads(out0)["plan_hash"]
check(hv("approve", allh, token=bob)[0] == 0, "approve the plan of all hosts")
rc, out, err = hv("run", allh, "--detach", token=alice)
check(rc == 0 and "started" in out, (rc, out, err))
rid2 = int(out.split()[1])
check(rid2 > rid, (rid, rid2))
rc, out, err = hv("run", "--pause", token=alice)
check(rc == 0 and ("run %d: asked to pause" % rid2) in out, (rc, out, err))
deadline = time.time() + 60
while d.request("GET", "/v1/runs/%d" % rid2, viewer)[2]["state"] != "paused":
    check(time.time() < deadline, "the run pauses")
    time.sleep(0.1)
check(d.request("GET", "/v1/health")[2]["run"] is None, "health does not name a paused run")
rc, out, err = hv("run", "--status", token=viewer)
check(rc == 0 and out.startswith("run %d: paused" % rid2), ("the paused run is found", rc, out))
rc, out, err = hv("status", token=viewer)
check(rc == 0 and ("run %d: paused" % rid2) in out, ("status shows the paused run", rc, out))
rc, out, err = hv("run", "--resume", "--json", token=alice, timeout=120)
last = json.loads(out.splitlines()[-1])
check(rc == 0 and last["id"] == rid2 and last["state"] == "done", (rc, out[-300:], err))
rc, out, err = hv("run", "--abort", token=alice)
check(rc == 1 and "no unfinished run" in err, ("nothing to abort", rc, err))

# without --server the verbs work on files as before, and status says it needs a daemon
rc, out, err = hv("status", server=None)
check(rc == 2 and "--server" in err and "HVFLEET_SERVER" in err, (rc, err))
rc, out, err = hv("freeze", "--status", server=None,
                  env={"HVFLEET_STATE_DIR": os.path.join(tmp, "local")})
check(rc == 1 and "not frozen (state in" in out, ("a local freeze --status", rc, out, err))
rc, out, err = hv("--help", server=None)
check(rc == 0 and "--server URL" in out, "the usage names --server")

# ---- TLS: the certificate is verified; --cacert (or HVFLEET_CACERT) for a self-signed one ----
tls = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls")
cert = os.path.join(tls, "cert.pem")  # self-signed for 127.0.0.1 and localhost, until 2126
t = Daemon(sys.argv[1], HVFLEET, speed=2000, name="hvfd-cli-tls")
tv = t.token("viewer", "vic")
t.start(extra=["--tls-cert", cert, "--tls-key", os.path.join(tls, "key.pem")], wait=False)
port_file = os.path.join(t.state_dir, "hvfleetd.port")
deadline = time.time() + 30
while True:
    check(t.alive(), ("the TLS daemon runs", t.log_text()[-500:]))
    if os.path.exists(port_file) and open(port_file).read().strip():
        TURL = "https://127.0.0.1:%d" % int(open(port_file).read())
        rc, out, err = hv("status", token=tv, server=TURL, env={"HVFLEET_CACERT": cert})
        if rc == 0:
            break
    check(time.time() < deadline, "the TLS daemon answers within 30 s")
    time.sleep(0.1)
check("hosts: %d" % len(hosts) in out, out)
rc, out, err = hv("status", token=tv, server=TURL)
check(rc == 1 and "cannot reach hvfleetd at " + TURL in err and "--cacert" in err,
      ("an unknown CA is refused", rc, err))
rc, out, err = hv("--cacert", cert, "freeze", "--status", token=tv, server=TURL)
check(rc == 1 and "not frozen" in out, ("--cacert", rc, out, err))
check(t.stop() == 0, "the TLS daemon stops")
rc, out, err = hv("status", token=viewer, server="http://127.0.0.1:")
check(rc == 2 and "expected http://" in err, ("no port", rc, err))

check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
