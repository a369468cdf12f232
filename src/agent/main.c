/* SPDX-License-Identifier: MIT */
/* hvfleet-agent: the process on every hypervisor (docs/agent.md). */
#include <stdio.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

int
main(int argc, char **argv)
{
    hvf_agent_opts o;
    hvf_error err = HVF_ERROR_INIT;
    int rc = hvf_agent_opts_parse(argc, argv, &o, &err);

    if (rc < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        return 2;
    }
    if (rc > 0)
        return 0;
    rc = hvf_agent_run(&o);
    hvf_agent_opts_clear(&o);
    return rc;
}
