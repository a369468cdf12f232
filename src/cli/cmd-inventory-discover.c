/* SPDX-License-Identifier: MIT */
/* hvfleet inventory discover: an inventory from the hosts' libvirt daemons (docs/libvirt.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/discover.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"

static void
discover_usage(void)
{
    printf("usage: hvfleet inventory discover --libvirt URI [URI...] [options]\n"
           "       hvfleet inventory discover --libvirt-template T --hosts H1,H2,... [options]\n"
           "Connects to each host's libvirtd and writes an inventory: hosts (CPUs, memory, the\n"
           "libvirt URI; named by their hostname, or by --hosts) and the domains they run\n"
           "(memory, vCPUs). Zones, racks, services and tags, which hosts can't tell, come\n"
           "from --merge. The result passes `hvfleet inventory check`.\n"
           "  --libvirt URI...           libvirt URIs, one a host (qemu+ssh://root@kvm01/system)\n"
           "  --libvirt-template T       a URI with {host} (qemu+ssh://root@{host}/system)\n"
           "  --hosts H1,H2,...          the hosts the template is expanded for\n"
           "  --measure-dirty-rate DUR   measure each running domain's dirty rate (1s-60s)\n"
           "  --merge FILE               keep what FILE says of hosts and VMs found again\n"
           "  -o, --output FILE          write to FILE (atomically) instead of standard output\n"
           "Exit: 0 written, 2 bad input or a host that could not be read.\n");
}

static int __attribute__((format(printf, 1, 2)))
discover_bad(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "hvfleet: inventory discover: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

typedef struct discover_args {
    const char **uris;
    size_t nuris;
    const char *tmpl, *hosts, *merge, *out;
    int64_t measure_us;
} discover_args;

static int
discover_parse(int argc, char **argv, discover_args *a)
{
    a->uris = hvf_calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            discover_usage();
            return 0;
        }
        if (strcmp(o, "--libvirt") == 0) {
            if (!v || v[0] == '-')
                return discover_bad("--libvirt: expected at least one URI");
            while (i + 1 < argc && argv[i + 1][0] != '-')
                a->uris[a->nuris++] = argv[++i];
            continue;
        }
        if (!v)
            return discover_bad("%s: expected a value, or an unknown option", o);
        if (strcmp(o, "--libvirt-template") == 0) {
            a->tmpl = v;
        } else if (strcmp(o, "--hosts") == 0) {
            a->hosts = v;
        } else if (strcmp(o, "--merge") == 0) {
            a->merge = v;
        } else if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) {
            a->out = v;
        } else if (strcmp(o, "--measure-dirty-rate") == 0) {
            hvf_error err = HVF_ERROR_INIT;

            if (hvf_units_parse_duration(v, &a->measure_us, &err) < 0 || a->measure_us < 1000000 ||
                a->measure_us > 60000000)
                return discover_bad("--measure-dirty-rate '%s': expected a duration from 1s to "
                                    "60s (libvirt measures whole seconds)",
                                    v);
        } else {
            return discover_bad("unknown option '%s' (see --help)", o);
        }
        i++;
    }
    if (!a->nuris == !a->tmpl)
        return discover_bad("expected either --libvirt URI... or --libvirt-template T with "
                            "--hosts");
    if (!a->tmpl != !a->hosts)
        return discover_bad("%s", a->tmpl ? "--libvirt-template needs --hosts H1,H2,..."
                                          : "--hosts goes with --libvirt-template");
    if (a->tmpl && !strstr(a->tmpl, "{host}"))
        return discover_bad("--libvirt-template '%s': expected {host} in it", a->tmpl);
    return -1;
}

int
hvf_cli_inventory_discover(int argc, char **argv)
{
    discover_args a = {0};
    hvf_discover_opts o = {0};
    hvf_discover_stats st;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *merge = NULL, *f = NULL;
    char **names = NULL, **expanded = NULL, *hostlist = NULL;
    size_t nnames = 0;
    int rc = discover_parse(argc, argv, &a);

    if (rc >= 0)
        goto out;
    rc = 2;
    if (a.tmpl) {
        hostlist = hvf_strdup(a.hosts);
        names = hvf_calloc(strlen(a.hosts) + 1, sizeof(char *));
        for (char *save = NULL, *t = strtok_r(hostlist, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            if (!hvf_name_is_valid(t)) {
                discover_bad("--hosts: '%s' is not a host name (1-63 characters of A-Z a-z 0-9 "
                             ". _ -)",
                             t);
                goto out;
            }
            names[nnames++] = t;
        }
        if (!nnames) {
            discover_bad("--hosts '%s': expected H1,H2,...", a.hosts);
            goto out;
        }
        expanded = hvf_calloc(nnames, sizeof(char *));
        for (size_t i = 0; i < nnames; i++) {
            const char *const kv[] = {"host", names[i], NULL};

            expanded[i] = hvf_template_expand(a.tmpl, kv);
        }
        o.uris = (const char *const *)expanded;
        o.nuris = nnames;
        o.names = (const char *const *)names;
    } else {
        o.uris = a.uris;
        o.nuris = a.nuris;
    }
    if (a.merge) {
        hvf_diags diags;

        hvf_diags_init(&diags);
        merge = hvf_inventory_load(a.merge, &diags, &err);
        if (!merge)
            hvf_diags_print(&diags, stderr);
        hvf_diags_clear(&diags);
        if (!merge) {
            rc = hvf_cli_fail(&err);
            goto out;
        }
    }
    o.merge = merge;
    o.measure_dirty_us = a.measure_us;
    if (!(f = hvf_libvirt_discover(&o, &st, &err)) ||
        hvf_inventory_save(f, a.out ? a.out : "-", &err) < 0) {
        rc = hvf_cli_fail(&err);
        goto out;
    }
    fprintf(stderr,
            "discovered %zu host%s, %zu running domain%s (%zu dirty rate%s measured)%s",
            st.hosts, st.hosts == 1 ? "" : "s", st.domains, st.domains == 1 ? "" : "s",
            st.measured, st.measured == 1 ? "" : "s", merge ? "; " : "\n");
    if (merge)
        fprintf(stderr, "from %s: %zu host%s and %zu VM%s found again, %zu VM%s running on no "
                        "discovered host kept as it says\n",
                a.merge, st.merged_hosts, st.merged_hosts == 1 ? "" : "s", st.merged_vms,
                st.merged_vms == 1 ? "" : "s", st.kept_vms, st.kept_vms == 1 ? "" : "s");
    rc = 0;
out:
    for (size_t i = 0; expanded && i < nnames; i++)
        free(expanded[i]);
    free(expanded);
    free(names);
    free(hostlist);
    free(a.uris);
    hvf_fleet_free(merge);
    hvf_fleet_free(f);
    return rc;
}
