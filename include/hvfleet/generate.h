/* SPDX-License-Identifier: MIT */
/*
 * Synthetic fleets for demos, tests and benchmarks: zones > racks > hosts with hardware and kernel
 * variants, VMs of mixed sizes packed to 50-75 % of each host's memory, mostly idle with a few
 * busy ones, and a handful of replicated services. Deterministic: the same parameters give the
 * same fleet, byte for byte once written (hvfleet/rng.h is exact everywhere; the size weights
 * use exp() and doubles, so another libm or CPU architecture could in rare cases shift a draw).
 */
#pragma once

#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/fleet.h"

#define HVF_GENERATE_MAX_HOSTS 1000000u
#define HVF_GENERATE_MAX_VMS 10000000ull /* in all: hosts x vms_per_host */

typedef struct hvf_generate_params {
    uint32_t hosts;        /* 1 .. HVF_GENERATE_MAX_HOSTS */
    uint32_t vms_per_host; /* may be 0 */
    uint64_t seed;
    uint32_t zones;          /* 0 = 1 */
    uint32_t racks_per_zone; /* 0 = enough for about 20 hosts per rack */
    uint64_t host_mem_mib;   /* 0 = 512 GiB */
    uint32_t host_cpus;      /* 0 = 64 */
} hvf_generate_params;

/* Sets the defaults above (hosts and vms_per_host 0, seed 1). */
void hvf_generate_params_init(hvf_generate_params *p);

/*
 * hvf_generate_fleet: builds a fleet from @p.
 *
 * Hosts are spread evenly over zones and racks; a rack shares one hardware generation (gen3:
 * 25Gbit NIC and "nvme", or gen2: 10Gbit and "sata"), each host runs kernel 6.1 or 5.10, a few
 * carry "gpu". Each host gets exactly vms_per_host VMs of 1-64 GiB (small ones common, large
 * ones rare; 1 vCPU per 2 GiB) whose total lands between 50 % and 75 % of its usable memory when
 * vms_per_host allows it, and never over its memory or vCPU capacity. About 7.5 % of VMs are
 * busy (dirtying 50-400 MiB/s, working set 10-50 % of memory), the rest idle (0-5 MiB/s, CPU
 * load 0.05-0.3); about 2 % cannot live-migrate. Services: monitoring (critical, one replica
 * per rack), ticketing (critical, spread over hosts, never on a monitoring host when avoidable),
 * db (busy, spread over hosts) and web (several replicas), each sized to what the fleet allows.
 *
 * Returns an owned fleet that passes hvf_fleet_check and the inventory validation, or NULL with
 * HVF_ERR_INVALID naming the bad parameter (0 hosts, too many VMs, VMs that cannot fit, zones or
 * racks without hosts).
 */
hvf_fleet *hvf_generate_fleet(const hvf_generate_params *p, hvf_error *err);
