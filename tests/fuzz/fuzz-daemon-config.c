/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for hvfleetd's configuration file (hvfd_config_load): any bytes as
 * hvfleetd.yaml. Properties: the file is read or refused with one line naming it (HVF_ERR_INVALID),
 * never a crash; a config read has its values in their documented ranges (the lease renewed at
 * least three times a lease, a controller name of the allowed letters, URLs http(s)).
 */
#include <sys/mman.h>

#include "daemon/daemon.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("hvfleetd.yaml", MFD_CLOEXEC);
    char path[64];
    hvfd_config c;
    hvf_error err = HVF_ERROR_INIT;

    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        fuzz_fail("cannot write the input to a memfd");
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hvfd_config_init(&c);
    if (hvfd_config_load(&c, path, &err) < 0) {
        if (err.code != HVF_ERR_INVALID || !strstr(err.msg, path) || strchr(err.msg, '\n'))
            fuzz_fail("refused without one line naming the file: %s", err.msg);
    } else {
        if (c.lease_ttl_ms < 3000 || c.lease_renew_ms < 100 ||
            c.lease_renew_ms * 3 > c.lease_ttl_ms)
            fuzz_fail("lease_ttl %u ms renewed every %u ms was accepted", c.lease_ttl_ms,
                      c.lease_renew_ms);
        if (c.name && !hvfd_controller_name_ok(c.name))
            fuzz_fail("the name '%s' was accepted", c.name);
        if (c.advertise_url && !hvfd_url_ok(c.advertise_url))
            fuzz_fail("the advertise_url '%s' was accepted", c.advertise_url);
        for (size_t i = 0; i < c.nalert_webhooks; i++)
            if (!hvfd_url_ok(c.alert_webhooks[i]))
                fuzz_fail("the webhook '%s' was accepted", c.alert_webhooks[i]);
        if (c.threads < 1 || c.threads > 64)
            fuzz_fail("threads %u was accepted", c.threads);
    }
    hvfd_config_clear(&c);
    close(fd);
    return 0;
}
