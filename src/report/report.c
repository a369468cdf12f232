/* SPDX-License-Identifier: MIT */
/* The run report: page heading, summary table, KPIs, then charts and timeline, written atomically.
 */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "report/sections.h"

typedef enum sum_fmt { FMT_NUMBER, FMT_DURATION, FMT_RATIO, FMT_STRING } sum_fmt;

/* Known summary fields in display order; @bad_above marks values that mean harm was done. */
static const struct {
    const char *key; /* "a.b" reaches into an object */
    const char *label;
    sum_fmt fmt;
    double bad_above; /* NAN: never highlighted */
} sum_rows[] = {
    {"duration_s", "Simulated duration", FMT_DURATION, NAN},
    {"hosts", "Hosts", FMT_NUMBER, NAN},
    {"vms", "VMs", FMT_NUMBER, NAN},
    {"migrations.started", "Migrations started", FMT_NUMBER, NAN},
    {"migrations.completed", "Migrations completed", FMT_NUMBER, NAN},
    {"migrations.aborted", "Migrations aborted", FMT_NUMBER, 0},
    {"migrations.in_flight_at_end", "Migrations still running at the end", FMT_NUMBER, NAN},
    {"makespan_s", "Makespan (first to last migration)", FMT_DURATION, NAN},
    {"peak_concurrent_migrations", "Peak concurrent migrations", FMT_NUMBER, NAN},
    {"peak_concurrent_evacuations", "Peak hosts evacuating at once", FMT_NUMBER, NAN},
    {"peak_host_memory_ratio", "Peak host memory ratio", FMT_RATIO, 1.0},
    {"hosts_over_committed", "Hosts over-committed", FMT_NUMBER, 0},
    {"vms_crashed", "VMs crashed", FMT_NUMBER, 0},
    {"vms_rebooted", "VMs rebooted", FMT_NUMBER, NAN},
    {"hosts_crashed", "Hosts crashed", FMT_NUMBER, 0},
    {"hosts_hung", "Hosts with hung tasks", FMT_NUMBER, 0},
    {"hosts_maintained", "Hosts maintained", FMT_NUMBER, NAN},
    {"scheduler", "Scheduler", FMT_STRING, NAN},
    {"metrics_interval_s", "Metrics interval", FMT_DURATION, NAN},
    {"events", "Events", FMT_NUMBER, NAN},
};

/* Keys shown elsewhere, so the generic listing skips them. */
static bool
sum_known(const char *path)
{
    static const char *const others[] = {"schema", "scenario", "seed", "kpis"};

    for (size_t i = 0; i < HVF_ARRAY_LEN(others); i++) {
        if (strcmp(path, others[i]) == 0)
            return true;
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(sum_rows); i++) {
        if (strcmp(path, sum_rows[i].key) == 0)
            return true;
    }
    return false;
}

static const json_t *
sum_get(const json_t *root, const char *key)
{
    const char *dot = strchr(key, '.');
    char head[64];

    if (!dot)
        return json_object_get(root, key);
    hvf_strlcpy(head, key,
                (size_t)(dot - key) + 1 < sizeof(head) ? (size_t)(dot - key) + 1 : sizeof(head));
    return json_object_get(json_object_get(root, head), dot + 1);
}

static void
sum_scalar(hvf_strbuf *out, const json_t *v)
{
    if (json_is_string(v))
        hvf_html_escape(out, json_string_value(v));
    else if (json_is_integer(v))
        hvf_strbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        hvf_html_number(out, json_real_value(v));
    else if (json_is_boolean(v))
        hvf_strbuf_puts(out, json_is_true(v) ? "true" : "false");
    else if (json_is_array(v))
        hvf_strbuf_printf(out, "(a list of %zu)", json_array_size(v));
    else
        hvf_strbuf_puts(out, "null");
}

/* Fields the simulator adds later still reach the reader: scalars by their dotted path. */
static void
sum_generic(hvf_strbuf *out, const json_t *obj, const char *prefix, int depth, size_t *shown)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        HVF_AUTOFREE char *path = prefix ? hvf_asprintf("%s.%s", prefix, key) : hvf_strdup(key);
        if (sum_known(path))
            continue;
        if (json_is_object(v)) {
            if (depth < 3)
                sum_generic(out, v, path, depth + 1, shown);
            continue;
        }
        if ((*shown)++ == 0)
            hvf_strbuf_puts(out, "<tr><th colspan=\"2\"><em>Other fields</em></th></tr>\n");
        hvf_strbuf_puts(out, "<tr><th><code>");
        hvf_html_escape(out, path);
        hvf_strbuf_puts(out, "</code></th><td>");
        sum_scalar(out, v);
        hvf_strbuf_puts(out, "</td></tr>\n");
    }
}

void
hvf_report_summary(hvf_strbuf *out, const hvf_run *run)
{
    const json_t *root = run->summary;
    size_t shown = 0;

    hvf_strbuf_puts(out, "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n"
                         "<tr><th>Scenario</th><td>");
    hvf_html_escape(out, json_string_value(json_object_get(root, "scenario")));
    hvf_strbuf_printf(out, "</td></tr>\n<tr><th>Seed</th><td>%" JSON_INTEGER_FORMAT "</td></tr>\n",
                      json_integer_value(json_object_get(root, "seed")));
    for (size_t i = 0; i < HVF_ARRAY_LEN(sum_rows); i++) {
        const json_t *v = sum_get(root, sum_rows[i].key);
        double d;
        bool bad;
        char buf[48];

        if (sum_rows[i].fmt == FMT_STRING) {
            if (!json_is_string(v))
                continue;
            hvf_strbuf_printf(out, "<tr><th>%s</th><td>", sum_rows[i].label);
            hvf_html_escape(out, json_string_value(v));
            hvf_strbuf_puts(out, "</td></tr>\n");
            continue;
        }
        if (!json_is_number(v))
            continue;
        d = json_number_value(v);
        bad = !isnan(sum_rows[i].bad_above) && d > sum_rows[i].bad_above;
        hvf_strbuf_printf(out, "<tr><th>%s</th><td%s>", sum_rows[i].label,
                          bad ? " class=\"bad\"" : "");
        switch (sum_rows[i].fmt) {
        case FMT_DURATION:
            hvf_strbuf_printf(out, "%s (", hvf_html_duration(d, buf, sizeof(buf)));
            hvf_html_number(out, d);
            hvf_strbuf_puts(out, " s)");
            break;
        case FMT_RATIO:
            hvf_strbuf_printf(out, "%.2f", d);
            break;
        case FMT_NUMBER:
        case FMT_STRING:
            hvf_html_number(out, d);
            break;
        }
        hvf_strbuf_puts(out, "</td></tr>\n");
    }
    sum_generic(out, root, NULL, 0, &shown);
    hvf_strbuf_puts(out, "</table>\n</section>\n");
}

void
hvf_report_kpis(hvf_strbuf *out, const hvf_run *run)
{
    const json_t *kpis = json_object_get(run->summary, "kpis");
    const json_t *cols = json_object_get(kpis, "columns");
    const json_t *rows = json_object_get(kpis, "rows");
    size_t ncols = json_array_size(cols), nrows = json_array_size(rows);
    const char *col_names[HVF_RUN_MAX_KPI_COLUMNS];
    HVF_AUTOFREE hvf_report_kpi_row *krows = NULL;
    HVF_AUTOFREE char **cells = NULL; /* formatted numbers, owned; strings are borrowed */
    HVF_AUTOFREE const char **values = NULL;

    if (!kpis)
        return;
    /* hvf_run_parse_summary checked the shape: 1..8 string columns, one value per column */
    krows = hvf_calloc(nrows ? nrows : 1, sizeof(*krows));
    cells = hvf_calloc(nrows * ncols + 1, sizeof(*cells));
    values = hvf_calloc(nrows * ncols + 1, sizeof(*values));
    for (size_t c = 0; c < ncols; c++)
        col_names[c] = json_string_value(json_array_get(cols, c));
    for (size_t r = 0; r < nrows; r++) {
        const json_t *row = json_array_get(rows, r);
        const json_t *vals = json_object_get(row, "values");
        krows[r].label = json_string_value(json_object_get(row, "label"));
        krows[r].values = values + r * ncols;
        for (size_t c = 0; c < ncols; c++) {
            const json_t *v = json_array_get(vals, c);
            size_t k = r * ncols + c;
            if (json_is_string(v)) {
                values[k] = json_string_value(v);
            } else if (json_is_number(v) || json_is_boolean(v)) {
                hvf_strbuf sb = HVF_STRBUF_INIT;
                sum_scalar(&sb, v);
                values[k] = cells[k] = hvf_strbuf_steal(&sb);
            }
        }
    }
    hvf_strbuf_puts(out, "<section id=\"kpis\">\n<h2>Key figures</h2>\n");
    hvf_report_kpi_table(out, "", col_names, ncols, krows, nrows);
    hvf_strbuf_puts(out, "</section>\n");
    for (size_t k = 0; k < nrows * ncols; k++)
        free(cells[k]);
}

int
hvf_report_render_html(const char *run_dir, hvf_strbuf *out, hvf_error *err)
{
    hvf_run *run = hvf_run_load(run_dir, err);
    const json_t *root;
    const char *scenario;
    json_int_t seed;
    const json_t *v;
    char buf[48];

    if (!run)
        return -1;
    root = run->summary;
    scenario = json_string_value(json_object_get(root, "scenario"));
    seed = json_integer_value(json_object_get(root, "seed"));
    {
        HVF_AUTOFREE char *title =
            hvf_asprintf("hvfleet run report: %s (seed %" JSON_INTEGER_FORMAT ")", scenario, seed);
        hvf_html_begin(out, title);
    }
    hvf_strbuf_puts(out, "<header>\n<h1>Simulation run: ");
    hvf_html_escape(out, scenario);
    hvf_strbuf_printf(out, "</h1>\n<p class=\"sub\">seed %" JSON_INTEGER_FORMAT, seed);
    v = json_object_get(root, "duration_s");
    if (json_is_number(v))
        hvf_strbuf_printf(out, " &middot; %s simulated",
                          hvf_html_duration(json_number_value(v), buf, sizeof(buf)));
    v = json_object_get(root, "hosts");
    if (json_is_number(v)) {
        hvf_strbuf_puts(out, " &middot; ");
        hvf_html_number(out, json_number_value(v));
        hvf_strbuf_puts(out, " hosts");
    }
    v = json_object_get(root, "vms");
    if (json_is_number(v)) {
        hvf_strbuf_puts(out, " &middot; ");
        hvf_html_number(out, json_number_value(v));
        hvf_strbuf_puts(out, " VMs");
    }
    hvf_strbuf_puts(out, "</p>\n</header>\n");

    hvf_report_summary(out, run);
    hvf_report_kpis(out, run);
    hvf_report_charts(out, run);
    hvf_report_timeline(out, run);

    hvf_strbuf_puts(out, "<footer>Made by <code>hvfleet report</code> from summary.json, "
                         "events.jsonl, metrics-fleet.csv and metrics-hosts.csv. Times are "
                         "simulated time since the start of the run (h:mm:ss).</footer>\n");
    hvf_html_end(out);
    hvf_run_free(run);
    return 0;
}

int
hvf_report_write_html(const char *run_dir, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    HVF_AUTOFREE char *path = NULL;
    int rc;

    if (hvf_report_render_html(run_dir, &sb, err) < 0)
        return -1;
    path = hvf_asprintf("%s/report.html", run_dir);
    rc = hvf_file_write_atomic(path, sb.buf, sb.len, err);
    hvf_strbuf_clear(&sb);
    return rc;
}
