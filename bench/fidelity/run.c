/* SPDX-License-Identifier: MIT */
/* One real migration for the fidelity benchmark: boot the guest, let it dirty, migrate, measure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-proc.h"
#include "fidelity.h"
#include "hvfleet/alloc.h"

#define FID_READY_TIMEOUT_MS 180000 /* a 1 GiB fill under TCG on a loaded host */
#define FID_DST_ALIVE_MS 4000

static int64_t
fid_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fid_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static double
fid_load_avg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ---------------------------------------------------------------- guest serial */

typedef struct guest_log {
    bool ready;
    bool fault;
    char fault_line[160];
    uint64_t ws_kib, filled_kib, tsc_khz;
    uint64_t max_stale;
    size_t n_rates;
    /* rate reports at or after the offset given to guest_log_read */
    uint64_t first_t_ms, first_written, last_t_ms, last_written;
} guest_log;

static uint64_t
kv(const char *line, const char *key)
{
    char pat[32];
    const char *p;

    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(line, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* Reads the guest's serial log; rate lines count from byte @from on. */
static void
guest_log_read(const char *path, long from, guest_log *g)
{
    FILE *f = fopen(path, "r");
    char line[512];
    long pos = 0;

    memset(g, 0, sizeof(*g));
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        long start = pos;
        pos = ftell(f);
        if (strncmp(line, "hvf-guest: ready", 16) == 0) {
            g->ready = true;
            g->ws_kib = kv(line, "ws_kib");
        } else if (strncmp(line, "hvf-guest: boot", 15) == 0) {
            g->tsc_khz = kv(line, "tsc_khz");
            g->filled_kib = kv(line, "filled_kib");
        } else if (strncmp(line, "hvf-guest: fault", 16) == 0 ||
                   strncmp(line, "hvf-guest: error", 16) == 0) {
            g->fault = true;
            line[strcspn(line, "\r\n")] = 0;
            hvf_strlcpy(g->fault_line, line, sizeof(g->fault_line));
        } else if (strncmp(line, "hvf-guest: rate", 15) == 0 && start >= from) {
            uint64_t t = kv(line, "t_ms");
            uint64_t w = kv(line, "written");
            if (g->n_rates++ == 0) {
                g->first_t_ms = t;
                g->first_written = w;
            }
            g->last_t_ms = t;
            g->last_written = w;
            if (kv(line, "stale") > g->max_stale)
                g->max_stale = kv(line, "stale");
        }
    }
    fclose(f);
}

static long
file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;

    if (f) {
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fclose(f);
    }
    return n;
}

/* ---------------------------------------------------------------- the run */

/* What the sample callback needs: where to record, and the guest's serial log to follow. */
typedef struct fid_watch {
    fid_measure *m;
    const char *serial;
    long offset; /* end of the last complete line read */
    uint64_t t_ms, written;
} fid_watch;

/* Reads the complete lines added to the serial log since the last call. */
static void
fid_watch_guest(fid_watch *w)
{
    FILE *f = fopen(w->serial, "r");
    char line[512];

    if (!f)
        return;
    if (fseek(f, w->offset, SEEK_SET) == 0) {
        while (fgets(line, sizeof(line), f) && strchr(line, '\n')) {
            w->offset = ftell(f);
            if (strncmp(line, "hvf-guest: rate", 15) == 0) {
                w->t_ms = kv(line, "t_ms");
                w->written = kv(line, "written");
            }
        }
    }
    fclose(f);
}

static void
fid_on_sample(const hvf_qemu_migrate_sample *s, void *opaque)
{
    fid_watch *w = opaque;
    fid_measure *m = w->m;
    fid_sample *d;

    hvf_grow(&m->samples, &m->cap_samples, m->n_samples + 1, sizeof(*m->samples));
    d = &m->samples[m->n_samples++];
    d->t_ms = s->t_ms;
    d->transferred_bytes = s->transferred_bytes;
    d->remaining_bytes = s->remaining_bytes;
    d->dirty_sync_count = s->dirty_sync_count;
    d->throttle_pct = s->throttle_pct;
    d->dirty_pages_rate = s->dirty_pages_rate;
    fid_watch_guest(w);
    d->guest_t_ms = w->t_ms;
    d->guest_written = w->written;
}

/*
 * The guest's dirty rate over samples [0, @end), by our clock: its own clock is only as good as
 * its TSC calibration. Each sample holds the last report seen, up to a report period old, at
 * both ends alike. The span stops where the count stops growing (the source guest stops at
 * the switch to the destination). 0 without two distinct counts.
 */
static double
fid_rate(const fid_measure *m, size_t end)
{
    const fid_sample *first = NULL;
    const fid_sample *last = NULL;

    for (size_t i = 0; i < end; i++) {
        const fid_sample *s = &m->samples[i];
        if (s->guest_written == 0)
            continue;
        if (!first)
            first = s;
        if (!last || s->guest_written > last->guest_written)
            last = s;
    }
    if (!first || last->t_ms <= first->t_ms)
        return 0;
    return (double)(last->guest_written - first->guest_written) * 4096.0 /
           ((double)(last->t_ms - first->t_ms) / 1000.0);
}

/* Up to the first throttle of auto-converge, which lowers the rate on purpose. */
static double
fid_unthrottled_rate(const fid_measure *m)
{
    size_t end = 0;

    while (end < m->n_samples && m->samples[end].throttle_pct == 0)
        end++;
    return fid_rate(m, end);
}

static hvf_qemu *
fid_start(const fid_env *env, const char *name, const char *mem, const char *append,
          const char *incoming, hvf_error *err)
{
    /* The destination's RAM is allocated up front: in a VM (as on these build machines) the
     * first touch of a page costs tens of microseconds, which would otherwise be measured as
     * migration time; a real destination host pays it at boot or not at all. */
    const char *args[] = {"-machine",
                          "pc",
                          "-accel",
                          "tcg",
                          "-m",
                          mem,
                          "-kernel",
                          env->guest,
                          "-append",
                          append,
                          incoming ? "-mem-prealloc" : NULL,
                          "-incoming",
                          incoming,
                          NULL};
    hvf_qemu_opts o = {.binary = env->qemu,
                       .args = args,
                       .workdir = env->workdir,
                       .name = name,
                       .timeout_ms = 10000};

    return hvf_qemu_start(&o, err);
}

int
fid_run(const fid_env *env, const fid_config *c, fid_measure *m, hvf_error *err)
{
    hvf_qemu *src = NULL;
    hvf_qemu *dst = NULL;
    char mem[32];
    char append[160];
    char uri[64];
    hvf_qemu_migrate_opts mo;
    fid_watch watch;
    guest_log g;
    int port = 0;
    int64_t t0;
    int64_t warm_t0 = -1;
    int64_t warm_t1 = -1;
    uint64_t warm_w0 = 0;
    uint64_t warm_w1 = 0;
    long offset;
    double rate_mib = c->dirty_factor * c->cap_bytes_per_s / (1024.0 * 1024.0);
    int rc = -1;

    memset(m, 0, sizeof(*m));
    snprintf(mem, sizeof(mem), "%" PRIu32 "M", c->mem_mib);
    snprintf(append, sizeof(append), "rate=%.3f zero=%" PRIu32 " report=%d", rate_mib, c->zero_pct,
             FID_REPORT_MS);
    if (c->ws_mib > 0) {
        size_t n = strlen(append);
        snprintf(append + n, sizeof(append) - n, " ws=%" PRIu32, c->ws_mib);
    }
    if (hvf_qemu_free_port(&port, err) < 0)
        return -1;
    snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", port);

    t0 = fid_now_ms();
    src = fid_start(env, "src", mem, append, NULL, err);
    if (!src)
        goto out;
    dst = fid_start(env, "dst", mem, append, uri, err);
    if (!dst)
        goto out;

    /* The guest fills its RAM, then reports its dirty rate every FID_REPORT_MS; the rate is
     * taken on our clock, from when each new count was seen. */
    for (;;) {
        int64_t now;
        guest_log_read(hvf_qemu_serial_path(src), 0, &g);
        now = fid_now_ms();
        if (g.fault) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "guest: %s", g.fault_line);
            goto out;
        }
        if (g.ready && m->ready_ms == 0)
            m->ready_ms = now - t0;
        if (g.n_rates > 0 && warm_t0 < 0) {
            warm_t0 = now;
            warm_w0 = g.last_written;
        }
        if (g.n_rates > 0 && g.last_written != warm_w1) {
            warm_t1 = now;
            warm_w1 = g.last_written;
        }
        if (warm_t0 >= 0 && warm_t1 - warm_t0 >= FID_WARMUP_MS)
            break;
        if (warm_t0 >= 0 && c->dirty_factor == 0 && now - warm_t0 >= FID_WARMUP_MS)
            break;
        if (!hvf_qemu_alive(src) || fid_now_ms() - t0 > FID_READY_TIMEOUT_MS) {
            hvf_error_set(err, HVF_ERR_IO, "guest not ready after %d s (see %s)",
                          FID_READY_TIMEOUT_MS / 1000, hvf_qemu_log_path(src));
            goto out;
        }
        fid_sleep_ms(100);
    }
    m->guest_ws_bytes = g.ws_kib * 1024;
    m->guest_filled_bytes = g.filled_kib * 1024;
    m->guest_tsc_khz = g.tsc_khz;
    if (warm_t1 > warm_t0)
        m->dirty_before_bytes_per_s =
            (double)(warm_w1 - warm_w0) * 4096.0 / ((double)(warm_t1 - warm_t0) / 1000.0);

    memset(&mo, 0, sizeof(mo));
    mo.uri = uri;
    mo.max_bandwidth_bytes_per_s = (uint64_t)c->cap_bytes_per_s;
    mo.downtime_limit_ms = FID_DOWNTIME_LIMIT_MS;
    mo.auto_converge = c->strategy == HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    mo.postcopy = c->strategy == HVF_MIGRATE_STRATEGY_POSTCOPY;
    mo.timeout_ms = c->timeout_ms;
    /* post-copy starts at the first poll after the first pass: poll often to be close to it */
    mo.poll_ms = c->strategy == HVF_MIGRATE_STRATEGY_POSTCOPY ? 20 : 100;
    offset = file_size(hvf_qemu_serial_path(src));
    memset(&watch, 0, sizeof(watch));
    watch.m = m;
    watch.serial = hvf_qemu_serial_path(src);
    watch.offset = offset;
    mo.on_sample = fid_on_sample;
    mo.opaque = &watch;
    m->load_avg = fid_load_avg();
    if (hvf_qemu_migrate(hvf_qemu_qmp(src), hvf_qemu_qmp(dst), &mo, &m->r, err) < 0)
        goto out;
    m->ok = true;

    guest_log_read(hvf_qemu_serial_path(src), offset, &g);
    m->dirty_during_bytes_per_s = fid_rate(m, m->n_samples);
    m->dirty_model_bytes_per_s = fid_unthrottled_rate(m);
    if (strcmp(m->r.status, "completed") == 0) {
        uint64_t src_written = g.last_written;
        int64_t until = fid_now_ms() + FID_DST_ALIVE_MS;
        /* two reports, so that the stale count covers a full check on the destination */
        while (!m->dst_alive && fid_now_ms() < until) {
            guest_log_read(hvf_qemu_serial_path(dst), 0, &g);
            m->dst_alive = g.n_rates >= 2;
            if (!m->dst_alive)
                fid_sleep_ms(100);
        }
        m->dst_stale_pages = g.max_stale;
        /* post-copy: the source stops reporting before the switch, so compare only pre-copy */
        m->dst_went_back = g.n_rates > 0 && g.first_written < src_written &&
                           c->strategy != HVF_MIGRATE_STRATEGY_POSTCOPY;
    }
    rc = 0;

out:
    if (rc < 0)
        hvf_strlcpy(m->error, err->msg, sizeof(m->error));
    hvf_qemu_stop(dst, 3000);
    hvf_qemu_stop(src, 3000);
    if (rc < 0 && env->verbose)
        fprintf(stderr, "migration-fidelity: %s: %s\n", c->name, m->error);
    return rc;
}

void
fid_measure_free(fid_measure *m)
{
    free(m->samples);
    m->samples = NULL;
    m->n_samples = m->cap_samples = 0;
}

void
fid_model_params(const fid_config *c, const fid_measure *m, const fid_calibration *cal,
                 hvf_migrate_params *p)
{
    uint64_t mem = (uint64_t)c->mem_mib * 1024 * 1024;

    hvf_migrate_params_default(p);
    p->mem_bytes = mem;
    /*
     * The guest's achieved rate, not the one asked: a loaded host slows a TCG guest, and the
     * rate drifts by several per cent from one second to the next. The rate over the migration
     * itself is the best measure of what the migration faced, up to the first throttle of
     * auto-converge, which lowers it on purpose: the model wants the rate before throttling.
     */
    p->dirty_bytes_per_s = m->dirty_model_bytes_per_s > 0    ? m->dirty_model_bytes_per_s
                           : m->dirty_during_bytes_per_s > 0 ? m->dirty_during_bytes_per_s
                                                             : m->dirty_before_bytes_per_s;
    p->working_set_bytes = m->guest_ws_bytes > 0 && m->guest_ws_bytes < mem ? m->guest_ws_bytes : 0;
    p->zero_fraction = (double)c->zero_pct / 100.0;
    p->bandwidth_bytes_per_s = c->cap_bytes_per_s;
    p->link_bytes_per_s = cal->link_bytes_per_s;
    p->downtime_limit_us = FID_DOWNTIME_LIMIT_MS * 1000LL;
    p->switchover_us = cal->switchover_us;
    p->timeout_us = c->timeout_ms * 1000;
    p->strategy = c->strategy;
}

void
fid_model_params_nominal(const fid_config *c, const fid_measure *m, hvf_migrate_params *p)
{
    hvf_migrate_params def;
    fid_calibration none = {0};

    hvf_migrate_params_default(&def);
    fid_model_params(c, m, &none, p);
    p->link_bytes_per_s = 0;
    p->switchover_us = def.switchover_us;
}
