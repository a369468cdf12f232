/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for a run's record (hvfleet.execution/v1) as `hvfleet report` reads it: any
 * bytes parse or fail with one line naming the file, and what parses renders a page in which
 * no markup comes from the input.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "hvfleet/strbuf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf page = HVF_STRBUF_INIT;
    hvf_exec_record *r = hvf_exec_record_parse("record.json", (const char *)data, size, &err);

    if (!r) {
        fuzz_check_error("hvf_exec_record_parse", "record.json", &err);
        return 0;
    }
    hvf_exec_record_render_html(r, "record.json", &page);
    /* every '<' on the page is one the renderer wrote: the input's own are escaped */
    for (const char *p = strchr(page.buf, '<'); p; p = strchr(p + 1, '<')) {
        static const char *const tags[] = {"!DOCTYPE", "html", "head", "meta", "title", "style",
                                           "body", "h1", "h2", "p", "b", "table", "tr", "th",
                                           "td", "svg", "text", "rect", "/"};
        bool known = false;

        for (size_t i = 0; i < HVF_ARRAY_LEN(tags) && !known; i++)
            known = strncmp(p + 1, tags[i], strlen(tags[i])) == 0;
        if (!known)
            fuzz_fail("unexpected markup in the page: %.40s", p);
    }
    hvf_strbuf_clear(&page);
    hvf_exec_record_free(r);
    return 0;
}
