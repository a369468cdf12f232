/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the sim driver's deviations file (hvfleet.sim-deviations/v1), read for
 * the built-in fleet: any bytes parse or fail with one line naming the file, and what parses
 * names only hosts and VMs of the fleet, in time order.
 */
#include "fuzz.h"
#include "driver/sim/sim-driver.h"
#include "driver/sim/sim-world.h"
#include "hvfleet/alloc.h"
#include "hvfleet/generate.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hvf_fleet *fleet;
    hvf_error err = HVF_ERROR_INIT;
    sim_deviation *devs = NULL;
    long n;

    if (!fleet) {
        hvf_generate_params g;

        hvf_generate_params_init(&g);
        g.hosts = 4;
        g.vms_per_host = 3;
        fleet = hvf_generate_fleet(&g, &err);
        if (!fleet)
            fuzz_fail("no fleet: %s", err.msg);
    }
    n = hvf_sim_deviations_parse("dev.json", (const char *)data, size, fleet, &devs, &err);
    if (n < 0) {
        fuzz_check_error("hvf_sim_deviations_parse", "dev.json", &err);
        return 0;
    }
    for (long i = 0; i < n; i++) {
        if (devs[i].host >= (int32_t)fleet->nhosts || devs[i].vm >= (int32_t)fleet->nvms ||
            (i > 0 && devs[i].at_us < devs[i - 1].at_us) || !(devs[i].factor > 0))
            fuzz_fail("deviation %ld out of range or order", i);
    }
    free(devs);
    return 0;
}
