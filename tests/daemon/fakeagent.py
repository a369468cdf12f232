# SPDX-License-Identifier: MIT
"""Agents for hvfleetd's agent:// driver, spoken by the test (docs/agent-protocol.md), whose
hosts' QEMUs are a Python dict the test changes behind hvfleetd's back: a VM killed (with or
without the agent's vm_state event), a copy started by hand, an unknown QEMU. Each agent syncs
in a thread of its own, runs the commands it gets once each (by id) on its world, and records
them; `silent` makes it stop syncing (its host goes down)."""
import threading
import time


class FakeAgent:
    def __init__(self, daemon, host, token, vms=(), heartbeat_s=1):
        self.d = daemon
        self.host = host
        self.token = token
        self.lock = threading.Lock()
        self.alive = {v: 1000 + i for i, v in enumerate(vms)}  # the agent's VMs: name -> pid
        self.unknown = {}  # QEMUs none of its VMs: pid -> cmdline
        self.executed = []  # (id, type, args) of each command run, once each
        self.ignore = set()  # command types answered ok but not carried out
        self.results = {}  # seq -> result, until acknowledged
        self.events = []  # not yet acknowledged
        self.seq = 0
        self.seen_ids = set()
        self.silent = False
        self.stop = threading.Event()
        self.session = ""
        self.heartbeat_s = heartbeat_s
        self.thread = threading.Thread(target=self._run, daemon=True)

    # ---- the world, behind hvfleetd's back ----
    def kill(self, vm, event=True):
        """@vm's QEMU dies; the agent says so (vm_state crashed) when @event."""
        with self.lock:
            self.alive.pop(vm, None)
            if event:
                self._event({"type": "vm_state", "vm": vm, "state": "crashed"})

    def run_behind(self, vm):
        """@vm runs here as one of the agent's VMs, and nothing said it started."""
        with self.lock:
            self.alive[vm] = 5000 + len(self.alive)

    def add_unknown(self, pid, cmdline):
        with self.lock:
            self.unknown[pid] = cmdline

    def commands(self, type_=None):
        with self.lock:
            return [(i, t, a) for i, t, a in self.executed if type_ is None or t == type_]

    # ---- the protocol ----
    def _event(self, ev):
        self.seq += 1
        e = {"seq": self.seq, "t_us": int(time.time() * 1e6)}
        e.update(ev)
        self.events.append(e)

    def _apply(self, cmd):
        t, a = cmd["type"], cmd.get("args") or {}
        data = {}
        self.executed.append((cmd["id"], t, a))
        if t in self.ignore:
            return data
        vm = a.get("vm")
        if t == "vm_start":
            self.alive[vm] = 3000 + len(self.executed)
            data = {"pid": self.alive[vm]}
            self._event({"type": "vm_state", "vm": vm, "state": "running"})
        elif t in ("vm_stop", "vm_destroy"):
            if self.alive.pop(vm, None) is not None:
                self._event({"type": "vm_state", "vm": vm, "state": "stopped"})
        elif t == "qemu_kill":
            data = {"killed": self.unknown.pop(a.get("pid"), None) is not None}
        elif t == "dirty_rate":
            data = {"dirty_bytes_per_s": 1000000}
        return data

    def _body(self):
        with self.lock:
            hb = {"rss_bytes": 1 << 20, "threads": 2, "open_files": 8,
                  "queues": {"commands": 0, "events": len(self.events), "results": 0},
                  "dropped": {"events": 0, "progress": 0, "commands_busy": 0},
                  "vms": len(self.alive),
                  "vm_list": [{"name": v, "state": "alive"} for v in sorted(self.alive)],
                  "unknown_qemu": [{"pid": p, "cmdline": c} for p, c in
                                   sorted(self.unknown.items())]}
            body = {"host": self.host, "session": self.session, "heartbeat": hb,
                    "results": list(self.results.values()), "events": list(self.events),
                    "wait_ms": 300}
            if not self.session:
                body["boot_id"] = "boot-" + self.host
                body["facts"] = {"agent_version": "0.1.0", "kernel": "6.1.0", "cpus": 8,
                                 "mem_mib": 8192, "nics": [],
                                 "vms": [{"name": v, "state": "running", "pid": p,
                                          "mem_mib": 256, "vcpus": 1}
                                         for v, p in sorted(self.alive.items())],
                                 "unknown_qemu": []}
                body["wait_ms"] = 0
            return body

    def _run(self):
        while not self.stop.is_set():
            if self.silent:
                self.stop.wait(0.2)
                continue
            try:
                s, _, a = self.d.request("POST", "/v1/agent/sync", self.token, self._body(),
                                         timeout=10)
            except OSError:
                self.stop.wait(0.2)
                continue
            if s == 409:
                self.session = ""
                continue
            if s != 200:
                self.stop.wait(0.2)
                continue
            with self.lock:
                self.session = a["session"]
                for seq in a.get("acked_results", []):
                    self.results.pop(seq, None)
                self.events = [e for e in self.events if e["seq"] > a.get("acked_events", 0)]
                for c in a.get("commands", []):
                    if c["id"] in self.seen_ids:
                        continue
                    self.seen_ids.add(c["id"])
                    self.results[c["seq"]] = {"id": c["id"], "seq": c["seq"], "status": "ok",
                                              "data": self._apply(c)}
            self.stop.wait(0.05)

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.stop.set()
        self.thread.join(15)
