/* SPDX-License-Identifier: MIT */
/* The fidelity benchmark's record: configs and measurements to JSON and back (for --from). */
#include <string.h>

#include "fidelity.h"
#include "hvfleet/alloc.h"

json_t *
fid_config_to_json(const fid_config *c)
{
    return json_pack("{s:s, s:i, s:f, s:f, s:i, s:i, s:s, s:I, s:b}", "name", c->name, "mem_mib",
                     (int)c->mem_mib, "cap_bytes_per_s", c->cap_bytes_per_s, "dirty_factor",
                     c->dirty_factor, "ws_mib", (int)c->ws_mib, "zero_pct", (int)c->zero_pct,
                     "strategy", hvf_migrate_strategy_to_string(c->strategy), "timeout_ms",
                     (json_int_t)c->timeout_ms, "calibration", c->calibration);
}

json_t *
fid_measure_to_json(const fid_measure *m)
{
    const hvf_qemu_migrate_result *r = &m->r;
    json_t *samples = json_array();
    json_t *j;

    for (size_t i = 0; i < m->n_samples; i++) {
        const fid_sample *s = &m->samples[i];
        /* compact rows, they add up: see "sample_fields" in the record */
        json_array_append_new(
            samples, json_pack("[I, I, I, I, i, I, I, I]", (json_int_t)s->t_ms,
                               (json_int_t)s->transferred_bytes, (json_int_t)s->remaining_bytes,
                               (json_int_t)s->dirty_sync_count, s->throttle_pct,
                               (json_int_t)s->dirty_pages_rate, (json_int_t)s->guest_t_ms,
                               (json_int_t)s->guest_written));
    }
    j = json_pack("{s:b, s:s, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:b, s:I, s:b, s:f}", "ok", m->ok,
                  "error", m->error, "dirty_before_bytes_per_s", m->dirty_before_bytes_per_s,
                  "dirty_during_bytes_per_s", m->dirty_during_bytes_per_s,
                  "dirty_model_bytes_per_s", m->dirty_model_bytes_per_s, "guest_ws_bytes",
                  (json_int_t)m->guest_ws_bytes, "guest_filled_bytes",
                  (json_int_t)m->guest_filled_bytes, "guest_tsc_khz", (json_int_t)m->guest_tsc_khz,
                  "ready_ms", (json_int_t)m->ready_ms, "dst_alive", m->dst_alive, "dst_stale_pages",
                  (json_int_t)m->dst_stale_pages, "dst_went_back", m->dst_went_back, "load_avg",
                  m->load_avg);
    json_object_set_new(
        j, "qemu",
        json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                  "s:I, s:I, s:I, s:i}",
                  "status", r->status, "error_desc", r->error_desc, "timed_out", r->timed_out,
                  "total_time_ms", (json_int_t)r->total_time_ms, "downtime_ms",
                  (json_int_t)r->downtime_ms, "setup_time_ms", (json_int_t)r->setup_time_ms,
                  "expected_downtime_ms", (json_int_t)r->expected_downtime_ms, "wall_ms",
                  (json_int_t)r->wall_ms, "postcopy_start_ms", (json_int_t)r->postcopy_start_ms,
                  "ram_total_bytes", (json_int_t)r->ram_total_bytes, "ram_transferred_bytes",
                  (json_int_t)r->ram_transferred_bytes, "ram_duplicate_pages",
                  (json_int_t)r->ram_duplicate_pages, "ram_normal_pages",
                  (json_int_t)r->ram_normal_pages, "precopy_bytes", (json_int_t)r->precopy_bytes,
                  "downtime_bytes", (json_int_t)r->downtime_bytes, "postcopy_bytes",
                  (json_int_t)r->postcopy_bytes, "dirty_sync_count",
                  (json_int_t)r->dirty_sync_count, "postcopy_requests",
                  (json_int_t)r->postcopy_requests, "max_throttle_pct", r->max_throttle_pct));
    json_object_set_new(j, "samples", samples);
    return j;
}

static int
fid_bad(hvf_error *err, const char *what, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    hvf_error_set(err, HVF_ERR_INVALID, "%s: unexpected %.120s", what, text ? text : "value");
    free(text);
    return -1;
}

int
fid_config_from_json(json_t *j, fid_config *c, hvf_error *err)
{
    const char *name = NULL;
    const char *strategy = NULL;
    int mem = 0, ws = 0, zero = 0, cal = 0;
    json_int_t timeout = 0;
    int s;

    memset(c, 0, sizeof(*c));
    if (json_unpack(j, "{s:s, s:i, s:F, s:F, s:i, s:i, s:s, s:I, s:b}", "name", &name, "mem_mib",
                    &mem, "cap_bytes_per_s", &c->cap_bytes_per_s, "dirty_factor", &c->dirty_factor,
                    "ws_mib", &ws, "zero_pct", &zero, "strategy", &strategy, "timeout_ms", &timeout,
                    "calibration", &cal) < 0 ||
        mem <= 0 || ws < 0 || zero < 0 || zero > 100 || timeout < 0 || c->cap_bytes_per_s <= 0)
        return fid_bad(err, "config", j);
    s = hvf_migrate_strategy_from_string(strategy);
    if (s < 0)
        return fid_bad(err, "config strategy", json_object_get(j, "strategy"));
    hvf_strlcpy(c->name, name, sizeof(c->name));
    c->mem_mib = (uint32_t)mem;
    c->ws_mib = (uint32_t)ws;
    c->zero_pct = (uint32_t)zero;
    c->strategy = (hvf_migrate_strategy)s;
    c->timeout_ms = timeout;
    c->calibration = cal;
    return 0;
}

int
fid_measure_from_json(json_t *j, fid_measure *m, hvf_error *err)
{
    hvf_qemu_migrate_result *r = &m->r;
    const char *error = "";
    const char *status = "";
    json_int_t ws = 0, filled = 0, total = 0, down = 0, transferred = 0, dbytes = 0, syncs = 0;
    int ok = 0, alive = 0, timed_out = 0, went_back = 0;
    json_int_t stale = 0;

    memset(m, 0, sizeof(*m));
    if (json_unpack(
            j,
            "{s:b, s?s, s:F, s?F, s?F, s:I, s?I, s?b, s?I, s?b, s?F, s:{s:s, s?b, s:I, s:I, s?I, "
            "s?I, s?I}}",
            "ok", &ok, "error", &error, "dirty_before_bytes_per_s", &m->dirty_before_bytes_per_s,
            "dirty_during_bytes_per_s", &m->dirty_during_bytes_per_s, "dirty_model_bytes_per_s",
            &m->dirty_model_bytes_per_s, "guest_ws_bytes", &ws, "guest_filled_bytes", &filled,
            "dst_alive", &alive, "dst_stale_pages", &stale, "dst_went_back", &went_back, "load_avg",
            &m->load_avg, "qemu", "status", &status, "timed_out", &timed_out, "total_time_ms",
            &total, "downtime_ms", &down, "ram_transferred_bytes", &transferred, "downtime_bytes",
            &dbytes, "dirty_sync_count", &syncs) < 0 ||
        ws < 0 || filled < 0)
        return fid_bad(err, "measure", j);
    m->ok = ok;
    hvf_strlcpy(m->error, error, sizeof(m->error));
    m->guest_ws_bytes = (uint64_t)ws;
    m->guest_filled_bytes = (uint64_t)filled;
    m->dst_alive = alive;
    m->dst_stale_pages = stale > 0 ? (uint64_t)stale : 0;
    m->dst_went_back = went_back;
    hvf_strlcpy(r->status, status, sizeof(r->status));
    r->timed_out = timed_out;
    r->total_time_ms = total;
    r->downtime_ms = down;
    r->ram_transferred_bytes = transferred > 0 ? (uint64_t)transferred : 0;
    r->downtime_bytes = dbytes > 0 ? (uint64_t)dbytes : 0;
    r->dirty_sync_count = syncs > 0 ? (uint64_t)syncs : 0;
    return 0;
}
