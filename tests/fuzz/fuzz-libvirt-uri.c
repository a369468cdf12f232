/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the libvirt driver's URI (lv_uri_parse): "libvirt:" and any bytes, as a
 * C string. Each input is taken or refused with a message; what is taken has an inventory path,
 * a template with {host} if any, and workers and a connect timeout within their ranges.
 */
#include <string.h>

#include "driver/libvirt/lv-driver.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

#define FUZZ_MAX_INPUT 4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lv_priv p;
    hvf_error err = HVF_ERROR_INIT;
    long workers = 8, connect_s = 15;
    char *uri;
    int rc;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    uri = hvf_malloc(size + 9);
    memcpy(uri, "libvirt:", 8);
    memcpy(uri + 8, data, size);
    uri[size + 8] = '\0';
    memset(&p, 0, sizeof(p));
    rc = lv_uri_parse(&p, uri, &workers, &connect_s, &err);
    if (rc < 0 && !err.msg[0])
        fuzz_fail("'%s' refused without a message", uri);
    if (rc == 0) {
        if (!p.inv_path || !p.inv_path[0])
            fuzz_fail("'%s' taken without an inventory path", uri);
        if (p.tmpl && !strstr(p.tmpl, "{host}"))
            fuzz_fail("'%s' taken with a template without {host}: '%s'", uri, p.tmpl);
        if (workers < 1 || workers > 64 || connect_s < 0 || connect_s > 600 ||
            p.dirty_every_us < 0)
            fuzz_fail("'%s' taken with workers %ld, connect_timeout %ld", uri, workers, connect_s);
    }
    free(p.inv_path);
    free(p.tmpl);
    free(uri);
    return 0;
}
