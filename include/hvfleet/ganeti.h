/* SPDX-License-Identifier: MIT */
/*
 * Ganeti htools text backend (the file `hbal -t`, `hroller -t`, `hspace -t` and `hinfo -t` read)
 * to an hvfleet fleet and back.
 *
 * The file is line based: sections separated by one empty line (groups, nodes, instances, cluster
 * tags, policies), fields separated by '|'. The mapping:
 *
 *   node group   -> zone (Ganeti has no racks: a node tag "rack:NAME" or a location tag declared
 *                   by a cluster tag "htools:nlocation:PREFIX" names the rack, else "default")
 *   node         -> host: memory = total_mem, reserved_memory = node_mem, cpus = total_cpu,
 *                   offline 'Y' -> down, node tag "hvfleet:drained" -> maintenance
 *   instance     -> VM on its primary node (DRBD secondaries are counted, not modelled);
 *                   plain/file instances cannot live-migrate in Ganeti -> migratable: false
 *   exclusion tag -> service: with cluster tag "htools:iextags:PREFIX", instance tag "PREFIX:V"
 *                   puts the VM in service V (spread host, as htools keeps them on distinct nodes)
 *   ipolicy      -> vcpu_ratio = cpu_allocation_ratio, memory_ratio = ram_allocation_ratio
 *
 * hvf_ganeti_format writes the reverse so generated fleets can be fed to hroller/hbal.
 */
#pragma once

#include <stddef.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/strbuf.h"

/* What an import found beyond the fleet itself, for the CLI's summary. */
typedef struct hvf_ganeti_stats {
    size_t groups, nodes, instances;
    size_t offline_nodes;     /* 'Y' or unknown resources: imported as down */
    size_t unknown_nodes;     /* '?' resources: sized to hold their instances */
    size_t drained_nodes;     /* "hvfleet:drained" tag: imported as maintenance */
    size_t drbd_instances;    /* with a secondary node: the only one they live-migrate to */
    size_t stopped_instances; /* down or forthcoming: imported idle, memory still held */
    size_t unmigratable;      /* disk template without live migration (plain, file) */
    size_t raised_ratios;     /* hosts whose allocation ratio was raised to hold their VMs */
    hvf_diags notes;          /* one line per adjustment above, "FILE:LINE: ..." (owned) */
} hvf_ganeti_stats;

/* Frees what @stats holds; safe on a zeroed struct. */
void hvf_ganeti_stats_clear(hvf_ganeti_stats *stats);

/*
 * hvf_ganeti_parse: converts htools text data @buf (@len bytes, @name used in messages) into a
 * fleet. Every bad line adds "NAME:LINE: field: 'value': expected ..." to @diags (truncated lines,
 * bad numbers, unknown groups or nodes, duplicate names, bad enums).
 * @stats may be NULL; when given it is overwritten (clear it with hvf_ganeti_stats_clear).
 *
 * Returns an owned fleet (hvf_fleet_free), or NULL with @err set: HVF_ERR_INVALID when @diags
 * holds problems. Never crashes on any input.
 */
hvf_fleet *hvf_ganeti_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                            hvf_error *err);
hvf_fleet *hvf_ganeti_parse_stats(const char *name, const char *buf, size_t len,
                                  hvf_ganeti_stats *stats, hvf_diags *diags, hvf_error *err);

/* Reads @path and parses it as above; HVF_ERR_IO when it cannot be read. */
hvf_fleet *hvf_ganeti_load(const char *path, hvf_ganeti_stats *stats, hvf_diags *diags,
                           hvf_error *err);

/*
 * hvf_ganeti_format: appends @fleet in the htools text format, one group per zone, that hinfo,
 * hbal, hroller and hspace accept without "inconsistent data" warnings: free memory is total
 * minus node memory minus the VMs' memory; the first host that is up is the master (hroller
 * needs one), down hosts are offline; VMs become running instances on their host (ERROR_nodeoffline
 * on a down host), diskless (shared storage, so htools may live-migrate them anywhere) or plain
 * when not migratable; services become exclusion tags "service:NAME". Racks, kernel, hw,
 * maintenance and service attributes go into tags that hvf_ganeti_parse reads back. Allocation
 * ratios are per group in Ganeti: each zone gets its first host's. Dirty rates, working sets and
 * CPU loads have no place in the format and are lost. Characters the format reserves (',' '|'
 * newlines) in host tags are replaced by '_'. Export, import and export again give the same text.
 */
void hvf_ganeti_format(const hvf_fleet *fleet, hvf_strbuf *out);
