/* SPDX-License-Identifier: MIT */
/* TEMPORARY while the daemon is built: routes not written yet. */
#include "daemon/daemon.h"

int
hvfd_api_openapi(hvfd_req *r)
{
    return hvfd_fail(r, 501, NULL, "not yet");
}
