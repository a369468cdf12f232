#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Three hvfleetd on one real PostgreSQL server (issue 15, docs/controller-ha.md): one leads, two
stand by. A maintenance run on the twin (one world file shared by the three, as real hosts are
shared); the leader SIGKILLed at random points of the run: another takes over within 15 s and
resumes the run from the journal. Then PostgreSQL itself stops mid-run: the leader stops acting
before its lease lapses (checked against the lease row, on the database's clock). At the end: the
run is done, no migration was started twice, no claim is left, and the journal shows the terms
in order, one controller each, so no two controllers ever acted at once.
Usage: controller-ha.py HVFLEETD HVFLEET"""
import atexit
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pglab
from hvfd import Daemon, check, wait_for

pglab.skip_unless_possible()
hvfleetd, hvfleet = sys.argv[1], sys.argv[2]
rng = random.Random(int(os.environ.get("HVF_TEST_SEED", "15")))
pg = pglab.Server("ctlha").start()
uri = pg.create_db("hvf_ha")
shared = tempfile.mkdtemp(prefix="hvf-ctlha-world-%d-" % os.getpid())
atexit.register(shutil.rmtree, shared, True)
driver = "sim:///default?world=%s/world.json" % shared
TTL_S = 10  # the defaults: lease_ttl 10 s, renewed every 2 s


def token(role, name):
    out = subprocess.run([hvfleet, "token", "create", "--role", role, "--name", name,
                          "--state-dir", uri], check=True, capture_output=True, text=True,
                         timeout=30)
    return out.stdout.strip()


op, ap = token("operator", "alice"), token("approver", "bob")
ds = [Daemon(hvfleetd, hvfleet, ["--store", uri, "--driver", driver, "--name", "c%d" % i],
             speed=1500, name="hvfd-ctlha-c%d" % i) for i in range(3)]
for d in ds:
    d.start()


def role(d):
    try:
        return d.request("GET", "/v1/health", timeout=5)[2]["role"]
    except (OSError, TypeError, KeyError):
        return None


def leader():
    found = [d for d in ds if d.alive() and role(d) == "leader"]
    check(len(found) <= 1, "two controllers say they lead: %s" % [d.args for d in found])
    return found[0] if found else None


L = wait_for(leader, "one controller leads", 20)
standby = next(d for d in ds if d is not L)
# the cluster as each one sees it
s, _, cl = standby.request("GET", "/v1/cluster", op)
check(s == 200 and cl["role"] == "standby" and cl["store"] == "postgresql", cl)
check(sorted(c["name"] for c in cl["controllers"]) == ["c0", "c1", "c2"], cl)
check([c["name"] for c in cl["controllers"] if c["leader"]] == [L.args[-1]], cl)
check(cl["lease"]["valid"] and 0 < cl["lease"]["expires_in_ms"] <= TTL_S * 1000, cl["lease"])
m = L.request("GET", "/metrics", op)[2]
check("hvfleet_controller_leader 1" in m and "hvfleet_controller_lease_term" in m, m[-600:])
check("hvfleet_controller_leader 0" in standby.request("GET", "/metrics", op)[2], "standby metric")
# a standby sends writes (and what needs the fleet) to the leader, with the method kept
s, h, body = standby.request("POST", "/v1/plans", op, {"kind": "maintenance", "hosts": "zone:z1"})
check(s == 307 and h["location"] == "http://127.0.0.1:%d/v1/plans" % L.port, (s, h, body))
check(body["leader"] == "http://127.0.0.1:%d" % L.port, body)
s, h, _ = standby.request("GET", "/v1/hosts?state=active", op)
check(s == 307 and h["location"].endswith("/v1/hosts?state=active"), (s, h))
check(standby.request("GET", "/v1/runs", op)[0] == 200, "a standby serves the store's routes")
page = standby.request("GET", "/", op)[2]
check("controller %s standby; the leader is %s" % (standby.args[-1], L.args[-1]) in page,
      "the status page says who leads")

s, _, p = L.request("POST", "/v1/plans", op, {"kind": "maintenance", "hosts": "zone:z1"})
check(s == 201 and p["migrations"] >= 20, p)
hsh = p["plan_hash"]
wall = p["makespan_s"] / L.speed
check(L.request("POST", "/v1/plans/%s/approvals" % hsh, ap)[0] == 201, "approved")
s, _, run = L.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 201, run)
rid = run["id"]


def run_state(d):
    try:
        return d.request("GET", "/v1/runs/%d" % rid, op, timeout=5)[2]["state"]
    except (OSError, TypeError, KeyError):
        return None


# PostgreSQL restarts in a blink mid-run: the leader keeps its lease (same term) and the run goes
# on (a write that found its connection broken is sent again on a new one, or the run resumed)
term0 = L.request("GET", "/v1/cluster", op)[2]["lease"]["term"]
time.sleep(rng.uniform(0.2, max(0.3, wall / 8)))
pg.stop("fast")
pg.start()
wait_for(lambda: (lambda c: c if c[0] == 200 else None)(L.request("GET", "/v1/cluster", op)),
         "the store answers again", 10)
check(role(L) == "leader", "the leader still leads after a blink of PostgreSQL")
check(L.request("GET", "/v1/cluster", op)[2]["lease"]["term"] == term0, "the same term")

takeovers = []
for i in range(2):
    time.sleep(rng.uniform(0.3, max(0.4, wall / 5)))
    if run_state(L) != "running":
        break
    L.kill()
    t_kill = time.time()
    new = wait_for(leader, "a standby takes over", 20)
    takeovers.append(time.time() - t_kill)
    check(new is not L, "the killed controller does not lead")
    L.start()  # back, as a standby
    check(wait_for(lambda: role(L), "the restarted controller answers", 10) == "standby",
          "a restarted controller stands by while another leads")
    L = new
    wait_for(lambda: L.request("GET", "/v1/health", op)[2]["run"] == rid,
             "the new leader resumes run %d" % rid, 20)
check(takeovers, "the leader was killed while the run went on")
check(max(takeovers) < 15, "takeover within 15 s: %s" % ["%.1f s" % t for t in takeovers])

# the leader stalls (SIGSTOP) past its lease: another takes over; woken, it does not act
if run_state(L) == "running":
    stalled = L
    os.kill(L.proc.pid, signal.SIGSTOP)
    t_stall = time.time()
    try:
        new = wait_for(lambda: next((d for d in ds if d is not stalled and d.alive() and
                                     role(d) == "leader"), None), "a takeover from a stall", 20)
        takeovers.append(time.time() - t_stall)
    finally:
        os.kill(stalled.proc.pid, signal.SIGCONT)
    check(takeovers[-1] < 15, "takeover from a stall in %.1f s" % takeovers[-1])
    check(role(stalled) == "standby", "the woken ex-leader stands by")
    L = new

# PostgreSQL stops mid-run: the leader stops acting before its lease lapses
t_stop = None
if run_state(L) == "running":
    pg.stop("immediate")
    t_stop = time.time()
    t_down = None
    while time.time() - t_stop < 3 * TTL_S:
        if role(L) == "standby":
            t_down = time.time()
            break
        time.sleep(0.05)
    check(t_down is not None, "the leader stood down while PostgreSQL was away")
    # the lease row as the leader left it: read with every controller frozen, so none renews
    for d in ds:
        os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        pg.start()
        (holder, expires_ms), = pg.sql("SELECT holder, expires_ms FROM lease", "hvf_ha")
    finally:
        for d in ds:
            os.kill(d.proc.pid, signal.SIGCONT)
    check(holder.startswith(L.args[-1] + "/"), "the lease was %s's: %s" % (L.args[-1], holder))
    check(t_down * 1000 < int(expires_ms),
          "the leader stood down %.0f ms before its lease lapsed" %
          (int(expires_ms) - t_down * 1000))
    print("PostgreSQL away: the leader stood down %.1f s after, %.1f s before its lease lapsed" %
          (t_down - t_stop, int(expires_ms) / 1000 - t_down))
    L = wait_for(leader, "a controller leads again once PostgreSQL is back", 20)

fin = wait_for(lambda: (lambda st: st if st not in (None, "running") else None)(run_state(L)),
               "the run ends", timeout=120)
check(fin == "done", "the run ended %s" % fin)


def q(sql):
    return pg.sql(sql, "hvf_ha")


started = q("SELECT i.vm, i.detail, COUNT(*) FROM journal o JOIN journal i ON o.intent = i.seq "
            "WHERE o.run = %d AND o.kind = 'outcome' AND o.action = 'migrate' AND o.result = "
            "'started' GROUP BY i.vm, i.detail HAVING COUNT(*) > 1" % rid)
check(started == [], "migrations started twice: %s" % started)
done = int(q("SELECT COUNT(*) FROM journal WHERE run = %d AND kind = 'note' AND action = "
             "'migrated' AND result = 'completed'" % rid)[0][0])
check(done == p["migrations"], "%d of %d migrations done" % (done, p["migrations"]))
check(q("SELECT COUNT(*) FROM claims WHERE run = %d" % rid) == [["0"]], "no claim left")
# one controller a term, the terms in the journal's order: no two ever acted at once
rows = q("SELECT seq, controller, term FROM journal WHERE run = %d ORDER BY seq" % rid)
terms = [int(t) for _, _, t in rows]
check(all(t > 0 for t in terms), "every entry written under a lease")
check(terms == sorted(terms), "the terms never go back in the journal")
by_term = {}
for _, ctl, t in rows:
    by_term.setdefault(int(t), set()).add(ctl.split("/")[0])
check(all(len(v) == 1 for v in by_term.values()), "one controller a term: %s" % by_term)
check(len(by_term) >= 2, "the run was carried by several terms: %s" % by_term)
for d in ds:
    check(d.stop() == 0, "SIGTERM: exit 0")
print("ok: takeovers %s, %d migrations each once, terms %s" %
      (["%.1f s" % t for t in takeovers], done, sorted(by_term)))
