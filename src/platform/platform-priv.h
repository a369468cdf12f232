/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the models of the platform's systems (src/platform/) that run on the
 * twin's engine (src/sim/, whose own internals are in sim/sim-priv.h). Not installed.
 */
#pragma once

#include "hvfleet/sim.h"

/* ---- incident.c ---- */
/* Makes sure @sim records incident events, so summary.json carries "incident" even when no
 * component logs one (a scenario's run). */
void plat_inc_attach(hvf_sim *sim);
