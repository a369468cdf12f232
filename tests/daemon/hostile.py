#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hvfleetd under hostile requests (issue 11, Security), with a real daemon on 127.0.0.1: bad JSON,
wrong types for every body field, unknown fields, huge numbers, unknown routes, wrong methods,
path tricks, non-UTF-8, oversized headers, URLs and bodies, bad Content-Length, wrong
Content-Type, bad tokens, slow clients, connection floods and the per-token rate limit. Each
gets a 4xx (JSON routes: a JSON error naming the field) and the daemon keeps serving: after each
group, GET /v1/health answers 200 and an authenticated request is served.
Usage: hostile.py HVFLEETD HVFLEET"""
import json
import os
import select
import socket
import sys
import time

from hvfd import Daemon, check

d = Daemon(sys.argv[1], sys.argv[2], speed=500, name="hvfd-hostile")
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
viewer = d.token("viewer", "vic")
TIMEOUT_S = 2
conf = os.path.join(d.state_dir, "hostile.yaml")
with open(conf, "w") as f:
    # a generous rate here: the battery is many quick requests; the limit has its own daemon
    f.write("connection_timeout: %ds\nmax_connections_per_ip: 8\nrate_per_s: 10000\n"
            "rate_burst: 10000\n" % TIMEOUT_S)
d.start(extra=["--config", conf])

failures = []
count = [0]
HASH = "ab" * 32


def fail(what):
    failures.append(what)
    print("FAIL:", what, file=sys.stderr)


def expect(what, resp, status, field=None, words=(), is_json=True):
    """@resp (status, headers, body) is @status (an int, or a tuple of accepted ones); a JSON
    error naming @field (in 'field' or the message) and each of @words in its message."""
    count[0] += 1
    s, h, body = resp
    ok = s in status if isinstance(status, tuple) else s == status
    if not ok:
        fail("%s: status %r, want %r: %r" % (what, s, status, body if s else h))
        return
    if not is_json:
        return
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict)
            and isinstance(body["error"].get("message"), str)):
        fail("%s: not a JSON error: %r" % (what, body))
        return
    e = body["error"]
    msg = e["message"]
    if "\n" in msg or "\r" in msg:
        fail("%s: the message is not one line: %r" % (what, msg))
    if e.get("status") != s or not body.get("request_id"):
        fail("%s: error without its status or request id: %r" % (what, body))
    if field and e.get("field") != field and field not in msg:
        fail("%s: the error does not name %r: %r" % (what, field, body))
    for w in words:
        if w not in msg:
            fail("%s: the message lacks %r: %r" % (what, w, msg))


def parse_response(buf):
    """(status, headers, body) from raw bytes, or (None, {}, buf) when there is no answer."""
    if b"\r\n\r\n" not in buf:
        return None, {}, buf
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        return None, {}, buf
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", len(rest)))
    try:
        body = json.loads(rest[:n]) if rest[:n] else None
    except ValueError:
        body = rest[:n].decode(errors="replace")
    return status, hdrs, body


def complete(buf):
    if b"\r\n\r\n" not in buf:
        return False
    head, rest = buf.split(b"\r\n\r\n", 1)
    for ln in head.split(b"\r\n")[1:]:
        if ln.lower().startswith(b"content-length:"):
            return len(rest) >= int(ln.split(b":", 1)[1])
    return False


def raw(data, body=b"", timeout=10, read_first=False):
    """Sends @data (and then @body) on a new connection; returns the parsed answer. With
    @read_first, the answer may come before the body is sent (a refusal on the headers)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
            if read_first:
                s.settimeout(3)
                try:
                    buf = s.recv(65536)
                except socket.timeout:
                    buf = b""
                s.settimeout(timeout)
            if body and not buf:
                s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.time() + timeout
        while not complete(buf) and time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return parse_response(buf)


def req(method, path, token=None, body=None, ctype="application/json", headers=None):
    """A request with a raw body (bytes or str) through a raw socket, Connection: close."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if isinstance(path, str):
        path = path.encode("utf-8", "surrogatepass")
    h = [b"Host: 127.0.0.1", b"Connection: close"]
    if token:
        h.append(b"Authorization: Bearer " + token.encode())
    if body is not None:
        h.append(b"Content-Length: %d" % len(body))
        if ctype:
            h.append(b"Content-Type: " + ctype.encode())
    h += [x if isinstance(x, bytes) else x.encode() for x in headers or ()]
    head = method.encode() + b" " + path + b" HTTP/1.1\r\n" + b"\r\n".join(h) + b"\r\n\r\n"
    return raw(head, body or b"")


def alive(group):
    """After each group: the daemon runs, answers health and an authenticated request."""
    if not d.alive():
        fail("%s: hvfleetd died: %s" % (group, d.log_text()[-2000:]))
        d.cleanup()
        report()
    s, _, health = d.request("GET", "/v1/health", timeout=10)
    s2, _, hosts = d.request("GET", "/v1/hosts", viewer, timeout=10)
    if s != 200 or s2 != 200 or not hosts.get("hosts"):
        fail("%s: hvfleetd does not serve after it: %r %r" % (group, s, s2))


def report():
    print("%d hostile requests, %d failures" % (count[0], len(failures)))
    if failures:
        sys.exit(1)
    print("ok")
    sys.exit(0)


s, _, vms = d.request("GET", "/v1/vms", viewer)
VM = vms["vms"][0]["name"]
s, _, hosts = d.request("GET", "/v1/hosts", viewer)
HOST = hosts["hosts"][0]["name"]

# ---- bad JSON, on every route that takes a JSON body ----
JSON_ROUTES = [("POST", "/v1/plans", op), ("POST", "/v1/plans/%s/approvals" % HASH, ap),
               ("POST", "/v1/plans/%s/runs" % HASH, op), ("POST", "/v1/runs/1/pause", op),
               ("PUT", "/v1/freeze", op), ("POST", "/v1/vms/%s/start" % VM, op),
               ("POST", "/v1/vms/%s/stop" % VM, op)]
BAD_JSON = [("truncated", '{"kind": "dra'), ("trailing garbage", '{} x'),
            ("deep nesting", "[" * 100000), ("deep objects", '{"a":' * 50000),
            ("NUL byte", '{"kind"\x00: 1}'), ("lone surrogate", '{"kind": "\\ud800"}'),
            ("not an object", '[1, 2]'), ("a bare string", '"drain"'), ("null", "null"),
            ("bad escape", '{"kind": "\\q"}'), ("single quotes", "{'kind': 'drain'}")]
for method, path, tok in JSON_ROUTES:
    for what, body in BAD_JSON:
        expect("%s %s: %s" % (method, path, what), req(method, path, tok, body), 400,
               words=("JSON",) if what not in ("not an object", "a bare string", "null")
               else ("object",))
    expect("%s %s: non-UTF-8 in a string" % (method, path),
           req(method, path, tok, b'{"kind": "\xff\xfe"}'), 400, words=("JSON",))
    expect("%s %s: non-UTF-8 in a key" % (method, path),
           req(method, path, tok, b'{"\xc3\x28": 1}'), 400, words=("JSON",))
    expect("%s %s: duplicate keys" % (method, path),
           req(method, path, tok, '{"a": 1, "a": 2}'), 400, words=("JSON",))
    expect("%s %s: an unknown field" % (method, path),
           req(method, path, tok, '{"bogus_field": 1}'), 400, field="bogus_field",
           words=("unknown field", "expected"))
    expect("%s %s: an unknown field with a newline" % (method, path),
           req(method, path, tok, '{"a\\nb\\u001b[31m": 1}'), 400, words=("unknown field",))
    expect("%s %s: wrong Content-Type" % (method, path),
           req(method, path, tok, '{}', ctype="text/plain"), 415, field="Content-Type",
           words=("application/json",))
    expect("%s %s: no Content-Type" % (method, path), req(method, path, tok, '{}', ctype=None),
           415, field="Content-Type")
    expect("%s %s: application/jsonx" % (method, path),
           req(method, path, tok, '{}', ctype="application/jsonx"), 415, field="Content-Type")
alive("bad JSON")

# ---- wrong types, huge numbers, empty and huge strings, for every field of every body ----
P = ("POST", "/v1/plans", op)
WRONG = [
    (P, {"kind": 1}, "kind", "string"), (P, {"kind": None, "hosts": [HOST]}, "kind", "required"),
    (P, {"kind": ["drain"], "hosts": [HOST]}, "kind", "string"),
    (P, {"kind": {"a": 1}, "hosts": [HOST]}, "kind", "string"),
    (P, {"kind": True, "hosts": [HOST]}, "kind", "string"),
    (P, {"kind": "", "hosts": [HOST]}, "kind", "expected"),
    (P, {"kind": "x" * 100000, "hosts": [HOST]}, "kind", "at most"),
    (P, {"kind": "drain\u0000x", "hosts": [HOST]}, "kind", "NUL"),
    (P, {"kind": "sideways", "hosts": [HOST]}, "kind", "expected"),
    (P, {"hosts": [HOST]}, "kind", "required"),
    (P, {"kind": "drain"}, "hosts", "required"),
    (P, {"kind": "drain", "hosts": 7}, "hosts", "list"),
    (P, {"kind": "drain", "hosts": True}, "hosts", "list"),
    (P, {"kind": "drain", "hosts": {"a": 1}}, "hosts", "list"),
    (P, {"kind": "drain", "hosts": []}, "hosts", "no host"),
    (P, {"kind": "drain", "hosts": [1]}, "hosts[0]", "host name"),
    (P, {"kind": "drain", "hosts": [None]}, "hosts[0]", "host name"),
    (P, {"kind": "drain", "hosts": [HOST, [HOST]]}, "hosts[1]", "host name"),
    (P, {"kind": "drain", "hosts": [HOST] * 20000}, "hosts", "at most"),
    (P, {"kind": "drain", "hosts": [HOST + "\u0000x"]}, "hosts[0]", "NUL"),
    (P, {"kind": "drain", "hosts": [HOST], "policy": {"window": {"start": "1h\u0000"}}},
     "policy.window.start", "NUL"),
    (P, {"kind\u0000x": "drain", "hosts": [HOST]}, "kind", "NUL"),
    (P, {"kind": "drain", "hosts": ""}, "hosts", None),
    (P, {"kind": "drain", "hosts": "rack:" + "z" * 5000}, "hosts", None),
    (P, {"kind": "drain", "hosts": "((((((((("}, "hosts", None),
    (P, {"kind": "drain", "hosts": [HOST], "strategy": 3}, "strategy", "string"),
    (P, {"kind": "drain", "hosts": [HOST], "strategy": "fastest"}, "strategy", "expected"),
    (P, {"kind": "drain", "hosts": [HOST], "strategy": "x" * 5000}, "strategy", "at most"),
    (P, {"kind": "drain", "hosts": [HOST], "policy": "fast"}, "policy", "object"),
    (P, {"kind": "drain", "hosts": [HOST], "policy": [1]}, "policy", "object"),
    (P, {"kind": "drain", "hosts": [HOST], "policy": 1}, "policy", "object"),
    (P, {"kind": "drain", "hosts": [HOST], "policy": {"max_parallel_hosts": "x"}}, "policy",
     None),
    (P, {"kind": "drain", "hosts": [HOST], "policy": {"max_parallel_hosts": -1}}, "policy", None),
    (P, {"kind": "drain", "hosts": [HOST], "policy": {"bogus": 1}}, "policy", None),
    (P, {"kind": "drain", "hosts": [HOST], "policy": {"headroom": "lots"}}, "policy", None),
    (P, {"kind": "drain", "hosts": [HOST], "change": {}}, "change", "kind change"),
    (("POST", "/v1/plans/%s/approvals" % HASH, ap), {"comment": 5}, "comment", "string"),
    (("POST", "/v1/plans/%s/approvals" % HASH, ap), {"comment": ["a"]}, "comment", "string"),
    (("POST", "/v1/plans/%s/approvals" % HASH, ap), {"comment": "c" * 501}, "comment",
     "at most"),
    (("POST", "/v1/runs/1/pause", op), {"cancel_running": "yes"}, "cancel_running",
     "true or false"),
    (("POST", "/v1/runs/1/abort", op), {"cancel_running": 1}, "cancel_running",
     "true or false"),
    (("POST", "/v1/runs/1/abort", op), {"cancel_running": -1}, "cancel_running",
     "true or false"),
    (("POST", "/v1/runs/1/abort", op), {"cancel_running": [True]}, "cancel_running",
     "true or false"),
    (("PUT", "/v1/freeze", op), {"reason": 42}, "reason", "string"),
    (("PUT", "/v1/freeze", op), {"reason": None}, "reason", "required"),
    (("PUT", "/v1/freeze", op), {}, "reason", "required"),
    (("PUT", "/v1/freeze", op), {"reason": {"why": "x"}}, "reason", "string"),
    (("PUT", "/v1/freeze", op), {"reason": "r" * 251}, "reason", "at most"),
    (("PUT", "/v1/freeze", op), {"reason": "a\u0000b"}, "reason", "NUL"),
    (("POST", "/v1/vms/%s/start" % VM, op), {"host": 1}, "host", "string"),
    (("POST", "/v1/vms/%s/start" % VM, op), {"host": True}, "host", "string"),
    (("POST", "/v1/vms/%s/start" % VM, op), {"host": "no such/host"}, "host", "not a name"),
    (("POST", "/v1/vms/%s/start" % VM, op), {"host": "h" * 300}, "host", "at most"),
    (("POST", "/v1/vms/%s/start" % VM, op), {"host": "\u00e9\u00e9"}, "host", "not a name"),
    (("POST", "/v1/vms/%s/stop" % VM, op), {"host": HOST}, "host", "unknown field"),
]
for (method, path, tok), body, field, word in WRONG:
    expect("%s %s %s" % (method, path, json.dumps(body)[:80]), req(method, path, tok,
           json.dumps(body)), 400, field=field, words=(word,) if word else ())
# numbers JSON itself cannot hold (the message gives the column: the parser stops there)
for path, tok, key in [("/v1/plans", op, "kind"), ("/v1/plans/%s/approvals" % HASH, ap,
                       "comment"), ("/v1/runs/1/abort", op, "cancel_running")]:
    for num in ("1e400", "-1e400", "18446744073709551616", "-18446744073709551617"):
        expect("POST %s %s: %s" % (path, key, num),
               req("POST", path, tok, '{"%s": %s}' % (key, num)), 400, words=("JSON", "column"))
expect("policy 2^64", req("POST", "/v1/plans", op, '{"kind": "drain", "hosts": ["%s"], '
                          '"policy": {"max_parallel_hosts": 18446744073709551616}}' % HOST), 400,
       words=("JSON", "too big integer"))
alive("wrong types")

# ---- unknown routes, wrong methods, path tricks ----
for method, path, allow in [("DELETE", "/v1/hosts", "GET"), ("POST", "/v1/health", "GET"),
                            ("PATCH", "/v1/freeze", "GET, PUT, DELETE"),
                            ("PUT", "/v1/vms", "GET, POST"), ("GET", "/v1/inventory", "PUT"),
                            ("BREW", "/v1/version", "GET"),
                            ("GET", "/v1/plans/%s/runs" % HASH, "POST")]:
    r = req(method, path, op)
    expect("%s %s" % (method, path), r, 405, words=(method,))
    if r[0] == 405 and r[1].get("allow") != allow:
        fail("%s %s: Allow %r, want %r" % (method, path, r[1].get("allow"), allow))
for path in ["/v2/hosts", "/v1/host", "/v1", "/v1/hosts/a/b/c", "//v1/hosts", "/v1//hosts",
             "/v1/../v1/hosts", "/v1/%2e%2e/v1/hosts", "/%2e%2e/%2e%2e/etc/passwd",
             "/v1/hosts%2fx", "/v1/vms/a%2Fb/start/x", "/v1/hosts//", "/V1/HOSTS", "/v1/hosts\\x",
             "/v1/runs/1/2/3", "/favicon.ico", "/v1/hosts%00", "/v1/hosts%00/x", "*"]:
    expect("GET %s" % path, req("GET", path, viewer), (400, 404))
expect("GET /v1/hosts/ (one trailing slash is forgiven)", req("GET", "/v1/hosts/", viewer), 200,
       is_json=False)
expect("a 300-byte name", req("GET", "/v1/hosts/" + "a" * 300, viewer), (400, 404))
expect("a 3000-byte path", req("GET", "/v1/hosts/" + "a" * 3000, viewer), 414)
# past libmicrohttpd's 16 KiB of header memory per connection it answers itself (HTML)
expect("a 60 KB path", req("GET", "/v1/" + "a" * 60000, viewer), (414, 431), is_json=False)
expect("a name with spaces", req("GET", "/v1/hosts/a%20b", viewer), 404, field="a b")
expect("a name with a control byte", req("GET", "/v1/hosts/a%01b", viewer), (400, 404))
# libmicrohttpd (strict) closes these without an answer, or answers 400
expect("a raw space in the path", raw(b"GET /v1/hosts/a b HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n"), (None, 400), is_json=False)
expect("a query flood", req("GET", "/v1/vms?" + "&".join("h%d=xxxxxxxxxxxx" % i
                                                          for i in range(150)),
                            viewer), 414, words=("URL",))
expect("a query flood past the header memory", req("GET", "/v1/vms?" + "&".join(
    "h%d=x" % i for i in range(3000)), viewer), (None, 414, 431), is_json=False)
expect("a query with one huge value", req("GET", "/v1/vms?host=" + "x" * 8000, viewer), 414)
expect("a query with one value past the header memory",
       req("GET", "/v1/vms?host=" + "x" * 20000, viewer), (414, 431), is_json=False)
expect("run id 2^64", req("GET", "/v1/runs/18446744073709551616", viewer), 400, field="id")
expect("run id -1", req("GET", "/v1/runs/-1", viewer), 400, field="id")
expect("run id 1e400", req("POST", "/v1/runs/1e400/pause", op, "{}"), 400, field="id")
expect("plan hash uppercase", req("GET", "/v1/plans/" + "AB" * 32, viewer), 400, field="hash")
expect("plan hash short", req("POST", "/v1/plans/abc/approvals", ap, "{}"), 400, field="hash")
expect("run action unknown", req("POST", "/v1/runs/1/explode", op, "{}"), 404, field="action")
expect("vm action unknown", req("POST", "/v1/vms/%s/explode" % VM, op, "{}"), 404,
       field="action")
expect("vm unknown", req("POST", "/v1/vms/nope/start", op, "{}"), 404, field="name")
for q in ["since=1e400", "since=-1", "limit=-5", "limit=18446744073709551616", "timeout=abc",
          "since=%ff"]:
    expect("GET /v1/events?" + q, req("GET", "/v1/events?" + q, viewer), 400)
alive("routes and paths")

# ---- non-UTF-8 in the URL and the method ----
expect("non-UTF-8 in the path", raw(b"GET /v1/hosts/\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: Bearer " + viewer.encode() +
                                    b"\r\nConnection: close\r\n\r\n"), (400, 404), field="path")
expect("percent-encoded non-UTF-8", req("GET", "/v1/hosts/%ff%c3%28", viewer), (400, 404),
       field="path")
expect("non-UTF-8 in an unknown route", req("GET", "/\xff/x".encode("latin-1"), viewer),
       (400, 404))
expect("non-UTF-8 in the method", raw(b"G\xe9T /v1/health HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n"), (400, 405))
expect("non-UTF-8 in a query value", req("GET", "/v1/vms?host=%ff", viewer), (200, 400),
       is_json=False)
expect("a 200-byte method", raw(b"M" * 200 + b" /v1/health HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n"), (400, 405, 501))
alive("non-UTF-8")

# ---- headers ----
big = b"X-Big: " + b"a" * (70 * 1024) + b"\r\n"
r = raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + big + b"Connection: close\r\n\r\n")
count[0] += 1
if r[0] is not None and r[0] not in (400, 413, 431):
    fail("a 70 KB header: %r" % (r[0],))
many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(3000))
r = raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + many + b"Connection: close\r\n\r\n")
count[0] += 1
if r[0] is not None and r[0] not in (400, 413, 431):
    fail("3000 headers: %r" % (r[0],))
expect("100 small headers are fine", req("GET", "/v1/health", headers=["X-A%d: b" % i
                                                                      for i in range(100)]),
       200, is_json=False)
expect("a header without a colon", raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nNoColon\r\n"
                                       b"Connection: close\r\n\r\n"), 400, is_json=False)
expect("no Host header in HTTP/1.1", raw(b"GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n"),
       400, is_json=False)
expect("not HTTP at all", raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64 +
                              b"\r\n\r\n"), (None, 400, 505), is_json=False)
alive("headers")

# ---- Content-Length and bodies ----
POSTP = b"POST /v1/plans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + op.encode() + \
    b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
expect("Content-Length -1", raw(POSTP + b"Content-Length: -1\r\n\r\n{}"), 400, is_json=False)
expect("Content-Length abc", raw(POSTP + b"Content-Length: abc\r\n\r\n{}"), 400, is_json=False)
expect("Content-Length 2^64", raw(POSTP + b"Content-Length: 18446744073709551616\r\n\r\n{}"),
       (400, 413), is_json=False)
expect("two Content-Lengths", raw(POSTP + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
       400, is_json=False)
expect("Content-Length and chunked", raw(POSTP + b"Content-Length: 2\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
       (400, 411, 415), is_json=False)
t0 = time.time()
r = raw(POSTP + b"Content-Length: 100\r\n\r\n{}", timeout=TIMEOUT_S + 10)
count[0] += 1
if r[0] is not None and not 400 <= r[0] < 500:
    fail("Content-Length bigger than the body: %r" % (r[0],))
if time.time() - t0 > TIMEOUT_S + 5:
    fail("Content-Length bigger than the body: held %.1f s" % (time.time() - t0))
# over 1 MiB: refused on its headers, before the body (none of it is sent before the answer)
r = raw(POSTP + b"Content-Length: %d\r\n\r\n" % (2 << 20), b"x" * (2 << 20), read_first=True)
expect("a 2 MiB body on POST /v1/plans", r, 413, words=("bytes",))
r = raw(POSTP.replace(b"/v1/plans", b"/v1/inventory").replace(b"POST", b"PUT") +
        b"Content-Length: %d\r\n\r\n" % (17 << 20), b"", read_first=True)
expect("a 17 MiB body on PUT /v1/inventory", r, 413)
r = req("PUT", "/v1/inventory", op, "# not an inventory\n" + "x" * (2 << 20), ctype="text/yaml")
expect("a 2 MiB inventory is under its 16 MiB cap (and not an inventory)", r, 400)
chunks = b"".join(b"10000\r\n" + b"y" * 0x10000 + b"\r\n" for _ in range(18)) + b"0\r\n\r\n"
expect("a chunked body over 1 MiB", raw(POSTP + b"Transfer-Encoding: chunked\r\n\r\n", chunks),
       413)
expect("a bad chunk size", raw(POSTP + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
       (400, 413), is_json=False)
expect("an empty body where kind is required", req("POST", "/v1/plans", op, ""), 400,
       field="kind")
alive("bodies")

# ---- auth ----
expect("no Authorization", req("GET", "/v1/hosts"), 401, field="Authorization")
expect("'Bearer ' empty", req("GET", "/v1/hosts", headers=["Authorization: Bearer "]), 401,
       field="Authorization")
expect("'Basic'", req("GET", "/v1/hosts", headers=["Authorization: Basic YTpi"]), 401,
       field="Authorization")
expect("'bearer' lowercase, bad token", req("GET", "/v1/hosts", headers=["Authorization: bearer x"]),
       401, field="Authorization")
expect("a 10 KB token", req("GET", "/v1/hosts", "t" * 10240), 401, field="Authorization")
expect("an unknown token", req("GET", "/v1/hosts", "hvf_" + "0" * 43), 401,
       field="Authorization")
expect("a token with non-UTF-8", req("GET", "/v1/hosts", headers=[b"Authorization: Bearer \xff"]),
       401, is_json=False)
expect("a viewer plans", req("POST", "/v1/plans", viewer, '{"kind":"drain"}'), 403,
       words=("viewer",))
expect("an approver freezes", req("PUT", "/v1/freeze", ap, '{"reason":"x"}'), 403)
expect("an operator approves", req("POST", "/v1/plans/%s/approvals" % HASH, op, "{}"), 403)
expect("a viewer stops a VM", req("POST", "/v1/vms/%s/stop" % VM, viewer, "{}"), 403)
expect("a viewer replaces the inventory", req("PUT", "/v1/inventory", viewer, "x"), 403)
alive("auth")

# ---- slow clients: a slowloris is dropped after the connection timeout ----
slow = socket.create_connection(("127.0.0.1", d.port), timeout=1)
req_bytes = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100
t0 = time.time()
dropped = None
i = 0
while time.time() - t0 < TIMEOUT_S + 6:
    try:
        slow.sendall(req_bytes[i:i + 1])
        i += 1
        data = slow.recv(4096)  # nothing to read: times out after 1 s
        if not data:
            dropped = time.time() - t0
            break
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        dropped = time.time() - t0
        break
    # the others are served meanwhile
    if d.request("GET", "/v1/health", timeout=5)[0] != 200:
        fail("slowloris: the daemon does not serve others")
        break
slow.close()
count[0] += 1
if dropped is None:
    fail("slowloris: still connected after %.1f s (timeout %d s)" % (time.time() - t0, TIMEOUT_S))
elif dropped < TIMEOUT_S - 0.5:
    fail("slowloris: dropped after %.1f s, before its timeout" % dropped)
# an idle connection too
idle = socket.create_connection(("127.0.0.1", d.port), timeout=TIMEOUT_S + 5)
t0 = time.time()
try:
    gone = idle.recv(10) == b""
except (socket.timeout, ConnectionResetError):
    gone = False
count[0] += 1
if not gone or time.time() - t0 > TIMEOUT_S + 3:
    fail("an idle connection is not dropped after %d s" % TIMEOUT_S)
idle.close()
alive("slow clients")

# ---- a connection flood past the per-IP limit (8) ----
flood = []
for _ in range(40):
    try:
        flood.append(socket.create_connection(("127.0.0.1", d.port), timeout=2))
    except OSError:
        pass
served = 0
# keep-alive: a served connection stays open, so the count is of connections at once (with
# "Connection: close" a slot frees as each answer goes, and the backlog is served in turn)
for c in flood:
    try:
        c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
pending = list(flood)
deadline = time.time() + 3
while pending and time.time() < deadline:
    ready, _, _ = select.select(pending, [], [], max(0.0, deadline - time.time()))
    for c in ready:
        pending.remove(c)
        try:
            if c.recv(64).startswith(b"HTTP/1.1 200"):
                served += 1
        except OSError:
            pass
for c in flood:
    c.close()
count[0] += 1
if served > 8:
    fail("flood: %d connections of one IP served at once, limit 8" % served)
# the daemon sees the flood's sockets closed in its next round: until then the per-IP limit
# still counts them, so give it a few seconds to serve again
flood_end = time.time() + 10
while time.time() < flood_end:
    try:
        if d.request("GET", "/v1/health", timeout=5)[0] == 200:
            break
    except OSError:
        time.sleep(0.2)
alive("connection flood")

check(d.stop() == 0, "SIGTERM after the battery: exit 0")

# ---- the per-token rate limit: a daemon with 5 a second, burst 5 ----
with open(conf, "w") as f:
    f.write("rate_per_s: 5\nrate_burst: 5\n")
d.start(extra=["--config", conf])
tok = d.token("viewer", "rl")
time.sleep(1.1)  # the daemon reloads its tokens at most once a second
t0 = time.time()
codes = []
while len(codes) < 12 and (not codes or codes[-1][0] != 429):
    codes.append(d.request("GET", "/v1/hosts", tok))
elapsed = time.time() - t0
count[0] += 1
served = [c[0] for c in codes[:-1]]
# the burst (5) is served, then the bucket refills 5 a second: a slow machine may earn a few more
if served[:5] != [200] * 5 or len(served) > 5 + int(elapsed * 5 + 1):
    fail("rate limit: %d served in %.2f s before the 429, want 5 (+5/s)" % (len(served), elapsed))
s, h, body = codes[-1]
expect("the request past the burst", codes[-1], 429, words=("rl",))
ra = h.get("retry-after")
if s == 429:
    if not ra or not ra.isdigit() or int(ra) < 1:
        fail("429 without a Retry-After in seconds: %r" % h)
    else:
        time.sleep(int(ra))
        expect("after Retry-After", d.request("GET", "/v1/hosts", tok), 200, is_json=False)
# another token has its own bucket
expect("another token is not limited", d.request("GET", "/v1/hosts", viewer), 200, is_json=False)
check(d.request("GET", "/v1/health")[0] == 200, "health is not rate-limited")
check(d.stop() == 0, "SIGTERM: exit 0")
log = d.log_text()
if "AddressSanitizer" in log or "runtime error" in log:
    fail("sanitizer report in the log: " + log[-3000:])
report()
