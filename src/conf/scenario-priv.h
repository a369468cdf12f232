/* SPDX-License-Identifier: MIT */
/* Parts of the scenario reader in other files than scenario.c. Not installed. */
#pragma once

#include "conf/reader.h"
#include "hvfleet/scenario.h"

/* scenario-fallout.c: the telemetry:, remediation: and hv_agent: sections (each may be NULL)
 * into sc->fallout, allocated when any is present. Problems go to @r's diags. */
void sc_read_fallout(hvf_reader *r, hvf_scenario *sc, struct fy_node *telemetry,
                     struct fy_node *remediation, struct fy_node *hv_agent);
