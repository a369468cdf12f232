/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for change files (hvfleet.change/v1): hvf_change_parse on arbitrary bytes
 * must fail with one-line messages, or give a change whose file form is a fixed point of
 * format(parse(...)); a change that parses is also planned on a small built-in fleet, and the
 * plan must hold every unit exactly once, a canary covering every variant (rolling), waves
 * within their cap, and a JSON form that parses.
 * Needs tests/fuzz/fuzz.h and fuzz-replay.c, and 'change' in fuzz_targets (tests/fuzz/meson.build).
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/inventory.h"

/* Inputs above this only slow the fuzzer down; the parser's own limit is far larger. */
#define FUZZ_MAX_INPUT (1u << 20)

/* Two racks, two kernels, two hardware generations, tags and a service with replicas. */
static const char fuzz_inventory[] =
    "services: [{name: web, min_available: 2}, {name: db, min_available: 1}]\n"
    "hosts:\n"
    "  - {name: a1, rack: r1, cpus: 8, memory: 32GiB, kernel: '4.4', hw: g1, tags: [storage]}\n"
    "  - {name: a2, rack: r1, cpus: 8, memory: 32GiB, kernel: '4.4', hw: g1, tags: [compute]}\n"
    "  - {name: a3, rack: r1, cpus: 8, memory: 32GiB, kernel: '4.15', hw: g2, tags: [storage, "
    "x=1]}\n"
    "  - {name: b1, rack: r2, cpus: 8, memory: 32GiB, kernel: '4.4', hw: g1, tags: [compute]}\n"
    "  - {name: b2, rack: r2, cpus: 8, memory: 32GiB, kernel: '5.10', hw: g2}\n"
    "  - {name: b3, zone: z2, rack: r3, cpus: 8, memory: 32GiB, kernel: '4.15', hw: g3}\n"
    "vms:\n"
    "  - {name: w1, host: a1, vcpus: 1, memory: 1GiB, service: web}\n"
    "  - {name: w2, host: a2, vcpus: 1, memory: 1GiB, service: web}\n"
    "  - {name: w3, host: b1, vcpus: 1, memory: 1GiB, service: web}\n"
    "  - {name: d1, host: b2, vcpus: 1, memory: 1GiB, service: db}\n"
    "  - {name: d2, host: b2, vcpus: 1, memory: 1GiB, service: db}\n";

static void
fuzz_check(bool ok, const char *what)
{
    if (!ok)
        fuzz_fail("%s", what);
}

static void
fuzz_plan(const hvf_fleet *f, const hvf_change *c, bool as_written)
{
    hvf_change_plan_opts o = {{2, 1, 0}, as_written};
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan *p = hvf_change_plan_build(f, c, &o, &err);
    HVF_AUTOFREE int *seen = NULL;
    hvf_strbuf js = HVF_STRBUF_INIT;
    hvf_policy pol;
    json_t *back;

    if (!p) {
        fuzz_check(err.code == HVF_ERR_NOT_FOUND || err.code == HVF_ERR_INVALID,
                   "a plan failed with an unexpected error code");
        fuzz_check(err.msg[0] && !strchr(err.msg, '\n'), "a plan failed without a one-line why");
        return;
    }
    seen = hvf_calloc(p->nunits + 1, sizeof(int));
    for (size_t w = 0; w < p->nwaves; w++) {
        fuzz_check(p->waves[w].nunits > 0, "an empty wave");
        fuzz_check(p->waves[w].nunits <= p->wave_cap ||
                       c->strategy == HVF_CHANGE_STRATEGY_ALL_AT_ONCE || (p->waves[w].nunits == 1),
                   "a wave above its cap");
        for (size_t i = 0; i < p->waves[w].nunits; i++) {
            fuzz_check(p->waves[w].units[i] < p->nunits, "a wave names no unit");
            seen[p->waves[w].units[i]]++;
        }
    }
    for (size_t u = 0; u < p->nunits; u++)
        fuzz_check(seen[u] == 1, "a unit not in exactly one wave");
    if (!as_written && c->strategy == HVF_CHANGE_STRATEGY_ROLLING)
        fuzz_check(p->nuncovered == 0, "a canary that misses a variant");
    hvf_policy_default(&pol);
    hvf_change_plan_evaluate(p, &pol, f, false);
    fuzz_check(strlen(p->plan_hash) == HVF_SHA256_HEX_LEN, "no plan hash");
    hvf_change_plan_format_json(p, &js);
    back = json_loadb(js.buf, js.len, 0, NULL);
    fuzz_check(back != NULL, "the plan's JSON does not parse");
    json_decref(back);
    hvf_strbuf_clear(&js);
    hvf_change_plan_format_text(p, &js);
    hvf_strbuf_clear(&js);
    hvf_change_plan_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hvf_fleet *fleet;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    hvf_change *c, *c2;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (!fleet) {
        hvf_diags_init(&d);
        fleet = hvf_inventory_parse("fleet", fuzz_inventory, strlen(fuzz_inventory), &d, &err);
        hvf_diags_clear(&d);
        fuzz_check(fleet != NULL, "the built-in fleet does not parse");
    }
    hvf_diags_init(&d);
    c = hvf_change_parse("fuzz", (const char *)data, size, &d, &err);
    if (!c) {
        fuzz_check(err.code != HVF_ERR_OK && err.msg[0], "parse failed without an error");
        fuzz_check(d.total > 0, "parse failed without a diagnostic line");
        for (size_t i = 0; i < d.n; i++)
            fuzz_check(strncmp(d.lines[i], "fuzz:", 5) == 0 && !strchr(d.lines[i], '\n'),
                       "a diagnostic that is not one 'fuzz:LINE: ...' line");
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_diags_clear(&d);
    hvf_change_format(c, &a);
    hvf_diags_init(&d);
    c2 = hvf_change_parse("formatted", a.buf, a.len, &d, &err);
    if (!c2) {
        hvf_diags_print(&d, stderr);
        fprintf(stderr, "%s", a.buf);
        fuzz_check(false, "the formatted change does not parse");
    }
    hvf_diags_clear(&d);
    hvf_change_format(c2, &b);
    fuzz_check(strcmp(a.buf, b.buf) == 0, "format -> parse -> format is not stable");
    fuzz_plan(fleet, c, false);
    fuzz_plan(fleet, c, true);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_change_free(c);
    hvf_change_free(c2);
    return 0;
}
