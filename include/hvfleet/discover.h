/* SPDX-License-Identifier: MIT */
/*
 * Inventories discovered from running hosts (docs/libvirt.md): each host's libvirtd tells its
 * CPUs, memory, name and UUID, and the domains it runs (memory, vCPUs), and can measure their
 * dirty rates. What hosts can't tell (zone, rack, services, tags) comes from a merged inventory.
 *
 * Contract: blocking (a command's, not the executor's); one connection per host, opened and
 * closed here; errors name the host's URI and libvirt's message. The result passes
 * hvf_inventory_parse once formatted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/fleet.h"

typedef struct hvf_discover_opts {
    const char *const *uris; /* one libvirt URI a host */
    size_t nuris;
    /* the hosts' names, one a URI (from --hosts with a template); NULL: each daemon's hostname,
     * up to its first dot */
    const char *const *names;
    int64_t measure_dirty_us; /* measure every running domain's dirty rate this long; 0: no */
    const hvf_fleet *merge;   /* zones, racks, services and the rest kept from it; may be NULL */
} hvf_discover_opts;

/* What was found, for the command's summary. */
typedef struct hvf_discover_stats {
    size_t hosts, domains, measured;
    size_t merged_hosts, merged_vms; /* found in the merged inventory */
    size_t kept_vms;                 /* of the merged inventory, running on no discovered host */
} hvf_discover_stats;

/* The fleet the hosts behind @o->uris form (owned), or NULL with @err set. */
hvf_fleet *hvf_libvirt_discover(const hvf_discover_opts *o, hvf_discover_stats *stats,
                                hvf_error *err);
