/* SPDX-License-Identifier: MIT */
/*
 * Taking a lab down (lab.h): its processes by PID and start time (agents first, then hvfleetd),
 * the QEMUs its agents started (they outlive the agents on purpose: found from their pidfiles
 * and from the processes left in the lab's namespaces), then its namespaces, veths and bridge,
 * and DIR/lab.json last. Everything that is gone already is skipped, so down is idempotent and
 * undoes a half-made lab as well as a whole one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/lab.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

#define LAB_TERM_WAIT_MS 5000
#define LAB_KILL_WAIT_MS 2000
#define LAB_MAX_QEMUS 4096

/* A process to stop: one of the record's, or a QEMU seen with its start time. */
typedef struct lab_target {
    int pid;
    uint64_t start_time;
    const hvf_lab_proc *rec; /* borrowed, NULL for a QEMU */
} lab_target;

static bool
lab_target_alive(const lab_target *t)
{
    uint64_t st = 0;
    char state = 0;

    /* a child of ours (an `up` that failed) is reaped, or it would stay a zombie */
    (void)waitpid(t->pid, NULL, WNOHANG);
    if (t->rec)
        return hvf_lab_proc_alive(t->rec);
    return hvf_lab_proc_stat(t->pid, &st, &state) == 0 && st == t->start_time && state != 'Z' &&
           state != 'X';
}

/* Signals every live target, then waits up to @wait_ms for all to be gone. Returns how many
 * are still alive. */
static size_t
lab_stop(const lab_target *t, size_t n, int sig, int wait_ms)
{
    int64_t deadline = hvf_lab_now_ms() + wait_ms;
    size_t alive = 0;

    for (size_t i = 0; i < n; i++) {
        if (lab_target_alive(&t[i]))
            kill(t[i].pid, sig);
    }
    for (;;) {
        alive = 0;
        for (size_t i = 0; i < n; i++)
            alive += lab_target_alive(&t[i]);
        if (alive == 0 || hvf_lab_now_ms() >= deadline)
            return alive;
        hvf_lab_sleep_ms(20);
    }
}

/* SIGTERM, a bounded wait, then SIGKILL and another. Returns how many survived both. */
static size_t
lab_stop_all(const lab_target *t, size_t n)
{
    if (n == 0 || lab_stop(t, n, SIGTERM, LAB_TERM_WAIT_MS) == 0)
        return 0;
    return lab_stop(t, n, SIGKILL, LAB_KILL_WAIT_MS);
}

/* True when /proc/@pid/cmdline has @arg as one of its arguments. */
static bool
lab_cmdline_has(int pid, const char *arg)
{
    char path[64];
    int fd;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    char buf[4096];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && sb.len < ((size_t)1 << 20))
        hvf_strbuf_add(&sb, buf, (size_t)n);
    close(fd);
    for (size_t off = 0; off < sb.len; off += strlen(sb.buf + off) + 1) {
        if (strcmp(sb.buf + off, arg) == 0) {
            hvf_strbuf_clear(&sb);
            return true;
        }
    }
    hvf_strbuf_clear(&sb);
    return false;
}

static void
lab_add_target(lab_target **t, size_t *n, size_t *cap, int pid)
{
    uint64_t st = 0;
    char state = 0;

    for (size_t i = 0; i < *n; i++) {
        if ((*t)[i].pid == pid)
            return;
    }
    if (*n >= LAB_MAX_QEMUS || hvf_lab_proc_stat(pid, &st, &state) < 0 || state == 'Z')
        return;
    hvf_grow(t, cap, *n + 1, sizeof(**t));
    (*t)[*n].pid = pid;
    (*t)[*n].start_time = st;
    (*t)[*n].rec = NULL;
    (*n)++;
}

/* The QEMUs of DIR/hosts/H/vms/VM/pidfile whose command line names that pidfile (so a PID
 * reused by another program is never taken for one). */
static void
lab_find_qemus(const hvf_lab *lab, lab_target **t, size_t *n, size_t *cap)
{
    for (size_t h = 0; h < lab->nhosts; h++) {
        HVF_AUTOFREE char *vms = hvf_asprintf("%s/hosts/%s/vms", lab->dir, lab->hosts[h].name);
        DIR *d = opendir(vms);
        struct dirent *de;

        if (!d)
            continue;
        while ((de = readdir(d)) != NULL) {
            HVF_AUTOFREE char *pidfile = NULL;
            HVF_AUTOFREE char *text = NULL;
            hvf_error err = HVF_ERROR_INIT;
            size_t len = 0;
            long pid;
            char *end;

            if (de->d_name[0] == '.')
                continue;
            pidfile = hvf_asprintf("%s/%s/pidfile", vms, de->d_name);
            if (!(text = hvf_text_read_file(pidfile, 64, &len, &err)))
                continue;
            pid = strtol(text, &end, 10);
            if (end != text && pid > 1 && pid < 4194305 && lab_cmdline_has((int)pid, pidfile))
                lab_add_target(t, n, cap, (int)pid);
        }
        closedir(d);
    }
}

int
hvf_lab_down(hvf_lab *lab, bool quiet, hvf_error *err)
{
    lab_target *t = NULL;
    size_t n = 0, cap = 0, nagents = 0, nd = 0, nq = 0, left = 0;
    int pids[1024];
    hvf_error net_err = HVF_ERROR_INIT;

    /* the agents first, so that none sees its controller go and reconnects in a loop */
    for (int pass = 0; pass < 2; pass++) {
        size_t from = n;

        for (size_t i = 0; i < lab->nprocs; i++) {
            const hvf_lab_proc *p = &lab->procs[i];

            if ((strcmp(p->role, "agent") == 0) != (pass == 0) || !hvf_lab_proc_alive(p))
                continue;
            hvf_grow(&t, &cap, n + 1, sizeof(*t));
            t[n].pid = p->pid;
            t[n].start_time = p->start_time;
            t[n].rec = p;
            n++;
        }
        if (pass == 0)
            nagents = n;
        else
            nd = n - from;
        if (n > from) /* t is NULL while nothing was added */
            left += lab_stop_all(t + from, n - from);
    }
    free(t);
    t = NULL;
    n = cap = 0;
    /* QEMUs: by pidfile, and whatever else still runs in the lab's namespaces (only the lab
     * starts processes there) */
    lab_find_qemus(lab, &t, &n, &cap);
    for (size_t h = 0; h < lab->nhosts; h++) {
        size_t k = hvf_lab_net_pids(lab->hosts[h].netns, pids, HVF_ARRAY_LEN(pids));

        for (size_t i = 0; i < k; i++)
            lab_add_target(&t, &n, &cap, pids[i]);
    }
    nq = n;
    left += lab_stop_all(t, n);
    free(t);
    if (hvf_lab_net_down(lab, &net_err) < 0) {
        *err = net_err;
        hvf_error_prefix(err, "lab %s: ", lab->id);
        return -1;
    }
    if (left) {
        hvf_error_set(err, HVF_ERR_INTERNAL,
                      "lab %s: %zu process%s did not stop even after SIGKILL (in D state?); run "
                      "hvfleet lab down again",
                      lab->id, left, left == 1 ? "" : "es");
        return -1;
    }
    {
        HVF_AUTOFREE char *path = hvf_lab_path(lab->dir);

        if (unlink(path) < 0 && errno != ENOENT) {
            hvf_error_set(err, HVF_ERR_IO, "'%s': cannot remove it: %s", path, strerror(errno));
            return -1;
        }
    }
    if (!quiet)
        fprintf(stderr,
                "lab %s down: stopped %zu agent%s, %zu hvfleetd, %zu process%s the agents left "
                "(QEMUs); removed %zu namespace%s and bridge %s\n",
                lab->id, nagents, nagents == 1 ? "" : "s", nd, nq, nq == 1 ? "" : "es", lab->nhosts,
                lab->nhosts == 1 ? "" : "s", lab->bridge);
    return 0;
}

int
hvf_lab_fence(const hvf_lab *lab, size_t host, size_t *killed, hvf_error *err)
{
    const hvf_lab_host *h = &lab->hosts[host];
    int pids[1024];
    size_t n;

    *killed = 0;
    /* a power-off: everything of the host goes at once, its agent and its QEMUs, no goodbye */
    for (int round = 0; round < 50; round++) {
        n = hvf_lab_net_pids(h->netns, pids, HVF_ARRAY_LEN(pids));
        if (!n)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (kill(pids[i], SIGKILL) == 0 && round == 0)
                (*killed)++;
        hvf_lab_sleep_ms(100);
    }
    hvf_error_set(err, HVF_ERR_IO, "host %s: %zu processes of namespace %s outlived SIGKILL for 5 s",
                  h->name, n, h->netns);
    return -1;
}
