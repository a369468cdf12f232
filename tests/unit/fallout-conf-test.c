/* SPDX-License-Identifier: MIT */
/*
 * The scenario sections of the fallout components (telemetry:, remediation:, hv_agent:) and the
 * service_down fault: a full good file read back field by field, the documented defaults, and
 * one precise line for each bad field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fallout.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"

#define S HVF_US_PER_S

#define INV                                                                                        \
    "name: t\n"                                                                                    \
    "duration: 2h\n"                                                                               \
    "inventory:\n"                                                                                 \
    "  services: [{name: apps}]\n"                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: a, rack: r1, cpus: 8, memory: 64GiB, nic: 1Gbit, tags: [old]}\n"                 \
    "    - {name: b, rack: r1, cpus: 8, memory: 64GiB, nic: 1Gbit}\n"                              \
    "  vms:\n"                                                                                     \
    "    - {name: v1, host: a, vcpus: 1, memory: 256MiB}\n"                                        \
    "    - {name: v2, host: b, vcpus: 2, memory: 8GiB, service: apps}\n"                           \
    "    - {name: v3, host: b, vcpus: 1, memory: 512MiB}\n"

static hvf_scenario *
t_parse(const char *text, hvf_diags *d)
{
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(d);
    return hvf_scenario_parse("t.yaml", text, strlen(text), NULL, d, &err);
}

static void
test_good(void **state)
{
    const char *text =
        INV "faults:\n"
            "  - {at: 10m, type: service_down, service: bus, until: 1h}\n"
            "  - {at: 20m, type: service_down, service: db, duration: 5m}\n"
            "  - {at: 30m, type: service_down, service: queue}\n"
            "telemetry: {vms: [max_memory:512MiB, v2], rate: 8KiB/s, rate_spread: 0.5, buffer: "
            "spill,\n"
            "            buffer_max: 16MiB, spill_max: 1GiB, drain: 2MiB/s, guest_used: 0.8,\n"
            "            guest_swap: 1GiB, guest_swap_io_fraction: 0.1, thrash_io: 5MB/s,\n"
            "            thrash_speed: 0.2, tick: 5s}\n"
            "remediation:\n"
            "  mode: correlated\n"
            "  vms: all\n"
            "  check_interval: 20s\n"
            "  unreachable_after: 3\n"
            "  renotify: 2m\n"
            "  slow_speed: 0.25\n"
            "  upscale_speed: 0.6\n"
            "  alert_delay: 30s\n"
            "  dependents: {vms: \"service:apps\", on: bus, need_restart: true}\n"
            "  orchestrator: {on: queue, deploys_per_min: 12, deploy_time: 90s, deploy_cpu: 1.5,"
            " deploy_io: 30MB/s}\n"
            "  correlation: {fleet_share: 0.1, dependencies: [bus, queue], clear_after: 5m}\n"
            "  queue: {redeploy_per_min: 4, redeploy_burst: 3, upscale_per_min: 1, cooldown: "
            "20m, max: 500}\n"
            "  reconcile: false\n"
            "hv_agent:\n"
            "  model: pooled\n"
            "  hosts: [a]\n"
            "  start: 5m\n"
            "  notifications_per_min: 40\n"
            "  burst: {at: 1h, duration: 10m, per_min: 900}\n"
            "  proxy_leaks: true\n"
            "  handle_time: 500ms\n"
            "  threads_max: 8000\n"
            "  base_threads: 700\n"
            "  qemu_threads: 5\n"
            "  qemu_spawns_per_min: 2\n"
            "  workers: 8\n"
            "  queue_max: 1000\n"
            "  overflow: block\n"
            "  tick: 20s\n"
            "  operator: {alert_after_crashes: 3, alert_delay: 2m, diagnose_after: 5m, "
            "decide_after: 10m, revert_duration: 20m, confirm_after: 4m}\n";
    hvf_diags d;
    hvf_scenario *sc = t_parse(text, &d);
    const hvf_telemetry_opts *t;
    const hvf_remediation_opts *r;
    const hvf_hvagent_opts *a;
    hvf_error err = HVF_ERROR_INIT;
    void *sched = NULL;
    hvf_sim *sim;

    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : "no scenario");
    assert_int_equal(sc->nfaults, 3);
    assert_int_equal(sc->faults[0].type, HVF_SIM_FAULT_SERVICE_DOWN);
    assert_string_equal(sc->faults[0].service, "bus");
    assert_int_equal(sc->faults[0].duration_us, 50 * 60 * S); /* until 1h from 10m */
    assert_int_equal(sc->faults[1].duration_us, 5 * 60 * S);
    assert_int_equal(sc->faults[2].duration_us, -1);
    assert_non_null(sc->fallout);
    assert_true(sc->fallout->has_telemetry && sc->fallout->has_remediation &&
                sc->fallout->has_hv_agent);
    t = &sc->fallout->telemetry;
    assert_int_equal(t->nvms, 3); /* v1, v3 (512 MiB and less) and v2 by name */
    assert_int_equal(t->vms[0], 0);
    assert_int_equal(t->vms[1], 1);
    assert_int_equal(t->vms[2], 2);
    assert_string_equal(t->dependency, "bus"); /* the default */
    assert_true(t->rate_bytes_per_s == 8192);
    assert_true(t->rate_spread == 0.5);
    assert_int_equal(t->policy, HVF_BUFFER_SPILL);
    assert_int_equal(t->buffer_max_mib, 16);
    assert_int_equal(t->spill_max_mib, 1024);
    assert_true(t->drain_bytes_per_s == 2 * HVF_MIB);
    assert_true(t->guest_used == 0.8 && t->thrash_speed == 0.2);
    assert_int_equal(t->guest_swap_mib, 1024);
    assert_int_equal(t->tick_us, 5 * S);
    r = &sc->fallout->remediation;
    assert_int_equal(r->mode, HVF_REMEDIATION_CORRELATED);
    assert_int_equal(r->nvms, 3);
    assert_int_equal(r->check_interval_us, 20 * S);
    assert_int_equal(r->unreachable_after, 3);
    assert_int_equal(r->ndependents, 1);
    assert_int_equal(r->dependents[0], 1);
    assert_string_equal(r->dependents_on, "bus");
    assert_true(r->dependents_need_restart);
    assert_string_equal(r->orchestrator_on, "queue");
    assert_true(r->deploys_per_min == 12 && r->deploy_cpu_cores == 1.5);
    assert_int_equal(r->deploy_time_us, 90 * S);
    assert_int_equal(r->ncorrelate_on, 2);
    assert_string_equal(r->correlate_on[1], "queue");
    assert_int_equal(r->clear_after_us, 300 * S);
    assert_true(r->redeploy_per_min == 4);
    assert_int_equal(r->redeploy_burst, 3);
    assert_int_equal(r->queue_max, 500);
    assert_int_equal(r->cooldown_us, 1200 * S);
    assert_false(r->reconcile);
    a = &sc->fallout->hv_agent;
    assert_int_equal(a->model, HVF_HVAGENT_POOLED);
    assert_int_equal(a->nhosts, 1);
    assert_int_equal(a->burst_at_us, 3600 * S);
    assert_true(a->burst_per_min == 900);
    assert_int_equal(a->handle_time_us, 500 * HVF_US_PER_MS);
    assert_int_equal(a->threads_max, 8000);
    assert_int_equal(a->workers, 8);
    assert_int_equal(a->overflow, HVF_OVERFLOW_BLOCK);
    assert_int_equal(a->alert_after_crashes, 3);
    assert_int_equal(a->confirm_after_us, 240 * S);
    /* and it runs */
    sim = hvf_scenario_sim_new(sc, &sched, &err);
    assert_non_null(sim);
    hvf_sim_run(sim);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

static void
test_defaults(void **state)
{
    hvf_diags d;
    hvf_scenario *sc = t_parse(INV "telemetry: {}\nremediation: {mode: per_vm}\nhv_agent: "
                                   "{model: per_notification}\n",
                               &d);
    hvf_telemetry_opts t;
    hvf_remediation_opts r;
    hvf_hvagent_opts a;

    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : "no scenario");
    hvf_telemetry_opts_default(&t);
    hvf_remediation_opts_default(&r);
    hvf_hvagent_opts_default(&a);
    assert_int_equal(sc->fallout->telemetry.nvms, 0); /* every VM */
    assert_true(sc->fallout->telemetry.rate_bytes_per_s == t.rate_bytes_per_s);
    assert_int_equal(sc->fallout->telemetry.policy, HVF_BUFFER_UNBOUNDED);
    assert_int_equal(sc->fallout->remediation.check_interval_us, r.check_interval_us);
    assert_int_equal(sc->fallout->remediation.operator_pause_after_us, -1);
    assert_int_equal(sc->fallout->hv_agent.threads_max, a.threads_max);
    assert_int_equal(sc->fallout->hv_agent.nhosts, 0); /* every host */
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

/* Each bad file gives exactly the line containing @want. */
static void
t_bad(const char *body, const char *want)
{
    HVF_AUTOFREE char *text = hvf_asprintf(INV "%s", body);
    hvf_diags d;
    hvf_scenario *sc = t_parse(text, &d);
    bool found = false;

    assert_null(sc);
    for (size_t i = 0; i < d.n; i++)
        found = found || strstr(d.lines[i], want) != NULL;
    if (!found)
        fail_msg("wanted '%s', got '%s'", want, d.n ? d.lines[0] : "(nothing)");
    hvf_diags_clear(&d);
}

static void
test_bad(void **state)
{
    /* faults */
    t_bad("faults: [{at: 10m, type: service_down}]\n",
          "t.yaml:12: faults[0].service: (a mapping): expected the shared dependency");
    t_bad("faults: [{at: 10m, type: service_down, service: bus, until: 5m}]\n",
          "faults[0].until: '5m': expected a time after 'at'");
    t_bad("faults: [{at: 10m, type: service_down, service: bus, until: 1h, duration: 5m}]\n",
          "faults[0].until: '1h': expected until or duration, not both");
    t_bad("faults: [{at: 10m, type: host_crash, host: a, service: bus}]\n",
          "faults[0].service: 'bus': expected only with type service_down");
    t_bad("faults: [{at: 10m, type: service_down, service: 'b us'}]\n", "faults[0].service");
    /* telemetry */
    t_bad("telemetry: {buffer: forever}\n", "telemetry.buffer: 'forever'");
    t_bad("telemetry: {buffer: drop_newest, buffer_max: 0}\n",
          "telemetry.buffer_max: '0': expected a size above 0 with buffer drop_newest");
    t_bad("telemetry: {buffer: spill, spill_max: 0}\n",
          "telemetry.spill_max: '0': expected a size above 0 with buffer spill");
    t_bad("telemetry: {guest_used: 1}\n", "telemetry.guest_used: '1': expected a number between");
    t_bad("telemetry: {rate_spread: 3}\n", "telemetry.rate_spread: '3'");
    t_bad("telemetry: {tick: 0s}\n", "telemetry.tick: '0s': expected a duration above 0");
    t_bad("telemetry: {vms: nope}\n", "telemetry.vms: 'nope': expected all, service:S, "
                                      "max_memory:SIZE or a VM name");
    t_bad("telemetry: {vms: 'service:nope'}\n", "expected the name of a service");
    t_bad("telemetry: {vms: 'max_memory:lots'}\n", "expected max_memory:SIZE");
    t_bad("telemetry: {vms: 'max_memory:1MiB'}\n", "expected a selector that adds at least one");
    t_bad("telemetry: {colour: blue}\n", "telemetry.colour");
    /* remediation */
    t_bad("remediation: {vms: all}\n", "remediation.mode");
    t_bad("remediation: {mode: sometimes}\n", "remediation.mode: 'sometimes'");
    t_bad("remediation: {mode: per_vm, correlation: {fleet_share: 0.1}}\n",
          "remediation.correlation: (a mapping): expected only with mode: correlated");
    t_bad("remediation: {mode: per_vm, queue: {redeploy_per_min: 1}}\n",
          "remediation.queue: (a mapping): expected only with mode: correlated");
    t_bad("remediation: {mode: per_vm, reconcile: true}\n",
          "remediation.reconcile: 'true': expected only with mode: correlated");
    t_bad("remediation: {mode: correlated, operator: {pause_after: 1h}}\n",
          "remediation.operator: (a mapping): expected only with mode: per_vm");
    t_bad("remediation: {mode: per_vm, operator: {pause_after: soon}}\n",
          "remediation.operator.pause_after: 'soon': expected a duration such as 90s or 5m, or "
          "never");
    t_bad("remediation: {mode: per_vm, dependents: {vms: v2}}\n", "remediation.dependents.on");
    t_bad("remediation: {mode: per_vm, orchestrator: {deploys_per_min: 0}}\n",
          "remediation.orchestrator.deploys_per_min: '0'");
    t_bad("remediation: {mode: correlated, correlation: {fleet_share: 2}}\n",
          "remediation.correlation.fleet_share: '2'");
    t_bad("remediation: {mode: correlated, queue: {redeploy_burst: 0}}\n",
          "remediation.queue.redeploy_burst: '0'");
    t_bad("remediation: {mode: per_vm, unreachable_after: 0}\n",
          "remediation.unreachable_after: '0'");
    t_bad("remediation: {mode: per_vm, check_interval: 0s}\n",
          "remediation.check_interval: '0s': expected a duration above 0");
    /* hv_agent */
    t_bad("hv_agent: {hosts: all}\n", "hv_agent.model");
    t_bad("hv_agent: {model: per_notification, workers: 4}\n",
          "hv_agent.model: 'per_notification': expected pooled with workers, queue_max or "
          "overflow");
    t_bad("hv_agent: {model: pooled, workers: 0}\n", "hv_agent.workers: '0'");
    t_bad("hv_agent: {model: pooled, overflow: explode}\n", "hv_agent.overflow: 'explode'");
    t_bad("hv_agent: {model: pooled, start: 3h}\n",
          "hv_agent.start: '3h': expected a time within the scenario's duration");
    t_bad("hv_agent: {model: pooled, hosts: [a, zz]}\n", "hv_agent.hosts: 'zz'");
    t_bad("hv_agent: {model: pooled, burst: {at: 5h, duration: 1m, per_min: 10}}\n",
          "hv_agent.burst.at: '5h': expected a time within the scenario's duration");
    t_bad("hv_agent: {model: pooled, burst: {at: 5m}}\n", "hv_agent.burst.duration");
    t_bad("hv_agent: {model: pooled, handle_time: 0s}\n",
          "hv_agent.handle_time: '0s': expected a duration above 0");
    t_bad("hv_agent: {model: pooled, threads_max: 0}\n", "hv_agent.threads_max: '0'");
    t_bad("hv_agent: {model: per_notification, operator: {alert_delay: -5s}}\n",
          "hv_agent.operator.alert_delay");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
