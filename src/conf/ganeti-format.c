/* SPDX-License-Identifier: MIT */
/* Fleet -> Ganeti htools text data, so hroller, hbal and hspace can plan our fleets too. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "conf/ganeti-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/ganeti.h"

/* Disks are not modelled: nodes get a nominal 1 TiB, and VMs that cannot live-migrate become
 * plain instances with a nominal 10 GiB local disk (htools then knows they cannot move live).
 * A VM with a secondary becomes a drbd instance with that disk on both of its nodes. */
#define GNT_NODE_DISK_MIB 1048576ULL
#define GNT_PLAIN_DISK_MIB 10240ULL

static void
gnt_format_uuid(char *buf, size_t size, size_t zone)
{
    /* Stable and unique per zone, shaped like the UUIDs Ganeti prints. */
    snprintf(buf, size, "00000000-0000-4000-8000-%012zx", zone + 1);
}

/* Appends @tag with the format's separators (',' '|') and line breaks replaced by '_'. */
static void
gnt_format_tag(hvf_strbuf *out, bool *first, const char *prefix, const char *tag)
{
    size_t start;

    if (prefix[0] == '\0' && tag[0] == '\0')
        return;
    if (!*first)
        hvf_strbuf_puts(out, ",");
    start = out->len;
    hvf_strbuf_puts(out, prefix);
    hvf_strbuf_puts(out, tag);
    for (size_t i = start; i < out->len; i++) {
        char ch = out->buf[i];
        if (ch == ',' || ch == '|' || ch == '\n' || ch == '\r')
            out->buf[i] = '_';
    }
    *first = false;
}

static void
gnt_format_ratio(hvf_strbuf *out, double r)
{
    /* Haskell's read wants a digit after the point; whole values get ".0". */
    if (r == floor(r) && r < 1e15)
        hvf_strbuf_printf(out, "%.1f", r);
    else
        hvf_strbuf_printf(out, "%.17g", r);
}

static void
gnt_format_nodes(const hvf_fleet *f, const uint64_t *plain_mib, hvf_strbuf *out)
{
    char uuid[64];
    bool master = false;

    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        const char *rack = f->racks[h->rack].name;
        uint64_t disk = plain_mib[i] > GNT_NODE_DISK_MIB ? plain_mib[i] : GNT_NODE_DISK_MIB;
        int64_t free_mib =
            (int64_t)h->mem_mib - (int64_t)h->reserved_mib - (int64_t)h->used.mem_mib;
        bool first = true;
        char role = 'N';

        /* hroller refuses a cluster without a master: the first host that is up plays it. */
        if (h->state == HVF_HOST_STATE_DOWN) {
            role = 'Y';
        } else if (!master) {
            role = 'M';
            master = true;
        }
        gnt_format_uuid(uuid, sizeof(uuid), (size_t)h->zone);
        /* name|total_mem|node_mem|free_mem|total_disk|free_disk|total_cpu|offline|group_uuid| */
        hvf_strbuf_printf(
            out, "%s|%" PRIu64 "|%" PRIu64 "|%" PRId64 "|%" PRIu64 "|%" PRIu64 "|%u|%c|%s|1|",
            h->name, h->mem_mib, h->reserved_mib, free_mib, disk, disk - plain_mib[i], h->cpus,
            role, uuid);
        if (strcmp(rack, "default") != 0)
            gnt_format_tag(out, &first, GNT_TAG_RACK, rack);
        if (h->kernel)
            gnt_format_tag(out, &first, GNT_TAG_KERNEL, h->kernel);
        if (h->hw)
            gnt_format_tag(out, &first, GNT_TAG_HW, h->hw);
        if (h->state == HVF_HOST_STATE_MAINTENANCE)
            gnt_format_tag(out, &first, GNT_TAG_DRAINED, "");
        for (size_t t = 0; t < h->ntags; t++)
            gnt_format_tag(out, &first, "", h->tags[t]);
        /* |exclusive_storage|free_spindles|os_cpus|cpu_speed: hvfleet keeps no CPU for the OS */
        hvf_strbuf_puts(out, "|N|1|0|1.0\n");
    }
}

static void
gnt_format_instances(const hvf_fleet *f, hvf_strbuf *out)
{
    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *v = &f->vms[i];
        const hvf_host *h = &f->hosts[v->host];
        bool drbd = v->migratable && v->has_secondary;

        /* name|memory|disk|vcpus|status|auto_balance|pnode|snode|disk_template|tags|
         * spindle_use|spindles|forthcoming */
        hvf_strbuf_printf(out, "%s|%" PRIu64 "|%" PRIu64 "|%u|%s|Y|%s|%s|%s|", v->name, v->mem_mib,
                          v->migratable && !drbd ? (uint64_t)0 : (uint64_t)GNT_PLAIN_DISK_MIB,
                          v->vcpus,
                          h->state == HVF_HOST_STATE_DOWN ? "ERROR_nodeoffline" : "running",
                          h->name, drbd ? f->hosts[v->secondary].name : "",
                          drbd            ? "drbd"
                          : v->migratable ? "diskless"
                                          : "plain");
        if (v->service >= 0)
            hvf_strbuf_printf(out, GNT_SERVICE_PREFIX ":%s", f->services[v->service].name);
        hvf_strbuf_puts(out, "|1|-|N\n");
    }
}

static void
gnt_format_policies(const hvf_fleet *f, hvf_strbuf *out)
{
    uint64_t min_mem = 128, max_mem = 32768;
    uint32_t max_vcpus = 8;

    /* Specs wide enough that no VM violates the instance policy. */
    for (size_t i = 0; i < f->nvms; i++) {
        min_mem = f->vms[i].mem_mib < min_mem ? f->vms[i].mem_mib : min_mem;
        max_mem = f->vms[i].mem_mib > max_mem ? f->vms[i].mem_mib : max_mem;
        max_vcpus = f->vms[i].vcpus > max_vcpus ? f->vms[i].vcpus : max_vcpus;
    }
    for (size_t z = 0; z <= f->nzones; z++) {
        double cpu = 4.0, ram = 1.0;

        /* The cluster line first (owner ""), then one per group from its first host. */
        if (z > 0) {
            for (size_t i = 0; i < f->nhosts; i++) {
                if ((size_t)f->hosts[i].zone == z - 1) {
                    cpu = f->hosts[i].cpu_allocation_ratio;
                    ram = f->hosts[i].ram_allocation_ratio;
                    break;
                }
            }
        }
        hvf_strbuf_printf(out,
                          "%s|1024,1,1024,1,1,1|%" PRIu64 ",1,0,0,0,1;%" PRIu64
                          ",%u,1048576,16,8,12|diskless,file,sharedfile,plain,blockdev,drbd,rbd,"
                          "ext|",
                          z ? f->zones[z - 1].name : "", min_mem, max_mem, max_vcpus);
        gnt_format_ratio(out, cpu);
        hvf_strbuf_puts(out, "|32.0");
        /* memory_ratio is Ganeti 3.1's; 3.0 ignores it, so only write it when it says something */
        if (ram != 1.0) {
            hvf_strbuf_puts(out, "|");
            gnt_format_ratio(out, ram);
        }
        hvf_strbuf_puts(out, "\n");
    }
}

void
hvf_ganeti_format(const hvf_fleet *f, hvf_strbuf *out)
{
    HVF_AUTOFREE uint64_t *plain_mib = hvf_calloc(f->nhosts + 1, sizeof(uint64_t));
    char uuid[64];

    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *v = &f->vms[i];
        if (!v->migratable || v->has_secondary)
            plain_mib[v->host] += GNT_PLAIN_DISK_MIB;
        if (v->migratable && v->has_secondary)
            plain_mib[v->secondary] += GNT_PLAIN_DISK_MIB;
    }
    /* groups: name|uuid|alloc_policy|tags|networks */
    for (size_t z = 0; z < f->nzones; z++) {
        gnt_format_uuid(uuid, sizeof(uuid), z);
        hvf_strbuf_printf(out, "%s|%s|preferred||\n", f->zones[z].name, uuid);
    }
    hvf_strbuf_puts(out, "\n");
    gnt_format_nodes(f, plain_mib, out);
    hvf_strbuf_puts(out, "\n");
    gnt_format_instances(f, out);
    hvf_strbuf_puts(out, "\n");
    if (f->nservices > 0)
        hvf_strbuf_puts(out, GNT_CTAG_IEXTAGS GNT_SERVICE_PREFIX "\n");
    for (size_t s = 0; s < f->nservices; s++) {
        const hvf_service *svc = &f->services[s];
        hvf_strbuf_printf(out, GNT_CTAG_SERVICE "%s:%s:%u%s\n", svc->name,
                          hvf_spread_to_string(svc->spread), svc->min_available,
                          svc->critical ? ":critical" : "");
    }
    hvf_strbuf_puts(out, "\n");
    gnt_format_policies(f, out);
}
