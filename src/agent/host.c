/* SPDX-License-Identifier: MIT */
/* The host's facts, the agent's own figures from /proc/self, and the limits it sets itself. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The first line of a small file, without its line end, into @buf; false when unreadable. */
static bool
read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    bool ok;

    if (!f)
        return false;
    ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

void
hvf_agent_self_read(hvf_agent_self *s)
{
    char line[256];
    unsigned long size = 0, resident = 0;
    FILE *f;
    DIR *d;

    memset(s, 0, sizeof(*s));
    if (read_line("/proc/self/statm", line, sizeof(line)) &&
        sscanf(line, "%lu %lu", &size, &resident) == 2)
        s->rss_bytes = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    f = fopen("/proc/self/status", "re");
    if (f) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "Threads: %u", &s->threads) == 1)
                break;
        fclose(f);
    }
    d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;

        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                s->open_files++;
        closedir(d);
        if (s->open_files)
            s->open_files--; /* the directory stream itself */
    }
}

char *
hvf_agent_boot_id(void)
{
    char line[128] = "";

    if (!read_line("/proc/sys/kernel/random/boot_id", line, sizeof(line)))
        line[0] = '\0';
    return hvf_strdup(line);
}

static json_t *
facts_nics(void)
{
    json_t *arr = json_array();
    struct dirent **names = NULL;
    int n = scandir("/sys/class/net", &names, NULL, alphasort);

    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[512], mac[64];

        if (name[0] != '.' && strcmp(name, "lo") != 0) {
            snprintf(path, sizeof(path), "/sys/class/net/%s/address", name);
            if (read_line(path, mac, sizeof(mac)))
                json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "mac", mac));
        }
        free(names[i]);
    }
    free(names);
    return arr;
}

json_t *
hvf_agent_facts(void)
{
    struct utsname u;
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    HVF_AUTOFREE char *boot = hvf_agent_boot_id();

    if (uname(&u) < 0)
        memset(&u, 0, sizeof(u));
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:[], s:[]}", "agent_version",
                     HVF_AGENT_VERSION, "kernel", u.release, "machine", u.machine, "cpus",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "mem_mib",
                     (json_int_t)((pages > 0 && page > 0) ? (int64_t)pages * page >> 20 : 0),
                     "boot_id", boot, "nics", facts_nics(), "vms", "unknown_qemu");
}

/* Tasks (processes and threads) of @uid now, from /proc. */
static unsigned
user_tasks(uid_t uid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    unsigned n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        char path[300], line[128];
        unsigned threads = 0;
        struct stat st;
        FILE *f;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s", e->d_name);
        if (stat(path, &st) < 0 || st.st_uid != uid)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "Threads: %u", &threads) == 1)
                break;
        fclose(f);
        n += threads ? threads : 1;
    }
    closedir(d);
    return n;
}

static bool
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    bool ok;

    if (!f)
        return false;
    ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

/* A cgroup of its own beside the one the agent runs in; a string saying what happened. */
static char *
limits_cgroup(unsigned tasks, uint64_t max_rss)
{
    struct statfs sf;
    char line[512], dir[1024], buf[64];
    const char *rel;

    if (statfs("/sys/fs/cgroup", &sf) < 0 || (unsigned long)sf.f_type != CGROUP2_SUPER_MAGIC)
        return hvf_strdup("unavailable: /sys/fs/cgroup is not cgroup v2");
    if (access("/sys/fs/cgroup", W_OK) != 0)
        return hvf_strdup("unavailable: /sys/fs/cgroup is not writable");
    if (!read_line("/proc/self/cgroup", line, sizeof(line)) || strncmp(line, "0::", 3) != 0)
        return hvf_strdup("unavailable: no cgroup v2 entry in /proc/self/cgroup");
    rel = line + 3;
    /* systemd owns a unit's cgroup: its TasksMax= and MemoryMax= are the limits there. */
    if (strlen(rel) > 8 && strcmp(rel + strlen(rel) - 8, ".service") == 0)
        return hvf_asprintf("systemd unit %s (its TasksMax= and MemoryMax=)", rel);
    /* Already in one of ours (a restart, or systemd's unit): set its limits only. */
    if (strstr(rel, "hvfleet-agent"))
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", rel);
    else
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s%shvfleet-agent", rel,
                 rel[strlen(rel) - 1] == '/' ? "" : "/");
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return hvf_asprintf("unavailable: cannot create %s: %s", dir, strerror(errno));
    {
        char path[1100];

        snprintf(path, sizeof(path), "%s/pids.max", dir);
        snprintf(buf, sizeof(buf), "%u", tasks);
        if (!write_file(path, buf))
            return hvf_asprintf("unavailable: cannot write %s: %s", path, strerror(errno));
        snprintf(path, sizeof(path), "%s/memory.max", dir);
        snprintf(buf, sizeof(buf), "%" PRIu64, max_rss);
        if (!write_file(path, buf))
            return hvf_asprintf("unavailable: cannot write %s: %s", path, strerror(errno));
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        if (!write_file(path, buf))
            return hvf_asprintf("unavailable: cannot join %s: %s", dir, strerror(errno));
    }
    return hvf_strdup(dir);
}

json_t *
hvf_agent_limits_apply(unsigned nofile, unsigned tasks, uint64_t max_rss)
{
    json_t *o = json_object();
    struct rlimit rl;
    HVF_AUTOFREE char *cg = NULL;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max < nofile ? rl.rlim_max : nofile;
        rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            json_object_set_new(o, "nofile", json_integer((json_int_t)rl.rlim_cur));
    }
    if (tasks == 0) {
        json_object_set_new(o, "cgroup", json_string("not set: the qemu executor's QEMUs would "
                                                     "inherit it (pids, memory)"));
        return o;
    }
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0) {
        /* The limit counts every task of the user: leave room for what runs now. */
        rlim_t want = (rlim_t)user_tasks(geteuid()) + tasks;

        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NPROC, &rl) == 0)
            json_object_set_new(o, "nproc", json_integer((json_int_t)want));
    }
    cg = limits_cgroup(tasks, max_rss);
    json_object_set_new(o, "cgroup", json_string(cg));
    return o;
}
