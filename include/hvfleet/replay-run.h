/* SPDX-License-Identifier: MIT */
/*
 * Running an incident replay (hvfleet/replay.h) in the twin, each variant a scenario, and the
 * comparison of their incident KPIs (src/platform/replay-run.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/incident.h"
#include "hvfleet/replay.h"
#include "hvfleet/sim.h"

typedef struct hvf_replay_opts {
    const char *out_dir; /* may be NULL: nothing is written */
    bool has_seed;       /* override every variant's RNG seed */
    uint64_t seed;
} hvf_replay_opts;

typedef struct hvf_replay_outcome {
    size_t n;                /* = the replay's variants */
    uint64_t sim_seed;       /* the seed every variant ran with */
    hvf_incident_kpis *kpis; /* owned, one per variant */
    hvf_sim_stats *stats;    /* owned, one per variant */
} hvf_replay_outcome;

/*
 * hvf_replay_run: loads every variant's scenario first (a problem in any of them is reported to
 * @diags naming the replay file's line and nothing runs), then runs each in the twin with the
 * same RNG seed (opts->seed, else the replay's sim_seed, else the first variant's scenario seed).
 * With opts->out_dir, each variant's outputs go to OUT/<variant dir>/ and the comparison to
 * OUT/summary.json (HVF_REPLAY_SUMMARY_SCHEMA). Fills @out (clear it with
 * hvf_replay_outcome_clear). Returns 0, or -1 with @err set (HVF_ERR_INVALID, HVF_ERR_IO).
 */
int hvf_replay_run(const hvf_replay *rp, const hvf_replay_opts *opts, hvf_replay_outcome *out,
                   hvf_diags *diags, hvf_error *err) __attribute__((warn_unused_result));
void hvf_replay_outcome_clear(hvf_replay_outcome *out);

/*
 * hvf_replay_summary_json: the comparison as indented JSON text (owned): schema, replay name,
 * seed, title, sim_seed, event_type, each variant's label, scenario, dir and raw KPIs
 * ("incident"), and the side-by-side "kpis" object of hvf_incident_kpis_json.
 */
char *hvf_replay_summary_json(const hvf_replay *rp, const hvf_replay_outcome *out);
