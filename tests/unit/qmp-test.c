/* SPDX-License-Identifier: MIT */
/* QMP client against a fake QEMU on a socketpair: handshake, replies among events, bad input. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "driver/qemu/qemu-migrate.h"
#include "driver/qemu/qemu-proc.h"
#include "driver/qemu/qmp.h"
#include "hvfleet/alloc.h"

#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "             \
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": \"hvf-1\"}\r\n"

/* The fake QEMU's end of a socketpair: tests write its lines up front (ids are predictable). */
typedef struct fake {
    int peer;
    hvf_qmp *q;
} fake;

static void
fake_say(fake *f, const char *text)
{
    size_t len = strlen(text);

    assert_int_equal(write(f->peer, text, len), (ssize_t)len);
}

static int
fake_pair(fake *f)
{
    int sv[2];

    memset(f, 0, sizeof(*f));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->peer = sv[1];
    return sv[0];
}

/* What the client wrote so far, as text. */
static char *
fake_heard(fake *f)
{
    char *buf = hvf_calloc(1, 65536);
    size_t len = 0;
    ssize_t n;

    while ((n = recv(f->peer, buf + len, 65535 - len, MSG_DONTWAIT)) > 0)
        len += (size_t)n;
    return buf;
}

static void
fake_close(fake *f)
{
    hvf_qmp_close(f->q);
    if (f->peer >= 0)
        close(f->peer);
}

/* A client that went through greeting and capabilities. */
static void
fake_open(fake *f, const hvf_qmp_opts *opts)
{
    hvf_error err = HVF_ERROR_INIT;
    int fd = fake_pair(f);

    fake_say(f, GREETING CAPS_OK);
    f->q = hvf_qmp_open_fd(fd, opts, &err);
    if (!f->q)
        fail_msg("open: %s", err.msg);
    free(fake_heard(f));
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- parser */

static void
test_parse_kinds(void **state)
{
    static const struct {
        const char *in;
        hvf_qmp_kind kind;
    } cases[] = {
        {GREETING, HVF_QMP_MSG_GREETING},
        {"{\"return\": {}, \"id\": \"x\"}", HVF_QMP_MSG_RETURN},
        {"{\"return\": [1, 2]}", HVF_QMP_MSG_RETURN},
        {"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}", HVF_QMP_MSG_ERROR},
        {"{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
         HVF_QMP_MSG_EVENT},
        {"{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}", HVF_QMP_MSG_EVENT},
    };
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_qmp_msg m;
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_qmp_parse(cases[i].in, strlen(cases[i].in), &m, &err), 0);
        assert_int_equal(m.kind, cases[i].kind);
        hvf_qmp_msg_clear(&m);
    }
}

static void
test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "42",
        "{\"foo\": 1}",
        "{\"QMP\": 1}",
        "{\"error\": \"x\"}",
        "{\"error\": {\"class\": \"GenericError\"}}",
        "{\"event\": 7}",
        "{\"event\": \"X\", \"data\": [1]}",
        "{\"return\": {}, \"return\": {}}",
        "{\"return\": {}} trailing",
        "{\"return\": \"a\\u0000b\"}",
    };
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad); i++) {
        hvf_qmp_msg m;
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_qmp_parse(bad[i], strlen(bad[i]), &m, &err), -1);
        assert_int_equal(err.code, HVF_ERR_IO);
        assert_null(m.root);
        assert_non_null(strstr(err.msg, "qmp: "));
    }
}

/* ---------------------------------------------------------------- handshake */

static void
test_handshake(void **state)
{
    fake f;
    char *heard;

    fake_open(&f, NULL);
    assert_int_equal(hvf_qmp_version(f.q), 70222);
    assert_false(hvf_qmp_broken(f.q));
    fake_close(&f);

    /* the command the client sent in the handshake */
    {
        hvf_error err = HVF_ERROR_INIT;
        int fd = fake_pair(&f);
        fake_say(&f, GREETING CAPS_OK);
        f.q = hvf_qmp_open_fd(fd, NULL, &err);
        assert_non_null(f.q);
        heard = fake_heard(&f);
        assert_string_equal(heard, "{\"execute\":\"qmp_capabilities\",\"id\":\"hvf-1\"}\n");
        free(heard);
        fake_close(&f);
    }
}

static void
test_handshake_bad(void **state)
{
    static const struct {
        const char *server;
        const char *want;
    } cases[] = {
        {"{\"return\": {}}\n", "expected the greeting first"},
        {"not json\n", "malformed JSON"},
        {GREETING
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, \"id\": \"hvf-1\"}\n",
         "qmp_capabilities: GenericError: nope"},
        {GREETING GREETING, "unexpected second greeting"},
        {"", "closed the connection"},
    };
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        fake f;
        hvf_error err = HVF_ERROR_INIT;
        hvf_qmp_opts o = {.timeout_ms = 200};
        int fd = fake_pair(&f);
        fake_say(&f, cases[i].server);
        if (cases[i].server[0] == 0)
            shutdown(f.peer, SHUT_WR);
        assert_null(hvf_qmp_open_fd(fd, &o, &err));
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        fake_close(&f);
    }
}

static void
test_greeting_timeout(void **state)
{
    fake f;
    hvf_error err = HVF_ERROR_INIT;
    hvf_qmp_opts o = {.timeout_ms = 100};
    int fd = fake_pair(&f);
    int64_t t0 = now_ms();

    assert_null(hvf_qmp_open_fd(fd, &o, &err));
    assert_true(now_ms() - t0 >= 100);
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_non_null(strstr(err.msg, "timed out waiting for the greeting"));
    fake_close(&f);
}

/* ---------------------------------------------------------------- commands */

static int events_seen;

static void
count_event(const char *event, json_t *data, void *opaque)
{
    char *last = opaque;

    events_seen++;
    hvf_strlcpy(last, event, 32);
}

static void
test_reply_among_events(void **state)
{
    char last[32] = "";
    hvf_qmp_opts o = {.on_event = count_event, .opaque = last};
    hvf_error err = HVF_ERROR_INIT;
    fake f;
    json_t *ret;
    char *heard;

    events_seen = 0;
    fake_open(&f, &o);
    /* an event, a late reply to a command that timed out, an event, ours, split over lines */
    fake_say(&f, "{\"event\": \"STOP\"}\r\n"
                 "{\"return\": {\"status\": \"stale\"}, \"id\": \"hvf-0\"}\r\n"
                 "\r\n"
                 "{\"event\": \"RESUME\", \"data\": {}}\n"
                 "{\"return\": {\"status\": \"active\"}, \"id\": \"hvf-2\"}\n");
    ret = hvf_qmp_execute(f.q, "query-migrate", NULL, &err);
    assert_non_null(ret);
    assert_string_equal(json_string_value(json_object_get(ret, "status")), "active");
    json_decref(ret);
    assert_int_equal(events_seen, 2);
    assert_string_equal(last, "RESUME");
    heard = fake_heard(&f);
    assert_string_equal(heard, "{\"execute\":\"query-migrate\",\"id\":\"hvf-2\"}\n");
    free(heard);

    /* arguments are sent, an error reply maps to a code and names the command */
    fake_say(&f, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command x has not "
                 "been found\"}, \"id\": \"hvf-3\"}\n");
    assert_null(hvf_qmp_execute(f.q, "x", json_pack("{s:i}", "a", 1), &err));
    assert_int_equal(err.code, HVF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "qmp: x: CommandNotFound"));
    heard = fake_heard(&f);
    assert_non_null(strstr(heard, "\"arguments\":{\"a\":1}"));
    free(heard);
    fake_say(&f,
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}, \"id\": \"hvf-4\"}\n");
    assert_int_equal(hvf_qmp_command(f.q, "migrate", NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_false(hvf_qmp_broken(f.q));
    fake_close(&f);
}

static void
test_timeout_then_late_reply(void **state)
{
    hvf_qmp_opts o = {.timeout_ms = 80};
    hvf_error err = HVF_ERROR_INIT;
    fake f;
    int64_t t0;
    json_t *ret;

    fake_open(&f, &o);
    /* half a line, then silence: the client must give up at its deadline */
    fake_say(&f, "{\"return\": {\"n\": ");
    t0 = now_ms();
    assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
    assert_true(now_ms() - t0 >= 80);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_false(hvf_qmp_broken(f.q));
    /* the late reply completes and is skipped; the next command gets its own */
    fake_say(&f, "1}, \"id\": \"hvf-2\"}\n{\"return\": {\"n\": 2}, \"id\": \"hvf-3\"}\n");
    ret = hvf_qmp_execute(f.q, "query-status", NULL, &err);
    assert_non_null(ret);
    assert_int_equal(json_integer_value(json_object_get(ret, "n")), 2);
    json_decref(ret);

    /* a steady stream of events does not extend the deadline */
    for (int i = 0; i < 50; i++)
        fake_say(&f, "{\"event\": \"TICK\"}\n");
    t0 = now_ms();
    assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
    assert_true(now_ms() - t0 < 2000);
    fake_close(&f);
}

static void
test_malformed_breaks(void **state)
{
    static const char *const bad[] = {
        "{\"return\": {}, \"id\": \"hvf-2\"\n",
        "[1,2,3]\n",
        "{\"neither\": 1}\n",
        "\x01\x02\x03\n",
    };
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad); i++) {
        hvf_error err = HVF_ERROR_INIT;
        fake f;
        fake_open(&f, NULL);
        fake_say(&f, bad[i]);
        fake_say(&f, "{\"return\": {}, \"id\": \"hvf-2\"}\n");
        assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
        assert_int_equal(err.code, HVF_ERR_IO);
        assert_non_null(strstr(err.msg, "qmp: query-status: "));
        assert_true(hvf_qmp_broken(f.q));
        /* nothing more is sent or read on a broken connection */
        assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
        assert_non_null(strstr(err.msg, "broken"));
        fake_close(&f);
    }
}

static void
test_oversize_line(void **state)
{
    hvf_qmp_opts o = {.max_line = 256, .timeout_ms = 500};
    hvf_error err = HVF_ERROR_INIT;
    char big[1024];
    fake f;

    fake_open(&f, &o);
    memset(big, 'x', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = 0;
    fake_say(&f, big);
    assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
    assert_non_null(strstr(err.msg, "longer than 256 bytes"));
    assert_true(hvf_qmp_broken(f.q));
    fake_close(&f);

    /* a line of exactly max_line - 1 bytes plus its newline still fits */
    fake_open(&f, &o);
    {
        char line[300];
        const int frame = (int)strlen("{\"return\": {\"pad\": \"\"}, \"id\": \"hvf-2\"}");
        int n = snprintf(line, sizeof(line), "{\"return\": {\"pad\": \"%0*d\"}, \"id\": \"hvf-2\"}",
                         255 - frame, 0);
        assert_int_equal(n, 255);
        line[n] = '\n';
        line[n + 1] = 0;
        fake_say(&f, line);
        json_t *ret = hvf_qmp_execute(f.q, "query-status", NULL, &err);
        if (!ret)
            fail_msg("%s", err.msg);
        json_decref(ret);
    }
    fake_close(&f);
}

static void
test_peer_gone(void **state)
{
    hvf_error err = HVF_ERROR_INIT;
    fake f;

    fake_open(&f, NULL);
    close(f.peer);
    f.peer = -1;
    assert_null(hvf_qmp_execute(f.q, "query-status", NULL, &err));
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_true(hvf_qmp_broken(f.q));
    fake_close(&f);
}

/* ---------------------------------------------------------------- unix socket */

static void
test_connect_unix(void **state)
{
    char dir[] = "/tmp/hvf-qmp-XXXXXX";
    char path[128];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    hvf_error err = HVF_ERROR_INIT;
    hvf_qmp_opts o = {.timeout_ms = 2000};
    hvf_qmp *q;
    pid_t pid;
    int status = 0;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    hvf_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));

    /* nobody listens: ENOENT until the deadline */
    o.timeout_ms = 50;
    assert_null(hvf_qmp_connect(path, &o, &err));
    assert_non_null(strstr(err.msg, "cannot connect"));

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the fake QEMU: creates its socket a little late, like QEMU does */
        int ls = socket(AF_UNIX, SOCK_STREAM, 0);
        int c;
        char buf[256];
        usleep(100 * 1000);
        if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ls, 1) < 0)
            _exit(1);
        c = accept(ls, NULL, NULL);
        if (c < 0 || write(c, GREETING, strlen(GREETING)) < 0 || read(c, buf, sizeof(buf)) <= 0 ||
            write(c, CAPS_OK, strlen(CAPS_OK)) < 0)
            _exit(2);
        (void)read(c, buf, sizeof(buf)); /* until the client closes */
        _exit(0);
    }
    o.timeout_ms = 3000;
    q = hvf_qmp_connect(path, &o, &err);
    if (!q)
        fail_msg("%s", err.msg);
    assert_int_equal(hvf_qmp_version(q), 70222);
    hvf_qmp_close(q);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(path);
    rmdir(dir);

    {
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[sizeof(longp) - 1] = 0;
        assert_null(hvf_qmp_connect(longp, &o, &err));
        assert_int_equal(err.code, HVF_ERR_INVALID);
    }
}

/* ---------------------------------------------------------------- migration loop */

static void
test_migrate_loop(void **state)
{
    hvf_qemu_migrate_opts o = {
        .uri = "tcp:127.0.0.1:4444",
        .max_bandwidth_bytes_per_s = 125000000,
        .downtime_limit_ms = 300,
        .postcopy = true,
        .poll_ms = 1,
    };
    hvf_qemu_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    fake src;
    fake dst;
    char *heard;

    fake_open(&src, NULL);
    fake_open(&dst, NULL);
    fake_say(&dst, "{\"return\": {}, \"id\": \"hvf-2\"}\n");
    /* src: caps (2), params (3), migrate (4), query (5), query (6) with sync 2 -> postcopy (7),
     * query (8) completed */
    fake_say(&src, "{\"return\": {}, \"id\": \"hvf-2\"}\n{\"return\": {}, \"id\": \"hvf-3\"}\n"
                   "{\"return\": {}, \"id\": \"hvf-4\"}\n"
                   "{\"return\": {\"status\": \"active\", \"expected-downtime\": 300, \"ram\": "
                   "{\"dirty-sync-count\": 1}}, \"id\": \"hvf-5\"}\n"
                   "{\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 2}}\n"
                   "{\"return\": {\"status\": \"active\", \"ram\": {\"dirty-sync-count\": 2}}, "
                   "\"id\": \"hvf-6\"}\n"
                   "{\"return\": {}, \"id\": \"hvf-7\"}\n"
                   "{\"return\": {\"status\": \"completed\", \"total-time\": 2000, \"downtime\": "
                   "12, \"setup-time\": 1, \"ram\": {\"transferred\": 5000, \"total\": 9000, "
                   "\"dirty-sync-count\": 3, \"postcopy-bytes\": 700, \"duplicate\": 4}}, "
                   "\"id\": \"hvf-8\"}\n");
    if (hvf_qemu_migrate(src.q, dst.q, &o, &r, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(r.status, "completed");
    assert_int_equal(r.total_time_ms, 2000);
    assert_int_equal(r.downtime_ms, 12);
    assert_int_equal(r.ram_transferred_bytes, 5000);
    assert_int_equal(r.postcopy_bytes, 700);
    assert_int_equal(r.dirty_sync_count, 3);
    assert_int_equal(r.expected_downtime_ms, 300);
    assert_true(r.postcopy_start_ms >= 0);
    assert_int_equal(r.samples, 3);
    assert_false(r.timed_out);
    heard = fake_heard(&src);
    assert_non_null(strstr(heard, "\"capability\":\"postcopy-ram\""));
    assert_non_null(strstr(heard, "\"max-bandwidth\":125000000"));
    assert_non_null(strstr(heard, "\"downtime-limit\":300"));
    assert_non_null(strstr(heard, "\"uri\":\"tcp:127.0.0.1:4444\""));
    assert_non_null(strstr(heard, "migrate-start-postcopy"));
    free(heard);
    heard = fake_heard(&dst);
    assert_non_null(strstr(heard, "postcopy-ram"));
    free(heard);
    fake_close(&src);
    fake_close(&dst);
}

/*
 * A fake QEMU source in a child process that answers by command name: query-migrate says
 * "active" until it has seen migrate_cancel, then "cancelled"; everything else returns {}.
 */
static void __attribute__((noreturn)) fake_source_serve(int fd)
{
    FILE *in = fdopen(fd, "r");
    char line[4096];
    bool cancelled = false;

    while (in && fgets(line, sizeof(line), in)) {
        json_t *req = json_loads(line, 0, NULL);
        const char *cmd = json_string_value(json_object_get(req, "execute"));
        const char *id = json_string_value(json_object_get(req, "id"));
        char out[512];
        if (!cmd || !id)
            _exit(3);
        if (strcmp(cmd, "migrate_cancel") == 0)
            cancelled = true;
        if (strcmp(cmd, "query-migrate") == 0)
            snprintf(out, sizeof(out), "{\"return\": {\"status\": \"%s\"}, \"id\": \"%s\"}\n",
                     cancelled ? "cancelled" : "active", id);
        else
            snprintf(out, sizeof(out), "{\"event\": \"X\"}\n{\"return\": {}, \"id\": \"%s\"}\n",
                     id);
        if (write(fd, out, strlen(out)) < 0)
            _exit(4);
        json_decref(req);
    }
    _exit(cancelled ? 0 : 5);
}

static void
test_migrate_timeout_and_refusals(void **state)
{
    hvf_qemu_migrate_opts o = {.uri = "unix:/tmp/x", .timeout_ms = 30, .poll_ms = 5};
    hvf_qemu_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    fake src;
    fake dst;
    pid_t pid;
    int status = 0;
    int fd = fake_pair(&src);

    fake_say(&src, GREETING CAPS_OK);
    src.q = hvf_qmp_open_fd(fd, NULL, &err);
    assert_non_null(src.q);
    free(fake_heard(&src));
    fake_open(&dst, NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd); /* or it would never see the client hang up */
        fake_source_serve(src.peer);
    }
    close(src.peer);
    src.peer = -1;

    if (hvf_qemu_migrate(src.q, dst.q, &o, &r, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(r.status, "cancelled");
    assert_true(r.timed_out);
    assert_true(r.wall_ms >= 30);
    assert_true(r.samples >= 2);
    fake_close(&src);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* a QMP error on migrate is returned, not waited on */
    fake_open(&src, NULL);
    fake_say(&src, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}, \"id\": "
                   "\"hvf-2\"}\n");
    assert_int_equal(hvf_qemu_migrate(src.q, dst.q, &o, &r, &err), -1);
    assert_non_null(strstr(err.msg, "migrate: GenericError: busy"));

    /* only local destinations */
    o.uri = "tcp:10.0.0.1:4444";
    assert_int_equal(hvf_qemu_migrate(src.q, dst.q, &o, &r, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    fake_close(&src);
    fake_close(&dst);
}

static void
test_free_port(void **state)
{
    hvf_error err = HVF_ERROR_INIT;
    int port = 0;

    assert_int_equal(hvf_qemu_free_port(&port, &err), 0);
    assert_true(port > 0 && port < 65536);
}

/* ---------------------------------------------------------------- processes */

static char *
write_script(const char *dir, const char *name, const char *body)
{
    char *path = hvf_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

/* Gone or a zombie waiting for init: either way it no longer runs. */
static bool
process_gone(pid_t pid)
{
    char path[64];
    char buf[256];
    FILE *f;
    char *rp;
    bool gone = true;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) && rp[1] == ' ')
        gone = rp[2] == 'Z' || rp[2] == 'X';
    fclose(f);
    return gone;
}

static void
test_proc_never_leaks(void **state)
{
    char dir[] = "/tmp/hvf-qemu-XXXXXX";
    hvf_error err = HVF_ERROR_INIT;
    hvf_qemu_opts o = {.workdir = dir, .name = "fake", .timeout_ms = 300};
    char *fails;
    char *stubborn;
    char *pidfile;
    FILE *f;
    int child = 0;

    assert_non_null(mkdtemp(dir));
    hvf_qemu_cleanup_install();

    /* exits at once with a message: reported, reaped */
    fails = write_script(dir, "fails.sh", "#!/bin/sh\necho 'qemu: bad option -x' >&2\nexit 1\n");
    o.binary = fails;
    assert_null(hvf_qemu_start(&o, &err));
    assert_non_null(strstr(err.msg, "exited at start: qemu: bad option -x"));
    assert_int_equal(hvf_qemu_count(), 0);

    /* never opens QMP and ignores SIGTERM, with a child of its own: the group gets SIGKILL */
    pidfile = hvf_asprintf("%s/child.pid", dir);
    stubborn =
        write_script(dir, "stubborn.sh",
                     "#!/bin/sh\ntrap '' TERM\nsleep 30 &\necho $! > \"$(dirname $0)/child.pid\"\n"
                     "while :; do sleep 1; done\n");
    o.binary = stubborn;
    assert_null(hvf_qemu_start(&o, &err));
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_int_equal(hvf_qemu_count(), 0);
    f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &child), 1);
    fclose(f);
    usleep(50 * 1000);
    assert_true(process_gone(child)); /* the grandchild went with its group */

    /* no such binary */
    o.binary = "/nonexistent/qemu";
    assert_null(hvf_qemu_start(&o, &err));
    assert_non_null(strstr(err.msg, "cannot run"));
    assert_int_equal(hvf_qemu_count(), 0);

    /* bad names are refused before anything starts */
    o.name = "a,b";
    assert_null(hvf_qemu_start(&o, &err));
    assert_int_equal(err.code, HVF_ERR_INVALID);

    unlink(fails);
    unlink(stubborn);
    unlink(pidfile);
    free(fails);
    free(stubborn);
    free(pidfile);
    {
        char *p;
        p = hvf_asprintf("%s/fake.log", dir);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_kinds),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_handshake_bad),
        cmocka_unit_test(test_greeting_timeout),
        cmocka_unit_test(test_reply_among_events),
        cmocka_unit_test(test_timeout_then_late_reply),
        cmocka_unit_test(test_malformed_breaks),
        cmocka_unit_test(test_oversize_line),
        cmocka_unit_test(test_peer_gone),
        cmocka_unit_test(test_connect_unix),
        cmocka_unit_test(test_migrate_loop),
        cmocka_unit_test(test_migrate_timeout_and_refusals),
        cmocka_unit_test(test_free_port),
        cmocka_unit_test(test_proc_never_leaks),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
