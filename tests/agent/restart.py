#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleet-agent killed (SIGKILL) with commands done, running and queued, then started again on
the same state directory with a fresh controller that re-sends every command: the done ones are
answered from DIR/results.json, the running ones answered "error" (interrupted), none executed
again; the queued one, never started, runs now, once. A second agent on the same directory is
refused. Bounded in time; everything killed by PID.

    restart.py HVFLEET-AGENT
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentlib import Agent, Controller, Dir, Monitor, check, check_bounds, fail, kill, wait_until  # noqa: E402

TOKEN = "agent-restart-token"


def main():
    if len(sys.argv) != 2:
        fail("usage: restart.py HVFLEET-AGENT")
    binary = sys.argv[1]
    d = Dir("restart")
    cmds = [{"id": f"r-{i}", "seq": i, "type": "sleep", "args": {"ms": 30}} for i in range(1, 7)]
    cmds += [{"id": f"r-{i}", "seq": i, "type": "sleep", "args": {"ms": 600000}} for i in (7, 8, 9)]
    cmds += [{"id": "r-10", "seq": 10, "type": "sleep", "args": {"ms": 30}}]
    with open(d / "cmds.json", "w") as f:
        json.dump(cmds, f)
    state_dir = d / "agent-state"

    # First life: 6 done and acked, then 3 long ones on the 3 workers and one queued behind.
    c1 = Controller(d, "normal", TOKEN, name="ctl1",
                    args=["--commands-json", d / "cmds.json", "--per-answer", "6"])
    a1 = Agent(binary, d, c1.port, TOKEN, args=["--workers", "3", "--heartbeat", "1s"],
               state_dir=state_dir)
    wait_until(lambda: len(a1.executed()) == 9, 20, "6 commands done and 3 running")
    wait_until(lambda: len(c1.state()["results"]) == 6, 10, "6 results delivered")
    with open(os.path.join(state_dir, "results.json")) as f:
        rec = {r["id"]: r for r in json.load(f)["results"]}
    check(all(rec[f"r-{i}"]["state"] == "running" for i in (7, 8, 9)),
          "the record has the 3 long ones as running before they finish")
    kill(a1.proc)  # SIGKILL: no chance to tidy up

    # Second life: a fresh controller re-sends all ten.
    c2 = Controller(d, "normal", TOKEN, name="ctl2", args=["--commands-json", d / "cmds.json"])
    a2 = Agent(binary, d, c2.port, TOKEN, args=["--workers", "3", "--heartbeat", "1s"],
               state_dir=state_dir)
    mon = Monitor(a2, c2.port)
    wait_until(lambda: len(c2.state()["results"]) == 10, 20, "10 results after the restart")
    st = c2.state()
    res = st["results"]
    # A result may arrive twice (sent before the re-sent command was seen): the id says which.
    check(all(set(res[f"r-{i}"]) == {"ok"} for i in range(1, 7)),
          "done ones answered ok from the record")
    check(all(set(res[f"r-{i}"]) == {"error"} for i in (7, 8, 9)),
          "running ones answered error (interrupted), not run again")
    check(set(res["r-10"]) == {"ok"}, "the queued one, never started, ran")
    ex = a2.executed()
    check(sorted(ex) == sorted(c["id"] for c in cmds), "every command executed exactly once in all")
    with open(os.path.join(state_dir, "results.json")) as f:
        rec = {r["id"]: r for r in json.load(f)["results"]}
    check("interrupted" in rec["r-7"].get("detail", ""), "the record says why: interrupted")

    # A second agent on the same state directory is refused, one line, status 2.
    with open(d / "token", "w") as f:
        f.write(TOKEN + "\n")
    p = subprocess.run([binary, "--controller", f"http://127.0.0.1:{c2.port}", "--token-file",
                        d / "token", "--host", "h1", "--state-dir", state_dir],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "another hvfleet-agent" in p.stderr
          and p.stderr.count("\n") == 1, f"a second agent on the directory is refused: {p.stderr!r}")
    time.sleep(1)  # a few heartbeats, watched
    check_bounds(a2, mon, st)


if __name__ == "__main__":
    main()
