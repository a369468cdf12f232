/* SPDX-License-Identifier: MIT */
/* QMP client: message parser, line reader with deadlines, capability negotiation, commands. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qmp.h"
#include "hvfleet/alloc.h"

struct hvf_qmp {
    int fd;
    hvf_qmp_opts opts;
    char *buf; /* bytes read, not yet consumed; room for max_line + 1 */
    size_t len;
    bool broken;
    unsigned long next_id;
    int version;
};

/* ---------------------------------------------------------------- parser */

static const char *const kind_names[] = {
    [HVF_QMP_MSG_GREETING] = "greeting",
    [HVF_QMP_MSG_RETURN] = "return",
    [HVF_QMP_MSG_ERROR] = "error",
    [HVF_QMP_MSG_EVENT] = "event",
};
_Static_assert(HVF_ARRAY_LEN(kind_names) == HVF_QMP_MSG_LAST, "kind table");

const char *
hvf_qmp_kind_to_string(hvf_qmp_kind kind)
{
    if ((unsigned)kind >= HVF_QMP_MSG_LAST)
        return "unknown";
    return kind_names[kind];
}

void
hvf_qmp_msg_clear(hvf_qmp_msg *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

/* A short, printable excerpt of untrusted bytes for an error message. */
static void
qmp_excerpt(const char *data, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 4 < size; i++) {
        unsigned char c = (unsigned char)data[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > n && n + 4 <= size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

static int
qmp_bad(const char *data, size_t len, const char *what, hvf_error *err)
{
    char ex[64];

    qmp_excerpt(data, len, ex, sizeof(ex));
    hvf_error_set(err, HVF_ERR_IO, "qmp: %s: '%s'", what, ex);
    /* jansson quotes the input near the error: keep the message on one printable line */
    for (char *c = err ? err->msg : NULL; c && *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    }
    return -1;
}

int
hvf_qmp_parse(const char *data, size_t len, hvf_qmp_msg *out, hvf_error *err)
{
    json_error_t jerr;
    json_t *root;
    json_t *v;
    json_t *id;

    memset(out, 0, sizeof(*out));
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char what[200];
        snprintf(what, sizeof(what), "malformed JSON at byte %d (%s)", jerr.position, jerr.text);
        return qmp_bad(data, len, what, err);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return qmp_bad(data, len, "expected a JSON object", err);
    }
    out->root = root;
    id = json_object_get(root, "id");
    out->has_id = id != NULL;
    out->id = json_string_value(id);

    if ((v = json_object_get(root, "QMP"))) {
        if (!json_is_object(v))
            goto bad;
        out->kind = HVF_QMP_MSG_GREETING;
        out->value = v;
    } else if ((v = json_object_get(root, "return"))) {
        out->kind = HVF_QMP_MSG_RETURN;
        out->value = v;
    } else if ((v = json_object_get(root, "error"))) {
        out->err_class = json_string_value(json_object_get(v, "class"));
        out->err_desc = json_string_value(json_object_get(v, "desc"));
        if (!json_is_object(v) || !out->err_class || !out->err_desc)
            goto bad;
        out->kind = HVF_QMP_MSG_ERROR;
        out->value = v;
    } else if ((v = json_object_get(root, "event"))) {
        json_t *data_v = json_object_get(root, "data");
        out->event = json_string_value(v);
        if (!out->event || (data_v && !json_is_object(data_v)))
            goto bad;
        out->kind = HVF_QMP_MSG_EVENT;
        out->value = data_v;
    } else {
        goto bad;
    }
    return 0;

bad:
    hvf_qmp_msg_clear(out);
    return qmp_bad(data, len, "not a QMP greeting, reply or event", err);
}

/* ---------------------------------------------------------------- transport */

static int64_t
qmp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int qmp_fail(hvf_qmp *q, hvf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Transport and protocol errors leave the stream in an unknown state: no command after them. */
static int
qmp_fail(hvf_qmp *q, hvf_error *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;

    q->broken = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hvf_error_set(err, HVF_ERR_IO, "qmp: %s", msg);
    return -1;
}

/* "qmp: X" becomes "qmp: CMD: X", so the message names the command that failed. */
static void
qmp_error_in(hvf_error *err, const char *cmd)
{
    char *msg;

    if (!err)
        return;
    /* truncating a long message is fine: the start says what failed */
    msg = hvf_asprintf("qmp: %s: %s", cmd,
                       strncmp(err->msg, "qmp: ", 5) == 0 ? err->msg + 5 : err->msg);
    hvf_strlcpy(err->msg, msg, sizeof(err->msg));
    free(msg);
}

/* Waits for @events on the socket until @deadline_ms: 1 ready, 0 timed out, -1 error. */
static int
qmp_wait(hvf_qmp *q, short events, int64_t deadline_ms, hvf_error *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = q->fd, .events = events};
        int64_t left = deadline_ms - qmp_now_ms();
        int rc;

        if (left <= 0)
            return 0;
        rc = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return qmp_fail(q, err, "poll failed: %s", strerror(errno));
    }
}

static int
qmp_write_all(hvf_qmp *q, const char *data, size_t len, int64_t deadline_ms, hvf_error *err)
{
    while (len > 0) {
        ssize_t n = send(q->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = qmp_wait(q, POLLOUT, deadline_ms, err);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                /* a half-written command would corrupt the stream for the next one */
                return qmp_fail(q, err, "timed out sending a command");
            }
            continue;
        }
        return qmp_fail(q, err, "send failed: %s", strerror(errno));
    }
    return 0;
}

/*
 * Reads the next non-empty line into a fresh NUL-terminated copy (*@line, owned), stripping
 * "\r\n". Returns 1 with a line, 0 on timeout (connection still usable), -1 on error.
 */
static int
qmp_read_line(hvf_qmp *q, int64_t deadline_ms, char **line, size_t *line_len, hvf_error *err)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        ssize_t n;
        int rc;

        if (nl) {
            size_t l = (size_t)(nl - q->buf);
            size_t consumed = l + 1;
            while (l > 0 && (q->buf[l - 1] == '\r' || q->buf[l - 1] == ' '))
                l--;
            if (l > 0) {
                *line = hvf_strndup(q->buf, l);
                *line_len = l;
            }
            memmove(q->buf, q->buf + consumed, q->len - consumed);
            q->len -= consumed;
            if (l > 0)
                return 1;
            continue;
        }
        if (q->len >= q->opts.max_line) {
            return qmp_fail(q, err, "QEMU sent a line longer than %zu bytes", q->opts.max_line);
        }
        rc = qmp_wait(q, POLLIN, deadline_ms, err);
        if (rc <= 0)
            return rc;
        n = recv(q->fd, q->buf + q->len, q->opts.max_line - q->len, MSG_DONTWAIT);
        if (n == 0)
            return qmp_fail(q, err, "QEMU closed the connection");
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return qmp_fail(q, err, "receive failed: %s", strerror(errno));
        }
        q->len += (size_t)n;
    }
}

/* Reads and parses one message. 1 with @msg, 0 on timeout, -1 on error (connection broken). */
static int
qmp_read_msg(hvf_qmp *q, int64_t deadline_ms, hvf_qmp_msg *msg, hvf_error *err)
{
    char *line = NULL;
    size_t len = 0;
    int rc = qmp_read_line(q, deadline_ms, &line, &len, err);

    if (rc <= 0)
        return rc;
    rc = hvf_qmp_parse(line, len, msg, err);
    free(line);
    if (rc < 0) {
        q->broken = true;
        return -1;
    }
    return 1;
}

/* ---------------------------------------------------------------- connection */

static void
qmp_read_version(hvf_qmp *q, json_t *greeting)
{
    json_t *v = json_object_get(json_object_get(greeting, "version"), "qemu");
    json_int_t major = json_integer_value(json_object_get(v, "major"));
    json_int_t minor = json_integer_value(json_object_get(v, "minor"));
    json_int_t micro = json_integer_value(json_object_get(v, "micro"));

    if (major >= 0 && major < 1000 && minor >= 0 && minor < 100 && micro >= 0 && micro < 100)
        q->version = (int)(major * 10000 + minor * 100 + micro);
}

hvf_qmp *
hvf_qmp_open_fd(int fd, const hvf_qmp_opts *opts, hvf_error *err)
{
    hvf_qmp *q = HVF_NEW(hvf_qmp);
    hvf_qmp_msg msg;
    int rc;

    q->fd = fd;
    if (opts)
        q->opts = *opts;
    if (q->opts.timeout_ms <= 0)
        q->opts.timeout_ms = HVF_QMP_DEFAULT_TIMEOUT_MS;
    if (q->opts.max_line == 0)
        q->opts.max_line = HVF_QMP_DEFAULT_MAX_LINE;
    q->buf = hvf_malloc(q->opts.max_line + 1);
    q->next_id = 1;

    rc = qmp_read_msg(q, qmp_now_ms() + q->opts.timeout_ms, &msg, err);
    if (rc == 0)
        hvf_error_set(err, HVF_ERR_IO, "qmp: timed out waiting for the greeting after %d ms",
                      q->opts.timeout_ms);
    if (rc <= 0)
        goto fail;
    if (msg.kind != HVF_QMP_MSG_GREETING) {
        hvf_error_set(err, HVF_ERR_IO, "qmp: expected the greeting first, got a %s",
                      hvf_qmp_kind_to_string(msg.kind));
        hvf_qmp_msg_clear(&msg);
        goto fail;
    }
    qmp_read_version(q, msg.value);
    hvf_qmp_msg_clear(&msg);
    if (hvf_qmp_command(q, "qmp_capabilities", NULL, err) < 0)
        goto fail;
    return q;

fail:
    hvf_qmp_close(q);
    return NULL;
}

hvf_qmp *
hvf_qmp_connect(const char *path, const hvf_qmp_opts *opts, hvf_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : HVF_QMP_DEFAULT_TIMEOUT_MS;
    int64_t deadline = qmp_now_ms() + timeout_ms;

    if (hvf_strlcpy(addr.sun_path, path, sizeof(addr.sun_path)) >= sizeof(addr.sun_path)) {
        hvf_error_set(err, HVF_ERR_INVALID, "qmp: socket path '%s' is longer than %zu bytes", path,
                      sizeof(addr.sun_path) - 1);
        return NULL;
    }
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int e;

        if (fd < 0) {
            hvf_error_set(err, HVF_ERR_IO, "qmp: socket: %s", strerror(errno));
            return NULL;
        }
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
            return hvf_qmp_open_fd(fd, opts, err);
        e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED && e != EINTR) || qmp_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_IO, "qmp: cannot connect to '%s': %s", path, strerror(e));
            return NULL;
        }
        usleep(10 * 1000);
    }
}

void
hvf_qmp_close(hvf_qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->buf);
    free(q);
}

void
hvf_qmp_set_timeout(hvf_qmp *q, int timeout_ms)
{
    q->opts.timeout_ms = timeout_ms > 0 ? timeout_ms : HVF_QMP_DEFAULT_TIMEOUT_MS;
}

bool
hvf_qmp_broken(const hvf_qmp *q)
{
    return q->broken;
}

int
hvf_qmp_version(const hvf_qmp *q)
{
    return q->version;
}

/* ---------------------------------------------------------------- commands */

static json_t *
qmp_reply(hvf_qmp_msg *msg, const char *cmd, hvf_error *err)
{
    json_t *ret;

    if (msg->kind == HVF_QMP_MSG_ERROR) {
        hvf_errcode code =
            strcmp(msg->err_class, "CommandNotFound") == 0 ? HVF_ERR_UNSUPPORTED : HVF_ERR_CONFLICT;
        hvf_error_set(err, code, "qmp: %s: %s: %s", cmd, msg->err_class, msg->err_desc);
        return NULL;
    }
    ret = json_incref(msg->value);
    return ret;
}

json_t *
hvf_qmp_execute(hvf_qmp *q, const char *cmd, json_t *args, hvf_error *err)
{
    char id[32];
    json_t *req;
    char *text;
    int64_t deadline;
    int rc;

    if (q->broken) {
        json_decref(args);
        hvf_error_set(err, HVF_ERR_IO, "qmp: %s: the connection is broken by an earlier error",
                      cmd);
        return NULL;
    }
    snprintf(id, sizeof(id), "hvf-%lu", q->next_id++);
    req = json_pack("{s:s, s:s}", "execute", cmd, "id", id);
    HVF_ASSERT(req != NULL);
    if (args)
        json_object_set_new(req, "arguments", args);
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    HVF_ASSERT(text != NULL);

    deadline = qmp_now_ms() + q->opts.timeout_ms;
    {
        size_t n = strlen(text);
        char *line = hvf_malloc(n + 2);
        memcpy(line, text, n);
        line[n] = '\n';
        rc = qmp_write_all(q, line, n + 1, deadline, err);
        free(line);
        free(text);
    }
    if (rc < 0) {
        qmp_error_in(err, cmd);
        return NULL;
    }

    for (;;) {
        hvf_qmp_msg msg;
        json_t *ret;

        rc = qmp_read_msg(q, deadline, &msg, err);
        if (rc == 0) {
            hvf_error_set(err, HVF_ERR_IO, "qmp: %s: timed out after %d ms waiting for the reply",
                          cmd, q->opts.timeout_ms);
            return NULL;
        }
        if (rc < 0) {
            qmp_error_in(err, cmd);
            return NULL;
        }
        switch (msg.kind) {
        case HVF_QMP_MSG_EVENT:
            if (q->opts.on_event)
                q->opts.on_event(msg.event, msg.value, q->opts.opaque);
            break;
        case HVF_QMP_MSG_GREETING:
            hvf_qmp_msg_clear(&msg);
            q->broken = true;
            hvf_error_set(err, HVF_ERR_IO, "qmp: %s: unexpected second greeting", cmd);
            return NULL;
        case HVF_QMP_MSG_RETURN:
        case HVF_QMP_MSG_ERROR:
            /* One command is in flight: a reply with no id (QEMU could not read ours) is its. */
            if (msg.has_id && (!msg.id || strcmp(msg.id, id) != 0))
                break; /* a late reply to a command that timed out */
            ret = qmp_reply(&msg, cmd, err);
            hvf_qmp_msg_clear(&msg);
            return ret;
        default:
            break;
        }
        hvf_qmp_msg_clear(&msg);
    }
}

int
hvf_qmp_command(hvf_qmp *q, const char *cmd, json_t *args, hvf_error *err)
{
    json_t *ret = hvf_qmp_execute(q, cmd, args, err);

    if (!ret)
        return -1;
    json_decref(ret);
    return 0;
}
