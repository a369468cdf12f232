/* SPDX-License-Identifier: MIT */
/* hvfleet inventory generate: a synthetic, reproducible fleet for demos, tests and benchmarks. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/units.h"

static void
gen_usage(void)
{
    printf(
        "usage: hvfleet inventory generate --hosts N --vms-per-host K [--seed S]\n"
        "         [--zones Z] [--racks-per-zone R] [--host-memory SIZE] [--host-cpus C]\n"
        "         [--format yaml|ganeti] [-o OUT] [--json]\n"
        "Writes a synthetic fleet: hosts spread over zones and racks (gen2/gen3 hardware,\n"
        "kernels 5.10/6.1), K VMs per host of 1-64 GiB packed to 50-75 %% of memory, mostly\n"
        "idle with ~7.5 %% busy and ~2 %% not live-migratable, and replicated services\n"
        "(monitoring, ticketing, db, web). The same flags always give the same bytes.\n"
        "  --hosts N            number of hosts (1-%u)\n"
        "  --vms-per-host K     VMs on each host (0 or more; must fit at 1 GiB and 1 vCPU each)\n"
        "  --seed S             random seed, 0-18446744073709551615 (default 1)\n"
        "  --zones Z            zones (default 1)\n"
        "  --racks-per-zone R   racks per zone (default: about 20 hosts per rack)\n"
        "  --host-memory SIZE   memory per host (default 512GiB)\n"
        "  --host-cpus C        physical CPUs per host (default 64)\n"
        "  --format F           yaml (an hvfleet inventory, default) or ganeti (htools text)\n"
        "  -o, --output OUT     write to OUT atomically instead of standard output\n"
        "      --json           print a summary as JSON on stdout (needs -o)\n",
        HVF_GENERATE_MAX_HOSTS);
}

/* Digits only, no sign, no overflow past @max; else one line naming the flag. */
static int
gen_parse_u64(const char *flag, const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s)
        goto bad;
    for (const char *p = s; *p; p++) {
        unsigned d = (unsigned char)*p - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            goto bad;
        v = v * 10 + d;
    }
    if (v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr,
            "hvfleet: inventory generate: %s '%s': expected a whole number from 0 to "
            "%" PRIu64 "\n",
            flag, s, max);
    return -1;
}

typedef struct gen_summary {
    size_t busy, unmigratable, replicas;
    double min_used, max_used, mem_used_mib, mem_usable_mib;
} gen_summary;

static void
gen_summarize(const hvf_fleet *f, gen_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->min_used = f->nhosts ? 1.0 : 0.0;
    for (size_t i = 0; i < f->nvms; i++) {
        s->busy += f->vms[i].dirty_bytes_per_s >= 50.0 * 1048576;
        s->unmigratable += !f->vms[i].migratable;
        s->replicas += f->vms[i].service >= 0;
    }
    for (size_t i = 0; i < f->nhosts; i++) {
        hvf_resources u = hvf_host_usable(&f->hosts[i]);
        double share = (double)f->hosts[i].used.mem_mib / (double)u.mem_mib;
        s->min_used = share < s->min_used ? share : s->min_used;
        s->max_used = share > s->max_used ? share : s->max_used;
        s->mem_used_mib += (double)f->hosts[i].used.mem_mib;
        s->mem_usable_mib += (double)u.mem_mib;
    }
}

static void
gen_print_summary(const hvf_fleet *f, const hvf_generate_params *p, const char *out, bool json)
{
    gen_summary s;

    gen_summarize(f, &s);
    if (json) {
        json_t *root = json_pack(
            "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}", "schema",
            "hvfleet.generate-summary/v1", "output", out, "seed", (json_int_t)p->seed, "zones",
            (json_int_t)f->nzones, "racks", (json_int_t)f->nracks, "hosts", (json_int_t)f->nhosts,
            "vms", (json_int_t)f->nvms, "services", (json_int_t)f->nservices, "service_vms",
            (json_int_t)s.replicas, "busy_vms", (json_int_t)s.busy, "unmigratable_vms",
            (json_int_t)s.unmigratable, "memory_used_share",
            s.mem_usable_mib > 0 ? s.mem_used_mib / s.mem_usable_mib : 0.0,
            "host_memory_used_share_min", s.min_used, "host_memory_used_share_max", s.max_used);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(root);
        return;
    }
    fprintf(stderr,
            "generated %zu host%s in %zu zone%s and %zu rack%s, %zu VM%s (%zu busy, %zu not "
            "live-migratable), %zu service%s; memory %.1f %% used (hosts %.1f-%.1f %%), seed "
            "%" PRIu64 "\n",
            f->nhosts, HVF_CLI_S(f->nhosts), f->nzones, HVF_CLI_S(f->nzones), f->nracks,
            HVF_CLI_S(f->nracks), f->nvms, HVF_CLI_S(f->nvms), s.busy, s.unmigratable,
            f->nservices, HVF_CLI_S(f->nservices),
            s.mem_usable_mib > 0 ? 100.0 * s.mem_used_mib / s.mem_usable_mib : 0.0,
            100.0 * s.min_used, 100.0 * s.max_used, p->seed);
}

int
hvf_cli_inventory_generate(int argc, char **argv)
{
    enum { O_HOSTS = 256, O_VMS, O_SEED, O_ZONES, O_RACKS, O_MEM, O_CPUS, O_FORMAT, O_JSON };
    static const struct option opts[] = {{"hosts", required_argument, NULL, O_HOSTS},
                                         {"vms-per-host", required_argument, NULL, O_VMS},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"zones", required_argument, NULL, O_ZONES},
                                         {"racks-per-zone", required_argument, NULL, O_RACKS},
                                         {"host-memory", required_argument, NULL, O_MEM},
                                         {"host-cpus", required_argument, NULL, O_CPUS},
                                         {"format", required_argument, NULL, O_FORMAT},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    hvf_generate_params p;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    const char *out = NULL;
    bool json = false, ganeti = false, have_hosts = false, have_vms = false;
    uint64_t v = 0, bytes = 0;
    hvf_fleet *f;
    int c, rc = 0;

    hvf_generate_params_init(&p);
    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "";
        char name[40] = "";

        if (c >= O_HOSTS && c <= O_FORMAT)
            snprintf(name, sizeof(name), "--%s", opts[c - O_HOSTS].name);
        switch (c) {
        case O_HOSTS:
        case O_VMS:
        case O_ZONES:
        case O_RACKS:
        case O_CPUS:
            if (gen_parse_u64(name, optarg, UINT32_MAX, &v) < 0)
                return 2;
            if (c == O_HOSTS) {
                p.hosts = (uint32_t)v;
                have_hosts = true;
            } else if (c == O_VMS) {
                p.vms_per_host = (uint32_t)v;
                have_vms = true;
            } else if (v == 0) {
                fprintf(stderr, "hvfleet: inventory generate: %s '0': expected 1 or more\n", name);
                return 2;
            } else if (c == O_ZONES) {
                p.zones = (uint32_t)v;
            } else if (c == O_RACKS) {
                p.racks_per_zone = (uint32_t)v;
            } else {
                p.host_cpus = (uint32_t)v;
            }
            break;
        case O_SEED:
            if (gen_parse_u64("--seed", optarg, UINT64_MAX, &p.seed) < 0)
                return 2;
            break;
        case O_MEM:
            if (hvf_units_parse_size(optarg, HVF_MIB, &bytes, &err) < 0) {
                fprintf(stderr, "hvfleet: inventory generate: --host-memory: %s\n", err.msg);
                return 2;
            }
            p.host_mem_mib = bytes / HVF_MIB;
            if (p.host_mem_mib == 0) {
                fprintf(stderr,
                        "hvfleet: inventory generate: --host-memory '%s': expected at "
                        "least 2GiB\n",
                        optarg);
                return 2;
            }
            break;
        case O_FORMAT:
            if (strcmp(optarg, "ganeti") != 0 && strcmp(optarg, "yaml") != 0) {
                fprintf(stderr,
                        "hvfleet: inventory generate: --format '%s': expected yaml or "
                        "ganeti\n",
                        optarg);
                return 2;
            }
            ganeti = strcmp(optarg, "ganeti") == 0;
            break;
        case 'o':
            out = optarg;
            break;
        case O_JSON:
            json = true;
            break;
        case 'h':
            gen_usage();
            return 0;
        default:
            fprintf(stderr,
                    "hvfleet: inventory generate: unknown or incomplete option '%s'; see "
                    "--help\n",
                    flag);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hvfleet: inventory generate: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    if (!have_hosts || !have_vms) {
        fprintf(stderr, "hvfleet: inventory generate: expected --hosts N and --vms-per-host K\n");
        return 2;
    }
    if (json && !out) {
        fprintf(stderr, "hvfleet: inventory generate: --json prints a summary on stdout, so it "
                        "needs -o OUT for the fleet\n");
        return 2;
    }
    f = hvf_generate_fleet(&p, &err);
    if (!f) {
        hvf_error_prefix(&err, "inventory generate: ");
        return hvf_cli_fail(&err);
    }
    if (ganeti) {
        hvf_ganeti_format(f, &sb);
        rc = hvf_file_write_atomic(out ? out : "-", sb.buf, sb.len, &err);
        hvf_strbuf_clear(&sb);
    } else {
        rc = hvf_inventory_save(f, out ? out : "-", &err);
    }
    if (rc < 0)
        rc = hvf_cli_fail(&err);
    else
        gen_print_summary(f, &p, out ? out : "-", json);
    hvf_fleet_free(f);
    return rc;
}
