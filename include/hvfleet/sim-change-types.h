/* SPDX-License-Identifier: MIT */
/*
 * Rolling changes as a scenario declares them (`changes:`, docs/changes.md): the change, who
 * runs it (hvfleet or people, as written), its policy, the effects it has on some variants and
 * the operator's timeline. Plain data filled by the scenario reader
 * (src/conf/scenario-change.c) and run by the twin's change controller (hvfleet/sim-change.h);
 * its names and clearing are in src/conf/sim-change-types.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/change.h"
#include "hvfleet/policy.h"

typedef enum hvf_sim_effect_type {
    HVF_SIM_EFFECT_DROP_ESTABLISHED_CONNECTIONS, /* the host drops its established flows */
    HVF_SIM_EFFECT_SERVICE_STOPS_SERVING,        /* replicas stay up and answer nothing */
    HVF_SIM_EFFECT_LAST
} hvf_sim_effect_type;

typedef enum hvf_sim_cmp {
    HVF_SIM_CMP_EQ,
    HVF_SIM_CMP_LT,
    HVF_SIM_CMP_LE,
    HVF_SIM_CMP_GT,
    HVF_SIM_CMP_GE,
    HVF_SIM_CMP_LAST
} hvf_sim_cmp;

extern const char *const hvf_sim_effect_names[]; /* NULL-terminated */

/* What a change does to the units whose host matches every condition given (NULL = any). */
typedef struct hvf_sim_change_effect {
    hvf_sim_effect_type effect;
    char *kernel; /* owned: a version compared with kernel_cmp (numbers between dots) */
    hvf_sim_cmp kernel_cmp;
    char *hw;             /* owned */
    char *tag;            /* owned: the host carries this tag */
    char *sysctl_missing; /* owned: the host has no tag NAME=V with V other than 0 */
    char *setting;        /* owned: the change lists this in its settings */
} hvf_sim_change_effect;

/* How people noticed and reacted, for a run as_written (an incident report's timeline). */
typedef struct hvf_sim_operator {
    bool enabled;
    hvf_change_gate alert;   /* what monitoring watches; service owned */
    int64_t alert_for_us;    /* failing this long raises the alert */
    int64_t check_every_us;  /* monitoring's interval */
    int64_t decide_after_us; /* from the alert to the decision (investigation) */
    int64_t revert_us;       /* the decision reverts every changed unit at once, taking this long */
    char *action;            /* owned: what people did, for the log; may be NULL */
} hvf_sim_operator;

typedef struct hvf_sim_change_run {
    hvf_change *change; /* owned */
    int64_t start_us;
    bool as_written; /* people ran it (the file as written); else hvfleet */
    bool approved;   /* hvfleet: a needs-approval plan was approved; else it waits */
    hvf_policy policy;
    hvf_sim_change_effect *effects; /* owned */
    size_t neffects;
    hvf_sim_operator op;
} hvf_sim_change_run;

void hvf_sim_change_run_clear(hvf_sim_change_run *run);
