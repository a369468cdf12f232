#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd's status page (GET /) in a real headless Chromium, with a real daemon whose
maintenance run is still going: the page shows the run's progress as GET /v1/runs/ID does, the
hosts out of service, the freeze switch (its reason escaped, text and not markup); the token
goes in by ?token= once and then by an HttpOnly cookie; no token or a wrong one is a 401 page
with a form. Usage: page.py HVFLEETD HVFLEET SCREENSHOT.png"""
import atexit
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from hvfd import Daemon, check, wait_for

SPEED = 100  # simulated seconds a wall second: slow enough that the run outlasts the test
CHROMIUM_TIMEOUT_S = 60

chromium = shutil.which("chromium")
if not chromium:
    print("FAIL: `chromium` is not installed: the status page test loads the page in headless "
          "Chromium (scripts/install-deps installs the Debian package 'chromium')",
          file=sys.stderr)
    sys.exit(1)
screenshot = os.path.abspath(sys.argv[3])

# ---- headless Chromium, in a profile of its own, killed by its process group on every path ----
browser_home = tempfile.mkdtemp(prefix="hvfd-page-chromium-%d-" % os.getpid())
browser = {"proc": None}


def browser_kill():
    p = browser["proc"]
    if p is not None and p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)  # Chromium's helpers are in its group
        p.wait()
    browser["proc"] = None
    # its crash handlers start sessions of their own: found by the profile they name
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and browser_home.encode() in open("/proc/%s/cmdline" % pid,
                                                               "rb").read():
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def browser_cleanup():
    browser_kill()
    shutil.rmtree(browser_home, ignore_errors=True)


atexit.register(browser_cleanup)


def chromium_run(url, *flags):
    """Runs headless Chromium on @url; returns its stdout. The virtual time budget stays under
    the page's 2 s meta refresh: past it the page reloads and Chromium never finishes."""
    env = dict(os.environ, HOME=browser_home, XDG_CONFIG_HOME=browser_home,
               XDG_CACHE_HOME=browser_home)
    cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-crash-reporter", "--disable-breakpad",
           "--disable-extensions", "--user-data-dir=" + os.path.join(browser_home, "profile"),
           "--virtual-time-budget=1000"] + list(flags) + [url]
    out_path = os.path.join(browser_home, "stdout")
    with open(out_path, "wb") as out, open(os.path.join(browser_home, "stderr"), "wb") as err:
        browser["proc"] = subprocess.Popen(cmd, stdout=out, stderr=err, env=env,
                                           start_new_session=True)
        try:
            rc = browser["proc"].wait(timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            browser_kill()
            check(False, "chromium did not finish in %d s: %s" % (CHROMIUM_TIMEOUT_S, cmd))
        browser["proc"] = None
    check(rc == 0, "chromium exited with %d: %s" % (
        rc, open(os.path.join(browser_home, "stderr"), errors="replace").read()[-2000:]))
    return open(out_path, encoding="utf-8").read()


class Dom(html.parser.HTMLParser):
    """The text of every element with an id, and the tags present (entities decoded)."""
    VOID = {"meta", "link", "br", "hr", "img", "input", "wbr", "col", "area", "base", "source"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text = {}
        self.attrs = {}
        self.tags = []
        self.stack = []
        self.raw = text
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag in self.VOID:
            return
        if a.get("id"):
            self.text[a["id"]] = ""
            self.attrs[a["id"]] = a
        self.stack.append((tag, a.get("id"), a.get("class")))

    def handle_endtag(self, tag):
        while self.stack:
            t, _, _ = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, i, _ in self.stack:
            if i:
                self.text[i] += data

    def cells(self, cls):
        """The texts of the elements whose class is @cls (read off the markup: enough here)."""
        return re.findall(r'class="%s">([^<]*)<' % re.escape(cls), self.raw)


# ---- a daemon with a maintenance run that goes on while the page is loaded ----
d = Daemon(sys.argv[1], sys.argv[2], speed=SPEED, name="hvfd-page")
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
viewer = d.token("viewer", "vic")
d.start()
base = "http://127.0.0.1:%d" % d.port

# ---- the 401 page, the cookie ----
s, h, body = d.request("GET", "/")
check(s == 401 and h["content-type"].startswith("text/html"), ("no token: a 401 page", s, h))
check(re.search(r'<form method="get" action="/">', body) and 'name="token"' in body,
      ("the 401 page has a form asking for the token", body[:600]))
s, h, body = d.request("GET", "/?token=hvf_not-a-token")
check(s == 401 and h["content-type"].startswith("text/html") and "set-cookie" not in h
      and 'name="token"' in body, ("a wrong ?token=: 401, no cookie", s, h))
s, h, _ = d.request("GET", "/", headers={"Cookie": "hvfleet_token=hvf_not-a-token"})
check(s == 401, ("a wrong cookie: 401", s))
s, h, _ = d.request("GET", "/", "hvf_not-a-token")
check(s == 401, ("a wrong bearer token: 401", s))
s, h, _ = d.request("GET", "/?token=" + viewer)
cookie = h.get("set-cookie", "")
check(s == 303 and h.get("location") == "/", ("?token= redirects to /", s, h))
check(cookie.startswith("hvfleet_token=" + viewer + ";") and "HttpOnly" in cookie
      and "SameSite=Strict" in cookie and "Path=/" in cookie, ("the cookie", cookie))
s, h, body = d.request("GET", "/", headers={"Cookie": cookie.split(";")[0]})
check(s == 200 and h["content-type"].startswith("text/html") and 'id="run"' in body,
      ("the cookie opens the page", s))
check(d.request("GET", "/", viewer)[0] == 200, "a Bearer header opens the page too")
check(d.request("GET", "/v1/hosts", headers={"Cookie": cookie.split(";")[0]})[0] == 401,
      "the API does not take the page's cookie")
s, _, hosts = d.request("GET", "/v1/hosts", viewer)
h0 = hosts["hosts"][0]
agent = d.token("agent", "agent-1", host=h0["name"])
# a token made while the daemon runs is known after its next reload (at most once a second)
s, h, body = wait_for(lambda: (lambda r: r if r[0] != 401 else None)(d.request("GET", "/", agent)),
                      "the agent's token is known", timeout=10)
check(s == 403 and h["content-type"].startswith("text/html"), ("an agent may not read", s))

# ---- plan, approve with a second identity, run ----
s, _, p = d.request("POST", "/v1/plans", op,
                    {"kind": "maintenance", "hosts": "rack:%s/%s" % (h0["zone"], h0["rack"])})
check(s == 201 and p["migrations"] > 2, p)
check(p["makespan_s"] / SPEED > 15, ("the run must outlast the test: makespan %d s at speed %d"
                                     % (p["makespan_s"], SPEED)))
hsh = p["plan_hash"]
check(d.request("POST", "/v1/plans/%s/approvals" % hsh, ap)[0] == 201, "approved by bob")
s, _, run = d.request("POST", "/v1/plans/%s/runs" % hsh, op)
check(s == 201 and run["state"] == "running", run)
rid = run["id"]


def run_now():
    s_, _, r_ = d.request("GET", "/v1/runs/%d" % rid, viewer)
    check(s_ == 200, r_)
    return r_


def not_active():
    return {x["name"] for x in d.request("GET", "/v1/hosts", viewer)[2]["hosts"]
            if x["state"] != "active"}


wait_for(lambda: run_now()["progress"]["migrations_done"] > 0 and not_active(),
         "a first migration done, a host out of service")

# ---- the page in Chromium: the run's progress, consistent with the API around it ----
last_event = d.request("GET", "/v1/events?since=0&limit=1000", viewer)[2]["last"]
before, oos_before = run_now(), not_active()
page = Dom(chromium_run(base + "/?token=" + viewer, "--dump-dom"))
after, oos_after = run_now(), not_active()

check("run-progress" in page.text, ("the page has #run-progress", page.raw[:2000]))
m = re.search(r"Run (\d+) · ([0-9.]+)% · (\w+)", page.text["run-progress"])
check(m, ("#run-progress names the run and its percent", page.text["run-progress"]))
page_pct = float(m.group(2))
check(int(m.group(1)) == rid and m.group(3) == "running", page.text["run-progress"])
bp, ap_ = before["progress"], after["progress"]
check(bp["pct"] - 0.05 <= page_pct <= ap_["pct"] + 0.05,
      ("the page's percent lies between GET /v1/runs before and after",
       bp["pct"], page_pct, ap_["pct"]))
check(0 < page_pct < 100, ("the run is under way", page_pct))
mm = re.match(r"(\d+) / (\d+) done", page.text["run-migrations"])
check(mm and bp["migrations_done"] <= int(mm.group(1)) <= ap_["migrations_done"]
      and int(mm.group(2)) == bp["migrations_total"], ("migrations", page.text["run-migrations"],
                                                       bp, ap_))
mh = re.match(r"(\d+) / (\d+) done", page.text["run-hosts"])
check(mh and bp["hosts_done"] <= int(mh.group(1)) <= ap_["hosts_done"]
      and int(mh.group(2)) == bp["hosts_total"], ("hosts", page.text["run-hosts"]))
check(re.match(r"\d+(h\d\dm|m\d\ds|s)", page.text["run-eta"]), ("an ETA", page.text["run-eta"]))

# hosts out of service: those not active in both readings are listed, nothing else is
shown = set(page.cells("oos-host"))
check(oos_before & oos_after <= shown <= oos_before | oos_after,
      ("hosts out of service", shown, oos_before, oos_after))
check(page.text["freeze-state"].startswith("not frozen"), page.text["freeze-state"])
check(page.text["agents-connected"] == "0", "no agent connected")
check("incidents-none" in page.text, "no open incident")
seqs = [int(x) for x in re.findall(r'<td class="n ev-seq">(\d+)</td>', page.raw)]
check(seqs and seqs[0] >= last_event and seqs == sorted(seqs, reverse=True) and len(seqs) <= 20,
      ("the last events, newest first", seqs, last_event))

# ---- the screenshot, a test artifact: the run under way ----
if os.path.exists(screenshot):
    os.unlink(screenshot)
chromium_run(base + "/?token=" + viewer, "--screenshot=" + screenshot, "--window-size=1280,1600",
             "--hide-scrollbars")
png = open(screenshot, "rb").read() if os.path.exists(screenshot) else b""
check(len(png) > 1000 and png[:8] == b"\x89PNG\r\n\x1a\n", ("a PNG screenshot", screenshot))
check(int.from_bytes(png[16:20], "big") == 1280, "the screenshot is 1280 pixels wide")

# ---- frozen, with a reason that is markup: shown as text, never as an element ----
evil = "<script>alert(1)</script>"
s, _, f = d.request("PUT", "/v1/freeze", op, {"reason": evil})
check(s == 200 and f["frozen"], f)
raw = chromium_run(base + "/?token=" + viewer, "--dump-dom")
page = Dom(raw)
check(page.text["freeze-state"].startswith("frozen"), page.text["freeze-state"])
check(page.text["freeze-by"] == "alice", page.text["freeze-by"])
check(page.text["freeze-reason"] == evil, ("the reason as text", page.text["freeze-reason"]))
check("script" not in page.tags and "<script" not in raw, "the reason made no element")
check("&lt;script&gt;alert(1)&lt;/script&gt;" in raw, "the reason is escaped in the DOM")

# ---- the token stays out of the log ----
check(d.stop() == 0, "SIGTERM: exit 0")
log = d.log_text()
lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
check(any(x.get("path") == "/" for x in lines) and viewer not in log,
      "the log has the page's requests, not the token")
print("ok: page at %.1f%% of run %d; screenshot %s" % (page_pct, rid, screenshot))
