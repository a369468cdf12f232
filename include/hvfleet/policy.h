/* SPDX-License-Identifier: MIT */
/*
 * Maintenance policy: the limits a maintenance plan must keep and the seatbelt's thresholds,
 * read from a YAML/JSON file (schema hvfleet.policy/v1) or taken from the built-in defaults.
 * docs/planning.md lists every field, its default and which peer the default follows.
 *
 * 0 means "no limit" for max_parallel_per_rack, max_parallel_per_zone, migration_bandwidth,
 * window.end and seatbelt.max_plan_duration; the other counts are at least 1.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

#define HVF_POLICY_SCHEMA "hvfleet.policy/v1"

/* What to do with a VM whose pre-copy migration would not converge. */
typedef enum hvf_non_converging {
    HVF_NON_CONVERGING_AUTO_CONVERGE, /* throttle the guest CPU (QEMU auto-converge) */
    HVF_NON_CONVERGING_POST_COPY,     /* switch to post-copy after the first pass */
    HVF_NON_CONVERGING_SHUTDOWN,      /* stop it, maintain the host, start it elsewhere */
    HVF_NON_CONVERGING_REFUSE,        /* do not plan it: the seatbelt refuses the plan */
    HVF_NON_CONVERGING_LAST
} hvf_non_converging;

extern const char *const hvf_non_converging_names[]; /* NULL-terminated */
const char *hvf_non_converging_to_string(hvf_non_converging v);
int hvf_non_converging_from_string(const char *s); /* -1 if unknown */

/*
 * The seatbelt's verdict on a plan (hvfleet/seatbelt.h decides it from the thresholds below):
 * it may run on its own, it needs a person to approve that exact plan, or it must not run.
 * Here rather than with the plans, so that the twin can report the verdicts of the plans it
 * runs without depending on the planner (docs/internals/layers.md).
 */
typedef enum hvf_plan_verdict {
    HVF_PLAN_VERDICT_AUTO,
    HVF_PLAN_VERDICT_NEEDS_APPROVAL,
    HVF_PLAN_VERDICT_REFUSED,
    HVF_PLAN_VERDICT_LAST
} hvf_plan_verdict;

extern const char *const hvf_plan_verdict_names[]; /* "auto", "needs-approval", "refused" */
const char *hvf_plan_verdict_to_string(hvf_plan_verdict v);

typedef struct hvf_policy {
    uint32_t max_parallel_hosts; /* hosts evacuating or in maintenance at once */
    uint32_t max_parallel_per_rack;
    uint32_t max_parallel_per_zone;
    uint32_t max_migrations_out_per_host;   /* concurrent migrations leaving one host */
    uint32_t max_migrations_in_per_host;    /* concurrent migrations arriving on one host */
    double migration_bandwidth_bytes_per_s; /* per-migration cap (QEMU max-bandwidth); 0 = none */
    double migration_share;                 /* share of each NIC migrations may use, (0, 1] */
    /* Memory kept free on every target: a fixed size, or a share of the host's usable memory. */
    uint64_t headroom_mib;
    double headroom_share;       /* used when headroom_mib is 0 */
    int64_t downtime_limit_us;   /* QEMU downtime-limit */
    int64_t maintenance_time_us; /* per host, once it is empty */
    bool return_vms;             /* move VMs back once their host is maintained */
    hvf_non_converging non_converging;
    int64_t window_start_us; /* earliest start, from the plan's time zero */
    int64_t window_end_us;   /* latest end; 0 = open */
    struct {
        uint32_t max_hosts_without_approval;
        double max_capacity_offline;  /* share of the fleet's usable memory, (0, 1] */
        int64_t max_plan_duration_us; /* 0 = no limit */
    } seatbelt;
} hvf_policy;

/* Fills @p with the built-in defaults (documented in docs/planning.md). */
void hvf_policy_default(hvf_policy *p);

/*
 * hvf_policy_load / _parse: reads a policy file; fields left out keep their defaults. Every
 * problem goes to @diags as "FILE:LINE: FIELD: VALUE: what was expected".
 * Returns 0 with @out filled, or -1 with @err set (HVF_ERR_INVALID, HVF_ERR_IO) and @out
 * holding the defaults.
 */
int hvf_policy_load(const char *path, hvf_policy *out, hvf_diags *diags, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_policy_parse(const char *name, const char *buf, size_t len, hvf_policy *out,
                     hvf_diags *diags, hvf_error *err) __attribute__((warn_unused_result));

/* Headroom kept on a host of @usable_mib usable memory. */
uint64_t hvf_policy_headroom_mib(const hvf_policy *p, uint64_t usable_mib);

/* Appends @p as a complete policy file; parsing it back gives the same policy. */
void hvf_policy_format(const hvf_policy *p, hvf_strbuf *out);
