/* SPDX-License-Identifier: MIT */
/* The table of maintenance schedulers by name, with the twin's own naive scheduler built in. */
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sim-sched.h"

static int
naive_attach(hvf_sim *sim, const hvf_scenario *sc, hvf_error *err)
{
    hvf_sim_controller ctl = {0};

    (void)err;
    ctl.ctx = hvf_sim_naive_new(&sc->naive, &ctl);
    ctl.free_ctx = hvf_sim_naive_free;
    hvf_sim_set_controller(sim, &ctl);
    return 0;
}

static hvf_sim_scheduler sched_table[HVF_SIM_MAX_SCHEDULERS] = {
    {.name = "naive", .attach = naive_attach},
};
static size_t sched_n = 1;

int
hvf_sim_scheduler_register(const hvf_sim_scheduler *s, hvf_error *err)
{
    if (!s->name || !*s->name || !s->attach) {
        hvf_error_set(err, HVF_ERR_INVALID, "a scheduler needs a name and an attach function");
        return -1;
    }
    for (size_t i = 0; i < sched_n; i++) {
        if (strcmp(sched_table[i].name, s->name) == 0) {
            sched_table[i] = *s;
            return 0;
        }
    }
    if (sched_n == HVF_SIM_MAX_SCHEDULERS) {
        hvf_error_set(err, HVF_ERR_INVALID, "cannot register scheduler '%s': %d are registered",
                      s->name, HVF_SIM_MAX_SCHEDULERS);
        return -1;
    }
    sched_table[sched_n++] = *s;
    return 0;
}

const hvf_sim_scheduler *
hvf_sim_scheduler_find(const char *name)
{
    for (size_t i = 0; name && i < sched_n; i++) {
        if (strcmp(sched_table[i].name, name) == 0)
            return &sched_table[i];
    }
    return NULL;
}
