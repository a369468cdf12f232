/* SPDX-License-Identifier: MIT */
/* Parts of scenario files read by other files than scenario.c. */
#pragma once

#include "conf/reader.h"
#include "hvfleet/scenario.h"

/*
 * hvf_scenario_read_changes (scenario-change.c): reads the `services:` and `changes:` sections
 * (either may be NULL) into @sc, whose fleet, duration and maintenance are already read.
 * Relative change and policy files resolve against @base_dir. Problems go to r->diags.
 */
void hvf_scenario_read_changes(hvf_reader *r, struct fy_node *services, struct fy_node *changes,
                               const char *base_dir, hvf_scenario *sc);
