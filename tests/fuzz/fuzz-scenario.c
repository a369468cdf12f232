/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for scenario files: any bytes must parse, or fail with an error and at least
 * one FILE:LINE message; never crash, hang or leak. Relative inventory paths resolve under a
 * directory that does not exist, so the target never reads the machine's files. A scenario that
 * parses must make a simulation: its components (monitoring, telemetry, remediation, hv_agent)
 * accept whatever the reader accepts.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;
    void *sched = NULL;

    if (size > 1 << 16)
        return 0;
    /* as the CLI does at start-up: scenarios may name the hvfleet scheduler and run changes */
    hvf_maintenance_register_scheduler();
    hvf_change_register_planner();
    hvf_diags_init(&diags);
    sc = hvf_scenario_parse("fuzz.yaml", (const char *)data, size, "/nonexistent-hvfleet-fuzz",
                            &diags, &err);
    if (!sc) {
        if (err.msg[0] == '\0')
            fuzz_fail("scenario refused without an error message");
        if (err.code == HVF_ERR_INVALID && diags.n == 0)
            fuzz_fail("scenario refused as invalid without a FILE:LINE message: %s", err.msg);
        for (size_t i = 0; i < diags.n; i++) {
            if (strncmp(diags.lines[i], "fuzz.yaml:", 10) != 0)
                fuzz_fail("message does not name the file: %s", diags.lines[i]);
        }
    } else {
        sim = hvf_scenario_sim_new(sc, &sched, &err);
        if (!sim)
            fuzz_fail("scenario read but refused by the simulation: %s", err.msg);
        hvf_sim_free(sim);
        hvf_sim_naive_free(sched);
    }
    hvf_scenario_free(sc);
    hvf_diags_clear(&diags);
    return 0;
}
