/* SPDX-License-Identifier: MIT */
/* The run report's charts: busiest hosts' memory, CPU and IO, fleet migrations, damage over time.
 */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/svg.h"
#include "report/sections.h"

typedef struct chart_rank {
    double peak;
    const char *name;
    size_t idx;
} chart_rank;

/* Highest peak first, then by name, so the choice never depends on file order. */
static int
chart_rank_cmp(const void *a, const void *b)
{
    const chart_rank *x = a, *y = b;

    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Indices of the hosts with the highest peaks of @col; returns how many (at most @max). */
static size_t
chart_busiest(const hvf_run *run, hvf_run_host_col col, size_t *idx, size_t max)
{
    size_t n = 0;
    HVF_AUTOFREE chart_rank *all = hvf_calloc(run->nhosts + 1, sizeof(*all));

    for (size_t i = 0; i < run->nhosts; i++) {
        const hvf_run_host *h = &run->hosts[i];
        /* IO stays at zero on hosts that never swapped: lines on the floor only hide the rest */
        if (h->v[col] && isfinite(h->peak[col]) &&
            (col != HVF_RUN_HOST_IO_UTIL || h->peak[col] > 0))
            all[n++] = (chart_rank){h->peak[col], h->name, i};
    }
    qsort(all, n, sizeof(*all), chart_rank_cmp);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        idx[i] = all[i].idx;
    return n;
}

static void
chart_figure_begin(hvf_strbuf *out, const char *id)
{
    hvf_strbuf_printf(out, "<figure id=\"%s\">\n", id);
}

static void
chart_figure_end(hvf_strbuf *out, const char *caption)
{
    hvf_strbuf_printf(out, "<figcaption>%s</figcaption>\n</figure>\n", caption);
}

static void
chart_hosts(hvf_strbuf *out, const hvf_run *run, hvf_run_host_col col, const char *id,
            const char *title, const char *y_label, const char *ref_label, const char *caption)
{
    size_t idx[HVF_REPORT_MAX_CHART_HOSTS];
    hvf_svg_series series[HVF_REPORT_MAX_CHART_HOSTS];
    char *names[HVF_REPORT_MAX_CHART_HOSTS];
    size_t n = chart_busiest(run, col, idx, HVF_REPORT_MAX_CHART_HOSTS);
    hvf_svg_chart c = {0};
    hvf_strbuf cap = HVF_STRBUF_INIT;

    for (size_t i = 0; i < n; i++) {
        const hvf_run_host *h = &run->hosts[idx[i]];
        names[i] = hvf_asprintf("%s (peak %.2f)", h->name, h->peak[col]);
        series[i] = (hvf_svg_series){names[i], h->t_s, h->v[col], h->n, false};
    }
    c.title = title;
    c.y_label = y_label;
    c.x_is_time = true;
    c.has_ref = ref_label != NULL;
    c.ref_y = 1.0;
    c.ref_label = ref_label;
    c.series = series;
    c.nseries = n;
    chart_figure_begin(out, id);
    hvf_svg_line_chart(out, &c);
    hvf_strbuf_puts(&cap, caption);
    if (run->nhosts == 0)
        hvf_strbuf_puts(&cap, " metrics-hosts.csv has no samples.");
    else
        hvf_strbuf_printf(&cap,
                          " Showing %zu of the %zu hosts in metrics-hosts.csv, highest peak "
                          "first.",
                          n, run->nhosts);
    chart_figure_end(out, cap.buf);
    hvf_strbuf_clear(&cap);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

/* Fleet counters present in the file, as series over the fleet time column. */
static size_t
chart_fleet_series(const hvf_run *run, const hvf_run_fleet_col *cols, const char *const *names,
                   const bool *right, size_t ncols, hvf_svg_series *series)
{
    size_t n = 0;

    for (size_t i = 0; i < ncols; i++) {
        if (!run->fleet[cols[i]])
            continue;
        series[n++] =
            (hvf_svg_series){names[i], run->fleet_t_s, run->fleet[cols[i]], run->nfleet, right[i]};
    }
    return n;
}

static void
chart_migrations(hvf_strbuf *out, const hvf_run *run)
{
    static const hvf_run_fleet_col cols[] = {HVF_RUN_MIGRATIONS_ACTIVE, HVF_RUN_HOSTS_EVACUATING,
                                             HVF_RUN_HOSTS_IN_MAINTENANCE};
    static const char *const names[] = {"migrations in progress", "hosts evacuating",
                                        "hosts in maintenance"};
    static const bool right[] = {false, false, false};
    hvf_svg_series series[HVF_ARRAY_LEN(cols)];
    hvf_svg_chart c = {0};

    c.title = "Concurrent migrations and hosts evacuating";
    c.y_label = "count";
    c.x_is_time = true;
    c.step = true;
    c.y_integer = true;
    c.series = series;
    c.nseries = chart_fleet_series(run, cols, names, right, HVF_ARRAY_LEN(cols), series);
    chart_figure_begin(out, "chart-migrations");
    hvf_svg_line_chart(out, &c);
    chart_figure_end(out, "Live migrations running at once and hosts being emptied, over the "
                          "whole fleet (metrics-fleet.csv). Many hosts evacuating together "
                          "crowd the remaining hosts.");
}

static void
chart_damage(hvf_strbuf *out, const hvf_run *run)
{
    static const hvf_run_fleet_col cols[] = {HVF_RUN_HOSTS_DOWN, HVF_RUN_HOSTS_OVER_COMMITTED,
                                             HVF_RUN_VMS_CRASHED};
    static const char *const names[] = {"hosts down", "hosts over-committed",
                                        "VMs crashed, not yet restarted"};
    /* crashed VMs run to hundreds while hosts count in units: give them their own scale */
    static const bool right[] = {false, false, true};
    hvf_svg_series series[HVF_ARRAY_LEN(cols)];
    hvf_svg_chart c = {0};

    c.title = "Hosts down, hosts over-committed and VMs crashed";
    c.y_label = "hosts";
    c.y2_label = "VMs";
    c.x_is_time = true;
    c.step = true;
    c.y_integer = true;
    c.series = series;
    c.nseries = chart_fleet_series(run, cols, names, right, HVF_ARRAY_LEN(cols), series);
    chart_figure_begin(out, "chart-damage");
    hvf_svg_line_chart(out, &c);
    chart_figure_end(out, "What went wrong, over time: hosts down (crashed, rebooting or in "
                          "maintenance without their VMs), hosts whose committed memory exceeds "
                          "what they can use, and VMs crashed and not yet restarted at that "
                          "moment (right axis: it falls as the platform restarts them; the "
                          "summary counts every crash).");
}

void
hvf_report_charts(hvf_strbuf *out, const hvf_run *run)
{
    bool io = false;

    hvf_strbuf_puts(out, "<section id=\"charts\">\n<h2>Charts</h2>\n");
    chart_hosts(out, run, HVF_RUN_HOST_MEMORY_RATIO, "chart-memory",
                "Memory ratio of the busiest hosts", "memory committed / usable", "usable capacity",
                "Memory committed on each host divided by what it can use. Above 1.0 the host "
                "is over-committed: its VMs swap, slow down or get killed.");
    chart_hosts(out, run, HVF_RUN_HOST_CPU_RATIO, "chart-cpu", "CPU ratio of the busiest hosts",
                "CPU demand / capacity", "all cores busy",
                "CPU demanded by the VMs and migrations on each host divided by its cores. "
                "Above 1.0 the guests wait for CPU.");
    chart_migrations(out, run);
    chart_damage(out, run);
    /* disk IO only matters when swapping made it move; an all-zero chart would be noise */
    for (size_t i = 0; i < run->nhosts && !io; i++)
        io = run->hosts[i].v[HVF_RUN_HOST_IO_UTIL] && run->hosts[i].peak[HVF_RUN_HOST_IO_UTIL] > 0;
    if (io)
        chart_hosts(out, run, HVF_RUN_HOST_IO_UTIL, "chart-io",
                    "Disk IO utilisation of the busiest hosts", "IO demand / capacity", "saturated",
                    "Disk IO demanded on each host divided by what its disks deliver; swapping "
                    "VMs drive it up. Above 1.0 the disks are saturated: long saturation leaves "
                    "tasks hung and can panic the host. Hosts without any IO are left out.");
    hvf_strbuf_puts(out, "</section>\n");
}
