/* SPDX-License-Identifier: MIT */
/*
 * Placement: where a VM goes. Filters reject hosts, weighers order the rest (docs/planning.md).
 *
 * Filters, in the order a rejected host is counted:
 *   state   the host is not active, or is evacuating / in maintenance in the current plan
 *   due     the host is still to be maintained, so the VM would have to move again
 *   source  the VM's own host
 *   pinned  not the one host the VM may go to (a DRBD VM's secondary, which holds its disk)
 *   memory  free memory after used, claimed and the policy's headroom is too small
 *   cpu     free vCPUs (cpus x cpu_allocation_ratio, minus used and claimed) too few
 *   spread  another replica of the VM's service sits on the same host / rack / zone
 *           (the service's spread level)
 *   busy    the host already receives the maximum number of migrations
 * Weighers, lexicographic: already-maintained hosts first (a VM moves once per fleet-wide
 * maintenance), then best fit (least memory left, in buckets of 1/32 of an octave, ~2%),
 * then the VM's current rack, then fewest migrations in flight, then the lowest host index.
 * min_available is not a placement filter: spread keeps replicas apart, and the planner and the
 * seatbelt keep enough replicas running.
 *
 * The placer keeps hosts in an ordered index so a choice costs far less than a pass over all
 * hosts: callers report every change (accounting, role, replica moves) and the index follows.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/fleet.h"
#include "hvfleet/policy.h"

typedef enum hvf_place_reject {
    HVF_PLACE_REJECT_STATE,
    HVF_PLACE_REJECT_DUE,
    HVF_PLACE_REJECT_SOURCE,
    HVF_PLACE_REJECT_MEMORY,
    HVF_PLACE_REJECT_CPU,
    HVF_PLACE_REJECT_SPREAD,
    HVF_PLACE_REJECT_BUSY,
    HVF_PLACE_REJECT_PINNED, /* checked after source; last here to keep the numbers */
    HVF_PLACE_REJECT_LAST
} hvf_place_reject;

/* Short names ("memory") and sentences ("not enough memory after claims and headroom"). */
const char *hvf_place_reject_to_string(hvf_place_reject r);
const char *hvf_place_reject_describe(hvf_place_reject r);

/* A host's part in the maintenance being planned. */
typedef enum hvf_place_role {
    HVF_PLACE_ROLE_NORMAL,     /* not part of it */
    HVF_PLACE_ROLE_MAINTAINED, /* done: preferred target */
    HVF_PLACE_ROLE_DUE,        /* still to be maintained: avoided */
    HVF_PLACE_ROLE_OFFLINE,    /* evacuating or in maintenance: never a target */
    HVF_PLACE_ROLE_LAST
} hvf_place_role;

const char *hvf_place_role_to_string(hvf_place_role r);

typedef struct hvf_placer hvf_placer;

typedef struct hvf_place_request {
    hvf_resources need;
    int32_t service;          /* -1 = none */
    int32_t source;           /* host the VM leaves; -1 for a new VM */
    const uint32_t *inflight; /* migrations arriving per host; may be NULL */
    uint32_t max_inflight;    /* busy at this many; 0 = no limit */
    bool allow_due;           /* if nothing else fits, accept a host still to be maintained */
    bool pinned;              /* only pin_host may take it (hvf_place_request_pin) */
    int32_t pin_host;
    bool explain;             /* examine every host so that the counts are complete */
} hvf_place_request;

/* Pins @req to @vm's DRBD secondary when it has one: no other host holds its disk. */
static inline void
hvf_place_request_pin(hvf_place_request *req, const hvf_vm *vm)
{
    req->pinned = vm->has_secondary;
    req->pin_host = vm->has_secondary ? vm->secondary : -1;
}

typedef struct hvf_place_result {
    int32_t host;        /* -1 when the VM fits nowhere */
    hvf_place_role role; /* the chosen host's */
    uint32_t examined;   /* hosts looked at (all of them with explain) */
    uint32_t candidates; /* hosts that passed every filter (explain only) */
    uint32_t rejected[HVF_PLACE_REJECT_LAST];
} hvf_place_result;

/*
 * hvf_placer_new: indexes @fleet for placement, every host NORMAL. @fleet is borrowed and must
 * outlive the placer; @policy (may be NULL for the defaults) gives the headroom and is copied.
 */
hvf_placer *hvf_placer_new(const hvf_fleet *fleet, const hvf_policy *policy);
void hvf_placer_free(hvf_placer *p);

void hvf_placer_set_role(hvf_placer *p, int32_t host, hvf_place_role role);
hvf_place_role hvf_placer_get_role(const hvf_placer *p, int32_t host);
/* Call after @host's used or claimed resources or its state changed. */
void hvf_placer_host_changed(hvf_placer *p, int32_t host);
/* A replica of @service now also counts / no longer counts on @host (a migrating VM counts on
 * both ends until it completes). */
void hvf_placer_replica_add(hvf_placer *p, int32_t service, int32_t host);
void hvf_placer_replica_remove(hvf_placer *p, int32_t service, int32_t host);

/*
 * A busy host (receiving as many migrations as allowed) is rejected as "busy" and left out of
 * the index until it is not busy any more, so that choices do not walk over it.
 */
void hvf_placer_set_busy(hvf_placer *p, int32_t host, bool busy);
/* True when a busy host would pass every other filter for @req: waiting may help. */
bool hvf_placer_busy_fits(const hvf_placer *p, const hvf_place_request *req);

/* Memory a VM may still take on @host: free after claims, minus headroom. */
uint64_t hvf_placer_avail_mib(const hvf_placer *p, int32_t host);

/*
 * hvf_placer_check: the first filter @host fails for @req (an hvf_place_reject), or -1 when it
 * passes them all. The host's role is ignored, so that a VM can be sent to a fixed host that
 * is reserved for it (a VM returning home). Cheap: no index walk.
 */
int hvf_placer_check(const hvf_placer *p, const hvf_place_request *req, int32_t host);

/*
 * hvf_placer_choose: picks the best host for @req. Deterministic: same state, same answer.
 * Fills @res (the counts cover the hosts examined; all hosts with req->explain).
 * Returns the host index, or -1 when nothing fits.
 */
int32_t hvf_placer_choose(hvf_placer *p, const hvf_place_request *req, hvf_place_result *res);
