/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the qemu driver's VM-layer parsers. The first byte picks one:
 *   even: a /proc/PID/cmdline (NUL-separated), read by hvf_qvm_cmdline_is_qemu, _qmp_path and
 *         _join; a path found is a ','-free prefix-bounded piece of the input, and a command line
 *         rebuilt around it reads back the same path;
 *   odd:  a QMP reply, read as query-migrate (hvf_qvm_migrate_info_read) and query-dirty-rate
 *         (hvf_qvm_dirty_rate_read); values stay in range, and format -> parse reads the same.
 */
#include <string.h>

#include "driver/qemu/qemu-vm-migrate.h"
#include "driver/qemu/qemu-vm.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

static void
fuzz_cmdline(const char *buf, size_t len)
{
    char path[128];
    char joined[64];
    bool is_qemu = hvf_qvm_cmdline_is_qemu(buf, len);

    hvf_qvm_cmdline_join(buf, len, joined, sizeof(joined));
    if (strlen(joined) >= sizeof(joined))
        fuzz_fail("joined cmdline overflows");
    for (const char *c = joined; *c; c++) {
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            fuzz_fail("joined cmdline has a non-printable byte");
    }
    if (hvf_qvm_cmdline_qmp_path(buf, len, path, sizeof(path))) {
        static const char head[] = "qemu-system-x86_64\0-qmp\0unix:";
        char again[128];
        char rebuilt[256];
        size_t n = strlen(path);

        if (!is_qemu || n == 0 || strchr(path, ','))
            fuzz_fail("qmp path '%s' from a command line that is no QEMU's or with ','", path);
        memcpy(rebuilt, head, sizeof(head) - 1);
        memcpy(rebuilt + sizeof(head) - 1, path, n + 1);
        if (!hvf_qvm_cmdline_qmp_path(rebuilt, sizeof(head) - 1 + n + 1, again, sizeof(again)) ||
            strcmp(again, path) != 0)
            fuzz_fail("qmp path '%s' does not read back", path);
    }
}

static void
fuzz_reply(const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
    json_t *again;
    hvf_qvm_migrate_info a;
    hvf_qvm_migrate_info b;
    uint64_t rate = 0;
    uint64_t rate2 = 0;
    int ra;
    int rb;
    char *text;

    if (!root)
        return;
    ra = hvf_qvm_migrate_info_read(root, &a);
    if ((ra == 0) != json_is_object(root))
        fuzz_fail("query-migrate reader: %d for a %s", ra, json_is_object(root) ? "object" : "non-object");
    if (a.status[sizeof(a.status) - 1] != 0 || a.error_desc[sizeof(a.error_desc) - 1] != 0 ||
        a.throttle_pct < 0 || a.throttle_pct > 100 || a.expected_downtime_ms < -1 ||
        a.downtime_ms < -1 || a.total_time_ms < -1)
        fuzz_fail("query-migrate fields out of range");
    if (a.dirty_pages_rate > 0 && a.dirty_bytes_per_s < a.dirty_pages_rate)
        fuzz_fail("dirty bytes/s below pages/s");
    rb = hvf_qvm_dirty_rate_read(root, &rate);
    if (rb == 1 && rate % (1u << 20) != 0)
        fuzz_fail("dirty rate %llu is not whole MiB/s", (unsigned long long)rate);

    text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        fuzz_fail("cannot format a parsed reply");
    again = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!again)
        fuzz_fail("formatted reply does not parse: %s", text);
    ra = hvf_qvm_migrate_info_read(again, &b);
    if (memcmp(&a, &b, sizeof(a)) != 0)
        fuzz_fail("query-migrate reads differently after format -> parse: %s", text);
    if (hvf_qvm_dirty_rate_read(again, &rate2) != rb || rate2 != rate)
        fuzz_fail("query-dirty-rate reads differently after format -> parse: %s", text);
    (void)ra;
    free(text);
    json_decref(again);
    json_decref(root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0)
        fuzz_cmdline((const char *)data + 1, size - 1);
    else
        fuzz_reply((const char *)data + 1, size - 1);
    return 0;
}
