/* SPDX-License-Identifier: MIT */
/* Real QEMU on 127.0.0.1: start two, migrate a dirtying guest, check the figures, leak nothing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/qemu/qemu-migrate.h"
#include "driver/qemu/qemu-proc.h"
#include "hvfleet/alloc.h"

/* meson's exit status for a skipped test */
#define SKIP 77

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static bool
qemu_available(void)
{
    return system("qemu-system-x86_64 --version >/dev/null 2>&1") == 0;
}

/* The last "written=" the guest reported in @path, or 0. */
static unsigned long
last_written(const char *path)
{
    char line[512];
    unsigned long w = 0;
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f)) {
        char *p = strstr(line, " written=");
        if (strncmp(line, "hvf-guest: rate", 15) == 0 && p)
            w = strtoul(p + 9, NULL, 10);
    }
    if (f)
        fclose(f);
    return w;
}

/* The largest " stale=" count the guest reported in @path. */
static unsigned long
max_stale(const char *path)
{
    char line[512];
    unsigned long m = 0;
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof(line), f)) {
        char *p = strstr(line, " stale=");
        if (p && strtoul(p + 7, NULL, 10) > m)
            m = strtoul(p + 7, NULL, 10);
    }
    if (f)
        fclose(f);
    return m;
}

static bool
serial_has(const char *path, const char *text)
{
    char line[512];
    bool found = false;
    FILE *f = fopen(path, "r");

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

static hvf_qemu *
start(const char *dir, const char *name, const char *incoming, hvf_error *err)
{
    const char *args[] = {"-machine",
                          "pc",
                          "-accel",
                          "tcg",
                          "-m",
                          "64M",
                          "-kernel",
                          HVF_GUEST_ELF,
                          "-append",
                          "rate=4 report=200",
                          incoming ? "-incoming" : NULL,
                          incoming,
                          NULL};
    hvf_qemu_opts o = {.args = args, .workdir = dir, .name = name, .timeout_ms = 10000};

    return hvf_qemu_start(&o, err);
}

int
main(void)
{
    char dir[] = "/tmp/hvf-qemu-test-XXXXXX";
    char uri[64];
    hvf_error err = HVF_ERROR_INIT;
    hvf_qemu_migrate_result r;
    hvf_qemu_migrate_opts mo = {
        .max_bandwidth_bytes_per_s = 200000000, .downtime_limit_ms = 300, .timeout_ms = 60000};
    hvf_qemu *src = NULL;
    hvf_qemu *dst = NULL;
    unsigned long before;
    int port = 0;

    if (!qemu_available() || access(HVF_GUEST_ELF, R_OK) != 0) {
        fprintf(stderr, "skipped: qemu-system-x86_64 or the guest (%s) is missing\n",
                HVF_GUEST_ELF);
        return SKIP;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    hvf_qemu_cleanup_install();
    if (hvf_qemu_free_port(&port, &err) < 0)
        goto fail;
    snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", port);
    mo.uri = uri;
    src = start(dir, "src", NULL, &err);
    if (!src)
        goto fail;
    dst = start(dir, "dst", uri, &err);
    if (!dst)
        goto fail;
    CHECK(hvf_qmp_version(hvf_qemu_qmp(src)) >= 20000);
    CHECK(hvf_qemu_count() == 2);
    for (int i = 0; i < 300 && !serial_has(hvf_qemu_serial_path(src), "hvf-guest: rate"); i++)
        usleep(100 * 1000);
    CHECK(serial_has(hvf_qemu_serial_path(src), "hvf-guest: ready"));

    if (hvf_qemu_migrate(hvf_qemu_qmp(src), hvf_qemu_qmp(dst), &mo, &r, &err) < 0)
        goto fail;
    CHECK(strcmp(r.status, "completed") == 0);
    CHECK(r.total_time_ms > 0 && r.downtime_ms >= 0 && r.downtime_ms < r.total_time_ms);
    /* the guest filled its RAM: nearly all of it crossed as normal pages */
    CHECK(r.ram_transferred_bytes > 60ULL * 1024 * 1024);
    CHECK(r.ram_total_bytes >= 64ULL * 1024 * 1024);
    CHECK(r.dirty_sync_count >= 2);
    CHECK(r.samples >= 1);

    /* the guest runs on the destination with its working set intact (QEMU 7.2 under TCG may
     * lose writes to pages that stay in the TLB, such as the stack: not checked here) */
    before = last_written(hvf_qemu_serial_path(src));
    for (int i = 0; i < 50 && last_written(hvf_qemu_serial_path(dst)) == 0; i++)
        usleep(100 * 1000);
    CHECK(before > 0);
    CHECK(last_written(hvf_qemu_serial_path(dst)) > 0);
    CHECK(max_stale(hvf_qemu_serial_path(dst)) == 0);

    /* a QMP error is reported, and the connection stays usable */
    CHECK(hvf_qmp_command(hvf_qemu_qmp(dst), "no-such-command", NULL, &err) < 0);
    CHECK(err.code == HVF_ERR_UNSUPPORTED);
    CHECK(!hvf_qmp_broken(hvf_qemu_qmp(dst)));

    CHECK(hvf_qemu_stop(dst, 3000) == 0); /* quit over QMP was enough */
    dst = NULL;
    CHECK(hvf_qemu_stop(src, 3000) == 0);
    src = NULL;
    CHECK(hvf_qemu_count() == 0);
    goto out;

fail:
    fprintf(stderr, "error: %s\n", err.msg);
    failures++;
out:
    hvf_qemu_stop(dst, 1000);
    hvf_qemu_stop(src, 1000);
    CHECK(hvf_qemu_count() == 0);
    {
        static const char *const files[] = {"src.qmp", "src.serial", "src.log",
                                            "dst.qmp", "dst.serial", "dst.log"};
        for (size_t i = 0; i < HVF_ARRAY_LEN(files) && failures == 0; i++) {
            char *p = hvf_asprintf("%s/%s", dir, files[i]);
            unlink(p);
            free(p);
        }
        if (failures == 0)
            rmdir(dir);
        else
            fprintf(stderr, "QEMU logs kept in %s\n", dir);
    }
    return failures ? 1 : 0;
}
