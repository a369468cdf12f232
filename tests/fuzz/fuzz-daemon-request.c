/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what hvfleetd makes of a request before its handler acts (issue 11):
 * the routing of any method and path (hvfd_route_match) and every body parser (hvfd_body_object
 * and the field readers), without a connection.
 *
 * Input: "METHOD PATH\n" then "CONTENT-TYPE\n" then the body (the rest). Properties: a route is
 * found only for its own method and a path of its pattern's shape, a refusal is a 404, or a 405
 * naming the methods the path has; a body or field is either accepted or refused with a 4xx and
 * a JSON error whose message is one line of UTF-8 (the answer can be sent), never a 5xx.
 */
#include <string.h>

#include "daemon/daemon.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

/* Every field any route's body has; NULL-terminated. */
static const char *const all_fields[] = {"kind",   "hosts",          "policy", "strategy",
                                         "change", "comment",        "reason", "host",
                                         "cancel_running", NULL};

/* The answer in @r is a 4xx JSON error with a one-line message; clears it for the next one. */
static void
check_refusal(hvfd_req *r, const char *what)
{
    json_t *e = json_object_get(r->json, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (!r->answered || r->status < 400 || r->status > 499)
        fuzz_fail("%s: refused with status %d", what, r->status);
    if (!msg || !msg[0] || strchr(msg, '\n'))
        fuzz_fail("%s: the refusal has no one-line message", what);
    if (json_integer_value(json_object_get(e, "status")) != r->status)
        fuzz_fail("%s: the error's status is not the answer's", what);
    json_decref(r->json);
    r->json = NULL;
    r->answered = false;
    r->status = 0;
}

/* True when @method is one of the ", "-separated methods of @allow. */
static bool
allow_has(const char *allow, const char *method)
{
    size_t n = strlen(method);

    while (*allow) {
        size_t k = strcspn(allow, ",");

        if (k == n && strncmp(allow, method, n) == 0)
            return true;
        allow += k;
        while (*allow == ',' || *allow == ' ')
            allow++;
    }
    return false;
}

static void
check_route(const char *method, const char *path)
{
    char params[2][256];
    char allow[64];
    int status = 0;
    const hvfd_route *rt =
        hvfd_route_match(method, path, params, &status, allow, sizeof(allow));

    if (rt) {
        if (strcmp(rt->method, method) != 0)
            fuzz_fail("%s %s routed to %s %s", method, path, rt->method, rt->pattern);
        if (!strchr(rt->pattern, '{') && strcmp(rt->pattern, path) != 0)
            fuzz_fail("%s routed to the pattern %s", path, rt->pattern);
        return;
    }
    if (status != 404 && status != 405)
        fuzz_fail("%s %s: no route with status %d", method, path, status);
    if (status == 405 && (!allow[0] || allow_has(allow, method)))
        fuzz_fail("%s %s: 405 with Allow '%s'", method, path, allow);
}

static void
check_body(hvfd_req *r, const char *const *allowed)
{
    json_t *obj = hvfd_body_object(r, allowed);
    const char *s = NULL;
    uint64_t u = 0;
    bool b = false;

    if (!obj) {
        check_refusal(r, "body");
        return;
    }
    if (r->answered)
        fuzz_fail("the body was accepted and answered");
    if (!json_is_object(obj))
        fuzz_fail("the body was accepted as something else than an object");
    /* each reader alone, with the shapes the handlers ask for */
    if (hvfd_field_string(r, obj, "kind", true, 32, &s) < 0)
        check_refusal(r, "kind");
    else if (!s || strlen(s) > 32)
        fuzz_fail("'kind' accepted as %s", s ? "a long string" : "missing");
    if (hvfd_field_string(r, obj, "comment", false, 500, &s) < 0)
        check_refusal(r, "comment");
    if (hvfd_field_string(r, obj, "reason", true, 250, &s) < 0)
        check_refusal(r, "reason");
    if (hvfd_field_bool(r, obj, "cancel_running", &b) < 0)
        check_refusal(r, "cancel_running");
    if (hvfd_field_name(r, obj, "host", false, &s) < 0)
        check_refusal(r, "host");
    if (hvfd_field_uint(r, obj, "hosts", false, 1000, &u) < 0)
        check_refusal(r, "hosts");
    else if (u > 1000)
        fuzz_fail("'hosts' accepted as %llu, over its maximum", (unsigned long long)u);
    if (r->answered)
        fuzz_fail("a field reader answered without failing");
    json_decref(obj);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hvfd d;
    hvfd_req *r;
    const char *p = (const char *)data, *end = p + size;
    const char *nl, *sp;
    char method[32] = "";
    char path[2048] = "";
    char ctype[256] = "";
    size_t n;

    if (size > 1 << 20)
        return 0;
    /* the request line */
    nl = memchr(p, '\n', size);
    nl = nl ? nl : end;
    sp = memchr(p, ' ', (size_t)(nl - p));
    n = sp ? (size_t)(sp - p) : 0;
    if (n < sizeof(method)) {
        memcpy(method, p, n);
        method[n] = '\0';
    }
    if (sp) {
        n = (size_t)(nl - sp - 1);
        n = n < sizeof(path) - 1 ? n : sizeof(path) - 1;
        memcpy(path, sp + 1, n);
        path[n] = '\0';
    }
    check_route(method, path);
    p = nl < end ? nl + 1 : end;
    /* the Content-Type line, then the body */
    nl = memchr(p, '\n', (size_t)(end - p));
    nl = nl ? nl : end;
    n = (size_t)(nl - p) < sizeof(ctype) - 1 ? (size_t)(nl - p) : sizeof(ctype) - 1;
    memcpy(ctype, p, n);
    ctype[n] = '\0';
    p = nl < end ? nl + 1 : end;

    r = HVF_NEW(hvfd_req);
    r->d = &d;
    r->method = method;
    hvf_strlcpy(r->path, path, sizeof(r->path));
    hvf_strlcpy(r->id, "fuzz-000001", sizeof(r->id));
    r->content_type_in = ctype[0] ? ctype : NULL;
    hvf_strbuf_add(&r->body, p, (size_t)(end - p));
    check_body(r, all_fields);
    check_body(r, NULL);
    json_decref(r->json);
    hvf_strbuf_clear(&r->body);
    free(r);
    return 0;
}
