/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for replay files (hvfleet.replay/v1): hvf_replay_parse on arbitrary bytes
 * must fail with one-line messages naming the input, or give a replay whose written form reads
 * back to the same replay and the same text.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/replay.h"

/* Inputs above this only slow the fuzzer down; the reader's own limit is far larger. */
#define FUZZ_MAX_INPUT (1u << 20)

static void
check_failure(const hvf_diags *d, const hvf_error *err, const char *name)
{
    if (err->code == HVF_ERR_OK || err->msg[0] == '\0')
        fuzz_fail("parse failed without an error");
    if (d->total == 0)
        fuzz_fail("parse failed (%s) without a diagnostic line", err->msg);
    for (size_t i = 0; i < d->n; i++) {
        if (strncmp(d->lines[i], name, strlen(name)) != 0 || strchr(d->lines[i], '\n'))
            fuzz_fail("malformed diagnostic: %s", d->lines[i]);
    }
}

static bool
str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const char *
replay_diff(const hvf_replay *a, const hvf_replay *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->seed, b->seed) || !str_eq(a->title, b->title) ||
        !str_eq(a->event_type, b->event_type))
        return "name, seed, title or event_type";
    if (a->has_sim_seed != b->has_sim_seed || a->sim_seed != b->sim_seed)
        return "sim_seed";
    if (a->nvariants != b->nvariants)
        return "number of variants";
    for (size_t i = 0; i < a->nvariants; i++) {
        if (!str_eq(a->variants[i].label, b->variants[i].label) ||
            !str_eq(a->variants[i].scenario, b->variants[i].scenario) ||
            !str_eq(a->variants[i].dir, b->variants[i].dir))
            return "a variant";
    }
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf one = HVF_STRBUF_INIT, two = HVF_STRBUF_INIT;
    hvf_replay *rp, *back;
    const char *diff;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    hvf_diags_init(&d);
    rp = hvf_replay_parse("fuzz.yaml", (const char *)data, size, NULL, &d, &err);
    if (!rp) {
        check_failure(&d, &err, "fuzz");
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_replay_format(rp, &one);
    hvf_diags_clear(&d);
    hvf_diags_init(&d);
    back = hvf_replay_parse("again.yaml", one.buf, one.len, NULL, &d, &err);
    if (!back)
        fuzz_fail("the written replay does not read back: %s (%s)", d.n ? d.lines[0] : "", err.msg);
    if ((diff = replay_diff(rp, back)) != NULL)
        fuzz_fail("the written replay reads back with another %s", diff);
    hvf_replay_format(back, &two);
    if (strcmp(one.buf, two.buf) != 0)
        fuzz_fail("writing is not a fixed point:\n%s\n---\n%s", one.buf, two.buf);
    hvf_strbuf_clear(&one);
    hvf_strbuf_clear(&two);
    hvf_replay_free(back);
    hvf_replay_free(rp);
    hvf_diags_clear(&d);
    return 0;
}
