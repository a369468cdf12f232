/* SPDX-License-Identifier: MIT */
/* The lab's files (lab.h): its directory, the inventory, token files, paths fit for URIs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/lab.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/fleet.h"
#include "hvfleet/freeze.h"
#include "hvfleet/inventory.h"
#include "hvfleet/store.h"
#include "hvfleet/token.h"
#include "util/text.h"

#define MIB ((uint64_t)1 << 20)
/* each host keeps this much for itself in the inventory */
#define LAB_RESERVED_MIB 512

/* Characters a directory or file may have to be written into the driver URI as they are. */
bool
hvf_lab_path_ok(const char *p)
{
    return *p && strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                           "._/+,:@~-") == strlen(p);
}

char *
hvf_cli_lab_dir(const char *what, const char *arg)
{
    char cwd[PATH_MAX];

    if (!arg || !*arg) {
        fprintf(stderr, "hvfleet: %s: --dir DIR is required (the lab's directory)\n", what);
        return NULL;
    }
    if (!hvf_lab_path_ok(arg) || strlen(arg) > 1024) {
        fprintf(stderr,
                "hvfleet: %s: --dir '%.200s': expected a path of letters, digits and ._/+,:@~- "
                "(it goes into URIs as it is)\n",
                what, arg);
        return NULL;
    }
    if (arg[0] == '/')
        return hvf_strdup(arg);
    if (!getcwd(cwd, sizeof(cwd)) || !hvf_lab_path_ok(cwd)) {
        fprintf(stderr, "hvfleet: %s: --dir '%s': give an absolute path\n", what, arg);
        return NULL;
    }
    return hvf_asprintf("%s/%s", cwd, arg);
}

static int
lab_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* Removes @path and what is under it, not following symlinks. */
int
hvf_lab_rm_tree(const char *path, hvf_error *err)
{
    if (access(path, F_OK) < 0)
        return 0;
    if (nftw(path, lab_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "'%s': cannot remove it: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Makes @dir the lab's: created (0700) when missing; an existing one must be empty or hold the
 * marker of an earlier lab. Returns 0, or -1 with HVF_ERR_INVALID (exit 2). */
int
hvf_lab_dir_prepare(const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *marker = hvf_asprintf("%s/" HVF_LAB_MARKER, dir);
    struct stat st;
    DIR *d;
    struct dirent *de;
    bool empty = true;
    int fd;

    if (hvf_file_mkdirs(dir, 0700, err) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "--dir '%s': cannot create it: %s", dir,
                      strerror(errno));
        return -1;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "--dir '%s': not a writable directory", dir);
        return -1;
    }
    if (access(marker, F_OK) < 0) {
        if (!(d = opendir(dir))) {
            hvf_error_set(err, HVF_ERR_INVALID, "--dir '%s': %s", dir, strerror(errno));
            return -1;
        }
        while (empty && (de = readdir(d)) != NULL)
            empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
        closedir(d);
        if (!empty) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "--dir '%s': not empty and not a lab's directory (no %s in it): give a "
                          "new or empty directory",
                          dir, HVF_LAB_MARKER);
            return -1;
        }
        if ((fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0) {
            hvf_error_set(err, HVF_ERR_INVALID, "--dir '%s': not writable: %s", dir,
                          strerror(errno));
            return -1;
        }
        close(fd);
    }
    return 0;
}

int
hvf_lab_dir_lock(const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *marker = hvf_asprintf("%s/" HVF_LAB_MARKER, dir);
    int fd = open(marker, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "--dir '%s': %s: %s", dir, HVF_LAB_MARKER,
                      strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "--dir '%s': another hvfleet lab up or down works on it now", dir);
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes @text to @path with mode @mode, whole or not at all. */
int
hvf_lab_write_file(const char *path, const char *text, mode_t mode, hvf_error *err)
{
    if (hvf_file_write_atomic(path, text, strlen(text), err) < 0)
        return -1;
    if (chmod(path, mode) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "'%s': chmod: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* "1Gbit", "100Mbit", "1500000bit": the exact rate in the largest unit that divides it. */
void
hvf_lab_format_bits(uint64_t bits, char *buf, size_t size)
{
    if (bits % 1000000000 == 0)
        snprintf(buf, size, "%" PRIu64 "Gbit", bits / 1000000000);
    else if (bits % 1000000 == 0)
        snprintf(buf, size, "%" PRIu64 "Mbit", bits / 1000000);
    else if (bits % 1000 == 0)
        snprintf(buf, size, "%" PRIu64 "kbit", bits / 1000);
    else
        snprintf(buf, size, "%" PRIu64 "bit", bits);
}

static void
lab_format_rate(double bps, char *buf, size_t size)
{
    uint64_t b = (uint64_t)llround(bps);

    if (b % MIB == 0)
        snprintf(buf, size, "%" PRIu64 "MiB/s", b / MIB);
    else if (b % 1024 == 0)
        snprintf(buf, size, "%" PRIu64 "KiB/s", b / 1024);
    else
        snprintf(buf, size, "%" PRIu64 "B/s", b);
}

/*
 * The inventory: N hosts big enough that draining any one fits on the others (its K VMs spread
 * over N-1 hosts, with half again for headroom), K VMs each. Checked by the inventory's own
 * reader before it is used.
 */
int
hvf_lab_write_inventory(const hvf_lab *lab, long nvms, uint64_t vm_mib, double dirty_bps,
                        bool ha, const char *path, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    uint64_t n = (uint64_t)lab->nhosts, k = (uint64_t)nvms;
    uint64_t per = n > 1 ? (k * n + n - 2) / (n - 1) : k;
    uint64_t usable = (per * vm_mib * 3 + 1) / 2;
    uint64_t cpus = per > 16 ? (per + 3) / 4 : 4;
    char nic[32], rate[32];
    hvf_diags diags;
    hvf_fleet *f;
    int rc;

    if (usable < 1024)
        usable = 1024;
    hvf_lab_format_bits(lab->nic_bit_s, nic, sizeof(nic));
    lab_format_rate(dirty_bps, rate, sizeof(rate));
    hvf_strbuf_printf(&sb,
                      "# The lab %s's fleet, written by hvfleet lab up (docs/lab.md): %zu hosts, "
                      "%ld VMs each.\nschema: hvfleet.inventory/v1\nhosts:\n",
                      lab->id, lab->nhosts, nvms);
    for (size_t i = 0; i < lab->nhosts; i++)
        hvf_strbuf_printf(&sb,
                          "  - {name: %s, zone: lab, rack: r1, cpus: %" PRIu64 ", memory: %" PRIu64
                          "MiB, reserved_memory: %dMiB, nic: %s}\n",
                          lab->hosts[i].name, cpus, usable + LAB_RESERVED_MIB, LAB_RESERVED_MIB,
                          nic);
    hvf_strbuf_puts(&sb, k ? "vms:\n" : "vms: []\n");
    for (size_t i = 0; i < lab->nhosts; i++) {
        for (uint64_t j = 1; j <= k; j++)
            hvf_strbuf_printf(&sb,
                              "  - {name: %s-vm%" PRIu64 ", host: %s, vcpus: 1, memory: %" PRIu64
                              "MiB, dirty_rate: %s%s}\n",
                              lab->hosts[i].name, j, lab->hosts[i].name, vm_mib, rate,
                              ha ? ", ha: true" : "");
    }
    rc = hvf_lab_write_file(path, sb.buf, 0644, err);
    hvf_strbuf_clear(&sb);
    if (rc < 0)
        return -1;
    hvf_diags_init(&diags);
    f = hvf_inventory_load(path, &diags, err);
    if (!f)
        hvf_error_set(err, HVF_ERR_INTERNAL, "the lab's inventory does not validate: %s",
                      diags.n ? diags.lines[0] : err->msg);
    hvf_diags_clear(&diags);
    hvf_fleet_free(f);
    return f ? 0 : -1;
}

/* A token of @role for @name (and @host) in the store of @state, written to @path (0600). */
int
hvf_lab_token(const char *state, const char *role, const char *name, const char *host,
              const char *path, hvf_error *err)
{
    hvf_store_token t;
    char tok[64];
    hvf_store *st;
    int rc;

    memset(&t, 0, sizeof(t));
    hvf_strlcpy(t.name, name, sizeof(t.name));
    hvf_strlcpy(t.role, role, sizeof(t.role));
    hvf_strlcpy(t.host, host ? host : "", sizeof(t.host));
    hvf_strlcpy(t.by, "hvfleet-lab", sizeof(t.by));
    t.created_unix = (int64_t)time(NULL);
    if (hvf_token_new(tok, t.sha256, err) < 0 || !(st = hvf_state_open(state, err)))
        return -1;
    rc = hvf_store_token_add(st, &t, err);
    hvf_store_close(st);
    if (rc < 0)
        return -1;
    {
        HVF_AUTOFREE char *line = hvf_asprintf("%s\n", tok);

        rc = hvf_lab_write_file(path, line, 0600, err);
        memset(line, 0, strlen(line));
    }
    memset(tok, 0, sizeof(tok));
    return rc;
}

/* The last non-empty line of @path, for messages. */
void
hvf_lab_log_tail(const char *path, char *buf, size_t size)
{
    HVF_AUTOFREE char *text = NULL;
    hvf_error err = HVF_ERROR_INIT;
    size_t len = 0;
    char *end, *start;

    snprintf(buf, size, "(see %s)", path);
    if (!(text = hvf_text_read_file(path, (size_t)16 << 20, &len, &err)) || len == 0)
        return;
    end = text + len;
    while (end > text && (end[-1] == '\n' || end[-1] == ' '))
        *--end = '\0';
    start = strrchr(text, '\n');
    start = start ? start + 1 : text;
    if (*start)
        snprintf(buf, size, "%.300s (%s)", start, path);
}
