/* SPDX-License-Identifier: MIT */
/*
 * Metric samples on their way to metrics-fleet.csv and metrics-hosts.csv, streamed instead of
 * held in memory (docs/simulator.md, "Limits"). Each sample's fleet row and the per-host
 * values that changed since the host's last sample go to two anonymous temporary files (in
 * $TMPDIR, else /tmp, unlinked as soon as they are open, so a killed run leaves nothing). At
 * the end the CSV files are written from them: the fleet rows as they are, the hosts' rows by
 * replaying the changes for the hosts output.c picks. Memory stays O(hosts), whatever the
 * run's length; hvf_sim_params_check_work bounds the files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvfleet/alloc.h"
#include "sim/sim-priv.h"

/* One host's values at one sample, written when they differ from the host's previous ones. */
typedef struct metrics_rec {
    uint32_t sample;
    uint32_t host;
    sim_host_sample s;
} metrics_rec;

static FILE *
metrics_spool_open(hvf_sim *sim)
{
    const char *tmpdir = getenv("TMPDIR");
    HVF_AUTOFREE char *path =
        hvf_asprintf("%s/hvfleet-metrics.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    FILE *fp;

    if (fd < 0) {
        if (!sim->metrics.err)
            sim->metrics.err = errno;
        return NULL;
    }
    unlink(path);
    fp = fdopen(fd, "w+b");
    if (!fp) {
        if (!sim->metrics.err)
            sim->metrics.err = errno;
        close(fd);
    }
    return fp;
}

static void
metrics_put(hvf_sim *sim, FILE *fp, const void *data, size_t len)
{
    if (fp && fwrite(data, 1, len, fp) != len && !sim->metrics.err)
        sim->metrics.err = errno ? errno : EIO;
}

void
sim_metrics_fleet_row(hvf_sim *sim, hvf_strbuf *row)
{
    if (!sim->metrics.fleet && !sim->metrics.err)
        sim->metrics.fleet = metrics_spool_open(sim);
    metrics_put(sim, sim->metrics.fleet, row->buf, row->len);
    row->len = 0;
    if (row->buf)
        row->buf[0] = '\0';
}

void
sim_metrics_host(hvf_sim *sim, size_t host, const sim_host_sample *s)
{
    sim_metrics *m = &sim->metrics;
    uint32_t sample = (uint32_t)(sim->nsamples - 1);
    metrics_rec rec;

    if (!m->last) {
        m->last = hvf_calloc(sim->fleet->nhosts + 1, sizeof(sim_host_sample));
        if (!m->err)
            m->hosts = metrics_spool_open(sim);
    }
    if (sample > 0 && memcmp(&m->last[host], s, sizeof(*s)) == 0)
        return;
    m->last[host] = *s;
    memset(&rec, 0, sizeof(rec));
    rec.sample = sample;
    rec.host = (uint32_t)host;
    rec.s = *s;
    metrics_put(sim, m->hosts, &rec, sizeof(rec));
}

void
sim_metrics_clear(hvf_sim *sim)
{
    if (sim->metrics.fleet)
        fclose(sim->metrics.fleet);
    if (sim->metrics.hosts)
        fclose(sim->metrics.hosts);
    free(sim->metrics.last);
    memset(&sim->metrics, 0, sizeof(sim->metrics));
}

static int
metrics_check(const hvf_sim *sim, hvf_error *err)
{
    const char *tmpdir = getenv("TMPDIR");

    if (!sim->metrics.err)
        return 0;
    hvf_error_set(err, HVF_ERR_IO, "cannot keep the metrics in a temporary file in '%s': %s",
                  tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(sim->metrics.err));
    return -1;
}

/* Copies the fleet rows to @out; the spool stays open for more. */
static int
metrics_copy_fleet(hvf_sim *sim, FILE *out)
{
    FILE *in = sim->metrics.fleet;
    char buf[65536];
    size_t n;
    int rc = 0;

    if (!in)
        return 0;
    if (fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0)
        return -1;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            rc = -1;
            break;
        }
    }
    if (ferror(in))
        rc = -1;
    if (fseek(in, 0, SEEK_END) != 0)
        rc = -1;
    return rc;
}

/* Replays the hosts' changes: one row per sample per picked host, in fleet order. */
static int
metrics_copy_hosts(hvf_sim *sim, FILE *out, const int32_t *pick, size_t npick)
{
    FILE *in = sim->metrics.hosts;
    const hvf_fleet *f = sim->fleet;
    HVF_AUTOFREE int32_t *slot = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    HVF_AUTOFREE sim_host_sample *cur = hvf_calloc(npick + 1, sizeof(sim_host_sample));
    hvf_strbuf sb = HVF_STRBUF_INIT;
    metrics_rec rec;
    bool have = false;
    int rc = 0;

    if (!in || npick == 0)
        return 0;
    for (size_t h = 0; h < f->nhosts; h++)
        slot[h] = -1;
    for (size_t i = 0; i < npick; i++)
        slot[pick[i]] = (int32_t)i;
    if (fflush(in) != 0 || fseek(in, 0, SEEK_SET) != 0)
        return -1;
    have = fread(&rec, sizeof(rec), 1, in) == 1;
    for (size_t t = 0; t < sim->nsamples && rc == 0; t++) {
        for (; have && rec.sample == t; have = fread(&rec, sizeof(rec), 1, in) == 1) {
            if (rec.host < f->nhosts && slot[rec.host] >= 0)
                cur[slot[rec.host]] = rec.s;
        }
        for (size_t i = 0; i < npick; i++) {
            const sim_host_sample *s = &cur[i];
            sim_format_time(&sb, sim->sample_t[t]);
            hvf_strbuf_printf(&sb, ",%s,%.4f,%.4f,%.0f,%.0f,%u,%u,%.0f,%.4f,%s\n",
                              f->hosts[pick[i]].name, (double)s->memory_ratio,
                              (double)s->cpu_ratio, (double)s->nic_out, (double)s->nic_in,
                              s->mig_out, s->mig_in, (double)s->swap_mib, (double)s->io_util,
                              hvf_sim_host_state_names[s->state]);
        }
        if (sb.len > 0 && fwrite(sb.buf, 1, sb.len, out) != sb.len)
            rc = -1;
        sb.len = 0;
    }
    hvf_strbuf_clear(&sb);
    if (ferror(in) || fseek(in, 0, SEEK_END) != 0)
        rc = -1;
    return rc;
}

/*
 * Writes @header, then the rows, to @dir/@file through a temporary file in @dir renamed over
 * it, as hvf_file_write_atomic does for a buffer.
 */
static int
metrics_write_file(hvf_sim *sim, const char *dir, const char *file, const char *header,
                   const int32_t *pick, size_t npick, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, file);
    HVF_AUTOFREE char *tmp = hvf_asprintf("%s.tmp.XXXXXX", path);
    mode_t mask;
    FILE *fp;
    int fd;
    int rc;

    if (metrics_check(sim, err) < 0)
        return -1;
    fd = mkstemp(tmp);
    if (fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create a file next to '%s': %s", path,
                      strerror(errno));
        return -1;
    }
    mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(tmp);
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        return -1;
    }
    rc = fputs(header, fp) < 0 ? -1 : 0;
    if (rc == 0)
        rc = pick ? metrics_copy_hosts(sim, fp, pick, npick) : metrics_copy_fleet(sim, fp);
    if (rc < 0 || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        fclose(fp);
        unlink(tmp);
        return -1;
    }
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
sim_metrics_write_fleet(hvf_sim *sim, const char *dir, const char *file, const char *header,
                        hvf_error *err)
{
    return metrics_write_file(sim, dir, file, header, NULL, 0, err);
}

int
sim_metrics_write_hosts(hvf_sim *sim, const char *dir, const char *file, const char *header,
                        const int32_t *pick, size_t npick, hvf_error *err)
{
    static const int32_t none[1] = {0};

    return metrics_write_file(sim, dir, file, header, pick ? pick : none, pick ? npick : 0, err);
}

int
sim_metrics_read_fleet(hvf_sim *sim, hvf_strbuf *out, hvf_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;
    int rc;

    if (metrics_check(sim, err) < 0)
        return -1;
    mem = open_memstream(&buf, &len);
    if (!mem) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read the metrics back: %s", strerror(errno));
        return -1;
    }
    rc = metrics_copy_fleet(sim, mem);
    fclose(mem);
    if (rc == 0 && len > 0)
        hvf_strbuf_add(out, buf, len);
    free(buf);
    if (rc < 0)
        hvf_error_set(err, HVF_ERR_IO, "cannot read the metrics back: %s", strerror(errno));
    return rc;
}
