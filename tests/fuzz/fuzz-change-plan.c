/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for change plan files: any input must be refused with FILE:LINE messages or
 * read; what is read has a recomputed hash, a verdict in range and waves that agree with the
 * number of units.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/change-plan-file.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan_file *p;
    size_t units = 0;

    hvf_diags_init(&d);
    p = hvf_change_plan_file_parse("fuzz.json", (const char *)data, size, &d, &err);
    if (!p) {
        if (err.msg[0] == '\0')
            fuzz_fail("change plan refused without an error message");
        if (err.code == HVF_ERR_INVALID && d.n == 0)
            fuzz_fail("change plan refused as invalid without a FILE:LINE message: %s", err.msg);
        for (size_t i = 0; i < d.n; i++) {
            if (strncmp(d.lines[i], "fuzz.json:", 10) != 0)
                fuzz_fail("message does not name the file: %s", d.lines[i]);
        }
        hvf_diags_clear(&d);
        return 0;
    }
    if (strlen(p->content_hash) != HVF_SHA256_HEX_LEN)
        fuzz_fail("no content hash for a plan that was read");
    if ((int)p->verdict < 0 || p->verdict > HVF_PLAN_VERDICT_REFUSED)
        fuzz_fail("verdict out of range: %d", (int)p->verdict);
    for (size_t w = 0; w < p->nwaves; w++)
        units += p->waves[w].nunits;
    if (units != p->nunits)
        fuzz_fail("targets.units %zu but %zu units in the waves", p->nunits, units);
    hvf_change_plan_file_free(p);
    hvf_diags_clear(&d);
    return 0;
}
