/* SPDX-License-Identifier: MIT */
/*
 * hvfleet replay: runs an incident replay (its variants side by side) and prints seed 003's KPI
 * table; with --summary, one line per replay for several of them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/report.h"
#include "hvfleet/svg.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "util/outpath.h"

#define REPLAY_TITLE_W 30

static void
replay_usage(FILE *out)
{
    fputs("usage: hvfleet replay FILE [--out DIR] [--seed N] [--json] [--quiet]\n"
          "       hvfleet replay --summary FILE... [--out DIR] [--seed N] [--json]\n"
          "Runs an incident replay (schema hvfleet.replay/v1): each variant's scenario in the\n"
          "twin with the same seed, then prints the incident KPIs side by side (time of event,\n"
          "detection, decision, resolution, VMs down, VM-minutes lost, hosts crashed, actions\n"
          "queued). Outputs go to DIR (default out/<replay name>/): one directory per variant\n"
          "(its run and report.html), summary.json and report.html with the comparison; they\n"
          "replace DIR as a whole (DIR must be new, empty or an earlier replay's).\n"
          "--summary runs several replays and prints one line each (nothing is written unless\n"
          "--out DIR is given: replay R then goes to DIR/R/). --json prints the summary JSON.\n"
          "Exit status: 0 when it ran (whatever happened inside), 2 on bad input.\n",
          out);
}

/*
 * Under the KPI table, for replays that maintain hosts (seed 000): what the maintenance did in
 * the twin, aligned with the table's columns. Nothing for replays without one.
 */
static void
replay_print_maintenance(const hvf_replay *rp, const hvf_replay_outcome *o)
{
    static const char *const labels[] = {"hosts evacuating (peak)", "hosts over-committed",
                                         "VMs OOM-killed/crashed", "hosts maintained"};
    int label_w = 0, col_w = 14;
    bool any = false;

    for (size_t i = 0; i < o->n; i++)
        any |= o->stats[i].hosts_maintained > 0 || o->stats[i].peak_concurrent_evacuations > 0;
    if (!any)
        return;
    for (size_t r = 0; hvf_incident_row_labels[r]; r++) {
        int w = (int)strlen(hvf_incident_row_labels[r]);
        label_w = w > label_w ? w : label_w;
    }
    for (size_t c = 0; c < o->n; c++) {
        int w = (int)strlen(rp->variants[c].label);
        col_w = w > col_w ? w : col_w;
    }
    for (size_t r = 0; r < HVF_ARRAY_LEN(labels); r++) {
        printf("  %-*s", label_w, labels[r]);
        for (size_t c = 0; c < o->n; c++) {
            const hvf_sim_stats *st = &o->stats[c];
            uint32_t v = r == 0   ? st->peak_concurrent_evacuations
                         : r == 1 ? st->hosts_over_committed
                         : r == 2 ? st->vms_rebooted + st->vms_crashed
                                  : st->hosts_maintained;
            printf("  %-*" PRIu32, c + 1 < o->n ? col_w : 0, v);
        }
        printf("\n");
    }
}

static void
replay_print(const hvf_replay *rp, const hvf_replay_outcome *o, const char *dir)
{
    HVF_AUTOFREE const char **cols = hvf_calloc(o->n + 1, sizeof(char *));
    hvf_strbuf sb = HVF_STRBUF_INIT;

    for (size_t i = 0; i < o->n; i++)
        cols[i] = rp->variants[i].label;
    printf("replay %s (seed %s): %s\n", rp->name, rp->seed, rp->title);
    printf("  twin seed %" PRIu64 "; time of event = first '%s' event\n", o->sim_seed,
           rp->event_type ? rp->event_type : HVF_INCIDENT_DEFAULT_EVENT_TYPE);
    hvf_incident_format_table(&sb, cols, o->kpis, o->n);
    fputs(sb.buf ? sb.buf : "", stdout);
    hvf_strbuf_clear(&sb);
    replay_print_maintenance(rp, o);
    if (dir)
        printf("  output: %s/ (summary.json, one directory per variant)\n", dir);
}

/* "Kolab Now: a hypervisor..." cut to @w bytes on a character boundary, with "~" when cut. */
static void
replay_cut(const char *s, char *buf, size_t w)
{
    size_t n = strlen(s);

    if (n <= w) {
        snprintf(buf, w + 1, "%s", s);
        return;
    }
    n = w - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(buf, s, n);
    buf[n] = '~';
    buf[n + 1] = '\0';
}

/* A time after the event in at most 7 characters: "45s", "1m30s", "20h46m", "never", "-". */
static void
replay_short(const hvf_incident_kpis *k, int64_t us, char *buf, size_t size)
{
    int64_t s;

    if (k->event_us < 0) {
        snprintf(buf, size, "-");
        return;
    }
    if (us < 0) {
        snprintf(buf, size, "never");
        return;
    }
    s = (us > k->event_us ? us - k->event_us : 0) / HVF_US_PER_S;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
}

#define REPLAY_VARIANT_W 32 /* "detect  resolve   VMs     VM-min" */

static void
replay_summary_header(const hvf_replay *first, size_t nvar)
{
    printf("%-4s %-*s", "seed", REPLAY_TITLE_W, "replay");
    for (size_t v = 0; v < nvar; v++) {
        char lab[REPLAY_VARIANT_W + 2];
        replay_cut(v < first->nvariants ? first->variants[v].label : "variant", lab,
                   REPLAY_VARIANT_W);
        printf(" | %-*s", v + 1 < nvar ? REPLAY_VARIANT_W : 0, lab);
    }
    printf("\n%-4s %-*s", "", REPLAY_TITLE_W, "");
    for (size_t v = 0; v < nvar; v++)
        printf(" | %-7s %-7s %5s %10s", "detect", "resolve", "VMs", "VM-min");
    printf("\n");
}

static void
replay_summary_line(const hvf_replay *rp, const hvf_replay_outcome *o, size_t nvar)
{
    char title[REPLAY_TITLE_W + 2], a[32], b[32], d[32];

    replay_cut(rp->title, title, REPLAY_TITLE_W);
    printf("%-4s %-*s", rp->seed, REPLAY_TITLE_W, title);
    for (size_t v = 0; v < nvar && v < o->n; v++) {
        const hvf_incident_kpis *k = &o->kpis[v];
        replay_short(k, k->detection_us, a, sizeof(a));
        replay_short(k, k->resolution_us, b, sizeof(b));
        hvf_incident_format_value(k, HVF_INCIDENT_ROW_VM_MINUTES, d, sizeof(d));
        printf(" | %-7s %-7s %5" PRIu32 " %10s", a, b, k->vms_down_distinct, d);
    }
    printf("\n");
}

/* Replays in the order of their seeds ("000", "002", ...), then of their files. */
static int
replay_seed_cmp(const void *x, const void *y)
{
    const hvf_replay *const *a = x, *const *b = y;

    return strcmp((*a)->seed, (*b)->seed);
}

/*
 * DIR/report.html: the side-by-side KPI table and a link to each variant's own report
 * (DIR/<variant>/report.html, rendered from its run by the report module).
 */
static int
replay_write_pages(const hvf_replay *rp, const hvf_replay_outcome *o, const char *dir,
                   hvf_error *err)
{
    HVF_AUTOFREE const char **cols = hvf_calloc(o->n + 1, sizeof(char *));
    HVF_AUTOFREE hvf_report_kpi_row *rows =
        hvf_calloc(HVF_INCIDENT_ROW_LAST, sizeof(hvf_report_kpi_row));
    HVF_AUTOFREE char *cells = hvf_calloc(HVF_INCIDENT_ROW_LAST * (o->n + 1), 64);
    HVF_AUTOFREE const char **vals = hvf_calloc(HVF_INCIDENT_ROW_LAST * (o->n + 1), sizeof(char *));
    HVF_AUTOFREE char *path = hvf_asprintf("%s/report.html", dir);
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int rc;

    for (size_t i = 0; i < o->n; i++) {
        HVF_AUTOFREE char *vdir = hvf_asprintf("%s/%s", dir, rp->variants[i].dir);
        if (hvf_report_write_html(vdir, err) < 0)
            return -1;
        cols[i] = rp->variants[i].label;
    }
    for (size_t r = 0; r < HVF_INCIDENT_ROW_LAST; r++) {
        for (size_t i = 0; i < o->n; i++) {
            char *cell = cells + (r * o->n + i) * 64;
            hvf_incident_format_value(&o->kpis[i], (hvf_incident_row)r, cell, 64);
            vals[r * o->n + i] = cell;
        }
        rows[r].label = hvf_incident_row_labels[r];
        rows[r].values = &vals[r * o->n];
    }
    hvf_strbuf_puts(&sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                         "<title>");
    hvf_svg_escape(&sb, rp->title);
    hvf_strbuf_puts(&sb, "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
                         "table{border-collapse:collapse}th,td{padding:.3em .8em;border-bottom:"
                         "1px solid #ddd;text-align:left}td.num{font-variant-numeric:tabular-nums}"
                         "tr.differs{background:#fff4d6}</style></head><body>\n<h1>");
    hvf_svg_escape(&sb, rp->title);
    hvf_strbuf_puts(&sb, "</h1>\n<p>Incident report ");
    hvf_svg_escape(&sb, rp->seed);
    hvf_strbuf_printf(&sb, " replayed in the twin (seed %" PRIu64 "); time of event: the first ",
                      o->sim_seed);
    hvf_svg_escape(&sb, rp->event_type ? rp->event_type : HVF_INCIDENT_DEFAULT_EVENT_TYPE);
    hvf_strbuf_puts(&sb, " event.</p>\n");
    hvf_report_kpi_table(&sb, "KPI", cols, o->n, rows, HVF_INCIDENT_ROW_LAST);
    hvf_strbuf_puts(&sb, "<h2>Variants</h2>\n<ul>\n");
    for (size_t i = 0; i < o->n; i++) {
        hvf_strbuf_puts(&sb, "<li><a href=\"");
        hvf_svg_escape(&sb, rp->variants[i].dir);
        hvf_strbuf_puts(&sb, "/report.html\">");
        hvf_svg_escape(&sb, rp->variants[i].label);
        hvf_strbuf_puts(&sb, "</a> (scenario ");
        hvf_svg_escape(&sb, rp->variants[i].scenario);
        hvf_strbuf_puts(&sb, ")</li>\n");
    }
    hvf_strbuf_puts(&sb, "</ul>\n</body></html>\n");
    rc = hvf_file_write_atomic(path, sb.buf, sb.len, err);
    hvf_strbuf_clear(&sb);
    return rc;
}

typedef struct replay_args {
    bool json, quiet, summary;
    hvf_replay_opts opts;
    const char *out;
} replay_args;

/* Loads and runs one replay into @out_dir (may be NULL). Returns an exit status. */
static int
replay_one(const char *file, const replay_args *a, const char *out_dir, hvf_replay **rp_out,
           hvf_replay_outcome *o)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_replay_opts opts = a->opts;
    hvf_replay *rp;

    hvf_diags_init(&diags);
    rp = hvf_replay_load(file, &diags, &err);
    if (rp) {
        HVF_AUTOFREE char *dflt = NULL;
        hvf_outdir od = {NULL, NULL};
        if (!out_dir && !a->summary)
            out_dir = dflt = hvf_asprintf("out/%s", rp->name);
        /* Every variant's run and the pages are written beside OUT and swapped in whole. */
        if (out_dir && hvf_outdir_begin(&od, out_dir, hvf_sim_output_files, &err) < 0) {
            hvf_replay_free(rp);
            rp = NULL;
        }
        opts.out_dir = od.tmp;
        if (rp && (hvf_replay_run(rp, &opts, o, &diags, &err) < 0 ||
                   (od.tmp && (replay_write_pages(rp, o, od.tmp, &err) < 0 ||
                               hvf_outdir_commit(&od, &err) < 0)))) {
            hvf_replay_outcome_clear(o);
            hvf_replay_free(rp);
            rp = NULL;
        }
        hvf_outdir_clear(&od);
    }
    hvf_diags_print(&diags, stderr);
    hvf_diags_clear(&diags);
    if (!rp)
        return hvf_cli_fail(&err);
    *rp_out = rp;
    return 0;
}

static int
replay_summary(int argc, char **argv, const replay_args *a)
{
    size_t n = (size_t)argc, nvar = 0;
    HVF_AUTOFREE hvf_replay **rps = hvf_calloc(n + 1, sizeof(hvf_replay *));
    HVF_AUTOFREE hvf_replay_outcome *os = hvf_calloc(n + 1, sizeof(hvf_replay_outcome));
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        HVF_AUTOFREE char *dir = NULL;
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        HVF_AUTOFREE char *name = NULL;
        hvf_replay *peek;

        if (a->out) {
            /* the replay's own name picks its directory: read it first */
            hvf_diags_init(&d);
            peek = hvf_replay_load(argv[i], &d, &err);
            if (peek)
                name = hvf_strdup(peek->name);
            hvf_replay_free(peek);
            hvf_diags_clear(&d);
            if (name)
                dir = hvf_asprintf("%s/%s", a->out, name);
        }
        rc = replay_one(argv[i], a, dir, &rps[i], &os[i]);
        if (rc == 0 && os[i].n > nvar)
            nvar = os[i].n;
    }
    if (rc == 0 && a->json) {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            HVF_AUTOFREE char *s = hvf_replay_summary_json(rps[i], &os[i]);
            printf("%s%s", i ? "," : "", s);
        }
        printf("]\n");
    } else if (rc == 0 && !a->quiet) {
        HVF_AUTOFREE const hvf_replay **order = hvf_calloc(n + 1, sizeof(hvf_replay *));
        for (size_t i = 0; i < n; i++)
            order[i] = rps[i];
        qsort(order, n, sizeof(hvf_replay *), replay_seed_cmp);
        replay_summary_header(order[0], nvar);
        for (size_t i = 0; i < n; i++) {
            size_t j = 0;
            while (rps[j] != order[i])
                j++;
            replay_summary_line(rps[j], &os[j], nvar);
        }
        printf("(detect/resolve: after the time of event; VMs: distinct VMs down; VM-min: "
               "VM-minutes lost)\n");
    }
    for (size_t i = 0; i < n; i++) {
        hvf_replay_free(rps[i]);
        hvf_replay_outcome_clear(&os[i]);
    }
    return rc;
}

int
hvf_cli_replay(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"summary", no_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    replay_args a = {0};
    hvf_replay *rp = NULL;
    hvf_replay_outcome o;
    int c, rc;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:jqSh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a.out = optarg;
            break;
        case 's': {
            char *end = NULL;
            errno = 0;
            a.opts.seed = strtoull(optarg, &end, 10);
            if (!*optarg || *optarg == '-' || errno || *end) {
                fprintf(stderr, "hvfleet: replay: --seed '%s': expected a whole number\n", optarg);
                return 2;
            }
            a.opts.has_seed = true;
            break;
        }
        case 'j':
            a.json = true;
            break;
        case 'q':
            a.quiet = true;
            break;
        case 'S':
            a.summary = true;
            break;
        case 'h':
            replay_usage(stdout);
            return 0;
        default:
            return 2;
        }
    }
    if (a.summary) {
        if (optind >= argc) {
            fprintf(stderr, "hvfleet: replay --summary: expected one or more replay files\n");
            return 2;
        }
        return replay_summary(argc - optind, argv + optind, &a);
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: replay: expected one replay FILE, got %d arguments\n",
                argc - optind);
        return 2;
    }
    rc = replay_one(argv[optind], &a, a.out, &rp, &o);
    if (rc != 0)
        return rc;
    if (a.json) {
        HVF_AUTOFREE char *s = hvf_replay_summary_json(rp, &o);
        fputs(s, stdout);
    } else if (!a.quiet) {
        HVF_AUTOFREE char *dir = a.out ? hvf_strdup(a.out) : hvf_asprintf("out/%s", rp->name);
        replay_print(rp, &o, dir);
    }
    hvf_replay_free(rp);
    hvf_replay_outcome_clear(&o);
    return 0;
}
