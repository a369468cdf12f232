/* SPDX-License-Identifier: MIT */
/* QEMU process lifecycle: start in a process group, connect QMP, stop for sure, kill on exit. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-proc.h"
#include "hvfleet/alloc.h"

struct hvf_qemu {
    pid_t pid;
    bool reaped;
    int slot;
    hvf_qmp *qmp;
    char *qmp_path;
    char *serial_path;
    char *log_path;
};

/* Read by signal handlers: plain stores of pid_t are atomic on every target we build for. */
static volatile pid_t proc_table[HVF_QEMU_MAX_PROCS];
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* ---------------------------------------------------------------- table and cleanup */

static int
proc_table_add(pid_t pid)
{
    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++) {
        if (proc_table[i] == 0) {
            proc_table[i] = pid;
            return i;
        }
    }
    return -1;
}

static void
proc_table_del(int slot)
{
    if (slot >= 0)
        proc_table[slot] = 0;
}

int
hvf_qemu_count(void)
{
    int n = 0;

    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++)
        n += proc_table[i] != 0;
    return n;
}

static void
proc_kill_groups(void)
{
    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++) {
        pid_t pid = proc_table[i];
        /* A tracked daemonized QEMU leads no process group: then its pid alone. */
        if (pid > 0 && kill(-pid, SIGKILL) < 0)
            kill(pid, SIGKILL);
    }
}

int
hvf_qemu_track_pid(pid_t pid)
{
    int slot;

    if (pid <= 0)
        return -1;
    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++) {
        if (proc_table[i] == pid)
            return 0; /* already recorded (e.g. adopted again): once is enough */
    }
    slot = proc_table_add(pid);
    return slot < 0 ? -1 : 0;
}

void
hvf_qemu_untrack_pid(pid_t pid)
{
    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++) {
        if (pid > 0 && proc_table[i] == pid) {
            proc_table[i] = 0;
            return;
        }
    }
}

void
hvf_qemu_kill_all(void)
{
    proc_kill_groups();
    for (int i = 0; i < HVF_QEMU_MAX_PROCS; i++) {
        pid_t pid = proc_table[i];
        if (pid > 0) {
            /* ECHILD for a tracked QEMU that is not our child: nothing to reap */
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            proc_table[i] = 0;
        }
    }
}

static void
proc_on_signal(int sig)
{
    /* SA_RESETHAND restored the default action: re-raise to die by the same signal. */
    proc_kill_groups();
    raise(sig);
}

void
hvf_qemu_cleanup_install(void)
{
    static bool installed;
    struct sigaction sa;

    if (installed)
        return;
    installed = true;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = proc_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < HVF_ARRAY_LEN(cleanup_signals); i++)
        sigaction(cleanup_signals[i], &sa, NULL);
    atexit(hvf_qemu_kill_all);
}

/* ---------------------------------------------------------------- waiting */

static int64_t
proc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reaps @p if it has exited; true once reaped. */
static bool
proc_try_reap(hvf_qemu *p)
{
    pid_t r;

    if (p->reaped)
        return true;
    do {
        r = waitpid(p->pid, NULL, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->reaped = true;
        proc_table_del(p->slot);
        p->slot = -1;
    }
    return p->reaped;
}

static bool
proc_wait_exit(hvf_qemu *p, int ms)
{
    int64_t deadline = proc_now_ms() + ms;

    while (!proc_try_reap(p)) {
        if (proc_now_ms() >= deadline)
            return false;
        usleep(5 * 1000);
    }
    return true;
}

/* ---------------------------------------------------------------- start */

/* The last non-empty line of QEMU's log, to say why it exited. */
static void
proc_log_tail(const char *path, char *out, size_t size)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;
    char *end;
    char *start;

    hvf_strlcpy(out, "no message", size);
    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1)
        fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
    else
        rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    end = buf + n;
    while (end > buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        *--end = 0;
    if (end == buf)
        return;
    start = strrchr(buf, '\n');
    hvf_strlcpy(out, start ? start + 1 : buf, size);
}

static char **
proc_argv(const hvf_qemu_opts *o, const hvf_qemu *p)
{
    const char *binary = o->binary ? o->binary : "qemu-system-x86_64";
    size_t extra = 0;
    size_t n = 0;
    char **argv;

    while (o->args && o->args[extra])
        extra++;
    argv = hvf_calloc(16 + extra, sizeof(*argv));
    argv[n++] = hvf_strdup(binary);
    argv[n++] = hvf_strdup("-name");
    argv[n++] = hvf_strdup(o->name);
    argv[n++] = hvf_strdup("-nodefaults");
    argv[n++] = hvf_strdup("-no-user-config");
    argv[n++] = hvf_strdup("-display");
    argv[n++] = hvf_strdup("none");
    argv[n++] = hvf_strdup("-qmp");
    argv[n++] = hvf_asprintf("unix:%s,server=on,wait=off", p->qmp_path);
    argv[n++] = hvf_strdup("-serial");
    argv[n++] = hvf_asprintf("file:%s", p->serial_path);
    for (size_t i = 0; i < extra; i++)
        argv[n++] = hvf_strdup(o->args[i]);
    argv[n] = NULL;
    return argv;
}

static void
proc_argv_free(char **argv)
{
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static void __attribute__((noreturn))
proc_child(char **argv, int log_fd, pid_t parent, const sigset_t *oldmask)
{
    int null_fd;

    setpgid(0, 0);
    /* If we die, by SIGKILL or a crash, so does QEMU. The parent may already be gone. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "hvfleet: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void
proc_free(hvf_qemu *p)
{
    hvf_qmp_close(p->qmp);
    free(p->qmp_path);
    free(p->serial_path);
    free(p->log_path);
    free(p);
}

hvf_qemu *
hvf_qemu_start(const hvf_qemu_opts *o, hvf_error *err)
{
    hvf_qemu *p = HVF_NEW(hvf_qemu);
    hvf_qmp_opts qo = {.timeout_ms = o->timeout_ms, .on_event = o->on_event, .opaque = o->opaque};
    int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HVF_QMP_DEFAULT_TIMEOUT_MS;
    sigset_t block;
    sigset_t oldmask;
    char **argv;
    int log_fd;
    pid_t pid;
    pid_t parent = getpid();
    int64_t deadline;
    struct stat st;

    p->slot = -1;
    p->reaped = true;
    if (!o->workdir || !o->name || strchr(o->workdir, ',') || strchr(o->name, ',') ||
        strchr(o->name, '/')) {
        hvf_error_set(
            err, HVF_ERR_INVALID,
            "qemu: workdir '%s' and name '%s': expected a directory and a file stem without ','",
            o->workdir ? o->workdir : "(none)", o->name ? o->name : "(none)");
        proc_free(p);
        return NULL;
    }
    p->qmp_path = hvf_asprintf("%s/%s.qmp", o->workdir, o->name);
    p->serial_path = hvf_asprintf("%s/%s.serial", o->workdir, o->name);
    p->log_path = hvf_asprintf("%s/%s.log", o->workdir, o->name);
    unlink(p->qmp_path);
    unlink(p->serial_path);
    log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "qemu: cannot create '%s': %s", p->log_path,
                      strerror(errno));
        proc_free(p);
        return NULL;
    }
    if (hvf_qemu_count() >= HVF_QEMU_MAX_PROCS) {
        close(log_fd);
        hvf_error_set(err, HVF_ERR_CAPACITY, "qemu: already %d QEMUs running", HVF_QEMU_MAX_PROCS);
        proc_free(p);
        return NULL;
    }
    argv = proc_argv(o, p);

    /* No cleanup signal between fork and recording the pid, or that QEMU would escape. */
    sigemptyset(&block);
    for (size_t i = 0; i < HVF_ARRAY_LEN(cleanup_signals); i++)
        sigaddset(&block, cleanup_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    pid = fork();
    if (pid == 0)
        proc_child(argv, log_fd, parent, &oldmask);
    if (pid > 0) {
        setpgid(pid, pid); /* also done by the child: whichever runs first */
        p->pid = pid;
        p->reaped = false;
        p->slot = proc_table_add(pid);
    }
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    close(log_fd);
    proc_argv_free(argv);
    if (pid < 0) {
        hvf_error_set(err, HVF_ERR_IO, "qemu: fork: %s", strerror(errno));
        proc_free(p);
        return NULL;
    }

    /* Wait for the socket rather than spin on connect: an early exit is then seen at once. */
    deadline = proc_now_ms() + timeout_ms;
    while (stat(p->qmp_path, &st) < 0) {
        if (proc_try_reap(p) || proc_now_ms() >= deadline)
            break;
        usleep(10 * 1000);
    }
    if (proc_try_reap(p)) {
        char tail[256];
        proc_log_tail(p->log_path, tail, sizeof(tail));
        hvf_error_set(err, HVF_ERR_IO, "qemu: %s exited at start: %s", o->name, tail);
        hvf_qemu_stop(p, 0);
        return NULL;
    }
    p->qmp = hvf_qmp_connect(p->qmp_path, &qo, err);
    if (!p->qmp) {
        hvf_error_prefix(err, "qemu: %s: ", o->name);
        hvf_qemu_stop(p, 0);
        return NULL;
    }
    return p;
}

/* ---------------------------------------------------------------- stop and accessors */

int
hvf_qemu_stop(hvf_qemu *p, int grace_ms)
{
    int signalled = 0;

    if (!p)
        return 0;
    if (!proc_try_reap(p) && p->qmp && !hvf_qmp_broken(p->qmp)) {
        hvf_error ignored = HVF_ERROR_INIT;
        hvf_qmp_set_timeout(p->qmp, grace_ms > 0 ? grace_ms : 1);
        /* QEMU may exit before its reply arrives: the outcome is judged by waitpid. */
        if (hvf_qmp_command(p->qmp, "quit", NULL, &ignored) < 0) {
            /* nothing to do: the signals below follow if it did not exit */
        }
    }
    hvf_qmp_close(p->qmp);
    p->qmp = NULL;
    if (!proc_wait_exit(p, grace_ms)) {
        signalled = 1;
        kill(-p->pid, SIGTERM);
        if (!proc_wait_exit(p, grace_ms)) {
            kill(-p->pid, SIGKILL);
            while (!proc_wait_exit(p, 1000)) {
            }
        }
    }
    proc_free(p);
    return signalled;
}

bool
hvf_qemu_alive(hvf_qemu *p)
{
    return !proc_try_reap(p);
}

pid_t
hvf_qemu_pid(const hvf_qemu *p)
{
    return p->pid;
}

hvf_qmp *
hvf_qemu_qmp(hvf_qemu *p)
{
    return p->qmp;
}

const char *
hvf_qemu_serial_path(const hvf_qemu *p)
{
    return p->serial_path;
}

const char *
hvf_qemu_log_path(const hvf_qemu *p)
{
    return p->log_path;
}
