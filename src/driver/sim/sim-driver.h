/* SPDX-License-Identifier: MIT */
/*
 * The sim driver: the twin behind the driver table (hvfleet/driver.h), complete like libvirt's
 * test driver. URIs: sim:///default (a built-in 8-host fleet), sim:FILE or sim:///ABS/FILE (an
 * inventory), with query parameters deviations=FILE (deviations to inject, docs/execution.md)
 * and world=FILE (where its state outlives the process; default
 * STATE_DIR/sim-world-FINGERPRINT.json, one per inventory, when the caller gives a state
 * directory). Virtual time by default; opts->speed = N runs N
 * simulated seconds per wall second.
 */
#pragma once

#include "hvfleet/driver.h"

extern const hvf_driver hvf_sim_driver;

/* Reads a deviations file (JSON, schema hvfleet.sim-deviations/v1) for @fleet; for the fuzz
 * target and tests. Returns the count (>= 0) or -1 with @err naming the file, field and value. */
typedef struct sim_deviation sim_deviation;
long hvf_sim_deviations_parse(const char *name, const char *buf, size_t len,
                              const hvf_fleet *fleet, sim_deviation **out, hvf_error *err);
