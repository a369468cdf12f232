/* SPDX-License-Identifier: MIT */
/*
 * The qemu driver's VM layer on real QEMU (TCG, 127.0.0.1): bad specs, lifecycle and adoption,
 * a migration, a cancelled one, the dirty rate. One case per run (argv[1]), each bounded.
 * Every QEMU is recorded in qemu-proc's table (conf.kill_on_exit), whose signal and atexit hooks
 * SIGKILL it by pid whatever path the test takes.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-proc.h"
#include "driver/qemu/qemu-vm-migrate.h"
#include "driver/qemu/qemu-vm.h"
#include "hvfleet/alloc.h"

#define SKIP 77

static int failures;
static bool skipped; /* the case needs what this machine lacks */
static char dir[] = "/tmp/hvf-qvm-XXXXXX";

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, err.msg);                \
            failures++;                                                                            \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* From the guest's "rate" lines in @path: the first and last "written=", their count. */
typedef struct guest_log {
    unsigned long first_written;
    unsigned long last_written;
    unsigned long max_stale;
    int lines;
    double sum_kib_s; /* of the last @window lines */
} guest_log;

static guest_log
read_guest(const char *path, int window)
{
    char line[512];
    guest_log g = {0};
    double kib[4096];
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f)) {
        char *w = strstr(line, " written=");
        char *s = strstr(line, " stale=");
        char *k = strstr(line, " kib_s=");
        if (strncmp(line, "hvf-guest: rate", 15) != 0 || !w)
            continue;
        if (g.lines == 0)
            g.first_written = strtoul(w + 9, NULL, 10);
        g.last_written = strtoul(w + 9, NULL, 10);
        if (s && strtoul(s + 7, NULL, 10) > g.max_stale)
            g.max_stale = strtoul(s + 7, NULL, 10);
        if (g.lines < 4096)
            kib[g.lines] = k ? strtod(k + 7, NULL) : 0;
        g.lines++;
    }
    if (f)
        fclose(f);
    for (int i = g.lines - window; i < g.lines && i < 4096; i++) {
        if (i >= 0)
            g.sum_kib_s += kib[i];
    }
    return g;
}

/* Waits until the guest reported @n rate lines (at most @ms). */
static bool
wait_rates(const char *path, int n, int ms)
{
    int64_t end = now_ms() + ms;

    while (read_guest(path, 0).lines < n) {
        if (now_ms() >= end)
            return false;
        sleep_ms(50);
    }
    return true;
}

static hvf_qvm_conf
conf_for_test(void)
{
    /* a port range of its own per test process: parallel tests never meet */
    int base = 30000 + (int)(getpid() % 2000) * 8;
    hvf_qvm_conf c = {.dir = dir,
                      .listen_addr = "127.0.0.1",
                      .port_min = base,
                      .port_max = base + 7,
                      .qmp_timeout_ms = 10000,
                      .kill_on_exit = true};
    return c;
}

static hvf_qvm *
start_guest(const hvf_qvm_conf *c, const char *name, const char *append, bool incoming,
            hvf_error *err)
{
    const char *extra[] = {"-append", append, NULL};
    hvf_qvm_spec s = {.name = name,
                      .mem_mib = 64,
                      .vcpus = 1,
                      .kernel = HVF_GUEST_ELF,
                      .accel = "tcg",
                      .extra = extra,
                      .incoming = incoming};

    return hvf_qvm_start(c, &s, err);
}

/* ---------------------------------------------------------------- bad specs */

static void
expect_invalid(const hvf_qvm_conf *c, const hvf_qvm_spec *s, const char *needle)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *vm = hvf_qvm_start(c, s, &err);

    CHECK(vm == NULL);
    CHECK(err.code == HVF_ERR_INVALID);
    CHECK(strchr(err.msg, '\n') == NULL);
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
        failures++;
    }
    hvf_qvm_free(vm);
}

static void
case_badspec(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_qvm_spec ok = {.name = "a", .mem_mib = 64, .kernel = HVF_GUEST_ELF};
    hvf_qvm_spec s;
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm_adopted a;
    const char *bogus[] = {"-no-such-option", NULL};
    struct stat st;
    hvf_qvm *vm;

    s = ok;
    s.kernel = NULL;
    expect_invalid(&c, &s, "expected exactly one of a kernel and a disk image");
    s = ok;
    s.disk = HVF_GUEST_ELF;
    expect_invalid(&c, &s, "expected exactly one of a kernel and a disk image");
    s = ok;
    s.mem_mib = 0;
    expect_invalid(&c, &s, "mem_mib 0: expected 16 to");
    s = ok;
    s.name = "a/b";
    expect_invalid(&c, &s, "vm name 'a/b': expected");
    s = ok;
    s.name = "..";
    expect_invalid(&c, &s, "vm name '..'");
    s = ok;
    s.kernel = "/nonexistent/kernel";
    expect_invalid(&c, &s, "image '/nonexistent/kernel'");
    s = ok;
    s.accel = "hax";
    expect_invalid(&c, &s, "accel 'hax': expected tcg or kvm");
    {
        hvf_qvm_conf rel = c;
        rel.dir = "relative/dir";
        expect_invalid(&rel, &ok, "state directory 'relative/dir': expected an absolute path");
    }
    /* nothing was made for the refused specs */
    {
        char *p = hvf_asprintf("%s/vms/a", dir);
        CHECK(stat(p, &st) < 0);
        free(p);
    }

    /* QEMU refuses its command line: its own message comes back, no process is left */
    s = ok;
    s.extra = bogus;
    vm = hvf_qvm_start(&c, &s, &err);
    CHECK(vm == NULL);
    CHECK(err.code == HVF_ERR_IO);
    CHECK(strstr(err.msg, "no-such-option") != NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    hvf_qvm_free(vm);
    CHECK(hvf_qvm_adopt_all(&c, &a, &err) == 0);
    CHECK(a.n_vms == 0);
    CHECK(a.n_stale == 1 && strcmp(a.stale[0], "a") == 0);
    hvf_qvm_adopted_clear(&a);
}

/* ---------------------------------------------------------------- lifecycle and adoption */

static void
case_adopt(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *vm = NULL;
    hvf_qvm *b = NULL;
    hvf_qemu *stranger = NULL;
    hvf_qvm_adopted a = {0};
    const char *stranger_args[] = {"-machine", "pc", "-accel", "tcg", "-m", "16M", "-S", NULL};
    hvf_qemu_opts so = {.args = stranger_args, .workdir = dir, .name = "stranger",
                        .timeout_ms = 10000};
    char raw[32];
    char *pidfile = NULL;
    pid_t pid;
    unsigned long before;
    bool found = false;

    vm = start_guest(&c, "a", "rate=1 report=100", false, &err);
    if (!vm) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    pid = hvf_qvm_pid(vm);
    CHECK(pid > 0 && pid != getpid() && getppid() != pid);
    CHECK(hvf_qvm_status(vm, raw, sizeof(raw)) == HVF_QVM_RUNNING);
    CHECK(strcmp(raw, "running") == 0);
    CHECK(wait_rates(hvf_qvm_serial_path(vm), 1, 20000));
    {
        hvf_qvm *twice = start_guest(&c, "a", "rate=1", false, &err);
        CHECK(twice == NULL && err.code == HVF_ERR_CONFLICT);
        hvf_qvm_free(twice);
    }
    stranger = hvf_qemu_start(&so, &err);
    if (!stranger) {
        fprintf(stderr, "stranger: %s\n", err.msg);
        failures++;
        goto out;
    }

    /* the caller "restarts": its state is gone, QEMU is not */
    before = read_guest(hvf_qvm_serial_path(vm), 0).last_written;
    hvf_qvm_free(vm);
    vm = NULL;
    CHECK(kill(pid, 0) == 0);
    TRY(hvf_qvm_adopt_all(&c, &a, &err));
    CHECK(a.n_vms == 1);
    if (a.n_vms == 1) {
        vm = a.vms[0];
        a.vms[0] = NULL;
        a.n_vms = 0;
        CHECK(strcmp(hvf_qvm_name(vm), "a") == 0);
        CHECK(hvf_qvm_pid(vm) == pid);
        CHECK(hvf_qvm_status(vm, NULL, 0) == HVF_QVM_RUNNING);
    }
    for (size_t i = 0; i < a.n_unknown; i++) {
        CHECK(a.unknown[i].pid != pid);
        if (a.unknown[i].pid == hvf_qemu_pid(stranger)) {
            found = true;
            CHECK(strstr(a.unknown[i].cmdline, "stranger.qmp") != NULL);
        }
    }
    CHECK(found);
    hvf_qvm_adopted_clear(&a);
    CHECK(hvf_qemu_alive(stranger)); /* reported, not killed */
    if (vm) {
        /* the guest ran on, untouched */
        CHECK(wait_rates(hvf_qvm_serial_path(vm), read_guest(hvf_qvm_serial_path(vm), 0).lines + 2,
                         10000));
        CHECK(read_guest(hvf_qvm_serial_path(vm), 0).last_written > before);
        /* the guest ignores ACPI: quit after the power-down timeout */
        CHECK(hvf_qvm_stop(vm, 500, &err) == 1);
        CHECK(!hvf_qvm_alive(vm));
        /* gone (once init reaped the zombie) */
        for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
            sleep_ms(10);
        CHECK(kill(pid, 0) < 0);
        CHECK(hvf_qvm_status(vm, NULL, 0) == HVF_QVM_STOPPED);
        pidfile = hvf_asprintf("%s/pidfile", hvf_qvm_dir(vm));
        CHECK(access(pidfile, F_OK) < 0);
    }
    TRY(hvf_qvm_adopt_all(&c, &a, &err));
    CHECK(a.n_vms == 0 && a.n_stale == 1);
    hvf_qvm_adopted_clear(&a);

    /* killed behind our back: crashed (its pidfile stayed) */
    b = start_guest(&c, "b", "rate=0", false, &err);
    if (!b) {
        fprintf(stderr, "start b: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(kill(hvf_qvm_pid(b), SIGKILL) == 0);
    for (int i = 0; i < 200 && hvf_qvm_alive(b); i++)
        sleep_ms(10);
    CHECK(hvf_qvm_status(b, NULL, 0) == HVF_QVM_CRASHED);
    CHECK(hvf_qvm_destroy(b, &err) == 0); /* nothing to stop, the files tidied */
out:
    free(pidfile);
    hvf_qvm_adopted_clear(&a);
    if (vm && hvf_qvm_destroy(vm, &err) < 0)
        failures++;
    if (b && hvf_qvm_destroy(b, &err) < 0)
        failures++;
    hvf_qvm_free(vm);
    hvf_qvm_free(b);
    hvf_qemu_stop(stranger, 1000);
}

/* ---------------------------------------------------------------- migration */

/* Polls @src until a final status (at most @ms); true when it got there. */
static bool
poll_until_final(hvf_qvm *src, int ms, hvf_qvm_migrate_info *last, bool *saw_active,
                 hvf_error *err)
{
    int64_t end = now_ms() + ms;
    uint64_t prev = 0;

    for (;;) {
        if (hvf_qvm_migrate_src_poll(src, last, err) < 0)
            return false;
        if (strcmp(last->status, "active") == 0) {
            *saw_active = true;
            CHECK(last->total_bytes >= 64ULL << 20);
            CHECK(last->transferred_bytes >= prev);
            prev = last->transferred_bytes;
        }
        if (hvf_qvm_migrate_final(last->status))
            return true;
        if (now_ms() >= end)
            return false;
        sleep_ms(100);
    }
}

static void
case_migrate(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *src = NULL;
    hvf_qvm *dst = NULL;
    hvf_qvm_migrate_info info;
    hvf_qvm_migrate_params mp = {.max_bytes_per_s = 48u << 20, .downtime_limit_ms = 300,
                                 .auto_converge = true};
    char listen[64];
    char first[64];
    bool saw_active = false;
    guest_log gs;
    guest_log gd;
    int blocker = -1;

    src = start_guest(&c, "src", "rate=4 report=200", false, &err);
    if (src)
        dst = start_guest(&c, "dst", "rate=4 report=200", true, &err);
    if (!src || !dst) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(hvf_qvm_status(dst, NULL, 0) == HVF_QVM_PAUSED);
    CHECK(wait_rates(hvf_qvm_serial_path(src), 2, 20000));

    /* the first port of the range is taken by someone else: the next one is used */
    {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c.port_min)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        blocker = socket(AF_INET, SOCK_STREAM, 0);
        if (blocker >= 0 && bind(blocker, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            close(blocker);
            blocker = -1; /* taken already: the same outcome */
        }
    }
    TRY(hvf_qvm_migrate_dst_listen(dst, NULL, listen, sizeof(listen), &err));
    snprintf(first, sizeof(first), "127.0.0.1:%d", c.port_min);
    CHECK(strncmp(listen, "127.0.0.1:", 10) == 0 && strcmp(listen, first) != 0);
    CHECK(atoi(listen + 10) > c.port_min && atoi(listen + 10) <= c.port_max);

    /* finishing before completion is refused, nothing happens */
    CHECK(hvf_qvm_migrate_src_finish(src, &err) < 0 && err.code == HVF_ERR_CONFLICT);
    CHECK(hvf_qvm_alive(src));

    mp.target = listen;
    TRY(hvf_qvm_migrate_src_start(src, &mp, &err));
    CHECK(poll_until_final(src, 45000, &info, &saw_active, &err));
    fprintf(stderr, "migration: %s total %lld ms downtime %lld ms transferred %llu bytes\n",
            info.status, (long long)info.total_time_ms, (long long)info.downtime_ms,
            (unsigned long long)info.transferred_bytes);
    CHECK(strcmp(info.status, "completed") == 0);
    CHECK(saw_active);
    CHECK(info.downtime_ms >= 0 && info.total_time_ms > 0);
    CHECK(info.transferred_bytes > 60ULL << 20); /* the guest filled its RAM */
    gs = read_guest(hvf_qvm_serial_path(src), 0);

    TRY(hvf_qvm_migrate_src_finish(src, &err));
    CHECK(!hvf_qvm_alive(src));
    CHECK(hvf_qvm_status(src, NULL, 0) == HVF_QVM_STOPPED);
    TRY(hvf_qvm_migrate_dst_finish(dst, 5000, &err));
    CHECK(hvf_qvm_status(dst, NULL, 0) == HVF_QVM_RUNNING);
    CHECK(wait_rates(hvf_qvm_serial_path(dst), 2, 10000));
    gd = read_guest(hvf_qvm_serial_path(dst), 0);
    /* the guest's counter went on from where it was on the source, and no write was lost */
    CHECK(gs.last_written > 0);
    CHECK(gd.first_written >= gs.last_written);
    CHECK(gd.max_stale == 0);
out:
    if (blocker >= 0)
        close(blocker);
    if (src && hvf_qvm_destroy(src, &err) < 0)
        failures++;
    if (dst && hvf_qvm_destroy(dst, &err) < 0)
        failures++;
    hvf_qvm_free(src);
    hvf_qvm_free(dst);
}

static void
case_cancel(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *src = NULL;
    hvf_qvm *dst = NULL;
    hvf_qvm_migrate_info info;
    /* 2 MiB/s for 64 MiB: half a minute, cancelled long before */
    hvf_qvm_migrate_params mp = {.max_bytes_per_s = 2u << 20};
    char listen[64];
    int64_t end;
    unsigned long before;
    bool saw_active = false;

    src = start_guest(&c, "src", "rate=2 report=200", false, &err);
    if (src)
        dst = start_guest(&c, "dst", "rate=2", true, &err);
    if (!src || !dst) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(wait_rates(hvf_qvm_serial_path(src), 1, 20000));
    TRY(hvf_qvm_migrate_dst_listen(dst, NULL, listen, sizeof(listen), &err));
    mp.target = listen;
    TRY(hvf_qvm_migrate_src_start(src, &mp, &err));
    end = now_ms() + 20000;
    do {
        sleep_ms(100);
        TRY(hvf_qvm_migrate_src_poll(src, &info, &err));
    } while (!(strcmp(info.status, "active") == 0 && info.transferred_bytes > (1u << 20)) &&
             !hvf_qvm_migrate_final(info.status) && now_ms() < end);
    CHECK(strcmp(info.status, "active") == 0);
    CHECK(info.remaining_bytes > 0);
    TRY(hvf_qvm_migrate_src_cancel(src, &err));
    CHECK(poll_until_final(src, 10000, &info, &saw_active, &err));
    CHECK(strcmp(info.status, "cancelled") == 0);
    /* the source runs on, its guest too; finishing is refused */
    CHECK(hvf_qvm_status(src, NULL, 0) == HVF_QVM_RUNNING);
    before = read_guest(hvf_qvm_serial_path(src), 0).last_written;
    CHECK(wait_rates(hvf_qvm_serial_path(src), read_guest(hvf_qvm_serial_path(src), 0).lines + 2,
                     10000));
    CHECK(read_guest(hvf_qvm_serial_path(src), 0).last_written > before);
    CHECK(hvf_qvm_migrate_src_finish(src, &err) < 0 && err.code == HVF_ERR_CONFLICT);
    CHECK(hvf_qvm_alive(src));
    /* the destination gave up: QEMU exits on a broken incoming stream */
    for (int i = 0; i < 500 && hvf_qvm_alive(dst); i++)
        sleep_ms(10);
    CHECK(!hvf_qvm_alive(dst));
    CHECK(hvf_qvm_migrate_dst_finish(dst, 100, &err) < 0 && err.code == HVF_ERR_CONFLICT);
out:
    if (src && hvf_qvm_destroy(src, &err) < 0)
        failures++;
    if (dst && hvf_qvm_destroy(dst, &err) < 0)
        failures++;
    hvf_qvm_free(src);
    hvf_qvm_free(dst);
}

static void
case_postcopy(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *src = NULL;
    hvf_qvm *dst = NULL;
    hvf_qvm_migrate_info info;
    hvf_qvm_incoming in = {.postcopy = true};
    /* 16 MiB/s against a guest dirtying 8 MiB/s: pre-copy would take long, post-copy ends it */
    /* the guest dirties faster than the link carries: pre-copy alone never converges, even
     * on a loaded machine whose TCG guest dirties less than asked (seen: it converged before
     * the switch, and the test failed) */
    hvf_qvm_migrate_params mp = {.max_bytes_per_s = 8u << 20, .postcopy = true};
    char listen[64];
    int64_t end;
    bool saw_active = false;
    bool switched = false;
    guest_log gs;
    guest_log gd;

    src = start_guest(&c, "src", "rate=16 report=200", false, &err);
    if (src)
        dst = start_guest(&c, "dst", "rate=16 report=200", true, &err);
    if (!src || !dst) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(wait_rates(hvf_qvm_serial_path(src), 1, 20000));
    if (hvf_qvm_migrate_dst_listen(dst, &in, listen, sizeof(listen), &err) < 0) {
        /* post-copy needs userfaultfd, which an unprivileged or confined QEMU may lack */
        if (err.code == HVF_ERR_CONFLICT && strstr(err.msg, "ostcopy")) {
            fprintf(stderr, "skipped: %s\n", err.msg);
            skipped = true;
        } else {
            fprintf(stderr, "listen: %s\n", err.msg);
            failures++;
        }
        goto out;
    }
    mp.target = listen;
    TRY(hvf_qvm_migrate_src_start(src, &mp, &err));
    end = now_ms() + 40000;
    for (;;) {
        TRY(hvf_qvm_migrate_src_poll(src, &info, &err));
        if (hvf_qvm_migrate_final(info.status) || now_ms() >= end)
            break;
        /* after the first pass, the rest on demand from the destination */
        if (!switched && strcmp(info.status, "active") == 0 && info.dirty_sync_count >= 2) {
            TRY(hvf_qvm_migrate_src_postcopy(src, &err));
            switched = true;
        }
        if (strcmp(info.status, "postcopy-active") == 0)
            saw_active = true;
        sleep_ms(20);
    }
    gs = read_guest(hvf_qvm_serial_path(src), 0);
    CHECK(switched && saw_active);
    CHECK(strcmp(info.status, "completed") == 0);
    TRY(hvf_qvm_migrate_src_finish(src, &err));
    TRY(hvf_qvm_migrate_dst_finish(dst, 5000, &err));
    CHECK(hvf_qvm_status(dst, NULL, 0) == HVF_QVM_RUNNING);
    CHECK(wait_rates(hvf_qvm_serial_path(dst), 2, 10000));
    gd = read_guest(hvf_qvm_serial_path(dst), 0);
    CHECK(gd.first_written >= gs.last_written);
    CHECK(gd.max_stale == 0);
out:
    if (src && hvf_qvm_destroy(src, &err) < 0)
        failures++;
    if (dst && hvf_qvm_destroy(dst, &err) < 0)
        failures++;
    hvf_qvm_free(src);
    hvf_qvm_free(dst);
}

/* ---------------------------------------------------------------- the guest's counter */

/* True when the guest stopped on a CPU exception (it reports the vector on COM1). */
static bool
guest_faulted(const char *path)
{
    char line[512];
    bool found = false;
    FILE *f = fopen(path, "r");

    while (f && !found && fgets(line, sizeof(line), f))
        found = strncmp(line, "hvf-guest: fault", 16) == 0;
    if (f)
        fclose(f);
    return found;
}

/* The QEMU's version as its QMP greeting encodes it (major * 10000 + minor * 100 + micro). */
static int
qemu_version(void)
{
    int major = 0, minor = 0, micro = 0;
    FILE *p = popen("qemu-system-x86_64 --version", "r");

    if (p) {
        if (fscanf(p, "QEMU emulator version %d.%d.%d", &major, &minor, &micro) < 2)
            major = 0;
        pclose(p);
    }
    return major * 10000 + minor * 100 + micro;
}

/*
 * A migration that needs several passes (64 MiB at a 24 MiB/s cap against a guest dirtying
 * 8 MiB/s), then the guest's own counter on the destination against its last report on the
 * source. @ram overrides the RAM size hvf_qvm_start gives (NULL: its own).
 */
static void
counter_run(const char *ram)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *src = NULL;
    hvf_qvm *dst = NULL;
    hvf_qvm_migrate_info info;
    hvf_qvm_migrate_params mp = {.max_bytes_per_s = 24u << 20, .downtime_limit_ms = 300};
    const char *extra[] = {"-append", "rate=8 report=200", ram ? "-m" : NULL, ram, NULL};
    hvf_qvm_spec s = {.mem_mib = 64, .kernel = HVF_GUEST_ELF, .accel = "tcg", .extra = extra};
    char listen[64];
    bool saw_active = false;
    bool older;
    bool faulted;
    guest_log gs;
    guest_log gd = {0};
    int64_t end;

    s.name = "src";
    src = hvf_qvm_start(&c, &s, &err);
    s.name = "dst";
    s.incoming = true;
    if (src)
        dst = hvf_qvm_start(&c, &s, &err);
    if (!src || !dst) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(wait_rates(hvf_qvm_serial_path(src), 2, 20000));
    TRY(hvf_qvm_migrate_dst_listen(dst, NULL, listen, sizeof(listen), &err));
    mp.target = listen;
    TRY(hvf_qvm_migrate_src_start(src, &mp, &err));
    CHECK(poll_until_final(src, 30000, &info, &saw_active, &err));
    CHECK(strcmp(info.status, "completed") == 0);
    /* the first pass, at least one more, the last one: the guest dirtied pages already sent */
    CHECK(info.dirty_sync_count >= 3);
    gs = read_guest(hvf_qvm_serial_path(src), 0);
    TRY(hvf_qvm_migrate_src_finish(src, &err));
    TRY(hvf_qvm_migrate_dst_finish(dst, 5000, &err));
    /* two reports on the destination, or the guest stopped on a fault (an older stack) */
    end = now_ms() + 10000;
    while (read_guest(hvf_qvm_serial_path(dst), 0).lines < 2 &&
           !guest_faulted(hvf_qvm_serial_path(dst)) && now_ms() < end)
        sleep_ms(50);
    gd = read_guest(hvf_qvm_serial_path(dst), 0);
    faulted = guest_faulted(hvf_qvm_serial_path(dst));
    older = faulted || gd.lines == 0 || gd.first_written < gs.last_written;
    fprintf(stderr,
            "ram %s: %llu syncs, source last written=%lu, destination first written=%lu (%d "
            "reports)%s, lost_writes_possible=%d\n",
            ram ? ram : "(hvf_qvm's)", (unsigned long long)info.dirty_sync_count,
            gs.last_written, gd.first_written, gd.lines, faulted ? ", guest fault" : "",
            info.lost_writes_possible);
    CHECK(gs.last_written > 0);
    CHECK(gd.max_stale == 0);
    /* a migration that brought older memory back is flagged as one that may */
    CHECK(!older || info.lost_writes_possible);
    if (!ram) {
        /* hvf_qvm's own TCG guests: QEMU sees every write, the counter goes on from where it was */
        CHECK(!info.lost_writes_possible);
        CHECK(!older);
    } else {
        /* a size QEMU before 9.0 syncs on its fast path, which misses TCG writes */
        CHECK(info.lost_writes_possible == (qemu_version() < 90000));
    }
out:
    if (src && hvf_qvm_destroy(src, &err) < 0)
        failures++;
    if (dst && hvf_qvm_destroy(dst, &err) < 0)
        failures++;
    hvf_qvm_free(src);
    hvf_qvm_free(dst);
}

static void
case_counter(void)
{
    counter_run(NULL);
}

static void
case_counter_fastsync(void)
{
    counter_run("64M");
}

/* ---------------------------------------------------------------- dirty rate */

static void
case_dirtyrate(void)
{
    hvf_qvm_conf c = conf_for_test();
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm *busy = NULL;
    hvf_qvm *idle = NULL;
    uint64_t busy_rate = 0;
    uint64_t idle_rate = 0;
    int busy_lines;
    guest_log g;
    double achieved;

    busy = start_guest(&c, "busy", "rate=8 report=500", false, &err);
    if (busy)
        idle = start_guest(&c, "idle", "rate=0 report=500", false, &err);
    if (!busy || !idle) {
        fprintf(stderr, "start: %s\n", err.msg);
        failures++;
        goto out;
    }
    CHECK(wait_rates(hvf_qvm_serial_path(busy), 2, 20000));
    CHECK(wait_rates(hvf_qvm_serial_path(idle), 2, 20000));
    CHECK(hvf_qvm_dirty_rate_start(busy, 0, &err) < 0 && err.code == HVF_ERR_INVALID);
    busy_lines = read_guest(hvf_qvm_serial_path(busy), 0).lines;
    TRY(hvf_qvm_dirty_rate_start(busy, 2, &err));
    TRY(hvf_qvm_dirty_rate(idle, 2, &idle_rate, &err));
    for (int i = 0; i < 100; i++) {
        int rc = hvf_qvm_dirty_rate_poll(busy, &busy_rate, &err);
        TRY(rc);
        if (rc == 1)
            break;
        sleep_ms(50);
    }
    /* the guest's own figure over the same 2 s (4 reports of 500 ms) */
    g = read_guest(hvf_qvm_serial_path(busy), 4);
    CHECK(g.lines >= busy_lines + 4);
    achieved = g.sum_kib_s / 4 * 1024;
    fprintf(stderr, "dirty rate: measured %llu B/s, guest reported %.0f B/s, idle %llu B/s\n",
            (unsigned long long)busy_rate, achieved, (unsigned long long)idle_rate);
    CHECK(achieved > 0);
    CHECK((double)busy_rate >= achieved / 2 && (double)busy_rate <= achieved * 2);
    CHECK(idle_rate < busy_rate / 4);
out:
    if (busy && hvf_qvm_destroy(busy, &err) < 0)
        failures++;
    if (idle && hvf_qvm_destroy(idle, &err) < 0)
        failures++;
    hvf_qvm_free(busy);
    hvf_qvm_free(idle);
}

/* ---------------------------------------------------------------- the test's own trap */

/* True while some process's cmdline names @qmp (the QEMU of that VM lives). */
static bool
qemu_with_socket(pid_t pid, const char *qmp)
{
    char path[64];
    char buf[4096];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 0)
            buf[i] = ' ';
    }
    buf[n] = 0;
    return strstr(buf, qmp) != NULL;
}

/*
 * A child starts a VM (daemonized: no child of its, no process group of its own) and dies by
 * SIGTERM or by exit(): the cleanup hooks must SIGKILL that QEMU by pid all the same.
 */
static void
trap_one(bool by_signal)
{
    int fds[2];
    pid_t child;
    pid_t qemu = 0;
    int status = 0;
    char *qmp = hvf_asprintf("%s/vms/%s/qmp.sock", dir, by_signal ? "sig" : "exit");

    if (pipe(fds) < 0) {
        perror("pipe");
        failures++;
        free(qmp);
        return;
    }
    child = fork();
    if (child == 0) {
        hvf_qvm_conf c = conf_for_test();
        hvf_error err = HVF_ERROR_INIT;
        hvf_qvm *vm = start_guest(&c, by_signal ? "sig" : "exit", "rate=1", false, &err);
        pid_t pid = vm ? hvf_qvm_pid(vm) : 0;

        close(fds[0]);
        if (write(fds[1], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
            _exit(3);
        if (by_signal)
            raise(SIGTERM);
        exit(0); /* the handle is dropped, QEMU left running: only the hooks stop it */
    }
    close(fds[1]);
    if (child < 0 || read(fds[0], &qemu, sizeof(qemu)) != (ssize_t)sizeof(qemu) || qemu <= 0) {
        fprintf(stderr, "trap: the child did not start its VM\n");
        failures++;
    }
    close(fds[0]);
    if (child > 0)
        waitpid(child, &status, 0);
    CHECK(by_signal ? WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM
                    : WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 200 && qemu > 0 && qemu_with_socket(qemu, qmp); i++)
        sleep_ms(10);
    CHECK(qemu > 0 && !qemu_with_socket(qemu, qmp));
    if (qemu > 0 && qemu_with_socket(qemu, qmp))
        kill(qemu, SIGKILL); /* the check failed: do not leak it on top */
    free(qmp);
}

static void
case_trap(void)
{
    trap_one(true);
    trap_one(false);
}

/* ---------------------------------------------------------------- main */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int
main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {{"badspec", case_badspec},
                 {"adopt", case_adopt},
                 {"migrate", case_migrate},
                 {"cancel", case_cancel},
                 {"postcopy", case_postcopy},
                 {"dirtyrate", case_dirtyrate},
                 {"counter", case_counter},
                 {"counter-fastsync", case_counter_fastsync},
                 {"trap", case_trap}};
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    for (i = 0; i < HVF_ARRAY_LEN(cases) && strcmp(cases[i].name, argv[1]) != 0; i++) {
    }
    if (i == HVF_ARRAY_LEN(cases)) {
        fprintf(stderr, "unknown case '%s'\n", argv[1]);
        return 2;
    }
    if (system("qemu-system-x86_64 --version >/dev/null 2>&1") != 0 ||
        access(HVF_GUEST_ELF, R_OK) != 0) {
        fprintf(stderr, "skipped: qemu-system-x86_64 or the guest (%s) is missing\n",
                HVF_GUEST_ELF);
        return SKIP;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    hvf_qemu_cleanup_install();
    cases[i].fn();
    CHECK(hvf_qemu_count() == 0); /* every QEMU of ours was stopped on every path */
    if (failures == 0)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "QEMU files kept in %s\n", dir);
    return failures ? 1 : skipped ? SKIP : 0;
}
