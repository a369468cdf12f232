/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for inventory files: hvf_inventory_parse on arbitrary bytes must fail with
 * messages or give a fleet whose canonical form is a fixed point of format(parse(...)).
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"

/* Inputs above this only slow the fuzzer down; the parser's own limit is far larger. */
#define FUZZ_MAX_INPUT (1u << 20)

/* Every message is one line naming the input, and a failure always says why. */
static void
check_failure(const hvf_diags *d, const hvf_error *err)
{
    if (err->code == HVF_ERR_OK || err->msg[0] == '\0')
        fuzz_fail("parse failed without an error");
    if (d->total == 0)
        fuzz_fail("parse failed (%s) without a diagnostic line", err->msg);
    if (d->n > d->total || d->n > HVF_DIAGS_MAX_DEFAULT)
        fuzz_fail("%zu lines kept of %zu problems", d->n, d->total);
    for (size_t i = 0; i < d->n; i++) {
        if (strncmp(d->lines[i], "fuzz:", 5) != 0 || strchr(d->lines[i], '\n'))
            fuzz_fail("malformed diagnostic: %s", d->lines[i]);
    }
}

static bool
str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * hvf_inventory_format promises that parsing its output gives the same fleet: compare every
 * field, since equal texts alone would not catch a value the writer drops or rounds.
 */
static const char *
fleet_diff(const hvf_fleet *a, const hvf_fleet *b)
{
    if (a->nhosts != b->nhosts || a->nvms != b->nvms || a->nservices != b->nservices)
        return "number of hosts, VMs or services";
    for (size_t i = 0; i < a->nhosts; i++) {
        const hvf_host *x = &a->hosts[i], *y = &b->hosts[i];
        if (!str_eq(x->name, y->name) || !str_eq(a->zones[x->zone].name, b->zones[y->zone].name) ||
            !str_eq(a->racks[x->rack].name, b->racks[y->rack].name))
            return "host name, zone or rack";
        if (x->cpus != y->cpus || x->mem_mib != y->mem_mib || x->reserved_mib != y->reserved_mib ||
            x->state != y->state)
            return "host cpus, memory, reserved_memory or state";
        if (x->nic_bytes_per_s != y->nic_bytes_per_s ||
            x->cpu_allocation_ratio != y->cpu_allocation_ratio ||
            x->ram_allocation_ratio != y->ram_allocation_ratio)
            return "host nic or allocation ratios";
        if (!str_eq(x->kernel, y->kernel) || !str_eq(x->hw, y->hw) || x->ntags != y->ntags)
            return "host kernel, hw or tags";
        for (size_t t = 0; t < x->ntags; t++) {
            if (!str_eq(x->tags[t], y->tags[t]))
                return "host tags";
        }
        if (x->nnics != y->nnics)
            return "host nics";
        for (size_t k = 0; k < x->nnics; k++) {
            if (strcmp(x->nics[k].name, y->nics[k].name) != 0 ||
                strcmp(x->nics[k].mac, y->nics[k].mac) != 0)
                return "host nics";
        }
        if (x->used.mem_mib != y->used.mem_mib || x->used.vcpus != y->used.vcpus)
            return "host accounting";
    }
    for (size_t i = 0; i < a->nvms; i++) {
        const hvf_vm *x = &a->vms[i], *y = &b->vms[i];
        if (!str_eq(x->name, y->name) || x->host != y->host || x->service != y->service)
            return "VM name, host or service";
        if (x->vcpus != y->vcpus || x->mem_mib != y->mem_mib ||
            x->working_set_mib != y->working_set_mib || x->migratable != y->migratable)
            return "VM vcpus, memory, working_set or migratable";
        if (x->dirty_bytes_per_s != y->dirty_bytes_per_s || x->cpu_load != y->cpu_load)
            return "VM dirty_rate or cpu_load";
    }
    for (size_t i = 0; i < a->nservices; i++) {
        const hvf_service *x = &a->services[i], *y = &b->services[i];
        if (!str_eq(x->name, y->name) || x->critical != y->critical ||
            x->min_available != y->min_available || x->spread != y->spread)
            return "service";
        for (int k = 0; k < HVF_SERVICE_REL_LAST; k++) {
            if (x->nrel[k] != y->nrel[k] ||
                (x->nrel[k] && memcmp(x->rel[k], y->rel[k], x->nrel[k] * sizeof(int32_t)) != 0))
                return "service depends_on or must_not_share";
        }
    }
    return NULL;
}

static hvf_fleet *
parse(const char *name, const char *buf, size_t len, hvf_diags *d, hvf_error *err)
{
    hvf_diags_init(d);
    return hvf_inventory_parse(name, buf, len, d, err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf once = HVF_STRBUF_INIT, twice = HVF_STRBUF_INIT;
    const char *what;
    hvf_diags d;
    hvf_fleet *f, *g;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    f = parse("fuzz", (const char *)data, size, &d, &err);
    if (!f) {
        check_failure(&d, &err);
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_diags_clear(&d);
    if (hvf_fleet_check(f, true, &err) < 0)
        fuzz_fail("accounting of a parsed fleet is wrong: %s", err.msg);

    hvf_inventory_format(f, &once);
    g = parse("formatted", once.buf, once.len, &d, &err);
    if (!g) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.lines[i]);
        fuzz_fail("the formatted inventory does not parse (%s):\n%s", err.msg, once.buf);
    }
    if ((what = fleet_diff(f, g)) != NULL)
        fuzz_fail("parse(format(fleet)) differs from the fleet in: %s\n%s", what, once.buf);
    hvf_inventory_format(g, &twice);
    if (strcmp(once.buf, twice.buf) != 0)
        fuzz_fail("format -> parse -> format is not stable:\n--- first\n%s--- second\n%s", once.buf,
                  twice.buf);

    hvf_diags_clear(&d);
    hvf_strbuf_clear(&once);
    hvf_strbuf_clear(&twice);
    hvf_fleet_free(f);
    hvf_fleet_free(g);
    return 0;
}
