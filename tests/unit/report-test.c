/* SPDX-License-Identifier: MIT */
/* Run reports: CSV reader, fixture runs, determinism, escaping, row cap, malformed inputs. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "report/csv.h"
#include "report/run.h"

#define FIXTURES HVF_SRCDIR "/tests/data/report"

static const char fleet_header[] =
    "t_s,migrations_active,hosts_evacuating,hosts_in_maintenance,hosts_down,"
    "hosts_over_committed,vms_running,vms_crashed,max_host_memory_ratio,max_host_cpu_ratio\n";
static const char hosts_header[] = "t_s,host,memory_ratio,cpu_ratio,nic_out_bytes_per_s,"
                                   "nic_in_bytes_per_s,migrations_out,migrations_in,swap_mib,"
                                   "io_util,state\n";
static const char good_summary[] =
    "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"t\",\"seed\":7,\"hosts\":2}\n";
static const char good_events[] = "{\"t_s\":0,\"type\":\"sim_start\"}\n"
                                  "{\"t_s\":60,\"type\":\"sim_end\"}\n";

/* ---------------------------------------------------------------- helpers */

static size_t
count_substr(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
write_file(const char *dir, const char *name, const char *data, size_t len)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A fresh run directory; a NULL file is left out, so it is missing. */
static char *
make_run(const char *summary, const char *events, const char *fleet, const char *hosts)
{
    char tmpl[] = "/tmp/hvf-report-test-XXXXXX";
    char *dir = hvf_strdup(mkdtemp(tmpl));

    if (summary)
        write_file(dir, "summary.json", summary, strlen(summary));
    if (events)
        write_file(dir, "events.jsonl", events, strlen(events));
    if (fleet)
        write_file(dir, "metrics-fleet.csv", fleet, strlen(fleet));
    if (hosts)
        write_file(dir, "metrics-hosts.csv", hosts, strlen(hosts));
    return dir;
}

static void
remove_run(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            HVF_AUTOFREE char *p = hvf_asprintf("%s/%s", dir, e->d_name);
            assert_int_equal(unlink(p), 0);
        }
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

static char *
render_ok(const char *dir)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_report_render_html(dir, &sb, &err) != 0)
        fail_msg("render %s: %s", dir, err.msg);
    return hvf_strbuf_steal(&sb);
}

/* The timeline table alone, so counts are not confused with the events-by-type table. */
static char *
timeline_of(const char *html)
{
    const char *a = strstr(html, "<table class=\"timeline\">");
    const char *b = a ? strstr(a, "</table>") : NULL;

    assert_non_null(b);
    return hvf_strndup(a, (size_t)(b - a));
}

/* ---------------------------------------------------------------- CSV reader */

static void
test_csv_good(void **state)
{
    static const char in[] = "\xef\xbb\xbft_s,host,\"note, with comma\"\r\n"
                             "1.5,h01,\"say \"\"hi\"\"\"\r\n"
                             "\r\n"
                             "2,\"h\n02\",\n"
                             "3,h03,x";
    hvf_csv csv;
    hvf_error err = HVF_ERROR_INIT;
    double v = 0;

    assert_int_equal(hvf_csv_parse("m.csv", in, sizeof(in) - 1, &csv, &err), 0);
    assert_int_equal(csv.ncols, 3);
    assert_int_equal(csv.nrows, 3);
    assert_int_equal(hvf_csv_column(&csv, "note, with comma"), 2);
    assert_int_equal(hvf_csv_column(&csv, "nope"), -1);
    assert_string_equal(hvf_csv_get(&csv, 0, 2)->s, "say \"hi\"");
    assert_string_equal(hvf_csv_get(&csv, 1, 1)->s, "h\n02");
    assert_string_equal(hvf_csv_get(&csv, 1, 2)->s, "");
    assert_string_equal(hvf_csv_get(&csv, 2, 2)->s, "x");
    assert_int_equal(hvf_csv_get(&csv, 2, 0)->line, 6);
    assert_int_equal(hvf_csv_get(&csv, 0, 1)->col, 5);
    assert_int_equal(hvf_csv_get_double(&csv, 0, 0, &v, &err), 0);
    assert_float_equal(v, 1.5, 0);
    assert_int_equal(hvf_csv_get_double(&csv, 1, 2, &v, &err), 0);
    assert_true(isnan(v));
    assert_int_equal(hvf_csv_get_double(&csv, 2, 2, &v, &err), -1);
    assert_string_equal(err.msg, "m.csv:6:7: column 'note, with comma': 'x' is not a number");
    assert_int_equal(hvf_csv_require(&csv, "state", &err), -1);
    assert_string_equal(err.msg, "m.csv:1: missing column 'state' in the header");
    hvf_csv_clear(&csv);
}

static void
test_csv_numbers(void **state)
{
    static const struct {
        const char *cell;
        bool ok;
        double want;
    } cases[] = {
        {"12", true, 12},    {"-0.5", true, -0.5},    {"1e6", true, 1e6},
        {" 2 ", true, 2},    {".5", true, 0.5},       {"5.", true, 5},
        {"+3", true, 3},     {"inf", true, INFINITY}, {"-inf", true, -INFINITY},
        {"0x10", false, 0},  {"1,5", false, 0},       {"abc", false, 0},
        {"1e", false, 0},    {"--1", false, 0},       {".", false, 0},
        {"1e999", false, 0}, {"12abc", false, 0},     {"infinity", false, 0},
        {"1 2", false, 0},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *in = hvf_asprintf("v\n\"%s\"\n", cases[i].cell);
        hvf_csv csv;
        hvf_error err = HVF_ERROR_INIT;
        double v = 0;
        assert_int_equal(hvf_csv_parse("n.csv", in, strlen(in), &csv, &err), 0);
        if (cases[i].ok) {
            if (hvf_csv_get_double(&csv, 0, 0, &v, &err) != 0)
                fail_msg("'%s': %s", cases[i].cell, err.msg);
            assert_true(v == cases[i].want);
        } else {
            assert_int_equal(hvf_csv_get_double(&csv, 0, 0, &v, &err), -1);
            assert_non_null(strstr(err.msg, "n.csv:2:1: column 'v': '"));
        }
        hvf_csv_clear(&csv);
    }
}

static void
test_csv_bad(void **state)
{
    HVF_AUTOFREE char *huge = hvf_calloc(HVF_CSV_MAX_LINE + 100, 1);
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        const char *want;
    } cases[] = {
        {"", 0, "x.csv:1: empty file, expected a header line"},
        {"\n\n", 0, "x.csv:1: empty file, expected a header line"},
        {"a,b\n1\n", 0, "x.csv:2: 1 fields, expected 2 as in the header (truncated line?)"},
        {"a,b\n1,2,3\n", 0, "x.csv:2: 3 fields, expected 2"},
        {"a,b\n1,\"2\n", 0, "x.csv:2:3: quoted field is not closed before the end of the file"},
        {"a,b\n1,\"2\"x\n", 0, "x.csv:2:6: expected a comma or the end of the line"},
        {"a,b\n1,2\"\n", 0, "x.csv:2:4: a quote inside an unquoted field"},
        {"a,a\n", 0, "x.csv:1:3: column 'a' appears twice"},
        {"a,,b\n", 0, "x.csv:1:3: empty column name in the header"},
        {"a,b\n1,2\rx\n", 0, "x.csv:2:4: carriage return not followed by a newline"},
        {"a,b\n1,\0\n", 8, "x.csv:2:3: NUL byte in a text file"},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_csv csv;
        hvf_error err = HVF_ERROR_INIT;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        assert_int_equal(hvf_csv_parse("x.csv", cases[i].in, len, &csv, &err), -1);
        if (strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
        assert_null(strchr(err.msg, '\n'));
        assert_null(csv.data);
    }
    /* a line longer than the limit, also inside quotes, and more fields than allowed */
    memcpy(huge, "a\n", 2);
    memset(huge + 2, 'x', HVF_CSV_MAX_LINE + 10);
    {
        hvf_csv csv;
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_csv_parse("x.csv", huge, strlen(huge), &csv, &err), -1);
        assert_string_equal(err.msg, "x.csv:2: line is longer than 65536 bytes");
        huge[2] = '"';
        assert_int_equal(hvf_csv_parse("x.csv", huge, strlen(huge), &csv, &err), -1);
        assert_string_equal(err.msg, "x.csv:2: line is longer than 65536 bytes");
        for (size_t k = 0; k < 3000; k++)
            huge[2 * k] = 'c', huge[2 * k + 1] = ',';
        huge[6000] = '\n';
        huge[6001] = '\0';
        assert_int_equal(hvf_csv_parse("x.csv", huge, strlen(huge), &csv, &err), -1);
        assert_string_equal(err.msg, "x.csv:1:2049: more than 1024 fields");
    }
}

/* ---------------------------------------------------------------- fixture runs */

static void
test_fixture_cascade(void **state)
{
    HVF_AUTOFREE char *html = render_ok(FIXTURES "/cascade");
    HVF_AUTOFREE char *again = render_ok(FIXTURES "/cascade/");
    HVF_AUTOFREE char *tl = timeline_of(html);
    static const char *const want[] = {
        "<title>hvfleet run report: flying-circus-2017 &lt;naive&gt; (seed 42)</title>",
        "<h1>Simulation run: flying-circus-2017 &lt;naive&gt;</h1>",
        "Memory ratio of the busiest hosts",
        "CPU ratio of the busiest hosts",
        "Concurrent migrations and hosts evacuating",
        "Hosts down, hosts over-committed and VMs crashed",
        /* the series is VMs crashed now (restarted ones leave it), not a running total */
        "VMs crashed and not yet restarted at that moment",
        "Disk IO utilisation of the busiest hosts",
        "usable capacity",
        /* KPI table, both columns */
        "<th>as it happened</th><th>with hvfleet</th>",
        "<th>hosts crashed</th><td class=\"num\">2</td><td class=\"num\">0</td>",
        /* unknown summary fields, flattened */
        "<code>claims.peak_mib</code></th><td>524288</td>",
        "<code>policy</code>",
        /* highlighted damage */
        "<tr><th>Hosts crashed</th><td class=\"bad\">2</td></tr>",
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(want); i++) {
        if (!strstr(html, want[i]))
            fail_msg("missing: %s", want[i]);
    }
    /* byte-identical however the directory is spelled */
    assert_string_equal(html, again);
    /* self-contained: nothing to run, nothing to fetch */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "@import"));

    /* a crash row, its cascade and the event fields the report knows only generically */
    assert_non_null(strstr(tl, "<tr class=\"sev-critical\"><td class=\"t\">0:19:00</td><td "
                               "class=\"sev\">critical</td><td><code>host_crash</code></td>"
                               "<td>h07</td><td></td><td>kernel panic: hung task</td></tr>"));
    assert_int_equal(count_substr(tl, "<code>host_crash</code>"), 2);
    /* the VMs that died with each host: one row per host and minute */
    assert_int_equal(count_substr(tl, "<code>vm_crashed</code>"), 2);
    assert_non_null(strstr(tl, "<td><code>vm_crashed</code></td><td>h07</td><td>6</td><td>6 "
                               "&times; vm_crashed on h07 in this minute: vm-h07-00, vm-h07-01, "
                               "vm-h07-02, vm-h07-03, vm-h07-04 and 1 more; host crashed</td>"));
    assert_non_null(strstr(tl, "<td>4 &times; vm_crashed on h08 in this minute: vm-h08-00, "
                               "vm-h08-01, vm-h08-02, vm-h08-03; host crashed</td>"));
    assert_non_null(strstr(tl, "memory ratio 1.04 &lt;over&gt; &amp; rising"));
    assert_non_null(strstr(tl, "kernel=5.10.0-21"));
    assert_non_null(strstr(tl, "<code>operator_note</code>"));
    assert_non_null(strstr(tl, "operator=on-call, ticket=4711"));
    assert_non_null(strstr(tl, "h03 &rarr; h07; no progress for 150 s (target h07 swapping); did "
                               "not converge; took 0:02:30"));
    /* migrations are counted per minute, never listed one by one */
    assert_null(strstr(tl, "<code>migration_start</code>"));
    assert_null(strstr(tl, "<code>migration_end</code>"));
    assert_non_null(strstr(tl, "<td class=\"t\">0:05:00</td><td class=\"sev\">info</td><td>"
                               "<code>migrations</code></td><td></td><td></td><td>3 started, 0 "
                               "ended in this minute</td>"));
    assert_null(strstr(html, "more rows not shown"));
    /* the events-by-type table still counts them */
    assert_non_null(strstr(html, "<code>migration_start</code></td><td class=\"sev\">info</td>"
                                 "<td class=\"num\">48</td>"));
}

static void
test_fixture_minimal(void **state)
{
    HVF_AUTOFREE char *html = render_ok(FIXTURES "/minimal");
    HVF_AUTOFREE char *again = render_ok(FIXTURES "/minimal");

    assert_string_equal(html, again);
    assert_non_null(strstr(html, "<h1>Simulation run: empty</h1>"));
    assert_non_null(strstr(html, "Memory ratio of the busiest hosts"));
    assert_non_null(strstr(html, "Hosts down, hosts over-committed and VMs crashed"));
    /* no host samples: the host charts say so instead of drawing nothing */
    assert_int_equal(count_substr(html, ">no data</text>"), 2);
    assert_non_null(strstr(html, "metrics-hosts.csv has no samples."));
    assert_null(strstr(html, "Disk IO utilisation"));
    assert_null(strstr(html, "Key figures"));
    assert_null(strstr(html, "Other fields"));
    assert_null(strstr(html, ">nan"));
    assert_null(strstr(html, "\"nan"));
    assert_null(strstr(html, "nan\""));
    assert_true(strncmp(html, "<!DOCTYPE html>\n", 16) == 0);
    assert_non_null(strstr(html, "</html>\n"));
}

static void
test_write_html(void **state)
{
    HVF_AUTOFREE char *fleet = hvf_asprintf("%s0,1,0,0,0,0,3,0,0.5,0.4\n", fleet_header);
    HVF_AUTOFREE char *hosts = hvf_asprintf("%s0,h01,0.5,0.4,0,0,0,0,0,0,up\n", hosts_header);
    char *dir = make_run(good_summary, good_events, fleet, hosts);
    HVF_AUTOFREE char *want = render_ok(dir);
    HVF_AUTOFREE char *path = hvf_asprintf("%s/report.html", dir);
    HVF_AUTOFREE char *got = NULL;
    size_t len = 0, nfiles = 0;
    hvf_error err = HVF_ERROR_INIT;
    DIR *d;
    struct dirent *e;

    assert_int_equal(hvf_report_write_html(dir, &err), 0);
    assert_int_equal(hvf_run_read_file(path, &got, &len, &err), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    /* no temporary file left beside it */
    d = opendir(dir);
    while ((e = readdir(d)) != NULL)
        nfiles += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(nfiles, 5);
    remove_run(dir);
}

/* Every string from the inputs is escaped: names, details, headers, KPI labels. */
static void
test_hostile_strings(void **state)
{
    static const char summary[] =
        "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"<script>alert(1)</script>\","
        "\"seed\":1,\"<b>\":\"<i>x</i>\",\"kpis\":{\"columns\":[\"<u>a</u>\",\"b\"],"
        "\"rows\":[{\"label\":\"<dfn>l</dfn>\",\"values\":[\"<s>1</s>\",2.5]}]}}";
    static const char events[] =
        "{\"t_s\":1,\"type\":\"<blink>\",\"host\":\"\\\"><img src=x>\",\"vm\":\"'vm'\","
        "\"detail\":\"a&b\",\"<k>\":\"<v>\"}\n";
    HVF_AUTOFREE char *fleet = hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n", fleet_header);
    HVF_AUTOFREE char *hosts =
        hvf_asprintf("%s0,\"<svg onload=x>\",1.2,0.5,0,0,0,0,0,0,up\n", hosts_header);
    char *dir = make_run(summary, events, fleet, hosts);
    HVF_AUTOFREE char *html = render_ok(dir);

    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<blink"));
    assert_null(strstr(html, "<svg onload"));
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "<i>"));
    assert_null(strstr(html, "<u>"));
    assert_null(strstr(html, "<dfn>"));
    assert_null(strstr(html, "<s>"));
    assert_null(strstr(html, "<k>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&quot;&gt;&lt;img src=x&gt;"));
    assert_non_null(strstr(html, "&lt;svg onload=x&gt; (peak 1.20)"));
    assert_non_null(strstr(html, "<td class=\"num\">2.5</td>"));
    remove_run(dir);
}

/* Past 200 rows the timeline keeps the events the summary rests on (crashes, alerts,
 * decisions, ...), then the most severe, and says how many it left out; repeated events of one
 * type on one host share a row per minute. */
static void
test_timeline_cap(void **state)
{
    hvf_strbuf ev = HVF_STRBUF_INIT;
    HVF_AUTOFREE char *fleet = hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n", fleet_header);
    char *dir;
    HVF_AUTOFREE char *html = NULL;
    HVF_AUTOFREE char *tl = NULL;

    hvf_strbuf_puts(&ev, "{\"t_s\":0,\"type\":\"sim_start\"}\n");
    for (int i = 0; i < 100; i++)
        hvf_strbuf_printf(&ev, "{\"t_s\":%d,\"type\":\"maintenance_start\",\"host\":\"h%d\"}\n", i,
                          i);
    for (int i = 0; i < 100; i++)
        hvf_strbuf_printf(&ev, "{\"t_s\":%d,\"type\":\"host_swap\",\"host\":\"h%d\"}\n", 200 + i,
                          i);
    /* 600 VMs crash on 12 hosts over 5 minutes: 60 rows of 10, not 600 rows */
    for (int i = 0; i < 600; i++)
        hvf_strbuf_printf(&ev,
                          "{\"t_s\":%d,\"type\":\"vm_crashed\",\"host\":\"kvm%02d\","
                          "\"vm\":\"v%d\"}\n",
                          600 + i / 2, i % 12, i);
    /* what the incident KPIs rest on comes last and is only info */
    hvf_strbuf_puts(&ev, "{\"t_s\":950,\"type\":\"alert\",\"detail\":\"pager\"}\n"
                         "{\"t_s\":960,\"type\":\"decision\",\"detail\":\"halt\"}\n"
                         "{\"t_s\":990,\"type\":\"resolved\"}\n");
    /* 30 migrations in minute 0 and 2 in minute 1, one not converging */
    for (int i = 0; i < 30; i++)
        hvf_strbuf_printf(&ev, "{\"t_s\":%d.5,\"type\":\"migration_start\",\"vm\":\"m%d\"}\n", i,
                          i);
    hvf_strbuf_puts(&ev, "{\"t_s\":61,\"type\":\"migration_end\",\"converged\":false,"
                         "\"downtime_ms\":1500}\n{\"t_s\":62,\"type\":\"migration_end\","
                         "\"converged\":true,\"downtime_ms\":120}\n");
    hvf_strbuf_puts(&ev, "{\"t_s\":1000,\"type\":\"sim_end\"}\n");
    dir = make_run(good_summary, ev.buf, fleet, hosts_header);
    html = render_ok(dir);
    tl = timeline_of(html);
    assert_int_equal(count_substr(tl, "<tr class=\"sev-"), 200);
    /* every crash shown, grouped per host and minute: 12 hosts x 5 minutes */
    assert_int_equal(count_substr(tl, "<code>vm_crashed</code>"), 60);
    assert_int_equal(count_substr(tl, "<td>10 &times; vm_crashed on kvm00 in this minute: v0, v12, "
                                      "v24, v36, v48 and 5 more</td>"),
                     1);
    /* the KPIs' events are there though 100 earlier info rows are not */
    assert_non_null(strstr(tl, "<code>alert</code>"));
    assert_non_null(strstr(tl, "<code>decision</code>"));
    assert_non_null(strstr(tl, "<code>resolved</code>"));
    assert_int_equal(count_substr(tl, "<tr class=\"sev-warning\""), 100);
    /* 60 + 3 pinned, 100 warnings, 37 of the 104 other info rows (100 maintenance, start, end,
     * 2 minute counts) */
    assert_non_null(strstr(html, "67 more rows not shown (0 critical, 0 warning, 67 info)"));
    /* shown in time order */
    assert_true(strstr(tl, ">host_swap<") < strstr(tl, ">vm_crashed<"));
    assert_true(strstr(tl, ">vm_crashed<") < strstr(tl, ">decision<"));
    hvf_strbuf_clear(&ev);
    remove_run(dir);

    /* the per-minute counts themselves, when they fit */
    hvf_strbuf_puts(&ev, "{\"t_s\":0,\"type\":\"sim_start\"}\n");
    for (int i = 0; i < 30; i++)
        hvf_strbuf_printf(&ev, "{\"t_s\":%d.5,\"type\":\"migration_start\"}\n", i);
    hvf_strbuf_puts(&ev, "{\"t_s\":61,\"type\":\"migration_end\",\"converged\":false,"
                         "\"downtime_ms\":1500}\n{\"t_s\":62,\"type\":\"migration_end\","
                         "\"converged\":true,\"downtime_ms\":120}\n");
    dir = make_run(good_summary, ev.buf, fleet, hosts_header);
    free(html);
    free(tl);
    html = render_ok(dir);
    tl = timeline_of(html);
    assert_non_null(strstr(tl, "<td class=\"t\">0:00:00</td><td class=\"sev\">info</td><td>"
                               "<code>migrations</code></td><td></td><td></td><td>30 started, 0 "
                               "ended in this minute</td>"));
    assert_non_null(strstr(tl, "<td class=\"t\">0:01:00</td><td class=\"sev\">info</td><td>"
                               "<code>migrations</code></td><td></td><td></td><td>0 started, 2 "
                               "ended in this minute; 1 did not converge; longest downtime 1500 "
                               "ms</td>"));
    hvf_strbuf_clear(&ev);
    remove_run(dir);
}

/* ---------------------------------------------------------------- malformed runs */

typedef struct bad_case {
    const char *file; /* which file gets @content */
    const char *content;
    const char *want; /* expected message, after "<dir>/" */
} bad_case;

static void
test_malformed(void **state)
{
    HVF_AUTOFREE char *huge_event = NULL;
    HVF_AUTOFREE char *huge_csv = NULL;
    HVF_AUTOFREE char *fleet_ok = hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n", fleet_header);
    HVF_AUTOFREE char *hosts_ok = hvf_asprintf("%s0,h1,0.5,0.4,0,0,0,0,0,0,up\n", hosts_header);
    HVF_AUTOFREE char *fleet_nonnum =
        hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n30,2,x1,0,0,0,0,0,0,0\n", fleet_header);
    HVF_AUTOFREE char *fleet_trunc = hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n30,2,1,0", fleet_header);
    HVF_AUTOFREE char *hosts_notime =
        hvf_asprintf("%snan,h1,0.5,0.4,0,0,0,0,0,0,up\n", hosts_header);
    HVF_AUTOFREE char *hosts_nohost = hvf_asprintf("%s0,,0.5,0.4,0,0,0,0,0,0,up\n", hosts_header);
    bad_case cases[] = {
        {"summary.json", "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"se",
         "summary.json:1:53: premature end of input"},
        {"summary.json", "", "summary.json: empty file, expected a JSON object"},
        {"summary.json", "[1]", "summary.json: expected a JSON object at the top level"},
        {"summary.json", "{\"schema\":\"hvfleet.sim-summary/v2\",\"scenario\":\"x\",\"seed\":1}",
         "summary.json: field 'schema': expected \"hvfleet.sim-summary/v1\", found "
         "\"hvfleet.sim-summary/v2\""},
        {"summary.json",
         "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"seed\":\"1\"}",
         "summary.json: field 'seed': expected a whole number >= 0, found a string"},
        {"summary.json", "{\"schema\":\"hvfleet.sim-summary/v1\",\"seed\":1}",
         "summary.json: field 'scenario': expected a string, found nothing"},
        {"summary.json",
         "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"seed\":1,\"hosts\":-2}",
         "summary.json: field 'hosts': expected a whole number >= 0, found -2"},
        {"summary.json",
         "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"seed\":1,"
         "\"migrations\":{\"started\":\"many\"}}",
         "summary.json: field 'migrations.started': expected a number, found a string"},
        {"summary.json",
         "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"seed\":1,\"kpis\":"
         "{\"columns\":[\"a\",\"b\"],\"rows\":[{\"label\":\"l\",\"values\":[1]}]}}",
         "summary.json: field 'kpis.rows[0].values': expected an array of 2 values"},
        {"summary.json",
         "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"x\",\"seed\":1,\"seed\":2}",
         "summary.json:1:"},
        {"events.jsonl", "{\"t_s\":0,\"type\":\"\"}\n",
         "events.jsonl:1: field 'type': expected a non-empty string"},
        {"events.jsonl", "{\"t_s\":\"0\",\"type\":\"x\"}\n",
         "events.jsonl:1: field 't_s': expected a number of seconds"},
        {"events.jsonl", "{\"t_s\":0,\"type\":\"sim_start\"}\n{\"t_s\":5,\"ty", "events.jsonl:2:"},
        {"events.jsonl", "{\"type\":\"sim_start\"}\n",
         "events.jsonl:1: field 't_s': expected a number of seconds"},
        {"events.jsonl", "{\"t_s\":0,\"type\":\"sim_start\"}\n\n{\"t_s\":1,\"type\":7}\n",
         "events.jsonl:3: field 'type': expected a non-empty string"},
        {"events.jsonl", "{\"t_s\":0,\"type\":\"x\",\"host\":3}\n",
         "events.jsonl:1: field 'host': expected a string"},
        {"events.jsonl", "{\"t_s\":0,\"type\":\"x\",\"converged\":\"yes\"}\n",
         "events.jsonl:1: field 'converged': expected true or false"},
        {"events.jsonl", "[]\n", "events.jsonl:1: expected a JSON object"},
        {"events.jsonl", NULL, "events.jsonl:1: line is longer than 65536 bytes"},
        {"metrics-fleet.csv", "", "metrics-fleet.csv:1: empty file, expected a header line"},
        {"metrics-fleet.csv",
         "t_s,migrations_active,hosts_evacuating,hosts_over_committed,"
         "vms_crashed\n0,0,0,0,0\n",
         "metrics-fleet.csv:1: missing column 'hosts_down' in the header"},
        {"metrics-fleet.csv", fleet_nonnum,
         "metrics-fleet.csv:3:6: column 'hosts_evacuating': 'x1' is not a number"},
        {"metrics-fleet.csv", fleet_trunc,
         "metrics-fleet.csv:3: 4 fields, expected 10 as in the header (truncated line?)"},
        {"metrics-hosts.csv", "t_s,host,memory_ratio\n",
         "metrics-hosts.csv:1: missing column 'cpu_ratio' in the header"},
        {"metrics-hosts.csv", hosts_notime,
         "metrics-hosts.csv:2:1: column 't_s': expected a time in seconds"},
        {"metrics-hosts.csv", hosts_nohost,
         "metrics-hosts.csv:2:3: column 'host': expected a host name"},
        {"metrics-hosts.csv", NULL, "metrics-hosts.csv:2: line is longer than 65536 bytes"},
    };

    huge_event = hvf_calloc(HVF_RUN_MAX_EVENT_LINE + 100, 1);
    {
        static const char head[] = "{\"t_s\":0,\"type\":\"x\",\"detail\":\"";
        size_t h = sizeof(head) - 1;
        memcpy(huge_event, head, h);
        memset(huge_event + h, 'a', HVF_RUN_MAX_EVENT_LINE);
        memcpy(huge_event + h + HVF_RUN_MAX_EVENT_LINE, "\"}\n", 3);
    }
    huge_csv = hvf_asprintf("%s0,h1,%0*d\n", hosts_header, 70000, 1);

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        const bad_case *c = &cases[i];
        const char *content = c->content;
        char *dir;
        hvf_strbuf sb = HVF_STRBUF_INIT;
        hvf_error err = HVF_ERROR_INIT;
        HVF_AUTOFREE char *want = NULL;

        if (!content)
            content = strcmp(c->file, "events.jsonl") == 0 ? huge_event : huge_csv;
        dir = make_run(strcmp(c->file, "summary.json") == 0 ? content : good_summary,
                       strcmp(c->file, "events.jsonl") == 0 ? content : good_events,
                       strcmp(c->file, "metrics-fleet.csv") == 0 ? content : fleet_ok,
                       strcmp(c->file, "metrics-hosts.csv") == 0 ? content : hosts_ok);
        want = hvf_asprintf("%s/%s", dir, c->want);
        assert_int_equal(hvf_report_render_html(dir, &sb, &err), -1);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, want);
        assert_int_equal(err.code, HVF_ERR_INVALID);
        assert_null(strchr(err.msg, '\n'));
        assert_int_equal(sb.len, 0);
        /* a failed report leaves no report.html behind */
        assert_int_equal(hvf_report_write_html(dir, &err), -1);
        {
            HVF_AUTOFREE char *p = hvf_asprintf("%s/report.html", dir);
            struct stat st;
            assert_int_equal(stat(p, &st), -1);
        }
        remove_run(dir);
    }
}

/* Host rows by column name in any order; a host that is down is a gap, not an idle host. */
static void
test_hosts_loader(void **state)
{
    static const char in[] = "host,state,cpu_ratio,t_s,memory_ratio,io_util\n"
                             "b,active,0.5,0,0.9,0.1\n"
                             "a,active,0.4,0,0.7,\n"
                             "b,down,0,60,0,0\n"
                             "a,active,0.6,60,1.3,0.2\n";
    hvf_run *run = hvf_calloc(1, sizeof(*run));
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_run_parse_hosts("h.csv", in, sizeof(in) - 1, run, &err), 0);
    assert_int_equal(run->nhosts, 2);
    assert_string_equal(run->hosts[0].name, "b");
    assert_int_equal(run->hosts[0].n, 2);
    assert_float_equal(run->hosts[0].v[HVF_RUN_HOST_MEMORY_RATIO][0], 0.9, 0);
    assert_true(isnan(run->hosts[0].v[HVF_RUN_HOST_MEMORY_RATIO][1]));
    assert_true(isnan(run->hosts[0].v[HVF_RUN_HOST_CPU_RATIO][1]));
    assert_float_equal(run->hosts[0].peak[HVF_RUN_HOST_MEMORY_RATIO], 0.9, 0);
    assert_float_equal(run->hosts[1].peak[HVF_RUN_HOST_MEMORY_RATIO], 1.3, 0);
    assert_float_equal(run->hosts[1].peak[HVF_RUN_HOST_IO_UTIL], 0.2, 0);
    assert_true(isnan(run->hosts[1].v[HVF_RUN_HOST_IO_UTIL][0]));
    assert_float_equal(run->hosts[1].t_s[1], 60, 0);
    assert_null(run->hosts[0].v[HVF_RUN_HOST_SWAP_MIB]);
    hvf_run_free(run);
}

/* The twin writes an empty event log when recording events is off: that is a run, not an error. */
static void
test_empty_events(void **state)
{
    HVF_AUTOFREE char *fleet = hvf_asprintf("%s0,0,0,0,0,0,0,0,0,0\n", fleet_header);
    char *dir = make_run(good_summary, "", fleet, hosts_header);
    HVF_AUTOFREE char *html = render_ok(dir);

    assert_non_null(strstr(html, "No events were recorded in this run"));
    assert_null(strstr(html, "<table class=\"timeline\">"));
    remove_run(dir);
}

static void
test_missing(void **state)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    char *dir;

    assert_int_equal(hvf_report_render_html("/nonexistent/run", &sb, &err), -1);
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_string_equal(err.msg,
                        "cannot open run directory '/nonexistent/run': No such file or directory");
    assert_int_equal(hvf_report_render_html(FIXTURES "/minimal/summary.json", &sb, &err), -1);
    assert_non_null(strstr(err.msg, "is not a directory"));

    dir = make_run(good_summary, good_events, NULL, hosts_header);
    assert_int_equal(hvf_report_render_html(dir, &sb, &err), -1);
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_non_null(strstr(err.msg, "metrics-fleet.csv': No such file or directory"));
    assert_int_equal(sb.len, 0);
    remove_run(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_good),        cmocka_unit_test(test_csv_numbers),
        cmocka_unit_test(test_csv_bad),         cmocka_unit_test(test_fixture_cascade),
        cmocka_unit_test(test_fixture_minimal), cmocka_unit_test(test_write_html),
        cmocka_unit_test(test_hostile_strings), cmocka_unit_test(test_timeline_cap),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_hosts_loader),
        cmocka_unit_test(test_empty_events),    cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
