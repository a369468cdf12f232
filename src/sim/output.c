/* SPDX-License-Identifier: MIT */
/*
 * What the twin writes: the event log (events.jsonl), metric samples (metrics-fleet.csv,
 * metrics-hosts.csv) and the summary (summary.json), sealed by run.json (sizes, SHA-256s
 * and a run id). Formats are fixed (docs/simulator.md): src/report reads them. Times print
 * from integer microseconds, so output is byte-identical across runs with the same input and
 * seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sha256.h"
#include "util/text.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define OUT_HOST_SERIES_ALL 50 /* fleets up to this size get every host in metrics-hosts.csv */
#define OUT_HOST_SERIES_TOP 12

void
sim_format_time(hvf_strbuf *sb, int64_t us)
{
    hvf_strbuf_printf(sb, "%" PRId64 ".%06" PRId64, (int64_t)(us / HVF_US_PER_S),
                      (int64_t)(us % HVF_US_PER_S));
}

static void
out_name(hvf_strbuf *sb, const char *key, const char *name)
{
    hvf_strbuf_printf(sb, ",\"%s\":", key);
    hvf_strbuf_quote(sb, name);
}

void
sim_log(hvf_sim *sim, const char *type, int32_t host, int32_t vm, int32_t from, int32_t to,
        const char *detail, const char *extra)
{
    hvf_strbuf *sb = &sim->events;
    const hvf_fleet *f = sim->fleet;

    sim->st.events++;
    sim_inc_seen(sim, type);
    if (!sim->p.record_events)
        return;
    hvf_strbuf_puts(sb, "{\"t_s\":");
    sim_format_time(sb, sim->now_us);
    hvf_strbuf_puts(sb, ",\"type\":");
    hvf_strbuf_quote(sb, type);
    if (host >= 0)
        out_name(sb, "host", f->hosts[host].name);
    if (vm >= 0)
        out_name(sb, "vm", f->vms[vm].name);
    if (from >= 0)
        out_name(sb, "from", f->hosts[from].name);
    if (to >= 0)
        out_name(sb, "to", f->hosts[to].name);
    if (detail) {
        hvf_strbuf_puts(sb, ",\"detail\":");
        hvf_strbuf_quote(sb, detail);
    }
    if (extra)
        hvf_strbuf_puts(sb, extra);
    hvf_strbuf_puts(sb, "}\n");
}

static double
out_host_nic(const hvf_sim *sim, int32_t host, bool out)
{
    const sim_host *sh = &sim->hosts[host];
    double sum = 0;

    if (out) {
        for (int32_t id = sh->mig_out; id >= 0; id = sim->migs[id].next_out)
            sum += sim->migs[id].rate;
    } else {
        for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in)
            sum += sim->migs[id].rate;
    }
    return sum;
}

void
sim_sample(hvf_sim *sim)
{
    const hvf_fleet *f = sim->fleet;
    uint32_t maint = 0, down = 0, over = 0;
    double max_mem = 0, max_cpu = 0;

    hvf_grow(&sim->sample_t, &sim->sample_t_cap, sim->nsamples + 1, sizeof(int64_t));
    sim->sample_t[sim->nsamples++] = sim->now_us;
    for (size_t h = 0; h < f->nhosts; h++) {
        sim_host *sh = &sim->hosts[h];
        double ratio = sh->state == HVF_SIM_HOST_DOWN ? 0 : sim_host_ratio(sim, (int32_t)h);
        double cpu = sh->state == HVF_SIM_HOST_DOWN ? 0 : sim_host_cpu_ratio(sim, (int32_t)h);

        if (sh->state == HVF_SIM_HOST_MAINTENANCE)
            maint++;
        else if (sh->state == HVF_SIM_HOST_DOWN)
            down++;
        if (ratio > 1.0 + 1e-9) {
            over++;
            if (!sh->over_committed)
                sim_host_mark(sim, (int32_t)h); /* its evaluation logs the crossing */
        }
        if (ratio > sh->peak_ratio)
            sh->peak_ratio = ratio;
        if (ratio > sim->st.peak_host_memory_ratio)
            sim->st.peak_host_memory_ratio = ratio;
        max_mem = fmax(max_mem, ratio);
        max_cpu = fmax(max_cpu, cpu);
        if (sim->p.record_host_series) {
            sim_host_sample smp;
            sim_host_sample *s = &smp;
            memset(s, 0, sizeof(*s));
            s->memory_ratio = (float)ratio;
            s->cpu_ratio = (float)cpu;
            s->nic_out = (float)out_host_nic(sim, (int32_t)h, true);
            s->nic_in = (float)out_host_nic(sim, (int32_t)h, false);
            s->swap_mib = (float)sh->swap_mib;
            s->io_util = (float)sh->io_util;
            s->mig_out = (uint16_t)(sh->n_out > UINT16_MAX ? UINT16_MAX : sh->n_out);
            s->mig_in = (uint16_t)(sh->n_in > UINT16_MAX ? UINT16_MAX : sh->n_in);
            s->state = (uint8_t)sh->state;
            sim_metrics_host(sim, h, s);
        }
    }
    sim_format_time(&sim->fleet_csv, sim->now_us);
    hvf_strbuf_printf(&sim->fleet_csv, ",%u,%u,%u,%u,%u,%u,%u,%.4f,%.4f\n", sim->migs_active,
                      sim->evacuating, maint, down, over, sim->vms_running, sim->vms_crashed_now,
                      max_mem, max_cpu);
    sim_metrics_fleet_row(sim, &sim->fleet_csv);
}

static json_t *
out_real(double v)
{
    return json_real(round(v * 1e6) / 1e6);
}

static json_t *
out_summary(hvf_sim *sim)
{
    hvf_sim_stats st;
    json_t *root, *mig;

    hvf_sim_get_stats(sim, &st);
    mig =
        json_pack("{s:I, s:I, s:I, s:I}", "started", (json_int_t)st.migrations_started, "completed",
                  (json_int_t)st.migrations_completed, "aborted", (json_int_t)st.migrations_aborted,
                  "in_flight_at_end", (json_int_t)sim->migs_active);
    root = json_object();
    json_object_set_new(root, "schema", json_string("hvfleet.sim-summary/v1"));
    json_object_set_new(root, "scenario", json_string(sim->name));
    json_object_set_new(root, "seed", json_integer((json_int_t)sim->p.seed));
    json_object_set_new(root, "duration_s", out_real((double)sim->p.duration_us / 1e6));
    json_object_set_new(root, "hosts", json_integer((json_int_t)sim->fleet->nhosts));
    json_object_set_new(root, "vms", json_integer((json_int_t)sim->fleet->nvms));
    json_object_set_new(root, "migrations", mig);
    json_object_set_new(root, "makespan_s", out_real((double)st.makespan_us / 1e6));
    json_object_set_new(root, "peak_concurrent_migrations",
                        json_integer(st.peak_concurrent_migrations));
    json_object_set_new(root, "peak_concurrent_evacuations",
                        json_integer(st.peak_concurrent_evacuations));
    json_object_set_new(root, "peak_host_memory_ratio", out_real(st.peak_host_memory_ratio));
    json_object_set_new(root, "hosts_over_committed", json_integer(st.hosts_over_committed));
    json_object_set_new(root, "vms_crashed", json_integer(st.vms_crashed));
    json_object_set_new(root, "vms_rebooted", json_integer(st.vms_rebooted));
    json_object_set_new(root, "hosts_crashed", json_integer(st.hosts_crashed));
    json_object_set_new(root, "events", json_integer((json_int_t)st.events));
    json_object_set_new(root, "hosts_hung", json_integer(st.hosts_hung));
    json_object_set_new(root, "hosts_maintained", json_integer(st.hosts_maintained));
    json_object_set_new(root, "scheduler",
                        json_string(sim->has_ctl && sim->ctl.name ? sim->ctl.name : "none"));
    json_object_set_new(root, "metrics_interval_s",
                        out_real((double)sim->p.metrics_interval_us / 1e6));
    sim_model_summary(sim, root); /* incident, services, changes (src/platform/) */
    sim_ext_summary(sim, root);
    return root;
}

char *
hvf_sim_summary_json(hvf_sim *sim)
{
    json_t *root = out_summary(sim);
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    char *copy = hvf_strdup(s ? s : "{}");

    free(s);
    json_decref(root);
    return copy;
}

/* Hosts for metrics-hosts.csv: all of a small fleet, else the busiest by peak memory ratio
 * (ties to the lower index), written in fleet order. */
static size_t
out_pick_hosts(const hvf_sim *sim, int32_t *pick)
{
    size_t n = sim->fleet->nhosts, k = 0;
    HVF_AUTOFREE bool *taken = hvf_calloc(n + 1, sizeof(bool));

    if (n <= OUT_HOST_SERIES_ALL) {
        for (size_t h = 0; h < n; h++)
            pick[k++] = (int32_t)h;
        return k;
    }
    for (; k < OUT_HOST_SERIES_TOP; k++) {
        int32_t best = -1;
        for (size_t h = 0; h < n; h++) {
            if (!taken[h] && (best < 0 || sim->hosts[h].peak_ratio > sim->hosts[best].peak_ratio))
                best = (int32_t)h;
        }
        taken[best] = true;
    }
    k = 0;
    for (size_t h = 0; h < n; h++) {
        if (taken[h])
            pick[k++] = (int32_t)h;
    }
    return k;
}

static int
out_write(const char *dir, const char *file, const char *data, size_t len, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, file);

    return hvf_file_write_atomic(path, data ? data : "", len, err);
}

const char *const hvf_sim_output_files[] = {HVF_SIM_RUN_FILES, "report.html",
                                             HVF_SIM_MANIFEST, NULL};

/* The SHA-256 of file @path, read in pieces; -1 with HVF_ERR_IO when it cannot be read. */
static int
out_hash_file(const char *path, char hex[HVF_SHA256_HEX_LEN + 1], uint64_t *bytes, hvf_error *err)
{
    FILE *fp = fopen(path, "rb");
    hvf_sha256 ctx;
    uint8_t digest[HVF_SHA256_BYTES];
    char buf[65536];
    size_t n;

    if (!fp) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read back '%s': %s", path, strerror(errno));
        return -1;
    }
    hvf_sha256_init(&ctx);
    *bytes = 0;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
        hvf_sha256_update(&ctx, buf, n);
        *bytes += n;
    }
    if (ferror(fp)) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read back '%s': %s", path, strerror(errno));
        fclose(fp);
        return -1;
    }
    fclose(fp);
    hvf_sha256_final(&ctx, digest);
    hvf_sha256_to_hex(digest, hex);
    return 0;
}

int
hvf_sim_seal_outputs(const char *dir, hvf_error *err)
{
    static const char *const files[] = {HVF_SIM_RUN_FILES};
    hvf_strbuf sb = HVF_STRBUF_INIT, ids = HVF_STRBUF_INIT;
    char hex[HVF_SHA256_HEX_LEN + 1], id[HVF_SHA256_HEX_LEN + 1];
    int rc = -1;

    hvf_strbuf_puts(&sb, "  \"files\": {\n");
    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, files[i]);
        uint64_t bytes = 0;
        if (out_hash_file(path, hex, &bytes, err) < 0)
            goto out;
        hvf_strbuf_printf(&sb, "    \"%s\": {\"bytes\": %" PRIu64 ", \"sha256\": \"%s\"}%s\n",
                          files[i], bytes, hex, i + 1 < HVF_ARRAY_LEN(files) ? "," : "");
        hvf_strbuf_printf(&ids, "%s %s\n", files[i], hex);
    }
    hvf_strbuf_puts(&sb, "  }\n}\n");
    /* The id follows from the content: the same input and seed give the same run id. */
    hvf_sha256_hex(ids.buf, ids.len, id);
    {
        HVF_AUTOFREE char *head = hvf_asprintf("{\n  \"schema\": \"" HVF_SIM_MANIFEST_SCHEMA
                                               "\",\n  \"run_id\": \"%.16s\",\n",
                                               id);
        HVF_AUTOFREE char *text = hvf_asprintf("%s%s", head, sb.buf);
        HVF_AUTOFREE char *path = hvf_asprintf("%s/" HVF_SIM_MANIFEST, dir);
        rc = hvf_file_write_atomic(path, text, strlen(text), err);
    }
out:
    hvf_strbuf_clear(&sb);
    hvf_strbuf_clear(&ids);
    return rc;
}

int
hvf_sim_write_outputs(hvf_sim *sim, const char *dir, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    HVF_AUTOFREE int32_t *pick = hvf_calloc(sim->fleet->nhosts + 1, sizeof(int32_t));
    json_t *root;
    char *text;
    size_t npick;
    int rc = -1;

    if (hvf_file_mkdirs(dir, 0777, err) < 0)
        return -1;
    root = out_summary(sim);
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    hvf_strbuf_puts(&sb, text ? text : "{}");
    hvf_strbuf_puts(&sb, "\n");
    free(text);
    if (out_write(dir, "summary.json", sb.buf, sb.len, err) < 0)
        goto out;
    if (out_write(dir, "events.jsonl", sim->events.buf, sim->events.len, err) < 0)
        goto out;
    if (sim_metrics_write_fleet(sim, dir, "metrics-fleet.csv",
                                "t_s,migrations_active,hosts_evacuating,hosts_in_maintenance,"
                                "hosts_down,hosts_over_committed,vms_running,vms_crashed,"
                                "max_host_memory_ratio,max_host_cpu_ratio\n",
                                err) < 0)
        goto out;
    npick = sim->p.record_host_series ? out_pick_hosts(sim, pick) : 0;
    if (sim_metrics_write_hosts(sim, dir, "metrics-hosts.csv",
                                "t_s,host,memory_ratio,cpu_ratio,nic_out_bytes_per_s,"
                                "nic_in_bytes_per_s,migrations_out,migrations_in,swap_mib,"
                                "io_util,state\n",
                                pick, npick, err) < 0)
        goto out;
    rc = hvf_sim_seal_outputs(dir, err);
out:
    hvf_strbuf_clear(&sb);
    return rc;
}
