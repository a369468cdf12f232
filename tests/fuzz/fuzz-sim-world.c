/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the sim driver's world file, which it reads back on open (what a killed
 * caller left, or a damaged file): any bytes open the built-in fleet or fail with one line
 * naming the world file, and an opened world answers its queries and saves again.
 */
#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/driver.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/hvf-fuzz-world-XXXXXX";
    int fd = mkstemp(path);
    HVF_AUTOFREE char *uri = NULL;
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *conn;

    if (fd < 0)
        fuzz_fail("mkstemp failed");
    if (write(fd, data, size) != (ssize_t)size)
        fuzz_fail("cannot write the input");
    close(fd);
    uri = hvf_asprintf("sim:///default?world=%s", path);
    conn = hvf_driver_open(uri, NULL, &err);
    if (!conn) {
        if (err.msg[0] == '\0' || strchr(err.msg, '\n'))
            fuzz_fail("open failed without a one-line message: '%s'", err.msg);
    } else {
        hvf_drv_host *hosts = NULL;
        hvf_drv_vm *vms = NULL;
        hvf_drv_event evs[16];
        size_t n;

        if (hvf_driver_list_hosts(conn, &hosts, &err) < 0 ||
            hvf_driver_list_vms(conn, &vms, &err) < 0 ||
            hvf_driver_poll(conn, 1000000, evs, 16, &n, &err) < 0)
            fuzz_fail("an opened world does not answer: %s", err.msg);
        free(hosts);
        free(vms);
        hvf_driver_close(conn);
    }
    unlink(path);
    return 0;
}
