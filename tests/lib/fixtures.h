/* SPDX-License-Identifier: MIT */
/* Fleets and simulations that several unit tests build the same way; failures end the test. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "hvfleet/fleet.h"
#include "hvfleet/sim.h"

/* Adds hosts h0..h<n-1> in zone z, rack r: @cpus, @mem_mib, allocation ratios 4 (CPU) and 1
 * (RAM), a 1 Gbit NIC. */
void hvf_test_hosts_add(hvf_fleet *f, int n, uint32_t cpus, uint64_t mem_mib);

/* Three hosts (16 cpus, 64 GiB); VMs v0..v5 of 2 vCPUs and 4 GiB at @cpu_load, v0..v3 on h0,
 * v4 and v5 on h1. */
hvf_fleet *hvf_test_fleet_3h6v(double cpu_load);

/* The fleet of inventory @text (named inv.yaml in messages); the test fails, after printing
 * every diagnostic, when it does not parse. */
hvf_fleet *hvf_test_inventory(const char *text);

/* The simulation of scenario @text (named t.yaml in messages), not yet run; the test fails with
 * the first diagnostic when it does not load. *@sched gets the scenario's scheduler. */
hvf_sim *hvf_test_scenario_sim(const char *text, void **sched);

/* Virtual time of the first event of @type in @sim's event log whose line contains
 * @detail_part (any line when NULL), or -1 when there is none. */
int64_t hvf_test_event_first_us(const hvf_sim *sim, const char *type, const char *detail_part);

/* How many event lines of @type @sim has logged. */
size_t hvf_test_event_count(const hvf_sim *sim, const char *type);
