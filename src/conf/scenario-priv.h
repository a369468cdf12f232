/* SPDX-License-Identifier: MIT */
/*
 * Scenario reading, in two tiers so that it flows one way (scripts/check-scenario-deps):
 * scenario.c reads the top level and calls the section readers (scenario-*.c); both use the
 * shared readers of scenario-common.c, which call neither.
 */
#pragma once

#include "conf/reader.h"
#include "hvfleet/scenario.h"

/* ---- shared readers (scenario-common.c) ---- */

/* A host selector node: one selector expression, or a list of them read as one expression
 * joined by commas (hvf_scenario_select_hosts); appends fleet indexes to *@out. */
void sc_read_selector(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field,
                      int32_t **out, size_t *n);
/* A duration, or "never" (-1); @dflt when @node is NULL. */
int64_t sc_duration_or_never(hvf_reader *r, struct fy_node *node, const char *field, int64_t dflt);
/* VM selectors (all, service:S, max_memory:SIZE, a VM name, or a list) into fleet-ordered
 * indexes appended to *@out; a NULL @node adds none. */
void sc_read_vm_selection(hvf_reader *r, const hvf_fleet *f, struct fy_node *node,
                          const char *field, int32_t **out, size_t *n);
/* Copies *@src (when set) into @dst. */
void sc_copy_name(char *dst, size_t size, char **src);

/* ---- section readers, called by scenario.c ---- */

/* The maintenance section (scenario-maint.c): sets has_maintenance, scheduler, naive, policy.
 * A relative policy file resolves against @base_dir. */
void sc_read_maintenance(hvf_reader *r, struct fy_node *node, const char *base_dir,
                         hvf_scenario *sc);
/* The monitoring section (scenario-monitor.c): sets sc->monitoring. */
void sc_read_monitoring(hvf_reader *r, struct fy_node *node, hvf_scenario *sc);

/*
 * hvf_scenario_read_changes (scenario-change.c): reads the `services:` and `changes:` sections
 * (either may be NULL) into @sc, whose fleet, duration and maintenance are already read.
 * Relative change and policy files resolve against @base_dir. Problems go to r->diags.
 */
void hvf_scenario_read_changes(hvf_reader *r, struct fy_node *services, struct fy_node *changes,
                               const char *base_dir, hvf_scenario *sc);

/* scenario-fallout.c: the telemetry:, remediation: and hv_agent: sections (each may be NULL)
 * into sc->fallout, allocated when any is present. Problems go to @r's diags. */
void sc_read_fallout(hvf_reader *r, hvf_scenario *sc, struct fy_node *telemetry,
                     struct fy_node *remediation, struct fy_node *hv_agent);
/* scenario-remediation.c (called by scenario-fallout.c): the remediation: section into
 * sc->fallout->remediation. */
void sc_read_remediation(hvf_reader *r, hvf_scenario *sc, struct fy_node *node);
