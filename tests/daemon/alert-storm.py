#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alerts in a storm (docs/ha.md): three of five hosts go silent together; hvfleetd's webhook
gets ONE alert, the storm's (the hosts' own alerts, held for the storm window, are folded into
it), not one per host. Then one host alone goes silent: its host-lost alert comes, once, after
the storm window. agent:// with agents spoken by the test (fakeagent.py), a webhook receiver
in this process. Usage: alert-storm.py HVFLEETD HVFLEET"""
import http.server
import json
import os
import sys
import threading
import time

from fakeagent import FakeAgent
from hvfd import Daemon, check, wait_for

HOSTS = ["h1", "h2", "h3", "h4", "h5"]
HOLD_S = 5  # ALERT_HOLD_MS in src/daemon/alerts.c, documented in docs/ha.md


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.posts = []  # (time received, alert document)

    def got(self):
        with self.lock:
            return list(self.posts)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.posts.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


rx = Receiver()
threading.Thread(target=rx.serve_forever, daemon=True).start()
d = Daemon(sys.argv[1], sys.argv[2], name="hvfd-alert-storm", speed=0)
inv = "schema: hvfleet.inventory/v1\nhosts:\n" + "".join(
    "  - {name: %s, cpus: 8, memory: 8GiB, nic: 1Gbit}\n" % h for h in HOSTS) + "vms:\n" + "".join(
    "  - {name: %s-vm0, host: %s, vcpus: 1, memory: 256MiB}\n" % (h, h) for h in HOSTS)
with open(os.path.join(d.state_dir, "inventory.yaml"), "w") as f:
    f.write(inv)
cfg = os.path.join(d.state_dir, "hvfleetd.yaml")
with open(cfg, "w") as f:
    f.write("agent_heartbeat_s: 1\nagent_down_after: 3s\n"
            "driver: \"agent:///?image=/nonexistent/guest.elf\"\n"
            "alert_webhooks: [\"http://127.0.0.1:%d/a\"]\n" % rx.server_address[1])
d.args = ["--config", cfg]
viewer = d.token("viewer", "vic")
toks = {h: d.token("agent", "agent-" + h, host=h) for h in HOSTS}
agents = {}


def kinds():
    return [a["kind"] for _, a in rx.got()]


def ha():
    return d.request("GET", "/v1/ha", viewer)[2]


try:
    d.start()
    for h in HOSTS:
        agents[h] = FakeAgent(d, h, toks[h], ["%s-vm0" % h]).start()
    wait_for(lambda: all(x["state"] == "active" for x in
                         d.request("GET", "/v1/hosts", viewer)[2]["hosts"]), "hosts active", 20)

    # three of five hosts silent together: a storm, one alert
    for h in ("h3", "h4", "h5"):
        agents[h].silent = True
    wait_for(lambda: "ha-storm" in kinds(), "the storm's alert", 20)
    time.sleep(HOLD_S + 1)  # every host's alert would be out by now
    got = kinds()
    check(got == ["ha-storm"], ("one alert for the storm", got))
    storm = [a for _, a in rx.got()][0]
    check(storm["details"]["lost"] == 3 and storm["details"]["folded_alerts"] >= 1 and
          "3 of 5 hosts" in storm["summary"], storm)
    for h in ("h3", "h4", "h5"):
        agents[h].silent = False
    wait_for(lambda: not ha()["storm"] and not ha()["hosts"], "the storm over, hosts back", 20)

    # one host alone: its alerts come, once each, after the storm window
    n0 = len(rx.got())
    agents["h2"].silent = True
    t_lost = wait_for(lambda: [e for e in d.request("GET", "/v1/events?since=0&limit=1000",
                                                      viewer)[2]["events"]
                               if e["type"] == "driver" and e["data"].get("event") ==
                               "host_lost" and e["data"].get("host") == "h2"] and time.time(),
                      "h2 lost", 20)
    wait_for(lambda: "host-lost" in kinds()[n0:], "h2's host-lost alert", 20)
    at = [t for t, a in rx.got()[n0:] if a["kind"] == "host-lost"][0]
    check(HOLD_S - 1.5 <= at - t_lost <= HOLD_S + 6,
          ("the host-lost alert after the storm window", at - t_lost))
    time.sleep(1)
    late = kinds()[n0:]
    check(late.count("host-lost") == 1 and "ha-storm" not in late and
          [a for _, a in rx.got()[n0:] if a["kind"] == "host-lost"][0]["details"]["host"] == "h2",
          late)
    print("a lone host's alert %.1f s after its loss (hold %d s)" % (at - t_lost, HOLD_S))
except BaseException:
    print("alerts:", kinds(), file=sys.stderr)
    print("hvfleetd log:", d.log_text()[-3000:], file=sys.stderr)
    raise
finally:
    for a in agents.values():
        a.close()
    rx.shutdown()
check(d.stop() == 0, "SIGTERM: exit 0")
print("ok")
