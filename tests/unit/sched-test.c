/* SPDX-License-Identifier: MIT */
/*
 * Scenario maintenance schedulers: the `scheduler: hvfleet` section (policy inline or in a file,
 * one FILE:LINE line per bad value), the twin's table of schedulers (a scheduler nobody
 * registered is an error, not a crash), the hvfleet strategy run as a scenario's scheduler
 * (what `plan maintenance` plans is what the twin runs; the seatbelt's decision is logged), and
 * the twin's migration figures reaching the plan (hvf_sim_migration_result).
 *
 * The order of the tests matters: the first ones run before the planner registers its
 * scheduler in this process.
 */
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
#include "hvfleet/incident.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/migrate.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/units.h"

#define S HVF_US_PER_S

/* 4 hosts in 2 racks, 1 Gbit/s; 'busy' out-dirties any share of it. */
#define INV                                                                                        \
    "inventory:\n"                                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: a, rack: r1, cpus: 16, memory: 64GiB, nic: 1Gbit}\n"                             \
    "    - {name: b, rack: r1, cpus: 16, memory: 64GiB, nic: 1Gbit}\n"                             \
    "    - {name: c, rack: r2, cpus: 16, memory: 64GiB, nic: 1Gbit}\n"                             \
    "    - {name: d, rack: r2, cpus: 16, memory: 64GiB, nic: 1Gbit}\n"                             \
    "  vms:\n"                                                                                     \
    "    - {name: v1, host: a, vcpus: 2, memory: 8GiB, dirty_rate: 5MiB/s, working_set: 1GiB}\n"   \
    "    - {name: v2, host: a, vcpus: 2, memory: 4GiB}\n"                                          \
    "    - {name: v3, host: b, vcpus: 2, memory: 8GiB, dirty_rate: 2MiB/s}\n"                      \
    "    - {name: v4, host: c, vcpus: 1, memory: 2GiB}\n"                                          \
    "    - {name: v5, host: d, vcpus: 1, memory: 6GiB, dirty_rate: 1MiB/s}\n"
#define HEAD "name: t\n" INV "duration: 6h\n" /* lines 1-14; line 15 is the next one */
#define BUSY                                                                                       \
    "    - {name: busy, host: b, vcpus: 4, memory: 16GiB, dirty_rate: 400MiB/s, working_set: "     \
    "8GiB}\n"

static char *
t_tmpdir(void)
{
    char tmpl[] = "/tmp/hvf-sched-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    return hvf_strdup(tmpl);
}

static void
t_write(const char *dir, const char *name, const char *text)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void
t_rmrf(const char *dir)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", dir);

    assert_int_equal(system(cmd), 0);
}

static hvf_scenario *
t_parse(const char *text, const char *base_dir, hvf_diags *d)
{
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(d);
    return hvf_scenario_parse("t.yaml", text, strlen(text), base_dir, d, &err);
}

static hvf_scenario *
t_parse_ok(const char *text, const char *base_dir)
{
    hvf_diags d;
    hvf_scenario *sc = t_parse(text, base_dir, &d);

    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : "no scenario");
    hvf_diags_clear(&d);
    return sc;
}

/* Some line of the problems is exactly @line (FILE:LINE: field: value: ...) up to its length. */
static void
t_expect(const char *text, const char *base_dir, const char *line)
{
    hvf_diags d;
    hvf_scenario *sc = t_parse(text, base_dir, &d);
    bool found = false;

    assert_null(sc);
    for (size_t i = 0; i < d.n; i++)
        found |= strncmp(d.lines[i], line, strlen(line)) == 0;
    if (!found)
        fail_msg("want a line starting '%s', got %zu: '%s'", line, d.n, d.n ? d.lines[0] : "");
    hvf_diags_clear(&d);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void
test_read(void **state)
{
    HVF_AUTOFREE char *dir = t_tmpdir();
    HVF_AUTOFREE char *path = hvf_asprintf("%s/sub/s.yaml", dir);
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;

    /* an inline policy: fields left out keep their defaults */
    sc = t_parse_ok(HEAD "maintenance:\n"
                         "  scheduler: hvfleet\n"
                         "  hosts: [rack:r1, d]\n"
                         "  start: 10m\n"
                         "  policy: {max_parallel_hosts: 3, migration_share: 80%, "
                         "seatbelt: {max_hosts_without_approval: 5}}\n",
                    NULL);
    assert_true(sc->has_maintenance);
    assert_int_equal(sc->scheduler, HVF_SCENARIO_SCHED_HVFLEET);
    assert_int_equal(sc->naive.nhosts, 3);
    assert_int_equal(sc->naive.start_us, 600 * S);
    assert_int_equal(sc->policy.max_parallel_hosts, 3);
    assert_float_equal(sc->policy.migration_share, 0.8, 1e-12);
    assert_int_equal(sc->policy.seatbelt.max_hosts_without_approval, 5);
    assert_int_equal(sc->policy.max_migrations_in_per_host, 2); /* the default */
    hvf_scenario_free(sc);

    /* a policy file, relative to the scenario's directory like its inventory */
    t_write(dir, "p.yaml", "schema: hvfleet.policy/v1\nmax_parallel_hosts: 4\n");
    {
        HVF_AUTOFREE char *cmd = hvf_asprintf("mkdir -p '%s/sub'", dir);
        assert_int_equal(system(cmd), 0);
    }
    t_write(dir, "sub/s.yaml",
            HEAD "maintenance: {scheduler: hvfleet, hosts: all, policy: ../p.yaml}\n");
    hvf_diags_init(&d);
    sc = hvf_scenario_load(path, &d, &err);
    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    assert_int_equal(sc->policy.max_parallel_hosts, 4);
    assert_int_equal(sc->naive.nhosts, 4);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);

    /* no policy: the defaults, as `plan maintenance` without --policy */
    sc = t_parse_ok(HEAD "maintenance: {scheduler: hvfleet, hosts: all}\n", NULL);
    assert_int_equal(sc->policy.max_parallel_hosts, 2);
    hvf_scenario_free(sc);

    /* the naive scheduler reads as before */
    sc = t_parse_ok(HEAD "maintenance: {scheduler: naive, hosts: all, span: 1h, claims: true}\n",
                    NULL);
    assert_int_equal(sc->scheduler, HVF_SCENARIO_SCHED_NAIVE);
    assert_true(sc->naive.claims);
    hvf_scenario_free(sc);
    t_rmrf(dir);
}

static void
test_bad(void **state)
{
    HVF_AUTOFREE char *dir = t_tmpdir();

    t_expect(HEAD "maintenance: {scheduler: smart, hosts: all}\n", NULL,
             "t.yaml:15: maintenance.scheduler: 'smart': expected one of naive | hvfleet");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  policy: nope.yaml\n", dir,
             "t.yaml:18: maintenance.policy: 'nope.yaml': cannot open '");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n"
                  "  policy:\n    max_parallel_hosts: 0\n",
             NULL, "t.yaml:19: maintenance.policy.max_parallel_hosts: '0': ");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n"
                  "  policy:\n    max_paralel_hosts: 3\n",
             NULL, "t.yaml:19: maintenance.policy.max_paralel_hosts: 'max_paralel_hosts': unknown");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n"
                  "  policy: {migration_share: 150%}\n",
             NULL, "t.yaml:18: maintenance.policy.migration_share: '150%': expected a share");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n"
                  "  policy: {seatbelt: {max_capacity_offline: lots}}\n",
             NULL, "t.yaml:18: maintenance.policy.seatbelt.max_capacity_offline: 'lots': ");
    /* a bad field in the policy file: its own FILE:LINE, and the scenario's line naming it */
    t_write(dir, "bad.yaml", "schema: hvfleet.policy/v1\nnon_converging: pray\n");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  policy: bad.yaml\n", dir,
             "t.yaml:18: maintenance.policy: 'bad.yaml': expected a valid policy");
    {
        HVF_AUTOFREE char *want = hvf_asprintf("%s/bad.yaml:2: non_converging: 'pray': ", dir);
        t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  policy: bad.yaml\n", dir,
                 want);
    }
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  policy: [1, 2]\n", NULL,
             "t.yaml:18: maintenance.policy: ");
    /* what only the naive scheduler reads, and the reverse */
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  span: 8h\n", NULL,
             "t.yaml:18: maintenance.span: '8h': expected only with scheduler: naive");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  claims: true\n", NULL,
             "t.yaml:18: maintenance.claims: 'true': expected only with scheduler: naive");
    t_expect(HEAD "maintenance:\n  scheduler: naive\n  hosts: all\n  policy: p.yaml\n", NULL,
             "t.yaml:18: maintenance.policy: 'p.yaml': expected only with scheduler: hvfleet");
    t_expect(HEAD "maintenance:\n  scheduler: naive\n  hosts: all\n  approval_delay: 5m\n", NULL,
             "t.yaml:18: maintenance.approval_delay: '5m': expected only with scheduler: hvfleet");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  approval_delay: soon\n",
             NULL, "t.yaml:18: maintenance.approval_delay: 'soon': ");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  start: 1m\n", NULL,
             "t.yaml:16: maintenance.hosts: (a mapping): expected the hosts to maintain");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: rack:r9\n", NULL,
             "t.yaml:17: maintenance.hosts: 'rack:r9': ");
    t_expect(HEAD "maintenance:\n  scheduler: hvfleet\n  hosts: all\n  start: 7h\n", NULL,
             "t.yaml:18: maintenance.start: '7h': expected a time within the scenario's duration");
    t_rmrf(dir);
}

/* ---- the table of schedulers --------------------------------------------------------------- */

static int
t_attach_fail(hvf_sim *sim, const hvf_scenario *sc, hvf_error *err)
{
    hvf_error_set(err, HVF_ERR_INVALID, "no thanks");
    return -1;
}

static void
test_registry(void **state)
{
    hvf_scenario *sc = t_parse_ok(HEAD "maintenance: {scheduler: hvfleet, hosts: all}\n", NULL);
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_scheduler bad = {.name = "hvfleet"};
    hvf_sim_scheduler failing = {.name = "hvfleet", .attach = t_attach_fail};

    /* Nothing registered "hvfleet" in this process yet: a clear error, no simulation. */
    assert_non_null(hvf_sim_scheduler_find("naive"));
    assert_null(hvf_sim_scheduler_find("hvfleet"));
    assert_null(hvf_scenario_sim_new(sc, NULL, &err));
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_non_null(strstr(err.msg, "maintenance scheduler 'hvfleet' is not available"));

    hvf_error_clear(&err);
    assert_int_equal(hvf_sim_scheduler_register(&bad, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);

    /* A scheduler that cannot attach fails the simulation, naming the scenario. */
    hvf_error_clear(&err);
    assert_int_equal(hvf_sim_scheduler_register(&failing, &err), 0);
    assert_null(hvf_scenario_sim_new(sc, NULL, &err));
    assert_string_equal(err.msg, "scenario 't': no thanks");

    /* The planner's registration replaces it; registering twice changes nothing. */
    hvf_maintenance_register_scheduler();
    hvf_maintenance_register_scheduler();
    assert_ptr_not_equal(hvf_sim_scheduler_find("hvfleet")->attach, t_attach_fail);
    assert_non_null(hvf_sim_scheduler_find("hvfleet")->prepare);
    hvf_scenario_free(sc);
}

/* ---- the hvfleet strategy as a scenario's scheduler ---------------------------------------- */

static hvf_sim *
t_run(const hvf_scenario *sc)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim *sim = hvf_scenario_sim_new(sc, NULL, &err);

    if (!sim)
        fail_msg("%s", err.msg);
    hvf_incident_set_event_type(sim, "maintenance_window");
    hvf_sim_run(sim);
    return sim;
}

static void
test_run_as_planned(void **state)
{
    hvf_scenario *sc = t_parse_ok(HEAD "maintenance:\n"
                                       "  scheduler: hvfleet\n"
                                       "  hosts: all\n"
                                       "  start: 20m\n"
                                       "  policy: {max_parallel_hosts: 2, maintenance_time: 5m}\n"
                                       "  approval_delay: 10m\n",
                                  NULL);
    hvf_sim *sim = t_run(sc);
    hvf_sim_stats st;
    hvf_incident_kpis k;
    hvf_maint_opts o;
    hvf_maint_outcome res;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan;

    hvf_sim_get_stats(sim, &st);
    hvf_incident_kpis_get(sim, &k);
    /* every host maintained, with claims: no target ever over its memory */
    assert_int_equal(st.hosts_maintained, 4);
    assert_int_equal(st.hosts_over_committed, 0);
    assert_true(st.peak_host_memory_ratio <= 1.0);
    assert_int_equal(st.vms_crashed + st.vms_rebooted, 0);
    assert_true(st.peak_concurrent_evacuations <= 2);
    if (hvf_sim_check(sim, false, &err) < 0)
        fail_msg("%s", err.msg);
    /* four hosts need a person (max_hosts_without_approval 1): the decision is theirs, as
     * long after the plan as the scenario says, and nothing moves before it */
    assert_int_equal(k.event_us, 20 * 60 * S);
    assert_int_equal(k.decision_us, k.event_us + sc->approval_delay_us);
    assert_true(hvf_test_event_first_us(sim, "migration_start", NULL) >= k.decision_us);

    /* The same maintenance planned by `plan maintenance`: the twin ran what was planned. */
    hvf_maint_opts_init(&o);
    o.hosts = sc->naive.hosts;
    o.nhosts = sc->naive.nhosts;
    o.policy = &sc->policy;
    o.sim = &sc->params;
    plan = hvf_maintenance_plan(sc->fleet, &o, &res, &err);
    assert_non_null(plan);
    assert_int_equal(plan->summary.verdict, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    assert_int_equal(st.migrations_completed, plan->nmigrations);
    assert_int_equal(st.makespan_us / HVF_US_PER_MS, plan->summary.makespan_ms);
    hvf_plan_free(plan);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

static void
test_run_seatbelt(void **state)
{
    hvf_scenario *sc;
    hvf_sim *sim;
    hvf_sim_stats st;
    hvf_incident_kpis k;

    /* one host, every VM converges, within every seatbelt limit (a quarter of the fleet's
     * memory out at once): auto, nobody decides */
    sc = t_parse_ok(HEAD "maintenance: {scheduler: hvfleet, hosts: a, start: 5m,\n"
                         "  policy: {seatbelt: {max_capacity_offline: 30%}}}\n",
                    NULL);
    sim = t_run(sc);
    hvf_sim_get_stats(sim, &st);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(st.hosts_maintained, 1);
    assert_int_equal(k.event_us, 5 * 60 * S);
    assert_int_equal(k.decision_us, -1);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);

    /* a VM that cannot move and non_converging: refuse: the plan is refused, nothing runs */
    sc = t_parse_ok("name: t\n" INV BUSY "duration: 6h\n"
                    "maintenance:\n"
                    "  scheduler: hvfleet\n"
                    "  hosts: [a, b]\n"
                    "  policy: {non_converging: refuse}\n",
                    NULL);
    sim = t_run(sc);
    hvf_sim_get_stats(sim, &st);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(st.hosts_maintained, 0);
    assert_int_equal(st.migrations_started, 0);
    assert_int_equal(k.decision_us, 0);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);

    /* the same VM auto-converged: needs approval; nobody approves without approval_delay, so
     * nothing runs and nobody decided anything */
    sc = t_parse_ok("name: t\n" INV BUSY "duration: 6h\n"
                    "maintenance: {scheduler: hvfleet, hosts: [a, b], start: 1m}\n",
                    NULL);
    sim = t_run(sc);
    hvf_sim_get_stats(sim, &st);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(st.hosts_maintained, 0);
    assert_int_equal(st.migrations_started, 0);
    assert_int_equal(k.decision_us, -1);
    assert_int_equal(hvf_test_event_count(sim, "maintenance_unapproved"), 1);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);

    /* approved by a person: the decision comes after the plan, the migrations after the
     * decision, and both hosts are maintained */
    sc = t_parse_ok("name: t\n" INV BUSY "duration: 6h\n"
                    "maintenance: {scheduler: hvfleet, hosts: [a, b], start: 1m, "
                    "approval_delay: 20m}\n",
                    NULL);
    sim = t_run(sc);
    hvf_sim_get_stats(sim, &st);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(st.hosts_maintained, 2);
    assert_true(k.decision_us > k.event_us);
    assert_int_equal(k.decision_us, hvf_test_event_first_us(sim, "approval_requested", NULL) +
                                        sc->approval_delay_us);
    assert_true(hvf_test_event_first_us(sim, "migration_start", NULL) >= k.decision_us);
    assert_int_equal(st.hosts_over_committed, 0);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* ---- the twin's migration figures ---------------------------------------------------------- */

static void
test_migration_result(void **state)
{
    hvf_scenario *sc = t_parse_ok(HEAD, NULL);
    const hvf_fleet *f = sc->fleet;
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_migration_info mi;
    hvf_migrate_params mp;
    hvf_migrate_result est;
    int32_t id;

    hvf_sim_params_default(&p);
    p.duration_us = 3600 * S;
    p.migration_setup_min_us = p.migration_setup_max_us = S;
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_migration_result(sim, 0, &mi, &err), -1);
    assert_int_equal(err.code, HVF_ERR_NOT_FOUND);
    hvf_error_clear(&err);
    id = hvf_sim_start_migration(sim, hvf_fleet_find_vm(f, "v1"), hvf_fleet_find_host(f, "c"),
                                 &(hvf_sim_migrate_opts){.claim = true}, &err);
    assert_true(id >= 0);
    assert_int_equal(hvf_sim_migration_result(sim, id, &mi, &err), 0);
    assert_true(mi.active);
    assert_false(mi.completed);
    assert_true(mi.claimed);
    assert_int_equal(mi.end_us, -1);
    hvf_sim_run(sim);
    assert_int_equal(hvf_sim_migration_result(sim, id, &mi, &err), 0);
    assert_false(mi.active);
    assert_true(mi.completed);
    assert_true(mi.converged);
    assert_int_equal(mi.strategy, HVF_SIM_STRATEGY_PRECOPY);
    assert_true(mi.end_us > mi.start_us);

    /* a lone migration on the whole 1 Gbit/s NIC: what the model says at that bandwidth */
    hvf_migrate_params_default(&mp);
    mp.mem_bytes = 8 * HVF_GIB;
    mp.dirty_bytes_per_s = 5 * HVF_MIB;
    mp.working_set_bytes = HVF_GIB;
    mp.bandwidth_bytes_per_s = 125e6;
    mp.link_bytes_per_s = 125e6; /* the paused copy too: the NIC is all there is */
    assert_int_equal(hvf_migrate_estimate(&mp, &est, &err), 0);
    assert_int_equal(mi.rounds, est.rounds);
    assert_true(llabs(mi.downtime_us - est.downtime_us) <= est.downtime_us / 50 + 1000);
    assert_true(llabs(mi.end_us - mi.start_us - S - est.total_us) <= est.total_us / 100);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/*
 * The plan records what the twin did, not the prediction made before each migration: a host
 * with one VM gives it the whole migration share of its NIC, where the prediction assumes
 * max_migrations_out_per_host migrations sharing it.
 */
static void
test_plan_records_twin(void **state)
{
    hvf_scenario *sc = t_parse_ok(HEAD, NULL);
    int32_t d = hvf_fleet_find_host(sc->fleet, "d");
    hvf_maint_opts o;
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_error err = HVF_ERROR_INIT;
    hvf_migrate_params mp;
    hvf_migrate_result alone, shared;
    hvf_plan *plan;
    const hvf_plan_migration *m;

    hvf_policy_default(&pol); /* 50 % of 1 Gbit/s, 2 migrations out per host */
    hvf_migrate_params_default(&mp);
    mp.mem_bytes = 6 * HVF_GIB;
    mp.dirty_bytes_per_s = HVF_MIB;
    mp.working_set_bytes = 6 * HVF_GIB;
    mp.bandwidth_bytes_per_s = mp.link_bytes_per_s = 62.5e6;
    assert_int_equal(hvf_migrate_estimate(&mp, &alone, &err), 0);
    mp.bandwidth_bytes_per_s = 31.25e6;
    assert_int_equal(hvf_migrate_estimate(&mp, &shared, &err), 0);
    /* what the prediction would have said differs from what the twin does */
    assert_true(alone.downtime_us != shared.downtime_us || alone.rounds != shared.rounds);

    hvf_maint_opts_init(&o);
    o.hosts = &d;
    o.nhosts = 1;
    o.policy = &pol;
    plan = hvf_maintenance_plan(sc->fleet, &o, &res, &err);
    assert_non_null(plan);
    assert_int_equal(plan->nmigrations, 1);
    m = &plan->migrations[0];
    assert_string_equal(m->vm, "v5");
    assert_int_equal(m->rounds, alone.rounds);
    assert_true(llabs(m->downtime_us - alone.downtime_us) <= alone.downtime_us / 50 + 1000);
    assert_true(m->converged);
    assert_int_equal(m->strategy, HVF_PLAN_MIGRATION_PRECOPY);
    assert_true(hvf_plan_hash_ok(plan));
    hvf_plan_free(plan);
    hvf_scenario_free(sc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_registry), /* registers the planner's scheduler */
        cmocka_unit_test(test_run_as_planned),
        cmocka_unit_test(test_run_seatbelt),
        cmocka_unit_test(test_migration_result),
        cmocka_unit_test(test_plan_records_twin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
