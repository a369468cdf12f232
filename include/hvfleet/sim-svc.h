/* SPDX-License-Identifier: MIT */
/*
 * Services as the twin sees their work, beyond hosts and VMs being up: what seeds 003 and 004
 * need and no more.
 *
 * - Replicated services (an inventory service; its VMs are the replicas): each replica has a
 *   serving flag. A replica can run and serve nothing (the brokers of seed 003). The service's
 *   success is the share of replicas running and serving. Clients (hosts whose agents use the
 *   service) are bound one each to a replica, round robin, and fail while it does not serve.
 * - Storage services (a scenario's name; its nodes are hosts, its clients VMs keeping their
 *   disks there): a node that drops established connections (the conntrack change of seed 004)
 *   blocks the IO of every client whose data it holds (span), until the cause is gone and the
 *   clients have reconnected (reconnect). A blocked client's IO latency is the age of its
 *   oldest request; a healthy one's is the service's latency.
 *
 * Every change is logged (vm_io_blocked, vm_io_resumed, host_conn_dropped, host_conn_restored,
 * replica_not_serving, replica_serving, impact_start, impact_end) and controllers receive
 * HVF_SIM_EV_SERVICE whenever the number of degraded clients and replicas changes.
 *
 * Not modelled: load and latency under load, failover when a storage node goes down (its
 * clients do not notice), clients of replicas that crash (only serving flags count for them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/sim-types.h" /* hvf_sim_svc_spec */

typedef struct hvf_sim hvf_sim;

/*
 * hvf_sim_add_svc: declares a service before the run (@spec is copied). Returns its index, or
 * -1 with HVF_ERR_INVALID (bad indexes, a name used twice, a storage without nodes).
 */
int32_t hvf_sim_add_svc(hvf_sim *sim, const hvf_sim_svc_spec *spec, hvf_error *err);
/* Index of a declared service by name, or -1. */
int32_t hvf_sim_find_svc(const hvf_sim *sim, const char *name);

/* ---- actions (controllers; take effect now) ---- */

/* @host drops (or stops dropping) established connections; @why goes into the event log. */
void hvf_sim_host_set_dropping(hvf_sim *sim, int32_t host, bool dropping, const char *why);
/* @vm answers (or stops answering) the requests of its service. */
void hvf_sim_vm_set_serving(hvf_sim *sim, int32_t vm, bool serving, const char *why);

/* ---- queries ---- */

bool hvf_sim_host_is_dropping(const hvf_sim *sim, int32_t host);
bool hvf_sim_vm_is_serving(const hvf_sim *sim, int32_t vm);
/* Share of the inventory service's replicas running and serving; 1 without replicas. */
double hvf_sim_service_success(const hvf_sim *sim, int32_t service);
/* A storage client's IO latency now; -1 for a VM that is no storage's client. */
int64_t hvf_sim_vm_io_latency_us(const hvf_sim *sim, int32_t vm);
/*
 * The @percentile (nearest rank) of the IO latency of the running clients of storage @svc, or
 * of every storage when @svc is -1. 0 when there is no such client.
 */
int64_t hvf_sim_client_io_latency_us(const hvf_sim *sim, int32_t svc, double percentile);
/* Storage clients blocked + replicated clients failing + replicas not serving, now. */
uint32_t hvf_sim_degraded(const hvf_sim *sim);

typedef struct hvf_sim_svc_stats {
    uint32_t peak_vms_io_blocked;
    double vm_io_blocked_s; /* summed over VMs */
    uint32_t peak_replicas_not_serving;
    double replica_not_serving_s;
    uint32_t peak_clients_failing;
    double client_failing_s;
    int64_t first_impact_us; /* first time anything was degraded; -1 never */
    int64_t last_clear_us;   /* last time everything became healthy again; -1 never */
} hvf_sim_svc_stats;

/* Figures so far (open intervals counted up to now). */
void hvf_sim_svc_get_stats(const hvf_sim *sim, hvf_sim_svc_stats *out);
