#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleet-agent's self-fence (--fence-after, docs/agent.md "Fencing") against the fake
controller, one case per run (argv[2]):

  silent  the controller is killed: within fence-after + 1 s the agent kills its VMs (sim
          record: vm_destroy lines), writes fenced.json, fences once; a controller back on the
          same port gets the report, the vm_start of that answer is refused (error, "fenced"),
          the file goes after the 200, and the next vm_start runs
  stuck   the controller answers 200 and trickles the body forever: the sync loop stays in its
          read, the watchdog thread fences all the same
  slow    every answer takes 0.9 s of a 1 s heartbeat: no fence; the watchdog device (a
          regular file) gets a byte a second, and the magic 'V' on SIGTERM
  late    VMs whose start (sim: 6 s, 10 s) spans the fence: the one that ends while the fence
          stands is fenced again (named in the record), the one that ends after the
          acknowledgement is destroyed alone; both answered error
  qemu    the qemu executor with the lab guest (TCG): the controller is killed, the QEMU is
          gone within fence-after + 1 s, its pidfile too; skipped (77) without QEMU

    fence.py HVFLEET-AGENT CASE [GUEST-ELF]
"""
import atexit
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentlib import (Agent, Controller, Dir, Monitor, check, check_bounds, fail, kill, live_qemus,  # noqa: E402
                      stop, tcp_conns, wait_until)

TOKEN = "agent-fence-token"
FENCE_S = 3
COMMON = ["--heartbeat", "1s", "--fence-after", f"{FENCE_S}s", "--backoff-max", "1s"]
_qemu_pids = set()


def push(cmd_dir, name, cmds):
    tmp = os.path.join(cmd_dir, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(cmds, f)
    os.replace(tmp, os.path.join(cmd_dir, name + ".json"))


def vm_start(cid, seq, vm, extra=None):
    return {"id": cid, "seq": seq, "type": "vm_start", "args": dict({"vm": vm}, **(extra or {}))}


def result(ctl, cid, timeout=15):
    wait_until(lambda: any(s != "busy" for s in ctl.state()["results"].get(cid, [])), timeout,
               f"the result of {cid}")
    st = ctl.state()
    return st["results"][cid][-1], st["data"].get(cid, {})


def record(ag):
    path = os.path.join(ag.state_dir, "sim", "executed.log")
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def destroyed(ag):
    return sorted(i.split(":", 1)[1] for i, t in record(ag)
                  if t == "vm_destroy" and i.startswith("fence-"))


def fence_file(ag):
    return os.path.join(ag.state_dir, "fenced.json")


def wait_fenced(ag, since, timeout):
    """Waits for fenced.json; returns (its content, seconds since @since)."""
    path = fence_file(ag)
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            took = time.time() - since
            with open(path) as f:
                return json.load(f), took
        if ag.proc.poll() is not None:
            fail(f"the agent exited ({ag.proc.returncode})")
        time.sleep(0.02)
    fail(f"no fenced.json within {timeout} s: " + ag.logtext()[-800:])


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def silent(binary, d):
    cmds = d / "cmds"
    os.mkdir(cmds)
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "0", "--commands-dir", cmds,
                                               "--hold-max", "1"])
    ag = Agent(binary, d, ctl.port, TOKEN, args=COMMON)
    mon = Monitor(ag, ctl.port)
    push(cmds, "1", [vm_start("h1-1", 1, "vm1"), vm_start("h1-2", 2, "vm2")])
    check(result(ctl, "h1-1")[0] == "ok" and result(ctl, "h1-2")[0] == "ok", "two VMs started")
    time.sleep(FENCE_S + 0.5)
    check(not os.path.exists(fence_file(ag)) and not destroyed(ag),
          f"no fence while the controller answers ({FENCE_S + 0.5} s)")

    kill(ctl.proc)
    t_kill = time.time()
    rec, took = wait_fenced(ag, t_kill, FENCE_S + 3)
    # the last 200 came at most a held long-poll (1 s) before the kill
    print(f"measured: fenced {took:.2f} s after the controller was killed (--fence-after {FENCE_S}s)")
    check(FENCE_S - 1.3 <= took <= FENCE_S + 1, f"fenced within fence-after + 1 s ({took:.2f} s)")
    check(destroyed(ag) == ["vm1", "vm2"], f"both VMs destroyed (sim record: {destroyed(ag)})")
    check(sorted(rec["vms"]) == ["vm1", "vm2"] and rec["boot_id"] == boot_id()
          and rec["fence_after_ms"] == FENCE_S * 1000 and rec["complete"] is True
          and t_kill - 2 <= rec["at_unix"] <= time.time() + 1,
          f"fenced.json: at_unix, boot_id, vms, fence_after_ms, complete ({rec})")
    check("fenced: no successful sync for" in ag.logtext(), "the fence is logged")
    time.sleep(2)
    check(len(destroyed(ag)) == 2, "fenced once: nothing more while the fence is not acknowledged")
    # A restart keeps the fence: the new agent reports it and fences again (nothing runs)
    check_bounds(ag, mon)
    ag = Agent(binary, d, ctl.port, TOKEN, args=COMMON, name="agent2")
    mon = Monitor(ag, ctl.port)
    wait_until(lambda: "an earlier process fenced" in ag.logtext(), 10, "the restarted agent "
               "fences again")
    with open(fence_file(ag)) as f:
        again = json.load(f)
    check(again["vms"] == rec["vms"] and again["at_unix"] == rec["at_unix"],
          f"the record survives the restart ({again})")

    # Back on the same port with a vm_start waiting: the answer that acknowledges the fence
    # still carries it, and it is refused; the next one runs.
    cmds2 = d / "cmds2"
    os.mkdir(cmds2)
    push(cmds2, "1", [vm_start("h1-3", 3, "vm3")])
    ctl2 = Controller(d, "normal", TOKEN, name="ctl2",
                      args=["--commands", "0", "--commands-dir", cmds2, "--hold-max", "1",
                            "--port", str(ctl.port)])
    status, data = result(ctl2, "h1-3")
    st = ctl2.state()
    check(st["fenced"] >= 1 and sorted(st["fenced_last"]["vms"]) == ["vm1", "vm2"]
          and st["fenced_last"]["at_unix"] == rec["at_unix"],
          f"the sync reports the fence ({st['fenced_last']})")
    check(status == "error" and "fenced itself" in data.get("detail", ""),
          f"a vm_start before the acknowledgement is refused: {status} {data}")
    wait_until(lambda: not os.path.exists(fence_file(ag)), 5, "fenced.json removed after the 200")
    check(["h1-3", "vm_start"] not in record(ag), "the refused vm_start did not run")
    push(cmds2, "2", [vm_start("h1-4", 4, "vm4")])
    check(result(ctl2, "h1-4")[0] == "ok", "after the acknowledgement a vm_start runs")
    check(["h1-4", "vm_start"] in record(ag), "and is in the sim record")
    n = ctl2.state()["fenced"]
    time.sleep(1.5)
    check(ctl2.state()["fenced"] == n, "the report is not sent again")
    check("hvfleetd acknowledged the fence" in ag.logtext(), "the acknowledgement is logged")
    check_bounds(ag, mon)


def stuck(binary, d):
    cmds = d / "cmds"
    os.mkdir(cmds)
    ctl = Controller(d, "trickle", TOKEN, args=["--commands", "0", "--commands-dir", cmds,
                                                "--hold-max", "1", "--trickle-after", "1",
                                                "--trickle-s", "12"])
    ag = Agent(binary, d, ctl.port, TOKEN, args=COMMON)
    mon = Monitor(ag, ctl.port)
    push(cmds, "1", [vm_start("h1-1", 1, "vm1")])
    check(result(ctl, "h1-1")[0] == "ok", "vm1 started")
    wait_until(lambda: ctl.state()["trickling"] >= 1, 10, "a sync answered by a trickle")
    t0 = time.time()
    rec, took = wait_fenced(ag, t0, FENCE_S + 2)
    st = ctl.state()
    conns = tcp_conns(ag.pid, ctl.port)
    print(f"measured: fenced {took:.2f} s into a trickled answer")
    check(took <= FENCE_S + 1, f"fenced within fence-after + 1 s of the stuck read ({took:.2f} s)")
    check(st["trickling"] == 1 and conns == 1,
          f"the sync loop was still in that read (trickles {st['trickling']}, connections {conns})")
    check(rec["vms"] == ["vm1"] and destroyed(ag) == ["vm1"], f"vm1 destroyed ({rec})")
    check_bounds(ag, mon)


def slow(binary, d):
    cmds = d / "cmds"
    os.mkdir(cmds)
    wd = d / "watchdog"
    open(wd, "w").close()
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "0", "--commands-dir", cmds,
                                               "--hold-max", "1", "--slow-s", "0.9"])
    fence_s = 4  # 2 x heartbeat + 2 s: the margin docs/agent.md asks for
    ag = Agent(binary, d, ctl.port, TOKEN,
               args=["--heartbeat", "1s", "--fence-after", f"{fence_s}s", "--backoff-max", "1s",
                     "--watchdog-device", wd])
    mon = Monitor(ag, ctl.port)
    push(cmds, "1", [vm_start("h1-1", 1, "vm1")])
    check(result(ctl, "h1-1")[0] == "ok", "vm1 started")
    size0 = os.path.getsize(wd)
    time.sleep(2 * fence_s)
    st = ctl.state()
    size1 = os.path.getsize(wd)
    check(not os.path.exists(fence_file(ag)) and not destroyed(ag) and st["fenced"] == 0,
          f"no fence in {2 * fence_s} s of answers 0.9 s slow ({st['syncs']} syncs)")
    push(cmds, "2", [vm_start("h1-2", 2, "vm2")])
    check(result(ctl, "h1-2")[0] == "ok", "VMs still start")
    with open(wd, "rb") as f:
        data = f.read()
    print(f"measured: {size1 - size0} bytes to the watchdog device in {2 * fence_s} s")
    check(size1 - size0 >= fence_s and b"V" not in data,
          f"the watchdog device is petted about once a second ({size1 - size0} bytes)")
    check_bounds(ag, mon)
    with open(wd, "rb") as f:
        data = f.read()
    check(data.endswith(b"V"), "SIGTERM: the magic close 'V' disarms the device")


def late(binary, d):
    cmds = d / "cmds"
    os.mkdir(cmds)
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "0", "--commands-dir", cmds,
                                               "--hold-max", "1"])
    ag = Agent(binary, d, ctl.port, TOKEN,
               args=COMMON + ["--sim-delay", "vm_start=6s", "--sim-delay", "migrate_in=10s"])
    push(cmds, "1", [vm_start("h1-1", 1, "vmA"),
                     {"id": "h1-2", "seq": 2, "type": "migrate_in", "args": {"vm": "vmB"}}])
    wait_until(lambda: len(ctl.state()["sent"]) == 2, 10, "both commands sent")
    t0 = time.time()
    kill(ctl.proc)
    rec, took = wait_fenced(ag, t0, FENCE_S + 2)
    check(rec["vms"] == [] and destroyed(ag) == [],
          f"the fence found no VM running yet ({rec['vms']}, {took:.1f} s)")
    # vmA's start ends at 6 s, the host still fenced: everything fenced again
    wait_until(lambda: destroyed(ag) == ["vmA"], 8, "vmA fenced as its start ended")

    def fence_record():
        with open(fence_file(ag)) as f:
            return json.load(f)

    # the record is written once the kill is done, a moment after the executor's line
    wait_until(lambda: fence_record()["vms"] == ["vmA"], 5, "the record naming vmA")
    rec = fence_record()
    check(rec["vms"] == ["vmA"], f"the record names vmA now ({rec})")
    ctl2 = Controller(d, "normal", TOKEN, name="ctl2",
                      args=["--commands", "0", "--hold-max", "1", "--port", str(ctl.port)])
    wait_until(lambda: not os.path.exists(fence_file(ag)), 10, "the fence acknowledged")
    check(ctl2.state()["fenced_last"]["vms"] == ["vmA"], "the report named vmA")
    status, data = result(ctl2, "h1-1", 5)
    check(status == "error" and "fenced itself while the VM started" in data.get("detail", ""),
          f"vmA's start answered error ({status} {data})")
    check(time.time() - t0 < 10, "vmB's start still runs after the acknowledgement")
    # vmB's ends at 10 s, after the acknowledgement: destroyed alone, no new fence
    status, data = result(ctl2, "h1-2", 8)
    check(status == "error" and "fenced itself while the VM started" in data.get("detail", ""),
          f"vmB's start answered error ({status} {data})")
    check(["fence-h1-2:vmB", "vm_destroy"] in record(ag), "vmB destroyed alone (sim record)")
    check(not os.path.exists(fence_file(ag)) and ag.logtext().count("fenced: ") == 2,
          "no new fence after the acknowledgement")
    check(stop(ag.proc) == 0, "the agent stops on SIGTERM")


def qemu_pids(state_dir):
    return {pid for pid, cmd in live_qemus().items()
            if os.path.join(state_dir, "vms") + "/" in cmd}


def qemu(binary, d, elf):
    if not shutil.which("qemu-system-x86_64") or not os.path.exists(elf):
        print("skip: qemu-system-x86_64 or the lab guest is missing")
        sys.exit(77)
    state = d / "agent-state"
    os.makedirs(state)

    def kill_qemus():
        for p in _qemu_pids | qemu_pids(state):
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    atexit.register(kill_qemus)  # before the directory goes (atexit is LIFO)
    cmds = d / "cmds"
    os.mkdir(cmds)
    base = 41000 + (os.getpid() % 1000) * 4
    ctl = Controller(d, "normal", TOKEN, args=["--commands", "0", "--commands-dir", cmds,
                                               "--hold-max", "1"])
    ag = Agent(binary, d, ctl.port, TOKEN, state_dir=state,
               args=COMMON + ["--executor", "qemu", "--migration-ports", f"{base}-{base + 3}"])
    spec = {"mem_mib": 64, "vcpus": 1, "image": elf, "accel": "tcg", "append": "rate=4"}
    push(cmds, "1", [vm_start("h1-1", 1, "vm1", spec)])
    status, data = result(ctl, "h1-1", 40)
    check(status == "ok" and data.get("pid", 0) > 0, f"vm1 started ({status} {data})")
    pid = data["pid"]
    _qemu_pids.add(pid)
    check(qemu_pids(state) == {pid}, "its QEMU runs")
    pidfile = os.path.join(state, "vms", "vm1", "pidfile")
    check(os.path.exists(pidfile), "with its pidfile")

    kill(ctl.proc)
    t_kill = time.time()
    rec, took = wait_fenced(ag, t_kill, FENCE_S + 5)
    print(f"measured: QEMU killed and fenced.json written {took:.2f} s after the controller went")
    check(took <= FENCE_S + 1, f"fenced within fence-after + 1 s ({took:.2f} s)")
    check(rec["vms"] == ["vm1"] and rec["complete"] is True, f"fenced.json names vm1 ({rec})")
    check(not qemu_pids(state), "no QEMU of the state directory runs")
    check(not os.path.exists(pidfile), "its pidfile is removed (the VM reads stopped)")

    ctl2 = Controller(d, "normal", TOKEN, name="ctl2",
                      args=["--commands", "0", "--hold-max", "1", "--port", str(ctl.port)])
    wait_until(lambda: ctl2.state()["fenced"] >= 1, 10, "the fence reported")
    wait_until(lambda: not os.path.exists(fence_file(ag)), 5, "fenced.json removed after the 200")
    check(ctl2.state()["fenced_last"]["vms"] == ["vm1"], "the report names vm1")
    check(stop(ag.proc) == 0, "the agent stops on SIGTERM")


def main():
    if len(sys.argv) < 3:
        fail("usage: fence.py HVFLEET-AGENT silent|stuck|slow|late|qemu [GUEST-ELF]")
    binary, case = sys.argv[1], sys.argv[2]
    d = Dir("fence-" + case)
    if case == "qemu":
        qemu(binary, d, sys.argv[3] if len(sys.argv) > 3 else "")
    else:
        {"silent": silent, "stuck": stuck, "slow": slow, "late": late}[case](binary, d)


if __name__ == "__main__":
    main()
