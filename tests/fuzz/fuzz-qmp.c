/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the QMP message parser: any bytes in, a message or a one-line error out;
 * what parses reads as a query-migrate reply without harm, and parse -> format -> parse is stable
 * (same kind, same id, same JSON).
 */
#include <string.h>

#include "driver/qemu/qemu-migrate.h"
#include "driver/qemu/qmp.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_qmp_msg m;
    hvf_qmp_msg again;
    hvf_error err = HVF_ERROR_INIT;
    char *text;

    if (hvf_qmp_parse((const char *)data, size, &m, &err) < 0) {
        if (err.code != HVF_ERR_IO || err.msg[0] == 0 || strchr(err.msg, '\n'))
            fuzz_fail("refusal without a one-line message: '%s'", err.msg);
        return 0;
    }
    if (!m.root || (unsigned)m.kind >= HVF_QMP_MSG_LAST)
        fuzz_fail("parsed without a root or a kind");
    if (m.kind == HVF_QMP_MSG_ERROR && (!m.err_class || !m.err_desc))
        fuzz_fail("error reply without class or description");
    if (m.kind == HVF_QMP_MSG_EVENT && !m.event)
        fuzz_fail("event without a name");
    if (m.kind == HVF_QMP_MSG_RETURN) {
        /* the migration code reads any reply: it must cope with every shape */
        hvf_qemu_migrate_sample s;
        hvf_qemu_migrate_read_sample(m.value, &s);
        if (s.status[sizeof(s.status) - 1] != 0 || s.throttle_pct < 0 || s.throttle_pct > 100)
            fuzz_fail("query-migrate sample out of range");
    }

    text = json_dumps(m.root, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        fuzz_fail("cannot format a parsed message");
    if (hvf_qmp_parse(text, strlen(text), &again, &err) < 0)
        fuzz_fail("formatted message does not parse: %s", err.msg);
    if (again.kind != m.kind || (m.id == NULL) != (again.id == NULL) ||
        (m.id && strcmp(m.id, again.id) != 0) || !json_equal(m.root, again.root))
        fuzz_fail("parse -> format -> parse changed the message: %s", text);
    free(text);
    hvf_qmp_msg_clear(&again);
    hvf_qmp_msg_clear(&m);
    return 0;
}
