/* SPDX-License-Identifier: MIT */
/* Ganeti text reader: node and instance lines, then the fleet built from them. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "conf/ganeti-parse.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"

#define GNT_MAX_MIB (1ULL << 40) /* an exbibyte: far beyond any host, small enough to add up */

static const char *const gnt_yes_no[] = {"N", "Y", NULL};
static const char *const gnt_roles[] = {"N", "Y", "M", NULL}; /* online, offline, master */
static const char *const gnt_statuses[] = {GNT_STATUS_NAMES, NULL};
static const char *const gnt_templates[] = {GNT_DT_NAMES, NULL};

/* ---- nodes ----------------------------------------------------------------------------------- */

static void
gnt_node_add_tag(gnt_node *nd, gnt_slice t)
{
    hvf_grow(&nd->tags, &nd->tags_cap, nd->ntags + 1, sizeof(char *));
    nd->tags[nd->ntags++] = gnt_dup(t);
}

/* Sorts node tags into structure (rack, drained, kernel, hw) and plain tags. */
static void
gnt_node_tags(gnt_ctx *c, const gnt_line *l, const char *what, gnt_slice field, gnt_node *nd)
{
    const char *p = field.p, *end = field.p + field.len;
    HVF_AUTOFREE char *loc_rack = NULL;

    while (field.len > 0 && p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        gnt_slice t = {p, (size_t)((comma ? comma : end) - p)};
        gnt_slice v = t;

        p = (comma ? comma : end) + 1;
        if (t.len == 0)
            continue;
        if (gnt_slice_eq(t, GNT_TAG_DRAINED)) {
            nd->drained = true;
        } else if (gnt_slice_strip_prefix(&v, GNT_TAG_RACK)) {
            if (!gnt_slice_valid_name(v)) {
                gnt_report(c, l->no, what, "tags", t,
                           "expected " GNT_TAG_RACK
                           "NAME with 1-63 characters of A-Z a-z 0-9 . _ -");
                return;
            }
            if (!nd->rack)
                nd->rack = gnt_dup(v);
        } else if (gnt_slice_strip_prefix(&v, GNT_TAG_KERNEL)) {
            free(nd->kernel);
            nd->kernel = gnt_dup(v);
        } else if (gnt_slice_strip_prefix(&v, GNT_TAG_HW)) {
            free(nd->hw);
            nd->hw = gnt_dup(v);
        } else {
            /* A location tag (htools:nlocation:PREFIX) stands for the rack when none is named. */
            for (size_t i = 0; i < c->nnlocations && !loc_rack; i++) {
                gnt_slice lv = t;
                if (gnt_slice_strip_prefix(&lv, c->nlocations[i]) &&
                    gnt_slice_strip_prefix(&lv, ":") && gnt_slice_valid_name(lv))
                    loc_rack = gnt_dup(lv);
            }
            gnt_node_add_tag(nd, t);
        }
    }
    if (!nd->rack && loc_rack)
        nd->rack = hvf_steal_ptr(&loc_rack);
}

/* Numeric fields of an online or offline node whose resources are known. */
static bool
gnt_node_numbers(gnt_ctx *c, const gnt_line *l, const char *what, const gnt_slice *f, size_t n,
                 gnt_node *nd)
{
    double tm = 0, td = 0, tc = 0, speed = 0;
    uint64_t nm = 0, u = 0;
    int64_t x = 0;
    size_t bad = c->diags->total;
    int role = gnt_enum(f[7], gnt_roles);

    if (!gnt_parse_double(f[1], &tm) || tm >= (double)GNT_MAX_MIB)
        gnt_report(c, l->no, what, "total_mem", f[1], "expected a number of MiB");
    if (!gnt_parse_uint(f[2], GNT_MAX_MIB, &nm))
        gnt_report(c, l->no, what, "node_mem", f[2], "expected a whole number of MiB");
    if (!gnt_parse_int(f[3], &x))
        gnt_report(c, l->no, what, "free_mem", f[3], "expected a whole number of MiB");
    if (!gnt_parse_double(f[4], &td))
        gnt_report(c, l->no, what, "total_disk", f[4], "expected a number of MiB");
    if (!gnt_parse_int(f[5], &x))
        gnt_report(c, l->no, what, "free_disk", f[5], "expected a whole number of MiB");
    if (!gnt_parse_double(f[6], &tc) || tc > 65536)
        gnt_report(c, l->no, what, "total_cpu", f[6], "expected a number of CPUs up to 65536");
    if (role < 0)
        gnt_report(c, l->no, what, "offline", f[7],
                   "expected Y (offline), N (online) or M (master)");
    if (n > 9 && !gnt_parse_uint(f[9], UINT32_MAX, &u))
        gnt_report(c, l->no, what, "spindles", f[9], "expected a whole number");
    if (n > 11 && gnt_enum(f[11], gnt_yes_no) < 0)
        gnt_report(c, l->no, what, "exclusive_storage", f[11], "expected Y or N");
    if (n > 12 && !gnt_parse_int(f[12], &x))
        gnt_report(c, l->no, what, "free_spindles", f[12], "expected a whole number");
    if (n > 13 && !gnt_parse_uint(f[13], 65536, &u))
        gnt_report(c, l->no, what, "os_cpus", f[13], "expected a whole number of CPUs");
    if (n > 14 && !gnt_parse_double(f[14], &speed))
        gnt_report(c, l->no, what, "cpu_speed", f[14], "expected a number");
    if (c->diags->total != bad)
        return false;

    nd->offline = role == 1;
    nd->total_mib = (uint64_t)llround(tm);
    nd->node_mib = nm;
    nd->cpus = (uint32_t)floor(tc);
    if (nd->total_mib == 0 || nd->cpus == 0) {
        if (nd->offline) {
            nd->unknown = true; /* an offline node may report nothing: size it like '?' */
            return true;
        }
        gnt_report(c, l->no, what, nd->cpus == 0 ? "total_cpu" : "total_mem",
                   nd->cpus == 0 ? f[6] : f[1], "expected more than 0 on an online node");
        return false;
    }
    if (nm >= nd->total_mib) {
        gnt_report(c, l->no, what, "node_mem", f[2],
                   "expected less than total_mem (%" PRIu64 " MiB)", nd->total_mib);
        return false;
    }
    return true;
}

void
gnt_read_node(gnt_ctx *c, const gnt_line *l)
{
    gnt_slice f[GNT_MAX_FIELDS];
    size_t n = gnt_split(l->p, l->len, '|', f, GNT_MAX_FIELDS);
    gnt_node nd = {0};
    char what[96];
    HVF_AUTOFREE char *uuid = NULL;
    bool ok = n >= 9;

    snprintf(what, sizeof(what), "nodes[%.*s]", (int)(f[0].len > 63 ? 63 : f[0].len), f[0].p);
    if (!ok)
        gnt_report_line(c, l, "nodes",
                        "expected at least 9 fields separated by '|' (name|total_mem"
                        "|node_mem|free_mem|total_disk|free_disk|total_cpu|offline|group_uuid), "
                        "got %zu",
                        n);
    if (gnt_hash_has(&c->node_by_name, f[0])) {
        if (ok)
            gnt_report(c, l->no, what, "name", f[0], "expected each node once");
        return;
    }
    /* Even a bad node is listed, so its instances are not reported as orphans as well; the
     * fleet is never built once a problem was reported. */
    if (ok && gnt_check_name(c, l, what, "name", f[0], "a node (an hvfleet host)")) {
        uuid = gnt_dup(f[8]);
        nd.group = hvf_hash_get(&c->group_by_uuid, uuid);
        if (nd.group < 0) {
            gnt_report(c, l->no, what, "group_uuid", f[8],
                       "expected the UUID of a group in the groups section");
            ok = false;
        }
        /* htools reads '?' in any resource as "offline, resources unknown" (RAPI gives it so). */
        for (int i = 1; i <= 6; i++)
            nd.unknown = nd.unknown || gnt_slice_eq(f[i], "?");
        if (!nd.unknown)
            ok = gnt_node_numbers(c, l, what, f, n, &nd) && ok;
        nd.offline = nd.offline || nd.unknown;
        if (ok && n > 10)
            gnt_node_tags(c, l, what, f[10], &nd);
    }
    nd.line = l->no;
    nd.name = gnt_dup(f[0]);
    hvf_grow(&c->nodes, &c->nodes_cap, c->nnodes + 1, sizeof(gnt_node));
    c->nodes[c->nnodes] = nd;
    HVF_ASSERT(hvf_hash_put(&c->node_by_name, nd.name, (int32_t)c->nnodes) == 0);
    c->nnodes++;
}

/* ---- instances ------------------------------------------------------------------------------- */

/* Exclusion tag values are free text in Ganeti; hvfleet names are not, so map the rest to '_'. */
static char *
gnt_service_name(gnt_slice v)
{
    size_t n = v.len > HVF_NAME_MAX ? HVF_NAME_MAX : v.len;
    char *s = hvf_strndup(v.p, n);

    for (char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            *p = '_';
    }
    return s;
}

/* The first instance tag "PREFIX:VALUE" whose PREFIX a cluster tag declared exclusive. */
static char *
gnt_inst_service(const gnt_ctx *c, gnt_slice tags)
{
    const char *p = tags.p, *end = tags.p + tags.len;

    while (tags.len > 0 && p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        gnt_slice t = {p, (size_t)((comma ? comma : end) - p)};

        p = (comma ? comma : end) + 1;
        for (size_t i = 0; i < c->niextags; i++) {
            gnt_slice v = t;
            if (gnt_slice_strip_prefix(&v, c->iextags[i]) && gnt_slice_strip_prefix(&v, ":") &&
                v.len > 0)
                return gnt_service_name(v);
        }
    }
    return NULL;
}

static int32_t
gnt_find_node(gnt_ctx *c, gnt_slice name)
{
    HVF_AUTOFREE char *k = gnt_dup(name);

    return hvf_hash_get(&c->node_by_name, k);
}

void
gnt_read_instance(gnt_ctx *c, const gnt_line *l)
{
    gnt_slice f[GNT_MAX_FIELDS];
    size_t n = gnt_split(l->p, l->len, '|', f, GNT_MAX_FIELDS);
    size_t bad = c->diags->total;
    gnt_inst in = {0};
    char what[96];
    uint64_t mem = 0, vcpus = 0, u = 0;
    int32_t snode = -1;
    int status, dt, forthcoming = 0;

    if (n < 10) {
        gnt_report_line(c, l, "instances",
                        "expected at least 10 fields separated by '|' (name|"
                        "memory|disk|vcpus|status|auto_balance|primary_node|secondary_node|"
                        "disk_template|tags), got %zu",
                        n);
        return;
    }
    snprintf(what, sizeof(what), "instances[%.*s]", (int)(f[0].len > 63 ? 63 : f[0].len), f[0].p);
    if (!gnt_check_name(c, l, what, "name", f[0], "an instance (an hvfleet VM)"))
        return;
    if (gnt_hash_has(&c->inst_by_name, f[0])) {
        gnt_report(c, l->no, what, "name", f[0], "expected each instance once");
        return;
    }
    if (!gnt_parse_uint(f[1], GNT_MAX_MIB, &mem) || mem == 0)
        gnt_report(c, l->no, what, "memory", f[1], "expected a whole number of MiB, more than 0");
    if (!gnt_parse_uint(f[2], UINT64_MAX, &u))
        gnt_report(c, l->no, what, "disk", f[2], "expected a whole number of MiB");
    if (!gnt_parse_uint(f[3], 4096, &vcpus) || vcpus == 0)
        gnt_report(c, l->no, what, "vcpus", f[3], "expected a whole number from 1 to 4096");
    status = gnt_enum(f[4], gnt_statuses);
    if (status < 0)
        gnt_report(c, l->no, what, "status", f[4],
                   "expected running, ERROR_up, ERROR_down, "
                   "ADMIN_down, ADMIN_offline, USER_down, ERROR_nodedown, ERROR_nodeoffline or "
                   "ERROR_wrongnode");
    if (gnt_enum(f[5], gnt_yes_no) < 0)
        gnt_report(c, l->no, what, "auto_balance", f[5], "expected Y or N");
    in.pnode = gnt_find_node(c, f[6]);
    if (in.pnode < 0)
        gnt_report(c, l->no, what, "primary_node", f[6],
                   "expected the name of a node in the nodes section");
    if (f[7].len > 0) {
        snode = gnt_find_node(c, f[7]);
        if (snode < 0)
            gnt_report(c, l->no, what, "secondary_node", f[7],
                       "expected empty or the name of a node in the nodes section");
        else if (snode == in.pnode)
            gnt_report(c, l->no, what, "secondary_node", f[7],
                       "expected a node other than the primary");
    }
    dt = gnt_enum(f[8], gnt_templates);
    if (dt < 0)
        gnt_report(c, l->no, what, "disk_template", f[8],
                   "expected plain, drbd, file, "
                   "sharedfile, diskless, blockdev, rbd, ext or gluster");
    if (n > 10 && !gnt_parse_uint(f[10], UINT32_MAX, &u))
        gnt_report(c, l->no, what, "spindle_use", f[10], "expected a whole number");
    if (n > 11 && !gnt_slice_eq(f[11], "-") && !gnt_parse_uint(f[11], UINT32_MAX, &u))
        gnt_report(c, l->no, what, "spindles", f[11], "expected - or a whole number");
    if (n > 12 && (forthcoming = gnt_enum(f[12], gnt_yes_no)) < 0)
        gnt_report(c, l->no, what, "forthcoming", f[12], "expected Y or N");
    if (c->diags->total != bad)
        return;

    in.name = gnt_dup(f[0]);
    in.service = gnt_inst_service(c, f[9]);
    in.line = l->no;
    in.mem_mib = mem;
    in.vcpus = (uint32_t)vcpus;
    /* htools holds memory for stopped and forthcoming instances, so they stay, idle. */
    in.stopped = status < GNT_STATUS_DOWN_COUNT || forthcoming == 1;
    in.migratable = dt >= GNT_DT_UNMIGRATABLE;
    /* Only drbd ties an instance to its secondary: `gnt-instance migrate` goes there. */
    in.snode = dt == GNT_DT_DRBD ? snode : -1;
    c->nodes[in.pnode].pri_mib += mem;
    c->nodes[in.pnode].pri_vcpus += vcpus;
    c->stats->drbd_instances += in.snode >= 0;
    c->stats->stopped_instances += in.stopped;
    c->stats->unmigratable += !in.migratable;
    hvf_grow(&c->insts, &c->insts_cap, c->ninsts + 1, sizeof(gnt_inst));
    c->insts[c->ninsts] = in;
    HVF_ASSERT(hvf_hash_put(&c->inst_by_name, in.name, (int32_t)c->ninsts) == 0);
    c->ninsts++;
}

/* ---- the fleet ------------------------------------------------------------------------------- */

static double
gnt_ratio(double group, double cluster, double dflt)
{
    return group > 0 ? group : cluster > 0 ? cluster : dflt;
}

/* An offline node without figures gets just enough to hold its instances, rounded up to GiB. */
static void
gnt_size_unknown(gnt_ctx *c, gnt_node *nd, double cpu_ratio, double ram_ratio)
{
    uint64_t mem = (uint64_t)ceil((double)nd->pri_mib / ram_ratio);
    uint64_t cpus = (uint64_t)ceil((double)nd->pri_vcpus / cpu_ratio);
    gnt_slice tag = {GNT_TAG_UNKNOWN, strlen(GNT_TAG_UNKNOWN)};

    nd->total_mib = mem < 1024 ? 1024 : (mem + 1023) / 1024 * 1024;
    nd->node_mib = 0;
    nd->cpus = cpus < 1 ? 1 : cpus > 65536 ? 65536 : (uint32_t)cpus;
    gnt_node_add_tag(nd, tag);
    c->stats->unknown_nodes++;
    hvf_diags_add(&c->stats->notes,
                  "%s:%d: nodes[%s]: resources unknown (offline); imported as "
                  "down with %" PRIu64 " MiB and %u CPUs to hold its instances",
                  c->file, nd->line, nd->name, nd->total_mib, nd->cpus);
}

/* Smallest multiple of 1/64 (exact in binary, short in YAML) with floor(base x r) >= need. */
static double
gnt_fit_ratio(uint64_t need, uint64_t base)
{
    double r = ceil((double)need * 64.0 / (double)base) / 64.0;

    while (floor((double)base * r) < (double)need)
        r += 1.0 / 64;
    return r;
}

/* The inventory's limits on allocation ratios (see the field table in inventory.c). */
#define GNT_MAX_CPU_RATIO 1000.0
#define GNT_MAX_RAM_RATIO 100.0

/* Ganeti allows over-commitment the policy ratios do not show; describe what is, and say so. */
static void
gnt_fit_capacity(gnt_ctx *c, hvf_host *h)
{
    hvf_resources u = hvf_host_usable(h);
    bool raised = false;

    if (h->used.mem_mib > u.mem_mib) {
        h->ram_allocation_ratio = gnt_fit_ratio(h->used.mem_mib, h->mem_mib - h->reserved_mib);
        if (h->ram_allocation_ratio > GNT_MAX_RAM_RATIO)
            hvf_diags_add(c->diags,
                          "%s:%d: nodes[%s].total_mem: '%" PRIu64 "': expected at "
                          "least 1/%g of the %" PRIu64 " MiB its instances hold",
                          c->file, h->line, h->name, h->mem_mib, GNT_MAX_RAM_RATIO,
                          h->used.mem_mib);
        else
            hvf_diags_add(&c->stats->notes,
                          "%s:%d: nodes[%s]: instances hold %" PRIu64 " MiB "
                          "of %" PRIu64 " MiB: ram_allocation_ratio raised to %g",
                          c->file, h->line, h->name, h->used.mem_mib, u.mem_mib,
                          h->ram_allocation_ratio);
        raised = true;
    }
    if (h->used.vcpus > u.vcpus) {
        h->cpu_allocation_ratio = gnt_fit_ratio(h->used.vcpus, h->cpus);
        if (h->cpu_allocation_ratio > GNT_MAX_CPU_RATIO)
            hvf_diags_add(c->diags,
                          "%s:%d: nodes[%s].total_cpu: '%u': expected at least 1/%g "
                          "of the %u vCPUs its instances hold",
                          c->file, h->line, h->name, h->cpus, GNT_MAX_CPU_RATIO, h->used.vcpus);
        else
            hvf_diags_add(&c->stats->notes,
                          "%s:%d: nodes[%s]: instances hold %u vCPUs of %u: "
                          "cpu_allocation_ratio raised to %g",
                          c->file, h->line, h->name, h->used.vcpus, u.vcpus,
                          h->cpu_allocation_ratio);
        raised = true;
    }
    c->stats->raised_ratios += raised;
}

static const gnt_svcdef *
gnt_find_svcdef(const gnt_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nsvcdefs; i++) {
        if (strcmp(c->svcdefs[i].name, name) == 0)
            return &c->svcdefs[i];
    }
    return NULL;
}

static void
gnt_build_hosts(gnt_ctx *c, hvf_fleet *f)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        gnt_node *nd = &c->nodes[i];
        const gnt_group *g = &c->groups[nd->group];
        hvf_host h = {0};
        hvf_error err = HVF_ERROR_INIT;

        h.cpu_allocation_ratio =
            gnt_ratio(g->vcpu_ratio, c->cluster_vcpu_ratio, HVF_DEFAULT_CPU_ALLOCATION_RATIO);
        h.ram_allocation_ratio =
            gnt_ratio(g->mem_ratio, c->cluster_mem_ratio, HVF_DEFAULT_RAM_ALLOCATION_RATIO);
        if (nd->unknown)
            gnt_size_unknown(c, nd, h.cpu_allocation_ratio, h.ram_allocation_ratio);
        h.name = nd->name;
        h.zone = hvf_fleet_zone_ensure(f, g->name);
        h.rack = hvf_fleet_rack_ensure(f, h.zone, nd->rack ? nd->rack : "default");
        h.cpus = nd->cpus;
        h.mem_mib = nd->total_mib;
        h.reserved_mib = nd->node_mib;
        h.nic_bytes_per_s = HVF_DEFAULT_NIC_BYTES_PER_S;
        h.kernel = nd->kernel;
        h.hw = nd->hw;
        h.tags = nd->tags;
        h.ntags = nd->ntags;
        h.state = nd->offline   ? HVF_HOST_STATE_DOWN
                  : nd->drained ? HVF_HOST_STATE_MAINTENANCE
                                : HVF_HOST_STATE_ACTIVE;
        h.line = nd->line;
        HVF_ASSERT(hvf_fleet_add_host(f, &h, &err) == (int32_t)i);
        c->stats->offline_nodes += nd->offline;
        c->stats->drained_nodes += !nd->offline && nd->drained;
    }
}

static void
gnt_build_vms(gnt_ctx *c, hvf_fleet *f)
{
    for (size_t i = 0; i < c->ninsts; i++) {
        const gnt_inst *in = &c->insts[i];
        hvf_vm vm = {0};
        hvf_error err = HVF_ERROR_INIT;

        vm.service = -1;
        if (in->service && (vm.service = hvf_fleet_find_service(f, in->service)) < 0) {
            const gnt_svcdef *d = gnt_find_svcdef(c, in->service);
            hvf_service s = {.name = in->service, .min_available = 1, .spread = HVF_SPREAD_HOST};
            if (d) {
                s.critical = d->critical;
                s.min_available = d->min_available;
                s.spread = (hvf_spread)d->spread;
                s.line = d->line;
            }
            HVF_ASSERT((vm.service = hvf_fleet_add_service(f, &s, &err)) >= 0);
        }
        vm.name = in->name;
        vm.host = in->pnode;
        vm.vcpus = in->vcpus;
        vm.mem_mib = in->mem_mib;
        vm.working_set_mib = in->mem_mib;
        vm.cpu_load = in->stopped ? 0.0 : HVF_DEFAULT_CPU_LOAD;
        vm.migratable = in->migratable;
        vm.has_secondary = in->snode >= 0;
        vm.secondary = in->snode;
        vm.line = in->line;
        HVF_ASSERT(hvf_fleet_add_vm(f, &vm, HVF_OVERCOMMIT, &err) >= 0);
    }
}

hvf_fleet *
gnt_build(gnt_ctx *c)
{
    hvf_fleet *f = hvf_fleet_new();
    HVF_AUTOFREE uint32_t *replicas = NULL;

    gnt_build_hosts(c, f);
    gnt_build_vms(c, f);
    replicas = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
    for (size_t i = 0; i < f->nvms; i++) {
        if (f->vms[i].service >= 0)
            replicas[f->vms[i].service]++;
    }
    for (size_t s = 0; s < f->nservices; s++) {
        const hvf_service *svc = &f->services[s];
        if (svc->min_available > replicas[s])
            hvf_diags_add(c->diags,
                          "%s:%d: cluster_tags[%s].min_available: '%u': expected at "
                          "most the %u instances of service '%s'",
                          c->file, svc->line, svc->name, svc->min_available, replicas[s],
                          svc->name);
    }
    for (size_t i = 0; i < f->nhosts; i++)
        gnt_fit_capacity(c, &f->hosts[i]);
    c->stats->groups = c->ngroups;
    c->stats->nodes = c->nnodes;
    c->stats->instances = c->ninsts;
    return f;
}
