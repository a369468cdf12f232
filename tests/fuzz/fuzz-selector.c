/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for host selector expressions (hvf_scenario_select): any bytes, as a C
 * string, against a small fleet with a rack name in two zones. Each input must select hosts
 * or fail with a message; what the syntax check refuses, the resolver refuses as invalid; a
 * selection holds valid indexes, each once, and comes out the same twice.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/inventory.h"
#include "hvfleet/scenario.h"

#define FUZZ_MAX_INPUT 4096

static const char fuzz_inventory[] =
    "hosts:\n"
    "  - {name: a1, zone: z1, rack: r01, cpus: 8, memory: 64GiB, tags: [gpu]}\n"
    "  - {name: a2, zone: z1, rack: r02, cpus: 8, memory: 64GiB}\n"
    "  - {name: b1, zone: z2, rack: r01, cpus: 8, memory: 64GiB, tags: [gpu, ssd]}\n"
    "  - {name: b2, zone: z2, rack: r03, cpus: 8, memory: 64GiB, state: maintenance}\n";

static hvf_fleet *
fuzz_fleet(void)
{
    static hvf_fleet *f;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;

    if (f)
        return f;
    hvf_diags_init(&d);
    f = hvf_inventory_parse("fuzz.yaml", fuzz_inventory, strlen(fuzz_inventory), &d, &err);
    hvf_diags_clear(&d);
    if (!f)
        fuzz_fail("the fuzz inventory does not parse: %s", err.msg);
    return f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const hvf_fleet *f = fuzz_fleet();
    char s[FUZZ_MAX_INPUT + 1];
    hvf_error cerr = HVF_ERROR_INIT, err = HVF_ERROR_INIT, err2 = HVF_ERROR_INIT;
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int check, rc, rc2;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check = hvf_scenario_selector_check(s, &cerr);
    rc = hvf_scenario_select(f, s, size % 2 ? HVF_SELECT_ACTIVE_GROUPS : 0, &a, &na, &err);
    rc2 = hvf_scenario_select(f, s, size % 2 ? HVF_SELECT_ACTIVE_GROUPS : 0, &b, &nb, &err2);
    if (check < 0 && (cerr.msg[0] == '\0' || cerr.code != HVF_ERR_INVALID))
        fuzz_fail("'%s': syntax refused without an invalid-input message", s);
    if (check < 0 && (rc == 0 || err.code != HVF_ERR_INVALID))
        fuzz_fail("'%s': refused by the syntax check (%s) but resolved (%d, %s)", s, cerr.msg, rc,
                  err.msg);
    if (rc < 0 && (err.msg[0] == '\0' || na != 0))
        fuzz_fail("'%s': failed without a message, or with hosts", s);
    if (rc != rc2 || na != nb || (na && memcmp(a, b, na * sizeof(int32_t)) != 0))
        fuzz_fail("'%s': two runs differ", s);
    for (size_t i = 0; i < na; i++) {
        if (a[i] < 0 || (size_t)a[i] >= f->nhosts)
            fuzz_fail("'%s': host index %d out of range", s, (int)a[i]);
        for (size_t j = 0; j < i; j++) {
            if (a[j] == a[i])
                fuzz_fail("'%s': host %s selected twice", s, f->hosts[a[i]].name);
        }
    }
    free(a);
    free(b);
    return 0;
}
