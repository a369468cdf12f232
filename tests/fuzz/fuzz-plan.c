/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for plan files: any input must be refused with a FILE:LINE message or read;
 * whatever is read must write back and read again to the same bytes and the same hash.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/plan.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    hvf_plan *p, *q;
    char h1[HVF_SHA256_HEX_LEN + 1], h2[HVF_SHA256_HEX_LEN + 1];

    hvf_diags_init(&d);
    p = hvf_plan_parse("fuzz.json", (const char *)data, size, &d, &err);
    if (!p) {
        if (err.msg[0] == '\0')
            fuzz_fail("plan refused without an error message");
        if (err.code == HVF_ERR_INVALID && d.n == 0)
            fuzz_fail("plan refused as invalid without a FILE:LINE message: %s", err.msg);
        for (size_t i = 0; i < d.n; i++) {
            if (strncmp(d.lines[i], "fuzz.json:", 10) != 0)
                fuzz_fail("message does not name the file: %s", d.lines[i]);
        }
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_plan_format(p, &a);
    q = hvf_plan_parse("again.json", a.buf, a.len, &d, &err);
    if (!q) {
        hvf_diags_print(&d, stderr);
        fuzz_fail("a plan that was read does not read again after writing: %s", err.msg);
    }
    hvf_plan_format(q, &b);
    if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
        fuzz_fail("writing a plan read back from its own output changed it");
    hvf_plan_compute_hash(p, h1);
    hvf_plan_compute_hash(q, h2);
    if (strcmp(h1, h2) != 0 || hvf_plan_hash_ok(p) != hvf_plan_hash_ok(q))
        fuzz_fail("the hash changed across a round trip: %s, %s", h1, h2);
    hvf_plan_free(p);
    hvf_plan_free(q);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_diags_clear(&d);
    return 0;
}
