#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# hvfleet run killed with SIGKILL at 50 random instants and resumed each time: after each
# resume and at the end, no migration started twice, no claim leaked, no VM lost or on two
# hosts, every host maintained; every run checks its ledger after every event (--check-ledger
# turns a violation into exit 2).
#
#   run-kill-resume.py HVFLEET SRCROOT
import glob
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HV, SRC = sys.argv[1], sys.argv[2]
KILLS = 50
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def hv(args, env, **kw):
    return subprocess.run([HV] + args, env=env, capture_output=True, text=True, timeout=120, **kw)


def load_world(path):
    """The sim driver's world: its snapshot, then the log of changes beside it."""
    with open(path) as f:
        w = json.load(f)
    if os.path.exists(path + ".log"):
        with open(path + ".log") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    break  # a line torn by the kill
                if d.get("log_seq", 0) <= w.get("seq", 0):
                    continue
                for k in ("now_us", "deviations_applied", "next_job", "jobs"):
                    if k in d:
                        w[k] = d[k]
                for k in ("hosts", "vms"):
                    for item in d.get(k, []):
                        w[k][item["i"]] = item["r"]
    return w


def check_world(state, final):
    """Invariants read from the sim world (the fleet as the driver keeps it) and the store."""
    worlds = glob.glob(os.path.join(state, "sim-world-*.json"))
    if not worlds:
        return  # killed before the driver first wrote its world: nothing happened yet
    w = load_world(worlds[0])
    names = [v["name"] for v in w["vms"]]
    if len(names) != len(set(names)):
        fail("a VM is listed twice in the world")
    hosts = {h["name"] for h in w["hosts"]}
    for v in w["vms"]:
        if v["host"] not in hosts:
            fail(f"VM {v['name']} is on no known host ({v['host']!r})")
    seen = {}
    for j in w["jobs"]:
        key = (j["vm"], j["source"], j["target"])
        if j["state"] in ("failed", "cancelled"):
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            fail(f"migration of VM #{j['vm']} from #{j['source']} to #{j['target']} started twice")
    running = [j for j in w["jobs"] if j["state"] in ("setup", "active", "postcopy")]
    db = sqlite3.connect(os.path.join(state, "hvfleet.db"))
    claims = db.execute("SELECT vm FROM claims").fetchall()
    runs = db.execute("SELECT state FROM runs").fetchall()
    db.close()
    if final:
        if claims:
            fail(f"{len(claims)} claims left after the run: {claims[:3]}")
        if running:
            fail(f"{len(running)} jobs still running after the run")
        if [r[0] for r in runs] != ["done"]:
            fail(f"runs: {runs}, expected one, done")
        bad = [h["name"] for h in w["hosts"] if h["state"] != "active"]
        if bad:
            fail(f"hosts not back in service: {bad}")
    elif len(claims) > len(running) + 1:
        # at most one claim may lead its job by a kill between the claim and the driver's call
        fail(f"{len(claims)} claims for {len(running)} running jobs")


def one_round(rng, tmp, kills_left, n):
    work = os.path.join(tmp, f"round{n}")
    os.makedirs(work)
    state = os.path.join(work, "state")
    env = dict(os.environ, HVFLEET_STATE_DIR=state, LC_ALL="C", USER="planner")
    inv = os.path.join(work, "fleet.yaml")
    plan = os.path.join(work, "plan.json")
    r = hv(["inventory", "generate", "--hosts", "20", "--vms-per-host", "8", "--seed", str(n),
            "--zones", "2", "--racks-per-zone", "2", "-o", inv], env)
    if r.returncode != 0:
        fail("generate: " + r.stderr)
        return kills_left
    r = hv(["plan", "maintenance", "--inventory", inv, "--hosts", "all", "--no-compare",
            "-o", plan], env)
    if r.returncode != 0:
        fail("plan: " + r.stderr)
        return kills_left
    hv(["approve", plan, "--by", "approver"], env)
    # scaled time: a run lasts about as long on a fast machine as on a slow one, so the kills land
    args = ["run", plan, "--inventory", inv, "--check-ledger", "--json", "--speed", "40000"]
    kills = 0
    while True:
        p = subprocess.Popen([HV] + args, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            if kills_left > 0:
                time.sleep(rng.uniform(0.0, 0.2))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
                    kills_left -= 1
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if p.returncode == -signal.SIGKILL:
            check_world(state, False)
            args = ["run", plan, "--inventory", inv, "--resume", "--check-ledger", "--json",
                    "--speed", "40000"]
            continue
        if p.returncode != 0:
            tail = "\n".join([l for l in out.strip().splitlines()
                              if "failed" in l or "replan" in l][-6:])
            fail(f"round {n}: run exited {p.returncode} after {kills} kills: {err.strip()}\n{tail}")
            return kills_left
        break
    check_world(state, True)
    print(f"round {n}: {kills} kills, then done")
    return kills_left


def change_round(rng, tmp, kills):
    """A rolling change killed `kills` times: at the end every unit changed exactly once."""
    work = os.path.join(tmp, "change")
    os.makedirs(work)
    state = os.path.join(work, "state")
    env = dict(os.environ, HVFLEET_STATE_DIR=state, LC_ALL="C", USER="planner")
    inv = os.path.join(SRC, "scenarios", "2019-fleet.yaml")
    plan = os.path.join(work, "change.json")
    r = hv(["plan", "change", "--inventory", inv, "--change",
            os.path.join(SRC, "scenarios", "2019-firewall-limit.change.yaml"), "-o", plan], env)
    if r.returncode != 0:
        fail("plan change: " + r.stderr)
        return
    hv(["approve", plan, "--by", "approver"], env)
    args = ["run", plan, "--inventory", inv, "--speed", "4000", "--json"]
    landed = 0
    while True:
        p = subprocess.Popen([HV] + args, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        if landed < kills:
            time.sleep(rng.uniform(0.0, 0.3))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                landed += 1
        out, err = p.communicate(timeout=120)
        if p.returncode == -signal.SIGKILL:
            args = ["run", plan, "--inventory", inv, "--speed", "4000", "--json", "--resume"]
            continue
        if p.returncode != 0:
            fail(f"change run exited {p.returncode} after {landed} kills: {err.strip()}")
            return
        break
    w = load_world(glob.glob(os.path.join(state, "sim-world-*.json"))[0])
    bad = [(h["name"], h["change"], h["applies"]) for h in w["hosts"]
           if h["name"].startswith("st") and (h["change"] != "storage-firewall-limit" or
                                              h["applies"] != 1)]
    if bad:
        fail(f"units not changed exactly once after {landed} kills: {bad[:4]}")
    print(f"change: {landed} kills, then done")


def main():
    rng = random.Random(20261207)
    tmp = tempfile.mkdtemp(prefix="hvf-kill-")
    try:
        kills_left, n = KILLS, 1
        while kills_left > 0 and n <= 20 and not failures:
            kills_left = one_round(rng, tmp, kills_left, n)
            n += 1
        if kills_left > 0 and not failures:
            fail(f"only {KILLS - kills_left} kills landed in a run")
        if not failures:
            change_round(rng, tmp, 10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
