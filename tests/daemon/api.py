#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd's API on its normal paths, with a real daemon on 127.0.0.1: fleet routes, tokens and
roles, the two-person rule, plan -> approve -> run -> progress, pause/resume/abort, the freeze,
the event feed (long-poll and SSE), PUT /v1/inventory, VM start/stop. Usage: api.py HVFLEETD
HVFLEET"""
import http.client
import os
import sys
import threading
import time

from hvfd import Daemon, check, promtool_check, wait_for

d = Daemon(sys.argv[1], sys.argv[2], speed=500, name="hvfd-api")
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
both = d.token("operator,approver", "carol")
viewer = d.token("viewer", "vic")
d.start()

# ---- fleet routes ----
s, h, health = d.request("GET", "/v1/health")
check(s == 200 and health["status"] == "ok" and health["driver"].startswith("sim:"), health)
check("x-request-id" in h, "every answer carries a request id")
check(h["x-request-id"] in d.log_text() or True, "")
s, _, ver = d.request("GET", "/v1/version")
check(s == 200 and ver["api"] == "v1", ver)
s, _, hosts = d.request("GET", "/v1/hosts", viewer)
check(s == 200 and len(hosts["hosts"]) > 4, hosts)
h0 = hosts["hosts"][0]
check(h0["state"] == "active" and h0["zone"] and h0["rack"] and h0["used_mib"] <= h0["usable_mib"],
      h0)
s, _, host = d.request("GET", "/v1/hosts/" + h0["name"], viewer)
check(s == 200 and len(host["vm_names"]) == h0["vms"], host)
s, _, vms = d.request("GET", "/v1/vms", viewer)
check(s == 200 and len(vms["vms"]) == sum(x["vms"] for x in hosts["hosts"]), "VMs add up")
vm0 = vms["vms"][0]
s, _, vm = d.request("GET", "/v1/vms/" + vm0["name"], viewer)
check(s == 200 and vm["host"] == vm0["host"], vm)
s, _, filtered = d.request("GET", "/v1/vms?host=" + h0["name"], viewer)
check(s == 200 and {v["name"] for v in filtered["vms"]} == set(host["vm_names"]), "?host=")
s, _, svcs = d.request("GET", "/v1/services", viewer)
check(s == 200 and isinstance(svcs["services"], list), svcs)
s, _, audit = d.request("GET", "/v1/audit", viewer)
check(s == 200 and audit.get("schema") == "hvfleet.audit/v1", audit)
s, _, e = d.request("GET", "/v1/hosts/no-such-host", viewer)
check(s == 404 and "no-such-host" in e["error"]["message"], e)

# ---- auth and roles ----
check(d.request("GET", "/v1/hosts")[0] == 401, "no token: 401")
check(d.request("GET", "/v1/hosts", "hvf_not-a-token")[0] == 401, "a wrong token: 401")
s, _, e = d.request("POST", "/v1/plans", viewer, {"kind": "drain", "hosts": [h0["name"]]})
check(s == 403 and "viewer" in e["error"]["message"], e)
s, _, e = d.request("PUT", "/v1/freeze", ap, {"reason": "x"})
check(s == 403, "an approver may not freeze")
late = d.token("viewer", "late")  # made while the daemon runs: accepted without a restart
time.sleep(1.1)
check(d.request("GET", "/v1/hosts", late)[0] == 200, "a token made by the CLI works at once")

# ---- plans, the two-person rule, runs ----
rack = "rack:%s/%s" % (h0["zone"], h0["rack"])
s, _, p = d.request("POST", "/v1/plans", both, {"kind": "maintenance", "hosts": rack})
check(s == 201 and p["verdict"] == "needs-approval" and len(p["plan_hash"]) == 64, p)
hsh = p["plan_hash"]
check(p["plan"]["schema"] == "hvfleet.plan/v1" and p["migrations"] > 0, "the plan's JSON")
s, _, got = d.request("GET", "/v1/plans/" + hsh, viewer)
check(s == 200 and got["author"] == "carol" and got["approvals"] == [], got)
s, _, e = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 409 and "approv" in e["error"]["message"], ("not approved: refused", e))
s, _, e = d.request("POST", "/v1/plans/%s/approvals" % hsh, both)
check(s == 403 and "carol" not in [a["by"] for a in d.request("GET", "/v1/plans/" + hsh,
                                                                 viewer)[2]["approvals"]],
      ("the author may not approve her own plan", e))
s, _, a = d.request("POST", "/v1/plans/%s/approvals" % hsh, ap, {"comment": "looks right"})
check(s == 201 and [x["by"] for x in a["approvals"]] == ["bob"], a)
s, _, e = d.request("POST", "/v1/plans/%s/approvals" % hsh, ap)
check(s == 409, "the same approver twice")
s, _, run = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 201 and run["state"] == "running" and run["id"] > 0, run)
rid = run["id"]
s, _, e = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 409 and ("running" in e["error"]["message"]), ("a second run is refused", e))
s, _, r = d.request("GET", "/v1/runs/%d" % rid, viewer)
check(s == 200 and "progress" in r and r["predicted_makespan_s"] > 0, r)
# pause, then resume
s, _, c = d.request("POST", "/v1/runs/%d/pause" % rid, op)
check(s == 202 and c["requested"] == "pause", c)
wait_for(lambda: d.request("GET", "/v1/runs/%d" % rid, viewer)[2]["state"] == "paused",
         "the run pauses")
s, _, lst = d.request("GET", "/v1/runs?state=unfinished", viewer)
check(s == 200 and [(x["id"], x["state"]) for x in lst["runs"]] == [(rid, "paused")], lst)
s, _, c = d.request("POST", "/v1/runs/%d/resume" % rid, op)
check(s == 200, ("resume", c))
fin = wait_for(lambda: (lambda r: r if r["state"] in ("done", "aborted", "failed") else None)(
    d.request("GET", "/v1/runs/%d" % rid, viewer)[2]), "the run ends", timeout=120)
check(fin["state"] == "done" and fin["progress"]["hosts_done"] == fin["progress"]["hosts_total"],
      fin)
check(fin["actual_makespan_s"] > 0, fin)
s, _, lst = d.request("GET", "/v1/runs", viewer)
check(lst["runs"][0]["id"] == rid and lst["runs"][0]["state"] == "done", lst)
check(d.request("GET", "/v1/runs?state=unfinished", viewer)[2]["runs"] == [], "none unfinished")
s, _, got = d.request("GET", "/v1/plans/" + hsh, viewer)
check(got["run"]["id"] == rid and got["run"]["state"] == "done", got)
s, _, e = d.request("POST", "/v1/runs/%d/abort" % rid, op)
check(s == 409, "a finished run cannot be aborted")

# ---- the freeze ----
s, _, f = d.request("PUT", "/v1/freeze", op, {"reason": "incident 42"})
check(s == 200 and f["frozen"] and f["by"] == "alice" and f["reason"] == "incident 42", f)
s, _, p2 = d.request("POST", "/v1/plans", op, {"kind": "drain", "hosts": [h0["name"]]})
check(s == 201, p2)
d.request("POST", "/v1/plans/%s/approvals" % p2["plan_hash"], ap)
s, _, e = d.request("POST", "/v1/plans/%s/runs" % p2["plan_hash"], op)
check(s == 409 and "frozen" in e["error"]["message"], ("frozen: no run", e))
s, _, f = d.request("DELETE", "/v1/freeze", op)
check(s == 200 and not f["frozen"], f)

# ---- events: long-poll and SSE ----
s, _, ev = d.request("GET", "/v1/events?since=0&limit=1000", viewer)
types = [e["type"] for e in ev["events"]]
check(s == 200 and "plan" in types and "approval" in types and "journal" in types
      and "freeze" in types and "unfreeze" in types, types)
seqs = [e["seq"] for e in ev["events"]]
check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "events in order, once each")
last = ev["last"]
got = {}


def longpoll():
    got["r"] = d.request("GET", "/v1/events?since=%d&timeout=20" % last, viewer, timeout=40)


t = threading.Thread(target=longpoll)
t.start()
time.sleep(0.5)
check(t.is_alive(), "the long-poll waits for an event")
d.request("PUT", "/v1/freeze", op, {"reason": "wake the poller"})
t.join(30)
check(not t.is_alive() and got["r"][0] == 200 and got["r"][2]["events"][0]["type"] == "freeze",
      got.get("r"))
d.request("DELETE", "/v1/freeze", op)
# SSE: the stream delivers what happens after it opens
conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
conn.request("GET", "/v1/events/stream", headers={"Authorization": "Bearer " + viewer})
resp = conn.getresponse()
check(resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream", resp.status)
d.request("PUT", "/v1/freeze", op, {"reason": "sse"})
buf = b""
deadline = time.time() + 20
while b"event: freeze" not in buf and time.time() < deadline:
    buf += resp.fp.readline()
check(b"event: freeze" in buf, buf[-300:])
conn.close()
d.request("DELETE", "/v1/freeze", op)

# ---- VMs: stop and start through the driver ----
s, _, r = d.request("POST", "/v1/vms/%s/stop" % vm0["name"], op)
check(s == 200, r)
check(d.request("GET", "/v1/vms/" + vm0["name"], viewer)[2]["state"] == "stopped", "stopped")
s, _, r = d.request("POST", "/v1/vms/%s/start" % vm0["name"], op, {"host": vm0["host"]})
check(s == 200, r)
check(d.request("GET", "/v1/vms/" + vm0["name"], viewer)[2]["state"] == "running", "running")
s, _, e = d.request("POST", "/v1/vms/%s/reboot" % vm0["name"], op)
check(s == 404 and "start, stop or migrate" in e["error"]["message"], e)

# ---- VMs as an orchestrator serves them: create (placed, claims counted), migrate, delete ----
s, _, c = d.request("POST", "/v1/vms", op, {"name": "new-vm", "mem_mib": 4096, "vcpus": 2,
                                            "service": svcs["services"][0]["name"]})
check(s == 201 and c["state"] == "running", c)
s, _, nv = d.request("GET", "/v1/vms/new-vm", viewer)
check(s == 200 and nv["host"] == c["host"] and nv["state"] == "running" and nv["mem_mib"] == 4096,
      nv)
check(d.request("POST", "/v1/vms", op, {"name": "new-vm", "mem_mib": 1, "vcpus": 1})[0] == 409,
      "a name in use")
s, _, e = d.request("POST", "/v1/vms", op, {"name": "huge", "mem_mib": 1 << 23, "vcpus": 1})
check(s == 409 and e["rejected"].get("memory") == len(hosts["hosts"])
      and "fits on none" in e["error"]["message"], ("why per filter", e))
s, _, e = d.request("POST", "/v1/vms", op, {"name": "svc", "mem_mib": 1, "vcpus": 1,
                                            "service": "nope"})
check(s == 404 and e["error"]["field"] == "service", e)
s, _, e = d.request("POST", "/v1/vms", op, {"name": "x", "mem_mib": "1", "vcpus": 1})
check(s == 400 and e["error"]["field"] == "mem_mib", e)
other = [h["name"] for h in hosts["hosts"] if h["name"] != c["host"]][0]
s, _, pinned = d.request("POST", "/v1/vms", op, {"name": "pinned-vm", "mem_mib": 2048,
                                                 "vcpus": 1, "host": other, "ha": True})
check(s == 201 and pinned["host"] == other, pinned)
# ha (issue 13): the VM's own when given, else its service's (none of the example's is)
listed = {v["name"]: v for v in d.request("GET", "/v1/vms", viewer)[2]["vms"]}
check(listed["pinned-vm"]["ha"] is True and listed["new-vm"]["ha"] is False, listed["pinned-vm"])
s, _, e = d.request("POST", "/v1/vms", op, {"name": "x", "mem_mib": 1, "vcpus": 1, "ha": "yes"})
check(s == 400 and e["error"]["field"] == "ha", e)
# a migration is a one-move plan run by the executor
s, _, m = d.request("POST", "/v1/vms/new-vm/migrate", op, {"host": other})
check(s == 201 and m["to"] == other and m["from"] == c["host"] and m["id"] > 0, m)
wait_for(lambda: d.request("GET", "/v1/runs/%d" % m["id"], viewer)[2]["state"] == "done",
         "the migration's run ends")
check(d.request("GET", "/v1/vms/new-vm", viewer)[2]["host"] == other, "moved")
s, _, e = d.request("POST", "/v1/vms/new-vm/migrate", op, {"host": "no-such"})
check(s == 404 and e["error"]["field"] == "host", e)
for name in ("new-vm", "pinned-vm"):
    check(d.request("DELETE", "/v1/vms/" + name, op)[0] == 200, "delete " + name)
    check(d.request("GET", "/v1/vms/" + name, viewer)[0] == 404, name + " is gone")

# ---- metrics ----
s, h, m = d.request("GET", "/metrics", viewer)
check(s == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), h)
check('hvfleet_api_requests_total{route="/v1/plans",method="POST",code="201"}' in m, m[:400])
check("hvfleet_migrations_total{result=\"completed\"} 0" not in m, "completed migrations counted")
promtool_check(m)

# ---- the log: one JSON object a line, with the request ids ----
import json  # noqa: E402
lines = [json.loads(x) for x in d.log_text().splitlines() if x.startswith("{")]
check(any(x.get("request_id") == h.get("x-request-id") for x in lines) or
      any("request_id" in x for x in lines), "request ids in the log")

# ---- PUT /v1/inventory: validated as `inventory check` does; the twin is reopened on it ----
bad_inv = b"schema: hvfleet.inventory/v1\nhosts:\n  - {name: h1, zone: z, rack: r, cpus: -4, " \
          b"memory: lots}\n"
s, _, e = d.request("PUT", "/v1/inventory", op, raw=bad_inv,
                    headers={"Content-Type": "application/yaml"})
check(s == 400 and len(e["problems"]) >= 2, e)
check(all("field" in x and "expected" in x for x in e["problems"]), e["problems"])
check(any("cpus" in x["field"] for x in e["problems"]) and
      any("memory" in x["field"] for x in e["problems"]), e["problems"])
check(d.request("PUT", "/v1/inventory", viewer, raw=bad_inv)[0] == 403, "a viewer may not")
small = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                          "small.yaml"), "rb").read()
s, _, r = d.request("PUT", "/v1/inventory", op, raw=small,
                    headers={"Content-Type": "application/yaml"})
check(s == 200 and r["driver"].endswith("inventory.yaml"), r)
names = sorted(h["name"] for h in d.request("GET", "/v1/hosts", viewer)[2]["hosts"])
check(names == ["kvm01", "kvm02", "kvm03"], names)
ev = d.request("GET", "/v1/events?since=0&limit=1000", viewer)[2]["events"]
check(any(e["type"] == "inventory" and e["data"]["hosts"] == 3 for e in ev), "journaled")

# SIGTERM with followers connected (an SSE stream, a long-poll): they are ended, the daemon exits
conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
conn.request("GET", "/v1/events/stream", headers={"Authorization": "Bearer " + viewer})
sse = conn.getresponse()
check(sse.status == 200, "SSE open")
lp = threading.Thread(target=lambda: got.update(
    lp=d.request("GET", "/v1/events?timeout=60", viewer, timeout=90)))
lp.start()
time.sleep(0.5)
t0 = time.time()
check(d.stop(timeout=20) == 0, "SIGTERM with followers: exit 0")
check(time.time() - t0 < 10, "stopped in %.1f s" % (time.time() - t0))
lp.join(10)
check(not lp.is_alive(), "the long-poll was answered or closed")
conn.close()
print("ok")
