/* SPDX-License-Identifier: MIT */
/* What the benchmark programs share (see bench.h). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "hvfleet/rng.h"

static double
clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
bench_now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

double
bench_cpu_now(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

double
bench_peak_rss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux counts it in KiB */
}

hvf_fleet *
bench_scenario_b_fleet(uint32_t nhosts)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    hvf_rng rng;
    char name[32], rack[16];

    hvf_rng_seed(&rng, 2013);
    for (uint32_t i = 0; i < nhosts; i++) {
        hvf_host h = {0};

        snprintf(name, sizeof(name), "pm%03u", i);
        snprintf(rack, sizeof(rack), "r%u", i / 20);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, "z");
        h.rack = hvf_fleet_rack_ensure(f, h.zone, rack);
        h.cpus = 32;
        h.mem_mib = 512 * 1024;
        h.cpu_allocation_ratio = 4;
        h.ram_allocation_ratio = 1;
        h.nic_bytes_per_s = 125e6; /* 1 Gbit/s */
        if (hvf_fleet_add_host(f, &h, &err) < 0)
            abort();
    }
    for (uint32_t i = 0; i < nhosts * 20; i++) {
        hvf_vm v = {0};

        snprintf(name, sizeof(name), "vm%04u", i);
        v.name = name;
        v.host = (int32_t)(i / 20);
        v.vcpus = 1;
        v.mem_mib = hvf_rng_range(&rng, 1, 16) * 1024;
        v.working_set_mib = v.mem_mib;
        v.dirty_bytes_per_s = hvf_rng_uniform(&rng) * 40e6;
        v.cpu_load = 0.2;
        v.service = -1;
        v.migratable = true;
        if (hvf_fleet_add_vm(f, &v, 0, &err) < 0)
            abort();
    }
    return f;
}
