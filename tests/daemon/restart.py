#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd killed mid-run and started again: SIGKILL at several instants of a running maintenance
(and once SIGTERM, the graceful stop). After each start the run goes on from its journal; what was
acknowledged before the kill (an approval, the freeze) is still there; the claims in the store are
those of the migrations in flight; no migration is started twice; the run ends done. Usage:
restart.py HVFLEETD HVFLEET"""
import random
import sqlite3
import sys
import time

from hvfd import Daemon, check, wait_for

rng = random.Random(11)
d = Daemon(sys.argv[1], sys.argv[2], speed=1500, name="hvfd-restart")
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
d.start()

s, _, p = d.request("POST", "/v1/plans", op, {"kind": "maintenance", "hosts": "zone:z1"})
check(s == 201 and p["migrations"] >= 20, p)
hsh = p["plan_hash"]
wall = p["makespan_s"] / d.speed
check(3 < wall < 60, "the run lasts %.1f s of wall time at --speed %d" % (wall, d.speed))
check(d.request("POST", "/v1/plans/%s/approvals" % hsh, ap)[0] == 201, "approved")
s, _, run = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 201, run)
rid = run["id"]
db = d.state_dir + "/hvfleet.db"


def store(sql, *args):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def in_flight():
    """VMs whose latest migrate intent started a job that has not ended (no `migrated` note
    after it, no outcome but `started`)."""
    intents = store("SELECT seq, vm FROM journal WHERE run = ? AND kind = 'intent' "
                    "AND action = 'migrate'", rid)
    outcome = dict(store("SELECT intent, result FROM journal WHERE run = ? AND kind = 'outcome'",
                         rid))
    ended = store("SELECT seq, vm FROM journal WHERE run = ? AND kind = 'note' "
                  "AND action = 'migrated'", rid)
    flying = set()
    for seq, vm in intents:
        if outcome.get(seq, "started") != "started":
            continue
        if any(vm == v and e > seq for e, v in ended):
            continue
        flying.add(vm)
    return flying


kills = 0
for i in range(5):
    time.sleep(rng.uniform(0.2, wall / 8))
    s, _, r = d.request("GET", "/v1/runs/%d" % rid, op)
    if r["state"] != "running":
        break
    # acknowledged just before the kill, must survive it: a plan made (not the freeze, which
    # would pause the run)
    s, _, mk = d.request("POST", "/v1/plans", op,
                         {"kind": "drain", "hosts": ["kvm000%d" % (5 + i % 4)]})
    check(s == 201, mk)
    last_event = d.request("GET", "/v1/events?since=0&limit=1000", op)[2]["last"]
    sig = "TERM" if i == 2 else "KILL"
    rc = d.stop() if sig == "TERM" else d.kill()
    check(rc == (0 if sig == "TERM" else -9), "hvfleetd stopped by SIG%s: %s" % (sig, rc))
    kills += 1
    # the claims in the store are the migrations in flight, nothing more
    claims = {r[0] for r in store("SELECT vm FROM claims WHERE run = ?", rid)}
    check(claims == in_flight(),
          "claims %s == migrations in flight %s" % (sorted(claims), sorted(in_flight())))
    state = store("SELECT state FROM runs WHERE id = ?", rid)[0][0]
    check(state == "running", "the run is left running in the store, not %s" % state)
    d.start()
    s, _, ev = d.request("GET", "/v1/events?since=0&limit=1000", op)
    check(ev["last"] >= last_event, "no acknowledged event lost")
    check(any(e["type"] == "plan" and e["data"]["plan_hash"] == mk["plan_hash"]
              for e in ev["events"]), "the plan made before the kill is in the feed")
    check(d.request("GET", "/v1/plans/" + mk["plan_hash"], op)[2]["author"] == "alice",
          "the plan made before the kill is in the store")
    wait_for(lambda: d.request("GET", "/v1/health")[2]["run"] == rid, "the run resumes", 30)

check(kills >= 3, "killed %d times while the run went on" % kills)
fin = wait_for(lambda: (lambda r: r if r["state"] != "running" else None)(
    d.request("GET", "/v1/runs/%d" % rid, op)[2]), "the run ends", timeout=180)
check(fin["state"] == "done", fin)
# no migration of the plan started twice in the driver: one job per plan migration ("ref N"; a
# VM may move twice in a plan). An intent a kill cut before its job started has no outcome and
# is written again on resume: that is one start, not two.
started = store("SELECT i.vm, i.detail, COUNT(*) FROM journal o JOIN journal i ON o.intent = "
                "i.seq WHERE o.run = ? AND o.kind = 'outcome' AND o.action = 'migrate' AND "
                "o.result = 'started' GROUP BY i.vm, i.detail HAVING COUNT(*) > 1", rid)
check(started == [], "migrations started twice: %s" % started)
done = store("SELECT COUNT(*) FROM journal WHERE run = ? AND kind = 'note' "
             "AND action = 'migrated' AND result = 'completed'", rid)[0][0]
check(done == p["migrations"], "%d of %d migrations done" % (done, p["migrations"]))
check(store("SELECT COUNT(*) FROM claims WHERE run = ?", rid)[0][0] == 0, "no claim left")
resumes = [e for e in d.request("GET", "/v1/events?since=0&limit=1000", op)[2]["events"]
           if e["type"] == "journal" and e["data"]["action"] == "run_start"]
check(len(resumes) >= 1, "run_start journaled")
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok: %d kills, %d migrations, each once" % (kills, done))
