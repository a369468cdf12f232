/* SPDX-License-Identifier: MIT */
/* From a scenario to a ready simulation: fleet, parameters, faults, fallout components and the
 * named scheduler. */
#include "hvfleet/alloc.h"
#include "hvfleet/fallout.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-change.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/sim.h"

hvf_sim *
hvf_scenario_sim_new(const hvf_scenario *sc, void **sched_ctx, hvf_error *err)
{
    hvf_sim *sim = hvf_sim_new(sc->fleet, &sc->params, sc->overrides, sc->noverrides);

    *sched_ctx = NULL;
    hvf_sim_set_name(sim, sc->name);
    for (size_t i = 0; i < sc->nfaults; i++) {
        if (hvf_sim_add_fault(sim, &sc->faults[i], err) < 0) {
            hvf_sim_free(sim);
            return NULL;
        }
    }
    if (sc->monitoring && hvf_sim_monitor_attach(sim, sc->monitoring, err) < 0) {
        hvf_sim_free(sim);
        return NULL;
    }
    for (size_t i = 0; i < sc->nsvcs; i++) {
        if (hvf_sim_add_svc(sim, &sc->svcs[i], err) < 0) {
            hvf_sim_free(sim);
            return NULL;
        }
    }
    if (sc->fallout && hvf_fallout_attach(sim, sc->fallout, err) < 0) {
        hvf_sim_free(sim);
        return NULL;
    }
    if (sc->has_maintenance) {
        hvf_sim_controller ctl = {0};
        *sched_ctx = hvf_sim_naive_new(&sc->naive, &ctl);
        hvf_sim_set_controller(sim, &ctl);
    }
    if (sc->nchanges > 0)
        hvf_sim_change_attach(sim, sc->changes, sc->nchanges);
    return sim;
}
