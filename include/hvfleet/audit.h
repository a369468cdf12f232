/* SPDX-License-Identifier: MIT */
/*
 * The fault-domain audit (seed 002: a hypervisor held the monitoring and the ticketing system,
 * so its reboot alerted nobody). For every host, rack and zone it asks what losing that one
 * domain would do, and finds:
 *
 *   replicas     a critical service would lose all its replicas, or drop below min_available
 *   dependency   a critical service would survive, but a service it depends on (depends_on,
 *                followed transitively) would not: monitoring without its alert path
 *   shared fate  two services declared must_not_share (either side declares it) would both stop
 *                working, counting what they depend on: monitoring and what it monitors, the
 *                alert path and the ticketing system
 *
 * Replicas on hosts that are down do not count (they are lost already). A level with a single
 * domain (one zone, one rack) is not audited: nothing can be moved out of it. A rack (zone) is
 * not reported for a service when one of its hosts (racks) already is: losing the rack loses
 * the host.
 *
 * Then the moves that fix the findings, chosen with the placement module (filters and weighers
 * of include/hvfleet/placement.h) on a working copy of the fleet: a replica leaves the domain
 * for a host in a domain holding none of its service (else any other domain), each VM moves at
 * most once, and the findings are computed again after every move, so a move that fixes one
 * finding never leaves another behind unnoticed. Findings moves cannot fix (a service with one
 * replica, or too few domains) are listed as needing more replicas.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/fleet.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/watchers.h"

#define HVF_AUDIT_SCHEMA "hvfleet.audit/v1"

typedef enum hvf_audit_kind {
    HVF_AUDIT_REPLICAS,
    HVF_AUDIT_DEPENDENCY,
    HVF_AUDIT_SHARED_FATE,
    HVF_AUDIT_KIND_LAST
} hvf_audit_kind;

extern const char *const hvf_audit_kind_names[]; /* "replicas", "dependency", "shared_fate" */

typedef struct hvf_audit_finding {
    hvf_audit_kind kind;
    hvf_spread level; /* the domain's level */
    int32_t domain;   /* host, rack or zone index */
    int32_t service;  /* the critical service; for shared fate the one declaring it */
    int32_t other;    /* the dependency, or the service it must not share with; -1 */
    uint32_t alive;   /* the service's replicas running before the loss */
    uint32_t lost;    /* of them, in the domain */
    uint32_t needed;  /* max(min_available, 1) */
} hvf_audit_finding;

typedef struct hvf_audit_move {
    int32_t vm, from, to;
    size_t finding; /* index into hvf_audit.remedied: what this move was chosen to fix */
} hvf_audit_move;

typedef struct hvf_audit {
    hvf_audit_finding *findings; /* owned: the fleet as it is */
    size_t nfindings;
    hvf_audit_move *moves; /* owned, in order */
    size_t nmoves;
    hvf_audit_finding *remedied; /* owned: the findings the moves were chosen for */
    size_t nremedied;
    hvf_audit_finding *remaining; /* owned: what is left after the moves */
    size_t nremaining;
    bool audited[HVF_SPREAD_LAST]; /* levels with more than one domain */
} hvf_audit;

/*
 * hvf_audit_find: the findings of @fleet as it is (no moves): *@out receives an owned array
 * (free it; NULL when there are none) and the count is returned. Deterministic: in level,
 * domain, kind, service order.
 */
size_t hvf_audit_find(const hvf_fleet *fleet, hvf_audit_finding **out);

/*
 * hvf_audit_run: the findings and the moves that fix them. @policy (may be NULL: defaults) gives
 * the placement headroom. @fleet is not modified. Returns an owned audit (hvf_audit_free).
 */
hvf_audit *hvf_audit_run(const hvf_fleet *fleet, const hvf_policy *policy);
void hvf_audit_free(hvf_audit *a);

/* One sentence about @f, e.g. "losing host kvm03 takes all 1 replica of critical service
 * 'monitoring'". */
void hvf_audit_describe(const hvf_fleet *fleet, const hvf_audit_finding *f, hvf_strbuf *out);

/*
 * hvf_audit_fix_plan: the moves as a plan (kind rebalance, one migration after another, each
 * timed with the live-migration model at the policy's bandwidth), checked by the seatbelt and
 * sealed, bound to @fleet's fingerprint: `hvfleet plan check` accepts it while the inventory is
 * unchanged. Returns an owned plan (hvf_plan_free).
 */
hvf_plan *hvf_audit_fix_plan(const hvf_audit *a, const hvf_fleet *fleet, const hvf_policy *policy);

/* Human text: the findings, the moves, what remains. @fix_path (may be NULL) names the plan. */
void hvf_audit_format_text(const hvf_audit *a, const hvf_fleet *fleet, const char *fix_path,
                           hvf_strbuf *out);
/* JSON (schema hvfleet.audit/v1), indented, owned. */
char *hvf_audit_json(const hvf_audit *a, const hvf_fleet *fleet, const char *fix_path);

/*
 * The daemon's own watchers (hvfleet/watchers.h: peers, webhooks, the dead-man's switch, from
 * hvfleetd.yaml) against the fleet they watch: a watcher whose URL's host is a host of @fleet
 * (its name, the first label of a DNS name, or its migration_address) or a VM of it (then that
 * VM's host) shares that host's fault domain with what it watches (seed 002).
 */
typedef struct hvf_watch_finding {
    size_t watcher; /* index into the watchers */
    int32_t host;   /* the fleet host it runs on (a VM's host); -1 for a VM placed nowhere */
    int32_t vm;     /* the fleet VM it runs on, or -1 */
} hvf_watch_finding;

/* The findings, in the watchers' order: *@out owned (NULL when none); returns the count. */
size_t hvf_audit_watchers(const hvf_fleet *fleet, const hvf_watchers *w, hvf_watch_finding **out);
/* One sentence about @x. */
void hvf_audit_watch_describe(const hvf_fleet *fleet, const hvf_watchers *w,
                              const hvf_watch_finding *x, hvf_strbuf *out);
