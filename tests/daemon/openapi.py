#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""GET /v1/openapi.json is true: a real hvfleetd serves docs/openapi.json byte for byte; it
describes every route of src/daemon/route.c and nothing else, with the permission each route
checks; every route driven on its normal path and on error paths answers a documented status
with a body its schema accepts (a small JSON-schema validator below: an undocumented field
where additionalProperties is false, or a required one missing, fails); each JSON body's
documented fields are the ones the handler accepts; docs/api.md names every route; and
scripts/embed-json refuses a broken document (so the build fails).
Usage: openapi.py HVFLEETD HVFLEET SOURCE-ROOT"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from hvfd import Daemon, check, wait_for

SRC = sys.argv[3]
DOC_PATH = os.path.join(SRC, "docs", "openapi.json")
DOC = json.load(open(DOC_PATH))
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# ---- the validator: the subset of JSON schema (OpenAPI 3.0) the document uses ----

KNOWN = {"type", "properties", "required", "additionalProperties", "items", "enum", "nullable",
         "$ref", "anyOf", "description", "minimum", "maximum", "pattern", "maxLength"}


def resolve(ref):
    check(ref.startswith("#/"), "only local $ref: " + ref)
    node = DOC
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def validate(schema, v, where="$"):
    """The problems of @v against @schema, as a list of lines (empty: valid)."""
    if "$ref" in schema:
        return validate(resolve(schema["$ref"]), v, where)
    unknown = set(schema) - KNOWN
    if unknown:
        return ["%s: the schema uses %s, which this validator does not know" % (where, unknown)]
    if v is None:
        return [] if schema.get("nullable") else ["%s: null where the schema says not nullable"
                                                  % where]
    if "anyOf" in schema:
        if not any(not validate(s, v, where) for s in schema["anyOf"]):
            return ["%s: %s matches none of anyOf" % (where, json.dumps(v)[:80])]
        return []
    t = schema.get("type")
    ok = {"object": isinstance(v, dict), "array": isinstance(v, list),
          "string": isinstance(v, str), "boolean": isinstance(v, bool),
          "integer": isinstance(v, int) and not isinstance(v, bool),
          "number": isinstance(v, (int, float)) and not isinstance(v, bool), None: True}[t]
    if not ok:
        return ["%s: %s is not of type %s" % (where, json.dumps(v)[:80], t)]
    out = []
    if "enum" in schema and v not in schema["enum"]:
        out.append("%s: %s is not one of %s" % (where, json.dumps(v), schema["enum"]))
    if "minimum" in schema and v < schema["minimum"]:
        out.append("%s: %s < minimum %s" % (where, v, schema["minimum"]))
    if "maximum" in schema and v > schema["maximum"]:
        out.append("%s: %s > maximum %s" % (where, v, schema["maximum"]))
    if "pattern" in schema and not re.search(schema["pattern"], v):
        out.append("%s: '%s' does not match %s" % (where, v[:80], schema["pattern"]))
    if "maxLength" in schema and len(v) > schema["maxLength"]:
        out.append("%s: longer than %d" % (where, schema["maxLength"]))
    if t == "object":
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                out.append("%s: the required field '%s' is missing" % (where, k))
        addl = schema.get("additionalProperties", True)
        for k, x in v.items():
            if k in props:
                out += validate(props[k], x, where + "." + k)
            elif addl is False:
                out.append("%s: the field '%s' is not documented (additionalProperties: false)"
                           % (where, k))
            elif isinstance(addl, dict):
                out += validate(addl, x, where + "." + k)
    if t == "array" and "items" in schema:
        for n, x in enumerate(v):
            out += validate(schema["items"], x, "%s[%d]" % (where, n))
    return out


def walk_schemas(node, where):
    """Every schema object of the document uses only the keywords the validator knows."""
    if isinstance(node, dict):
        for k in ("schema",):
            if k in node and isinstance(node[k], dict):
                check_schema(node[k], where + "/" + k)
        for k, x in node.items():
            if k != "schema":
                walk_schemas(x, where + "/" + k)
    elif isinstance(node, list):
        for n, x in enumerate(node):
            walk_schemas(x, "%s/%d" % (where, n))


def check_schema(s, where):
    check(isinstance(s, dict), where + ": a schema must be an object")
    check(not (set(s) - KNOWN), "%s: keywords %s are outside the validated subset"
          % (where, set(s) - KNOWN))
    for k, x in s.get("properties", {}).items():
        check_schema(x, where + "/properties/" + k)
    for k in ("items",):
        if k in s:
            check_schema(s[k], where + "/" + k)
    if isinstance(s.get("additionalProperties"), dict):
        check_schema(s["additionalProperties"], where + "/additionalProperties")
    for n, x in enumerate(s.get("anyOf", [])):
        check_schema(x, "%s/anyOf/%d" % (where, n))
    if s.get("type") == "object" and "additionalProperties" not in s:
        check(False, where + ": say additionalProperties (false, or true when open on purpose)")


for name, s in DOC["components"]["schemas"].items():
    check_schema(s, "#/components/schemas/" + name)
walk_schemas(DOC["paths"], "#/paths")

# the validator itself: an undocumented field and a missing required field are caught
host_schema = {"$ref": "#/components/schemas/Host"}
sample = {"name": "h", "state": "active", "usable_mib": 1, "used_mib": 0, "vcpus": 1,
          "used_vcpus": 0, "vms": 0}
check(validate(host_schema, sample) == [], validate(host_schema, sample))
check(any("not documented" in p for p in validate(host_schema, dict(sample, bogus=1))),
      "the validator misses an undocumented field")
check(any("required" in p for p in validate(host_schema, {k: v for k, v in sample.items()
                                                          if k != "vms"})),
      "the validator misses a missing required field")
check(validate(host_schema, dict(sample, state="melting")) != [], "the validator misses an enum")

# ---- (a) the routes: route.c's table and the document, both ways ----

route_c = open(os.path.join(SRC, "src", "daemon", "route.c")).read()
start = route_c.index("hvfd_routes[] = {")
table = route_c[start:route_c.index("};", start)]
ROUTES = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(0|R|OP|AP|AG),', table)
check(ROUTES and len(ROUTES) == table.count("hvfd_api_"),
      ("every entry of route.c's table read", ROUTES))
PERMS = {"0": "none", "R": "read", "OP": "operate", "AP": "approve", "AG": "agent"}


def fits(pattern, path):
    """route.c's matching: {x} takes one non-empty segment."""
    a, b = pattern.split("/"), path.split("/")
    return len(a) == len(b) and all(x == y or (x.startswith("{") and y) for x, y in zip(a, b))


OPS = {}  # (METHOD, doc path) -> operation
for path, item in DOC["paths"].items():
    for m, o in item.items():
        check(m in METHODS, (path, m))
        OPS[(m.upper(), path)] = o
covered = set()
for (m, path), o in OPS.items():
    hits = [(rm, rp, perm) for rm, rp, perm in ROUTES if rm == m and fits(rp, path)]
    check(len(hits) == 1, ("%s %s is not exactly one route of route.c" % (m, path), hits))
    rm, rp, perm = hits[0]
    check(o.get("x-hvfleet-route") == rp, ("%s %s: x-hvfleet-route should be %s" % (m, path, rp)))
    check(o.get("x-hvfleet-perm") == PERMS[perm], ("%s %s: perm" % (m, path), perm))
    check((o.get("security") == []) == (perm == "0"), "%s %s: security vs perms" % (m, path))
    params = [p["name"] for p in o.get("parameters", []) if p["in"] == "path"]
    check(params == re.findall(r"\{(\w+)\}", path), ("%s %s: path parameters" % (m, path), params))
    covered.add((rm, rp))
check(covered == {(m, p) for m, p, _ in ROUTES},
      ("routes of route.c the document misses", {(m, p) for m, p, _ in ROUTES} - covered))
check(DOC["openapi"].startswith("3.0."), DOC["openapi"])
PENDING = {k for k, o in OPS.items() if o.get("x-hvfleet-pending")}

# docs/api.md has a section for every operation, marked when it is not served yet
api_md = open(os.path.join(SRC, "docs", "api.md")).read()
sections = dict(re.findall(r"^### `([A-Z]+ [^`]+)`\n(.*?)(?=^##|\Z)", api_md, re.M | re.S))
for m, path in OPS:
    text = sections.get("%s %s" % (m, path))
    check(text is not None, "docs/api.md has no section ### `%s %s`" % (m, path))
    check(("Not served yet" in text) == ((m, path) in PENDING),
          "docs/api.md: `%s %s` is%s marked 'Not served yet'" % (m, path, "" if (m, path) not in
                                                                  PENDING else " not"))
    check("```sh\ncurl " in text, "docs/api.md: `%s %s` has no example request" % (m, path))
check(set(sections) == {"%s %s" % k for k in OPS},
      ("docs/api.md documents routes that are not in docs/openapi.json",
       set(sections) - {"%s %s" % k for k in OPS}))

# scripts/embed-json (the build step) refuses a broken document, naming the line
with tempfile.TemporaryDirectory(prefix="hvfd-openapi-") as tmp:
    bad = os.path.join(tmp, "openapi.json")
    text = open(DOC_PATH).read()
    open(bad, "w").write(text.replace('"paths": {', '"paths": {,', 1))
    r = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "embed-json"), bad,
                        os.path.join(tmp, "out.c"), "sym"], capture_output=True, text=True)
    line = text[:text.index('"paths": {')].count("\n") + 1
    check(r.returncode == 2 and ("openapi.json:%d:" % line) in r.stderr
          and not os.path.exists(os.path.join(tmp, "out.c")), ("embed-json on bad JSON", r))

# ---- the daemon ----

d = Daemon(sys.argv[1], sys.argv[2], speed=500, name="hvfd-openapi")
op = d.token("operator", "alice")
ap = d.token("approver", "bob")
both = d.token("operator,approver", "carol")
viewer = d.token("viewer", "vic")
burst = d.token("viewer", "burst")
agent = d.token("agent", "agent-kvm0001", host="kvm0001")
d.start()

seen = {}  # (METHOD, doc path) -> set of statuses checked


def doc_op(method, path):
    """The documented operation of a concrete path: literal segments before parameters."""
    best = None
    for (m, p), o in OPS.items():
        if m == method and fits(p, path):
            score = sum(not s.startswith("{") for s in p.split("/"))
            if best is None or score > best[0]:
                best = (score, p, o)
    return (best[1], best[2]) if best else (None, None)


def response_of(o, status):
    r = o["responses"].get(str(status))
    if r and "$ref" in r:
        r = resolve(r["$ref"])
    return r


def verify(method, path, status, headers, body):
    """Checks a real answer against the document; records it."""
    bare = path.split("?")[0]
    if len(bare) > 1 and bare.endswith("/"):
        bare = bare[:-1]
    dpath, o = doc_op(method, bare)
    if o is None:  # unknown path or method: 404 or 405 with an Error
        check(status in (404, 405), (method, path, status, body))
        problems = validate({"$ref": "#/components/schemas/Error"}, body)
        check(not problems, (method, path, problems))
        return
    key = (method, dpath)
    r = response_of(o, status)
    if r is None:
        check(False, "%s %s answered %d, which %s %s does not document (%s)"
              % (method, path, status, method, dpath, json.dumps(body)[:300]))
    if key in PENDING:
        check(status >= 300, "%s %s is served now (it answered %d): drop its x-hvfleet-pending "
              "and its 'Not served yet' in docs/api.md" % (method, dpath, status))
    ctype = headers.get("content-type", "")
    types = list(r.get("content", {}))
    match = [t for t in types if ctype.split(";")[0].strip() == t]
    check(match, "%s %s %d: Content-Type '%s', documented %s" % (method, path, status, ctype,
                                                                types))
    if match[0] == "application/json":
        problems = validate(r["content"]["application/json"]["schema"], body)
        check(not problems, "%s %s answered %d with a body the document refuses:\n  %s\n%s"
              % (method, path, status, "\n  ".join(problems), json.dumps(body)[:600]))
        if status >= 400:
            check(body["request_id"] == headers.get("x-request-id") and
                  body["error"]["status"] == status, (method, path, body))
    for h, spec in r.get("headers", {}).items():
        if h.lower() == "retry-after" and status == 429:
            check(headers.get("retry-after", "").isdigit(), (method, path, "Retry-After", headers))
    seen.setdefault(key, set()).add(status)


def call(method, path, token=None, body=None, expect=None, **kw):
    """A request whose body the document's request schema accepts, and whose answer it
    describes. @expect: the status wanted (None: any documented)."""
    bare = path.split("?")[0]
    dpath, o = doc_op(method, bare)
    if body is not None and o is not None and "requestBody" in o and expect is not None and \
            expect < 300:
        sch = o["requestBody"]["content"].get("application/json", {}).get("schema")
        if sch:
            problems = validate(sch, body)
            check(not problems, ("the request schema refuses a request the handler takes",
                                 method, path, problems))
    s, h, b = d.request(method, path, token, body, **kw)
    if expect is not None:
        check(s == expect, "%s %s: %d, expected %d: %s" % (method, path, s, expect,
                                                           json.dumps(b)[:400]))
    verify(method, path, s, h, b)
    return s, h, b


# GET /v1/openapi.json: the document, byte for byte
conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
conn.request("GET", "/v1/openapi.json")
resp = conn.getresponse()
served = resp.read()
check(resp.status == 200 and resp.getheader("Content-Type") == "application/json",
      (resp.status, resp.getheaders()))
check(served == open(DOC_PATH, "rb").read(), "the daemon serves docs/openapi.json as it is")
conn.close()
verify("GET", "/v1/openapi.json", 200, {"content-type": "application/json"}, json.loads(served))

# ---- fleet routes (tests/daemon/api.py's sequence, each answer checked) ----
_, _, health = call("GET", "/v1/health", expect=200)
_, _, ver = call("GET", "/v1/version", expect=200)
check(DOC["info"]["version"] == ver["version"], ("info.version", ver))
_, _, hosts = call("GET", "/v1/hosts", viewer, expect=200)
h0 = hosts["hosts"][0]
call("GET", "/v1/hosts/" + h0["name"], viewer, expect=200)
call("GET", "/v1/hosts/no-such-host", viewer, expect=404)
call("GET", "/v1/hosts", expect=401)
call("GET", "/v1/hosts", "hvf_not-a-token", expect=401)
_, _, vms = call("GET", "/v1/vms", viewer, expect=200)
vm0 = vms["vms"][0]
call("GET", "/v1/vms?host=" + h0["name"], viewer, expect=200)
call("GET", "/v1/vms", expect=401)
call("GET", "/v1/vms/" + vm0["name"], viewer, expect=200)
call("GET", "/v1/vms/no-such-vm", viewer, expect=404)
call("GET", "/v1/services", viewer, expect=200)
call("GET", "/v1/services", expect=401)
call("GET", "/v1/audit", viewer, expect=200)
call("GET", "/v1/audit", expect=401)
s, h, m = call("GET", "/metrics", viewer, expect=200)
check(m.startswith("# HELP"), m[:200])
call("GET", "/metrics", expect=401)
call("PATCH", "/v1/hosts", viewer, expect=405)
call("GET", "/v1/nothing-here", viewer, expect=404)

# every JSON body: the fields the document lists are the ones the handler accepts (body.c
# names them when it refuses one), and an unknown one is a 400 naming it
first_plan = {}


def body_fields(method, path, concrete, token):
    o = OPS[(method, path)]
    sch = o.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if not sch:
        return
    sch = resolve(sch["$ref"]) if "$ref" in sch else sch
    s, h, b = call(method, concrete, token, {"zz_unknown": 1})
    if (method, path) in PENDING and s == 501:
        return
    check(s == 400 and b["error"].get("field") == "zz_unknown", (method, concrete, s, b))
    check(sch.get("additionalProperties") is False, (method, path, "additionalProperties"))
    listed = re.search(r"\(expected (.*)\)$", b["error"]["message"]).group(1)
    got = set() if listed == "no body" else set(listed.split(", "))
    check(got == set(sch.get("properties", {})),
          "%s %s: the handler takes %s, the document says %s" % (method, path, sorted(got),
                                                                 sorted(sch["properties"])))


# ---- plans, approvals, runs ----
rack = "rack:%s/%s" % (h0["zone"], h0["rack"])
call("POST", "/v1/plans", viewer, {"kind": "drain", "hosts": [h0["name"]]}, expect=403)
call("POST", "/v1/plans", op, {"kind": "drain", "hosts": ["no-such-host"]}, expect=404)
call("POST", "/v1/plans", op, {"kind": "drain"}, expect=400)
call("POST", "/v1/plans", op, {"kind": "change", "hosts": [h0["name"]]}, expect=400)
change = {"schema": "hvfleet.change/v1", "name": "kernel-update", "kind": "package",
          "targets": {"hosts": rack}, "waves": {"canary": 1, "apply": "1m", "bake": "5m"},
          "gates": [{"type": "client_io_latency", "max": "50ms", "percentile": 99}]}
cp = call("POST", "/v1/plans", op, {"kind": "change", "change": change}, expect=201)[2]
call("GET", "/v1/plans/" + cp["plan_hash"], viewer, expect=200)
call("POST", "/v1/plans", op, {"kind": "change", "change": dict(change, kind="nope")},
     expect=400)
call("POST", "/v1/plans", op, raw=b"{", headers={"Content-Type": "application/json"},
     expect=400)
call("POST", "/v1/plans", op, raw=b"{}", headers={"Content-Type": "text/plain"}, expect=415)
_, _, p = call("POST", "/v1/plans", both, {"kind": "maintenance", "hosts": rack}, expect=201)
hsh = p["plan_hash"]
body_fields("POST", "/v1/plans", "/v1/plans", op)
call("GET", "/v1/plans/" + hsh, viewer, expect=200)
call("GET", "/v1/plans/" + "0" * 64, viewer, expect=404)
call("GET", "/v1/plans/not-a-hash", viewer, expect=400)
call("GET", "/v1/plans/%s/approvals" % hsh, viewer, expect=200)
call("GET", "/v1/plans/%s/approvals" % ("0" * 64), viewer, expect=404)
call("POST", "/v1/plans/%s/runs" % hsh, op, expect=409)  # not approved
call("POST", "/v1/plans/%s/approvals" % hsh, both, expect=403)  # the two-person rule
call("POST", "/v1/plans/%s/approvals" % hsh, op, expect=403)  # an operator may not approve
body_fields("POST", "/v1/plans/{hash}/approvals", "/v1/plans/%s/approvals" % hsh, ap)
call("POST", "/v1/plans/%s/approvals" % hsh, ap, {"comment": "looks right"}, expect=201)
call("POST", "/v1/plans/%s/approvals" % hsh, ap, expect=409)  # the same approver twice
call("GET", "/v1/plans/%s/approvals" % hsh, viewer, expect=200)
body_fields("POST", "/v1/plans/{hash}/runs", "/v1/plans/%s/runs" % hsh, op)
_, _, run = call("POST", "/v1/plans/%s/runs" % hsh, op, expect=201)
rid = run["id"]
call("POST", "/v1/plans/%s/runs" % hsh, op, expect=409)  # one run at a time
call("GET", "/v1/runs/%d" % rid, viewer, expect=200)
call("GET", "/v1/runs/999999", viewer, expect=404)
call("GET", "/v1/runs/abc", viewer, expect=400)
body_fields("POST", "/v1/runs/{id}/pause", "/v1/runs/%d/pause" % rid, op)
call("POST", "/v1/runs/%d/pause" % rid, viewer, expect=403)
call("POST", "/v1/runs/%d/pause" % rid, op, expect=202)
wait_for(lambda: call("GET", "/v1/runs/%d" % rid, viewer)[2]["state"] == "paused",
         "the run pauses")
call("POST", "/v1/runs/%d/resume" % rid, op, expect=200)
call("POST", "/v1/runs/%d/resume" % rid, op, expect=409)  # running, not paused
call("POST", "/v1/runs/%d/abort" % rid, op, {"cancel_running": False}, expect=202)
fin = wait_for(lambda: (lambda r: r if r["state"] in ("done", "aborted", "failed") else None)(
    call("GET", "/v1/runs/%d" % rid, viewer)[2]), "the run ends", timeout=60)
call("GET", "/v1/plans/" + hsh, viewer, expect=200)  # now with its run
call("POST", "/v1/runs/%d/abort" % rid, op, expect=409)  # ended
call("POST", "/v1/runs/%d/resume" % rid, op, expect=409)
call("POST", "/v1/runs/%d/pause" % rid, op, expect=409)
call("POST", "/v1/runs/%d/reboot" % rid, op, expect=404)

# ---- the freeze ----
call("GET", "/v1/freeze", viewer, expect=200)
call("GET", "/v1/freeze", expect=401)
call("PUT", "/v1/freeze", ap, {"reason": "x"}, expect=403)
call("PUT", "/v1/freeze", op, {}, expect=400)
body_fields("PUT", "/v1/freeze", "/v1/freeze", op)
# a body over 1 MiB is refused on its Content-Length, before it is sent
conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
conn.putrequest("PUT", "/v1/freeze")
for k, v in (("Authorization", "Bearer " + op), ("Content-Type", "application/json"),
             ("Content-Length", str((1 << 20) + 1))):
    conn.putheader(k, v)
conn.endheaders()
resp = conn.getresponse()
verify("PUT", "/v1/freeze", resp.status, {k.lower(): v for k, v in resp.getheaders()},
       json.loads(resp.read()))
check(resp.status == 413, resp.status)
conn.close()
call("PUT", "/v1/freeze", op, {"reason": "incident 42"}, expect=200)
call("GET", "/v1/freeze", viewer, expect=200)
_, _, p2 = call("POST", "/v1/plans", op, {"kind": "drain", "hosts": [h0["name"]],
                                          "strategy": "hvfleet", "policy": {}}, expect=201)
call("POST", "/v1/plans/%s/approvals" % p2["plan_hash"], ap)
call("POST", "/v1/plans/%s/runs" % p2["plan_hash"], op, expect=409)  # frozen
call("DELETE", "/v1/freeze", viewer, expect=403)
call("DELETE", "/v1/freeze", op, expect=200)

# ---- events ----
_, _, ev = call("GET", "/v1/events?since=0&limit=1000", viewer, expect=200)
types = set()
for e in ev["events"]:
    sch = DOC["components"]["schemas"].get("EventData_" + e["type"])
    check(sch is not None, "event type %s has no EventData_%s in the document" % (e["type"],
                                                                                e["type"]))
    problems = validate(sch, e["data"])
    check(not problems, ("event data", e, problems))
    types.add(e["type"])
check({"plan", "approval", "journal", "run_control", "freeze", "unfreeze"} <= types, types)
call("GET", "/v1/events?since=%d&timeout=1" % ev["last"], viewer, expect=200, timeout=20)
call("GET", "/v1/events?limit=5000", viewer, expect=400)
call("GET", "/v1/events?since=-1", viewer, expect=400)
call("GET", "/v1/events", expect=401)
call("GET", "/v1/events/stream?since=x", viewer, expect=400)
call("GET", "/v1/events/stream", expect=401)
conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
conn.request("GET", "/v1/events/stream?since=%d" % (ev["last"] - 3),
             headers={"Authorization": "Bearer " + viewer})
resp = conn.getresponse()
verify("GET", "/v1/events/stream", resp.status,
       {k.lower(): v for k, v in resp.getheaders()}, None)
datas = []
deadline = time.time() + 20
while len(datas) < 3 and time.time() < deadline:
    line = resp.fp.readline().decode()
    if line.startswith("data: "):
        datas.append(json.loads(line[6:]))
conn.close()
check(len(datas) == 3, datas)
for e in datas:
    problems = validate({"$ref": "#/components/schemas/Event"}, e)
    check(not problems, ("an SSE event", e, problems))

# ---- VMs: one running on a host the run did not touch ----
_, _, hosts = call("GET", "/v1/hosts", viewer, expect=200)
active = {h["name"] for h in hosts["hosts"] if h["state"] == "active" and h["name"] != h0["name"]
          and h.get("rack") != h0.get("rack")}
vm0 = [v for v in call("GET", "/v1/vms", viewer, expect=200)[2]["vms"]
       if v["host"] in active and v["state"] == "running"][0]
body_fields("POST", "/v1/vms/{name}/stop", "/v1/vms/%s/stop" % vm0["name"], op)
body_fields("POST", "/v1/vms/{name}/start", "/v1/vms/%s/start" % vm0["name"], op)
call("POST", "/v1/vms/%s/stop" % vm0["name"], viewer, expect=403)
call("POST", "/v1/vms/no-such-vm/stop", op, expect=404)
call("POST", "/v1/vms/%s/stop" % vm0["name"], op, expect=200)
call("POST", "/v1/vms/no-such-vm/start", op, expect=404)
call("POST", "/v1/vms/%s/start" % vm0["name"], op, {"host": "bad name!"}, expect=400)
call("POST", "/v1/vms/%s/start" % vm0["name"], op, {"host": vm0["host"]}, expect=200)
call("POST", "/v1/vms/%s/reboot" % vm0["name"], op, expect=404)
call("POST", "/v1/vms/%s/migrate" % vm0["name"], op, {})
call("POST", "/v1/vms/no-such-vm/migrate", op, expect=404)
body_fields("POST", "/v1/vms/{name}/migrate", "/v1/vms/%s/migrate" % vm0["name"], op)
call("POST", "/v1/vms", op, {"name": "new-1", "mem_mib": 1024, "vcpus": 1})
call("POST", "/v1/vms", viewer, {"name": "new-1", "mem_mib": 1024, "vcpus": 1}, expect=403)
body_fields("POST", "/v1/vms", "/v1/vms", op)
call("DELETE", "/v1/vms/no-such-vm", op, expect=404)
call("DELETE", "/v1/vms/%s" % vm0["name"], viewer, expect=403)
call("DELETE", "/v1/vms/%s" % vm0["name"], op, expect=200)
# ---- agents (docs/agent-protocol.md) ----
facts = {"agent_version": "0.1.0", "kernel": "6.1.0", "cpus": 64, "mem_mib": 524288,
         "nics": [{"name": "eno1", "mac": "3c:ec:ef:00:11:22"}], "vms": []}
_, _, sy = call("POST", "/v1/agent/sync", agent, {"host": "kvm0001", "session": "",
                                                  "facts": facts, "wait_s": 0}, expect=200)
call("POST", "/v1/agent/sync", agent,
     {"host": "kvm0001", "session": sy["session"], "wait_s": 0,
      "events": [{"seq": 1, "type": "vm_state", "vm": "vm00001", "state": "running"}],
      "heartbeat": {"rss_bytes": 1, "threads": 5}}, expect=200)
call("POST", "/v1/agent/sync", agent, {"host": "kvm0002", "session": "", "facts": facts},
     expect=403)
call("POST", "/v1/agent/sync", agent, {"host": "kvm0001", "session": "x"}, expect=409)
call("POST", "/v1/agent/sync", agent, {"host": "kvm0001", "events": "many"}, expect=400)
call("POST", "/v1/agent/sync", op, {"host": "kvm0001"}, expect=403)
call("GET", "/v1/agents", viewer, expect=200)
call("GET", "/v1/agents", agent, expect=403)
call("GET", "/v1/ha", viewer, expect=200)
call("GET", "/v1/ha", None, expect=401)
call("POST", "/v1/ha/resume", op, expect=409)
call("POST", "/v1/ha/resume", viewer, expect=403)
call("POST", "/v1/ha/resume", None, expect=401)
call("GET", "/v1/monitors", viewer, expect=200)
call("GET", "/v1/monitors", agent, expect=403)
call("GET", "/v1/cluster", viewer, expect=200)
call("GET", "/v1/cluster", None, expect=401)
call("GET", "/v1/runs", viewer, expect=200)
call("GET", "/v1/runs?state=unfinished&limit=1", viewer, expect=200)
call("GET", "/v1/runs?state=bogus", viewer, expect=400)
call("GET", "/v1/runs?limit=0", viewer, expect=400)
call("GET", "/v1/incidents", viewer)
call("GET", "/v1/incidents?state=bogus", viewer)
call("GET", "/v1/incidents", expect=401)
call("GET", "/", viewer, expect=200)
call("GET", "/", expect=401)
call("GET", "/?token=" + viewer, expect=303)

# ---- the inventory ----
call("PUT", "/v1/inventory", op, raw=b"schema: nope\nhosts: 3\n",
     headers={"Content-Type": "application/yaml"}, expect=400)
call("PUT", "/v1/inventory", viewer, raw=b"x", expect=403)
call("PUT", "/v1/inventory", op, raw=open(os.path.join(SRC, "examples", "small.yaml"), "rb").read(),
     headers={"Content-Type": "application/yaml"}, expect=200)
wait_for(lambda: call("GET", "/v1/hosts", viewer)[2]["hosts"][0]["name"] == "kvm01",
         "the twin runs the new inventory")
call("GET", "/v1/vms", viewer, expect=200)
call("GET", "/v1/services", viewer, expect=200)
# a service two others depend on, under its min_available: remediation paused, then resumed
DEP = b"""schema: hvfleet.inventory/v1
hosts:
  - {name: d1, cpus: 8, memory: 8GiB, nic: 1Gbit}
  - {name: d2, cpus: 8, memory: 8GiB, nic: 1Gbit}
services:
  - {name: db}
  - {name: web, depends_on: [db]}
  - {name: api, depends_on: [db]}
vms:
  - {name: db1, host: d1, vcpus: 1, memory: 256MiB, service: db}
  - {name: web1, host: d2, vcpus: 1, memory: 256MiB, service: web}
  - {name: api1, host: d2, vcpus: 1, memory: 256MiB, service: api}
"""
call("PUT", "/v1/inventory", op, raw=DEP, headers={"Content-Type": "application/yaml"},
     expect=200)
wait_for(lambda: call("GET", "/v1/hosts", viewer)[2]["hosts"][0]["name"] == "d1",
         "the twin runs the inventory with a shared dependency")
call("POST", "/v1/vms/db1/stop", op, expect=200)
wait_for(lambda: call("GET", "/v1/ha", viewer)[2]["remediation"]["paused"],
         "remediation paused: db is under its min_available")
call("POST", "/v1/ha/resume", op, expect=202)
wait_for(lambda: call("GET", "/v1/ha", viewer)[2]["remediation"].get("resumed_by") == "alice",
         "remediation resumed by the operator")

# ---- the rate limit: 429 with Retry-After (8 clients at once, over 50 a second even slowed by
# sanitizers) ----
limited = []


def hammer():
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=20)
    for _ in range(100):
        if limited:
            break
        conn.request("GET", "/v1/freeze", headers={"Authorization": "Bearer " + burst})
        resp = conn.getresponse()
        text = resp.read()
        if resp.status == 429:
            limited.append((resp.status, {k.lower(): v for k, v in resp.getheaders()},
                            json.loads(text)))
    conn.close()


threads = [threading.Thread(target=hammer) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
check(limited, "the per-token rate limit answers 429")
verify("GET", "/v1/freeze", *limited[0])

# ---- every operation answered on its normal path and on an error path ----
PUBLIC = {k for k, o in OPS.items() if o["security"] == []}
for key, o in OPS.items():
    got = seen.get(key, set())
    if key in PENDING:
        check(got, "%s %s was never called" % key)
        continue
    check(any(200 <= x < 300 for x in got), "%s %s: no normal answer checked (%s)"
          % (key + (sorted(got),)))
    if key not in PUBLIC:  # public routes have no error of their own to provoke
        check(any(400 <= x < 500 for x in got), "%s %s: no error answer checked (%s)"
              % (key + (sorted(got),)))

check(d.stop() == 0, "SIGTERM: exit 0")
print("ok: %d operations, %d answers checked against docs/openapi.json" % (
    len(OPS), sum(len(x) for x in seen.values())))
