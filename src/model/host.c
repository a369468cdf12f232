/* SPDX-License-Identifier: MIT */
/* Per-host accounting of used and claimed memory and vCPUs, and its invariants. */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"

hvf_resources
hvf_host_usable(const hvf_host *host)
{
    hvf_resources r = {0, 0};
    uint64_t base = host->mem_mib > host->reserved_mib ? host->mem_mib - host->reserved_mib : 0;

    r.mem_mib = (uint64_t)floor((double)base * host->ram_allocation_ratio);
    r.vcpus = (uint32_t)floor((double)host->cpus * host->cpu_allocation_ratio);
    return r;
}

hvf_resources
hvf_host_free(const hvf_host *host)
{
    hvf_resources u = hvf_host_usable(host);
    hvf_resources r = {0, 0};
    uint64_t mem = host->used.mem_mib + host->claimed.mem_mib;
    uint64_t cpu = (uint64_t)host->used.vcpus + host->claimed.vcpus;

    r.mem_mib = u.mem_mib > mem ? u.mem_mib - mem : 0;
    r.vcpus = u.vcpus > cpu ? (uint32_t)(u.vcpus - cpu) : 0;
    return r;
}

static int
host_check_room(const hvf_host *host, const hvf_resources *r, unsigned flags, const char *what,
                hvf_error *err)
{
    hvf_resources f;

    if (UINT64_MAX - host->used.mem_mib - host->claimed.mem_mib < r->mem_mib ||
        UINT32_MAX - host->used.vcpus - host->claimed.vcpus < r->vcpus) {
        hvf_error_set(err, HVF_ERR_CAPACITY, "host '%s': %s of %" PRIu64 " MiB overflows",
                      host->name, what, r->mem_mib);
        return -1;
    }
    if (flags & HVF_OVERCOMMIT)
        return 0;
    f = hvf_host_free(host);
    if (r->mem_mib > f.mem_mib) {
        hvf_error_set(err, HVF_ERR_CAPACITY,
                      "host '%s' has %" PRIu64 " MiB free, %s needs %" PRIu64 " MiB", host->name,
                      f.mem_mib, what, r->mem_mib);
        return -1;
    }
    if (r->vcpus > f.vcpus) {
        hvf_error_set(err, HVF_ERR_CAPACITY, "host '%s' has %u vCPUs free, %s needs %u",
                      host->name, f.vcpus, what, r->vcpus);
        return -1;
    }
    return 0;
}

static int
host_check_held(const hvf_host *host, const hvf_resources *held, const hvf_resources *r,
                const char *what, hvf_error *err)
{
    if (r->mem_mib > held->mem_mib || r->vcpus > held->vcpus) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "host '%s': %s of %" PRIu64 " MiB/%u vCPUs exceeds the %" PRIu64
                      " MiB/%u vCPUs held",
                      host->name, what, r->mem_mib, r->vcpus, held->mem_mib, held->vcpus);
        return -1;
    }
    return 0;
}

int
hvf_host_claim(hvf_host *host, const hvf_resources *r, unsigned flags, hvf_error *err)
{
    if (host_check_room(host, r, flags, "claim", err) < 0)
        return -1;
    host->claimed.mem_mib += r->mem_mib;
    host->claimed.vcpus += r->vcpus;
    return 0;
}

int
hvf_host_release_claim(hvf_host *host, const hvf_resources *r, hvf_error *err)
{
    if (host_check_held(host, &host->claimed, r, "claim release", err) < 0)
        return -1;
    host->claimed.mem_mib -= r->mem_mib;
    host->claimed.vcpus -= r->vcpus;
    return 0;
}

int
hvf_host_commit(hvf_host *host, const hvf_resources *r, hvf_error *err)
{
    if (host_check_held(host, &host->claimed, r, "commit", err) < 0)
        return -1;
    host->claimed.mem_mib -= r->mem_mib;
    host->claimed.vcpus -= r->vcpus;
    host->used.mem_mib += r->mem_mib;
    host->used.vcpus += r->vcpus;
    return 0;
}

int
hvf_host_use(hvf_host *host, const hvf_resources *r, unsigned flags, hvf_error *err)
{
    if (host_check_room(host, r, flags, "placement", err) < 0)
        return -1;
    host->used.mem_mib += r->mem_mib;
    host->used.vcpus += r->vcpus;
    return 0;
}

int
hvf_host_release_used(hvf_host *host, const hvf_resources *r, hvf_error *err)
{
    if (host_check_held(host, &host->used, r, "release", err) < 0)
        return -1;
    host->used.mem_mib -= r->mem_mib;
    host->used.vcpus -= r->vcpus;
    return 0;
}
