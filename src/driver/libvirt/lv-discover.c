/* SPDX-License-Identifier: MIT */
/* Inventories discovered from the hosts' libvirt daemons (hvfleet/discover.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/libvirt/lv-driver.h"
#include "hvfleet/alloc.h"
#include "hvfleet/discover.h"
#include "hvfleet/inventory.h"

typedef struct dv_host {
    virConnectPtr conn;
    char name[64], uuid[64];
    virDomainPtr *doms;
    int ndoms;
    double *dirty; /* bytes/s, < 0 unmeasured */
    char (*why)[160]; /* why a measurement could not start ("" it started) */
} dv_host;

static int
dv_dom_cmp(const void *a, const void *b)
{
    const char *x = virDomainGetName(*(virDomainPtr const *)a);
    const char *y = virDomainGetName(*(virDomainPtr const *)b);

    return strcmp(x ? x : "", y ? y : "");
}

/* "kvm01.example.org" -> "kvm01"; characters a name can't have become '-'. */
static void
dv_short_name(const char *fqdn, char *out, size_t size)
{
    size_t n = 0;

    for (; fqdn[n] && fqdn[n] != '.' && n + 1 < size && n < 63; n++)
        out[n] = isalnum((unsigned char)fqdn[n]) || fqdn[n] == '_' || fqdn[n] == '-' ? fqdn[n]
                                                                                      : '-';
    out[n] = '\0';
}

static void
dv_uuid(virConnectPtr c, char *out, size_t size)
{
    char *caps = virConnectGetCapabilities(c);
    const char *host = caps ? strstr(caps, "<host>") : NULL;
    const char *u = host ? strstr(host, "<uuid>") : NULL;

    out[0] = '\0';
    if (u) {
        u += strlen("<uuid>");
        snprintf(out, size, "%.*s", (int)strcspn(u, "<"), u);
    }
    free(caps);
}

static void
dv_hosts_free(dv_host *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < hs[i].ndoms; d++)
            virDomainFree(hs[i].doms[d]);
        free(hs[i].doms);
        free(hs[i].dirty);
        free(hs[i].why);
        if (hs[i].conn)
            virConnectClose(hs[i].conn);
    }
    free(hs);
}

static int
dv_connect(const hvf_discover_opts *o, size_t i, dv_host *h, dv_host *all, hvf_error *err)
{
    const char *uri = o->uris[i];

    if (!(h->conn = virConnectOpenAuth(uri, virConnectAuthPtrDefault, 0))) {
        hvf_error_set(err, HVF_ERR_IO, "libvirt URI '%s': %s", uri,
                      lv_last_error("cannot connect"));
        return -1;
    }
    if (o->names) {
        hvf_strlcpy(h->name, o->names[i], sizeof(h->name));
    } else {
        char *hn = virConnectGetHostname(h->conn);

        dv_short_name(hn ? hn : "", h->name, sizeof(h->name));
        free(hn);
    }
    if (!hvf_name_is_valid(h->name)) {
        hvf_error_set(err, HVF_ERR_INVALID, "libvirt URI '%s': host name '%s' is not a valid "
                                            "name (1-63 characters of A-Z a-z 0-9 . _ -)",
                      uri, h->name);
        return -1;
    }
    dv_uuid(h->conn, h->uuid, sizeof(h->uuid));
    for (size_t k = 0; k < i; k++) {
        if (strcmp(all[k].name, h->name) == 0 || (h->uuid[0] && strcmp(all[k].uuid, h->uuid) == 0)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "libvirt URIs '%s' and '%s' reach the same host (%s %s): give each "
                          "host once",
                          o->uris[k], uri, strcmp(all[k].name, h->name) == 0 ? "name" : "UUID",
                          strcmp(all[k].name, h->name) == 0 ? h->name : h->uuid);
            return -1;
        }
    }
    h->ndoms = virConnectListAllDomains(h->conn, &h->doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (h->ndoms < 0) {
        h->ndoms = 0;
        hvf_error_set(err, HVF_ERR_IO, "libvirt URI '%s': listing its domains: %s", uri,
                      lv_last_error("failed"));
        return -1;
    }
    /* by name: the same hosts give the same inventory, whatever order libvirt lists in */
    if (h->ndoms > 1)
        qsort(h->doms, (size_t)h->ndoms, sizeof(*h->doms), dv_dom_cmp);
    h->dirty = hvf_calloc(h->ndoms ? (size_t)h->ndoms : 1, sizeof(double));
    h->why = hvf_calloc(h->ndoms ? (size_t)h->ndoms : 1, sizeof(*h->why));
    for (int d = 0; d < h->ndoms; d++)
        h->dirty[d] = -1;
    return 0;
}

/* Every running domain measured at once: one wait for the whole fleet, then a few seconds
 * more for the slow ones (QEMU hashes its samples after the period). */
static void
dv_measure(dv_host *hs, size_t n, int64_t us, hvf_discover_stats *st)
{
    int secs = (int)((us + 999999) / 1000000), waiting = 0;

    secs = secs < 1 ? 1 : secs > 60 ? 60 : secs;
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < hs[i].ndoms; d++) {
            /* one that can't start may be measured already (hvfleetd's periodic
             * measurement): its result is read all the same */
            if (virDomainStartDirtyRateCalc(hs[i].doms[d], secs, 0) < 0)
                hvf_strlcpy(hs[i].why[d], lv_last_error("failed"), sizeof(hs[i].why[d]));
            waiting++;
        }
    }
    if (!waiting)
        return;
    usleep((useconds_t)secs * 1000000);
    for (int tries = 0; waiting && tries < 20; tries++) { /* 5 s more at most */
        for (size_t i = 0; i < n; i++)
            for (int d = 0; d < hs[i].ndoms; d++)
                if (hs[i].dirty[d] == -1 && lv_dirty_read(hs[i].doms[d], &hs[i].dirty[d])) {
                    st->measured++;
                    waiting--;
                }
        if (waiting)
            usleep(250000);
    }
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < hs[i].ndoms; d++)
            if (hs[i].dirty[d] == -1)
                lv_warn("host '%s': domain '%s': no dirty rate within %d s%s%s", hs[i].name,
                        virDomainGetName(hs[i].doms[d]), secs + 5,
                        hs[i].why[d][0] ? ": " : "", hs[i].why[d]);
}

static int32_t
dv_add_host(hvf_fleet *f, const dv_host *h, const char *uri, hvf_discover_stats *st,
            hvf_error *err)
{
    int32_t idx = hvf_fleet_find_host(f, h->name);
    virNodeInfo ni;

    if (virNodeGetInfo(h->conn, &ni) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "libvirt URI '%s': its node facts: %s", uri,
                      lv_last_error("failed"));
        return -1;
    }
    if (idx >= 0) {
        hvf_host *fh = &f->hosts[idx];

        fh->cpus = ni.cpus;
        fh->mem_mib = ni.memory / 1024;
        if (fh->reserved_mib >= fh->mem_mib)
            fh->reserved_mib = 0;
        free(fh->libvirt_uri);
        fh->libvirt_uri = hvf_strdup(uri);
        st->merged_hosts++;
        return idx;
    }
    {
        hvf_host proto = {0};

        proto.name = (char *)h->name;
        proto.zone = hvf_fleet_zone_ensure(f, "default");
        proto.rack = hvf_fleet_rack_ensure(f, proto.zone, "default");
        proto.cpus = ni.cpus;
        proto.mem_mib = ni.memory / 1024;
        proto.nic_bytes_per_s = HVF_DEFAULT_NIC_BYTES_PER_S;
        proto.cpu_allocation_ratio = HVF_DEFAULT_CPU_ALLOCATION_RATIO;
        proto.ram_allocation_ratio = HVF_DEFAULT_RAM_ALLOCATION_RATIO;
        proto.libvirt_uri = (char *)uri;
        return hvf_fleet_add_host(f, &proto, err);
    }
}

static int
dv_add_vms(hvf_fleet *f, const dv_host *h, int32_t host, bool *seen, hvf_discover_stats *st,
           hvf_error *err)
{
    for (int d = 0; d < h->ndoms; d++) {
        const char *name = virDomainGetName(h->doms[d]);
        virDomainInfo di;
        int32_t v;

        if (!name || virDomainGetInfo(h->doms[d], &di) < 0)
            continue;
        v = hvf_fleet_find_vm(f, name);
        if (v >= 0 && seen[v]) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "domain '%s' runs on host '%s' and on host "
                                                 "'%s': one of them is a copy to resolve first",
                          name, f->hosts[f->vms[v].host].name, h->name);
            return -1;
        }
        st->domains++;
        if (v >= 0) {
            hvf_vm *vm = &f->vms[v];

            vm->host = host;
            vm->mem_mib = di.maxMem / 1024;
            vm->vcpus = di.nrVirtCpu;
            if (vm->working_set_mib > vm->mem_mib)
                vm->working_set_mib = vm->mem_mib;
            if (h->dirty[d] >= 0)
                vm->dirty_bytes_per_s = h->dirty[d];
            st->merged_vms++;
        } else {
            hvf_vm proto = {0};

            proto.name = (char *)name;
            proto.host = host;
            proto.vcpus = di.nrVirtCpu;
            proto.mem_mib = di.maxMem / 1024;
            proto.working_set_mib = proto.mem_mib;
            proto.dirty_bytes_per_s = h->dirty[d] >= 0 ? h->dirty[d] : 0;
            proto.cpu_load = HVF_DEFAULT_CPU_LOAD;
            proto.service = -1;
            proto.migratable = true;
            proto.secondary = -1;
            if ((v = hvf_fleet_add_vm(f, &proto, HVF_OVERCOMMIT, err)) < 0)
                return -1;
        }
        seen[v] = true;
    }
    return 0;
}

hvf_fleet *
hvf_libvirt_discover(const hvf_discover_opts *o, hvf_discover_stats *st, hvf_error *err)
{
    dv_host *hs;
    hvf_fleet *f = NULL;
    bool *seen = NULL;
    size_t ndoms = 0;

    memset(st, 0, sizeof(*st));
    if (!o->nuris) {
        hvf_error_set(err, HVF_ERR_INVALID, "no host to discover: expected at least one URI");
        return NULL;
    }
    if (lv_libvirt_use(err) < 0)
        return NULL;
    hs = hvf_calloc(o->nuris, sizeof(*hs));
    for (size_t i = 0; i < o->nuris; i++) {
        if (dv_connect(o, i, &hs[i], hs, err) < 0)
            goto out;
        ndoms += (size_t)hs[i].ndoms;
    }
    if (o->measure_dirty_us > 0)
        dv_measure(hs, o->nuris, o->measure_dirty_us, st);
    f = o->merge ? hvf_fleet_dup(o->merge) : hvf_fleet_new();
    /* room for every VM the merge has and every domain found, so no pointer moves */
    seen = hvf_calloc(f->nvms + ndoms + 1, sizeof(bool));
    for (size_t i = 0; i < o->nuris; i++) {
        int32_t h = dv_add_host(f, &hs[i], o->uris[i], st, err);

        if (h < 0 || dv_add_vms(f, &hs[i], h, seen, st, err) < 0) {
            hvf_fleet_free(f);
            f = NULL;
            goto out;
        }
        st->hosts++;
    }
    for (size_t v = 0; v < f->nvms; v++)
        st->kept_vms += !seen[v];
    /* what each host holds, from where its VMs were found */
    for (size_t h = 0; h < f->nhosts; h++)
        f->hosts[h].used.mem_mib = f->hosts[h].used.vcpus = 0;
    for (size_t v = 0; v < f->nvms; v++) {
        hvf_host *fh = &f->hosts[f->vms[v].host];

        fh->used.mem_mib += f->vms[v].mem_mib;
        fh->used.vcpus += f->vms[v].vcpus;
    }
out:
    free(seen);
    dv_hosts_free(hs, o->nuris);
    lv_libvirt_unuse();
    return f;
}
