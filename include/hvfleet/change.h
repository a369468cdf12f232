/* SPDX-License-Identifier: MIT */
/*
 * Rolling changes: a change file (YAML/JSON, schema hvfleet.change/v1) says what is changed (a
 * package, a kernel, a config reload, a firewall rule), on which hosts or on the VMs of which
 * service, and how it rolls out; the change planner turns it into waves (a canary that covers
 * every variant present in the targets, then growing waves under the policy's limits and each
 * service's min_available), with a bake time and health gates after each wave. docs/changes.md
 * describes the file, the plan and its JSON form (schema hvfleet.change-plan/v1).
 *
 * Units: a change applies to units, which are hosts or VMs. Every unit has a location (its host,
 * rack and zone) and a set of variants ("kernel=4.15", "hw=nvme-g2", "role=storage"), taken from
 * its host for the dimensions the change lists in variants_by.
 *
 * Seeds 003 and 004 are why: a lab that under-represented kernel 4.15 let a firewall reload
 * drop established connections on every 4.15 storage node at once (004), and brokers that were
 * up but served nothing passed a liveness check wave after wave (003).
 *
 * This header is the change and its plan as data, with what reads, writes and checks them
 * (src/conf/change*.c). The planner that makes plans is hvfleet/change-plan.h (src/plan/), a
 * layer above: the twin runs plans it does not make (docs/internals/layers.md).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/policy.h"
#include "hvfleet/sha256.h"
#include "hvfleet/strbuf.h"

#define HVF_CHANGE_SCHEMA "hvfleet.change/v1"
/* Input limits: far beyond real changes, small enough to refuse garbage quickly. */
#define HVF_CHANGE_MAX_ITEMS 4096u

typedef enum hvf_change_kind {
    HVF_CHANGE_KIND_PACKAGE,       /* a package upgrade: the service restarts */
    HVF_CHANGE_KIND_KERNEL,        /* a kernel upgrade: the unit reboots */
    HVF_CHANGE_KIND_CONFIG_RELOAD, /* new settings, reloaded in place */
    HVF_CHANGE_KIND_FIREWALL_RULE, /* a rule set reloaded in place */
    HVF_CHANGE_KIND_LAST
} hvf_change_kind;

typedef enum hvf_change_strategy {
    HVF_CHANGE_STRATEGY_ROLLING,     /* canary, then growing waves */
    HVF_CHANGE_STRATEGY_ALL_AT_ONCE, /* one wave with every unit (how 2019 went) */
    HVF_CHANGE_STRATEGY_LAST
} hvf_change_strategy;

typedef enum hvf_change_gate_type {
    HVF_CHANGE_GATE_SERVICE_ANSWERS,   /* the service answers real work */
    HVF_CHANGE_GATE_CLIENT_IO_LATENCY, /* clients' disk IO latency stays under a bound */
    HVF_CHANGE_GATE_PROCESS_UP,        /* liveness only: weak (seed 003) */
    HVF_CHANGE_GATE_LAST
} hvf_change_gate_type;

extern const char *const hvf_change_kind_names[];     /* NULL-terminated */
extern const char *const hvf_change_strategy_names[]; /* NULL-terminated */
extern const char *const hvf_change_gate_names[];     /* NULL-terminated */
const char *hvf_change_kind_to_string(hvf_change_kind k);
const char *hvf_change_gate_to_string(hvf_change_gate_type t);

typedef struct hvf_change_gate {
    hvf_change_gate_type type;
    /* service_answers: an inventory service (required); client_io_latency: a storage service
     * of the scenario, NULL = every storage-backed VM. Owned, may be NULL. */
    char *service;
    double min_success;     /* service_answers: share of requests answered, (0, 1] */
    int64_t max_latency_us; /* client_io_latency */
    double percentile;      /* client_io_latency: over the clients, [50, 100] */
    int line;               /* in the change file, 0 when built in code */
} hvf_change_gate;

typedef struct hvf_change {
    char *name;        /* owned */
    char *description; /* owned, may be NULL */
    hvf_change_kind kind;
    /* targets: host selectors (all, a name, rack:R, zone:Z, tag:T) or the VMs of a service */
    char **hosts; /* owned */
    size_t nhosts;
    char *service;      /* owned, may be NULL */
    char **variants_by; /* owned: kernel, hw, role, zone, rack, or KEY (host tags KEY=VALUE) */
    size_t nvariants_by;
    char **settings; /* owned: what the change turns on, e.g. new_balancer */
    size_t nsettings;

    hvf_change_strategy strategy;
    uint32_t canary;     /* at least this many units in the canary */
    char **canary_units; /* owned: units the canary starts from (e.g. the lab's choice) */
    size_t ncanary_units;
    double factor;            /* each wave at most this many times the previous one */
    uint32_t max_per_wave;    /* 0 = only the policy's limit */
    int64_t apply_us;         /* per unit; a wave's units are applied together */
    int64_t bake_us;          /* after each wave, before the next */
    int64_t gate_interval_us; /* gates are checked this often while baking */

    hvf_spread redundancy_per; /* failure domain of redundancy_max */
    uint32_t redundancy_max;   /* units changed at once per domain; 0 = no such limit */

    hvf_change_gate *gates; /* owned */
    size_t ngates;
    bool rollback; /* roll back the waves done when a gate fails */
} hvf_change;

/* Fills @c with the documented defaults (name and targets empty). */
void hvf_change_init(hvf_change *c);
/* Frees what @c owns and resets it to the defaults. */
void hvf_change_clear(hvf_change *c);
void hvf_change_free(hvf_change *c);

/*
 * hvf_change_load / _parse: reads and validates a change file. Every problem goes to @diags as
 * "FILE:LINE: FIELD: VALUE: what was expected" (unknown fields, bad kinds, units or ranges,
 * both or neither target, gates without what they need). Names of hosts and services are
 * checked against a fleet by the planner, not here. Returns an owned change, or NULL with @err
 * set (HVF_ERR_INVALID, HVF_ERR_IO). Never crashes on any input.
 */
hvf_change *hvf_change_load(const char *path, hvf_diags *diags, hvf_error *err);
hvf_change *hvf_change_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                             hvf_error *err);

/* Appends @c as a complete change file; parsing it back gives the same change. */
void hvf_change_format(const hvf_change *c, hvf_strbuf *out);

/* True for gates that only check liveness (process_up). */
bool hvf_change_gate_is_weak(const hvf_change_gate *g);

/* ---- the plan ---- */

typedef struct hvf_change_unit {
    char *name;   /* owned: the host's or the VM's */
    int32_t host; /* fleet index */
    int32_t vm;   /* fleet index, -1 when the unit is a host */
    int32_t rack, zone;
    uint32_t *variants; /* owned: indexes into plan->variants, ascending */
    size_t nvariants;
    /* replicas of services the unit holds: svc[i] has count[i] (a VM: its own service, 1) */
    int32_t *svc;    /* owned */
    uint32_t *count; /* owned */
    size_t nsvc;
} hvf_change_unit;

typedef struct hvf_change_variant {
    char *dim, *value; /* owned */
    uint32_t units;    /* how many targets have it */
} hvf_change_variant;

typedef struct hvf_change_wave {
    uint32_t *units; /* owned: indexes into plan->units */
    size_t nunits;
    bool canary;
    int64_t start_us;   /* from the plan's time zero */
    int64_t applied_us; /* every unit of the wave applied */
    int64_t baked_us;   /* bake over; the next wave may start */
} hvf_change_wave;

typedef struct hvf_change_limits {
    uint32_t max_parallel; /* units changed at once (the policy's max_parallel_hosts); 0 = none */
    uint32_t max_per_rack; /* 0 = none */
    uint32_t max_per_zone; /* 0 = none */
} hvf_change_limits;

typedef struct hvf_change_plan_opts {
    hvf_change_limits limits;
    /* The change exactly as written, as people ran it without hvfleet: the canary is what the
     * file names (not extended to cover variants) and waves ignore the limits. The twin's
     * "as it happened" variants use it. */
    bool as_written;
} hvf_change_plan_opts;

typedef struct hvf_change_plan {
    char *change; /* owned: the change's name */
    hvf_change_kind kind;
    hvf_change_strategy strategy;
    bool as_written;
    hvf_change_unit *units; /* in target order (the fleet's order) */
    size_t nunits;
    hvf_change_variant *variants;
    size_t nvariants;
    hvf_change_wave *waves;
    size_t nwaves, waves_cap;
    uint32_t *added_for_coverage; /* owned: units the planner added to the canary */
    size_t nadded;
    uint32_t *uncovered; /* owned: variants the canary misses (as written only) */
    size_t nuncovered;
    uint32_t *forced; /* owned: units no wave can take without breaking min_available */
    size_t nforced;
    size_t nracks, nzones, ndomains; /* sizes for the packer (from the fleet) */
    bool cover_exact;  /* the canary is a minimum cover (false: greedy, many variants) */
    uint32_t wave_cap; /* most units in one wave after every limit */
    hvf_change_limits limits;
    int64_t duration_us;                         /* last wave baked */
    int64_t apply_us, bake_us, gate_interval_us; /* the change's */
    hvf_change_gate *gates;                      /* owned copies */
    size_t ngates;
    bool rollback;
    hvf_spread redundancy_per;
    uint32_t redundancy_max;
    /* each service's most replicas down at once (replicas - min_available); -1 = no replica
     * among the targets */
    int64_t *svc_budget; /* owned, one per fleet service */
    size_t nsvc;
    char **notes; /* owned: what a reader should know (weak gates, coverage, splits) */
    size_t nnotes, notes_cap;
    hvf_plan_verdict verdict;
    char **reasons; /* owned: the seatbelt's reasons, one sentence each */
    size_t nreasons, reasons_cap;
    char plan_hash[HVF_SHA256_HEX_LEN + 1];
} hvf_change_plan;

/* Limits from a maintenance policy: max_parallel_hosts, max_parallel_per_rack/zone. */
void hvf_change_limits_from_policy(const hvf_policy *policy, hvf_change_limits *out);

/* A unit of a change resolved against a fleet: a host, or a VM on its host. */
typedef struct hvf_change_target {
    int32_t host; /* fleet index */
    int32_t vm;   /* fleet index, -1 when the unit is a host */
} hvf_change_target;

/*
 * hvf_change_resolve: checks the names @change gives against @fleet, in this order: the
 * services of service_answers gates, the targets (a service of the inventory, or host
 * selectors, which must select something), the canary units (names of targets). On success
 * *@units holds the units in target order (the fleet's order; owned, *@nunits of them) and
 * *@canary the index into *@units of each canary unit, in the file's order (owned,
 * change->ncanary_units of them). The change planner builds its units from them; the scenario
 * reader calls it so that a wrong name surfaces when the scenario is loaded.
 * Returns 0, or -1 with HVF_ERR_NOT_FOUND (an unknown service, host, selector or canary unit)
 * or HVF_ERR_INVALID (no targets), both arrays NULL.
 */
int hvf_change_resolve(const hvf_fleet *fleet, const hvf_change *change, hvf_change_target **units,
                       size_t *nunits, uint32_t **canary, hvf_error *err)
    __attribute__((warn_unused_result));
