/* SPDX-License-Identifier: MIT */
/* hvfleet place: where a new VM would go, and why the other hosts were rejected. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/placement.h"
#include "hvfleet/units.h"

typedef struct place_vm {
    char name[HVF_NAME_MAX + 1];
    uint32_t vcpus;
    uint64_t mem_mib;
    char service[HVF_NAME_MAX + 1];
} place_vm;

static void
place_usage(FILE *out)
{
    fprintf(
        out,
        "usage: hvfleet place --inventory FILE --vm-spec NAME:VCPUS:MEMORY[:SERVICE]\n"
        "       hvfleet place --inventory FILE --vcpus N --memory SIZE [--service S] [--name N]\n"
        "                     [--policy FILE] [--json]\n"
        "Answers where a new VM would go (filters, then weighers; see docs/planning.md),\n"
        "how many hosts each filter rejected, and the rejected hosts that came closest\n"
        "(failed the latest filter, then had the most memory) with their reason.\n"
        "Exit status 1 when it fits nowhere.\n");
}

static int
place_parse_vcpus(const char *s, uint32_t *out)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);

    if (!*s || *end || v < 1 || v > 4096 || *s == '-') {
        fprintf(stderr, "hvfleet: place: vcpus '%s': expected a whole number from 1 to 4096\n", s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int
place_parse_memory(const char *s, uint64_t *out)
{
    hvf_error err = HVF_ERROR_INIT;
    uint64_t bytes = 0;

    if (hvf_units_parse_size(s, HVF_MIB, &bytes, &err) < 0 || bytes == 0) {
        fprintf(stderr, "hvfleet: place: memory '%s': expected a size such as 8GiB or 4096 (MiB)\n",
                s);
        return -1;
    }
    *out = bytes / HVF_MIB + (bytes % HVF_MIB ? 1 : 0);
    return 0;
}

static int
place_set_name(char *dst, const char *s, const char *what)
{
    if (!hvf_name_is_valid(s)) {
        fprintf(stderr, "hvfleet: place: %s '%s': expected 1-63 characters of A-Z a-z 0-9 . _ -\n",
                what, s);
        return -1;
    }
    hvf_strlcpy(dst, s, HVF_NAME_MAX + 1);
    return 0;
}

/* NAME:VCPUS:MEMORY[:SERVICE] */
static int
place_parse_spec(const char *spec, place_vm *vm)
{
    HVF_AUTOFREE char *copy = hvf_strdup(spec);
    char *parts[5] = {0};
    int n = 0;

    for (char *p = copy, *colon; n < 5; p = colon + 1) {
        parts[n++] = p;
        colon = strchr(p, ':');
        if (!colon)
            break;
        *colon = '\0';
    }
    if (n < 3 || n > 4) {
        fprintf(stderr, "hvfleet: place: --vm-spec '%s': expected NAME:VCPUS:MEMORY[:SERVICE]\n",
                spec);
        return -1;
    }
    if (place_set_name(vm->name, parts[0], "VM name") < 0 ||
        place_parse_vcpus(parts[1], &vm->vcpus) < 0 ||
        place_parse_memory(parts[2], &vm->mem_mib) < 0 ||
        (n == 4 && place_set_name(vm->service, parts[3], "service") < 0))
        return -1;
    return 0;
}

/* How many rejected hosts `place` names, the ones that came closest to being chosen. */
#define PLACE_NEAR_MAX 5

typedef struct place_near {
    int32_t host;
    int reject;          /* hvf_place_reject: the first filter the host failed */
    uint64_t avail_mib; /* memory it could still take, above headroom */
} place_near;

/*
 * The rejected hosts that came closest: a host failing a later filter passed more of them
 * (filters run in hvf_place_reject order), then the one with the most memory available, then
 * the lowest index (deterministic). Returns how many are in @out (at most PLACE_NEAR_MAX).
 */
static size_t
place_near_misses(const hvf_fleet *f, const hvf_placer *p, const hvf_place_request *req,
                  place_near *out)
{
    size_t n = 0;

    for (size_t h = 0; h < f->nhosts; h++) {
        int r = hvf_placer_check(p, req, (int32_t)h);
        place_near c = {(int32_t)h, r, r >= 0 ? hvf_placer_avail_mib(p, (int32_t)h) : 0};
        size_t at;
        if (r < 0)
            continue; /* passed every filter: a candidate, not rejected */
        for (at = n; at > 0; at--) {
            const place_near *o = &out[at - 1];
            if (o->reject > c.reject || (o->reject == c.reject && o->avail_mib >= c.avail_mib))
                break;
        }
        if (at >= PLACE_NEAR_MAX)
            continue;
        if (n < PLACE_NEAR_MAX)
            n++;
        memmove(&out[at + 1], &out[at], (n - 1 - at) * sizeof(place_near));
        out[at] = c;
    }
    return n;
}

/* Why @c was rejected, in one clause with the figures that decided it. */
static const char *
place_near_why(const hvf_fleet *f, const place_near *c, const place_vm *vm, char *buf,
               size_t size)
{
    const hvf_host *h = &f->hosts[c->host];
    int32_t svc = vm->service[0] ? hvf_fleet_find_service(f, vm->service) : -1;
    char a[32], b[32];

    if (c->reject == HVF_PLACE_REJECT_STATE && h->state != HVF_HOST_STATE_ACTIVE)
        snprintf(buf, size, "host state %s", hvf_host_state_to_string(h->state));
    else if (c->reject == HVF_PLACE_REJECT_SPREAD && svc >= 0)
        snprintf(buf, size, "another replica of '%s' on this %s", vm->service,
                 hvf_spread_to_string(f->services[svc].spread));
    else if (c->reject == HVF_PLACE_REJECT_MEMORY)
        snprintf(buf, size, "%s available above headroom, %s needed",
                 hvf_units_format_size(c->avail_mib * HVF_MIB, a, sizeof(a)),
                 hvf_units_format_size(vm->mem_mib * HVF_MIB, b, sizeof(b)));
    else
        snprintf(buf, size, "%s", hvf_place_reject_describe((hvf_place_reject)c->reject));
    return buf;
}

static void
place_print_text(const hvf_fleet *f, const place_vm *vm, const hvf_placer *p,
                 const hvf_place_result *res, const place_near *near, size_t nnear)
{
    char mem[32], left[32];

    printf("%s (%u vCPUs, %s%s%s): ", vm->name, vm->vcpus,
           hvf_units_format_size(vm->mem_mib * HVF_MIB, mem, sizeof(mem)),
           vm->service[0] ? ", service " : "", vm->service);
    if (res->host >= 0) {
        const hvf_host *h = &f->hosts[res->host];
        printf("%s (zone %s, rack %s), %s left above headroom\n", h->name, f->zones[h->zone].name,
               f->racks[h->rack].name,
               hvf_units_format_size((hvf_placer_avail_mib(p, res->host) - vm->mem_mib) * HVF_MIB,
                                     left, sizeof(left)));
    } else {
        printf("fits nowhere\n");
    }
    printf("%u host%s examined: %u candidate%s, %u rejected\n", res->examined,
           HVF_CLI_S(res->examined), res->candidates, res->candidates == 1 ? "" : "s",
           res->examined - res->candidates);
    for (int r = 0; r < HVF_PLACE_REJECT_LAST; r++) {
        if (res->rejected[r])
            printf("  %6u  %-7s %s\n", res->rejected[r],
                   hvf_place_reject_to_string((hvf_place_reject)r),
                   hvf_place_reject_describe((hvf_place_reject)r));
    }
    if (nnear)
        printf("closest rejected host%s:\n", nnear == 1 ? "" : "s");
    for (size_t i = 0; i < nnear; i++) {
        const hvf_host *h = &f->hosts[near[i].host];
        char loc[2 * HVF_NAME_MAX + 16], why[160];
        snprintf(loc, sizeof(loc), "(%s/%s)", f->zones[h->zone].name, f->racks[h->rack].name);
        printf("  %-12s %-16s %-7s %s\n", h->name, loc,
               hvf_place_reject_to_string((hvf_place_reject)near[i].reject),
               place_near_why(f, &near[i], vm, why, sizeof(why)));
    }
}

static void
place_print_json(const hvf_fleet *f, const place_vm *vm, const hvf_place_result *res,
                 const place_near *near, size_t nnear)
{
    json_t *root = json_object();
    json_t *jvm = json_pack("{s:s, s:i, s:I}", "name", vm->name, "vcpus", (int)vm->vcpus,
                            "memory_mib", (json_int_t)vm->mem_mib);
    json_t *rej = json_object();

    json_object_set_new(jvm, "service", vm->service[0] ? json_string(vm->service) : json_null());
    for (int r = 0; r < HVF_PLACE_REJECT_LAST; r++)
        json_object_set_new(rej, hvf_place_reject_to_string((hvf_place_reject)r),
                            json_integer(res->rejected[r]));
    json_object_set_new(root, "schema", json_string("hvfleet.placement/v1"));
    json_object_set_new(root, "vm", jvm);
    if (res->host >= 0) {
        const hvf_host *h = &f->hosts[res->host];
        json_object_set_new(root, "host", json_string(h->name));
        json_object_set_new(root, "zone", json_string(f->zones[h->zone].name));
        json_object_set_new(root, "rack", json_string(f->racks[h->rack].name));
    } else {
        json_object_set_new(root, "host", json_null());
    }
    json_object_set_new(root, "examined", json_integer(res->examined));
    json_object_set_new(root, "candidates", json_integer(res->candidates));
    json_object_set_new(root, "rejected", rej);
    {
        json_t *jn = json_array();
        for (size_t i = 0; i < nnear; i++) {
            const hvf_host *h = &f->hosts[near[i].host];
            char why[160];
            json_array_append_new(
                jn, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "host", h->name, "zone",
                              f->zones[h->zone].name, "rack", f->racks[h->rack].name, "reason",
                              hvf_place_reject_to_string((hvf_place_reject)near[i].reject),
                              "detail", place_near_why(f, &near[i], vm, why, sizeof(why)),
                              "available_mib", (json_int_t)near[i].avail_mib));
        }
        json_object_set_new(root, "closest_rejected", jn);
    }
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
}

int
hvf_cli_place(int argc, char **argv)
{
    static const struct option opts[] = {{"inventory", required_argument, NULL, 'i'},
                                         {"vm-spec", required_argument, NULL, 's'},
                                         {"vcpus", required_argument, NULL, 'c'},
                                         {"memory", required_argument, NULL, 'm'},
                                         {"service", required_argument, NULL, 'S'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    place_vm vm = {.name = "new-vm"};
    const char *inventory = NULL, *policy_path = NULL;
    bool json = false, have_spec = false, have_parts = false;
    hvf_policy policy;
    hvf_place_request req = {.source = -1, .service = -1, .explain = true};
    hvf_place_result res;
    hvf_placer *placer;
    hvf_fleet *f;
    place_near near[PLACE_NEAR_MAX];
    size_t nnear;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inventory = optarg;
            break;
        case 's':
            if (place_parse_spec(optarg, &vm) < 0)
                return 2;
            have_spec = true;
            break;
        case 'c':
            if (place_parse_vcpus(optarg, &vm.vcpus) < 0)
                return 2;
            have_parts = true;
            break;
        case 'm':
            if (place_parse_memory(optarg, &vm.mem_mib) < 0)
                return 2;
            have_parts = true;
            break;
        case 'S':
            if (place_set_name(vm.service, optarg, "service") < 0)
                return 2;
            break;
        case 'n':
            if (place_set_name(vm.name, optarg, "VM name") < 0)
                return 2;
            break;
        case 'p':
            policy_path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            place_usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: place: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: place: unknown option '%s'; see hvfleet place --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hvfleet: place: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!inventory) {
        fprintf(stderr, "hvfleet: place: --inventory FILE is required\n");
        return 2;
    }
    if (have_spec == have_parts || (have_parts && (!vm.vcpus || !vm.mem_mib))) {
        fprintf(stderr, "hvfleet: place: give either --vm-spec NAME:VCPUS:MEMORY[:SERVICE] or "
                        "both --vcpus and --memory\n");
        return 2;
    }
    if ((rc = hvf_cli_load_policy(policy_path, &policy)) != 0)
        return rc;
    if (!(f = hvf_cli_load_fleet(inventory, &rc)))
        return rc;
    if (vm.service[0] && (req.service = hvf_fleet_find_service(f, vm.service)) < 0) {
        fprintf(stderr, "hvfleet: place: service '%s' is not in '%s'\n", vm.service, inventory);
        hvf_fleet_free(f);
        return 2;
    }
    req.need.mem_mib = vm.mem_mib;
    req.need.vcpus = vm.vcpus;
    placer = hvf_placer_new(f, &policy);
    hvf_placer_choose(placer, &req, &res);
    nnear = place_near_misses(f, placer, &req, near);
    if (json)
        place_print_json(f, &vm, &res, near, nnear);
    else
        place_print_text(f, &vm, placer, &res, near, nnear);
    hvf_placer_free(placer);
    hvf_fleet_free(f);
    return res.host >= 0 ? 0 : 1;
}
