/* SPDX-License-Identifier: MIT */
/* A scenario's fallout sections as components of a simulation (include/hvfleet/fallout.h). */
#include "hvfleet/fallout.h"
#include "hvfleet/alloc.h"

int
hvf_fallout_attach(hvf_sim *sim, const hvf_fallout_opts *o, hvf_error *err)
{
    /* telemetry first: in one instant, what the guests do is settled before monitoring looks */
    if (o->has_telemetry && hvf_telemetry_attach(sim, &o->telemetry, err) < 0)
        return -1;
    if (o->has_hv_agent && hvf_hvagent_attach(sim, &o->hv_agent, err) < 0)
        return -1;
    if (o->has_remediation && hvf_remediation_attach(sim, &o->remediation, err) < 0)
        return -1;
    return 0;
}
