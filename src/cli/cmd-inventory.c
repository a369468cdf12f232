/* SPDX-License-Identifier: MIT */
/* hvfleet inventory check|import|generate */
#include <getopt.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/units.h"

typedef struct inv_totals {
    size_t hosts, vms;
    uint64_t mem_usable_mib, mem_used_mib;
    uint64_t vcpus_usable, vcpus_used;
} inv_totals;

static void
inv_totals_add(inv_totals *t, const hvf_host *h, size_t nvms)
{
    hvf_resources u = hvf_host_usable(h);

    t->hosts++;
    t->vms += nvms;
    t->mem_usable_mib += u.mem_mib;
    t->mem_used_mib += h->used.mem_mib;
    t->vcpus_usable += u.vcpus;
    t->vcpus_used += h->used.vcpus;
}

static json_t *
inv_totals_json(const inv_totals *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "hosts", (json_int_t)t->hosts, "vms",
                     (json_int_t)t->vms, "memory_usable_mib", (json_int_t)t->mem_usable_mib,
                     "memory_used_mib", (json_int_t)t->mem_used_mib, "vcpus_usable",
                     (json_int_t)t->vcpus_usable, "vcpus_used", (json_int_t)t->vcpus_used);
}

static void
inv_totals_print(const char *label, const inv_totals *t)
{
    char used[32], cap[32];
    double pct = t->mem_usable_mib ? 100.0 * (double)t->mem_used_mib / (double)t->mem_usable_mib
                                   : 0;

    printf("  %-22s %6zu %8zu  %10s / %-10s %5.1f%%  %7" PRIu64 " / %-7" PRIu64 "\n", label,
           t->hosts, t->vms, hvf_units_format_size(t->mem_used_mib * HVF_MIB, used, sizeof(used)),
           hvf_units_format_size(t->mem_usable_mib * HVF_MIB, cap, sizeof(cap)), pct, t->vcpus_used,
           t->vcpus_usable);
}

static int
inv_summary(const hvf_fleet *f, bool json)
{
    HVF_AUTOFREE inv_totals *zones = hvf_calloc(f->nzones, sizeof(inv_totals));
    HVF_AUTOFREE inv_totals *racks = hvf_calloc(f->nracks, sizeof(inv_totals));
    HVF_AUTOFREE size_t *vms_on = hvf_calloc(f->nhosts, sizeof(size_t));
    inv_totals all = {0};

    for (size_t i = 0; i < f->nvms; i++)
        vms_on[f->vms[i].host]++;
    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        inv_totals_add(&all, h, vms_on[i]);
        inv_totals_add(&zones[h->zone], h, vms_on[i]);
        inv_totals_add(&racks[h->rack], h, vms_on[i]);
    }
    if (json) {
        json_t *root = inv_totals_json(&all);
        json_t *jz = json_array();
        json_t *jr = json_array();
        for (size_t z = 0; z < f->nzones; z++) {
            json_t *o = inv_totals_json(&zones[z]);
            json_object_set_new(o, "zone", json_string(f->zones[z].name));
            json_array_append_new(jz, o);
        }
        for (size_t r = 0; r < f->nracks; r++) {
            json_t *o = inv_totals_json(&racks[r]);
            json_object_set_new(o, "zone", json_string(f->zones[f->racks[r].zone].name));
            json_object_set_new(o, "rack", json_string(f->racks[r].name));
            json_array_append_new(jr, o);
        }
        json_object_set_new(root, "schema", json_string("hvfleet.inventory-summary/v1"));
        json_object_set_new(root, "valid", json_true());
        json_object_set_new(root, "services", json_integer((json_int_t)f->nservices));
        json_object_set_new(root, "zones", jz);
        json_object_set_new(root, "racks", jr);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(root);
        return 0;
    }
    printf("inventory is valid: %zu host%s, %zu VM%s, %zu service%s\n\n", f->nhosts,
           HVF_CLI_S(f->nhosts), f->nvms, HVF_CLI_S(f->nvms), f->nservices,
           HVF_CLI_S(f->nservices));
    printf("  %-22s %6s %8s  %-23s %6s  %-15s\n", "", "hosts", "VMs", "memory used / usable", "",
           "vCPUs used / usable");
    inv_totals_print("fleet", &all);
    for (size_t z = 0; z < f->nzones; z++) {
        char label[80];
        snprintf(label, sizeof(label), "zone %s", f->zones[z].name);
        inv_totals_print(label, &zones[z]);
        for (size_t r = 0; r < f->nracks; r++) {
            if (f->racks[r].zone != (int32_t)z)
                continue;
            snprintf(label, sizeof(label), "  rack %s", f->racks[r].name);
            inv_totals_print(label, &racks[r]);
        }
    }
    return 0;
}

static int
inv_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    int c, rc;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            printf("usage: hvfleet inventory check FILE [--json]\n"
                   "Validates an inventory (YAML or JSON) and summarizes it per zone and rack.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: inventory check: expected one FILE, got %d arguments\n",
                argc - optind);
        return 2;
    }
    hvf_diags_init(&diags);
    f = hvf_inventory_load(argv[optind], &diags, &err);
    if (!f) {
        hvf_diags_print(&diags, stderr);
        if (json) {
            json_t *root = json_pack("{s:s, s:b, s:s}", "schema", "hvfleet.inventory-summary/v1",
                                     "valid", 0, "error", err.msg);
            json_t *lines = json_array();
            for (size_t i = 0; i < diags.n; i++)
                json_array_append_new(lines, json_string(diags.lines[i]));
            json_object_set_new(root, "problems", lines);
            json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("\n");
            json_decref(root);
        }
        hvf_diags_clear(&diags);
        return hvf_cli_fail(&err);
    }
    rc = inv_summary(f, json);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    return rc;
}

int
hvf_cli_inventory(int argc, char **argv)
{
    static const hvf_cli_command subs[] = {
        {"check", "validate an inventory and summarize it", inv_check},
        {"import", "convert another tool's cluster file (ganeti)", hvf_cli_inventory_import},
        {"generate", "write a synthetic fleet", hvf_cli_inventory_generate},
        {"export", "write an inventory for another tool (ganeti)", hvf_cli_inventory_export},
        {"discover", "write an inventory from the hosts' libvirt daemons", hvf_cli_inventory_discover},
    };

    if (hvf_cli_subcommands_wanted(argc, argv, subs, HVF_ARRAY_LEN(subs)))
        return 0;
    if (argc >= 2) {
        for (size_t i = 0; i < HVF_ARRAY_LEN(subs); i++) {
            if (strcmp(argv[1], subs[i].name) == 0)
                return subs[i].run(argc - 1, argv + 1);
        }
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: hvfleet inventory SUBCOMMAND\n");
        for (size_t i = 0; i < HVF_ARRAY_LEN(subs); i++)
            printf("  %-10s %s\n", subs[i].name, subs[i].summary);
        return 0;
    }
    fprintf(stderr, "hvfleet: inventory: expected check, import, generate, export or discover%s%s%s\n",
            argc >= 2 ? ", got '" : "", argc >= 2 ? argv[1] : "", argc >= 2 ? "'" : "");
    return 2;
}
