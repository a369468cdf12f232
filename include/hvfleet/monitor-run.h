/* SPDX-License-Identifier: MIT */
/* The monitoring model (hvfleet/monitor.h holds its inputs) run in the twin:
 * src/platform/monitor.c. */
#pragma once

#include "hvfleet/error.h"
#include "hvfleet/monitor.h"
#include "hvfleet/sim.h"

/*
 * hvf_sim_monitor_attach: adds the monitoring model (hvfleet/monitor.h) to @sim as a component
 * (before hvf_sim_run; @o is copied). Returns 0, or -1 with HVF_ERR_INVALID (no monitors, an
 * index out of range, an interval of 0).
 */
int hvf_sim_monitor_attach(hvf_sim *sim, const hvf_sim_monitor_opts *o, hvf_error *err)
    __attribute__((warn_unused_result));
