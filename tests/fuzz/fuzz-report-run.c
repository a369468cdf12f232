/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the report's JSON readers (summary.json, events.jsonl, run.json) and the
 * sections built from them: any bytes must parse or fail with a one-line message naming the
 * file, and what parses must render. Input text never reaches the page unescaped: the page
 * holds no "<x" tag that the report itself does not write.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "report/run.h"
#include "report/sections.h"

static const char default_summary[] =
    "{\"schema\":\"hvfleet.sim-summary/v1\",\"scenario\":\"f\",\"seed\":1}";

/* Tags the report writes; anything else after '<' came from the input unescaped. */
static void
check_tags(const char *html)
{
    static const char *const tags[] = {"section", "h2",         "h3",    "table", "thead", "tbody",
                                       "tr",      "th",         "td",    "p",     "code",  "em",
                                       "figure",  "figcaption", "svg",   "title", "rect",  "text",
                                       "line",    "path",       "circle"};

    for (const char *p = strchr(html, '<'); p; p = strchr(p + 1, '<')) {
        const char *name = p[1] == '/' ? p + 2 : p + 1;
        size_t n = 0;
        bool known = false;
        while (isalnum((unsigned char)name[n]))
            n++;
        for (size_t i = 0; i < HVF_ARRAY_LEN(tags) && !known; i++)
            known = strlen(tags[i]) == n && strncmp(name, tags[i], n) == 0;
        if (!known)
            fuzz_fail("unexpected markup in the page: %.40s", p);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_run *run = hvf_calloc(1, sizeof(*run));
    hvf_strbuf sb = HVF_STRBUF_INIT;

    run->summary = hvf_run_parse_summary("s.json", (const char *)data, size, &err);
    if (!run->summary) {
        fuzz_check_error("hvf_run_parse_summary", "s.json", &err);
        run->summary =
            hvf_run_parse_summary("d.json", default_summary, sizeof(default_summary) - 1, &err);
        if (!run->summary)
            fuzz_fail("the default summary does not parse: %s", err.msg);
    }
    hvf_error_clear(&err);
    if (hvf_run_parse_events("e.jsonl", (const char *)data, size, run, &err) < 0) {
        fuzz_check_error("hvf_run_parse_events", "e.jsonl", &err);
        if (run->nevents != 0)
            fuzz_fail("failed events parse left %zu events", run->nevents);
    }
    {
        /* run.json: parses or fails with one line naming it, never anything else */
        hvf_run_manifest m;
        hvf_error_clear(&err);
        if (hvf_run_parse_manifest("run.json", (const char *)data, size, &m, &err) < 0)
            fuzz_check_error("hvf_run_parse_manifest", "run.json", &err);
        else if (strlen(m.run_id) != 16 || strlen(m.sha256[0]) != 64)
            fuzz_fail("a manifest parsed with run id '%s'", m.run_id);
    }
    hvf_report_summary(&sb, run);
    hvf_report_kpis(&sb, run);
    hvf_report_charts(&sb, run);
    hvf_report_timeline(&sb, run);
    check_tags(sb.buf);
    hvf_strbuf_clear(&sb);
    hvf_run_free(run);
    return 0;
}
