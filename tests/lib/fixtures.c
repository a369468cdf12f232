/* SPDX-License-Identifier: MIT */
/* Fleets and simulations that several unit tests build the same way (see fixtures.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/inventory.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "sim/sim-priv.h"

void
hvf_test_hosts_add(hvf_fleet *f, int n, uint32_t cpus, uint64_t mem_mib)
{
    hvf_error err = HVF_ERROR_INIT;
    char name[16];

    for (int i = 0; i < n; i++) {
        hvf_host h = {0};
        snprintf(name, sizeof(name), "h%d", i);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, "z");
        h.rack = hvf_fleet_rack_ensure(f, h.zone, "r");
        h.cpus = cpus;
        h.mem_mib = mem_mib;
        h.cpu_allocation_ratio = 4;
        h.ram_allocation_ratio = 1;
        h.nic_bytes_per_s = 125e6;
        assert_true(hvf_fleet_add_host(f, &h, &err) >= 0);
    }
}

hvf_fleet *
hvf_test_fleet_3h6v(double cpu_load)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    char name[16];

    hvf_test_hosts_add(f, 3, 16, 64 * 1024);
    for (int i = 0; i < 6; i++) {
        hvf_vm v = {.host = i < 4 ? 0 : 1,
                    .vcpus = 2,
                    .mem_mib = 4096,
                    .working_set_mib = 4096,
                    .cpu_load = cpu_load,
                    .service = -1,
                    .migratable = true};
        snprintf(name, sizeof(name), "v%d", i);
        v.name = name;
        assert_true(hvf_fleet_add_vm(f, &v, 0, &err) >= 0);
    }
    return f;
}

hvf_fleet *
hvf_test_inventory(const char *text)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_diags_init(&d);
    f = hvf_inventory_parse("inv.yaml", text, strlen(text), &d, &err);
    if (!f)
        hvf_diags_print(&d, stderr);
    hvf_diags_clear(&d);
    assert_non_null(f);
    return f;
}

hvf_sim *
hvf_test_scenario_sim(const char *text, void **sched)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;

    hvf_diags_init(&d);
    sc = hvf_scenario_parse("t.yaml", text, strlen(text), NULL, &d, &err);
    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    sim = hvf_scenario_sim_new(sc, sched, &err);
    if (!sim)
        fail_msg("%s", err.msg);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
    return sim;
}

int64_t
hvf_test_event_first_us(const hvf_sim *sim, const char *type, const char *detail_part)
{
    char pat[64];
    const char *p = sim->events.buf;

    snprintf(pat, sizeof(pat), "\"type\":\"%s\"", type);
    while (p && (p = strstr(p, pat)) != NULL) {
        const char *line = p, *end = strchr(p, '\n');
        while (line > sim->events.buf && line[-1] != '\n')
            line--;
        if (!detail_part || (strstr(line, detail_part) && strstr(line, detail_part) < end))
            return (int64_t)llround(strtod(line + strlen("{\"t_s\":"), NULL) * 1e6);
        p = end;
    }
    return -1;
}

size_t
hvf_test_event_count(const hvf_sim *sim, const char *type)
{
    HVF_AUTOFREE char *needle = hvf_asprintf("\"type\":\"%s\"", type);
    size_t n = 0;

    for (const char *p = sim->events.buf; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}
