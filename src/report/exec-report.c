/* SPDX-License-Identifier: MIT */
/*
 * The record of a run (hvfleet.execution/v1, written by the executor) as one HTML page:
 * predicted and actual side by side, per host in a chart and for the whole run in a table.
 * The record is read as untrusted input: types, ranges and sizes are checked.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "hvfleet/svg.h"

#define EXR_SCHEMA "hvfleet.execution/v1"
#define EXR_MAX_ITEMS 1000000
#define EXR_MAX_S 1e9

void
hvf_exec_record_free(hvf_exec_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nhosts; i++) {
        free(r->hosts[i].host);
        free(r->hosts[i].outcome);
        free(r->hosts[i].reason);
    }
    for (size_t i = 0; i < r->nmigs; i++) {
        free(r->migs[i].vm);
        free(r->migs[i].outcome);
    }
    free(r->hosts);
    free(r->migs);
    free(r->result);
    free(r->note);
    free(r->plan_hash);
    free(r);
}

static int
exr_fail(hvf_error *err, const char *name, const char *field, const char *expected)
{
    hvf_error_set(err, HVF_ERR_INVALID, "%s: %s: expected %s", name, field, expected);
    return -1;
}

/* A time in seconds or null (-1); anything else is an error. */
static int
exr_time(json_t *o, const char *key, double *out, const char *name, const char *where,
         hvf_error *err)
{
    json_t *v = json_object_get(o, key);
    char field[128];

    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    snprintf(field, sizeof(field), "%s.%s", where, key);
    if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= EXR_MAX_S))
        return exr_fail(err, name, field, "seconds from the run's start, or null");
    *out = json_number_value(v);
    return 0;
}

static char *
exr_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return hvf_strdup(json_is_string(v) ? json_string_value(v) : "");
}

hvf_exec_record *
hvf_exec_record_parse(const char *name, const char *buf, size_t len, hvf_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *hosts, *migs, *sum, *v;
    hvf_exec_record *r;
    size_t i;

    if (!root) {
        /* jansson quotes the bytes it stopped at: keep the message one printable line */
        for (char *q = jerr.text; *q; q++)
            *q = (unsigned char)*q < 0x20 || *q == 0x7f ? '?' : *q;
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return NULL;
    }
    r = HVF_NEW(hvf_exec_record);
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "schema")) ||
        strcmp(json_string_value(json_object_get(root, "schema")), EXR_SCHEMA) != 0) {
        exr_fail(err, name, "schema", "\"" EXR_SCHEMA "\" (a run's record)");
        goto bad;
    }
    hosts = json_object_get(root, "hosts");
    migs = json_object_get(root, "migrations");
    sum = json_object_get(root, "summary");
    if (!json_is_array(hosts) || !json_is_array(migs) || !json_is_object(sum) ||
        json_array_size(hosts) > EXR_MAX_ITEMS || json_array_size(migs) > EXR_MAX_ITEMS) {
        exr_fail(err, name, "hosts, migrations, summary",
                 "two arrays (at most 1000000 items) and an object");
        goto bad;
    }
    r->plan_hash = exr_str(root, "plan_hash");
    r->result = exr_str(sum, "result");
    r->note = exr_str(sum, "note");
    if (exr_time(sum, "predicted_makespan_s", &r->predicted_makespan_s, name, "summary", err) < 0 ||
        exr_time(sum, "actual_makespan_s", &r->actual_makespan_s, name, "summary", err) < 0 ||
        exr_time(sum, "predicted_migration_time_s", &r->predicted_migration_s, name, "summary",
                 err) < 0 ||
        exr_time(sum, "actual_migration_time_s", &r->actual_migration_s, name, "summary", err) <
            0)
        goto bad;
    r->replans = json_is_integer(json_object_get(sum, "replans"))
                     ? (long)json_integer_value(json_object_get(sum, "replans"))
                     : 0;
    r->hosts = hvf_calloc(json_array_size(hosts) + 1, sizeof(*r->hosts));
    json_array_foreach(hosts, i, v)
    {
        hvf_exec_record_host *h = &r->hosts[r->nhosts];
        json_t *pred = json_object_get(v, "predicted");
        char where[64];

        snprintf(where, sizeof(where), "hosts[%zu]", i);
        if (!json_is_object(v) || !json_is_string(json_object_get(v, "host")) ||
            !json_is_object(pred)) {
            exr_fail(err, name, where, "an object with host, outcome and predicted");
            goto bad;
        }
        h->host = exr_str(v, "host");
        h->outcome = exr_str(v, "outcome");
        h->reason = exr_str(v, "reason");
        r->nhosts++;
        if (exr_time(v, "evacuate_start_s", &h->start_s, name, where, err) < 0 ||
            exr_time(v, "maintenance_end_s", &h->end_s, name, where, err) < 0 ||
            exr_time(v, "evacuate_end_s", &h->evac_end_s, name, where, err) < 0 ||
            exr_time(pred, "evacuate_start_s", &h->pred_start_s, name, where, err) < 0 ||
            exr_time(pred, "maintenance_end_s", &h->pred_end_s, name, where, err) < 0)
            goto bad;
    }
    r->migs = hvf_calloc(json_array_size(migs) + 1, sizeof(*r->migs));
    json_array_foreach(migs, i, v)
    {
        hvf_exec_record_mig *m = &r->migs[r->nmigs];
        json_t *pred = json_object_get(v, "predicted");
        char where[64];

        snprintf(where, sizeof(where), "migrations[%zu]", i);
        if (!json_is_object(v) || !json_is_string(json_object_get(v, "vm")) ||
            !json_is_object(pred)) {
            exr_fail(err, name, where, "an object with vm, outcome and predicted");
            goto bad;
        }
        m->vm = exr_str(v, "vm");
        m->outcome = exr_str(v, "outcome");
        r->nmigs++;
        if (exr_time(v, "start_s", &m->start_s, name, where, err) < 0 ||
            exr_time(v, "end_s", &m->end_s, name, where, err) < 0 ||
            exr_time(pred, "start_s", &m->pred_start_s, name, where, err) < 0 ||
            exr_time(pred, "end_s", &m->pred_end_s, name, where, err) < 0)
            goto bad;
    }
    json_decref(root);
    return r;
bad:
    json_decref(root);
    hvf_exec_record_free(r);
    return NULL;
}

static void
exr_row(hvf_strbuf *out, const char *what, double pred, double act, const char *unit)
{
    char a[48], b[48];

    hvf_strbuf_printf(out, "<tr><td>%s</td><td>%s</td><td>%s</td>", what,
                       pred < 0 ? "-" : hvf_svg_format_time(pred, true, a, sizeof(a)),
                       act < 0 ? "-" : hvf_svg_format_time(act, true, b, sizeof(b)));
    if (pred > 0 && act >= 0)
        hvf_strbuf_printf(out, "<td>%+.1f %%</td></tr>\n", 100.0 * (act - pred) / pred);
    else
        hvf_strbuf_printf(out, "<td>%s</td></tr>\n", unit);
}

/* One row per host: the predicted interval (light) above the actual one (dark). */
static void
exr_gantt(hvf_strbuf *out, const hvf_exec_record *r)
{
    double span = 1;
    const double left = 110, width = 760, row = 22;
    double height = 40 + row * (double)r->nhosts;
    size_t shown = r->nhosts < 200 ? r->nhosts : 200;

    for (size_t i = 0; i < r->nhosts; i++) {
        span = fmax(span, fmax(r->hosts[i].end_s, r->hosts[i].pred_end_s));
        span = fmax(span, r->hosts[i].evac_end_s);
    }
    height = 40 + row * (double)shown;
    hvf_strbuf_printf(out,
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                       "role=\"img\" aria-label=\"hosts: predicted and actual\">\n",
                       left + width + 20, height);
    for (size_t i = 0; i < shown; i++) {
        const hvf_exec_record_host *h = &r->hosts[i];
        double y = 20 + row * (double)i;
        double ps = h->pred_start_s, pe = h->pred_end_s;
        double as = h->start_s, ae = h->end_s >= 0 ? h->end_s : h->evac_end_s;

        hvf_strbuf_printf(out, "<text x=\"4\" y=\"%.1f\" font-size=\"11\">", y + 12);
        hvf_svg_escape(out, h->host);
        hvf_strbuf_printf(out, "</text>\n");
        if (ps >= 0 && pe >= ps)
            hvf_strbuf_printf(out,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"8\" "
                               "fill=\"#9ecae1\"><title>predicted</title></rect>\n",
                               left + width * ps / span, y, fmax(1, width * (pe - ps) / span));
        if (as >= 0 && ae >= as)
            hvf_strbuf_printf(out,
                               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"8\" "
                               "fill=\"%s\"><title>actual: %s</title></rect>\n",
                               left + width * as / span, y + 9, fmax(1, width * (ae - as) / span),
                               strcmp(h->outcome, "done") == 0 ? "#08519c" : "#cb181d",
                               strcmp(h->outcome, "done") == 0 ? "done" : "not maintained");
    }
    hvf_strbuf_printf(out, "</svg>\n");
}

static double
exr_gap(const hvf_exec_record_mig *m)
{
    return fabs((m->end_s - m->start_s) - (m->pred_end_s - m->pred_start_s));
}

/* The migrations furthest from their predicted duration, the ten worst. */
static void
exr_worst(hvf_strbuf *out, const hvf_exec_record *r)
{
    size_t pick[10], n = 0;

    for (size_t i = 0; i < r->nmigs; i++) {
        const hvf_exec_record_mig *m = &r->migs[i];
        size_t k;

        if (m->start_s < 0 || m->end_s < 0 || m->pred_start_s < 0 || m->pred_end_s < 0)
            continue;
        for (k = n; k > 0 && exr_gap(&r->migs[pick[k - 1]]) < exr_gap(m); k--) {
            if (k < HVF_ARRAY_LEN(pick))
                pick[k] = pick[k - 1];
        }
        if (k < HVF_ARRAY_LEN(pick)) {
            pick[k] = i;
            if (n < HVF_ARRAY_LEN(pick))
                n++;
        }
    }
    hvf_strbuf_printf(out, "<h2>Migrations furthest from their prediction</h2>\n<table>\n"
                           "<tr><th>VM</th><th>predicted</th><th>actual</th><th>deviation</th>"
                           "<th>outcome</th></tr>\n");
    for (size_t k = 0; k < n; k++) {
        const hvf_exec_record_mig *m = &r->migs[pick[k]];
        double pred = m->pred_end_s - m->pred_start_s, act = m->end_s - m->start_s;

        hvf_strbuf_printf(out, "<tr><td>");
        hvf_svg_escape(out, m->vm);
        hvf_strbuf_printf(out, "</td><td>%.1f s</td><td>%.1f s</td><td>", pred, act);
        if (pred > 0)
            hvf_strbuf_printf(out, "%+.1f %%", 100.0 * (act - pred) / pred);
        hvf_strbuf_printf(out, "</td><td>");
        hvf_svg_escape(out, m->outcome);
        hvf_strbuf_printf(out, "</td></tr>\n");
    }
    hvf_strbuf_printf(out, "</table>\n");
}

void
hvf_exec_record_render_html(const hvf_exec_record *r, const char *title, hvf_strbuf *out)
{
    size_t done = 0, failed = 0;

    for (size_t i = 0; i < r->nhosts; i++) {
        done += strcmp(r->hosts[i].outcome, "done") == 0;
        failed += strcmp(r->hosts[i].outcome, "failed") == 0;
    }
    hvf_strbuf_printf(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    hvf_svg_escape(out, title);
    hvf_strbuf_printf(out, "</title><style>body{font-family:sans-serif;margin:2em}"
                            "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                            "padding:2px 8px}</style></head><body>\n<h1>Run of plan ");
    hvf_svg_escape(out, r->plan_hash);
    hvf_strbuf_printf(out, "</h1>\n<p>Result: <b>");
    hvf_svg_escape(out, r->result);
    hvf_strbuf_printf(out, "</b>; %zu hosts maintained, %zu not; %zu migrations; %ld re-plans.",
                       done, failed, r->nmigs, r->replans);
    if (r->note[0]) {
        hvf_strbuf_printf(out, " ");
        hvf_svg_escape(out, r->note);
    }
    hvf_strbuf_printf(out, "</p>\n<h2>Predicted and actual</h2>\n<table>\n"
                            "<tr><th></th><th>predicted</th><th>actual</th><th>deviation</th></tr>\n");
    exr_row(out, "makespan", r->predicted_makespan_s, r->actual_makespan_s, "");
    exr_row(out, "time spent migrating (sum over migrations done)", r->predicted_migration_s,
            r->actual_migration_s, "");
    hvf_strbuf_printf(out, "</table>\n<h2>Hosts: predicted (light) and actual (dark; red when "
                            "not maintained)</h2>\n");
    exr_gantt(out, r);
    exr_worst(out, r);
    hvf_strbuf_printf(out, "<h2>Hosts not maintained</h2>\n<table>\n"
                            "<tr><th>host</th><th>reason</th></tr>\n");
    for (size_t i = 0; i < r->nhosts; i++) {
        if (strcmp(r->hosts[i].outcome, "done") == 0)
            continue;
        hvf_strbuf_printf(out, "<tr><td>");
        hvf_svg_escape(out, r->hosts[i].host);
        hvf_strbuf_printf(out, "</td><td>");
        hvf_svg_escape(out, r->hosts[i].reason);
        hvf_strbuf_printf(out, "</td></tr>\n");
    }
    hvf_strbuf_printf(out, "</table>\n</body></html>\n");
}
