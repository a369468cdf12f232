/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the QMP message parser: any bytes in, a clean result or error out. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driver/qemu/qemu-migrate.h"
#include "driver/qemu/qmp.h"
#include "hvfleet/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_qmp_msg m;
    hvf_qmp_msg again;
    hvf_error err = HVF_ERROR_INIT;
    char *text;

    if (hvf_qmp_parse((const char *)data, size, &m, &err) < 0) {
        /* every refusal says why, in one line */
        HVF_ASSERT(err.code == HVF_ERR_IO && err.msg[0] != 0 && !strchr(err.msg, '\n'));
        return 0;
    }
    HVF_ASSERT(m.root && (unsigned)m.kind < HVF_QMP_MSG_LAST);
    if (m.kind == HVF_QMP_MSG_ERROR)
        HVF_ASSERT(m.err_class && m.err_desc);
    if (m.kind == HVF_QMP_MSG_EVENT)
        HVF_ASSERT(m.event != NULL);
    if (m.kind == HVF_QMP_MSG_RETURN) {
        /* the migration code reads any reply; it must cope with every shape */
        hvf_qemu_migrate_sample s;
        hvf_qemu_migrate_read_sample(m.value, &s);
        HVF_ASSERT(s.status[sizeof(s.status) - 1] == 0);
    }

    /* parse -> format -> parse is stable: same kind, same id */
    text = json_dumps(m.root, JSON_COMPACT | JSON_ENCODE_ANY);
    HVF_ASSERT(text != NULL);
    HVF_ASSERT(hvf_qmp_parse(text, strlen(text), &again, &err) == 0);
    HVF_ASSERT(again.kind == m.kind);
    HVF_ASSERT((m.id == NULL) == (again.id == NULL));
    HVF_ASSERT(!m.id || strcmp(m.id, again.id) == 0);
    HVF_ASSERT(json_equal(m.root, again.root));
    free(text);
    hvf_qmp_msg_clear(&again);
    hvf_qmp_msg_clear(&m);
    return 0;
}
