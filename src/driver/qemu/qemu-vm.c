/* SPDX-License-Identifier: MIT */
/* QEMU VMs in STATE/vms/NAME/: spec checks, daemonized start, stop, status, adoption, dirty rate. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-proc.h"
#include "driver/qemu/qemu-vm-priv.h"
#include "hvfleet/alloc.h"

extern char **environ;

/* After "quit" (or SIGKILL), how long QEMU may take to go. */
#define QVM_QUIT_WAIT_MS 5000
#define QVM_DESTROY_QUIT_MS 2000
#define QVM_CMDLINE_MAX (64 * 1024)

static const char *const state_names[] = {
    [HVF_QVM_RUNNING] = "running",
    [HVF_QVM_PAUSED] = "paused",
    [HVF_QVM_STOPPED] = "stopped",
    [HVF_QVM_CRASHED] = "crashed",
};
_Static_assert(HVF_ARRAY_LEN(state_names) == HVF_QVM_STATE_LAST, "state table");

const char *
hvf_qvm_state_to_string(hvf_qvm_state s)
{
    if ((unsigned)s >= HVF_QVM_STATE_LAST)
        return "unknown";
    return state_names[s];
}

static int64_t
qvm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
qvm_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---------------------------------------------------------------- /proc cmdline */

/* The next NUL-terminated argument of @buf from *@pos, or NULL at the end. */
static const char *
cmdline_next(const char *buf, size_t len, size_t *pos, size_t *arg_len)
{
    size_t start = *pos;
    size_t i = start;

    if (start >= len)
        return NULL;
    while (i < len && buf[i] != 0)
        i++;
    *arg_len = i - start;
    *pos = i + 1;
    return buf + start;
}

bool
hvf_qvm_cmdline_is_qemu(const char *buf, size_t len)
{
    size_t pos = 0;
    size_t n = 0;
    const char *arg0 = cmdline_next(buf, len, &pos, &n);
    const char *base;

    if (!arg0)
        return false;
    base = arg0;
    for (size_t i = 0; i < n; i++) {
        if (arg0[i] == '/')
            base = arg0 + i + 1;
    }
    return (size_t)(arg0 + n - base) >= 11 && memcmp(base, "qemu-system", 11) == 0;
}

bool
hvf_qvm_cmdline_qmp_path(const char *buf, size_t len, char *out, size_t size)
{
    size_t pos = 0;
    size_t n = 0;
    const char *arg;
    bool next_is_value = false;

    if (size == 0 || !hvf_qvm_cmdline_is_qemu(buf, len))
        return false;
    cmdline_next(buf, len, &pos, &n);
    while ((arg = cmdline_next(buf, len, &pos, &n))) {
        const char *val = NULL;
        size_t vlen = 0;

        if (next_is_value) {
            val = arg;
            vlen = n;
        } else if ((n == 4 && memcmp(arg, "-qmp", 4) == 0) ||
                   (n == 5 && memcmp(arg, "--qmp", 5) == 0)) {
            next_is_value = true;
            continue;
        } else if (n > 5 && memcmp(arg, "-qmp=", 5) == 0) {
            val = arg + 5;
            vlen = n - 5;
        } else if (n > 6 && memcmp(arg, "--qmp=", 6) == 0) {
            val = arg + 6;
            vlen = n - 6;
        }
        next_is_value = false;
        if (!val)
            continue;
        if (vlen > 5 && memcmp(val, "unix:", 5) == 0) {
            size_t plen = 0;
            val += 5;
            vlen -= 5;
            while (plen < vlen && val[plen] != ',')
                plen++;
            if (plen == 0 || plen >= size)
                return false;
            memcpy(out, val, plen);
            out[plen] = 0;
            return true;
        }
    }
    return false;
}

void
hvf_qvm_cmdline_join(const char *buf, size_t len, char *out, size_t size)
{
    size_t o = 0;

    if (size == 0)
        return;
    while (len > 0 && buf[len - 1] == 0)
        len--;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        unsigned char c = (unsigned char)buf[i];
        out[o++] = c == 0 ? ' ' : (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = 0;
}

/* /proc/PID/cmdline into a new buffer (*@len bytes), or NULL when the process is gone. */
static char *
proc_cmdline(pid_t pid, size_t *len)
{
    char path[64];
    char *buf;
    size_t n = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    buf = hvf_malloc(QVM_CMDLINE_MAX);
    while (n < QVM_CMDLINE_MAX) {
        ssize_t r = read(fd, buf + n, QVM_CMDLINE_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* True when @pid is a live QEMU whose QMP socket is @qmp_path (a zombie has no cmdline). */
static bool
proc_is_our_qemu(pid_t pid, const char *qmp_path)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = NULL;
    char path[PATH_MAX];

    if (pid <= 0)
        return false;
    buf = proc_cmdline(pid, &len);
    return buf && hvf_qvm_cmdline_qmp_path(buf, len, path, sizeof(path)) &&
           strcmp(path, qmp_path) == 0;
}

/* ---------------------------------------------------------------- specs and paths */

static bool
qvm_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > HVF_QVM_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

int
hvf_qvm_spec_check(const hvf_qvm_spec *spec, hvf_error *err)
{
    const char *image = spec->kernel ? spec->kernel : spec->disk;

    if (!qvm_name_ok(spec->name)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vm name '%s': expected 1 to %d of [A-Za-z0-9_.-], not starting with '.'",
                      spec->name ? spec->name : "", HVF_QVM_NAME_MAX);
        return -1;
    }
    if (spec->mem_mib < HVF_QVM_MEM_MIB_MIN || spec->mem_mib > HVF_QVM_MEM_MIB_MAX) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vm '%s': mem_mib %" PRIu64 ": expected %d to %u", spec->name,
                      spec->mem_mib, HVF_QVM_MEM_MIB_MIN, HVF_QVM_MEM_MIB_MAX);
        return -1;
    }
    if (spec->vcpus > HVF_QVM_VCPUS_MAX) {
        hvf_error_set(err, HVF_ERR_INVALID, "vm '%s': vcpus %u: expected 1 to %d", spec->name,
                      spec->vcpus, HVF_QVM_VCPUS_MAX);
        return -1;
    }
    if ((spec->kernel == NULL) == (spec->disk == NULL) || !image || image[0] == 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vm '%s': expected exactly one of a kernel and a disk image", spec->name);
        return -1;
    }
    if (strchr(image, ',') || access(image, R_OK) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vm '%s': image '%s': expected a readable file without ',' in its path%s%s",
                      spec->name, image, strchr(image, ',') ? "" : ": ",
                      strchr(image, ',') ? "" : strerror(errno));
        return -1;
    }
    if (spec->accel && strcmp(spec->accel, "tcg") != 0 && strcmp(spec->accel, "kvm") != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "vm '%s': accel '%s': expected tcg or kvm",
                      spec->name, spec->accel);
        return -1;
    }
    return 0;
}

static int
qvm_mkdir(const char *path, hvf_error *err)
{
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create directory '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A handle with the paths of VM @name under the state directory @conf->dir (made absolute). */
static hvf_qvm *
qvm_new(const hvf_qvm_conf *conf, const char *name, bool create, hvf_error *err)
{
    char real[PATH_MAX];
    hvf_qvm *vm;
    struct sockaddr_un sun;

    if (!conf->dir || conf->dir[0] != '/' || strchr(conf->dir, ',')) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "state directory '%s': expected an absolute path without ','",
                      conf->dir ? conf->dir : "");
        return NULL;
    }
    if (create && qvm_mkdir(conf->dir, err) < 0)
        return NULL;
    if (!realpath(conf->dir, real)) {
        hvf_error_set(err, HVF_ERR_IO, "state directory '%s': %s", conf->dir, strerror(errno));
        return NULL;
    }
    vm = HVF_NEW(hvf_qvm);
    vm->name = hvf_strdup(name);
    vm->dir = hvf_asprintf("%s/vms/%s", real, name);
    vm->pidfile = hvf_asprintf("%s/pidfile", vm->dir);
    vm->qmp_path = hvf_asprintf("%s/qmp.sock", vm->dir);
    vm->serial_path = hvf_asprintf("%s/serial.log", vm->dir);
    vm->log_path = hvf_asprintf("%s/qemu.log", vm->dir);
    vm->listen_addr = hvf_strdup(conf->listen_addr ? conf->listen_addr : "127.0.0.1");
    vm->port_min = conf->port_min > 0 ? conf->port_min : HVF_QVM_PORT_MIN_DEFAULT;
    vm->port_max = conf->port_max > 0 ? conf->port_max : HVF_QVM_PORT_MAX_DEFAULT;
    vm->qmp_timeout_ms = conf->qmp_timeout_ms > 0 ? conf->qmp_timeout_ms
                                                  : HVF_QMP_DEFAULT_TIMEOUT_MS;
    vm->tracked = false;
    if (strlen(vm->qmp_path) >= sizeof(sun.sun_path)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "QMP socket path '%s': expected at most %zu bytes (a shorter state directory)",
                      vm->qmp_path, sizeof(sun.sun_path) - 1);
        hvf_qvm_free(vm);
        return NULL;
    }
    if (vm->port_min < 1 || vm->port_max > 65535 || vm->port_min > vm->port_max) {
        hvf_error_set(err, HVF_ERR_INVALID, "migration ports %d-%d: expected 1 <= min <= max <= 65535",
                      vm->port_min, vm->port_max);
        hvf_qvm_free(vm);
        return NULL;
    }
    return vm;
}

/* The pid in @path, or 0. */
static pid_t
qvm_read_pidfile(const char *path)
{
    char buf[32];
    ssize_t n;
    long v;
    char *end;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || v <= 1 || v > INT32_MAX || (*end != 0 && *end != '\n'))
        return 0;
    return (pid_t)v;
}

/* The last non-empty line of @path, one line, printable. */
static void
qvm_log_tail(const char *path, char *out, size_t size)
{
    char buf[2048];
    size_t n = 0;
    char *end;
    char *start;
    FILE *f = fopen(path, "r");

    hvf_strlcpy(out, "no message", size);
    if (!f)
        return;
    if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
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
    start = start ? start + 1 : buf;
    for (char *c = start; *c; c++) {
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    }
    hvf_strlcpy(out, start, size);
}

/* ---------------------------------------------------------------- start */

static char **
qvm_argv(const hvf_qvm_conf *conf, const hvf_qvm_spec *spec, const hvf_qvm *vm,
         const char *image)
{
    size_t extra = 0;
    size_t n = 0;
    char **argv;

    while (spec->extra && spec->extra[extra])
        extra++;
    argv = hvf_calloc(40 + extra, sizeof(*argv));
    argv[n++] = hvf_strdup(conf->binary ? conf->binary : "qemu-system-x86_64");
    argv[n++] = hvf_strdup("-name");
    argv[n++] = hvf_strdup(spec->name);
    argv[n++] = hvf_strdup("-nodefaults");
    argv[n++] = hvf_strdup("-no-user-config");
    argv[n++] = hvf_strdup("-display");
    argv[n++] = hvf_strdup("none");
    argv[n++] = hvf_strdup("-machine");
    argv[n++] = hvf_strdup("pc");
    argv[n++] = hvf_strdup("-accel");
    argv[n++] = hvf_strdup(spec->accel ? spec->accel : "tcg");
    argv[n++] = hvf_strdup("-m");
    if (!spec->accel || strcmp(spec->accel, "tcg") == 0)
        argv[n++] = hvf_asprintf("%" PRIu64 "K", spec->mem_mib * 1024 + HVF_QVM_TCG_RAM_PAD_KIB);
    else
        argv[n++] = hvf_asprintf("%" PRIu64 "M", spec->mem_mib);
    argv[n++] = hvf_strdup("-smp");
    argv[n++] = hvf_asprintf("%u", spec->vcpus > 0 ? spec->vcpus : 1);
    argv[n++] = hvf_strdup("-qmp");
    argv[n++] = hvf_asprintf("unix:%s,server=on,wait=off", vm->qmp_path);
    argv[n++] = hvf_strdup("-serial");
    argv[n++] = hvf_asprintf("file:%s", vm->serial_path);
    argv[n++] = hvf_strdup("-pidfile");
    argv[n++] = hvf_strdup(vm->pidfile);
    argv[n++] = hvf_strdup("-daemonize");
    if (spec->kernel) {
        argv[n++] = hvf_strdup("-kernel");
        argv[n++] = hvf_strdup(image);
    } else {
        argv[n++] = hvf_strdup("-drive");
        argv[n++] = hvf_asprintf("file=%s,if=virtio", image);
    }
    if (spec->incoming) {
        argv[n++] = hvf_strdup("-incoming");
        argv[n++] = hvf_strdup("defer");
    }
    for (size_t i = 0; i < extra; i++)
        argv[n++] = hvf_strdup(spec->extra[i]);
    argv[n] = NULL;
    return argv;
}

static void
qvm_argv_free(char **argv)
{
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* Runs QEMU, which daemonizes: the process we spawn exits once QEMU is set up (0) or failed. */
static int
qvm_spawn(hvf_qvm *vm, char **argv, hvf_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    pid_t launcher = 0;
    int status = 0;
    int rc;
    int64_t deadline;
    char tail[256];

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, vm->log_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0640);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawnp(&launcher, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        hvf_error_set(err, HVF_ERR_IO, "vm '%s': cannot run %s: %s", vm->name, argv[0],
                      strerror(rc));
        return -1;
    }
    deadline = qvm_now_ms() + 2 * (int64_t)vm->qmp_timeout_ms;
    for (;;) {
        pid_t r = waitpid(launcher, &status, WNOHANG);
        if (r == launcher || (r < 0 && errno == ECHILD))
            break; /* ECHILD: SIGCHLD is ignored by the caller; the pidfile tells */
        if (r < 0 && errno != EINTR) {
            status = 0;
            break;
        }
        if (qvm_now_ms() >= deadline) {
            kill(launcher, SIGKILL);
            while (waitpid(launcher, &status, 0) < 0 && errno == EINTR) {
            }
            status = -1;
            break;
        }
        qvm_sleep_ms(10);
    }
    vm->pid = qvm_read_pidfile(vm->pidfile);
    if (status != 0 || vm->pid == 0 || !proc_is_our_qemu(vm->pid, vm->qmp_path)) {
        if (vm->pid > 0 && proc_is_our_qemu(vm->pid, vm->qmp_path))
            kill(vm->pid, SIGKILL);
        qvm_log_tail(vm->log_path, tail, sizeof(tail));
        hvf_error_set(err, HVF_ERR_IO, "vm '%s': QEMU %s: %s", vm->name,
                      status == -1 ? "did not finish starting in time" : "failed to start", tail);
        vm->pid = 0;
        unlink(vm->pidfile);
        unlink(vm->qmp_path);
        return -1;
    }
    return 0;
}

hvf_qvm *
hvf_qvm_start(const hvf_qvm_conf *conf, const hvf_qvm_spec *spec, hvf_error *err)
{
    char image[PATH_MAX];
    HVF_AUTOFREE char *vms = NULL;
    hvf_qvm *vm;
    hvf_qmp_opts qo = {0};
    pid_t old;
    char **argv;

    if (hvf_qvm_spec_check(spec, err) < 0)
        return NULL;
    /* QEMU changes to / when it daemonizes: every path on its command line is absolute. */
    if (!realpath(spec->kernel ? spec->kernel : spec->disk, image)) {
        hvf_error_set(err, HVF_ERR_INVALID, "vm '%s': image '%s': %s", spec->name,
                      spec->kernel ? spec->kernel : spec->disk, strerror(errno));
        return NULL;
    }
    vm = qvm_new(conf, spec->name, true, err);
    if (!vm)
        return NULL;
    vms = hvf_asprintf("%.*s", (int)(strlen(vm->dir) - strlen(vm->name) - 1), vm->dir);
    if (qvm_mkdir(vms, err) < 0 || qvm_mkdir(vm->dir, err) < 0) {
        hvf_qvm_free(vm);
        return NULL;
    }
    old = qvm_read_pidfile(vm->pidfile);
    if (old > 0 && proc_is_our_qemu(old, vm->qmp_path)) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "vm '%s' is already running (pid %ld)", spec->name,
                      (long)old);
        hvf_qvm_free(vm);
        return NULL;
    }
    unlink(vm->pidfile);
    unlink(vm->qmp_path);
    unlink(vm->serial_path);
    argv = qvm_argv(conf, spec, vm, image);
    if (qvm_spawn(vm, argv, err) < 0) {
        qvm_argv_free(argv);
        hvf_qvm_free(vm);
        return NULL;
    }
    qvm_argv_free(argv);
    if (conf->kill_on_exit)
        vm->tracked = hvf_qemu_track_pid(vm->pid) == 0;
    qo.timeout_ms = vm->qmp_timeout_ms;
    vm->qmp = hvf_qmp_connect(vm->qmp_path, &qo, err);
    if (!vm->qmp) {
        hvf_error ignored = HVF_ERROR_INIT;
        hvf_error_prefix(err, "vm '%s': ", spec->name);
        if (hvf_qvm_destroy(vm, &ignored) < 0) {
            /* nothing more to do: the error above says why it failed */
        }
        hvf_qvm_free(vm);
        return NULL;
    }
    return vm;
}

void
hvf_qvm_free(hvf_qvm *vm)
{
    if (!vm)
        return;
    hvf_qmp_close(vm->qmp);
    free(vm->name);
    free(vm->dir);
    free(vm->pidfile);
    free(vm->qmp_path);
    free(vm->serial_path);
    free(vm->log_path);
    free(vm->listen_addr);
    free(vm);
}

/* ---------------------------------------------------------------- stop, status */

bool
hvf_qvm_alive(const hvf_qvm *vm)
{
    return vm->pid > 0 && proc_is_our_qemu(vm->pid, vm->qmp_path);
}

static bool
qvm_wait_gone(const hvf_qvm *vm, int ms)
{
    int64_t deadline = qvm_now_ms() + ms;

    while (hvf_qvm_alive(vm)) {
        if (qvm_now_ms() >= deadline)
            return false;
        qvm_sleep_ms(10);
    }
    return true;
}

hvf_qmp *
hvf_qvm_priv_qmp(hvf_qvm *vm, hvf_error *err)
{
    hvf_qmp_opts qo = {.timeout_ms = vm->qmp_timeout_ms};

    if (vm->stopped || !hvf_qvm_alive(vm)) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "vm '%s': QEMU is not running", vm->name);
        return NULL;
    }
    if (vm->qmp && hvf_qmp_broken(vm->qmp)) {
        hvf_qmp_close(vm->qmp);
        vm->qmp = NULL;
    }
    if (!vm->qmp) {
        vm->qmp = hvf_qmp_connect(vm->qmp_path, &qo, err);
        if (!vm->qmp)
            hvf_error_prefix(err, "vm '%s': ", vm->name);
    }
    return vm->qmp;
}

/* Sends @cmd if QMP is there, ignoring the outcome: QEMU may exit before it replies. */
static void
qvm_send_quietly(hvf_qvm *vm, const char *cmd, int timeout_ms)
{
    hvf_error ignored = HVF_ERROR_INIT;
    hvf_qmp *q = hvf_qvm_priv_qmp(vm, &ignored);

    if (!q)
        return;
    hvf_qmp_set_timeout(q, timeout_ms);
    if (hvf_qmp_command(q, cmd, NULL, &ignored) < 0) {
        /* judged by the process going away, below */
    }
    hvf_qmp_set_timeout(q, vm->qmp_timeout_ms);
}

static int
qvm_end(hvf_qvm *vm, int powerdown_ms, hvf_error *err)
{
    int how = 0;

    if (!hvf_qvm_alive(vm)) {
        /* gone already (stopped before, crashed): only the files to tidy */
    } else if (powerdown_ms > 0) {
        qvm_send_quietly(vm, "system_powerdown", vm->qmp_timeout_ms);
        if (!qvm_wait_gone(vm, powerdown_ms))
            how = 1;
    } else {
        how = 1;
    }
    if (how == 1 && hvf_qvm_alive(vm)) {
        qvm_send_quietly(vm, "quit", QVM_DESTROY_QUIT_MS);
        if (!qvm_wait_gone(vm, powerdown_ms > 0 ? QVM_QUIT_WAIT_MS : QVM_DESTROY_QUIT_MS))
            how = 2;
    }
    if (how == 2 && hvf_qvm_alive(vm)) {
        if (kill(vm->pid, SIGKILL) < 0 && errno != ESRCH) {
            hvf_error_set(err, HVF_ERR_IO, "vm '%s': cannot kill pid %ld: %s", vm->name,
                          (long)vm->pid, strerror(errno));
            return -1;
        }
        if (!qvm_wait_gone(vm, QVM_QUIT_WAIT_MS)) {
            hvf_error_set(err, HVF_ERR_IO, "vm '%s': pid %ld survived SIGKILL", vm->name,
                          (long)vm->pid);
            return -1;
        }
    }
    hvf_qmp_close(vm->qmp);
    vm->qmp = NULL;
    vm->stopped = true;
    unlink(vm->pidfile);
    unlink(vm->qmp_path);
    if (vm->tracked) {
        hvf_qemu_untrack_pid(vm->pid);
        vm->tracked = false;
    }
    return how;
}

int
hvf_qvm_stop(hvf_qvm *vm, int timeout_ms, hvf_error *err)
{
    return qvm_end(vm, timeout_ms > 0 ? timeout_ms : 1, err);
}

int
hvf_qvm_destroy(hvf_qvm *vm, hvf_error *err)
{
    return qvm_end(vm, 0, err);
}

hvf_qvm_state
hvf_qvm_status(hvf_qvm *vm, char *raw, size_t raw_size)
{
    hvf_error ignored = HVF_ERROR_INIT;
    hvf_qmp *q;
    json_t *r;
    const char *st;
    hvf_qvm_state s = HVF_QVM_PAUSED;

    if (raw && raw_size > 0)
        raw[0] = 0;
    if (vm->stopped || !hvf_qvm_alive(vm)) {
        struct stat sb;
        hvf_qmp_close(vm->qmp);
        vm->qmp = NULL;
        /* QEMU removes its pidfile when it exits normally: a left one means it was killed. */
        return vm->stopped || stat(vm->pidfile, &sb) < 0 ? HVF_QVM_STOPPED : HVF_QVM_CRASHED;
    }
    q = hvf_qvm_priv_qmp(vm, &ignored);
    r = q ? hvf_qmp_execute(q, "query-status", NULL, &ignored) : NULL;
    st = json_string_value(json_object_get(r, "status"));
    if (!st)
        st = "unknown";
    if (strcmp(st, "running") == 0)
        s = HVF_QVM_RUNNING;
    else if (strcmp(st, "guest-panicked") == 0 || strcmp(st, "internal-error") == 0)
        s = HVF_QVM_CRASHED;
    if (raw && raw_size > 0)
        hvf_strlcpy(raw, st, raw_size);
    json_decref(r);
    return s;
}

const char *
hvf_qvm_name(const hvf_qvm *vm)
{
    return vm->name;
}

pid_t
hvf_qvm_pid(const hvf_qvm *vm)
{
    return vm->pid;
}

const char *
hvf_qvm_dir(const hvf_qvm *vm)
{
    return vm->dir;
}

const char *
hvf_qvm_serial_path(const hvf_qvm *vm)
{
    return vm->serial_path;
}

hvf_qmp *
hvf_qvm_qmp(hvf_qvm *vm)
{
    return vm->qmp;
}

/* ---------------------------------------------------------------- adoption */

static int
adopted_vm_cmp(const void *a, const void *b)
{
    return strcmp((*(hvf_qvm *const *)a)->name, (*(hvf_qvm *const *)b)->name);
}

static int
adopted_unknown_cmp(const void *a, const void *b)
{
    pid_t x = ((const hvf_qvm_unknown *)a)->pid;
    pid_t y = ((const hvf_qvm_unknown *)b)->pid;

    return x < y ? -1 : x > y;
}

static int
adopted_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
adopted_has_pid(const hvf_qvm_adopted *a, pid_t pid)
{
    for (size_t i = 0; i < a->n_vms; i++) {
        if (a->vms[i]->pid == pid)
            return true;
    }
    return false;
}

/*
 * Whether @pid lives in this process's network namespace: a host's QEMUs do, those of other
 * hosts sharing the machine (the lab's namespaces) do not and are none of this host's business.
 * When it cannot be told (no permission), it counts as this host's.
 */
static bool
same_netns(pid_t pid, const struct stat *self)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
    if (!self || stat(path, &st) < 0)
        return true;
    return st.st_ino == self->st_ino && st.st_dev == self->st_dev;
}

/* Every qemu-system* of /proc, in this network namespace, that is not one of @a's VMs goes to
 * @a->unknown. */
static int
adopt_scan_proc(hvf_qvm_adopted *a, const pid_t *known, size_t nknown, hvf_error *err)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t cap = 0;
    struct stat self;
    bool have_self = stat("/proc/self/ns/net", &self) == 0;

    if (!d) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read /proc: %s", strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        size_t len = 0;
        HVF_AUTOFREE char *buf = NULL;

        if (*end != 0 || pid <= 0 || pid > INT32_MAX || pid == (long)getpid())
            continue;
        buf = proc_cmdline((pid_t)pid, &len);
        if (!buf || !hvf_qvm_cmdline_is_qemu(buf, len) || adopted_has_pid(a, (pid_t)pid) ||
            !same_netns((pid_t)pid, have_self ? &self : NULL))
            continue;
        {
            size_t k = 0;

            while (k < nknown && known[k] != (pid_t)pid)
                k++;
            if (k < nknown)
                continue;
        }
        hvf_grow(&a->unknown, &cap, a->n_unknown + 1, sizeof(*a->unknown));
        a->unknown[a->n_unknown].pid = (pid_t)pid;
        hvf_qvm_cmdline_join(buf, len, a->unknown[a->n_unknown].cmdline,
                             sizeof(a->unknown[a->n_unknown].cmdline));
        a->n_unknown++;
    }
    closedir(d);
    if (a->n_unknown > 1)
        qsort(a->unknown, a->n_unknown, sizeof(*a->unknown), adopted_unknown_cmp);
    return 0;
}

int
hvf_qvm_scan_unknown(const pid_t *known, size_t nknown, hvf_qvm_unknown **out, size_t *n,
                     hvf_error *err)
{
    hvf_qvm_adopted a;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = adopt_scan_proc(&a, known, nknown, err);
    *out = a.unknown;
    *n = a.n_unknown;
    return rc;
}

int
hvf_qvm_adopt_all(const hvf_qvm_conf *conf, hvf_qvm_adopted *out, hvf_error *err)
{
    HVF_AUTOFREE char *vms = NULL;
    hvf_qvm *probe;
    DIR *d;
    struct dirent *e;
    size_t cap_vms = 0;
    size_t cap_stale = 0;

    memset(out, 0, sizeof(*out));
    probe = qvm_new(conf, "probe", false, err);
    if (!probe)
        return -1;
    vms = hvf_asprintf("%.*s", (int)(strlen(probe->dir) - strlen("/probe")), probe->dir);
    hvf_qvm_free(probe);
    d = opendir(vms);
    if (!d && errno != ENOENT) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': %s", vms, strerror(errno));
        return -1;
    }
    while (d && (e = readdir(d))) {
        hvf_qvm *vm;
        hvf_qmp_opts qo = {0};
        hvf_error cerr = HVF_ERROR_INIT;

        if (!qvm_name_ok(e->d_name))
            continue;
        vm = qvm_new(conf, e->d_name, false, err);
        if (!vm) {
            closedir(d);
            hvf_qvm_adopted_clear(out);
            return -1;
        }
        vm->pid = qvm_read_pidfile(vm->pidfile);
        if (!hvf_qvm_alive(vm)) {
            hvf_grow(&out->stale, &cap_stale, out->n_stale + 1, sizeof(*out->stale));
            out->stale[out->n_stale++] = hvf_strdup(vm->name);
            hvf_qvm_free(vm);
            continue;
        }
        qo.timeout_ms = vm->qmp_timeout_ms;
        vm->qmp = hvf_qmp_connect(vm->qmp_path, &qo, &cerr);
        if (!vm->qmp) {
            hvf_qvm_free(vm); /* reported as unknown by the scan below */
            continue;
        }
        if (conf->kill_on_exit)
            vm->tracked = hvf_qemu_track_pid(vm->pid) == 0;
        hvf_grow(&out->vms, &cap_vms, out->n_vms + 1, sizeof(*out->vms));
        out->vms[out->n_vms++] = vm;
    }
    if (d)
        closedir(d);
    if (out->n_vms > 1)
        qsort(out->vms, out->n_vms, sizeof(*out->vms), adopted_vm_cmp);
    if (out->n_stale > 1)
        qsort(out->stale, out->n_stale, sizeof(*out->stale), adopted_str_cmp);
    if (adopt_scan_proc(out, NULL, 0, err) < 0) {
        hvf_qvm_adopted_clear(out);
        return -1;
    }
    return 0;
}

void
hvf_qvm_adopted_clear(hvf_qvm_adopted *a)
{
    for (size_t i = 0; i < a->n_vms; i++)
        hvf_qvm_free(a->vms[i]);
    for (size_t i = 0; i < a->n_stale; i++)
        free(a->stale[i]);
    free(a->vms);
    free(a->stale);
    free(a->unknown);
    memset(a, 0, sizeof(*a));
}

/* ---------------------------------------------------------------- dirty rate */

int
hvf_qvm_dirty_rate_read(json_t *reply, uint64_t *bytes_per_s)
{
    const char *status = json_string_value(json_object_get(reply, "status"));
    json_t *rate = json_object_get(reply, "dirty-rate");

    if (!json_is_object(reply) || !status)
        return -1;
    if (strcmp(status, "measured") != 0)
        return 0;
    if (!json_is_integer(rate) || json_integer_value(rate) < 0 ||
        json_integer_value(rate) > (json_int_t)(UINT64_MAX >> 20))
        return -1;
    *bytes_per_s = (uint64_t)json_integer_value(rate) << 20;
    return 1;
}

int
hvf_qvm_dirty_rate_start(hvf_qvm *vm, int seconds, hvf_error *err)
{
    hvf_qmp *q;

    if (seconds < 1 || seconds > 60) {
        hvf_error_set(err, HVF_ERR_INVALID, "vm '%s': dirty rate over %d s: expected 1 to 60",
                      vm->name, seconds);
        return -1;
    }
    q = hvf_qvm_priv_qmp(vm, err);
    if (!q)
        return -1;
    return hvf_qmp_command(q, "calc-dirty-rate",
                           json_pack("{s:i, s:i}", "calc-time", seconds, "sample-pages", 4096),
                           err);
}

int
hvf_qvm_dirty_rate_poll(hvf_qvm *vm, uint64_t *bytes_per_s, hvf_error *err)
{
    hvf_qmp *q = hvf_qvm_priv_qmp(vm, err);
    json_t *r;
    int rc;

    if (!q)
        return -1;
    r = hvf_qmp_execute(q, "query-dirty-rate", NULL, err);
    if (!r)
        return -1;
    rc = hvf_qvm_dirty_rate_read(r, bytes_per_s);
    json_decref(r);
    if (rc < 0)
        hvf_error_set(err, HVF_ERR_IO, "vm '%s': query-dirty-rate: unexpected reply", vm->name);
    return rc;
}

int
hvf_qvm_dirty_rate(hvf_qvm *vm, int seconds, uint64_t *bytes_per_s, hvf_error *err)
{
    int64_t deadline;

    if (hvf_qvm_dirty_rate_start(vm, seconds, err) < 0)
        return -1;
    deadline = qvm_now_ms() + (int64_t)seconds * 1000 + 5000;
    qvm_sleep_ms(seconds * 1000);
    for (;;) {
        int rc = hvf_qvm_dirty_rate_poll(vm, bytes_per_s, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        if (qvm_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_IO, "vm '%s': dirty rate not measured after %d s",
                          vm->name, seconds + 5);
            return -1;
        }
        qvm_sleep_ms(50);
    }
}

bool
hvf_qvm_cmdline_name(const char *joined, char *out, size_t size)
{
    const char *p = strstr(joined, " -name ");
    size_t n;

    if (!p)
        return false;
    p += 7;
    if (strncmp(p, "guest=", 6) == 0)
        p += 6;
    n = strcspn(p, " ,");
    if (!n || n >= size)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}
