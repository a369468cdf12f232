/* SPDX-License-Identifier: MIT */
/* Inventory files: YAML/JSON -> fleet with collected validation errors, and fleet -> YAML. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "conf/inventory-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/sha256.h"
#include "hvfleet/units.h"

typedef struct inv_root {
    char *schema;
    struct fy_node *hosts, *vms, *services;
} inv_root;

static const hvf_field_spec inv_root_fields[] = {
    {.name = "schema", .type = HVF_FIELD_STRING, .offset = offsetof(inv_root, schema)},
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = offsetof(inv_root, hosts), .required = true},
    {.name = "vms", .type = HVF_FIELD_NODE, .offset = offsetof(inv_root, vms)},
    {.name = "services", .type = HVF_FIELD_NODE, .offset = offsetof(inv_root, services)},
};

typedef struct inv_host {
    char *name, *zone, *rack, *kernel, *hw, *libvirt_uri, *migration_address;
    char **tags;
    size_t ntags;
    uint32_t cpus;
    uint64_t mem_mib, reserved_mib;
    double nic, cpu_ratio, ram_ratio;
    int state;
    struct fy_node *nics; /* read by inv_read_nics */
} inv_host;

static const hvf_field_spec inv_host_fields[] = {
    {.name = "name", .type = HVF_FIELD_NAME, .offset = offsetof(inv_host, name), .required = true},
    {.name = "zone", .type = HVF_FIELD_NAME, .offset = offsetof(inv_host, zone)},
    {.name = "rack", .type = HVF_FIELD_NAME, .offset = offsetof(inv_host, rack)},
    {.name = "cpus", .type = HVF_FIELD_UINT, .offset = offsetof(inv_host, cpus), .required = true,
     .min = 1, .max = 65536},
    {.name = "memory", .type = HVF_FIELD_SIZE_MIB, .offset = offsetof(inv_host, mem_mib),
     .required = true},
    {.name = "reserved_memory", .type = HVF_FIELD_SIZE_MIB,
     .offset = offsetof(inv_host, reserved_mib)},
    {.name = "nic", .type = HVF_FIELD_RATE, .offset = offsetof(inv_host, nic), .min = 1},
    {.name = "kernel", .type = HVF_FIELD_STRING, .offset = offsetof(inv_host, kernel)},
    {.name = "hw", .type = HVF_FIELD_STRING, .offset = offsetof(inv_host, hw)},
    {.name = "tags", .type = HVF_FIELD_STRLIST, .offset = offsetof(inv_host, tags),
     .offset2 = offsetof(inv_host, ntags)},
    {.name = "state", .type = HVF_FIELD_ENUM, .offset = offsetof(inv_host, state),
     .enum_names = hvf_host_state_names},
    {.name = "cpu_allocation_ratio", .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(inv_host, cpu_ratio), .min = 0.01, .max = 1000},
    {.name = "ram_allocation_ratio", .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(inv_host, ram_ratio), .min = 0.01, .max = 100},
    {.name = "nics", .type = HVF_FIELD_NODE, .offset = offsetof(inv_host, nics)},
    {.name = "libvirt_uri", .type = HVF_FIELD_STRING, .offset = offsetof(inv_host, libvirt_uri)},
    {.name = "migration_address", .type = HVF_FIELD_STRING,
     .offset = offsetof(inv_host, migration_address)},
};

typedef struct inv_nic {
    char *name, *mac;
} inv_nic;

static const hvf_field_spec inv_nic_fields[] = {
    {.name = "name", .type = HVF_FIELD_STRING, .offset = offsetof(inv_nic, name), .required = true},
    {.name = "mac", .type = HVF_FIELD_STRING, .offset = offsetof(inv_nic, mac), .required = true},
};

typedef struct inv_vm {
    char *name, *host, *service, *secondary;
    uint32_t vcpus;
    uint64_t mem_mib, ws_mib;
    double dirty, cpu_load;
    bool migratable, has_ws, ha, has_ha;
} inv_vm;

static const hvf_field_spec inv_vm_fields[] = {
    {.name = "name", .type = HVF_FIELD_NAME, .offset = offsetof(inv_vm, name), .required = true},
    {.name = "host", .type = HVF_FIELD_NAME, .offset = offsetof(inv_vm, host), .required = true},
    {.name = "vcpus", .type = HVF_FIELD_UINT, .offset = offsetof(inv_vm, vcpus), .required = true,
     .min = 1, .max = 4096},
    {.name = "memory", .type = HVF_FIELD_SIZE_MIB, .offset = offsetof(inv_vm, mem_mib),
     .required = true},
    {.name = "dirty_rate", .type = HVF_FIELD_RATE, .offset = offsetof(inv_vm, dirty)},
    {.name = "working_set", .type = HVF_FIELD_SIZE_MIB, .offset = offsetof(inv_vm, ws_mib),
     .present = offsetof(inv_vm, has_ws) + 1},
    {.name = "cpu_load", .type = HVF_FIELD_DOUBLE, .offset = offsetof(inv_vm, cpu_load), .min = 0,
     .max = 1},
    {.name = "service", .type = HVF_FIELD_NAME, .offset = offsetof(inv_vm, service)},
    {.name = "migratable", .type = HVF_FIELD_BOOL, .offset = offsetof(inv_vm, migratable)},
    {.name = "secondary", .type = HVF_FIELD_NAME, .offset = offsetof(inv_vm, secondary)},
    {.name = "ha", .type = HVF_FIELD_BOOL, .offset = offsetof(inv_vm, ha),
     .present = offsetof(inv_vm, has_ha) + 1},
};

typedef struct inv_service {
    char *name;
    bool critical, ha;
    uint32_t min_available;
    int spread;
    struct fy_node *rel[HVF_SERVICE_REL_LAST]; /* read by inv_read_service_relations */
} inv_service;

static const hvf_field_spec inv_service_fields[] = {
    {.name = "name", .type = HVF_FIELD_NAME, .offset = offsetof(inv_service, name),
     .required = true},
    {.name = "critical", .type = HVF_FIELD_BOOL, .offset = offsetof(inv_service, critical)},
    {.name = "min_available", .type = HVF_FIELD_UINT,
     .offset = offsetof(inv_service, min_available), .min = 0, .max = 1000000},
    {.name = "spread", .type = HVF_FIELD_ENUM, .offset = offsetof(inv_service, spread),
     .enum_names = hvf_spread_names},
    {.name = "ha", .type = HVF_FIELD_BOOL, .offset = offsetof(inv_service, ha)},
    {.name = "depends_on", .type = HVF_FIELD_NODE,
     .offset = offsetof(inv_service, rel[HVF_SERVICE_DEPENDS_ON])},
    {.name = "must_not_share", .type = HVF_FIELD_NODE,
     .offset = offsetof(inv_service, rel[HVF_SERVICE_MUST_NOT_SHARE])},
};

/*
 * State of one read. Names of hosts and services whose entries had problems are remembered so
 * that a VM on such a host is not also told the host does not exist: one mistake, one message.
 */
typedef struct inv_ctx {
    hvf_reader *r;
    hvf_fleet *f;
    hvf_hash rejected_hosts;    /* keys borrowed from names */
    hvf_hash rejected_services; /* keys borrowed from names */
    hvf_hash macs;              /* NICs' MACs -> host; keys borrowed from the fleet's hosts */
    char **names;               /* owned */
    size_t nnames, names_cap;
    uint32_t *service_refs; /* per service: VM entries naming it, with problems or not */
} inv_ctx;

static void
inv_ctx_reject(inv_ctx *c, hvf_hash *set, const char *name)
{
    if (!name || hvf_hash_get(set, name) >= 0)
        return;
    hvf_grow(&c->names, &c->names_cap, c->nnames + 1, sizeof(char *));
    c->names[c->nnames] = hvf_strdup(name);
    HVF_ASSERT(hvf_hash_put(set, c->names[c->nnames], 0) == 0);
    c->nnames++;
}

static void
inv_read_services(inv_ctx *c, struct fy_node *seq)
{
    hvf_reader *r = c->r;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!hvf_reader_expect_seq(r, seq, "services"))
        return;
    while (seq && (item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        inv_service s = {.min_available = 1, .spread = HVF_SPREAD_HOST};
        hvf_service proto = {0};
        hvf_error err = HVF_ERROR_INIT;

        snprintf(path, sizeof(path), "services[%zu]", i++);
        if (hvf_reader_map(r, item, path, inv_service_fields, HVF_ARRAY_LEN(inv_service_fields),
                           &s) == 0) {
            proto.name = s.name;
            proto.critical = s.critical;
            proto.min_available = s.min_available;
            proto.spread = (hvf_spread)s.spread;
            proto.ha = s.ha;
            proto.line = hvf_reader_line(item);
            if (hvf_fleet_add_service(c->f, &proto, &err) < 0)
                hvf_reader_report_field(r, item, path, "name", "expected a unique name (%s)",
                                        err.msg);
        } else {
            inv_ctx_reject(c, &c->rejected_services, s.name);
        }
        hvf_reader_free_fields(inv_service_fields, HVF_ARRAY_LEN(inv_service_fields), &s);
    }
}

/* Index of the first of @nics with name @name (or MAC @mac, when @name is NULL); @n if none. */
static size_t
inv_nic_find(const hvf_nic *nics, size_t n, const char *name, const char *mac)
{
    size_t k = 0;

    while (k < n && strcmp(name ? nics[k].name : nics[k].mac, name ? name : mac) != 0)
        k++;
    return k;
}

/*
 * Reads a host's "nics" (@seq, at @path) into *@nics (owned; NULL when the list is empty).
 * Names and MACs must be unique in the host, MACs also among the hosts read before. Returns the
 * number of problems reported.
 */
static size_t
inv_read_nics(inv_ctx *c, struct fy_node *seq, const char *path, hvf_nic **nics, size_t *nnics)
{
    hvf_reader *r = c->r;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0, bad = 0, n = 0;
    size_t pos[HVF_HOST_NICS_MAX]; /* where out[k] is in the list */
    char field[64], at[80];
    hvf_nic *out;

    *nics = NULL;
    *nnics = 0;
    snprintf(field, sizeof(field), "%s.nics", path);
    if (!fy_node_is_sequence(seq)) {
        hvf_reader_report(r, seq, field, "expected a list of NICs such as [{name: eno1, mac: "
                                         "3c:ec:ef:00:11:22}]");
        return 1;
    }
    if (hvf_node_count(seq) > HVF_HOST_NICS_MAX) {
        hvf_reader_report(r, seq, field, "expected at most %d NICs", HVF_HOST_NICS_MAX);
        return 1;
    }
    out = hvf_calloc(hvf_node_count(seq) + 1, sizeof(hvf_nic));
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        inv_nic v = {0};
        hvf_nic nic = {{0}, {0}};
        int32_t other;
        size_t k;

        snprintf(at, sizeof(at), "%s[%zu]", field, i++);
        if (hvf_reader_map(r, item, at, inv_nic_fields, HVF_ARRAY_LEN(inv_nic_fields), &v) != 0) {
            bad++;
        } else if (!hvf_nic_name_is_valid(v.name)) {
            hvf_reader_report_field(r, item, at, "name",
                                    "expected a Linux interface name: 1-15 characters, no '/', "
                                    "':' or space");
            bad++;
        } else if (!hvf_mac_parse(v.mac, nic.mac)) {
            hvf_reader_report_field(r, item, at, "mac",
                                    "expected a MAC address: six hex pairs separated by ':' such "
                                    "as 3c:ec:ef:00:11:22");
            bad++;
        } else {
            hvf_strlcpy(nic.name, v.name, sizeof(nic.name));
            if ((k = inv_nic_find(out, n, nic.name, NULL)) < n) {
                hvf_reader_report_field(r, item, at, "name",
                                        "expected a name no other NIC of the host has (nics[%zu] "
                                        "has it too)", pos[k]);
                bad++;
            } else {
                k = inv_nic_find(out, n, NULL, nic.mac);
                other = hvf_hash_get(&c->macs, nic.mac);
                if (k < n) {
                    hvf_reader_report_field(r, item, at, "mac",
                                            "expected a MAC no other NIC of the host has "
                                            "(nics[%zu] has it too)", pos[k]);
                    bad++;
                } else if (other >= 0) {
                    hvf_reader_report_field(r, item, at, "mac",
                                            "expected a MAC of this host only (host '%s' has it "
                                            "too)", c->f->hosts[other].name);
                    bad++;
                } else {
                    pos[n] = i - 1;
                    out[n++] = nic;
                }
            }
        }
        hvf_reader_free_fields(inv_nic_fields, HVF_ARRAY_LEN(inv_nic_fields), &v);
    }
    if (bad || n == 0) {
        free(out);
        return bad;
    }
    *nics = out;
    *nnics = n;
    return 0;
}

static void
inv_read_hosts(inv_ctx *c, struct fy_node *seq)
{
    hvf_reader *r = c->r;
    hvf_fleet *f = c->f;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!seq || !fy_node_is_sequence(seq)) {
        hvf_reader_report(r, seq, "hosts", "expected a list of hosts");
        return;
    }
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        inv_host h = {.nic = HVF_DEFAULT_NIC_BYTES_PER_S,
                      .cpu_ratio = HVF_DEFAULT_CPU_ALLOCATION_RATIO,
                      .ram_ratio = HVF_DEFAULT_RAM_ALLOCATION_RATIO,
                      .state = HVF_HOST_STATE_ACTIVE};
        hvf_host proto = {0};
        hvf_error err = HVF_ERROR_INIT;
        size_t bad;
        int32_t idx;

        snprintf(path, sizeof(path), "hosts[%zu]", i++);
        bad = hvf_reader_map(r, item, path, inv_host_fields, HVF_ARRAY_LEN(inv_host_fields), &h);
        /* read even when other fields are wrong: every problem of the entry at once */
        if (h.nics)
            bad += inv_read_nics(c, h.nics, path, &proto.nics, &proto.nnics);
        if (bad != 0) {
            inv_ctx_reject(c, &c->rejected_hosts, h.name);
        } else if (h.mem_mib == 0) {
            /* memory first: with memory 0, any reserved_memory would be blamed instead. */
            hvf_reader_report_field(r, item, path, "memory", "expected more than 0");
            inv_ctx_reject(c, &c->rejected_hosts, h.name);
        } else if (h.reserved_mib >= h.mem_mib) {
            hvf_reader_report_field(r, item, path, "reserved_memory",
                                    "expected less than memory (%" PRIu64 " MiB)", h.mem_mib);
            inv_ctx_reject(c, &c->rejected_hosts, h.name);
        } else {
            proto.name = h.name;
            proto.zone = hvf_fleet_zone_ensure(f, h.zone ? h.zone : "default");
            proto.rack = hvf_fleet_rack_ensure(f, proto.zone, h.rack ? h.rack : "default");
            proto.cpus = h.cpus;
            proto.mem_mib = h.mem_mib;
            proto.reserved_mib = h.reserved_mib;
            proto.nic_bytes_per_s = h.nic;
            proto.cpu_allocation_ratio = h.cpu_ratio;
            proto.ram_allocation_ratio = h.ram_ratio;
            proto.kernel = h.kernel;
            proto.hw = h.hw;
            proto.libvirt_uri = h.libvirt_uri;
            proto.migration_address = h.migration_address;
            proto.tags = h.tags;
            proto.ntags = h.ntags;
            proto.state = (hvf_host_state)h.state;
            proto.line = hvf_reader_line(item);
            idx = hvf_fleet_add_host(f, &proto, &err);
            if (idx < 0)
                hvf_reader_report_field(r, item, path, "name", "expected a unique name (%s)",
                                        err.msg);
            for (size_t k = 0; idx >= 0 && k < f->hosts[idx].nnics; k++)
                HVF_ASSERT(hvf_hash_put(&c->macs, f->hosts[idx].nics[k].mac, idx) == 0);
        }
        free(proto.nics);
        hvf_reader_free_fields(inv_host_fields, HVF_ARRAY_LEN(inv_host_fields), &h);
    }
}

/* Checks a VM entry's references and values; returns the number of problems reported. */
static size_t
inv_check_vm(inv_ctx *c, struct fy_node *item, const char *path, const inv_vm *v, hvf_vm *proto)
{
    hvf_reader *r = c->r;
    size_t bad = 0;

    proto->host = hvf_fleet_find_host(c->f, v->host);
    proto->service = v->service ? hvf_fleet_find_service(c->f, v->service) : -1;
    if (proto->host < 0) {
        /* A host whose own entry is wrong was reported there; the VM just stays out. */
        if (hvf_hash_get(&c->rejected_hosts, v->host) < 0)
            hvf_reader_report_field(r, item, path, "host",
                                    "expected the name of a host in this inventory");
        bad++;
    }
    if (v->service && proto->service < 0) {
        if (hvf_hash_get(&c->rejected_services, v->service) < 0)
            hvf_reader_report_field(r, item, path, "service",
                                    "expected the name of a service in this inventory");
        bad++;
    }
    if (v->mem_mib == 0) {
        hvf_reader_report_field(r, item, path, "memory", "expected more than 0");
        bad++;
    }
    if (v->secondary) {
        proto->has_secondary = true;
        proto->secondary = hvf_fleet_find_host(c->f, v->secondary);
        if (proto->secondary < 0 || proto->secondary == proto->host || !v->migratable) {
            if (proto->secondary >= 0 || hvf_hash_get(&c->rejected_hosts, v->secondary) < 0)
                hvf_reader_report_field(
                    r, item, path, "secondary",
                    v->migratable ? "expected the name of another host in this inventory (the one "
                                    "with the other copy of its DRBD disk)"
                                  : "expected no secondary on a VM that is not migratable");
            bad++;
        }
    }
    if (v->has_ws && v->ws_mib > v->mem_mib) {
        hvf_reader_report_field(r, item, path, "working_set",
                                "expected at most the VM's memory (%" PRIu64 " MiB)", v->mem_mib);
        bad++;
    }
    return bad;
}

static void
inv_read_vms(inv_ctx *c, struct fy_node *seq)
{
    hvf_reader *r = c->r;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!hvf_reader_expect_seq(r, seq, "vms"))
        return;
    while (seq && (item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        inv_vm v = {.cpu_load = HVF_DEFAULT_CPU_LOAD, .migratable = true};
        hvf_vm proto = {0};
        hvf_error err = HVF_ERROR_INIT;
        int32_t svc;
        size_t bad;

        snprintf(path, sizeof(path), "vms[%zu]", i++);
        bad = hvf_reader_map(r, item, path, inv_vm_fields, HVF_ARRAY_LEN(inv_vm_fields), &v);
        /* Count the entry for its service even when it has problems, so the service is not
         * also reported as empty or short of replicas because of them. */
        svc = v.service ? hvf_fleet_find_service(c->f, v.service) : -1;
        if (svc >= 0)
            c->service_refs[svc]++;
        if (bad == 0)
            bad = inv_check_vm(c, item, path, &v, &proto);
        if (bad == 0) {
            proto.name = v.name;
            proto.vcpus = v.vcpus;
            proto.mem_mib = v.mem_mib;
            proto.dirty_bytes_per_s = v.dirty;
            proto.working_set_mib = v.has_ws ? v.ws_mib : v.mem_mib;
            proto.cpu_load = v.cpu_load;
            proto.migratable = v.migratable;
            proto.ha = v.ha;
            proto.ha_set = v.has_ha;
            proto.line = hvf_reader_line(item);
            /* Record what is, even over capacity; the capacity check reports it afterwards. */
            if (hvf_fleet_add_vm(c->f, &proto, HVF_OVERCOMMIT, &err) < 0) {
                if (err.code == HVF_ERR_INVALID)
                    hvf_reader_report_field(r, item, path, "name", "expected a unique name (%s)",
                                            err.msg);
                else
                    hvf_reader_report_field(r, item, path, "memory", "%s", err.msg);
            }
        }
        hvf_reader_free_fields(inv_vm_fields, HVF_ARRAY_LEN(inv_vm_fields), &v);
    }
}

/*
 * Exact, in the file's own syntax: "24.0 GiB" for 24 GiB + 1 MiB would read as no overflow at
 * all, and MiB x 2^20 in bytes can wrap for the sums of huge VMs.
 */
static char *
inv_mib_text(uint64_t mib, char *buf, size_t size)
{
    if (mib != 0 && mib % 1024 == 0)
        snprintf(buf, size, "%" PRIu64 "GiB", mib / 1024);
    else
        snprintf(buf, size, "%" PRIu64 "MiB", mib);
    return buf;
}

static void
inv_check_capacity(inv_ctx *c)
{
    hvf_reader *r = c->r;
    const hvf_fleet *f = c->f;
    char a[32], b[32];

    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        hvf_resources u = hvf_host_usable(h);

        if (h->used.mem_mib > u.mem_mib)
            hvf_diags_add(r->diags,
                          "%s:%d: hosts[%s].memory: '%s used by VMs': expected at most the %s "
                          "usable ((memory - reserved_memory) x ram_allocation_ratio)",
                          r->file, h->line, h->name, inv_mib_text(h->used.mem_mib, a, sizeof(a)),
                          inv_mib_text(u.mem_mib, b, sizeof(b)));
        if (h->used.vcpus > u.vcpus)
            hvf_diags_add(r->diags,
                          "%s:%d: hosts[%s].cpus: '%u vCPUs used by VMs': expected at most the %u "
                          "usable (cpus x cpu_allocation_ratio)",
                          r->file, h->line, h->name, h->used.vcpus, u.vcpus);
    }
    for (size_t s = 0; s < f->nservices; s++) {
        const hvf_service *svc = &f->services[s];
        uint32_t n = c->service_refs[s];

        if (n == 0)
            hvf_diags_add(r->diags, "%s:%d: services[%s]: '%s': expected at least one VM in it",
                          r->file, svc->line, svc->name, svc->name);
        else if (svc->min_available > n)
            hvf_diags_add(r->diags,
                          "%s:%d: services[%s].min_available: '%u': expected at most the %u VMs "
                          "of service '%s'",
                          r->file, svc->line, svc->name, svc->min_available, n, svc->name);
    }
}

hvf_fleet *
hvf_inventory_read_node(hvf_reader *r, struct fy_node *node, hvf_error *err)
{
    hvf_diags *diags = r->diags;
    inv_root root = {0};
    inv_ctx c = {.r = r, .f = hvf_fleet_new()};
    hvf_fleet *f = NULL;
    size_t before = diags->total;

    hvf_hash_init(&c.rejected_hosts);
    hvf_hash_init(&c.rejected_services);
    hvf_hash_init(&c.macs);
    hvf_reader_map(r, node, "", inv_root_fields, HVF_ARRAY_LEN(inv_root_fields), &root);
    if (root.schema && strcmp(root.schema, HVF_INVENTORY_SCHEMA) != 0)
        hvf_reader_report_field(r, node, "", "schema",
                                "expected '" HVF_INVENTORY_SCHEMA "'");
    if (root.hosts) {
        inv_read_services(&c, root.services);
        inv_read_service_relations(r, root.services, c.f);
        c.service_refs = hvf_calloc(c.f->nservices + 1, sizeof(uint32_t));
        inv_read_hosts(&c, root.hosts);
        inv_read_vms(&c, root.vms);
        inv_check_capacity(&c);
    }
    hvf_reader_free_fields(inv_root_fields, HVF_ARRAY_LEN(inv_root_fields), &root);
    if (diags->total > before) {
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", r->file,
                      diags->total - before, diags->total - before == 1 ? "" : "s");
        hvf_fleet_free(c.f);
    } else {
        f = c.f;
    }
    hvf_hash_clear(&c.rejected_hosts);
    hvf_hash_clear(&c.rejected_services);
    hvf_hash_clear(&c.macs);
    for (size_t i = 0; i < c.nnames; i++)
        free(c.names[i]);
    free(c.names);
    free(c.service_refs);
    return f;
}

static hvf_fleet *
inv_read(hvf_reader *r, hvf_diags *diags, hvf_error *err)
{
    return hvf_inventory_read_node(r, hvf_reader_root(r), err);
}

hvf_fleet *
hvf_inventory_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    hvf_reader r;
    hvf_fleet *f;

    if (hvf_reader_open_file(&r, path, diags, err) < 0)
        return NULL;
    f = inv_read(&r, diags, err);
    hvf_reader_close(&r);
    return f;
}

hvf_fleet *
hvf_inventory_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                    hvf_error *err)
{
    hvf_reader r;
    hvf_fleet *f;

    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return NULL;
    f = inv_read(&r, diags, err);
    hvf_reader_close(&r);
    return f;
}

/* Sizes in the largest binary unit that keeps them whole, so a round trip is exact. */
static void
inv_format_mib(hvf_strbuf *out, uint64_t mib)
{
    /* inv_mib_text's words, without printf: the fingerprint formats every VM's */
    if (mib != 0 && mib % 1024 == 0) {
        hvf_strbuf_add_u64(out, mib / 1024);
        hvf_strbuf_add(out, "GiB", 3);
    } else {
        hvf_strbuf_add_u64(out, mib);
        hvf_strbuf_add(out, "MiB", 3);
    }
}

/* The shortest of %.15g..%.17g that reads back as the same double: 0.1, not 0.10000000000000001. */
static void
inv_format_double(hvf_strbuf *out, double v)
{
    char buf[40];

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    hvf_strbuf_puts(out, buf);
}

/*
 * A rate in the largest unit that holds it exactly (the products mirror hvf_units_parse_rate),
 * else in bytes per second with as few decimals as read back exactly. Units take no exponent,
 * so %g is out: 1e-05 or 1e+300 would not parse.
 */
static void
inv_format_rate(hvf_strbuf *out, double bps)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"Gbit", 1e9 / 8}, {"Mbit", 1e6 / 8}, {"MiB/s", 1048576.0}, {"KiB/s", 1024.0}};
    char buf[768];

    for (size_t i = 0; i < HVF_ARRAY_LEN(units); i++) {
        double n = round(bps / units[i].mult);
        if (n >= 1 && n * units[i].mult == bps) {
            /* a whole number: below 2^63 its digits are those of "%.0f" */
            if (n < 9.2e18)
                hvf_strbuf_add_u64(out, (uint64_t)n);
            else
                hvf_strbuf_printf(out, "%.0f", n);
            hvf_strbuf_puts(out, units[i].unit);
            return;
        }
    }
    /* 340 decimals reach the smallest subnormal; the integer part takes at most 309 digits. */
    for (int prec = 0; prec <= 340; prec++) {
        snprintf(buf, sizeof(buf), "%.*f", prec, bps);
        if (strtod(buf, NULL) == bps)
            break;
    }
    hvf_strbuf_printf(out, "%sB/s", buf);
}

/*
 * Names are plain YAML except two kinds that would not read back: those starting with '-' (a
 * lone "-" before ',' is a syntax error in a flow mapping, so quote them all rather than reason
 * about which are safe) and the spellings of null, which the reader takes as "not given".
 */
static void
inv_format_name(hvf_strbuf *out, const char *key, const char *name)
{
    hvf_strbuf_puts(out, key);
    hvf_strbuf_add(out, ": ", 2);
    if (name[0] == '-' || strcmp(name, "null") == 0 || strcmp(name, "Null") == 0 ||
        strcmp(name, "NULL") == 0)
        hvf_strbuf_quote(out, name);
    else
        hvf_strbuf_puts(out, name);
}

/* Hands what @out holds to @sink once it is large (when there is a sink) and empties it. */
static void
inv_format_flush(hvf_strbuf *out, hvf_inventory_sink sink, void *ctx, size_t at_least)
{
    if (sink && out->len > 0 && out->len >= at_least) {
        sink(ctx, out->buf, out->len);
        out->len = 0;
        out->buf[0] = '\0';
    }
}

/*
 * @with_nics: whether the hosts' NICs are written. The fingerprint leaves them out: a plan is
 * bound to the fingerprint, and NICs take no part in placement, so updating an entry's NICs
 * after a NIC was renamed (what brings the host back into service) must not void every plan
 * approved for the fleet, nor start a new sim world for it.
 * @with_rates: whether the VMs' dirty rates are written; the shape fingerprint leaves them out
 * (hvf_inventory_fingerprint_shape).
 */
static void
inv_format(const hvf_fleet *f, hvf_strbuf *out, hvf_inventory_sink sink, void *ctx, bool with_nics,
           bool with_rates)
{
    const size_t chunk = 64 * 1024;

    hvf_strbuf_puts(out, "schema: " HVF_INVENTORY_SCHEMA "\n");
    if (f->nservices) {
        hvf_strbuf_puts(out, "services:\n");
        for (size_t i = 0; i < f->nservices; i++) {
            const hvf_service *s = &f->services[i];
            hvf_strbuf_puts(out, "  - {");
            inv_format_name(out, "name", s->name);
            hvf_strbuf_printf(out, ", critical: %s, min_available: %u, spread: %s",
                              s->critical ? "true" : "false", s->min_available,
                              hvf_spread_to_string(s->spread));
            if (s->ha)
                hvf_strbuf_puts(out, ", ha: true");
            inv_format_service_relations(f, s, out);
            hvf_strbuf_puts(out, "}\n");
            inv_format_flush(out, sink, ctx, chunk);
        }
    }
    hvf_strbuf_puts(out, f->nhosts ? "hosts:\n" : "hosts: []\n");
    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        hvf_strbuf_puts(out, "  - {");
        inv_format_name(out, "name", h->name);
        inv_format_name(out, ", zone", f->zones[h->zone].name);
        inv_format_name(out, ", rack", f->racks[h->rack].name);
        hvf_strbuf_puts(out, ", cpus: ");
        hvf_strbuf_add_u64(out, h->cpus);
        hvf_strbuf_puts(out, ", memory: ");
        inv_format_mib(out, h->mem_mib);
        if (h->reserved_mib) {
            hvf_strbuf_puts(out, ", reserved_memory: ");
            inv_format_mib(out, h->reserved_mib);
        }
        hvf_strbuf_puts(out, ", nic: ");
        inv_format_rate(out, h->nic_bytes_per_s);
        if (h->cpu_allocation_ratio != HVF_DEFAULT_CPU_ALLOCATION_RATIO) {
            hvf_strbuf_puts(out, ", cpu_allocation_ratio: ");
            inv_format_double(out, h->cpu_allocation_ratio);
        }
        if (h->ram_allocation_ratio != HVF_DEFAULT_RAM_ALLOCATION_RATIO) {
            hvf_strbuf_puts(out, ", ram_allocation_ratio: ");
            inv_format_double(out, h->ram_allocation_ratio);
        }
        if (h->kernel) {
            hvf_strbuf_puts(out, ", kernel: ");
            hvf_strbuf_quote(out, h->kernel);
        }
        if (h->hw) {
            hvf_strbuf_puts(out, ", hw: ");
            hvf_strbuf_quote(out, h->hw);
        }
        if (h->libvirt_uri) {
            hvf_strbuf_puts(out, ", libvirt_uri: ");
            hvf_strbuf_quote(out, h->libvirt_uri);
        }
        if (h->migration_address) {
            hvf_strbuf_puts(out, ", migration_address: ");
            hvf_strbuf_quote(out, h->migration_address);
        }
        if (h->ntags) {
            hvf_strbuf_puts(out, ", tags: [");
            for (size_t t = 0; t < h->ntags; t++) {
                if (t)
                    hvf_strbuf_puts(out, ", ");
                hvf_strbuf_quote(out, h->tags[t]);
            }
            hvf_strbuf_puts(out, "]");
        }
        if (with_nics && h->nnics) {
            /* quoted: a MAC such as 12:34:56:00:00:00 is a number to YAML 1.1 (base 60) */
            hvf_strbuf_puts(out, ", nics: [");
            for (size_t k = 0; k < h->nnics; k++) {
                hvf_strbuf_puts(out, k ? ", {name: " : "{name: ");
                hvf_strbuf_quote(out, h->nics[k].name);
                hvf_strbuf_puts(out, ", mac: ");
                hvf_strbuf_quote(out, h->nics[k].mac);
                hvf_strbuf_puts(out, "}");
            }
            hvf_strbuf_puts(out, "]");
        }
        if (h->state != HVF_HOST_STATE_ACTIVE)
            hvf_strbuf_printf(out, ", state: %s", hvf_host_state_to_string(h->state));
        hvf_strbuf_puts(out, "}\n");
        inv_format_flush(out, sink, ctx, chunk);
    }
    hvf_strbuf_puts(out, f->nvms ? "vms:\n" : "vms: []\n");
    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *v = &f->vms[i];
        hvf_strbuf_puts(out, "  - {");
        inv_format_name(out, "name", v->name);
        inv_format_name(out, ", host", f->hosts[v->host].name);
        hvf_strbuf_puts(out, ", vcpus: ");
        hvf_strbuf_add_u64(out, v->vcpus);
        hvf_strbuf_puts(out, ", memory: ");
        inv_format_mib(out, v->mem_mib);
        if (with_rates && v->dirty_bytes_per_s > 0) {
            hvf_strbuf_puts(out, ", dirty_rate: ");
            inv_format_rate(out, v->dirty_bytes_per_s);
        }
        if (v->working_set_mib != v->mem_mib) {
            hvf_strbuf_puts(out, ", working_set: ");
            inv_format_mib(out, v->working_set_mib);
        }
        if (v->cpu_load != HVF_DEFAULT_CPU_LOAD) {
            hvf_strbuf_puts(out, ", cpu_load: ");
            inv_format_double(out, v->cpu_load);
        }
        if (v->service >= 0)
            inv_format_name(out, ", service", f->services[v->service].name);
        if (!v->migratable)
            hvf_strbuf_puts(out, ", migratable: false");
        if (v->ha_set)
            hvf_strbuf_puts(out, v->ha ? ", ha: true" : ", ha: false");
        if (v->has_secondary)
            inv_format_name(out, ", secondary", f->hosts[v->secondary].name);
        hvf_strbuf_puts(out, "}\n");
        inv_format_flush(out, sink, ctx, chunk);
    }
    inv_format_flush(out, sink, ctx, 0);
}

void
hvf_inventory_format(const hvf_fleet *f, hvf_strbuf *out)
{
    inv_format(f, out, NULL, NULL, true, true);
}

void
hvf_inventory_format_to(const hvf_fleet *f, hvf_inventory_sink sink, void *ctx)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    inv_format(f, &sb, sink, ctx, true, true);
    hvf_strbuf_clear(&sb);
}

int
hvf_inventory_save(const hvf_fleet *f, const char *path, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int rc;

    hvf_inventory_format(f, &sb);
    rc = hvf_file_write_atomic(path, sb.buf, sb.len, err);
    hvf_strbuf_clear(&sb);
    return rc;
}

static void
inventory_hash_sink(void *ctx, const char *text, size_t len)
{
    hvf_sha256_update(ctx, text, len);
}

static void
inventory_fingerprint(const hvf_fleet *fleet, bool with_rates, char hex[65])
{
    uint8_t digest[HVF_SHA256_BYTES];
    hvf_sha256 ctx;

    /* hashed as the text is made, never held whole; without the NICs (inv_format says why) */
    hvf_sha256_init(&ctx);
    {
        hvf_strbuf sb = HVF_STRBUF_INIT;

        inv_format(fleet, &sb, inventory_hash_sink, &ctx, false, with_rates);
        hvf_strbuf_clear(&sb);
    }
    hvf_sha256_final(&ctx, digest);
    hvf_sha256_to_hex(digest, hex);
}

void
hvf_inventory_fingerprint(const hvf_fleet *fleet, char hex[65])
{
    inventory_fingerprint(fleet, true, hex);
}

void
hvf_inventory_fingerprint_shape(const hvf_fleet *fleet, char hex[65])
{
    inventory_fingerprint(fleet, false, hex);
}
