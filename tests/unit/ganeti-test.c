/* SPDX-License-Identifier: MIT */
/* Ganeti htools text import/export: mapping, leniency htools shares, and one line per bad line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/inventory.h"
#include "hvfleet/rng.h"

#define SMALL_DATA HVF_SRCDIR "/tests/data/ganeti/small.data"

static const char *const policy_lines =
    "|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain,drbd|4.0|32.0\n";

static hvf_fleet *
parse_text(const char *text, hvf_ganeti_stats *stats, hvf_diags *diags)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_diags_init(diags);
    f = hvf_ganeti_parse_stats("t.data", text, strlen(text), stats, diags, &err);
    if (!f)
        assert_int_equal(err.code, HVF_ERR_INVALID);
    return f;
}

static const hvf_host *
host_named(const hvf_fleet *f, const char *name)
{
    int32_t i = hvf_fleet_find_host(f, name);

    assert_true(i >= 0);
    return &f->hosts[i];
}

static const hvf_vm *
vm_named(const hvf_fleet *f, const char *name)
{
    int32_t i = hvf_fleet_find_vm(f, name);

    assert_true(i >= 0);
    return &f->vms[i];
}

/* The hand-written file that hinfo -t accepts (see tests/cli/inventory-import.sh). */
static void
test_small_file(void **state)
{
    hvf_ganeti_stats st = {0};
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    const hvf_host *h;

    hvf_diags_init(&diags);
    f = hvf_ganeti_load(SMALL_DATA, &st, &diags, &err);
    if (!f)
        hvf_diags_print(&diags, stderr);
    assert_non_null(f);
    assert_int_equal(f->nzones, 3);
    assert_int_equal(f->nhosts, 4);
    assert_int_equal(f->nvms, 8);
    assert_int_equal(f->nservices, 2);
    assert_int_equal(st.groups, 3);
    assert_int_equal(st.offline_nodes, 1);
    assert_int_equal(st.drbd_instances, 2);
    assert_int_equal(st.stopped_instances, 1);
    assert_int_equal(st.unmigratable, 2);
    assert_int_equal(st.raised_ratios, 0);

    h = host_named(f, "kvm01");
    assert_int_equal(h->mem_mib, 65536);
    assert_int_equal(h->reserved_mib, 2048);
    assert_int_equal(h->cpus, 16);
    assert_string_equal(f->zones[h->zone].name, "par6");
    assert_string_equal(f->racks[h->rack].name, "r1");
    assert_int_equal(h->state, HVF_HOST_STATE_ACTIVE);
    assert_int_equal(h->ntags, 1); /* rack:r1 is structure, nvme a plain tag */
    assert_string_equal(h->tags[0], "nvme");
    assert_int_equal(h->used.mem_mib, 4096 + 16384);
    h = host_named(f, "kvm03");
    assert_true(h->cpu_allocation_ratio == 2.0); /* par7's ipolicy vcpu_ratio */
    assert_string_equal(h->kernel, "6.1");
    assert_int_equal(h->ntags, 0);
    h = host_named(f, "kvm04");
    assert_int_equal(h->state, HVF_HOST_STATE_DOWN);
    assert_string_equal(f->racks[h->rack].name, "default");
    assert_string_equal(f->zones[h->zone].name, "lab");

    assert_false(vm_named(f, "db1")->migratable);       /* plain */
    assert_false(vm_named(f, "old1")->migratable);      /* file */
    assert_true(vm_named(f, "web1")->migratable);       /* drbd */
    /* drbd: the secondary node is the one host a migration can take it to */
    assert_true(vm_named(f, "web1")->has_secondary);
    assert_int_equal(vm_named(f, "web1")->secondary, hvf_fleet_find_host(f, "kvm02"));
    assert_int_equal(vm_named(f, "web2")->secondary, hvf_fleet_find_host(f, "kvm01"));
    assert_false(vm_named(f, "mon1")->has_secondary); /* rbd: shared storage, any node */
    assert_false(vm_named(f, "db1")->has_secondary);
    assert_true(vm_named(f, "tick1")->cpu_load == 0.0); /* ADMIN_down */
    assert_int_equal(vm_named(f, "web2")->host, hvf_fleet_find_host(f, "kvm02"));
    assert_string_equal(f->services[vm_named(f, "mon2")->service].name, "monitoring");
    assert_int_equal(vm_named(f, "build1")->service, -1);
    assert_int_equal(hvf_fleet_check(f, false, &err), 0);

    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    hvf_ganeti_stats_clear(&st);
}

/* What the importer writes must pass the inventory reader's own validation. */
static void
test_output_is_valid_inventory(void **state)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_fleet *f, *g;

    hvf_diags_init(&diags);
    f = hvf_ganeti_load(SMALL_DATA, NULL, &diags, &err);
    assert_non_null(f);
    hvf_inventory_format(f, &sb);
    g = hvf_inventory_parse("out.yaml", sb.buf, sb.len, &diags, &err);
    if (!g)
        hvf_diags_print(&diags, stderr);
    assert_non_null(g);
    assert_int_equal(g->nvms, f->nvms);
    hvf_fleet_free(g);
    hvf_fleet_free(f);
    hvf_strbuf_clear(&sb);
    hvf_diags_clear(&diags);
}

static hvf_fleet *
sample_fleet(void)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    char *tags[] = {"ssd", "odd,tag|x"};
    hvf_host h = {.cpus = 32,
                  .mem_mib = 262144,
                  .reserved_mib = 4096,
                  .cpu_allocation_ratio = 3.0,
                  .ram_allocation_ratio = 1.5,
                  .nic_bytes_per_s = 1.25e9};
    hvf_service mon = {
        .name = "monitoring", .critical = true, .min_available = 2, .spread = HVF_SPREAD_RACK};
    hvf_service db = {.name = "db", .min_available = 1, .spread = HVF_SPREAD_HOST};
    hvf_vm v = {.vcpus = 4, .mem_mib = 8192, .cpu_load = 0.2, .migratable = true};

    assert_int_equal(hvf_fleet_add_service(f, &mon, &err), 0);
    assert_int_equal(hvf_fleet_add_service(f, &db, &err), 1);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "hv%d", i);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, i < 4 ? "east" : "west");
        h.rack = hvf_fleet_rack_ensure(f, h.zone, i % 2 ? "r2" : "r1");
        h.kernel = i % 2 ? "6.1.0-18" : "5.10.0";
        h.hw = i < 3 ? "gen3" : NULL;
        h.tags = i == 0 ? tags : NULL;
        h.ntags = i == 0 ? 2 : 0;
        h.state = i == 5   ? HVF_HOST_STATE_MAINTENANCE
                  : i == 4 ? HVF_HOST_STATE_DOWN
                           : HVF_HOST_STATE_ACTIVE;
        assert_int_equal(hvf_fleet_add_host(f, &h, &err), i);
    }
    for (int i = 0; i < 12; i++) {
        char name[16];
        snprintf(name, sizeof(name), "vm%02d", i);
        v.name = name;
        v.host = i % 6;
        v.service = i < 3 ? 0 : i < 5 ? 1 : -1;
        v.migratable = i != 7;
        /* a few DRBD VMs, their disk's other copy on the next host */
        v.has_secondary = i % 4 == 1;
        v.secondary = (i + 1) % 6;
        v.working_set_mib = v.mem_mib;
        assert_true(hvf_fleet_add_vm(f, &v, 0, &err) >= 0);
    }
    return f;
}

static void
test_format_round_trip(void **state)
{
    hvf_fleet *f = sample_fleet();
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_diags diags;
    hvf_ganeti_stats st = {0};
    hvf_fleet *g;

    hvf_ganeti_format(f, &sb);
    /* The reserved separators in a tag must not leak into the format. */
    assert_non_null(
        strstr(sb.buf, "|rack:r1,hvfleet:kernel:5.10.0,hvfleet:hw:gen3,ssd,odd_tag_x|"));
    g = parse_text(sb.buf, &st, &diags);
    if (!g)
        hvf_diags_print(&diags, stderr);
    assert_non_null(g);
    assert_int_equal(st.raised_ratios, 0);
    assert_int_equal(g->nzones, f->nzones);
    assert_int_equal(g->nhosts, f->nhosts);
    assert_int_equal(g->nvms, f->nvms);
    assert_int_equal(g->nservices, f->nservices);
    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *a = &f->hosts[i], *b = host_named(g, a->name);
        assert_int_equal(b->mem_mib, a->mem_mib);
        assert_int_equal(b->reserved_mib, a->reserved_mib);
        assert_int_equal(b->cpus, a->cpus);
        assert_int_equal(b->state, a->state);
        assert_true(b->cpu_allocation_ratio == a->cpu_allocation_ratio);
        assert_true(b->ram_allocation_ratio == a->ram_allocation_ratio);
        assert_string_equal(g->zones[b->zone].name, f->zones[a->zone].name);
        assert_string_equal(g->racks[b->rack].name, f->racks[a->rack].name);
        assert_string_equal(b->kernel, a->kernel);
        if (a->hw)
            assert_string_equal(b->hw, a->hw);
        else
            assert_null(b->hw);
        assert_int_equal(b->ntags, a->ntags);
        assert_int_equal(b->used.mem_mib, a->used.mem_mib);
    }
    assert_string_equal(host_named(g, "hv0")->tags[1], "odd_tag_x");
    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *a = &f->vms[i], *b = vm_named(g, a->name);
        assert_int_equal(b->mem_mib, a->mem_mib);
        assert_int_equal(b->vcpus, a->vcpus);
        assert_string_equal(g->hosts[b->host].name, f->hosts[a->host].name);
        assert_int_equal(b->migratable, a->migratable);
        assert_int_equal(b->has_secondary, a->has_secondary);
        if (a->has_secondary)
            assert_string_equal(g->hosts[b->secondary].name, f->hosts[a->secondary].name);
        if (a->service >= 0) {
            const hvf_service *sa = &f->services[a->service], *sb2 = &g->services[b->service];
            assert_string_equal(sb2->name, sa->name);
            assert_int_equal(sb2->critical, sa->critical);
            assert_int_equal(sb2->spread, sa->spread);
            assert_int_equal(sb2->min_available, sa->min_available);
        } else {
            assert_int_equal(b->service, -1);
        }
    }
    hvf_fleet_free(g);
    hvf_fleet_free(f);
    hvf_strbuf_clear(&sb);
    hvf_diags_clear(&diags);
    hvf_ganeti_stats_clear(&st);
}

/* Things htools accepts, so must we: '?' nodes, CRLF, 3 sections, extra fields, location tags. */
static void
test_lenient_inputs(void **state)
{
    hvf_ganeti_stats st = {0};
    hvf_diags diags;
    hvf_fleet *f;
    const hvf_host *h;

    f = parse_text("g1|u1|preferred|\r\n\r\n"
                   "n1|?|?|?|?|?|?|Y|u1\r\n"
                   "n2|8192|512|0|100|100|2|N|u1|1|power:pdu-a,x|N|1|1|1.0|future\r\n"
                   "n3|0|0|0|0|0|0|Y|u1\r\n\r\n"
                   "i1|3000|10|3|running|Y|n1||plain|grp:a b|1\r\n"
                   "i2|6144|10|9|running|Y|n2||drbd|grp:a b,grp:zzz|1|-|N|extra\r\n"
                   "i3|1024|10|1|running|Y|n2||ext||1|-|Y\r\n",
                   &st, &diags);
    /* no policies and no cluster tags: no exclusion tags, no location tags */
    assert_non_null(f);
    assert_int_equal(f->nservices, 0);
    h = host_named(f, "n1");
    assert_int_equal(h->state, HVF_HOST_STATE_DOWN);
    assert_int_equal(h->mem_mib, 3072); /* 3000 MiB rounded up to a GiB */
    assert_int_equal(h->cpus, 1);       /* 3 vCPUs at the default ratio of 4 */
    assert_string_equal(h->tags[0], "hvfleet:resources-unknown");
    assert_int_equal(host_named(f, "n3")->state, HVF_HOST_STATE_DOWN);
    assert_int_equal(st.unknown_nodes, 2);
    assert_int_equal(st.stopped_instances, 1); /* forthcoming */
    /* n2 holds 7 GiB in 7.5 usable but 10 vCPUs on 2 CPUs x 4: the ratio is raised, and said */
    h = host_named(f, "n2");
    assert_true(h->cpu_allocation_ratio == 5.0);
    assert_int_equal(st.raised_ratios, 1);
    assert_true(st.notes.n == 3);
    assert_non_null(strstr(st.notes.lines[2], "t.data:4: nodes[n2]: instances hold 10 vCPUs"));
    assert_string_equal(f->racks[h->rack].name, "default");
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    hvf_ganeti_stats_clear(&st);

    /* With the cluster tags, location tags name racks and exclusion tags services. */
    f = parse_text("g1|u1|preferred||\n\n"
                   "n1|8192|512|0|100|100|4|N|u1|1|power:pdu-a,rack:r7\n"
                   "n2|8192|512|0|100|100|4|N|u1|1|power:pdu-a,x\n\n"
                   "i1|1024|10|1|running|Y|n1||plain|grp:a b|1\n"
                   "i2|1024|10|1|running|Y|n2|n1|drbd|grp:a b,grp:zzz|1\n\n"
                   "htools:iextags:grp\nhtools:nlocation:power\n",
                   &st, &diags);
    assert_non_null(f);
    assert_string_equal(f->racks[host_named(f, "n1")->rack].name, "r7"); /* rack: wins */
    assert_string_equal(f->racks[host_named(f, "n2")->rack].name, "pdu-a");
    assert_int_equal(f->nservices, 1);
    assert_string_equal(f->services[0].name, "a_b");
    assert_int_equal(f->services[0].spread, HVF_SPREAD_HOST);
    assert_int_equal(vm_named(f, "i2")->service, 0);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
    hvf_ganeti_stats_clear(&st);
}

typedef struct bad_case {
    const char *text;
    const char *want; /* in the first problem line */
    size_t problems;
} bad_case;

#define G "g1|u1|preferred||\n\n"
#define N1 "n1|8192|512|7680|100|100|4|N|u1|1\n"

static const bad_case bad_cases[] = {
    {"", "t.data:1: file: '': expected groups, nodes and instances sections", 1},
    {"\n", "t.data:1: file: '2 sections': expected at least 3 sections", 1},
    {G N1, "t.data:3: file: '2 sections'", 1},
    {"\n\n\n|12[8\nprr", "t.data:2: nodes: '': expected at least one node line", 1},
    {G "\n\n", "t.data:3: nodes: '': expected at least one node line", 1},
    {G "n1|8192|512\n\ni1|1|1|1|running|Y|n1||plain|\n",
     "t.data:3: nodes: 'n1|8192|512': expected at least 9 fields", 1},
    {G "n1|8x92|512|7680|100|100|4|N|u1|1\n\n\n",
     "t.data:3: nodes[n1].total_mem: '8x92': expected a number of MiB", 1},
    {G "n1|8192|-5|7680|100|100|4|N|u1|1\n\n\n", "nodes[n1].node_mem: '-5'", 1},
    {G "n1|8192|512|7680|100|100|4|N|u2|1\n\n\n",
     "t.data:3: nodes[n1].group_uuid: 'u2': expected the UUID of a group", 1},
    {G "n1|8192|512|7680|100|100|4|X|u1|1\n\n\n", "nodes[n1].offline: 'X': expected Y", 1},
    {G "n1|8192|8192|0|100|100|4|N|u1|1\n\n\n",
     "nodes[n1].node_mem: '8192': expected less than total_mem", 1},
    {G "n1|8192|512|7680|100|100|0|N|u1|1\n\n\n",
     "nodes[n1].total_cpu: '0': expected more than 0 on an online node", 1},
    {G "bad name|8192|512|7680|100|100|4|N|u1|1\n\n\n",
     "nodes[bad name].name: 'bad name': expected 1-63 characters", 1},
    {G N1 N1 "\n\n", "t.data:4: nodes[n1].name: 'n1': expected each node once", 1},
    {G N1 "n2|8192|512|7680|100|100|4|N|u1|1|rack:a/b\n\n\n",
     "t.data:4: nodes[n2].tags: 'rack:a/b': expected rack:NAME", 1},
    {G N1 "\ni1|1024|10|1|running|Y|nope||plain||1\n",
     "t.data:5: instances[i1].primary_node: 'nope': expected the name of a node", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1|n1|drbd||1\n",
     "instances[i1].secondary_node: 'n1': expected a node other than the primary", 1},
    {G N1 "\ni1|1024|10|x|running|Y|n1||plain||1\ni2|0|10|1|running|Y|n1||plain||1\n",
     "t.data:5: instances[i1].vcpus: 'x': expected a whole number", 2},
    {G N1 "\ni1|1024|10|1|sleeping|Y|n1||plain||1\n", "instances[i1].status: 'sleeping'", 1},
    {G N1 "\ni1|1024|10|1|running|maybe|n1||plain||1\n", "instances[i1].auto_balance", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||lvm||1\n", "instances[i1].disk_template: 'lvm'", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||plain||1|-|?\n", "instances[i1].forthcoming: '?'", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||plain||1\ni1|1024|10|1|running|Y|n1||plain||1\n",
     "t.data:6: instances[i1].name: 'i1': expected each instance once", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||plain\n",
     "t.data:5: instances: 'i1|1024|10|1|running|Y|n1||plain': expected at least 10 fields", 1},
    {"g1|u1|often||\n\n" N1 "\n\n", "t.data:1: groups[g1].alloc_policy: 'often'", 1},
    {"g1|u1|preferred||\ng1|u2|preferred||\n\n" N1 "\n\n", "t.data:2: groups[g1].name", 1},
    {G N1 "\n\n\nnope|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain|4.0|32.0\n",
     "t.data:7: policies[nope].owner: 'nope'", 1},
    {G N1 "\n\n\n|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain|lots|32.0\n",
     "t.data:7: policies[].vcpu_ratio: 'lots': expected a number", 1},
    {G N1 "\n\n\n|128,1,1024|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain|4.0|32.0\n",
     "policies[].std_spec: '128,1,1024'", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||plain|service:web|1\n\n"
          "htools:iextags:service\nhvfleet:service:web:row:1\n",
     "t.data:8: cluster_tags: 'hvfleet:service:web:row:1': expected hvfleet:service:NAME", 1},
    {G N1 "\ni1|1024|10|1|running|Y|n1||plain|service:web|1\n\n"
          "htools:iextags:service\nhvfleet:service:web:host:3\n",
     "t.data:8: cluster_tags[web].min_available: '3': expected at most the 1 instances", 1},
};

static void
test_bad_inputs(void **state)
{
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad_cases); i++) {
        const bad_case *bc = &bad_cases[i];
        hvf_diags diags;
        hvf_fleet *f = parse_text(bc->text, NULL, &diags);

        if (f || diags.n == 0 || !strstr(diags.lines[0], bc->want) || diags.total != bc->problems) {
            fprintf(stderr, "case %zu: want '%s' (%zu problems), got %zu:\n", i, bc->want,
                    bc->problems, diags.total);
            hvf_diags_print(&diags, stderr);
            fail();
        }
        hvf_diags_clear(&diags);
    }
}

static void
test_nul_and_policies_ok(void **state)
{
    static const char nul[] = "g1|u1|preferred||\n\0\n";
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE char *text = NULL;
    hvf_fleet *f;

    hvf_diags_init(&diags);
    assert_null(hvf_ganeti_parse("t.data", nul, sizeof(nul) - 1, &diags, &err));
    assert_string_equal(diags.lines[0],
                        "t.data:2: file: byte 0x00 at column 1: expected UTF-8 text");
    hvf_diags_clear(&diags);
    /* a Latin-1 tag: the inventory written from it would not load */
    assert_null(hvf_ganeti_parse("t.data", "g1|u1|preferred|caf\xe9|\n", 22, &diags, &err));
    assert_string_equal(diags.lines[0],
                        "t.data:1: file: byte 0xe9 at column 20: expected UTF-8 text");
    hvf_diags_clear(&diags);
    /* well-formed UTF-8 in tags is kept as it is */
    f = parse_text(G "n1|8192|512|7680|100|100|4|N|u1|1|caf\xc3\xa9,\xe2\x82\xac\n\n\n", NULL,
                   &diags);
    assert_non_null(f);
    assert_string_equal(f->hosts[0].tags[0], "caf\xc3\xa9");
    assert_string_equal(f->hosts[0].tags[1], "\xe2\x82\xac");
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);

    text = hvf_asprintf(G N1 "\n\n\n%sg1|1,1,1,1,1,1||plain,drbd|2.5|32.0|1.25\n", policy_lines);
    f = parse_text(text, NULL, &diags);
    assert_non_null(f);
    assert_true(f->hosts[0].cpu_allocation_ratio == 2.5);
    assert_true(f->hosts[0].ram_allocation_ratio == 1.25);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
}

/* Every prefix and many mutations of a good file: problems or a fleet, never a crash. */
static void
test_truncations_and_mutations(void **state)
{
    HVF_AUTOFREE char *buf = NULL;
    HVF_AUTOFREE char *copy = NULL;
    FILE *fp = fopen(SMALL_DATA, "rb");
    size_t len;
    hvf_rng rng;

    assert_non_null(fp);
    buf = hvf_malloc(65536);
    len = fread(buf, 1, 65535, fp);
    fclose(fp);
    copy = hvf_malloc(len + 1);
    for (size_t n = 0; n <= len; n++) {
        hvf_diags diags;
        hvf_error err = HVF_ERROR_INIT;
        hvf_fleet *f;

        hvf_diags_init(&diags);
        f = hvf_ganeti_parse("t.data", buf, n, &diags, &err);
        assert_true((f != NULL) == (diags.total == 0));
        hvf_fleet_free(f);
        hvf_diags_clear(&diags);
    }
    hvf_rng_seed(&rng, 2024);
    for (int k = 0; k < 2000; k++) {
        static const char alphabet[] = "|,\n:?-.0129YNMxr";
        hvf_diags diags;
        hvf_error err = HVF_ERROR_INIT;
        hvf_fleet *f;

        memcpy(copy, buf, len);
        for (int m = 0; m < 3; m++)
            copy[hvf_rng_range(&rng, 0, len - 1)] =
                alphabet[hvf_rng_range(&rng, 0, sizeof(alphabet) - 2)];
        hvf_diags_init(&diags);
        f = hvf_ganeti_parse("t.data", copy, len, &diags, &err);
        assert_true((f != NULL) == (diags.total == 0));
        if (f)
            assert_int_equal(hvf_fleet_check(f, false, &err), 0);
        hvf_fleet_free(f);
        hvf_diags_clear(&diags);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_file),
        cmocka_unit_test(test_output_is_valid_inventory),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_lenient_inputs),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_nul_and_policies_ok),
        cmocka_unit_test(test_truncations_and_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
