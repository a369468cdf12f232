/* SPDX-License-Identifier: MIT */
/* The run report's event timeline: key events by severity, routine migrations counted per minute,
 * repeated events of one type on one host grouped per minute ("12 x vm_crashed on kvm07"). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "report/sections.h"

typedef enum tl_sev { TL_CRITICAL, TL_WARNING, TL_INFO, TL_SEV_LAST } tl_sev;

static const char *const tl_sev_names[] = {"critical", "warning", "info"};
_Static_assert(HVF_ARRAY_LEN(tl_sev_names) == TL_SEV_LAST, "severity names");

/* Types not listed are shown as info: the simulator may add types before the report knows them. */
static const struct {
    const char *type;
    tl_sev sev;
} tl_types[] = {
    {"host_crash", TL_CRITICAL},
    {"host_hung_tasks", TL_CRITICAL},
    {"vm_crashed", TL_CRITICAL},
    {"vm_oom_killed", TL_CRITICAL},
    {"fault", TL_CRITICAL},
    {"migration_abort", TL_WARNING},
    {"migration_refused", TL_WARNING},
    {"evacuate_cancel", TL_WARNING},
    {"host_overcommit", TL_WARNING},
    {"host_swap", TL_WARNING},
    {"host_io_saturated", TL_WARNING},
    {"host_reboot", TL_WARNING},
    {"host_nic_mismatch", TL_WARNING},
    {"vm_restarted", TL_WARNING},
};

/* The events the summary's figures and verdicts rest on (crashes, over-commitment, aborted
 * migrations, hung hosts; the incident KPIs; the seatbelt's verdicts in the twin): never hidden
 * by the row cap, whatever else happened. */
static const char *const tl_pinned_types[] = {
    "host_crash",       "host_hung_tasks",    "vm_crashed",
    "vm_oom_killed",    "migration_abort",    "host_overcommit",
    "fault",            "alert",              "alert_lost",
    "decision",         "resolved",           "maintenance_plan",
    "approval_requested", "maintenance_unapproved", "change_refused",
};

static bool
tl_pinned(const char *type)
{
    for (size_t i = 0; i < HVF_ARRAY_LEN(tl_pinned_types); i++) {
        if (strcmp(type, tl_pinned_types[i]) == 0)
            return true;
    }
    return false;
}

static tl_sev
tl_severity(const char *type)
{
    for (size_t i = 0; i < HVF_ARRAY_LEN(tl_types); i++) {
        if (strcmp(type, tl_types[i].type) == 0)
            return tl_types[i].sev;
    }
    return TL_INFO;
}

static bool
tl_is_migration(const hvf_run_event *e)
{
    return strcmp(e->type, "migration_start") == 0 || strcmp(e->type, "migration_end") == 0;
}

/* A row is one event, the events of one type on one host in one minute (count > 1), or one
 * minute's count of migration starts and ends. */
typedef struct tl_row {
    double t_s;
    tl_sev sev;
    size_t seq;              /* position in time order, for stable sorting */
    const hvf_run_event *ev; /* borrowed: the first of the row's events; NULL for migrations */
    size_t ev_idx;           /* its index in the run's events */
    size_t count;            /* events in the row */
    size_t started, completed, not_converged;
    double max_downtime_ms; /* NaN when no end reported one */
    bool pinned;            /* never hidden: see tl_pinned_types */
    bool shown;
} tl_row;

static bool
tl_same_host(const hvf_run_event *a, const hvf_run_event *b)
{
    return a->host && b->host ? strcmp(a->host, b->host) == 0 : a->host == b->host;
}

static int
tl_row_cmp_time(const void *a, const void *b)
{
    const tl_row *x = a, *y = b;

    if (x->t_s != y->t_s)
        return x->t_s < y->t_s ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Builds the rows in time order; per-minute counts sit at the start of their minute. */
static tl_row *
tl_rows(const hvf_run *run, size_t *nrows)
{
    tl_row *rows = NULL;
    size_t n = 0, cap = 0;
    size_t agg = SIZE_MAX; /* the current minute's count; an index, since rows may move */
    double agg_minute = NAN;
    size_t minute_first = 0; /* the first row of the current minute (rows are in time order) */
    double minute = NAN;

    for (size_t i = 0; i < run->nevents; i++) {
        const hvf_run_event *e = &run->events[i];
        if (floor(e->t_s / 60) != minute) {
            minute = floor(e->t_s / 60);
            minute_first = n;
        }
        if (!tl_is_migration(e)) {
            size_t k = minute_first;
            /* the same type on the same host in this minute joins that row */
            while (k < n && !(rows[k].ev && strcmp(rows[k].ev->type, e->type) == 0 &&
                              tl_same_host(rows[k].ev, e)))
                k++;
            if (k < n) {
                rows[k].count++;
                continue;
            }
            hvf_grow(&rows, &cap, n + 1, sizeof(*rows));
            rows[n] = (tl_row){.t_s = e->t_s,
                               .sev = tl_severity(e->type),
                               .seq = n,
                               .ev = e,
                               .ev_idx = i,
                               .count = 1,
                               .max_downtime_ms = NAN,
                               .pinned = tl_pinned(e->type)};
            n++;
            continue;
        }
        if (agg == SIZE_MAX || floor(e->t_s / 60) != agg_minute) {
            hvf_grow(&rows, &cap, n + 1, sizeof(*rows));
            agg_minute = floor(e->t_s / 60);
            rows[n] = (tl_row){
                .t_s = agg_minute * 60, .sev = TL_INFO, .seq = n, .max_downtime_ms = NAN};
            agg = n++;
        }
        if (strcmp(e->type, "migration_start") == 0) {
            rows[agg].started++;
        } else {
            tl_row *a = &rows[agg];
            a->completed++;
            a->not_converged += e->converged == 0;
            if (isfinite(e->downtime_ms) &&
                (isnan(a->max_downtime_ms) || e->downtime_ms > a->max_downtime_ms))
                a->max_downtime_ms = e->downtime_ms;
        }
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), tl_row_cmp_time);
    *nrows = n;
    return rows;
}

/* Keeps every pinned row, then up to @max rows in all: critical ones first, then warnings, then
 * the rest, the earliest within a severity. */
static void
tl_select(tl_row *rows, size_t n, size_t max, size_t hidden[TL_SEV_LAST])
{
    size_t left = max;

    for (size_t i = 0; i < n; i++) {
        if (rows[i].pinned) {
            rows[i].shown = true;
            left -= left > 0;
        }
    }
    for (int s = 0; s < TL_SEV_LAST; s++) {
        hidden[s] = 0;
        for (size_t i = 0; i < n; i++) {
            if (rows[i].sev != (tl_sev)s || rows[i].pinned)
                continue;
            if (left > 0) {
                rows[i].shown = true;
                left--;
            } else {
                hidden[s]++;
            }
        }
    }
}

static void
tl_cell(hvf_strbuf *out, const char *s)
{
    hvf_strbuf_puts(out, "<td>");
    hvf_html_escape(out, s ? s : "");
    hvf_strbuf_puts(out, "</td>");
}

static void
tl_details(hvf_strbuf *out, const hvf_run_event *e)
{
    const char *sep = "";
    char buf[48];

    if (e->from || e->to) {
        hvf_html_escape(out, e->from ? e->from : "?");
        hvf_strbuf_puts(out, " &rarr; ");
        hvf_html_escape(out, e->to ? e->to : "?");
        sep = "; ";
    }
    if (e->detail) {
        hvf_strbuf_puts(out, sep);
        hvf_html_escape(out, e->detail);
        sep = "; ";
    }
    if (e->converged >= 0) {
        hvf_strbuf_printf(out, "%s%s", sep, e->converged ? "converged" : "did not converge");
        sep = "; ";
    }
    if (isfinite(e->downtime_ms)) {
        hvf_strbuf_printf(out, "%sdowntime ", sep);
        hvf_html_number(out, e->downtime_ms);
        hvf_strbuf_puts(out, " ms");
        sep = "; ";
    }
    if (isfinite(e->duration_s)) {
        hvf_strbuf_printf(out, "%stook %s", sep,
                          hvf_html_duration(e->duration_s, buf, sizeof(buf)));
        sep = "; ";
    }
    if (e->extra) {
        hvf_strbuf_puts(out, sep);
        hvf_html_escape(out, e->extra);
    }
}

/* A group's details: "12 &times; vm_crashed on kvm07 in this minute: v1, v2, v3, v4, v5 and 7
 * more". */
static void
tl_group_details(hvf_strbuf *out, const hvf_run *run, const tl_row *r)
{
    const double minute = floor(r->t_s / 60);
    const char *detail = r->ev->detail;
    size_t listed = 0, vms = 0;

    hvf_strbuf_printf(out, "%zu &times; ", r->count);
    hvf_html_escape(out, r->ev->type);
    if (r->ev->host) {
        hvf_strbuf_puts(out, " on ");
        hvf_html_escape(out, r->ev->host);
    }
    hvf_strbuf_puts(out, " in this minute");
    for (size_t i = r->ev_idx; i < run->nevents && floor(run->events[i].t_s / 60) == minute; i++) {
        const hvf_run_event *e = &run->events[i];
        if (strcmp(e->type, r->ev->type) != 0 || !tl_same_host(e, r->ev))
            continue;
        if (detail && (!e->detail || strcmp(detail, e->detail) != 0))
            detail = NULL;
        if (!e->vm)
            continue;
        vms++;
        if (listed < 5) {
            hvf_strbuf_puts(out, listed++ ? ", " : ": ");
            hvf_html_escape(out, e->vm);
        }
    }
    if (vms > listed)
        hvf_strbuf_printf(out, " and %zu more", vms - listed);
    /* a detail they all share ("host crashed") */
    if (detail) {
        hvf_strbuf_puts(out, "; ");
        hvf_html_escape(out, detail);
    }
}

static void
tl_row_html(hvf_strbuf *out, const hvf_run *run, const tl_row *r)
{
    char t[48];

    hvf_strbuf_printf(out,
                      "<tr class=\"sev-%s%s\"><td class=\"t\">%s</td><td class=\"sev\">%s</td>",
                      tl_sev_names[r->sev], r->ev ? "" : " agg",
                      hvf_html_duration(r->t_s, t, sizeof(t)), tl_sev_names[r->sev]);
    if (!r->ev) {
        hvf_strbuf_printf(out,
                          "<td><code>migrations</code></td><td></td><td></td><td>%zu started, "
                          "%zu ended in this minute",
                          r->started, r->completed);
        if (r->not_converged)
            hvf_strbuf_printf(out, "; %zu did not converge", r->not_converged);
        if (isfinite(r->max_downtime_ms)) {
            hvf_strbuf_puts(out, "; longest downtime ");
            hvf_html_number(out, r->max_downtime_ms);
            hvf_strbuf_puts(out, " ms");
        }
        hvf_strbuf_puts(out, "</td></tr>\n");
        return;
    }
    hvf_strbuf_puts(out, "<td><code>");
    hvf_html_escape(out, r->ev->type);
    hvf_strbuf_puts(out, "</code></td>");
    tl_cell(out, r->ev->host);
    if (r->count > 1) {
        hvf_strbuf_printf(out, "<td>%zu</td><td>", r->count);
        tl_group_details(out, run, r);
    } else {
        tl_cell(out, r->ev->vm);
        hvf_strbuf_puts(out, "<td>");
        tl_details(out, r->ev);
    }
    hvf_strbuf_puts(out, "</td></tr>\n");
}

typedef struct tl_count {
    const char *type; /* borrowed from the run */
    size_t n;
    double first_s, last_s;
} tl_count;

static int
tl_count_cmp(const void *a, const void *b)
{
    return strcmp(((const tl_count *)a)->type, ((const tl_count *)b)->type);
}

/* How many events of each type, so counts survive the row cap of the timeline. */
static void
tl_counts(hvf_strbuf *out, const hvf_run *run)
{
    HVF_AUTOFREE tl_count *c = hvf_calloc(run->nevents + 1, sizeof(*c));
    size_t n = 0;

    for (size_t i = 0; i < run->nevents; i++) {
        const hvf_run_event *e = &run->events[i];
        size_t k = 0;
        /* types are few; a linear scan is cheaper than a map for them */
        while (k < n && strcmp(c[k].type, e->type) != 0)
            k++;
        if (k == n)
            c[n++] = (tl_count){e->type, 0, e->t_s, e->t_s};
        c[k].n++;
        c[k].last_s = e->t_s;
    }
    qsort(c, n, sizeof(*c), tl_count_cmp);
    hvf_strbuf_puts(out, "<h3>Events by type</h3>\n<table class=\"counts\">\n<thead><tr><th>type"
                         "</th><th>severity</th><th>count</th><th>first</th><th>last</th></tr>"
                         "</thead>\n<tbody>\n");
    for (size_t k = 0; k < n; k++) {
        char a[48], b[48];
        tl_sev sev = tl_severity(c[k].type);
        hvf_strbuf_printf(out, "<tr class=\"sev-%s\"><td><code>", tl_sev_names[sev]);
        hvf_html_escape(out, c[k].type);
        hvf_strbuf_printf(out,
                          "</code></td><td class=\"sev\">%s</td><td class=\"num\">%zu</td>"
                          "<td class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
                          tl_sev_names[sev], c[k].n, hvf_html_duration(c[k].first_s, a, sizeof(a)),
                          hvf_html_duration(c[k].last_s, b, sizeof(b)));
    }
    hvf_strbuf_puts(out, "</tbody>\n</table>\n");
}

void
hvf_report_timeline(hvf_strbuf *out, const hvf_run *run)
{
    size_t n = 0, hidden[TL_SEV_LAST];
    HVF_AUTOFREE tl_row *rows = tl_rows(run, &n);

    if (run->nevents == 0) {
        hvf_strbuf_puts(out, "<section id=\"timeline\">\n<h2>Timeline</h2>\n"
                             "<p>No events were recorded in this run (events.jsonl is empty).</p>\n"
                             "</section>\n");
        return;
    }
    tl_select(rows, n, HVF_REPORT_MAX_TIMELINE_ROWS, hidden);
    hvf_strbuf_puts(out, "<section id=\"timeline\">\n<h2>Timeline</h2>\n"
                         "<p>Key events in simulated time. Individual migration starts and ends "
                         "are counted per minute; events of one type on one host in one minute "
                         "share a row (the VM column counts them).</p>\n"
                         "<table class=\"timeline\">\n<thead><tr><th>time</th><th>severity</th>"
                         "<th>event</th><th>host</th><th>VM</th><th>details</th></tr></thead>\n"
                         "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].shown)
            tl_row_html(out, run, &rows[i]);
    }
    hvf_strbuf_puts(out, "</tbody>\n</table>\n");
    if (hidden[TL_CRITICAL] + hidden[TL_WARNING] + hidden[TL_INFO] > 0)
        hvf_strbuf_printf(out,
                          "<p class=\"more\">%zu more rows not shown (%zu critical, %zu warning, "
                          "%zu info): the table keeps every crash, over-commitment, aborted "
                          "migration, hung host, fault, alert, decision and resolution, then up "
                          "to %d rows in all, the most severe and earliest first.</p>\n",
                          hidden[TL_CRITICAL] + hidden[TL_WARNING] + hidden[TL_INFO],
                          hidden[TL_CRITICAL], hidden[TL_WARNING], hidden[TL_INFO],
                          HVF_REPORT_MAX_TIMELINE_ROWS);
    tl_counts(out, run);
    hvf_strbuf_puts(out, "</section>\n");
}
