/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side: libmicrohttpd in its internal epoll mode with a fixed thread pool. Each
 * request is routed, authenticated and rate-limited on its headers, before any body is read;
 * a body is kept only up to its route's cap; the handler's answer carries the request id.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/utf8.h"
#include "util/text.h"

static atomic_uint_fast64_t req_counter;

static int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
hvfd_reply(hvfd_req *r, int status, json_t *body)
{
    json_decref(r->json);
    r->json = body;
    r->status = status;
    r->answered = true;
    return 0;
}

int
hvfd_reply_text(hvfd_req *r, int status, const char *ctype, char *text, size_t len)
{
    free(r->text);
    r->text = text;
    r->text_len = len;
    r->content_type = ctype;
    r->status = status;
    r->answered = true;
    return 0;
}

static const char *
http_code_name(int status)
{
    switch (status) {
    case 400: return "invalid";
    case 401: return "unauthenticated";
    case 403: return "forbidden";
    case 404: return "not-found";
    case 405: return "method-not-allowed";
    case 409: return "conflict";
    case 411: return "length-required";
    case 413: return "too-large";
    case 414: return "uri-too-long";
    case 415: return "unsupported-media-type";
    case 422: return "refused";
    case 429: return "rate-limited";
    case 501: return "unsupported";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "error";
    }
}

/* True when @s is UTF-8 (json_string would take it), without making a string to know. */
static bool
http_utf8(const char *s)
{
    size_t n = strlen(s);

    return hvf_utf8_invalid_at(s, n) >= n;
}

int
hvfd_fail(hvfd_req *r, int status, const char *field, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    json_t *e;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e = json_pack("{s:i, s:s, s:s}", "status", status, "code", http_code_name(status), "message",
                  msg);
    if (!json_object_get(e, "message")) /* not UTF-8: an echo of hostile input */
        json_object_set_new(e, "message", json_string("(the message named bytes that are not UTF-8)"));
    if (field)
        json_object_set_new(e, "field", json_string(http_utf8(field) ? field : "(not UTF-8)"));
    return hvfd_reply(r, status, json_pack("{s:o, s:s}", "error", e, "request_id", r->id));
}

int
hvfd_fail_err(hvfd_req *r, const hvf_error *err)
{
    int status;

    switch (err->code) {
    case HVF_ERR_INVALID: status = 400; break;
    case HVF_ERR_NOT_FOUND: status = 404; break;
    case HVF_ERR_CONFLICT:
    case HVF_ERR_CAPACITY:
    case HVF_ERR_REFUSED: status = 409; break;
    case HVF_ERR_UNSUPPORTED: status = 501; break;
    default: status = 500; break;
    }
    if (status >= 500)
        hvfd_log(HVFD_ERROR, err->msg,
                 json_pack("{s:s, s:s?, s:i}", "request_id", r->id, "file", err->file, "line",
                           err->line));
    return hvfd_fail(r, status, NULL, "%s", err->msg);
}

char *
hvfd_query(const hvfd_req *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);

    return v ? hvf_strdup(v) : NULL;
}

static void
req_free(hvfd_req *r)
{
    if (!r)
        return;
    json_decref(r->json);
    free(r->text);
    free(r->query);
    hvf_strbuf_clear(&r->body);
    free(r);
}

/* Queues the answer of @r. */
static enum MHD_Result
req_send(hvfd_req *r)
{
    struct MHD_Response *resp = r->response;
    enum MHD_Result ok;

    if (!resp) {
        char *text = r->text;
        size_t len = r->text_len;

        if (!text) {
            if (!r->json)
                hvfd_fail(r, 500, NULL, "the handler gave no answer");
            text = json_dumps(r->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (!text) {
                /* json_dumps fails only on memory; say so plainly */
                text = hvf_strdup("{\"error\":{\"status\":500,\"code\":\"internal\"}}");
                r->status = 500;
            }
            len = strlen(text);
            text = hvf_realloc(text, len + 2);
            text[len++] = '\n';
            text[len] = '\0';
            r->content_type = "application/json";
        }
        r->text = NULL;
        resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    }
    r->response = NULL;
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hvfleet\"");
    if (r->status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after_s > 0) {
        char v[16];

        snprintf(v, sizeof(v), "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Checks what the headers say before any body is read. Answers and returns -1 to refuse. */
static int
req_admit(hvfd_req *r, const char *url)
{
    int status = 0;
    const char *cl, *te;
    size_t len = strlen(url);

    if (len >= sizeof(r->path) || len > r->d->cfg.max_url)
        return hvfd_fail(r, 414, NULL, "the URL is %zu bytes; at most %zu are accepted", len,
                         r->d->cfg.max_url) - 1;
    memcpy(r->path, url, len + 1);
    /* one trailing slash is forgiven ("/v1/hosts/"), nothing else is normalised */
    if (len > 1 && r->path[len - 1] == '/')
        r->path[len - 1] = '\0';
    r->route = hvfd_route_match(r->method, r->path, r->param, &status, r->allow,
                                sizeof(r->allow));
    if (!r->route) {
        if (status == 405)
            return hvfd_fail(r, 405, NULL, "%s is not a method of %s (expected %s)", r->method,
                             r->path, r->allow) - 1;
        return hvfd_fail(r, 404, NULL, "no route %s %s (GET /v1/openapi.json lists them)",
                         r->method, r->path) - 1;
    }
    if (r->route->perms && hvfd_auth(r) < 0)
        return -1;
    if (r->route->perms && !(r->who.perms & r->route->perms))
        return hvfd_fail(r, 403, NULL, "the token '%s' has role %s, which may not %s %s",
                         r->who.name, r->who.role, r->method, r->route->pattern) - 1;
    if (hvfd_rate_limit(r) < 0)
        return -1;
    r->body_max = r->route->body_max ? r->route->body_max : r->d->cfg.max_body;
    if (r->route->body_max && r->route->body_max > r->d->cfg.max_inventory_body)
        r->body_max = r->d->cfg.max_inventory_body;
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl) {
        char *end;
        unsigned long long n;

        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno || *end || end == cl || cl[0] == '-')
            return hvfd_fail(r, 400, "Content-Length", "'%.40s' is not a length", cl) - 1;
        if (n > r->body_max)
            return hvfd_fail(r, 413, NULL, "the body is %llu bytes; %s %s takes at most %zu",
                             n, r->method, r->route->pattern, r->body_max) - 1;
    }
    (void)te; /* chunked bodies are capped as they arrive */
    return 0;
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size,
            void **con_cls)
{
    hvfd *d = cls;
    hvfd_req *r = *con_cls;

    if (!r) {
        uint64_t n = atomic_fetch_add(&req_counter, 1) + 1;

        r = HVF_NEW(hvfd_req);
        r->d = d;
        r->conn = conn;
        r->method = method;
        r->t0_ns = mono_ns();
        snprintf(r->id, sizeof(r->id), "%08" PRIx64 "-%06" PRIu64,
                 (uint64_t)d->started_unix & 0xffffffffu, n);
        *con_cls = r;
        if (req_admit(r, url) < 0)
            return req_send(r);
        return MHD_YES;
    }
    if (r->answered) { /* refused on its headers: the rest of the body is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->body.len + *upload_data_size > r->body_max)
            r->body_too_big = true;
        else
            hvf_strbuf_add(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->body_too_big)
        hvfd_fail(r, 413, NULL, "the body is over the %zu bytes %s %s takes", r->body_max,
                  r->method, r->route->pattern);
    else
        r->route->fn(r);
    if (!r->answered && !r->response)
        hvfd_fail(r, 500, NULL, "%s %s gave no answer", r->method, r->route->pattern);
    return req_send(r);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
    hvfd *d = cls;
    hvfd_req *r = *con_cls;
    double secs;

    if (!r)
        return;
    secs = (double)(mono_ns() - r->t0_ns) / 1e9;
    hvfd_metrics_request(d->metrics, r->route ? r->route->name : "unmatched", r->method,
                         r->status, secs);
    hvfd_log(r->status >= 500 ? HVFD_ERROR : HVFD_INFO, "request",
             json_pack("{s:s, s:s, s:s?, s:i, s:f, s:s?, s:b}", "request_id", r->id, "method",
                       r->method, "path", http_utf8(r->path) ? r->path : NULL, "status",
                       r->status, "ms", secs * 1000.0, "who", r->who.name[0] ? r->who.name : NULL,
                       "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    *con_cls = NULL;
    req_free(r);
}

/* libmicrohttpd's format strings: format(printf) so that clang's -Wformat-nonliteral accepts
 * passing @fmt on */
__attribute__((format(printf, 2, 0))) static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    hvfd_log(HVFD_DEBUG, "libmicrohttpd", json_pack("{s:s}", "detail", msg));
}

int
hvfd_http_start(hvfd *d, hvf_error *err)
{
    struct sockaddr_in sa;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    HVF_AUTOFREE char *cert = NULL;
    HVF_AUTOFREE char *key = NULL;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem ops[16];
    int n = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)d->cfg.port);
    if (inet_pton(AF_INET, d->cfg.listen_host, &sa.sin_addr) != 1) {
        hvf_error_set(err, HVF_ERR_INVALID, "--listen '%s': expected an IPv4 address",
                      d->cfg.listen_host);
        return -1;
    }
    if (d->cfg.tls_cert || d->cfg.tls_key) {
        if (!d->cfg.tls_cert || !d->cfg.tls_key) {
            hvf_error_set(err, HVF_ERR_INVALID, "TLS needs both --tls-cert and --tls-key");
            return -1;
        }
        size_t len; /* hvf_text_read_file sets it: NULL is not allowed */

        if (!(cert = hvf_text_read_file(d->cfg.tls_cert, 1 << 20, &len, err)) ||
            !(key = hvf_text_read_file(d->cfg.tls_key, 1 << 20, &len, err)))
            return -1;
        flags |= MHD_USE_TLS;
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &sa};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, d->cfg.threads, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, d->cfg.max_connections, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                       d->cfg.max_connections_per_ip, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                       d->cfg.connection_timeout_s, NULL};
    /* headers and the URL must fit in this; beyond it libmicrohttpd answers 431 or 414 */
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_mhd_log, d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    d->mhd = MHD_start_daemon(flags, (uint16_t)d->cfg.port, NULL, NULL, http_access, d,
                              MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!d->mhd) {
        hvf_error_set(err, HVF_ERR_IO,
                      "cannot listen on %s:%d%s (in use, or not an address of this machine?)",
                      d->cfg.listen_host, d->cfg.port, cert ? " with TLS" : "");
        return -1;
    }
    info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->port = info ? info->port : d->cfg.port;
    return 0;
}

void
hvfd_http_stop(hvfd *d)
{
    if (d->mhd) {
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
    }
}
