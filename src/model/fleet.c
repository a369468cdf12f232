/* SPDX-License-Identifier: MIT */
/* The fleet container: arrays of zones, racks, hosts, VMs and services, with name indexes. */
#include <inttypes.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"

const char *const hvf_host_state_names[] = {"active", "maintenance", "down", NULL};
const char *const hvf_spread_names[] = {"host", "rack", "zone", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_host_state_names) == HVF_HOST_STATE_LAST + 1, "state table");
_Static_assert(HVF_ARRAY_LEN(hvf_spread_names) == HVF_SPREAD_LAST + 1, "spread table");

static int
fleet_enum_from_string(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], s) == 0)
            return i;
    }
    return -1;
}

const char *
hvf_host_state_to_string(hvf_host_state s)
{
    return (unsigned)s < HVF_HOST_STATE_LAST ? hvf_host_state_names[s] : "unknown";
}

int
hvf_host_state_from_string(const char *s)
{
    return fleet_enum_from_string(hvf_host_state_names, s);
}

const char *
hvf_spread_to_string(hvf_spread s)
{
    return (unsigned)s < HVF_SPREAD_LAST ? hvf_spread_names[s] : "unknown";
}

int
hvf_spread_from_string(const char *s)
{
    return fleet_enum_from_string(hvf_spread_names, s);
}

bool
hvf_name_is_valid(const char *name)
{
    size_t n = 0;

    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= HVF_NAME_MAX;
}

hvf_fleet *
hvf_fleet_new(void)
{
    hvf_fleet *f = HVF_NEW(hvf_fleet);

    hvf_hash_init(&f->zone_index);
    hvf_hash_init(&f->rack_index);
    hvf_hash_init(&f->host_index);
    hvf_hash_init(&f->vm_index);
    hvf_hash_init(&f->service_index);
    return f;
}

void
hvf_fleet_free(hvf_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nzones; i++)
        free(f->zones[i].name);
    for (size_t i = 0; i < f->nracks; i++)
        free(f->racks[i].name);
    for (size_t i = 0; i < f->nhosts; i++) {
        hvf_host *h = &f->hosts[i];
        free(h->name);
        free(h->kernel);
        free(h->hw);
        free(h->libvirt_uri);
        free(h->migration_address);
        for (size_t t = 0; t < h->ntags; t++)
            free(h->tags[t]);
        free(h->tags);
        free(h->nics);
    }
    for (size_t i = 0; i < f->nvms; i++)
        free(f->vms[i].name);
    for (size_t i = 0; i < f->nservices; i++) {
        free(f->services[i].name);
        for (size_t k = 0; k < HVF_SERVICE_REL_LAST; k++)
            free(f->services[i].rel[k]);
    }
    free(f->zones);
    free(f->racks);
    free(f->hosts);
    free(f->vms);
    free(f->services);
    hvf_hash_clear(&f->zone_index);
    hvf_hash_clear(&f->rack_index);
    hvf_hash_clear(&f->host_index);
    hvf_hash_clear(&f->vm_index);
    hvf_hash_clear(&f->service_index);
    free(f);
}

static char *
fleet_strdup_or_null(const char *s)
{
    return s ? hvf_strdup(s) : NULL;
}

static void
fleet_copy_host(hvf_host *dst, const hvf_host *src)
{
    *dst = *src;
    dst->name = hvf_strdup(src->name);
    dst->kernel = fleet_strdup_or_null(src->kernel);
    dst->hw = fleet_strdup_or_null(src->hw);
    dst->libvirt_uri = fleet_strdup_or_null(src->libvirt_uri);
    dst->migration_address = fleet_strdup_or_null(src->migration_address);
    dst->tags = src->ntags ? hvf_calloc(src->ntags, sizeof(char *)) : NULL;
    for (size_t t = 0; t < src->ntags; t++)
        dst->tags[t] = hvf_strdup(src->tags[t]);
    dst->nics = src->nnics ? hvf_malloc(src->nnics * sizeof(hvf_nic)) : NULL;
    dst->nnics = src->nnics;
    if (src->nnics)
        memcpy(dst->nics, src->nics, src->nnics * sizeof(hvf_nic));
}

static const char *
fleet_host_name(const void *fleet, int32_t i)
{
    return ((const hvf_fleet *)fleet)->hosts[i].name;
}

static const char *
fleet_vm_name(const void *fleet, int32_t i)
{
    return ((const hvf_fleet *)fleet)->vms[i].name;
}

hvf_fleet *
hvf_fleet_dup(const hvf_fleet *src)
{
    hvf_fleet *f = hvf_fleet_new();

    for (size_t i = 0; i < src->nzones; i++)
        hvf_fleet_zone_ensure(f, src->zones[i].name);
    for (size_t i = 0; i < src->nracks; i++)
        hvf_fleet_rack_ensure(f, src->racks[i].zone, src->racks[i].name);

    /* Copy arrays wholesale: indexes stay valid and accounting is preserved as is. */
    f->hosts = hvf_calloc(src->nhosts, sizeof(hvf_host));
    f->hosts_cap = src->nhosts;
    for (size_t i = 0; i < src->nhosts; i++)
        fleet_copy_host(&f->hosts[i], &src->hosts[i]);
    f->nhosts = src->nhosts;
    hvf_hash_copy(&f->host_index, &src->host_index, fleet_host_name, f);
    f->services = hvf_calloc(src->nservices, sizeof(hvf_service));
    f->services_cap = src->nservices;
    for (size_t i = 0; i < src->nservices; i++) {
        f->services[i] = src->services[i];
        f->services[i].name = hvf_strdup(src->services[i].name);
        for (size_t k = 0; k < HVF_SERVICE_REL_LAST; k++) {
            size_t n = src->services[i].nrel[k];
            f->services[i].rel[k] = n ? hvf_malloc(n * sizeof(int32_t)) : NULL;
            if (n)
                memcpy(f->services[i].rel[k], src->services[i].rel[k], n * sizeof(int32_t));
        }
        HVF_ASSERT(hvf_hash_put(&f->service_index, f->services[i].name, (int32_t)i) == 0);
    }
    f->nservices = src->nservices;
    f->vms = hvf_calloc(src->nvms, sizeof(hvf_vm));
    f->vms_cap = src->nvms;
    for (size_t i = 0; i < src->nvms; i++) {
        f->vms[i] = src->vms[i];
        f->vms[i].name = hvf_strdup(src->vms[i].name);
    }
    f->nvms = src->nvms;
    hvf_hash_copy(&f->vm_index, &src->vm_index, fleet_vm_name, f);
    return f;
}

int32_t
hvf_fleet_zone_ensure(hvf_fleet *f, const char *name)
{
    int32_t z = hvf_hash_get(&f->zone_index, name);

    if (z >= 0)
        return z;
    hvf_grow(&f->zones, &f->zones_cap, f->nzones + 1, sizeof(hvf_zone));
    z = (int32_t)f->nzones++;
    f->zones[z].name = hvf_strdup(name);
    HVF_ASSERT(hvf_hash_put(&f->zone_index, f->zones[z].name, z) == 0);
    return z;
}

int32_t
hvf_fleet_rack_ensure(hvf_fleet *f, int32_t zone, const char *name)
{
    /* Racks are per zone: a name may be in several zones, chained in the order they came. */
    int32_t i = hvf_hash_get(&f->rack_index, name), last = -1;
    int32_t r;

    for (; i >= 0; i = f->racks[i].next_same_name) {
        if (f->racks[i].zone == zone)
            return i;
        last = i;
    }
    hvf_grow(&f->racks, &f->racks_cap, f->nracks + 1, sizeof(hvf_rack));
    r = (int32_t)f->nracks++;
    f->racks[r].name = hvf_strdup(name);
    f->racks[r].zone = zone;
    f->racks[r].next_same_name = -1;
    if (last >= 0)
        f->racks[last].next_same_name = r;
    else
        HVF_ASSERT(hvf_hash_put(&f->rack_index, f->racks[r].name, r) == 0);
    return r;
}

int32_t
hvf_fleet_add_host(hvf_fleet *f, const hvf_host *proto, hvf_error *err)
{
    hvf_host *h;
    int32_t idx;

    if (!hvf_name_is_valid(proto->name)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "host name '%s' is invalid: expected 1-63 characters of A-Z a-z 0-9 . _ -",
                      proto->name);
        return -1;
    }
    if (hvf_hash_get(&f->host_index, proto->name) >= 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "host '%s' is defined twice", proto->name);
        return -1;
    }
    HVF_ASSERT(proto->zone >= 0 && (size_t)proto->zone < f->nzones);
    HVF_ASSERT(proto->rack >= 0 && (size_t)proto->rack < f->nracks);
    hvf_grow(&f->hosts, &f->hosts_cap, f->nhosts + 1, sizeof(hvf_host));
    idx = (int32_t)f->nhosts++;
    h = &f->hosts[idx];
    fleet_copy_host(h, proto);
    h->used.mem_mib = h->claimed.mem_mib = 0;
    h->used.vcpus = h->claimed.vcpus = 0;
    HVF_ASSERT(hvf_hash_put(&f->host_index, h->name, idx) == 0);
    return idx;
}

int32_t
hvf_fleet_add_service(hvf_fleet *f, const hvf_service *proto, hvf_error *err)
{
    int32_t idx;

    if (!hvf_name_is_valid(proto->name)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "service name '%s' is invalid: expected 1-63 characters of A-Z a-z 0-9 . _ -",
                      proto->name);
        return -1;
    }
    if (hvf_hash_get(&f->service_index, proto->name) >= 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "service '%s' is defined twice", proto->name);
        return -1;
    }
    hvf_grow(&f->services, &f->services_cap, f->nservices + 1, sizeof(hvf_service));
    idx = (int32_t)f->nservices++;
    f->services[idx] = *proto;
    f->services[idx].name = hvf_strdup(proto->name);
    for (size_t k = 0; k < HVF_SERVICE_REL_LAST; k++) {
        f->services[idx].rel[k] = NULL;
        f->services[idx].nrel[k] = 0;
    }
    HVF_ASSERT(hvf_hash_put(&f->service_index, f->services[idx].name, idx) == 0);
    return idx;
}

int
hvf_fleet_service_relate(hvf_fleet *f, int32_t svc, hvf_service_rel rel, int32_t other,
                         hvf_error *err)
{
    hvf_service *s;

    if (svc < 0 || (size_t)svc >= f->nservices || other < 0 || (size_t)other >= f->nservices ||
        (unsigned)rel >= HVF_SERVICE_REL_LAST) {
        hvf_error_set(err, HVF_ERR_INVALID, "service relation: index out of range");
        return -1;
    }
    s = &f->services[svc];
    if (svc == other) {
        hvf_error_set(err, HVF_ERR_INVALID, "service '%s' cannot relate to itself", s->name);
        return -1;
    }
    for (size_t i = 0; i < s->nrel[rel]; i++) {
        if (s->rel[rel][i] == other) {
            hvf_error_set(err, HVF_ERR_INVALID, "service '%s' names '%s' twice", s->name,
                          f->services[other].name);
            return -1;
        }
    }
    s->rel[rel] = hvf_realloc(s->rel[rel], (s->nrel[rel] + 1) * sizeof(int32_t));
    s->rel[rel][s->nrel[rel]++] = other;
    return 0;
}

int32_t
hvf_fleet_add_vm(hvf_fleet *f, const hvf_vm *proto, unsigned flags, hvf_error *err)
{
    hvf_resources r = hvf_vm_resources(proto);
    int32_t idx;

    if (!hvf_name_is_valid(proto->name)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "VM name '%s' is invalid: expected 1-63 characters of A-Z a-z 0-9 . _ -",
                      proto->name);
        return -1;
    }
    if (hvf_hash_get(&f->vm_index, proto->name) >= 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "VM '%s' is defined twice", proto->name);
        return -1;
    }
    if (proto->host < 0 || (size_t)proto->host >= f->nhosts) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "VM '%s' is on no known host", proto->name);
        return -1;
    }
    if (proto->has_secondary && (proto->secondary < 0 || (size_t)proto->secondary >= f->nhosts ||
                                 proto->secondary == proto->host)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "VM '%s': secondary host %" PRId32
                      ": expected a known host other than its own",
                      proto->name, proto->secondary);
        return -1;
    }
    HVF_ASSERT(proto->service < 0 || (size_t)proto->service < f->nservices);
    if (hvf_host_use(&f->hosts[proto->host], &r, flags, err) < 0) {
        hvf_error_prefix(err, "VM '%s': ", proto->name);
        return -1;
    }
    hvf_grow(&f->vms, &f->vms_cap, f->nvms + 1, sizeof(hvf_vm));
    idx = (int32_t)f->nvms++;
    f->vms[idx] = *proto;
    f->vms[idx].name = hvf_strdup(proto->name);
    HVF_ASSERT(hvf_hash_put(&f->vm_index, f->vms[idx].name, idx) == 0);
    return idx;
}

int32_t
hvf_fleet_find_host(const hvf_fleet *f, const char *name)
{
    return hvf_hash_get(&f->host_index, name);
}

int32_t
hvf_fleet_find_vm(const hvf_fleet *f, const char *name)
{
    return hvf_hash_get(&f->vm_index, name);
}

bool
hvf_vm_is_ha(const hvf_fleet *f, const hvf_vm *v)
{
    if (v->ha_set)
        return v->ha;
    return v->service >= 0 && (size_t)v->service < f->nservices && f->services[v->service].ha;
}

int32_t
hvf_fleet_find_service(const hvf_fleet *f, const char *name)
{
    return hvf_hash_get(&f->service_index, name);
}

int32_t
hvf_fleet_find_zone(const hvf_fleet *f, const char *name)
{
    return hvf_hash_get(&f->zone_index, name);
}

int
hvf_fleet_check(const hvf_fleet *f, bool allow_overcommit, hvf_error *err)
{
    HVF_AUTOFREE hvf_resources *sum = hvf_calloc(f->nhosts, sizeof(hvf_resources));

    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *vm = &f->vms[i];
        if (vm->host < 0 || (size_t)vm->host >= f->nhosts) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "VM '%s' has host index %d", vm->name,
                          vm->host);
            return -1;
        }
        sum[vm->host].mem_mib += vm->mem_mib;
        sum[vm->host].vcpus += vm->vcpus;
    }
    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        hvf_resources u = hvf_host_usable(h);
        if (sum[i].mem_mib != h->used.mem_mib || sum[i].vcpus != h->used.vcpus) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "host '%s' accounts %" PRIu64 " MiB/%u vCPUs used, its VMs hold %" PRIu64
                          " MiB/%u",
                          h->name, h->used.mem_mib, h->used.vcpus, sum[i].mem_mib, sum[i].vcpus);
            return -1;
        }
        if (!allow_overcommit && (h->used.mem_mib + h->claimed.mem_mib > u.mem_mib ||
                                  (uint64_t)h->used.vcpus + h->claimed.vcpus > u.vcpus)) {
            hvf_error_set(err, HVF_ERR_CAPACITY,
                          "host '%s' holds %" PRIu64 " MiB used + %" PRIu64
                          " MiB claimed over %" PRIu64 " MiB usable",
                          h->name, h->used.mem_mib, h->claimed.mem_mib, u.mem_mib);
            return -1;
        }
    }
    return 0;
}

void
hvf_fleet_host_index_build(const hvf_fleet *f, hvf_host_index *idx)
{
    HVF_AUTOFREE uint32_t *fill = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));

    idx->start = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    idx->vm_ids = hvf_calloc(f->nvms, sizeof(uint32_t));
    for (size_t i = 0; i < f->nvms; i++)
        idx->start[f->vms[i].host + 1]++;
    for (size_t h = 0; h < f->nhosts; h++)
        idx->start[h + 1] += idx->start[h];
    for (size_t i = 0; i < f->nvms; i++) {
        int32_t h = f->vms[i].host;
        idx->vm_ids[idx->start[h] + fill[h]++] = (uint32_t)i;
    }
}

void
hvf_fleet_host_index_free(hvf_host_index *idx)
{
    free(idx->start);
    free(idx->vm_ids);
    idx->start = NULL;
    idx->vm_ids = NULL;
}
