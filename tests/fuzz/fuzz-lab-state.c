/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for a lab's record, DIR/lab.json, as `hvfleet lab down` reads it
 * (src/cli/lab-state.c): any bytes parse or fail with one line naming the file; what parses
 * names only what its id derives (so down can delete nothing else), and formats back to a
 * record that parses to the same text.
 */
#include <stdio.h>
#include <string.h>

#include "cli/lab.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_lab *lab = hvf_lab_parse("lab.json", (const char *)data, size, &err);
    hvf_lab *again;
    char *text, *text2;
    char want[32];

    if (!lab) {
        fuzz_check_error("hvf_lab_parse", "lab.json", &err);
        return 0;
    }
    snprintf(want, sizeof(want), "hvl%sbr", lab->id);
    if (strcmp(lab->bridge, want) != 0 || strlen(lab->bridge) > 15)
        fuzz_fail("bridge '%s' is not the one id %s derives", lab->bridge, lab->id);
    for (size_t i = 0; i < lab->nhosts; i++) {
        snprintf(want, sizeof(want), "hvl%sh%zu", lab->id, i + 1);
        if (strcmp(lab->hosts[i].veth, want) != 0 || strlen(lab->hosts[i].veth) > 15)
            fuzz_fail("veth '%s' is not the one id %s derives", lab->hosts[i].veth, lab->id);
        snprintf(want, sizeof(want), "hvl%s-h%zu", lab->id, i + 1);
        if (strcmp(lab->hosts[i].netns, want) != 0)
            fuzz_fail("netns '%s' is not the one id %s derives", lab->hosts[i].netns, lab->id);
    }
    for (size_t i = 0; i < lab->nprocs; i++) {
        if (lab->procs[i].pid <= 1)
            fuzz_fail("process %zu has pid %d", i, lab->procs[i].pid);
    }
    text = hvf_lab_format(lab);
    again = hvf_lab_parse("lab.json", text, strlen(text), &err);
    if (!again)
        fuzz_fail("a formatted record does not parse: %s", err.msg);
    text2 = hvf_lab_format(again);
    if (strcmp(text, text2) != 0)
        fuzz_fail("the record's round trip is not stable:\n%s\n%s", text, text2);
    free(text);
    free(text2);
    hvf_lab_free(again);
    hvf_lab_free(lab);
    return 0;
}
