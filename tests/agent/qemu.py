#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two real hvfleet-agents (qemu executor; two state directories, disjoint migration ports, one
machine, 127.0.0.1), each with its own fake controller. Agent A starts the lab guest (TCG,
64 MiB); B takes migrate_in, A migrate_out to B's listen address with a bandwidth cap. Checked:
results and events (job progress, job_done completed), the guest's memory counter survived the
move, exactly one QEMU of the VM runs afterwards (B's), and a restarted agent B adopts the VM
(reported in its facts) without touching it. Then back to A, with agent B killed mid-migration:
the restarted agent takes the job up and finishes it. Every QEMU and agent is killed by PID on every path.
Skipped (77) without QEMU.

    qemu.py HVFLEET-AGENT GUEST-ELF
"""
import atexit
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentlib import Agent, Controller, Dir, check, fail, kill, live_qemus, stop, wait_until  # noqa: E402

TOKEN = "agent-qemu-token"
VM = "vm1"
_qemu_pids = set()
_state_dirs = []


def pidfile_pid(state_dir):
    try:
        with open(os.path.join(state_dir, "vms", VM, "pidfile")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def qemus_of_vm():
    """{pid: state_dir} of the live qemu-system processes whose command line names a state
    directory of this test's VM."""
    out = {}
    for pid, cmd in live_qemus().items():
        for sd in _state_dirs:
            if os.path.join(sd, "vms", VM) + "/" in cmd:
                out[pid] = sd
    return out


def kill_qemus():
    """By PID: those seen, those of the pidfiles, those whose command line names our dirs."""
    pids = set(_qemu_pids) | set(qemus_of_vm())
    for sd in _state_dirs:
        p = pidfile_pid(sd)
        if p:
            pids.add(p)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def guest(state_dir):
    """(lines, first written, last written, max stale) of the guest's rate lines on COM1."""
    lines, first, last, stale = 0, 0, 0, 0
    try:
        with open(os.path.join(state_dir, "vms", VM, "serial.log"), errors="replace") as f:
            for line in f:
                if not line.startswith("hvf-guest: rate") or " written=" not in line:
                    continue
                w = int(line.split(" written=")[1].split()[0])
                if " stale=" in line:
                    stale = max(stale, int(line.split(" stale=")[1].split()[0]))
                if lines == 0:
                    first = w
                last = w
                lines += 1
    except OSError:
        pass
    return lines, first, last, stale


def events(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def push(cmd_dir, name, cmds):
    tmp = os.path.join(cmd_dir, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(cmds, f)
    os.replace(tmp, os.path.join(cmd_dir, name + ".json"))


def result(ctl, cid, timeout, what):
    wait_until(lambda: cid in ctl.state()["results"], timeout, what)
    st = ctl.state()
    return st["results"][cid][-1], st["data"].get(cid, {})


def main():
    if len(sys.argv) != 3:
        fail("usage: qemu.py HVFLEET-AGENT GUEST-ELF")
    binary, elf = sys.argv[1], sys.argv[2]
    if not shutil.which("qemu-system-x86_64"):
        print("skip: qemu-system-x86_64 is not installed")
        sys.exit(77)
    d = Dir("qemu")
    sa, sb = d / "state-a", d / "state-b"
    _state_dirs.extend([sa, sb])
    atexit.register(kill_qemus)  # runs before the directories go (atexit is LIFO)
    base = 40000 + (os.getpid() % 1000) * 8
    ports_a, ports_b = f"{base}-{base + 3}", f"{base + 4}-{base + 7}"
    cmds_a, cmds_b = d / "cmds-a", d / "cmds-b"
    os.mkdir(cmds_a)
    os.mkdir(cmds_b)
    ev_a, ev_b = d / "events-a.jsonl", d / "events-b.jsonl"
    common = ["--heartbeat", "1s", "--executor", "qemu", "--migration-address", "127.0.0.1"]
    ca = Controller(d, "normal", TOKEN, name="ctl-a",
                    args=["--host", "a", "--commands", "0", "--commands-dir", cmds_a,
                          "--events-log", ev_a])
    cb = Controller(d, "normal", TOKEN, name="ctl-b",
                    args=["--host", "b", "--commands", "0", "--commands-dir", cmds_b,
                          "--events-log", ev_b])
    aa = Agent(binary, d, ca.port, TOKEN, host="a", state_dir=sa, name="agent-a",
               args=common + ["--migration-ports", ports_a])
    ab = Agent(binary, d, cb.port, TOKEN, host="b", state_dir=sb, name="agent-b",
               args=common + ["--migration-ports", ports_b])
    wait_until(lambda: ca.state()["facts"] and cb.state()["facts"], 15, "both agents registered")
    check(ca.state()["heartbeats"][-1].get("executor") == "qemu", "agent A runs the qemu executor")

    spec = {"vm": VM, "mem_mib": 64, "vcpus": 1, "image": elf, "accel": "tcg",
            "append": "rate=4 report=200"}
    push(cmds_a, "1", [{"id": "a-1", "seq": 1, "type": "vm_start", "args": spec}])
    st, data = result(ca, "a-1", 30, "vm_start answered")
    check(st == "ok" and data.get("pid", 0) > 0, f"vm_start ok with a pid ({st} {data})")
    pid_a = data["pid"]
    _qemu_pids.add(pid_a)
    check(pidfile_pid(sa) == pid_a, "the pid is the one of A's pidfile")
    wait_until(lambda: guest(sa)[0] >= 2, 30, "the guest reports on A")

    push(cmds_b, "1", [{"id": "b-1", "seq": 1, "type": "migrate_in",
                        "args": dict(spec, postcopy=False)}])
    st, data = result(cb, "b-1", 30, "migrate_in answered")
    listen = data.get("listen", "")
    check(st == "ok" and listen.startswith("127.0.0.1:"), f"migrate_in ok: listen {listen}")
    port = int(listen.split(":")[1])
    check(base + 4 <= port <= base + 7, f"the port {port} is from B's range {ports_b}")
    pid_b = data["pid"]
    _qemu_pids.add(pid_b)

    # bytes/s: a 64 MiB guest takes over a second (polled every second). As in qemu-vm-test's
    # migrate case: at 24 MiB/s (a second pass) the guest's counter comes back older on QEMU
    # 7.2 TCG, in that test too (a known problem of the driver's level, not the agent's).
    bw = 48 << 20
    push(cmds_a, "2", [{"id": "a-2", "seq": 2, "type": "migrate_out",
                        "args": {"vm": VM, "target": listen, "max_bytes_per_s": bw,
                                 "downtime_limit_ms": 300, "auto_converge": True,
                                 "postcopy": False}}])
    t0 = time.time()
    st, data = result(ca, "a-2", 10, "migrate_out answered")
    answered_s = time.time() - t0
    job = data.get("job")
    check(st == "ok" and isinstance(job, int), f"migrate_out ok with a job ({data})")
    wait_until(lambda: any(e["type"] == "job_done" for e in events(ev_a)), 45, "job_done")
    took = time.time() - t0
    evs = [e for e in events(ev_a) if e.get("job") == job]
    prog = [e for e in evs if e["type"] == "job"]
    done = [e for e in evs if e["type"] == "job_done"]
    print(f"measured: migrate_out answered in {answered_s:.1f} s, job_done after {took:.1f} s, "
          f"{len(prog)} progress samples, done {done[0] if done else None}")
    # The answer's job is made when the migration starts; every sample comes after it. (The
    # time the controller sees the answer depends on its hold, so it is only printed.)
    check(prog and done and prog[0]["state"] in ("setup", "active")
          and prog[0]["t_us"] < done[0]["t_us"],
          "the job was answered while the migration ran (first sample not final)")
    check(any(e["state"] == "active" for e in prog),
          f"job progress samples, one at least active ({len(prog)})")
    check(any(e.get("transferred", 0) > 0 and e.get("total", 0) > 0 for e in prog),
          "progress carries transferred and total")
    check(len(done) == 1 and done[0]["state"] == "completed", "one job_done: completed")
    check(done[0].get("transferred", 0) > 48 << 20, "the guest's RAM was transferred")
    check(done[0].get("total_time_ms", 0) >= 1000 * (60 << 20) // (bw + (bw >> 2)),
          f"the bandwidth cap held ({done[0].get('total_time_ms')} ms)")

    gs = guest(sa)
    wait_until(lambda: guest(sb)[0] >= 2, 20, "the guest reports on B")
    gd = guest(sb)
    print(f"measured: guest counter on A last {gs[2]}, on B first {gd[1]}, stale {gd[3]}")
    check(gs[2] > 0 and gd[1] >= gs[2], "the guest's memory counter went on from A's on B")
    check(gd[3] == 0, "no write of the guest was lost (stale 0)")
    wait_until(lambda: len(qemus_of_vm()) == 1, 10, "the source QEMU quits")
    q = qemus_of_vm()
    check(list(q.values()) == [sb] and list(q) == [pid_b],
          f"exactly one QEMU of the VM runs, B's ({q})")
    check(pidfile_pid(sa) is None, "A's pidfile is gone")

    # Agent B restarted: the VM is adopted, reported, untouched.
    rc = stop(ab.proc)
    check(rc == 0, f"agent B stops on SIGTERM ({rc})")
    check(pid_b in qemus_of_vm(), "the VM outlives its agent")
    lines = guest(sb)[0]
    cmds_b2, ev_b2 = d / "cmds-b2", d / "events-b2.jsonl"
    os.mkdir(cmds_b2)
    cb2 = Controller(d, "normal", TOKEN, name="ctl-b2",
                     args=["--host", "b", "--commands", "0", "--commands-dir", cmds_b2,
                           "--events-log", ev_b2])
    ab2 = Agent(binary, d, cb2.port, TOKEN, host="b", state_dir=sb, name="agent-b2",
                args=common + ["--migration-ports", ports_b])
    wait_until(lambda: cb2.state()["facts"], 15, "agent B registered again")
    facts = cb2.state()["facts"]
    vms = {v["name"]: v for v in facts.get("vms", [])}
    check(VM in vms and vms[VM]["pid"] == pid_b and vms[VM]["state"] == "running"
          and vms[VM].get("adopted") and vms[VM].get("mem_mib") == 64,
          f"the restarted agent reports the adopted VM ({vms})")
    check(all(u["pid"] != pid_b for u in facts.get("unknown_qemu", [])),
          "the VM is not reported unknown")
    wait_until(lambda: guest(sb)[0] >= lines + 2, 20, "the guest goes on running")
    check(qemus_of_vm() == {pid_b: sb}, "the same QEMU runs, untouched")
    hb = cb2.state()["heartbeats"][-1]
    check(hb.get("vms") == 1, f"the heartbeat counts the VM ({hb.get('vms')})")
    check(any(e["type"] == "vm_state" and e.get("adopted") for e in events(ev_b2)),
          "the restarted agent posts vm_state for the adopted VM")

    # Back to A, slowly; agent B is killed (SIGKILL) mid-migration and started again: the new
    # agent takes the migration up under its job id, posts job_done, and the source quits.
    push(cmds_a, "3", [{"id": "a-3", "seq": 3, "type": "migrate_in", "args": spec}])
    st, data = result(ca, "a-3", 30, "migrate_in on A answered")
    check(st == "ok", f"migrate_in on A ok ({data})")
    pid_a2 = data["pid"]
    _qemu_pids.add(pid_a2)
    push(cmds_b2, "1", [{"id": "b2-1", "seq": 1, "type": "migrate_out",
                         "args": {"vm": VM, "target": data["listen"], "max_bytes_per_s": 8 << 20,
                                  "downtime_limit_ms": 300}}])
    st, data = result(cb2, "b2-1", 10, "migrate_out on B answered")
    job2 = data.get("job")
    check(st == "ok" and isinstance(job2, int) and job2 != job,
          f"migrate_out on B ok with a new job id ({job2})")
    wait_until(lambda: any(e["type"] == "job" and e["state"] == "active"
                           for e in events(ev_b2)), 20, "the migration back is active")
    kill(ab2.proc)
    check(set(qemus_of_vm()) == {pid_a2, pid_b}, "both QEMUs outlive the killed agent")
    ev_b3 = d / "events-b3.jsonl"
    cb3 = Controller(d, "normal", TOKEN, name="ctl-b3",
                     args=["--host", "b", "--commands", "0", "--events-log", ev_b3])
    ab3 = Agent(binary, d, cb3.port, TOKEN, host="b", state_dir=sb, name="agent-b3",
                args=common + ["--migration-ports", ports_b])
    wait_until(lambda: any(e["type"] == "job_done" for e in events(ev_b3)), 45,
               "job_done from the restarted agent")
    done = [e for e in events(ev_b3) if e["type"] == "job_done"]
    check(len(done) == 1 and done[0]["job"] == job2 and done[0]["state"] == "completed",
          f"the restarted agent finished the job under its id ({done})")
    wait_until(lambda: len(qemus_of_vm()) == 1, 10, "the source QEMU on B quits")
    check(qemus_of_vm() == {pid_a2: sa}, "exactly one QEMU of the VM runs, A's")
    wait_until(lambda: guest(sa)[0] >= 2, 20, "the guest reports on A")
    check(stop(ab3.proc) == 0 and stop(aa.proc) == 0, "both agents stop on SIGTERM")
    check(qemus_of_vm() == {pid_a2: sa}, "stopping the agents left the VM running")


if __name__ == "__main__":
    main()
