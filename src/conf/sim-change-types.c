/* SPDX-License-Identifier: MIT */
/*
 * Rolling changes as a scenario declares them (include/hvfleet/sim-change-types.h): the names
 * of effects and clearing a run, for the scenario reader and the twin.
 */
#include "hvfleet/sim-change-types.h"
#include "hvfleet/alloc.h"

const char *const hvf_sim_effect_names[] = {"drop_established_connections", "service_stops_serving",
                                            NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_sim_effect_names) == HVF_SIM_EFFECT_LAST + 1, "effects");

void
hvf_sim_change_run_clear(hvf_sim_change_run *run)
{
    hvf_change_free(run->change);
    for (size_t i = 0; i < run->neffects; i++) {
        hvf_sim_change_effect *e = &run->effects[i];
        free(e->kernel);
        free(e->hw);
        free(e->tag);
        free(e->sysctl_missing);
        free(e->setting);
    }
    free(run->effects);
    free(run->op.alert.service);
    free(run->op.action);
    memset(run, 0, sizeof(*run));
}
