/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the monitoring keys of hvfleetd.yaml (hvfleet/watchers.h): any bytes must
 * parse or fail with an error and FILE:LINE messages; what parses has a host for every URL, and
 * formats to a file that parses back to the same watchers.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/watchers.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_watchers w, v;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;

    if (size > 1 << 16)
        return 0;
    hvf_diags_init(&diags);
    if (hvf_watchers_parse("fuzz.yaml", (const char *)data, size, &w, &diags, &err) < 0) {
        if (err.msg[0] == '\0')
            fuzz_fail("watchers refused without an error message");
        if (err.code == HVF_ERR_INVALID && diags.n == 0)
            fuzz_fail("watchers refused as invalid without a FILE:LINE message: %s", err.msg);
        for (size_t i = 0; i < diags.n; i++)
            if (strncmp(diags.lines[i], "fuzz.yaml:", 10) != 0)
                fuzz_fail("message does not name the file: %s", diags.lines[i]);
        if (w.n != 0)
            fuzz_fail("watchers left behind after a failure");
        hvf_diags_clear(&diags);
        return 0;
    }
    hvf_diags_clear(&diags);
    for (size_t i = 0; i < w.n; i++) {
        char host[256];

        if (!w.v[i].host[0] || !hvf_watcher_url_host(w.v[i].url, host, sizeof(host)) ||
            strcmp(host, w.v[i].host) != 0)
            fuzz_fail("watcher '%s' without its host", w.v[i].url);
    }
    hvf_watchers_format(&w, &a);
    hvf_diags_init(&diags);
    if (hvf_watchers_parse("again.yaml", a.buf ? a.buf : "", a.len, &v, &diags, &err) < 0)
        fuzz_fail("formatted watchers do not parse: %s\n%s", diags.n ? diags.lines[0] : err.msg,
                  a.buf ? a.buf : "");
    hvf_watchers_format(&v, &b);
    if (a.len != b.len || (a.len && memcmp(a.buf, b.buf, a.len) != 0) || v.n != w.n)
        fuzz_fail("watchers format is not stable:\n%s\n---\n%s", a.buf ? a.buf : "",
                  b.buf ? b.buf : "");
    hvf_diags_clear(&diags);
    hvf_watchers_clear(&w);
    hvf_watchers_clear(&v);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    return 0;
}
