/* SPDX-License-Identifier: MIT */
/* hvfleet inventory import|export ganeti: between hvfleet inventories and htools text data. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/inventory.h"

static void
import_usage(void)
{
    printf("usage: hvfleet inventory import ganeti FILE [-o OUT] [--json]\n"
           "Converts a Ganeti htools text file (what hbal/hroller/hspace/hinfo -t read) into an\n"
           "hvfleet inventory: node groups become zones, nodes hosts, instances VMs on their\n"
           "primary node, exclusion tags services. Writes YAML to OUT (atomically) or stdout.\n"
           "  -o, --output OUT   write the inventory to OUT instead of standard output\n"
           "      --json         print the import summary as JSON on stdout (needs -o)\n"
           "Exit status: 0 imported, 2 bad input (one line per problem: FILE:LINE: ...).\n");
}

static void
import_summary_text(const char *file, const hvf_fleet *f, const hvf_ganeti_stats *st)
{
    fprintf(stderr,
            "imported '%s': %zu host%s (%zu down, %zu in maintenance) in %zu zone%s, %zu VM%s "
            "(%zu stopped, %zu not live-migratable), %zu service%s\n",
            file, f->nhosts, HVF_CLI_S(f->nhosts), st->offline_nodes, st->drained_nodes,
            f->nzones, HVF_CLI_S(f->nzones), f->nvms, HVF_CLI_S(f->nvms), st->stopped_instances,
            st->unmigratable, f->nservices, HVF_CLI_S(f->nservices));
    if (st->drbd_instances)
        fprintf(stderr, "note: %zu DRBD instance%s: each live-migrates only to its secondary node\n",
                st->drbd_instances, HVF_CLI_S(st->drbd_instances));
    for (size_t i = 0; i < st->notes.n; i++)
        fprintf(stderr, "note: %s\n", st->notes.lines[i]);
    if (st->notes.total > st->notes.n)
        fprintf(stderr, "note: ... and %zu more\n", st->notes.total - st->notes.n);
}

static void
import_summary_json(const char *file, const char *out, const hvf_fleet *f,
                    const hvf_ganeti_stats *st)
{
    json_t *notes = json_array();
    json_t *root;

    for (size_t i = 0; i < st->notes.n; i++)
        json_array_append_new(notes, json_string(st->notes.lines[i]));
    root = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:o}",
        "schema", "hvfleet.import-summary/v1", "format", "ganeti", "input", file, "output", out,
        "groups", (json_int_t)st->groups, "zones", (json_int_t)f->nzones, "hosts",
        (json_int_t)f->nhosts, "hosts_down", (json_int_t)st->offline_nodes, "hosts_maintenance",
        (json_int_t)st->drained_nodes, "vms", (json_int_t)f->nvms, "vms_stopped",
        (json_int_t)st->stopped_instances, "vms_unmigratable", (json_int_t)st->unmigratable,
        "drbd_instances", (json_int_t)st->drbd_instances, "services", (json_int_t)f->nservices,
        "ratios_raised", (json_int_t)st->raised_ratios, "notes", notes);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(root);
}

/* Shared option parsing: FORMAT FILE [-o OUT] [--json]. Returns -1 to go on, else an exit code. */
static int
import_args(int argc, char **argv, const char *cmd, void (*usage)(void), const char **file,
            const char **out, bool *json)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            *out = optarg;
            break;
        case 'j':
            *json = true;
            break;
        case 'h':
            usage();
            return 0;
        default:
            fprintf(stderr,
                    "hvfleet: inventory %s: unknown or incomplete option '%s'; see --help\n", cmd,
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 2 != argc) {
        fprintf(stderr,
                "hvfleet: inventory %s: expected FORMAT and FILE (e.g. 'ganeti "
                "cluster.data'), got %d arguments\n",
                cmd, argc - optind);
        return 2;
    }
    if (strcmp(argv[optind], "ganeti") != 0) {
        fprintf(stderr, "hvfleet: inventory %s: format '%s': expected ganeti\n", cmd, argv[optind]);
        return 2;
    }
    if (*json && !*out) {
        fprintf(stderr,
                "hvfleet: inventory %s: --json prints a summary on stdout, so it needs "
                "-o OUT for the data\n",
                cmd);
        return 2;
    }
    *file = argv[optind + 1];
    return -1;
}

int
hvf_cli_inventory_import(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    bool json = false;
    hvf_ganeti_stats stats = {0};
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    int rc = import_args(argc, argv, "import", import_usage, &file, &out, &json);

    if (rc >= 0)
        return rc;
    hvf_diags_init(&diags);
    f = hvf_ganeti_load(file, &stats, &diags, &err);
    if (!f) {
        hvf_diags_print(&diags, stderr);
        hvf_diags_clear(&diags);
        hvf_ganeti_stats_clear(&stats);
        return hvf_cli_fail(&err);
    }
    rc = 0;
    if (hvf_inventory_save(f, out ? out : "-", &err) < 0) {
        rc = hvf_cli_fail(&err);
    } else if (json) {
        import_summary_json(file, out, f, &stats);
    } else {
        import_summary_text(file, f, &stats);
    }
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    hvf_ganeti_stats_clear(&stats);
    return rc;
}

static void
export_usage(void)
{
    printf("usage: hvfleet inventory export ganeti INVENTORY [-o OUT]\n"
           "Writes an hvfleet inventory as Ganeti htools text data, for hbal/hroller/hspace -t.\n"
           "Zones become node groups, hosts nodes, VMs running instances (diskless, or plain when\n"
           "not migratable), services exclusion tags. Dirty rates and CPU loads are not kept.\n"
           "  -o, --output OUT   write to OUT (atomically) instead of standard output\n");
}

int
hvf_cli_inventory_export(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    bool json = false;
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_fleet *f;
    int rc = import_args(argc, argv, "export", export_usage, &file, &out, &json);

    if (rc >= 0)
        return rc;
    if (json) {
        fprintf(stderr, "hvfleet: inventory export: --json is not supported: the output is "
                        "htools text\n");
        return 2;
    }
    hvf_diags_init(&diags);
    f = hvf_inventory_load(file, &diags, &err);
    if (!f) {
        hvf_diags_print(&diags, stderr);
        hvf_diags_clear(&diags);
        return hvf_cli_fail(&err);
    }
    hvf_ganeti_format(f, &sb);
    rc = hvf_file_write_atomic(out ? out : "-", sb.buf, sb.len, &err) < 0 ? hvf_cli_fail(&err) : 0;
    hvf_strbuf_clear(&sb);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    return rc;
}
