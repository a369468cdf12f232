/* SPDX-License-Identifier: MIT */
/* Sets each measured migration beside the model's estimate: errors, verdicts, the summary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "hvfleet/alloc.h"

#define FID_WITHIN 0.05
#define FID_DOWNTIME_SLACK_MS 10.0

static double
rel_err(double model, double measured)
{
    if (measured <= 0)
        return NAN;
    return (model - measured) / measured;
}

void
fid_compare_row(fid_row *row, const fid_calibration *cal)
{
    hvf_migrate_params p;
    hvf_error err = HVF_ERROR_INIT;

    row->have_model = false;
    row->have_nominal = false;
    row->total_err = row->down_err = NAN;
    row->nominal_total_err = row->nominal_down_err = NAN;
    row->qemu_converged = row->m.ok && strcmp(row->m.r.status, "completed") == 0;
    if (!row->m.ok)
        return;
    fid_model_params(&row->c, &row->m, cal, &p);
    if (hvf_migrate_estimate(&p, &row->model, &err) < 0) {
        hvf_strlcpy(row->model_error, err.msg, sizeof(row->model_error));
        return;
    }
    row->have_model = true;
    row->verdict_ok = row->model.converged == row->qemu_converged;
    if (row->qemu_converged && row->model.converged) {
        row->total_err =
            rel_err((double)row->model.total_us / 1000.0, (double)row->m.r.total_time_ms);
        row->down_err =
            rel_err((double)row->model.downtime_us / 1000.0, (double)row->m.r.downtime_ms);
    }
    fid_model_params_nominal(&row->c, &row->m, &p);
    if (hvf_migrate_estimate(&p, &row->nominal, &err) < 0)
        return;
    row->have_nominal = true;
    if (row->qemu_converged && row->nominal.converged) {
        row->nominal_total_err =
            rel_err((double)row->nominal.total_us / 1000.0, (double)row->m.r.total_time_ms);
        row->nominal_down_err =
            rel_err((double)row->nominal.downtime_us / 1000.0, (double)row->m.r.downtime_ms);
    }
}

/* The goal covers pre-copy migrations that should converge: rates below 0.9x the cap. */
static bool
in_goal(const fid_row *row)
{
    return row->c.strategy == HVF_MIGRATE_STRATEGY_PRECOPY && row->c.dirty_factor < 0.9 &&
           row->c.ws_mib == 0;
}

void
fid_summarize(const fid_row *rows, size_t n, fid_summary *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        const fid_row *r = &rows[i];
        if (r->c.calibration)
            continue;
        s->configs++;
        if (!r->m.ok || !r->have_model) {
            s->failed_runs++;
            continue;
        }
        s->verdicts++;
        s->verdicts_right += r->verdict_ok;
        if (in_goal(r)) {
            s->goal_configs++;
            if (!isnan(r->total_err) && fabs(r->total_err) <= FID_WITHIN)
                s->goal_within++;
            if (!isnan(r->nominal_total_err) && fabs(r->nominal_total_err) <= FID_WITHIN)
                s->goal_nominal_within++;
        }
        if (!isnan(r->nominal_total_err)) {
            s->nominal_timed++;
            s->nominal_within += fabs(r->nominal_total_err) <= FID_WITHIN;
            s->sum_abs_nominal_err += fabs(r->nominal_total_err);
            if (fabs(r->nominal_total_err) > fabs(s->worst_nominal_err))
                s->worst_nominal_err = r->nominal_total_err;
        }
        if (isnan(r->total_err))
            continue;
        s->timed++;
        s->total_within += fabs(r->total_err) <= FID_WITHIN;
        s->down_within += fabs(r->down_err) <= FID_WITHIN;
        s->down_within_slack += fabs(r->down_err) <= FID_WITHIN ||
                                fabs((double)r->model.downtime_us / 1000.0 -
                                     (double)r->m.r.downtime_ms) <= FID_DOWNTIME_SLACK_MS;
        s->sum_abs_total_err += fabs(r->total_err);
    }
    s->goal_met = s->failed_runs == 0 && s->verdicts_right == s->verdicts &&
                  s->goal_within == s->goal_configs;
}

static void
fmt_err(double e, char *buf, size_t size)
{
    if (isnan(e))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%+.1f%%", e * 100.0);
}

void
fid_print_table(FILE *out, const fid_row *rows, size_t n)
{
    fprintf(out, "%-34s %7s %7s | %8s %8s %7s %7s | %7s %7s %7s %7s | %5s | %s\n", "config",
            "dirty", "dirty", "total s", "total s", "", "nominal", "down ms", "down ms", "",
            "nominal", "syncs", "verdict (QEMU/model)");
    fprintf(out, "%-34s %7s %7s | %8s %8s %7s %7s | %7s %7s %7s %7s | %5s |\n", "", "MB/s",
            "during", "QEMU", "model", "error", "error", "QEMU", "model", "error", "ms", "Q/M");
    for (size_t i = 0; i < n; i++) {
        const fid_row *r = &rows[i];
        char te[16], de[16], ne[16], mt[16] = "-", md[16] = "-", nd[16] = "-", syncs[24] = "-";
        if (r->c.calibration)
            continue;
        if (!r->m.ok) {
            fprintf(out, "%-34s run failed: %s\n", r->c.name, r->m.error);
            continue;
        }
        fmt_err(r->total_err, te, sizeof(te));
        fmt_err(r->down_err, de, sizeof(de));
        fmt_err(r->nominal_total_err, ne, sizeof(ne));
        if (r->have_nominal && r->nominal.converged)
            snprintf(nd, sizeof(nd), "%.0f", (double)r->nominal.downtime_us / 1e3);
        if (r->have_model) {
            snprintf(mt, sizeof(mt), "%.2f", (double)r->model.total_us / 1e6);
            snprintf(md, sizeof(md), "%.0f", (double)r->model.downtime_us / 1e3);
            snprintf(syncs, sizeof(syncs), "%u/%u", (unsigned)r->m.r.dirty_sync_count,
                     (unsigned)r->model.rounds);
        }
        fprintf(
            out, "%-34s %7.1f %7.1f | %8.2f %8s %7s %7s | %7lld %7s %7s %7s | %5s | %s/%s %s%s\n",
            r->c.name, r->m.dirty_before_bytes_per_s / 1e6, r->m.dirty_during_bytes_per_s / 1e6,
            (double)r->m.r.total_time_ms / 1e3, mt, te, ne, (long long)r->m.r.downtime_ms, md, de,
            nd, syncs, r->qemu_converged ? "conv" : (r->m.r.timed_out ? "timeout" : r->m.r.status),
            !r->have_model       ? "?"
            : r->model.converged ? "conv"
                                 : "abort",
            !r->have_model  ? r->model_error
            : r->verdict_ok ? "ok"
                            : "WRONG",
            r->m.dst_stale_pages || r->m.dst_went_back ? " (QEMU lost writes)" : "");
    }
}

void
fid_print_summary(FILE *out, const fid_summary *s, const fid_calibration *cal)
{
    fprintf(out, "\ncalibration: stop-and-copy at %.0f MB/s, switchover %.1f ms (%s)\n",
            cal->link_bytes_per_s / 1e6, (double)cal->switchover_us / 1e3,
            cal->measured ? "measured" : "given");
    fprintf(out, "verdicts right:              %zu/%zu\n", s->verdicts_right, s->verdicts);
    fprintf(out, "total time within 5%%:        %zu/%zu converged configs (mean |error| %.1f%%)\n",
            s->total_within, s->timed,
            s->timed ? 100.0 * s->sum_abs_total_err / (double)s->timed : 0.0);
    fprintf(out, "downtime within 5%%:          %zu/%zu (within 5%% or 10 ms: %zu)\n",
            s->down_within, s->timed, s->down_within_slack);
    fprintf(out,
            "nominal inputs (no calibration: default link speed and switchover, as `hvfleet "
            "estimate`):\n"
            "  total time within 5%%:      %zu/%zu converged configs (mean |error| %.1f%%, worst "
            "%+.1f%%); pre-copy below 0.9x: %zu/%zu\n",
            s->nominal_within, s->nominal_timed,
            s->nominal_timed ? 100.0 * s->sum_abs_nominal_err / (double)s->nominal_timed : 0.0,
            100.0 * s->worst_nominal_err, s->goal_nominal_within, s->goal_configs);
    fprintf(out, "goal (pre-copy below 0.9x within 5%%, every verdict right): %zu/%zu, %s\n",
            s->goal_within, s->goal_configs, s->goal_met ? "MET" : "NOT MET");
    if (s->failed_runs)
        fprintf(out, "runs that failed:            %zu\n", s->failed_runs);
}

json_t *
fid_row_model_json(const fid_row *r)
{
    json_t *j;

    if (!r->have_model)
        return json_pack("{s:s}", "error", r->model_error);
    j = json_pack("{s:I, s:I, s:i, s:I, s:b, s:s, s:i, s:s}", "total_us",
                  (json_int_t)r->model.total_us, "downtime_us", (json_int_t)r->model.downtime_us,
                  "rounds", (int)r->model.rounds, "bytes_sent", (json_int_t)r->model.bytes_sent,
                  "converged", r->model.converged, "finished_by",
                  hvf_migrate_strategy_to_string(r->model.finished_by), "throttle_pct",
                  (int)r->model.throttle_pct, "reason", r->model.reason);
    if (!isnan(r->total_err)) {
        json_object_set_new(j, "total_error", json_real(r->total_err));
        json_object_set_new(j, "downtime_error", json_real(r->down_err));
    }
    json_object_set_new(j, "verdict_right", json_boolean(r->verdict_ok));
    if (r->have_nominal) {
        json_t *nom =
            json_pack("{s:I, s:I, s:b}", "total_us", (json_int_t)r->nominal.total_us, "downtime_us",
                      (json_int_t)r->nominal.downtime_us, "converged", r->nominal.converged);
        if (!isnan(r->nominal_total_err)) {
            json_object_set_new(nom, "total_error", json_real(r->nominal_total_err));
            json_object_set_new(nom, "downtime_error", json_real(r->nominal_down_err));
        }
        json_object_set_new(j, "nominal", nom);
    }
    return j;
}

json_t *
fid_summary_json(const fid_summary *s)
{
    json_t *j;

    j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "configs",
                  (json_int_t)s->configs, "failed_runs", (json_int_t)s->failed_runs, "verdicts",
                  (json_int_t)s->verdicts, "verdicts_right", (json_int_t)s->verdicts_right, "timed",
                  (json_int_t)s->timed, "total_within_5pct", (json_int_t)s->total_within,
                  "downtime_within_5pct", (json_int_t)s->down_within, "goal_configs",
                  (json_int_t)s->goal_configs, "goal_within_5pct", (json_int_t)s->goal_within,
                  "goal_met", s->goal_met);
    json_object_set_new(j, "nominal_timed", json_integer((json_int_t)s->nominal_timed));
    json_object_set_new(j, "nominal_total_within_5pct",
                        json_integer((json_int_t)s->nominal_within));
    json_object_set_new(j, "nominal_goal_within_5pct",
                        json_integer((json_int_t)s->goal_nominal_within));
    return j;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
fid_calibrate(const fid_row *rows, size_t n, fid_calibration *cal, hvf_error *err)
{
    /* per cap (two of them): final bytes and downtime of each run, then their medians */
    double cap[2] = {0, 0};
    double b[2][FID_CAL_RUNS_MAX], d[2][FID_CAL_RUNS_MAX], ratio[2 * FID_CAL_RUNS_MAX];
    size_t k[2] = {0, 0};
    size_t nr = 0;
    double mb[2], md[2];

    for (size_t i = 0; i < n; i++) {
        const fid_row *r = &rows[i];
        size_t g;
        if (!r->c.calibration)
            continue;
        if (!r->m.ok || strcmp(r->m.r.status, "completed") != 0) {
            hvf_error_set(err, HVF_ERR_IO, "calibration run %s failed: %s", r->c.name,
                          r->m.error[0] ? r->m.error : r->m.r.status);
            return -1;
        }
        g = cap[0] == 0 || cap[0] == r->c.cap_bytes_per_s ? 0 : 1;
        if (cap[g] == 0)
            cap[g] = r->c.cap_bytes_per_s;
        if (cap[g] != r->c.cap_bytes_per_s || k[g] >= FID_CAL_RUNS_MAX)
            continue;
        b[g][k[g]] = (double)r->m.r.downtime_bytes;
        d[g][k[g]] = (double)r->m.r.downtime_ms / 1e3;
        if (d[g][k[g]] > 0)
            ratio[nr++] = b[g][k[g]] / d[g][k[g]];
        k[g]++;
    }
    if (k[0] == 0 || k[1] == 0 || nr == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "calibration needs runs at two caps, found %zu and %zu",
                      k[0], k[1]);
        return -1;
    }
    for (size_t g = 0; g < 2; g++) {
        mb[g] = median(b[g], k[g]);
        md[g] = median(d[g], k[g]);
    }
    /* downtime = switchover + bytes / link, through the two medians */
    cal->link_bytes_per_s = 0;
    if (fabs(mb[0] - mb[1]) > 1e6 && (md[0] - md[1]) * (mb[0] - mb[1]) > 0) {
        cal->link_bytes_per_s = (mb[0] - mb[1]) / (md[0] - md[1]);
        cal->switchover_us = llround((md[0] - mb[0] / cal->link_bytes_per_s) * 1e6);
    }
    if (!(cal->link_bytes_per_s > 0) || cal->switchover_us < 0) {
        /* noise beat the difference: all of the pause is transfer, at the median speed */
        cal->link_bytes_per_s = median(ratio, nr);
        cal->switchover_us = 0;
    }
    cal->measured = true;
    return 0;
}
