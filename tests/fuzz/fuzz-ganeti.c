/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for Ganeti htools text data: hvf_ganeti_parse on arbitrary bytes must fail with
 * one-line messages, or give a fleet within capacity whose inventory form loads, and whose Ganeti
 * form parses back to the same hosts and VMs and is a fixed point of format(parse(...)).
 * Needs tests/fuzz/fuzz.h and fuzz-replay.c, and 'ganeti' in fuzz_targets (tests/fuzz/meson.build).
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/inventory.h"

#define FUZZ_MAX_INPUT (1u << 20)

static void
check_failure(const hvf_diags *d, const hvf_error *err)
{
    if (err->code != HVF_ERR_INVALID || err->msg[0] == '\0')
        fuzz_fail("parse failed without an HVF_ERR_INVALID message");
    if (d->total == 0)
        fuzz_fail("parse failed (%s) without a diagnostic line", err->msg);
    for (size_t i = 0; i < d->n; i++) {
        if (strncmp(d->lines[i], "fuzz:", 5) != 0 || strchr(d->lines[i], '\n'))
            fuzz_fail("malformed diagnostic: %s", d->lines[i]);
    }
}

/* What the Ganeti form carries: names, placement, sizes, state, migratability, services. */
static const char *
fleet_diff(const hvf_fleet *a, const hvf_fleet *b)
{
    if (a->nhosts != b->nhosts || a->nvms != b->nvms || a->nservices != b->nservices ||
        a->nzones != b->nzones || a->nracks != b->nracks)
        return "number of zones, racks, hosts, VMs or services";
    for (size_t i = 0; i < a->nhosts; i++) {
        const hvf_host *x = &a->hosts[i], *y = &b->hosts[i];
        if (strcmp(x->name, y->name) != 0 || x->mem_mib != y->mem_mib ||
            x->reserved_mib != y->reserved_mib || x->cpus != y->cpus || x->state != y->state ||
            strcmp(a->racks[x->rack].name, b->racks[y->rack].name) != 0)
            return "host";
    }
    for (size_t i = 0; i < a->nvms; i++) {
        const hvf_vm *x = &a->vms[i], *y = &b->vms[i];
        if (strcmp(x->name, y->name) != 0 || x->host != y->host || x->mem_mib != y->mem_mib ||
            x->vcpus != y->vcpus || x->migratable != y->migratable || x->service != y->service)
            return "VM";
    }
    return NULL;
}

static hvf_fleet *
parse(const char *name, const char *buf, size_t len, hvf_diags *d, hvf_error *err)
{
    hvf_diags_init(d);
    return hvf_ganeti_parse(name, buf, len, d, err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf yaml = HVF_STRBUF_INIT, once = HVF_STRBUF_INIT, twice = HVF_STRBUF_INIT;
    const char *what;
    hvf_diags d;
    hvf_fleet *f, *g, *inv;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    f = parse("fuzz", (const char *)data, size, &d, &err);
    if (!f) {
        check_failure(&d, &err);
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_diags_clear(&d);
    if (hvf_fleet_check(f, false, &err) < 0)
        fuzz_fail("an imported fleet is over capacity or misaccounted: %s", err.msg);

    /* the inventory we would write loads */
    hvf_inventory_format(f, &yaml);
    hvf_diags_init(&d);
    inv = hvf_inventory_parse("imported.yaml", yaml.buf, yaml.len, &d, &err);
    if (!inv) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.lines[i]);
        fuzz_fail("the imported inventory does not load (%s):\n%s", err.msg, yaml.buf);
    }
    hvf_diags_clear(&d);

    /* export -> import keeps what the format carries, and export is then stable */
    hvf_ganeti_format(f, &once);
    g = parse("exported", once.buf, once.len, &d, &err);
    if (!g) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.lines[i]);
        fuzz_fail("the exported data does not parse (%s):\n%s", err.msg, once.buf);
    }
    if ((what = fleet_diff(f, g)) != NULL)
        fuzz_fail("import(export(fleet)) differs in: %s\n%s", what, once.buf);
    hvf_ganeti_format(g, &twice);
    if (strcmp(once.buf, twice.buf) != 0)
        fuzz_fail("export -> import -> export is not stable:\n--- first\n%s--- second\n%s",
                  once.buf, twice.buf);

    hvf_diags_clear(&d);
    hvf_strbuf_clear(&yaml);
    hvf_strbuf_clear(&once);
    hvf_strbuf_clear(&twice);
    hvf_fleet_free(f);
    hvf_fleet_free(g);
    hvf_fleet_free(inv);
    return 0;
}
