/* SPDX-License-Identifier: MIT */
/*
 * Incident replays: one incident report (a seed) run in the twin as several variants, "as it
 * happened" and "with hvfleet", each a scenario, compared on the incident KPIs of
 * include/hvfleet/incident.h. Replay files are YAML or JSON, schema hvfleet.replay/v1
 * (docs/incidents.md):
 *
 *   schema: hvfleet.replay/v1
 *   name: 2002-monitoring-on-one-host       # a name: the default output dir is out/<name>/
 *   seed: "002"                             # the incident report's id (seeds/002_*.txt)
 *   title: Kolab Now, a hypervisor reboots  # one line
 *   event_type: fault                       # optional: what marks the time of event
 *   sim_seed: 2002                          # optional: the RNG seed every variant runs with
 *   variants:                               # 1 to 8, labels and their directories unique
 *     - {label: as it happened, scenario: 2002-monitoring-on-one-host.yaml}
 *     - {label: with hvfleet, scenario: 2002-monitoring-spread.yaml}
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

#define HVF_REPLAY_SCHEMA "hvfleet.replay/v1"
#define HVF_REPLAY_SUMMARY_SCHEMA "hvfleet.replay-summary/v1"
#define HVF_REPLAY_MAX_VARIANTS 8
#define HVF_REPLAY_MAX_LABEL 40
#define HVF_REPLAY_MAX_TITLE 200

typedef struct hvf_replay_variant {
    char *label;    /* owned: "as it happened" */
    char *scenario; /* owned: the path as written (relative to the replay file) */
    char *dir;      /* owned: the label as a directory name, "as-it-happened" */
    int line;       /* where it was defined, for messages */
} hvf_replay_variant;

typedef struct hvf_replay {
    char *file;       /* owned: the name used in messages */
    char *base_dir;   /* owned, may be NULL: scenario paths are relative to it */
    char *name;       /* owned */
    char *seed;       /* owned: the incident report's id, "002" */
    char *title;      /* owned */
    char *event_type; /* owned, may be NULL (HVF_INCIDENT_DEFAULT_EVENT_TYPE) */
    bool has_sim_seed;
    uint64_t sim_seed;
    hvf_replay_variant *variants; /* owned */
    size_t nvariants;
} hvf_replay;

/*
 * hvf_replay_load / _parse: reads and checks a replay file. Every problem goes to @diags as
 * "FILE:LINE: FIELD: VALUE: what was expected". Scenario files are not opened here (see
 * hvf_replay_run). @base_dir (may be NULL) resolves relative scenario paths. Returns an owned
 * replay, or NULL with @err set (HVF_ERR_INVALID, HVF_ERR_IO for an unreadable file).
 */
hvf_replay *hvf_replay_load(const char *path, hvf_diags *diags, hvf_error *err);
hvf_replay *hvf_replay_parse(const char *name, const char *buf, size_t len, const char *base_dir,
                             hvf_diags *diags, hvf_error *err);
void hvf_replay_free(hvf_replay *rp);

/* Appends @rp as a replay file; parsing it back gives the same replay. */
void hvf_replay_format(const hvf_replay *rp, hvf_strbuf *out);
