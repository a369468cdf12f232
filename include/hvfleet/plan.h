/* SPDX-License-Identifier: MIT */
/*
 * Maintenance plans: what will happen to which host and VM, when (seconds from the plan's time
 * zero), with the summary a human approves. JSON schema hvfleet.plan/v1; docs/planning.md
 * describes every field.
 *
 * Times are kept in whole milliseconds, downtimes in microseconds and ratios in millionths, so
 * that writing a plan and reading it back gives exactly the same plan and the same hash.
 *
 * plan_hash is SHA-256 over a canonical text form of everything in the plan except the hash
 * itself; the inventory fingerprint (SHA-256 of the inventory in canonical YAML) is part of it,
 * so a plan is bound to the fleet it was made for. Approvals name this hash.
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

#define HVF_PLAN_SCHEMA "hvfleet.plan/v1"
/* Input limits for plan files: far beyond any real fleet, small enough to refuse garbage. */
#define HVF_PLAN_MAX_ITEMS 10000000u
#define HVF_PLAN_MAX_SECONDS 1e9

typedef enum hvf_plan_kind {
    HVF_PLAN_KIND_MAINTENANCE, /* evacuate, maintain, (return) */
    HVF_PLAN_KIND_DRAIN,       /* evacuate only */
    HVF_PLAN_KIND_REBALANCE,   /* migrations only, no host leaves service (audit fixes) */
    HVF_PLAN_KIND_LAST
} hvf_plan_kind;

typedef enum hvf_plan_strategy {
    HVF_PLAN_STRATEGY_HVFLEET, /* limits, claims, predicted durations */
    HVF_PLAN_STRATEGY_NAIVE,   /* seed 000's short windows one after another, no claims */
    HVF_PLAN_STRATEGY_LAST
} hvf_plan_strategy;

/* How a migration finished; the names match hvf_migrate_strategy_to_string(). */
typedef enum hvf_plan_migration_mode {
    HVF_PLAN_MIGRATION_PRECOPY,
    HVF_PLAN_MIGRATION_AUTO_CONVERGE,
    HVF_PLAN_MIGRATION_POST_COPY,
    HVF_PLAN_MIGRATION_LAST
} hvf_plan_migration_mode;

extern const char *const hvf_plan_kind_names[];
extern const char *const hvf_plan_strategy_names[];
extern const char *const hvf_plan_migration_mode_names[];
const char *hvf_plan_kind_to_string(hvf_plan_kind k);
const char *hvf_plan_strategy_to_string(hvf_plan_strategy s);
const char *hvf_plan_migration_mode_to_string(hvf_plan_migration_mode m);
/* Each returns the value, or -1 for an unknown name. */
int hvf_plan_strategy_from_string(const char *s);

typedef struct hvf_plan_host {
    char *host; /* owned */
    int64_t evacuate_start_ms, evacuate_end_ms;
    int64_t maintenance_start_ms, maintenance_end_ms; /* equal to evacuate_end_ms in a drain */
    uint64_t usable_mib; /* when planned: `plan check` notices capacity changes */
} hvf_plan_host;

typedef struct hvf_plan_migration {
    char *vm, *from, *to; /* owned */
    int64_t start_ms, end_ms;
    uint64_t memory_mib;
    int64_t downtime_us;
    uint32_t rounds;
    bool converged;
    hvf_plan_migration_mode strategy;
} hvf_plan_migration;

/* A VM shut down instead of migrated, and started again (possibly elsewhere). */
typedef struct hvf_plan_stop {
    char *vm, *host, *start_host; /* owned */
    int64_t stop_ms, start_ms;
} hvf_plan_stop;

typedef struct hvf_plan_non_converging {
    char *vm; /* owned */
    hvf_non_converging action;
} hvf_plan_non_converging;

typedef struct hvf_plan_summary {
    int64_t makespan_ms;
    uint32_t max_parallel_hosts_seen;
    uint32_t peak_host_memory_ppm;      /* highest (used + claimed) / usable of any host, x 1e6 */
    uint32_t peak_capacity_offline_ppm; /* share of usable memory offline at once, x 1e6 */
    uint32_t vms_moved_more_than_once;
    uint32_t vms_at_risk; /* VMs on a host while it held more than its usable memory */
    hvf_plan_non_converging *non_converging; /* owned */
    size_t nnon_converging, non_converging_cap;
    hvf_plan_verdict verdict;
    char **reasons; /* owned, one sentence each */
    size_t nreasons, reasons_cap;
    char plan_hash[HVF_SHA256_HEX_LEN + 1];
} hvf_plan_summary;

typedef struct hvf_plan {
    hvf_plan_kind kind;
    hvf_plan_strategy strategy;
    char inventory_fingerprint[HVF_SHA256_HEX_LEN + 1];
    hvf_plan_summary summary;
    hvf_plan_host *hosts;
    size_t nhosts, hosts_cap;
    hvf_plan_migration *migrations;
    size_t nmigrations, migrations_cap;
    hvf_plan_stop *stops;
    size_t nstops, stops_cap;
} hvf_plan;

hvf_plan *hvf_plan_new(hvf_plan_kind kind, hvf_plan_strategy strategy);
void hvf_plan_free(hvf_plan *plan);

/* Appenders: strings are copied; the returned entry is the plan's (valid until the next add). */
hvf_plan_host *hvf_plan_add_host(hvf_plan *plan, const char *host);
hvf_plan_migration *hvf_plan_add_migration(hvf_plan *plan, const char *vm, const char *from,
                                           const char *to);
hvf_plan_stop *hvf_plan_add_stop(hvf_plan *plan, const char *vm, const char *host,
                                 const char *start_host);
void hvf_plan_add_non_converging(hvf_plan *plan, const char *vm, hvf_non_converging action);
/* Appends a seatbelt reason (one line; newlines become spaces). */
void hvf_plan_add_reason(hvf_plan *plan, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hvf_plan_clear_reasons(hvf_plan *plan);

/* Earliest start and latest end of anything in @plan (hosts, migrations, stops); 0 and 0 for
 * an empty plan. */
void hvf_plan_span_ms(const hvf_plan *plan, int64_t *first_ms, int64_t *last_ms);
/* Most hosts out of service at once (from evacuation start to maintenance end). */
uint32_t hvf_plan_max_parallel_hosts(const hvf_plan *plan);

/* Milliseconds from seconds, and ratios as millionths, rounded to nearest. */
int64_t hvf_plan_ms_from_s(double s);
uint32_t hvf_plan_ppm(double ratio);

/* SHA-256 of @fleet's shape in canonical inventory YAML (hvf_inventory_fingerprint_shape). */
void hvf_plan_inventory_fingerprint(const hvf_fleet *fleet, char hex[HVF_SHA256_HEX_LEN + 1]);

/* The hash of @plan as it is now (plan_hash itself excluded). */
void hvf_plan_compute_hash(const hvf_plan *plan, char hex[HVF_SHA256_HEX_LEN + 1]);
/* Stores the hash in plan->summary.plan_hash; call after the last change. */
void hvf_plan_seal(hvf_plan *plan);
/* True when plan_hash matches the content (the file was not edited by hand). */
bool hvf_plan_hash_ok(const hvf_plan *plan);

/* Appends the plan as indented JSON (schema hvfleet.plan/v1) and a newline. */
void hvf_plan_format(const hvf_plan *plan, hvf_strbuf *out);
/* Writes @plan to @path atomically ("-" = standard output). */
int hvf_plan_save(const hvf_plan *plan, const char *path, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_plan_check: re-verifies @plan against the inventory as it is now: the content still
 * matches plan_hash, the inventory fingerprint is the one planned for, every host in the plan
 * still exists, is active and has the usable memory it had, every VM still exists with the
 * memory it had and sits where the plan's first move of it starts. Appends one line per problem
 * to @problems and returns the number of problems (0: the plan still fits the fleet).
 */
size_t hvf_plan_check(const hvf_plan *plan, const hvf_fleet *fleet, hvf_diags *problems);

/*
 * hvf_plan_load / _parse: reads a plan file, which is untrusted input: types, ranges, names,
 * time order, counts and the hash's form are all checked, every problem going to @diags as
 * "FILE:LINE: FIELD: VALUE: what was expected". The hash is not compared to the content here
 * (see hvf_plan_hash_ok). Returns an owned plan, or NULL with @err set.
 */
hvf_plan *hvf_plan_load(const char *path, hvf_diags *diags, hvf_error *err);
hvf_plan *hvf_plan_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                         hvf_error *err);

/* Which reader a plan file is for, by its top-level "schema" (wherever it is in the object). */
typedef enum hvf_plan_file_kind {
    HVF_PLAN_FILE_OTHER,       /* not JSON, no schema, or another one: the plan reader says why */
    HVF_PLAN_FILE_MAINTENANCE, /* HVF_PLAN_SCHEMA: hvf_plan_load */
    HVF_PLAN_FILE_CHANGE,      /* hvfleet.change-plan/v1: hvf_change_plan_file_load */
} hvf_plan_file_kind;

/*
 * hvf_plan_file_kind_of / _load: parses @buf (or the file at @path) as JSON and dispatches on
 * its top-level "schema". Never fails: what cannot be read is HVF_PLAN_FILE_OTHER, left for
 * the reader that follows to report; what is not JSON goes to the reader its first 4 KiB name
 * (hvf_change_plan_file_sniff), so its syntax error is worded for the plan it was meant to be.
 */
hvf_plan_file_kind hvf_plan_file_kind_of(const char *buf, size_t len);
hvf_plan_file_kind hvf_plan_file_kind_load(const char *path);
