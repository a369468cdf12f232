/* SPDX-License-Identifier: MIT */
/* What the benchmark programs share: clocks, peak memory and SimGrid's "scenario B" fleet. */
#pragma once

#include <stdint.h>

#include "hvfleet/fleet.h"

/* Seconds of wall time (monotonic) and of this process's CPU time, from arbitrary origins. */
double bench_now(void);
double bench_cpu_now(void);

/* This process's peak resident set so far, in MiB. */
double bench_peak_rss_mib(void);

/* SimGrid's "scenario B" at @nhosts hosts (pm000.., 32 cpus, 512 GiB, 1 Gbit/s, 20 to a rack)
 * with 20 VMs each (vm0000.., 1-16 GiB dirtying 0-40 MB/s, seed 2013): the same fleet in every
 * program for the same @nhosts. Aborts when the fleet refuses a host or VM. */
hvf_fleet *bench_scenario_b_fleet(uint32_t nhosts);
