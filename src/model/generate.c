/* SPDX-License-Identifier: MIT */
/* Synthetic fleets: hosts over zones and racks, VMs packed per host, replicated services. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/generate.h"
#include "hvfleet/rng.h"
#include "model/generate-priv.h"

/* Shares of VMs: busy ones dirty memory fast, some cannot live-migrate (local disks, devices). */
#define GEN_BUSY_SHARE 0.075
#define GEN_UNMIGRATABLE_SHARE 0.02
#define GEN_GPU_SHARE 0.03
#define GEN_GEN3_SHARE 0.6
#define GEN_KERNEL61_SHARE 0.7
#define GEN_HOSTS_PER_RACK 20

typedef struct gen_service_spec {
    const char *name;
    bool critical;
    hvf_spread spread;
    uint32_t replicas, min_available;
    int size; /* preferred size index for its VMs */
    bool busy;
} gen_service_spec;

/* Kolab Now's lesson: monitoring and ticketing apart, monitoring over several racks. */
static const gen_service_spec gen_services[] = {
    {"monitoring", true, HVF_SPREAD_RACK, 3, 2, 2, false},
    {"ticketing", true, HVF_SPREAD_HOST, 2, 1, 3, false},
    {"db", false, HVF_SPREAD_HOST, 3, 2, 5, true},
    {"web", false, HVF_SPREAD_HOST, 6, 3, 2, false},
};

void
hvf_generate_params_init(hvf_generate_params *p)
{
    memset(p, 0, sizeof(*p));
    p->seed = 1;
    p->zones = 1;
    p->host_mem_mib = 512 * 1024;
    p->host_cpus = 64;
}

/* ---- hosts ----------------------------------------------------------------------------------- */

static uint64_t
gen_reserved_mib(uint64_t mem_mib)
{
    /* What the host keeps for itself: 1/64 of memory, 1-16 GiB, in whole GiB. */
    uint64_t r = mem_mib / 64 / 1024 * 1024;

    return r < 1024 ? 1024 : r > 16384 ? 16384 : r;
}

static int
gen_check(const hvf_generate_params *p, hvf_error *err)
{
    hvf_host probe = {.cpus = p->host_cpus,
                      .mem_mib = p->host_mem_mib,
                      .reserved_mib = gen_reserved_mib(p->host_mem_mib),
                      .cpu_allocation_ratio = 4.0,
                      .ram_allocation_ratio = 1.0};
    hvf_resources u;

    if (p->hosts < 1 || p->hosts > HVF_GENERATE_MAX_HOSTS) {
        hvf_error_set(err, HVF_ERR_INVALID, "hosts '%u': expected 1 to %u", p->hosts,
                      HVF_GENERATE_MAX_HOSTS);
        return -1;
    }
    if ((uint64_t)p->hosts * p->vms_per_host > HVF_GENERATE_MAX_VMS) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vms-per-host '%u': expected at most %llu VMs in all, "
                      "%u hosts would hold %" PRIu64,
                      p->vms_per_host, HVF_GENERATE_MAX_VMS, p->hosts,
                      (uint64_t)p->hosts * p->vms_per_host);
        return -1;
    }
    if (p->zones < 1 || p->zones > p->hosts) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "zones '%u': expected 1 to %u (one host per zone at "
                      "least)",
                      p->zones, p->hosts);
        return -1;
    }
    if ((uint64_t)p->zones * p->racks_per_zone > p->hosts) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "racks-per-zone '%u': expected at most %u so that "
                      "every rack of the %u zones has a host",
                      p->racks_per_zone, p->hosts / p->zones, p->zones);
        return -1;
    }
    if (p->host_mem_mib < 2048 || p->host_mem_mib > (64ULL << 20)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "host-memory '%" PRIu64 "MiB': expected 2 GiB to "
                      "64 TiB",
                      p->host_mem_mib);
        return -1;
    }
    if (p->host_cpus < 1 || p->host_cpus > 65536) {
        hvf_error_set(err, HVF_ERR_INVALID, "host-cpus '%u': expected 1 to 65536", p->host_cpus);
        return -1;
    }
    u = hvf_host_usable(&probe);
    if ((uint64_t)p->vms_per_host * 1024 > u.mem_mib || p->vms_per_host > u.vcpus) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "vms-per-host '%u': does not fit: VMs take at least "
                      "1 GiB and 1 vCPU, a host has %" PRIu64 " GiB and %u vCPUs usable",
                      p->vms_per_host, u.mem_mib / 1024, u.vcpus);
        return -1;
    }
    return 0;
}

static int
gen_digits(uint64_t n)
{
    int d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* PREFIX then @n zero-padded to @width digits ("kvm0042"). */
static void
gen_name(char *buf, size_t size, const char *prefix, uint64_t n, int width)
{
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%" PRIu64, n);
    int pad = width > nd ? width - nd : 0;

    snprintf(buf, size, "%s%.*s%s", prefix, pad > 16 ? 16 : pad, "0000000000000000", digits);
}

static void
gen_hosts(hvf_rng *rng, const hvf_generate_params *p, hvf_fleet *f)
{
    HVF_AUTOFREE bool *rack_gen3 = hvf_calloc((size_t)p->zones * p->racks_per_zone, sizeof(bool));
    int width = gen_digits(p->hosts) < 4 ? 4 : gen_digits(p->hosts);
    char name[64], zone[32], rack[32];
    char *tags[2];
    hvf_error err = HVF_ERROR_INIT;

    for (uint32_t i = 0; i < p->hosts; i++) {
        /* zone z holds hosts [ceil(z N / Z), ceil((z+1) N / Z)): as even as it gets */
        uint32_t z = (uint32_t)((uint64_t)i * p->zones / p->hosts);
        uint64_t first = ((uint64_t)z * p->hosts + p->zones - 1) / p->zones;
        uint64_t next = ((uint64_t)(z + 1) * p->hosts + p->zones - 1) / p->zones;
        uint32_t r = (uint32_t)((i - first) * p->racks_per_zone / (next - first));
        size_t nracks = f->nracks;
        hvf_host h = {0};
        bool gen3;

        snprintf(zone, sizeof(zone), "z%u", z + 1);
        snprintf(rack, sizeof(rack), "r%02u", r + 1);
        gen_name(name, sizeof(name), "kvm", i + 1, width);
        h.zone = hvf_fleet_zone_ensure(f, zone);
        h.rack = hvf_fleet_rack_ensure(f, h.zone, rack);
        if (f->nracks > nracks) /* a new rack: racks are bought whole, one generation each */
            rack_gen3[h.rack] = hvf_rng_uniform(rng) < GEN_GEN3_SHARE;
        gen3 = rack_gen3[h.rack];
        h.name = name;
        h.cpus = p->host_cpus;
        h.mem_mib = p->host_mem_mib;
        h.reserved_mib = gen_reserved_mib(p->host_mem_mib);
        h.cpu_allocation_ratio = 4.0;
        h.ram_allocation_ratio = 1.0;
        h.nic_bytes_per_s = gen3 ? 25e9 / 8 : 10e9 / 8;
        h.hw = gen3 ? "gen3" : "gen2";
        h.kernel = hvf_rng_uniform(rng) < GEN_KERNEL61_SHARE ? "6.1" : "5.10";
        tags[0] = gen3 ? "nvme" : "sata";
        tags[1] = "gpu";
        h.tags = tags;
        h.ntags = hvf_rng_uniform(rng) < GEN_GPU_SHARE ? 2 : 1;
        h.state = HVF_HOST_STATE_ACTIVE;
        HVF_ASSERT(hvf_fleet_add_host(f, &h, &err) == (int32_t)i);
    }
}

/* ---- services -------------------------------------------------------------------------------- */

typedef struct gen_state {
    const hvf_generate_params *p;
    hvf_rng *rng;
    hvf_fleet *f;
    uint8_t *sizes;    /* per VM, host-major: VM v of host h is h * vms_per_host + v */
    int8_t *service;   /* per VM, index into gen_services or -1 */
    uint16_t *replica; /* per VM, 1-based replica number within its service */
    uint32_t *perm;    /* host order, reshuffled per service */
    int32_t *mark;     /* per host/rack/zone: last service (+1) that used it */
    uint8_t *critical; /* per host: holds a replica of a critical service */
    uint32_t taken[HVF_ARRAY_LEN(gen_services)];
    hvf_spread spread[HVF_ARRAY_LEN(gen_services)];
} gen_state;

static int32_t
gen_domain(const gen_state *g, uint32_t h, hvf_spread spread)
{
    const hvf_host *host = &g->f->hosts[h];

    /* one mark array: hosts first, then racks, then zones */
    switch (spread) {
    case HVF_SPREAD_RACK:
        return (int32_t)g->f->nhosts + host->rack;
    case HVF_SPREAD_ZONE:
        return (int32_t)(g->f->nhosts + g->f->nracks) + host->zone;
    default:
        return (int32_t)h;
    }
}

/* The unassigned VM of host @h closest in size to @want, or -1. */
static int64_t
gen_pick_vm(const gen_state *g, uint32_t h, int want)
{
    uint64_t base = (uint64_t)h * g->p->vms_per_host;
    int64_t best = -1;
    int best_d = 99;

    for (uint32_t v = 0; v < g->p->vms_per_host; v++) {
        int d = abs((int)g->sizes[base + v] - want);
        if (g->service[base + v] < 0 && d < best_d) {
            best = (int64_t)(base + v);
            best_d = d;
        }
    }
    return best;
}

static void
gen_shuffle(hvf_rng *rng, uint32_t *a, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)hvf_rng_range(rng, 0, i - 1);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Places each service's replicas on hosts in distinct domains of its spread level. */
static void
gen_assign_services(gen_state *g)
{
    const hvf_fleet *f = g->f;

    for (size_t s = 0; s < HVF_ARRAY_LEN(gen_services); s++) {
        const gen_service_spec *spec = &gen_services[s];
        hvf_spread spread = spec->spread;

        /* One rack cannot spread over racks: fall back to hosts, as an operator would. */
        if (spread == HVF_SPREAD_RACK && f->nracks < 2)
            spread = HVF_SPREAD_HOST;
        if (spread == HVF_SPREAD_ZONE && f->nzones < 2)
            spread = HVF_SPREAD_HOST;
        g->spread[s] = spread;
        gen_shuffle(g->rng, g->perm, (uint32_t)f->nhosts);
        /* pass 0 keeps critical services off each other's hosts; pass 1 takes what is left */
        for (int pass = 0; pass < 2 && g->taken[s] < spec->replicas; pass++) {
            for (size_t k = 0; k < f->nhosts && g->taken[s] < spec->replicas; k++) {
                uint32_t h = g->perm[k];
                int32_t dom = gen_domain(g, h, spread);
                int64_t vm;

                if (g->mark[dom] == (int32_t)s + 1 || g->mark[h] == (int32_t)s + 1)
                    continue;
                if (pass == 0 && spec->critical && g->critical[h])
                    continue;
                vm = gen_pick_vm(g, h, spec->size);
                if (vm < 0)
                    continue;
                g->service[vm] = (int8_t)s;
                g->replica[vm] = (uint16_t)++g->taken[s];
                g->mark[dom] = g->mark[h] = (int32_t)s + 1;
                g->critical[h] |= spec->critical;
            }
        }
    }
}

/* ---- VMs ------------------------------------------------------------------------------------- */

static void
gen_vm_load(hvf_rng *rng, hvf_vm *vm, bool busy)
{
    /* Busy: a database or a build, dirtying 50-400 MiB/s over 10-50 % of its memory. Idle:
     * up to 5 MiB/s over 2-10 %. Rates in whole KiB/s and loads in 1/256 stay exact in YAML. */
    if (busy) {
        vm->dirty_bytes_per_s = (double)hvf_rng_range(rng, 50, 400) * 1048576.0;
        vm->working_set_mib =
            (uint64_t)((0.10 + 0.40 * hvf_rng_uniform(rng)) * (double)vm->mem_mib);
        vm->cpu_load = (double)hvf_rng_range(rng, 128, 243) / 256.0;
    } else {
        vm->dirty_bytes_per_s = (double)hvf_rng_range(rng, 0, 5120) * 1024.0;
        vm->working_set_mib =
            (uint64_t)((0.02 + 0.08 * hvf_rng_uniform(rng)) * (double)vm->mem_mib);
        vm->cpu_load = (double)hvf_rng_range(rng, 13, 76) / 256.0;
    }
    if (vm->working_set_mib < 1)
        vm->working_set_mib = 1;
}

static int
gen_vms(gen_state *g, hvf_error *err)
{
    const hvf_generate_params *p = g->p;
    uint64_t total = (uint64_t)p->hosts * p->vms_per_host;
    int width = gen_digits(total) < 5 ? 5 : gen_digits(total);
    int32_t svc_index[HVF_ARRAY_LEN(gen_services)];
    char name[HVF_NAME_MAX + 1];

    for (size_t s = 0; s < HVF_ARRAY_LEN(gen_services); s++) {
        const gen_service_spec *spec = &gen_services[s];
        hvf_service svc = {
            .name = (char *)spec->name, .critical = spec->critical, .spread = g->spread[s]};
        uint32_t n = g->taken[s];

        svc_index[s] = -1;
        if (n == 0)
            continue;
        /* keep one replica of slack: min_available below the count, but at least 1 */
        svc.min_available = spec->min_available < n ? spec->min_available : n > 1 ? n - 1 : 1;
        svc_index[s] = hvf_fleet_add_service(g->f, &svc, err);
        if (svc_index[s] < 0)
            return -1;
    }
    for (uint64_t i = 0; i < total; i++) {
        int s = g->service[i];
        bool busy = hvf_rng_uniform(g->rng) < GEN_BUSY_SHARE;
        bool migratable = hvf_rng_uniform(g->rng) >= GEN_UNMIGRATABLE_SHARE;
        hvf_vm vm = {0};

        vm.host = (int32_t)(i / p->vms_per_host);
        vm.mem_mib = gen_size_gib[g->sizes[i]] * 1024ULL;
        vm.vcpus = gen_vcpus(g->sizes[i]);
        vm.service = s >= 0 ? svc_index[s] : -1;
        if (s >= 0) {
            busy = gen_services[s].busy;
            migratable = true; /* replicas exist to be moved around */
            snprintf(name, sizeof(name), "%s-%u", gen_services[s].name, g->replica[i]);
        } else {
            gen_name(name, sizeof(name), "vm", i + 1, width);
        }
        gen_vm_load(g->rng, &vm, busy);
        vm.migratable = migratable;
        vm.name = name;
        if (hvf_fleet_add_vm(g->f, &vm, 0, err) < 0) {
            hvf_error_prefix(err, "generating: ");
            err->code = HVF_ERR_INTERNAL; /* the packing above guarantees room: a bug */
            return -1;
        }
    }
    return 0;
}

hvf_fleet *
hvf_generate_fleet(const hvf_generate_params *params, hvf_error *err)
{
    hvf_generate_params p = *params;
    hvf_rng rng;
    gen_state g = {0};
    hvf_fleet *f = NULL;
    uint64_t total;
    hvf_resources u;

    if (p.zones == 0)
        p.zones = 1;
    if (p.host_mem_mib == 0)
        p.host_mem_mib = 512 * 1024;
    if (p.host_cpus == 0)
        p.host_cpus = 64;
    if (p.racks_per_zone == 0 && p.hosts > 0 && p.zones <= p.hosts) {
        uint32_t per_zone = (p.hosts + p.zones - 1) / p.zones;
        p.racks_per_zone = (per_zone + GEN_HOSTS_PER_RACK - 1) / GEN_HOSTS_PER_RACK;
    }
    if (gen_check(&p, err) < 0)
        return NULL;
    hvf_rng_seed(&rng, p.seed);
    f = hvf_fleet_new();
    gen_hosts(&rng, &p, f);
    total = (uint64_t)p.hosts * p.vms_per_host;
    g.p = &p;
    g.rng = &rng;
    g.f = f;
    g.sizes = hvf_malloc(total + 1);
    g.service = hvf_malloc(total + 1);
    memset(g.service, -1, total + 1);
    g.replica = hvf_calloc(total + 1, sizeof(uint16_t));
    g.perm = hvf_malloc(f->nhosts * sizeof(uint32_t));
    g.mark = hvf_calloc(f->nhosts + f->nracks + f->nzones, sizeof(int32_t));
    g.critical = hvf_calloc(f->nhosts, 1);
    for (uint32_t h = 0; h < p.hosts; h++)
        g.perm[h] = h;
    u = hvf_host_usable(&f->hosts[0]);
    for (uint32_t h = 0; h < p.hosts; h++)
        gen_host_sizes(&rng, p.vms_per_host, u.mem_mib, u.vcpus,
                       g.sizes + (uint64_t)h * p.vms_per_host);
    if (p.vms_per_host > 0)
        gen_assign_services(&g);
    if (gen_vms(&g, err) < 0) {
        hvf_fleet_free(f);
        f = NULL;
    }
    free(g.sizes);
    free(g.service);
    free(g.replica);
    free(g.perm);
    free(g.mark);
    free(g.critical);
    return f;
}
