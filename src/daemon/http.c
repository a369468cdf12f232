/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side: libmicrohttpd in its internal epoll mode with a fixed thread pool. Each
 * request is routed, authenticated and rate-limited on its headers, before any body is read;
 * a body is kept only up to its route's cap; the handler's answer carries the request id.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/utf8.h"
#include "util/text.h"

static atomic_uint_fast64_t req_counter;

static bool
utf8_valid(const char *s)
{
    size_t n = strlen(s);

    return hvf_utf8_invalid_at(s, n) == n;
}

/* Replaces each byte of @s that is not part of valid UTF-8, and each control byte, by '?': a
 * message that echoes hostile input (a path, a method, a key cut at a byte limit, a key with a
 * newline) can still be sent, and stays one line. */
static void
msg_scrub(char *s)
{
    size_t n = strlen(s);
    size_t i = hvf_utf8_invalid_at(s, n);

    while (i < n) {
        s[i++] = '?';
        i += hvf_utf8_invalid_at(s + i, n - i);
    }
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = '?';
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

static int __attribute__((format(printf, 5, 0)))
fail_v(hvfd_req *r, int status, const char *code, const char *field, const char *fmt, va_list ap)
{
    char msg[1024];
    json_t *e;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* messages echo hostile input: json_pack refuses what is not UTF-8, and a 500 would follow */
    msg_scrub(msg);
    e = json_pack("{s:i, s:s, s:s}", "status", status, "code", code ? code : http_code_name(status),
                  "message", msg);
    if (!json_object_get(e, "message")) /* not UTF-8: an echo of hostile input */
        json_object_set_new(e, "message", json_string("(the message named bytes that are not UTF-8)"));
    if (field) {
        json_t *f = json_string(field);

        json_object_set_new(e, "field", f ? f : json_string("(not UTF-8)"));
    }
    return hvfd_reply(r, status, json_pack("{s:o, s:s}", "error", e, "request_id", r->id));
}

int
hvfd_fail(hvfd_req *r, int status, const char *field, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fail_v(r, status, NULL, field, fmt, ap);
    va_end(ap);
    return rc;
}

int
hvfd_fail_code(hvfd_req *r, int status, const char *code, const char *field, const char *fmt,
               ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fail_v(r, status, code, field, fmt, ap);
    va_end(ap);
    return rc;
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
    free(r->location);
    hvf_strbuf_clear(&r->body);
    free(r);
}

static void
query_escape(hvf_strbuf *sb, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            hvf_strbuf_add(sb, v, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};

            hvf_strbuf_add(sb, e, 3);
        }
    }
}

static enum MHD_Result
query_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    hvf_strbuf *sb = cls;

    (void)kind;
    hvf_strbuf_add(sb, sb->len ? "&" : "?", 1);
    query_escape(sb, key);
    if (value) {
        hvf_strbuf_add(sb, "=", 1);
        query_escape(sb, value);
    }
    return MHD_YES;
}

char *
hvfd_req_query_string(const hvfd_req *r)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    if (r->conn)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_one, &sb);
    else if (r->query)
        hvf_strbuf_printf(&sb, "?%s", r->query);
    return hvf_strbuf_steal(&sb);
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
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->retry_after_s > 0) {
        char v[16];

        snprintf(v, sizeof(v), "%d", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Adds the bytes of one query argument ("&key=value") to the total in @cls. */
static enum MHD_Result
query_bytes(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *n = cls;

    (void)kind;
    *n += 2 + strlen(key) + (value ? strlen(value) : 0);
    return MHD_YES;
}

/* A method is a token of letters ("GET", "PATCH", "BREW"): what else arrives is not HTTP. */
static bool
method_ok(const char *m)
{
    size_t n = strlen(m);

    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)m[i]))
            return false;
    return true;
}

/* Checks what the headers say before any body is read. Answers and returns -1 to refuse. */
static int
req_admit(hvfd_req *r, const char *url)
{
    int status = 0;
    const char *cl, *te;
    size_t len = strlen(url);
    size_t qlen = 0;

    if (!method_ok(r->method))
        return hvfd_fail(r, 400, "method", "'%.16s' is not a method (expected GET, PUT, POST or "
                                           "DELETE)", r->method) - 1;
    if (r->conn)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_bytes, &qlen);
    if (len >= sizeof(r->path) || len + qlen > r->d->cfg.max_url)
        return hvfd_fail(r, 414, NULL, "the URL is %zu bytes; at most %zu are accepted",
                         len + qlen, r->d->cfg.max_url) - 1;
    memcpy(r->path, url, len + 1);
    /* a path is UTF-8 without control bytes: nothing else names anything the API has */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f)
            return hvfd_fail(r, 400, "path", "the path has the control byte 0x%02x at %zu",
                             (unsigned)(unsigned char)url[i], i) - 1;
    if (!utf8_valid(url))
        return hvfd_fail(r, 400, "path", "the path is not UTF-8 (percent-decoded)") - 1;
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
    if (hvfd_cluster_gate(r) < 0) /* a standby: to the leader */
        return -1;
    r->body_max = r->route->body_max ? r->route->body_max : r->d->cfg.max_body;
    if (r->route->body_max && r->route->body_max > r->d->cfg.max_inventory_body)
        r->body_max = r->d->cfg.max_inventory_body;
    r->content_type_in = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
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

/* ---- slow clients ----
 *
 * libmicrohttpd's connection timeout is an idle timeout: a client that sends one header byte a
 * second is never idle and would hold its connection (and a slot of the per-IP limit) for ever.
 * So each connection also has a deadline: a request must arrive whole (headers and body) within
 * connection_timeout of the end of the previous one (or of the connect). One thread for the
 * whole daemon checks the deadlines and shuts the late sockets down; libmicrohttpd then sees
 * the end of the stream and closes the connection itself. Answering (a handler, a long-poll, an
 * event stream) is not timed here.
 */
typedef struct http_conn {
    struct MHD_Connection *conn;
    int fd;
    int64_t since_ns; /* when it began to wait for the request it is receiving */
    bool answering;
    bool dropped;
    struct http_conn *next, *prev;
} http_conn;

/* One daemon a process (hvfd_http_start/stop), so the connections' table is the file's. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    http_conn *conns;
    bool stop;
    bool started;
    pthread_t thread;
    int64_t timeout_ns;
} reaper = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Marks @conn answering (or, when done, waiting for its next request from now). Its entry is
 * its socket context: no search, whatever the number of connections (10,000 agents). */
static void
reaper_mark(struct MHD_Connection *conn, bool answering)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    http_conn *c = ci ? ci->socket_context : NULL;

    if (!c)
        return;
    pthread_mutex_lock(&reaper.lock);
    c->answering = answering;
    if (!answering)
        c->since_ns = hvfd_mono_ns();
    pthread_mutex_unlock(&reaper.lock);
}

static void
http_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    pthread_mutex_lock(&reaper.lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        http_conn *c = HVF_NEW(http_conn);

        c->conn = conn;
        c->fd = ci ? ci->connect_fd : -1;
        c->since_ns = hvfd_mono_ns();
        c->next = reaper.conns;
        if (c->next)
            c->next->prev = c;
        reaper.conns = c;
        *socket_context = c;
    } else if (*socket_context) {
        /* called before libmicrohttpd closes the socket: the reaper never shuts a reused fd */
        http_conn *c = *socket_context;

        if (c->prev)
            c->prev->next = c->next;
        else
            reaper.conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&reaper.lock);
}

static void *
reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reaper.lock);
    while (!reaper.stop) {
        struct timespec ts;
        int64_t now = hvfd_mono_ns();

        for (http_conn *c = reaper.conns; c; c = c->next) {
            if (c->answering || c->dropped || c->fd < 0 || now - c->since_ns < reaper.timeout_ns)
                continue;
            c->dropped = true;
            shutdown(c->fd, SHUT_RDWR);
            hvfd_log(HVFD_INFO, "dropped a slow client",
                     json_pack("{s:f}", "waited_s", (double)(now - c->since_ns) / 1e9));
        }
        /* timeouts are whole seconds: a sweep a second is enough (10,000 connections) */
        hvfd_deadline(&ts, 1000);
        pthread_cond_timedwait(&reaper.cond, &reaper.lock, &ts);
    }
    pthread_mutex_unlock(&reaper.lock);
    return NULL;
}

/* Percent-decodes @s in place like libmicrohttpd, except "%00", which stays as it is: a NUL in
 * the middle would end the path early ("/v1/hosts%00/x" would be "/v1/hosts"). */
static size_t
http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;
    const char *p = s;

    (void)cls;
    (void)conn;
    while (*p) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) &&
            !(p[1] == '0' && p[2] == '0')) {
            char hex[3] = {p[1], p[2], '\0'};

            *w++ = (char)strtoul(hex, NULL, 16);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
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
        r->t0_ns = hvfd_mono_ns();
        snprintf(r->id, sizeof(r->id), "%08" PRIx64 "-%06" PRIu64,
                 (uint64_t)d->started_unix & 0xffffffffu, n);
        *con_cls = r;
        if (req_admit(r, url) < 0) {
            reaper_mark(conn, true);
            return req_send(r);
        }
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
    reaper_mark(conn, true);
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
    hvfd_level level;
    double secs;

    if (!r)
        return;
    secs = (double)(hvfd_mono_ns() - r->t0_ns) / 1e9;
    hvfd_metrics_request(d->metrics, r->route ? r->route->name : "unmatched", r->method,
                         r->status, secs);
    /* an agent's sync that went well is logged at debug: 10,000 agents sync 2,000 times a
     * second, and their lines would drown the rest (its errors are logged as any) */
    level = r->status >= 500                                                   ? HVFD_ERROR
            : r->status < 300 && r->route && r->route->perms == HVFD_PERM_AGENT ? HVFD_DEBUG
                                                                               : HVFD_INFO;
    if (hvfd_log_wanted(level)) {
        /* a path that is not UTF-8 is logged as a placeholder, not dropped with its line */
        json_t *path = json_string(r->path), *method = json_string(r->method);
        json_t *line = json_pack("{s:s, s:o, s:o, s:i, s:f, s:s*, s:b}", "request_id", r->id,
                                 "method", method ? method : json_string("(not UTF-8)"),
                                 "path", path ? path : json_string("(not UTF-8)"), "status",
                                 r->status, "ms", round(secs * 1e6) / 1e3, "who",
                                 r->who.name[0] ? r->who.name : NULL, "completed",
                                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);

        hvfd_log(level, "request", line);
    }
    *con_cls = NULL;
    req_free(r);
    reaper_mark(conn, false);
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
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
    struct MHD_OptionItem ops[20];
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
        size_t len;

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
    /* headers and the URL must fit in this; beyond it libmicrohttpd answers 431 or 414. It is
     * also what every connection costs: 16 KiB x 10,000 agents' connections is 160 MiB */
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_mhd_log, d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify_conn,
                                       d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)http_unescape, d};
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
    reaper.timeout_ns = (int64_t)(d->cfg.connection_timeout_s ? d->cfg.connection_timeout_s : 30) *
                        1000000000;
    reaper.stop = false;
    if (pthread_create(&reaper.thread, NULL, reaper_main, NULL) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot start the thread that drops slow clients");
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
        return -1;
    }
    reaper.started = true;
    return 0;
}

void
hvfd_http_stop(hvfd *d)
{
    if (reaper.started) {
        pthread_mutex_lock(&reaper.lock);
        reaper.stop = true;
        pthread_cond_signal(&reaper.cond);
        pthread_mutex_unlock(&reaper.lock);
        pthread_join(reaper.thread, NULL);
        reaper.started = false;
    }
    if (d->mhd) {
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
    }
}
