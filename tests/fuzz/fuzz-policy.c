/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for policy files: any bytes must parse, or fail with an error and FILE:LINE
 * messages; what parses must format to a file that parses back to the same text (format is the
 * documented inverse of parse).
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/policy.h"
#include "hvfleet/strbuf.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_policy p, q;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;

    if (size > 1 << 16)
        return 0;
    hvf_diags_init(&diags);
    if (hvf_policy_parse("fuzz.yaml", (const char *)data, size, &p, &diags, &err) < 0) {
        if (err.msg[0] == '\0')
            fuzz_fail("policy refused without an error message");
        if (err.code == HVF_ERR_INVALID && diags.n == 0)
            fuzz_fail("policy refused as invalid without a FILE:LINE message: %s", err.msg);
        for (size_t i = 0; i < diags.n; i++) {
            if (strncmp(diags.lines[i], "fuzz.yaml:", 10) != 0)
                fuzz_fail("message does not name the file: %s", diags.lines[i]);
        }
        hvf_diags_clear(&diags);
        return 0;
    }
    hvf_diags_clear(&diags);
    hvf_policy_format(&p, &a);
    hvf_diags_init(&diags);
    if (hvf_policy_parse("again.yaml", a.buf, a.len, &q, &diags, &err) < 0)
        fuzz_fail("formatted policy does not parse: %s\n%s", diags.n ? diags.lines[0] : err.msg,
                  a.buf);
    hvf_policy_format(&q, &b);
    if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
        fuzz_fail("policy format is not stable:\n%s\n---\n%s", a.buf, b.buf);
    hvf_diags_clear(&diags);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    return 0;
}
