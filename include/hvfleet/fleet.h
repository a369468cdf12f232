/* SPDX-License-Identifier: MIT */
/*
 * The fleet: zones > racks > hosts, the VMs on them and the services they form.
 *
 * Objects live in arrays owned by the fleet and refer to each other by index (int32_t, -1 for
 * none), so a fleet of 10,000 hosts and 200,000 VMs is a handful of allocations and copies cheaply.
 * Names are unique per kind; racks are unique per zone.
 *
 * Accounting invariant, per host: used_* + claimed_* <= usable capacity unless a caller passed
 * HVF_OVERCOMMIT; no counter ever goes negative. Claims are reservations taken on a target before
 * a migration starts (Nova's placement claims, oVirt's pending resources); commit turns a claim
 * into use when the VM arrives; release gives it back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/hash.h"

#define HVF_NAME_MAX 63

typedef enum hvf_host_state {
    HVF_HOST_STATE_ACTIVE,
    HVF_HOST_STATE_MAINTENANCE,
    HVF_HOST_STATE_DOWN,
    HVF_HOST_STATE_LAST
} hvf_host_state;

typedef enum hvf_spread {
    HVF_SPREAD_HOST,
    HVF_SPREAD_RACK,
    HVF_SPREAD_ZONE,
    HVF_SPREAD_LAST
} hvf_spread;

const char *hvf_host_state_to_string(hvf_host_state s);
int hvf_host_state_from_string(const char *s); /* -1 if unknown */
const char *hvf_spread_to_string(hvf_spread s);
int hvf_spread_from_string(const char *s);

/* NULL-terminated name tables, for parsers and messages. */
extern const char *const hvf_host_state_names[];
extern const char *const hvf_spread_names[];

typedef struct hvf_resources {
    uint64_t mem_mib;
    uint32_t vcpus;
} hvf_resources;

typedef struct hvf_zone {
    char *name; /* owned */
} hvf_zone;

typedef struct hvf_rack {
    char *name; /* owned */
    int32_t zone;
    int32_t next_same_name; /* the next rack of this name (in another zone), or -1 */
} hvf_rack;

/*
 * A network interface of a host as the inventory records it (issue 12: a host that comes back
 * with other names or MACs, seed 002's renamed NICs, is kept out of service).
 */
#define HVF_NIC_NAME_MAX 15 /* Linux: IFNAMSIZ - 1 */
#define HVF_MAC_TEXT_LEN 17 /* "3c:ec:ef:00:11:22" */
#define HVF_HOST_NICS_MAX 32

typedef struct hvf_nic {
    char name[HVF_NIC_NAME_MAX + 1]; /* valid by hvf_nic_name_is_valid */
    char mac[HVF_MAC_TEXT_LEN + 1];  /* six hex pairs separated by ':', lower-case */
} hvf_nic;

/* A NIC as a host reports it (the agent's facts): both borrowed, either may be NULL or bad. */
typedef struct hvf_nic_report {
    const char *name;
    const char *mac; /* any case */
} hvf_nic_report;

typedef struct hvf_host {
    char *name; /* owned */
    int32_t zone;
    int32_t rack;
    uint32_t cpus;
    uint64_t mem_mib;      /* physical */
    uint64_t reserved_mib; /* kept for the host itself */
    double cpu_allocation_ratio; /* vCPUs per physical CPU (Nova's name) */
    double ram_allocation_ratio;
    double nic_bytes_per_s; /* migration network */
    char *kernel;           /* owned, may be NULL */
    char *hw;               /* owned, may be NULL */
    /* libvirt: driver (docs/libvirt.md): its libvirtd's URI and the address its migrations
     * are received on; owned, NULL when the inventory gives none */
    char *libvirt_uri;
    char *migration_address;
    char **tags;            /* owned */
    size_t ntags;
    hvf_host_state state;
    /* owned, NULL when nnics == 0 (the inventory records none: no identity check); names and
     * MACs are unique within the host, MACs across the fleet (the inventory reader checks) */
    hvf_nic *nics;
    size_t nnics;
    int line; /* where it was defined, 0 if generated */

    hvf_resources used;
    hvf_resources claimed;
} hvf_host;

typedef struct hvf_vm {
    char *name; /* owned */
    int32_t host;
    uint32_t vcpus;
    uint64_t mem_mib;
    double dirty_bytes_per_s;
    uint64_t working_set_mib;
    double cpu_load; /* busy fraction of its vCPUs */
    int32_t service; /* -1 = none */
    bool migratable;
    /* Issue 13: restarted elsewhere when its host is lost, once the host is fenced (docs/ha.md).
     * Read with hvf_vm_is_ha: ha counts only when ha_set (the inventory wrote ha: for the VM);
     * otherwise the VM's service decides. Zero (unset) inherits, so protos built with {0} do. */
    bool ha;
    bool ha_set;
    /* DRBD (Ganeti's drbd disk template): the host holding the other copy of its disk, the only
     * host a live migration can take it to; after one, the host it left is the secondary
     * (hvf_vm_moved). Set only when has_secondary. */
    bool has_secondary;
    int32_t secondary;
    int line;
} hvf_vm;

/* How one service relates to another (the fault-domain audit reads these). */
typedef enum hvf_service_rel {
    HVF_SERVICE_DEPENDS_ON,     /* it does not work without the other (monitoring -> alerting) */
    HVF_SERVICE_MUST_NOT_SHARE, /* no single failure may take both (monitoring and what it
                                   monitors) */
    HVF_SERVICE_REL_LAST
} hvf_service_rel;

typedef struct hvf_service {
    char *name; /* owned */
    bool critical;
    uint32_t min_available;
    hvf_spread spread;
    bool ha; /* its VMs are HA unless a VM says ha: false (hvf_vm_is_ha) */
    int line;
    /* service indexes, owned, set with hvf_fleet_service_relate (a proto's are ignored) */
    int32_t *rel[HVF_SERVICE_REL_LAST];
    size_t nrel[HVF_SERVICE_REL_LAST];
} hvf_service;

typedef struct hvf_fleet {
    hvf_zone *zones;
    size_t nzones, zones_cap;
    hvf_rack *racks;
    size_t nracks, racks_cap;
    hvf_host *hosts;
    size_t nhosts, hosts_cap;
    hvf_vm *vms;
    size_t nvms, vms_cap;
    hvf_service *services;
    size_t nservices, services_cap;

    hvf_hash zone_index;
    hvf_hash rack_index; /* name -> its first rack; the others follow next_same_name */
    hvf_hash host_index;
    hvf_hash vm_index;
    hvf_hash service_index;
} hvf_fleet;

/* Flags for accounting operations. */
#define HVF_OVERCOMMIT 0x1u /* allow used + claimed beyond usable capacity */

hvf_fleet *hvf_fleet_new(void);
void hvf_fleet_free(hvf_fleet *fleet);
hvf_fleet *hvf_fleet_dup(const hvf_fleet *fleet);

/* True when @name is 1..63 chars of [A-Za-z0-9._-]. */
bool hvf_name_is_valid(const char *name);

/* Zone and rack by name, created on first use. Return the index. */
int32_t hvf_fleet_zone_ensure(hvf_fleet *fleet, const char *name);
int32_t hvf_fleet_rack_ensure(hvf_fleet *fleet, int32_t zone, const char *name);

/*
 * hvf_fleet_add_host: appends a host with no VMs. @proto supplies every field; strings are
 * copied, accounting starts at zero. Returns the index, or -1 with HVF_ERR_INVALID when the name
 * is taken or invalid.
 */
int32_t hvf_fleet_add_host(hvf_fleet *fleet, const hvf_host *proto, hvf_error *err);
int32_t hvf_fleet_add_service(hvf_fleet *fleet, const hvf_service *proto, hvf_error *err);
/*
 * hvf_fleet_add_vm: appends a VM and accounts it as used on its host (@flags may carry
 * HVF_OVERCOMMIT: an inventory describes what is, even an over-committed host). Returns the
 * index, or -1 (duplicate/invalid name, unknown host or secondary, a secondary that is its own
 * host, no room on the host).
 */
int32_t hvf_fleet_add_vm(hvf_fleet *fleet, const hvf_vm *proto, unsigned flags, hvf_error *err);
/*
 * hvf_fleet_service_relate: records that service @svc depends on / must not share a fault
 * domain with service @other. Returns 0, or -1 with HVF_ERR_INVALID (an index out of range,
 * the service itself, or a relation already recorded).
 */
int hvf_fleet_service_relate(hvf_fleet *fleet, int32_t svc, hvf_service_rel rel, int32_t other,
                             hvf_error *err) __attribute__((warn_unused_result));

int32_t hvf_fleet_find_host(const hvf_fleet *fleet, const char *name);
int32_t hvf_fleet_find_vm(const hvf_fleet *fleet, const char *name);
int32_t hvf_fleet_find_service(const hvf_fleet *fleet, const char *name);
int32_t hvf_fleet_find_zone(const hvf_fleet *fleet, const char *name);

/*
 * True when @name can be a Linux interface name: 1 to 15 printable ASCII characters, none of
 * them '/', ':' or a space, and not "." or "..". (The kernel takes any byte but those; a name
 * outside printable ASCII is refused here so it can be written in messages and YAML as is.)
 */
bool hvf_nic_name_is_valid(const char *name);
/*
 * hvf_mac_parse: true when @text is six pairs of hex digits separated by ':' (any case); the
 * lower-case form then goes to @out. False for anything else, @out unchanged.
 */
bool hvf_mac_parse(const char *text, char out[HVF_MAC_TEXT_LEN + 1]);

/* The NICs the inventory records for @host (*@n = 0, NULL when none). Borrowed from the host. */
static inline const hvf_nic *
hvf_host_nics(const hvf_host *host, size_t *n)
{
    *n = host->nnics;
    return host->nics;
}

/*
 * hvf_host_nics_match: whether the NICs a host reports (@seen, @nseen entries) agree with those
 * its inventory entry records. Every NIC of the inventory must be reported under its name with
 * its MAC (MACs compared ignoring case); NICs the host has beyond those (lo, bridges, veths)
 * are ignored, and a host whose entry records no NICs always matches. On a mismatch, the first
 * difference in the inventory's order goes to @why as one line (NUL-terminated, truncated to
 * @whysize; @why may be NULL), one of:
 *   "inventory NIC eno1 (3c:ec:ef:00:11:22) is named enp1s0f0 on the host (renamed)"
 *   "eno1: inventory 3c:ec:ef:00:11:22, host reports 3c:ec:ef:00:11:23"
 *   "inventory NIC eno1 missing on the host (it has lo, enp1s0f0)"
 * Names and MACs from the host are written with anything but printable ASCII as '?'.
 * On a match @why is "".
 */
bool hvf_host_nics_match(const hvf_host *host, const hvf_nic_report *seen, size_t nseen, char *why,
                         size_t whysize);

/* Usable capacity: (memory - reserved) x ram ratio; cpus x cpu ratio. */
hvf_resources hvf_host_usable(const hvf_host *host);
/* Usable minus used minus claimed, floored at zero. */
hvf_resources hvf_host_free(const hvf_host *host);

/*
 * Accounting. Each returns 0, or -1 with @err set and the host unchanged:
 * HVF_ERR_CAPACITY when it would exceed usable capacity (without HVF_OVERCOMMIT),
 * HVF_ERR_INVALID when a release/commit exceeds what is held.
 */
int hvf_host_claim(hvf_host *host, const hvf_resources *r, unsigned flags, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_host_release_claim(hvf_host *host, const hvf_resources *r, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_host_commit(hvf_host *host, const hvf_resources *r, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_host_use(hvf_host *host, const hvf_resources *r, unsigned flags, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_host_release_used(hvf_host *host, const hvf_resources *r, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_fleet_check: verifies that every host's used resources equal the sum over its VMs and that
 * no host holds more than usable capacity (when @allow_overcommit is false). For tests and
 * assertions. Returns 0, or -1 with the first violation in @err.
 */
int hvf_fleet_check(const hvf_fleet *fleet, bool allow_overcommit, hvf_error *err);

/* Records that @vm now runs on @host: a DRBD VM that went to its secondary swaps the roles. */
static inline void
hvf_vm_moved(hvf_vm *vm, int32_t host)
{
    if (vm->has_secondary && host == vm->secondary)
        vm->secondary = vm->host;
    vm->host = host;
}

/*
 * hvf_vm_is_ha: whether @vm is restarted elsewhere when its host is lost (docs/ha.md): its own
 * ha when the inventory set one (ha_set), else its service's, else false.
 */
bool hvf_vm_is_ha(const hvf_fleet *fleet, const hvf_vm *vm);

/* Resources a VM takes on a host. */
static inline hvf_resources
hvf_vm_resources(const hvf_vm *vm)
{
    hvf_resources r = {vm->mem_mib, vm->vcpus};
    return r;
}

/*
 * Per-host VM lists as a compressed index: VMs of host h are vm_ids[start[h] .. start[h+1]).
 * A snapshot: rebuild after VMs move. Owned; free with hvf_fleet_host_index_free.
 */
typedef struct hvf_host_index {
    uint32_t *start; /* nhosts + 1 */
    uint32_t *vm_ids;
} hvf_host_index;

void hvf_fleet_host_index_build(const hvf_fleet *fleet, hvf_host_index *idx);
void hvf_fleet_host_index_free(hvf_host_index *idx);
