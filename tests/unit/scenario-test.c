/* SPDX-License-Identifier: MIT */
/* Scenario files: a good one with an inline inventory, and one-line errors for bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

#define INV                                                                                        \
    "inventory:\n"                                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: a, rack: r1, cpus: 8, memory: 64GiB, nic: 1Gbit, tags: [old]}\n"                 \
    "    - {name: b, rack: r1, cpus: 8, memory: 64GiB, nic: 1Gbit}\n"                              \
    "    - {name: c, rack: r2, cpus: 8, memory: 64GiB, nic: 1Gbit}\n"                              \
    "  vms:\n"                                                                                     \
    "    - {name: v1, host: a, vcpus: 2, memory: 8GiB, dirty_rate: 10MiB/s}\n"                     \
    "    - {name: v2, host: b, vcpus: 2, memory: 8GiB}\n"

static hvf_scenario *
sc_parse(const char *text, hvf_diags *d)
{
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(d);
    return hvf_scenario_parse("t.yaml", text, strlen(text), NULL, d, &err);
}

static void
test_good(void **state)
{
    const char *text = "schema: hvfleet.scenario/v1\n"
                       "name: t\n" INV "duration: 2h\n"
                       "seed: 18446744073709551615\n"
                       "metrics_interval: 30s\n"
                       "params: {swap: 4GiB, hung_task_panic: true, rack_uplink: 10Gbit,\n"
                       "         strategy: auto-converge, oom: panic}\n"
                       "host_overrides:\n"
                       "  - {hosts: tag:old, swap: 0}\n"
                       "faults:\n"
                       "  - {at: 10m, type: host_reboot, host: c, duration: 5m, renamed_nics: "
                       "true, fixed_after: 20m}\n"
                       "  - {at: 15m, type: link_drop, rack: r1, bandwidth: 100Mbit, direction: "
                       "out}\n"
                       "  - {at: 20m, type: dirty_rate, vm: v1, rate: 200MiB/s}\n"
                       "  - {at: 30m, type: host_crash, host: b, duration: never}\n"
                       "maintenance: {scheduler: naive, hosts: [rack:r1, c], span: 1h}\n";
    hvf_diags d;
    hvf_scenario *sc = sc_parse(text, &d);
    hvf_sim *sim;
    hvf_error err = HVF_ERROR_INIT;
    void *ctx = NULL;

    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : "no scenario");
    assert_string_equal(sc->name, "t");
    assert_int_equal(sc->params.seed, UINT64_MAX);
    assert_int_equal(sc->params.duration_us, 2 * 3600 * HVF_US_PER_S);
    assert_int_equal(sc->params.host.swap_mib, 4096);
    assert_int_equal(sc->params.strategy, HVF_SIM_STRATEGY_AUTO_CONVERGE);
    assert_int_equal(sc->noverrides, 1);
    assert_int_equal(sc->overrides[0].nhosts, 1);
    assert_int_equal(sc->overrides[0].p.swap_mib, 0);
    assert_true(sc->overrides[0].p.hung_task_panic); /* inherited from params */
    assert_int_equal(sc->nfaults, 4);
    assert_true(sc->faults[0].renamed_nics);
    assert_int_equal(sc->faults[1].rack, 0);
    assert_int_equal(sc->faults[1].dir, HVF_SIM_DIR_OUT);
    assert_int_equal(sc->faults[1].duration_us, -1);
    assert_int_equal(sc->faults[3].duration_us, -1);
    assert_int_equal(sc->naive.nhosts, 3);
    assert_int_equal(sc->naive.migrations_per_host, 2);
    sim = hvf_scenario_sim_new(sc, &ctx, &err);
    assert_non_null(sim);
    hvf_sim_run(sim);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

static void
expect_error(const char *text, const char *needle)
{
    hvf_diags d;
    hvf_scenario *sc = sc_parse(text, &d);

    assert_null(sc);
    assert_true(d.n >= 1);
    if (!strstr(d.lines[0], needle) || strncmp(d.lines[0], "t.yaml:", 7) != 0)
        fail_msg("got '%s', want '%s'", d.lines[0], needle);
    hvf_diags_clear(&d);
}

static void
test_bad(void **state)
{
    expect_error("name: t\n" INV "duration: 1h\nbogus: 1\n",
                 "t.yaml:11: bogus: 'bogus': unknown field");
    expect_error("name: t\n" INV "duration: 1 fortnight\n", "duration");
    expect_error("name: t\n" INV "duration: 1h\nparams: {disk_io: fast}\n", "params.disk_io");
    expect_error("name: t\n" INV "duration: 1h\nparams: {swp: 1GiB}\n", "unknown field");
    expect_error("name: t\n" INV "duration: 1h\nfaults: [{at: 1m, type: host_crash, host: zz}]\n",
                 "faults[0].host: 'zz': expected the name of a host");
    expect_error("name: t\n" INV "duration: 1h\nfaults: [{at: 2h, type: host_crash, host: a}]\n",
                 "within the scenario's duration");
    expect_error("name: t\n" INV "duration: 1h\nfaults: [{at: 1m, type: meteor, host: a}]\n",
                 "expected one of host_crash");
    expect_error("name: t\n" INV "duration: 1h\nfaults: [{at: 1m, type: link_drop, host: a}]\n",
                 "bandwidth");
    expect_error("name: t\n" INV "duration: 1h\nmaintenance: {scheduler: naive, hosts: rack:r9}\n",
                 "maintenance.hosts: 'rack:r9'");
    expect_error("name: t\n" INV "duration: 1h\nmaintenance: {scheduler: smart, hosts: all}\n",
                 "expected one of naive");
    expect_error("name: t\n" INV "duration: 1h\nmaintenance: {scheduler: naive}\n",
                 "expected either hosts");
    expect_error("name: t\ninventory: /nonexistent/fleet.yaml\nduration: 1h\n",
                 "cannot open '/nonexistent/fleet.yaml'");
    expect_error("schema: hvfleet.scenario/v9\nname: t\n" INV "duration: 1h\n",
                 "expected 'hvfleet.scenario/v1'");
    expect_error("name: t\n" INV "duration: 1h\nseed: -4\n", "seed");
    expect_error("name: t\nduration: 1h\n", "inventory: (missing)");
    expect_error("name: t\n" INV "duration: 1h\nfaults: [{at: 1m, type: host_crash, host: a, "
                 "renamed_nics: true}]\n",
                 "renamed_nics");
    expect_error("name: [t\n", "syntax");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
