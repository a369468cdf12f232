#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleet-agent against the fake controller in one mode (argv[2]): normal, never-answers, flood,
down, flapping, or leaky-proxy (a proxy that leaks connections in front of a flapping
controller). In every mode, watched from outside (/proc/PID): one process, threads <= workers +
a fixed few, open files and RSS under their caps, at most one TCP connection to the controller,
no command run twice; then what the mode is about. Bounded in time; everything killed by PID.

    modes.py HVFLEET-AGENT MODE
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentlib import (Agent, Controller, Dir, Monitor, Proxy, check, check_bounds,  # noqa: E402
                      fail, proc_limit, wait_until)

TOKEN = "agent-test-token-0123"


def final_ids(st):
    return {i for i, rs in st["results"].items() if any(r != "busy" for r in rs)}


def ok_ids(st):
    return {i for i, rs in st["results"].items() if "ok" in rs}


def normal(binary, d):
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "12", "--hold-max", "1",
                                               "--reregister-at", "3"])
    ag = Agent(binary, d, ctl.port, TOKEN, args=["--heartbeat", "1s",
                                                 "--sim-delay", "migrate_out=300ms"])
    mon = Monitor(ag, ctl.port)
    wait_until(lambda: len(final_ids(ctl.state())) == 12, 20, "12 results")
    time.sleep(1.5)  # a few heartbeats on the held connection
    st = ctl.state()
    check(ok_ids(st) == set(st["sent"]), "every command answered ok")
    check(sorted(ag.executed()) == sorted(st["sent"]), "every command executed once")
    check(st["conns"] == 1, f"one connection, reused for all {st['syncs']} syncs")
    check(st["conflicts"] == 1 and st["sessions"] == 2 and st["facts_count"] == 2,
          "409 re-register: facts again, a new session, on the same connection")
    f = st["facts"]
    check(f and f["cpus"] >= 1 and f["mem_mib"] > 0 and f["kernel"] == os.uname().release,
          "facts: cpus, memory, kernel")
    with open("/proc/sys/kernel/random/boot_id") as fh:
        check(f["boot_id"] == fh.read().strip(), "facts: boot id")
    # the machine's NICs other than labs' (tests beside this one make and remove them)
    def lasting(names):
        return sorted(n for n in names if n != "lo" and not n.startswith("hvl"))

    nics = lasting(os.listdir("/sys/class/net"))
    check(lasting(n["name"] for n in f["nics"]) == nics and
          all(len(n["mac"]) == 17 for n in f["nics"]) and "lo" not in [n["name"] for n in f["nics"]],
          f"facts: NICs {nics} with MACs, not lo")
    check(st["event_types"].get("job_done", 0) == 3, "job_done of each migrate_out")
    check_bounds(ag, mon, st)


def never_answers(binary, d):
    ctl = Controller(d, "never-answers", TOKEN)
    ag = Agent(binary, d, ctl.port, TOKEN, args=["--heartbeat", "1s", "--backoff-max", "1s"])
    mon = Monitor(ag, ctl.port)
    # A sync lasts at most its wait (1 s) + 10 s: then the agent gives up and connects again.
    wait_until(lambda: ctl.state()["conns"] >= 2, 16, "a second connection after the timeout")
    check("failed" in ag.logtext(), "the timeout is logged")
    check_bounds(ag, mon)


def flood(binary, d):
    n = 10000
    ctl = Controller(d, "flood", TOKEN, args=["--commands", str(n), "--sleep-ms", "20"])
    ag = Agent(binary, d, ctl.port, TOKEN, args=["--heartbeat", "1s", "--queue", "256"])
    mon = Monitor(ag, ctl.port)

    def settled():
        st = ctl.state()
        hb = st["heartbeats"][-1] if st["heartbeats"] else {}
        return (len(final_ids(st)) + hb.get("dropped", {}).get("commands_busy", 0) == n
                and hb.get("queues", {}).get("results") == 0)
    wait_until(settled, 30, "every command run or refused busy")
    st = ctl.state()
    hb = st["heartbeats"][-1]
    ran = final_ids(st)
    busy = hb["dropped"]["commands_busy"]
    print(f"measured: {len(ran)} run, {busy} busy, {st['busy']} busy notices received, "
          f"{hb['dropped']['busy_notices']} counted only, {st['syncs']} syncs")
    check(0 < len(ran) <= 256, f"at most --queue commands admitted at once ({len(ran)})")
    check(len(ran) + busy == n, "every command was run or refused busy")
    check(st["busy"] + hb["dropped"]["busy_notices"] == busy,
          "each refusal was sent as busy or counted")
    check(sorted(ag.executed()) == sorted(ran), "the admitted ones ran, once each")
    check(st["max_dropped"].get("commands_busy") == busy, "busy refusals in the heartbeat")
    check_bounds(ag, mon, st)


def down(binary, d):
    # 8 commands, migrations of 3 s sampling progress every 10 ms; the controller goes away for
    # 4 s after the first result: 64 events cannot hold that, the oldest samples go.
    ctl = Controller(d, "down", TOKEN, args=["--commands", "8", "--down-after", "1",
                                             "--down-s", "4", "--sleep-ms", "100"])
    ag = Agent(binary, d, ctl.port, TOKEN,
               args=["--heartbeat", "1s", "--backoff-max", "1s", "--events", "64",
                     "--sim-delay", "migrate_out=3s", "--sim-progress", "10ms"])
    mon = Monitor(ag, ctl.port)
    wait_until(lambda: ctl.state()["came_back"], 20, "the controller down and back")
    wait_until(lambda: len(final_ids(ctl.state())) == 8, 20, "8 results after the outage")
    time.sleep(1.5)
    st = ctl.state()
    dropped = st["max_dropped"]
    print(f"measured: dropped {dropped}, events received {st['events']} "
          f"({st['distinct_events']} distinct, up to seq {st['max_event_seq']})")
    check(ok_ids(st) == set(st["sent"]), "every result delivered after the outage")
    check(sorted(ag.executed()) == sorted(st["sent"]), "every command executed once")
    check(dropped.get("progress", 0) > 0, "progress samples dropped and reported")
    check(dropped.get("events", 0) == 0, "no other event dropped while samples could go")
    check(st["event_types"].get("job_done", 0) >= 2, "every job_done delivered")
    # >=: a sample sent in a sync whose answer was lost may be dropped later, and so counted too
    check(st["distinct_events"] + dropped["progress"] >= st["max_event_seq"],
          "every event either delivered or counted as dropped")
    check(all(hb["queues"]["events"] <= 64 for hb in st["heartbeats"]), "events queue <= 64")
    check(st["sessions"] == 1, "the agent kept its session across the outage")
    check_bounds(ag, mon, st)


def flapping(binary, d):
    ctl = Controller(d, "flapping", TOKEN, args=["--commands", "12"])
    ag = Agent(binary, d, ctl.port, TOKEN, args=["--heartbeat", "1s", "--backoff-max", "1s"])
    mon = Monitor(ag, ctl.port)
    wait_until(lambda: len(final_ids(ctl.state())) == 12 and ctl.state()["conns"] >= 4, 25,
               "12 results over a flapping controller")
    st = ctl.state()
    check(ok_ids(st) == set(st["sent"]), "every result delivered")
    check(sorted(ag.executed()) == sorted(st["sent"]), "every command executed once")
    check_bounds(ag, mon, st)


def leaky_proxy(binary, d):
    ctl = Controller(d, "flapping", TOKEN, args=["--commands", "6"])
    px = Proxy(d, ctl.port)
    ag = Agent(binary, d, px.port, TOKEN, args=["--heartbeat", "1s", "--backoff-max", "1s"])
    mon = Monitor(ag, px.port)
    # The controller cuts every other connection; the proxy does not pass the close on, so the
    # agent waits out its sync timeout (wait 1 s + 10 s), closes its side and connects again.
    wait_until(lambda: len(final_ids(ctl.state())) == 6 and px.counts().get("accepted", 0) >= 2,
               30, "6 results through the leaking proxy")
    st = ctl.state()
    c = px.counts()
    print(f"measured: proxy {c}")
    check(c["held"] >= 4, f"the proxy holds leaked sockets ({c['held']})")
    check(ok_ids(st) == set(st["sent"]), "every result delivered")
    check_bounds(ag, mon, st)


def nonroot(binary, d):
    """Not root: RLIMIT_NPROC is set too, with room for the workers; the agent still works."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print("SKIP: needs root and setpriv to run the agent as nobody")
        sys.exit(77)
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "8"])
    os.chmod(d.path, 0o755)
    state = d / "nobody-state"
    os.makedirs(state)
    os.chown(state, 65534, 65534)
    ag = Agent(binary, d, ctl.port, TOKEN, args=["--heartbeat", "1s"], state_dir=state,
               prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    mon = Monitor(ag, ctl.port)
    wait_until(lambda: len(final_ids(ctl.state())) == 8, 20, "8 results from an agent as nobody")
    time.sleep(1)
    st = ctl.state()
    nproc = proc_limit(ag.pid, "Max processes")
    limits = st["heartbeats"][-1]["limits"]
    print(f"measured: RLIMIT_NPROC {nproc}, reported {limits}")
    check(nproc is not None and limits.get("nproc") == nproc,
          "RLIMIT_NPROC set and reported")
    check(nproc >= ag.workers + 1, "with room for the workers")
    check(ok_ids(st) == set(st["sent"]), "every command answered ok")
    check_bounds(ag, mon, st)


def main():
    if len(sys.argv) != 3:
        fail("usage: modes.py HVFLEET-AGENT MODE")
    binary, mode = sys.argv[1], sys.argv[2]
    fn = {"normal": normal, "never-answers": never_answers, "flood": flood, "down": down,
          "flapping": flapping, "leaky-proxy": leaky_proxy, "nonroot": nonroot}.get(mode)
    if not fn:
        fail(f"unknown mode '{mode}'")
    t0 = time.time()
    fn(binary, Dir(mode))
    print(f"measured: {mode} took {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
