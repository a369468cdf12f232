/* SPDX-License-Identifier: MIT */
/* Parts of the scenario reader in other files than scenario.c. Not installed. */
#pragma once

#include "conf/reader.h"
#include "hvfleet/scenario.h"

/* scenario-fallout.c: the telemetry:, remediation: and hv_agent: sections (each may be NULL)
 * into sc->fallout, allocated when any is present. Problems go to @r's diags. */
void sc_read_fallout(hvf_reader *r, hvf_scenario *sc, struct fy_node *telemetry,
                     struct fy_node *remediation, struct fy_node *hv_agent);

/* Shared by the fallout readers (scenario-fallout.c, scenario-remediation.c). */
/* VM selectors (all, service:S, max_memory:SIZE, a VM name, or a list) into fleet-ordered
 * indexes appended to *@out; a NULL @node adds none. */
void sc_read_vm_selection(hvf_reader *r, const hvf_fleet *f, struct fy_node *node,
                          const char *field, int32_t **out, size_t *n);
/* A duration or "never" (-1) into *@out; an absent @node leaves it. */
void sc_read_never(hvf_reader *r, struct fy_node *node, const char *field, int64_t *out);
/* Copies *@src (when set) into @dst. */
void sc_copy_name(char *dst, size_t size, char **src);
/* scenario-remediation.c: the remediation: section into sc->fallout->remediation. */
void sc_read_remediation(hvf_reader *r, hvf_scenario *sc, struct fy_node *node);
