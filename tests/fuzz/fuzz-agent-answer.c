/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what hvfleet-agent reads from outside (src/agent/proto.c, results.c): the
 * controller's answer to a sync, the record DIR/results.json and the fence record
 * DIR/fenced.json (fence.c). Any bytes are either read or refused with one line naming the
 * answer (or the file); a command read has a printable id and a type of letters and '_'; a
 * record read formats and reads back to the same text; a fence record read has its four fields.
 */
#include <string.h>

#include "agent/agent.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

#define FUZZ_MAX_INPUT (1 << 20)

static void
fuzz_answer(const char *text, size_t size)
{
    hvf_agent_answer a;
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_agent_answer_parse(text, size, &a, &err) < 0) {
        fuzz_check_error("answer", "controller answer", &err);
        if (a.n_cmds || a.session)
            fuzz_fail("a refused answer left commands or a session");
        return;
    }
    for (size_t i = 0; i < a.n_cmds; i++) {
        const hvf_agent_cmd *c = a.cmds[i];

        if (!c->id[0] || strpbrk(c->id, " \t\r\n\"\\") || !c->type[0] ||
            strspn(c->type, "abcdefghijklmnopqrstuvwxyz_") != strlen(c->type) ||
            !json_is_object(c->args) || c->seq < 0)
            fuzz_fail("command %zu read with a bad id, type, args or seq", i);
    }
    hvf_agent_answer_clear(&a);
    free(hvf_agent_error_code(text, size));
}

static void
fuzz_record(const char *text, size_t size)
{
    hvf_agent_results r, r2;
    hvf_error err = HVF_ERROR_INIT;
    char *once, *twice;

    if (hvf_agent_results_load(&r, NULL, 16, 16, &err) < 0)
        fuzz_fail("an empty record does not load");
    if (hvf_agent_results_parse(&r, "results.json", text, size, &err) < 0) {
        fuzz_check_error("record", "results.json", &err);
        hvf_agent_results_clear(&r);
        return;
    }
    once = hvf_agent_results_format(&r);
    if (hvf_agent_results_load(&r2, NULL, 16, 16, &err) < 0 ||
        hvf_agent_results_parse(&r2, "again", once, strlen(once), &err) < 0)
        fuzz_fail("a record read does not read back: %s", err.msg);
    twice = hvf_agent_results_format(&r2);
    if (strcmp(once, twice) != 0)
        fuzz_fail("a record read does not format back the same");
    free(once);
    free(twice);
    hvf_agent_results_clear(&r);
    hvf_agent_results_clear(&r2);
}

static void
fuzz_fence(const char *text, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    json_t *f = hvf_agent_fence_parse("fenced.json", text, size, &err);
    size_t i;
    json_t *v;

    if (!f) {
        fuzz_check_error("fence", "fenced.json", &err);
        return;
    }
    if (!json_is_integer(json_object_get(f, "at_unix")) ||
        !json_is_string(json_object_get(f, "boot_id")) ||
        !json_is_integer(json_object_get(f, "fence_after_ms")) ||
        !json_is_array(json_object_get(f, "vms")))
        fuzz_fail("a fence record read without its fields");
    json_array_foreach(json_object_get(f, "vms"), i, v) {
        if (!json_is_string(v))
            fuzz_fail("a fence record read with a VM that is no name");
    }
    json_decref(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    fuzz_answer((const char *)data, size);
    fuzz_record((const char *)data, size);
    fuzz_fence((const char *)data, size);
    return 0;
}
