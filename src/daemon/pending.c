/* SPDX-License-Identifier: MIT */
/* TEMPORARY while the daemon is built: routes not written yet. */
#include "daemon/daemon.h"

int
hvfd_api_vm_create(hvfd_req *r)
{
    return hvfd_fail(r, 501, NULL, "not yet");
}

int
hvfd_api_vm_migrate(hvfd_req *r)
{
    return hvfd_fail(r, 501, NULL, "not yet");
}

int
hvfd_api_page(hvfd_req *r)
{
    return hvfd_fail(r, 501, NULL, "not yet");
}

int
hvfd_api_incidents(hvfd_req *r)
{
    return hvfd_fail(r, 501, NULL, "not yet");
}
