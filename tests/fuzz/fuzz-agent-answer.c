/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what hvfleet-agent reads from outside (src/agent/proto.c, results.c): the
 * controller's answer to a sync and the record DIR/results.json. Any bytes are either read or
 * refused with one line naming the answer (or the file); a command read has a printable id and
 * a type of letters and '_'; a record read formats and reads back to the same text.
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    fuzz_answer((const char *)data, size);
    fuzz_record((const char *)data, size);
    return 0;
}
