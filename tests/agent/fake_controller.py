#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fake hvfleetd for hvfleet-agent's tests: POST /v1/agent/sync as docs/agent-protocol.md says,
on 127.0.0.1 with a free port, in one of these modes:

  normal         sends the commands, acks results and events, holds answers up to wait_s
  never-answers  accepts and reads each request, never replies
  flood          sends --commands sleep commands in one answer (busy ones are not re-sent)
  down           like normal, then refuses connections for --down-s seconds (listener closed,
                 connections cut) once --down-after results came in, then comes back
  flapping       like normal, but closes every other connection without answering
  trickle        like normal until --trickle-after results came in; then answers every request
                 200 with a long Content-Length and one byte of body each 0.5 s for --trickle-s
                 seconds, then cuts the connection (a sync stuck in a read)

--slow-s makes every answer take at least that long. The "fenced" reports of the syncs are kept
in the state ("fenced": the syncs that carried one, "fenced_last": the last one).

Commands without a final result are re-sent on every new session (as hvfleetd does after a
reconnect); busy ones after their retry_after_s (except in flood). Writes its port to --port-file
and its view (commands sent, results per id, heartbeats, events) to --state after every sync.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.cmds = []          # commands not yet sent, in seq order
        self.sent = {}          # id -> times sent
        self.results = {}       # id -> list of statuses received
        self.final = set()      # ids with a final (not busy) result
        self.by_id = {}         # id -> command
        self.retry = []         # (time, command) busy ones to re-send
        self.busy = 0
        self.syncs = 0
        self.conns = 0
        self.sessions = 0
        self.session = None
        self.heartbeats = []    # the last few
        self.max_dropped = {}
        self.max_threads = 0
        self.max_rss = 0
        self.max_fds = 0
        self.events = 0
        self.event_seqs = set()
        self.max_event_seq = 0
        self.facts = None
        self.down_until = 0.0
        self.went_down = False
        self.came_back = False
        self.event_types = {}
        self.requests = 0
        self.conflicts = 0
        self.facts_count = 0
        self.logged = set()     # event seqs written to --events-log
        self.data = {}          # id -> the data of its last final result
        self.loaded = set()     # files of --commands-dir loaded
        self.fenced = 0         # syncs that carried a "fenced" report
        self.fenced_last = None
        self.trickling = 0      # requests answered by a trickle (begun)
        seq = 0
        host = args.host
        if args.commands_json:
            with open(args.commands_json) as f:
                for c in json.load(f):
                    self.cmds.append(c)
                    self.by_id[c["id"]] = c
        for i in range(0 if args.commands_json else args.commands):
            seq += 1
            if args.mode == "flood":
                c = {"id": f"{host}-{seq}", "seq": seq, "type": "sleep", "args": {"ms": args.sleep_ms}}
            else:
                kind = ["vm_start", "migrate_out", "sleep", "dirty_rate"][i % 4]
                c = {"id": f"{host}-{seq}", "seq": seq, "type": kind,
                     "args": {"vm": f"vm{i}", "ms": args.sleep_ms}}
            self.cmds.append(c)
            self.by_id[c["id"]] = c

    def write(self):
        st = {"syncs": self.syncs, "conns": self.conns, "sessions": self.sessions,
              "sent": self.sent, "results": self.results, "busy": self.busy,
              "heartbeats": self.heartbeats[-5:], "max_dropped": self.max_dropped,
              "max_threads": self.max_threads, "max_rss": self.max_rss, "max_fds": self.max_fds,
              "events": self.events, "distinct_events": len(self.event_seqs),
              "max_event_seq": self.max_event_seq, "facts": self.facts,
              "event_types": self.event_types, "conflicts": self.conflicts,
              "facts_count": self.facts_count, "went_down": self.went_down, "came_back": self.came_back,
              "unsent": len(self.cmds), "commands": len(self.by_id), "data": self.data,
              "fenced": self.fenced, "fenced_last": self.fenced_last,
              "trickling": self.trickling}
        tmp = self.args.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, self.args.state)

    def sync(self, req):
        """Returns the answer and whether there was anything to send."""
        a = self.args
        self.syncs += 1
        if a.commands_dir:
            # Commands the test adds while it runs: one JSON list per *.json file, once each.
            for name in sorted(os.listdir(a.commands_dir)):
                if name.endswith(".json") and name not in self.loaded:
                    self.loaded.add(name)
                    with open(os.path.join(a.commands_dir, name)) as f:
                        for c in json.load(f):
                            self.cmds.append(c)
                            self.by_id[c["id"]] = c
        if req.get("session", "") == "" or req.get("session") != self.session:
            self.sessions += 1
            self.session = uuid.uuid4().hex
            if "facts" in req:
                self.facts = req["facts"]
            # A new session: re-send what has no result yet (sent before, not final).
            for cid, n in self.sent.items():
                if cid not in self.final and n > 0 and self.by_id[cid] not in self.cmds:
                    self.cmds.append(self.by_id[cid])
            self.cmds.sort(key=lambda c: c["seq"])
        if "fenced" in req:
            self.fenced += 1
            self.fenced_last = req["fenced"]
        acked = []
        for r in req.get("results", []):
            self.results.setdefault(r["id"], []).append(r["status"])
            if r["status"] == "busy":
                self.busy += 1
                if a.mode != "flood":
                    self.retry.append((time.time() + r.get("retry_after_s", 1), self.by_id[r["id"]]))
            else:
                self.final.add(r["id"])
                if "data" in r or "detail" in r:
                    self.data[r["id"]] = r.get("data", {"detail": r.get("detail")})
                acked.append(r["seq"])
        for e in req.get("events", []):
            self.events += 1
            self.event_seqs.add(e["seq"])
            self.max_event_seq = max(self.max_event_seq, e["seq"])
            self.event_types[e["type"]] = self.event_types.get(e["type"], 0) + 1
            if self.args.events_log and e["seq"] not in self.logged:
                self.logged.add(e["seq"])
                with open(self.args.events_log, "a") as f:
                    f.write(json.dumps(e) + "\n")
        hb = req.get("heartbeat", {})
        self.heartbeats.append(hb)
        for k, v in hb.get("dropped", {}).items():
            self.max_dropped[k] = max(self.max_dropped.get(k, 0), v)
        self.max_threads = max(self.max_threads, hb.get("threads", 0))
        self.max_rss = max(self.max_rss, hb.get("rss_bytes", 0))
        self.max_fds = max(self.max_fds, hb.get("open_files", 0))
        now = time.time()
        for t, c in list(self.retry):
            if t <= now:
                self.retry.remove((t, c))
                if c["id"] not in self.final:
                    self.cmds.append(c)
        self.cmds.sort(key=lambda c: c["seq"])
        send = self.cmds[:a.per_answer]
        del self.cmds[:a.per_answer]
        for c in send:
            self.sent[c["id"]] = self.sent.get(c["id"], 0) + 1
        ans = {"session": self.session, "acked_results": acked,
               "acked_events": self.max_event_seq, "commands": send, "heartbeat_s": a.heartbeat_s}
        self.write()
        return ans, bool(send)


class Server:
    def __init__(self, args):
        self.args = args
        self.state = State(args)
        self.port = 0
        self.lsock = None
        self.conns = set()
        self.lock = threading.Lock()
        self.nconn = 0

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.lsock = s

    def go_down(self):
        """Closes the listener and cuts every connection; comes back after --down-s."""
        st = self.state
        st.went_down = True
        st.down_until = time.time() + self.args.down_s
        with self.lock:
            ls, self.lsock = self.lsock, None
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        ls.close()

        def back():
            time.sleep(self.args.down_s)
            self.listen()
            st.came_back = True
            with st.lock:
                st.write()
            threading.Thread(target=self.accept_loop, daemon=True).start()
        threading.Thread(target=back, daemon=True).start()

    def accept_loop(self):
        ls = self.lsock
        while True:
            try:
                c, addr = ls.accept()
            except OSError:
                return
            with self.lock:
                self.nconn += 1
                n = self.nconn
                self.conns.add(c)
            with self.state.lock:
                self.state.conns = n
                self.state.write()
            threading.Thread(target=self.serve, args=(c, addr, n), daemon=True).start()

    def serve(self, c, addr, n):
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            served = 0

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                a = server.args
                if self.path != "/v1/agent/sync":
                    return self.reply(404, {"error": {"code": "not_found", "message": self.path}})
                if self.headers.get("Authorization") != "Bearer " + a.token:
                    return self.reply(401, {"error": {"code": "unauthorized", "message": "token"}})
                if a.mode == "never-answers":
                    while True:
                        time.sleep(3600)
                if a.mode == "flapping" and n % 2 == 1:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                req = json.loads(body)
                st = server.state
                t0 = time.time()
                if a.mode == "trickle":
                    with st.lock:
                        trickle = len(st.final) >= a.trickle_after
                        if trickle:
                            st.trickling += 1
                            st.write()
                    if trickle:
                        return self.trickle()
                with st.lock:
                    st.requests += 1
                    if st.requests == a.reregister_at:
                        st.session = None  # forgotten, as after a controller restart
                        st.conflicts += 1
                        st.write()
                        return self.reply(409, {"error": {"code": "re-register",
                                                          "message": "unknown session"}})
                    if "facts" in req:
                        st.facts_count += 1
                    ans, had = st.sync(req)
                    finals = len(st.final)
                if (a.mode == "down" and not st.went_down and finals >= a.down_after):
                    server.go_down()
                    return
                if not had and req.get("wait_s", 0) > 0:
                    time.sleep(min(req["wait_s"], a.hold_max))
                if time.time() - t0 < a.slow_s:
                    time.sleep(a.slow_s - (time.time() - t0))
                self.served += 1
                if a.mode == "flapping" and self.served >= 3:
                    self.close_connection = True  # a good connection lasts 3 syncs
                self.reply(200, ans)

            def trickle(self):
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                end = time.time() + server.args.trickle_s
                while time.time() < end:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
                self.connection.shutdown(socket.SHUT_RDWR)

            def reply(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        try:
            H(c, addr, None)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(c)
            try:
                c.close()
            except OSError:
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True,
                   choices=["normal", "never-answers", "flood", "down", "flapping", "trickle"])
    p.add_argument("--port-file", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--host", default="h1")
    p.add_argument("--commands", type=int, default=12)
    p.add_argument("--per-answer", type=int, default=1000000)
    p.add_argument("--sleep-ms", type=int, default=50)
    p.add_argument("--down-after", type=int, default=1)
    p.add_argument("--down-s", type=float, default=4)
    p.add_argument("--heartbeat-s", type=int, default=1)
    p.add_argument("--hold-max", type=float, default=1)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--trickle-after", type=int, default=1)
    p.add_argument("--trickle-s", type=float, default=10)
    p.add_argument("--slow-s", type=float, default=0)
    p.add_argument("--reregister-at", type=int, default=0,
                   help="answer this request (1, 2, ...) 409 re-register")
    p.add_argument("--commands-json", help="the commands to send, a JSON list")
    p.add_argument("--commands-dir", help="more commands: each new *.json file (a JSON list) "
                   "is read at the next sync (write it with a rename)")
    p.add_argument("--events-log", help="appends every event received, one JSON line each")
    args = p.parse_args()
    srv = Server(args)
    srv.port = args.port
    srv.listen()
    with srv.state.lock:
        srv.state.write()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.port))
    os.replace(tmp, args.port_file)
    srv.accept_loop()
    while True:  # the listener is down for a while: keep the process
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
