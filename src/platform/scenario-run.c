/* SPDX-License-Identifier: MIT */
/* From a scenario to a ready simulation: fleet, parameters, faults, fallout components and the
 * named scheduler. */
#include "hvfleet/scenario-run.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fallout.h"
#include "hvfleet/monitor-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-change.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/sim.h"
#include "platform/platform-priv.h"

hvf_sim *
hvf_scenario_sim_new(const hvf_scenario *sc, void **sched_ctx, hvf_error *err)
{
    const hvf_sim_scheduler *sched = NULL;
    hvf_sim_params params = sc->params;
    hvf_sim *sim;

    if (sched_ctx)
        *sched_ctx = NULL;
    if (sc->has_maintenance) {
        const char *name = (unsigned)sc->scheduler < HVF_SCENARIO_SCHED_LAST
                               ? hvf_scenario_scheduler_names[sc->scheduler]
                               : "?";
        sched = hvf_sim_scheduler_find(name);
        if (!sched) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "scenario '%s': maintenance scheduler '%s' is not available in this "
                          "program (none is registered under that name)",
                          sc->name, name);
            return NULL;
        }
        if (sched->prepare)
            sched->prepare(sc, &params);
    }
    if (sc->nchanges > 0 && !hvf_sim_change_get_planner()) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "scenario '%s': rolling changes are not available in this program (no "
                      "change planner is registered)",
                      sc->name);
        return NULL;
    }
    {
        /* the reader checked the file; a scenario built in code or prepared by a scheduler
         * meets the same bounds */
        const char *field = NULL;
        if (hvf_sim_params_check_work(&params, sc->fleet->nhosts, &field, err) < 0) {
            hvf_error_prefix(err, "scenario '%s': %s: ", sc->name, field);
            return NULL;
        }
    }
    sim = hvf_sim_new(sc->fleet, &params, sc->overrides, sc->noverrides);
    hvf_sim_set_name(sim, sc->name);
    plat_inc_attach(sim); /* "incident" first in summary.json */
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
    if (sched && sched->attach(sim, sc, err) < 0) {
        hvf_error_prefix(err, "scenario '%s': ", sc->name);
        hvf_sim_free(sim);
        return NULL;
    }
    if (sc->nchanges > 0)
        hvf_sim_change_attach(sim, sc->changes, sc->nchanges);
    return sim;
}
