/* SPDX-License-Identifier: MIT */
/* The lab's processes: ip and tc run with argv (no shell), daemons spawned in their own
 * sessions, and /proc read to know a recorded process when it is still the same one (lab.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/lab.h"
#include "hvfleet/alloc.h"

extern char **environ;

#define LAB_CMD_TIMEOUT_MS 10000
#define LAB_CMD_MAX_OUT ((size_t)8 << 20)

void
hvf_lab_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int64_t
hvf_lab_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
lab_is_exec(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* @name in PATH, then in /usr/sbin and /sbin (where ip and tc live, often not in a user's
 * PATH). Owned, or NULL. */
static char *
lab_which(const char *name)
{
    const char *env = getenv("PATH");
    HVF_AUTOFREE char *path =
        hvf_asprintf("%s:/usr/sbin:/sbin", env && *env ? env : "/usr/bin:/bin");

    if (strchr(name, '/'))
        return lab_is_exec(name) ? hvf_strdup(name) : NULL;
    for (char *dir = path, *next; dir; dir = next) {
        char *cand;

        next = strchr(dir, ':');
        if (next)
            *next++ = '\0';
        if (*dir != '/')
            continue;
        cand = hvf_asprintf("%s/%s", dir, name);
        if (lab_is_exec(cand))
            return cand;
        free(cand);
    }
    return NULL;
}

/* "ip link add ..." for messages: the argv joined, cut at about 200 characters. */
static void
lab_argv_text(const char *const *argv, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; argv[i] && n + 1 < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? " " : "", argv[i]);
    if (n >= size && size > 4)
        memcpy(buf + size - 4, "...", 4);
}

/* The first non-empty line of @s, cut to fit a message. */
static void
lab_first_line(const char *s, char *buf, size_t size)
{
    size_t n;

    while (*s == '\n' || *s == ' ')
        s++;
    n = strcspn(s, "\n");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
}

int
hvf_lab_cmd(const char *const *argv, hvf_strbuf *out, hvf_error *err)
{
    HVF_AUTOFREE char *exe = lab_which(argv[0]);
    posix_spawn_file_actions_t fa;
    int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
    hvf_strbuf errbuf = HVF_STRBUF_INIT;
    char what[256], line[200];
    pid_t pid = 0;
    int rc, status = 0;
    int64_t deadline;
    bool timed_out = false;

    lab_argv_text(argv, what, sizeof(what));
    if (!exe) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': %s not found in PATH, /usr/sbin or /sbin", what,
                      argv[0]);
        return -1;
    }
    if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': pipe: %s", what, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (opipe[i] >= 0)
                close(opipe[i]);
        }
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, opipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, epipe[1], STDERR_FILENO);
    rc = posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(opipe[1]);
    close(epipe[1]);
    if (rc != 0) {
        close(opipe[0]);
        close(epipe[0]);
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': cannot run %s: %s", what, exe, strerror(rc));
        return -1;
    }
    deadline = hvf_lab_now_ms() + LAB_CMD_TIMEOUT_MS;
    {
        struct pollfd pf[2] = {{opipe[0], POLLIN, 0}, {epipe[0], POLLIN, 0}};
        int open_fds = 2;

        while (open_fds > 0) {
            int64_t left = deadline - hvf_lab_now_ms();
            int n;

            if (left <= 0) {
                timed_out = true;
                break;
            }
            n = poll(pf, 2, (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            for (int i = 0; i < 2; i++) {
                char buf[4096];
                ssize_t got;

                if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                got = read(pf[i].fd, buf, sizeof(buf));
                if (got < 0 && errno == EINTR)
                    continue;
                if (got <= 0) {
                    pf[i].fd = -1;
                    open_fds--;
                    continue;
                }
                if (i == 0 && out && out->len + (size_t)got <= LAB_CMD_MAX_OUT)
                    hvf_strbuf_add(out, buf, (size_t)got);
                else if (i == 1 && errbuf.len < 4096)
                    hvf_strbuf_add(&errbuf, buf, (size_t)got);
            }
        }
    }
    close(opipe[0]);
    close(epipe[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    lab_first_line(errbuf.buf ? errbuf.buf : "", line, sizeof(line));
    hvf_strbuf_clear(&errbuf);
    if (timed_out) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s' did not finish in %d s", what,
                      LAB_CMD_TIMEOUT_MS / 1000);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status))
            hvf_error_set(err, HVF_ERR_INTERNAL, "'%s' failed (exit %d): %s", what,
                          WEXITSTATUS(status), line[0] ? line : "(no message)");
        else
            hvf_error_set(err, HVF_ERR_INTERNAL, "'%s' was killed by signal %d", what,
                          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -1;
    }
    return 0;
}

int
hvf_lab_spawn(const char *const *argv, const char *log, int *pid, uint64_t *start_time,
              hvf_error *err)
{
    HVF_AUTOFREE char *exe = lab_which(argv[0]);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t p = 0;
    char what[256], state = 0;
    int rc;

    lab_argv_text(argv, what, sizeof(what));
    if (!exe) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': %s not found", what, argv[0]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&p, exe, &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': cannot run %s: %s", what, exe, strerror(rc));
        return -1;
    }
    /* our child until we exit: its /proc entry stays, as a zombie at worst */
    if (hvf_lab_proc_stat(p, start_time, &state) < 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': /proc/%d/stat unreadable", what, (int)p);
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        return -1;
    }
    *pid = (int)p;
    return 0;
}

int
hvf_lab_proc_stat(int pid, uint64_t *start_time, char *state)
{
    char path[64], buf[1024];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* the command name may hold spaces and ')': the fields start after the last ')' */
    if (!(p = strrchr(buf, ')')))
        return -1;
    p++;
    for (int field = 3; field <= 22; field++) {
        char *end;
        unsigned long long v;

        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (field == 3) {
            if (state)
                *state = *p;
        } else if (field == 22) {
            errno = 0;
            v = strtoull(p, &end, 10);
            if (errno || end == p)
                return -1;
            if (start_time)
                *start_time = (uint64_t)v;
            return 0;
        }
        p += strcspn(p, " ");
    }
    return -1;
}

bool
hvf_lab_proc_alive(const hvf_lab_proc *p)
{
    char path[64], comm[32] = "";
    uint64_t st = 0;
    char state = 0;
    ssize_t n;
    int fd;

    if (p->pid <= 1 || hvf_lab_proc_stat(p->pid, &st, &state) < 0 || st != p->start_time ||
        state == 'Z' || state == 'X')
        return false;
    snprintf(path, sizeof(path), "/proc/%d/comm", p->pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, comm, sizeof(comm) - 1);
    close(fd);
    if (n <= 0)
        return false;
    comm[n] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(p->role, "hvfleetd") == 0)
        return strcmp(comm, "hvfleetd") == 0;
    /* an agent is `ip netns exec NS hvfleet-agent ...` for the instant before ip execs it */
    return strcmp(comm, "hvfleet-agent") == 0 || strcmp(comm, "ip") == 0;
}

/* The directory of the running hvfleet into @buf; false when /proc/self/exe is unreadable. */
static bool
lab_self_dir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash;

    if (n <= 0)
        return false;
    buf[n] = '\0';
    if ((slash = strrchr(buf, '/')))
        *slash = '\0';
    return true;
}

/* The first of @rel (relative to hvfleet's directory) that is an executable (@exec) or a
 * readable regular file; owned and resolved, or NULL. */
static char *
lab_find_near(const char *const *rel, bool exec)
{
    char self[PATH_MAX], real[PATH_MAX];

    if (!lab_self_dir(self, sizeof(self)))
        return NULL;
    for (size_t i = 0; rel && rel[i]; i++) {
        HVF_AUTOFREE char *cand = hvf_asprintf("%s/%s", self, rel[i]);
        struct stat st;

        if (exec ? lab_is_exec(cand)
                 : stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, R_OK) == 0) {
            if (realpath(cand, real))
                return hvf_strdup(real);
        }
    }
    return NULL;
}

char *
hvf_lab_find_program(const char *name, const char *const *rel)
{
    const char *here[] = {name, NULL};
    char *found = lab_find_near(here, true);

    if (!found)
        found = lab_find_near(rel, true);
    return found ? found : lab_which(name);
}

char *
hvf_lab_find_data(const char *const *rel)
{
    return lab_find_near(rel, false);
}
