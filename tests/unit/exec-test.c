/* SPDX-License-Identifier: MIT */
/*
 * The executor on the sim driver: randomized runs with the ledger and limits checked after
 * every event, and each deviation kind (slower migrations, a worse re-plan, non-convergence, a
 * host crash, a failed migration, a stale fleet, a freeze mid-run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/driver.h"
#include "hvfleet/exec.h"
#include "hvfleet/freeze.h"
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"

typedef struct xt {
    char dir[256];
    char inv[300];
    char state[300];
    hvf_fleet *fleet;
    hvf_policy policy;
    hvf_plan *plan;
    /* events seen */
    char *events; /* owned, one per line */
    size_t nevents;
    bool freeze_on_first_end;
    int control_on_first_start; /* an operator's request (HVF_STORE_CONTROL_*), 0 = none */
    const char *control_on;     /* the event that carries it; NULL: the first migration_start */
    bool allow_refused; /* randomized fleets: a refused plan is skipped, not a failure */
} xt;

static void
xt_on_event(const char *json, void *ctx)
{
    xt *t = ctx;
    size_t len = t->events ? strlen(t->events) : 0;

    t->events = hvf_realloc(t->events, len + strlen(json) + 2);
    memcpy(t->events + len, json, strlen(json));
    t->events[len + strlen(json)] = '\n';
    t->events[len + strlen(json) + 1] = '\0';
    t->nevents++;
    if (t->control_on_first_start &&
        strstr(json, t->control_on ? t->control_on : "\"migration_start\"")) {
        hvf_error err = HVF_ERROR_INIT;
        int64_t id;

        assert_int_equal(hvf_exec_control(t->state, t->control_on_first_start, &id, &err), 0);
        t->control_on_first_start = 0;
    }
    if (t->freeze_on_first_end && strstr(json, "\"migration_end\"")) {
        hvf_error err = HVF_ERROR_INIT;

        t->freeze_on_first_end = false;
        assert_int_equal(hvf_freeze_set(t->state, "test freeze", "tester", &err), 0);
    }
}

static size_t
xt_count(const xt *t, const char *needle)
{
    size_t n = 0;

    for (const char *p = t->events; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void
xt_setup(xt *t, uint32_t hosts, uint32_t vms, uint64_t seed)
{
    hvf_generate_params g;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *gen;

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s/hvf-exec-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR")
                                                                              : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->inv, sizeof(t->inv), "%s/fleet.yaml", t->dir);
    snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
    hvf_generate_params_init(&g);
    g.hosts = hosts;
    g.vms_per_host = vms;
    g.seed = seed;
    g.zones = 1 + (uint32_t)(seed % 2);
    g.racks_per_zone = 1 + (uint32_t)(seed % 3);
    gen = hvf_generate_fleet(&g, &err);
    assert_non_null(gen);
    /* the same hosts and VMs without services: replicas spread over few hosts could not all
     * move, and these tests are about the executor */
    t->fleet = hvf_fleet_new();
    for (size_t i = 0; i < gen->nhosts; i++) {
        hvf_host h = gen->hosts[i];

        h.zone = hvf_fleet_zone_ensure(t->fleet, gen->zones[h.zone].name);
        h.rack = hvf_fleet_rack_ensure(t->fleet, h.zone, gen->racks[gen->hosts[i].rack].name);
        assert_true(hvf_fleet_add_host(t->fleet, &h, &err) >= 0);
    }
    for (size_t i = 0; i < gen->nvms; i++) {
        hvf_vm v = gen->vms[i];

        v.service = -1;
        assert_true(hvf_fleet_add_vm(t->fleet, &v, HVF_OVERCOMMIT, &err) >= 0);
    }
    hvf_fleet_free(gen);
    assert_int_equal(hvf_inventory_save(t->fleet, t->inv, &err), 0);
    hvf_policy_default(&t->policy);
}

static void
xt_plan(xt *t)
{
    hvf_maint_opts o;
    hvf_error err = HVF_ERROR_INIT;
    int32_t *hosts = hvf_calloc(t->fleet->nhosts, sizeof(int32_t));

    for (size_t i = 0; i < t->fleet->nhosts; i++)
        hosts[i] = (int32_t)i;
    hvf_maint_opts_init(&o);
    o.kind = HVF_PLAN_KIND_MAINTENANCE;
    o.strategy = HVF_PLAN_STRATEGY_HVFLEET;
    o.hosts = hosts;
    o.nhosts = t->fleet->nhosts;
    o.policy = &t->policy;
    t->plan = hvf_maintenance_plan(t->fleet, &o, NULL, &err);
    free(hosts);
    assert_non_null(t->plan);
    if (t->plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED && !t->allow_refused)
        fail_msg("the plan is refused: %s", t->plan->summary.reasons[0]);
    if (t->plan->summary.verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL)
        assert_int_equal(hvf_approval_record(t->state, t->plan, "approver", &err), 0);
}

/* Runs the plan on sim:INV with @deviations (the entries of the file's list, or NULL); the ledger is checked after
 * every event (a violation fails the run with -1). */
static hvf_exec_summary
xt_run(xt *t, const char *deviations, bool resume)
{
    HVF_AUTOFREE char *devpath = hvf_asprintf("%s/dev.json", t->dir);
    HVF_AUTOFREE char *uri = NULL;
    hvf_driver_opts dopts = {0};
    hvf_exec_opts o;
    hvf_exec_summary sum;
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *conn;
    int rc;

    if (deviations) {
        FILE *fp = fopen(devpath, "w");

        assert_non_null(fp);
        fprintf(fp, "{\"schema\":\"hvfleet.sim-deviations/v1\",\"deviations\":[%s]}",
                deviations);
        fclose(fp);
        uri = hvf_asprintf("sim://%s?deviations=%s", t->inv, devpath);
    } else {
        uri = hvf_asprintf("sim://%s", t->inv);
    }
    dopts.state_dir = t->state;
    dopts.migration_nic_share = t->policy.migration_share;
    assert_int_equal(hvf_state_dir_ensure(t->state, &err), 0);
    conn = hvf_driver_open(uri, &dopts, &err);
    if (!conn)
        fail_msg("driver: %s", err.msg);
    hvf_exec_opts_init(&o);
    o.state_dir = t->state;
    o.policy = &t->policy;
    o.check_ledger = true;
    o.resume = resume;
    o.on_event = xt_on_event;
    o.ctx = t;
    rc = hvf_exec_run(conn, t->plan, &o, &sum, &err);
    if (getenv("HVF_TEST_DEBUG"))
        fprintf(stderr, "%s-- %s: %s\n", t->events ? t->events : "",
                hvf_exec_result_names[sum.result], sum.note);
    if (rc < 0)
        fail_msg("run: %s", err.msg);
    hvf_driver_close(conn);
    return sum;
}

/* After a run: no claim left in the store, every VM on exactly one host. */
static void
xt_after(xt *t, int64_t run)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvf_store_open(t->state, &err);
    hvf_store_claim *c = NULL;
    HVF_AUTOFREE char *uri = hvf_asprintf("sim://%s", t->inv);
    hvf_driver_opts dopts = {.state_dir = t->state};
    hvf_conn *conn;
    hvf_drv_vm *vms = NULL;
    long n;

    assert_non_null(st);
    assert_int_equal(hvf_store_claims(st, run, &c, &err), 0);
    free(c);
    hvf_store_close(st);
    conn = hvf_driver_open(uri, &dopts, &err);
    assert_non_null(conn);
    n = hvf_driver_list_vms(conn, &vms, &err);
    assert_int_equal(n, (long)t->fleet->nvms);
    for (long i = 0; i < n; i++) {
        assert_true(vms[i].host[0] != '\0');
        assert_int_equal(vms[i].job, -1);
    }
    free(vms);
    hvf_driver_close(conn);
}

/* Every host of the sim driver's world is in service (nothing left draining). */
static void
xt_all_active(xt *t)
{
    HVF_AUTOFREE char *uri = hvf_asprintf("sim://%s", t->inv);
    hvf_driver_opts dopts = {.state_dir = t->state};
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *conn = hvf_driver_open(uri, &dopts, &err);
    hvf_drv_host *hosts = NULL;
    long n;

    assert_non_null(conn);
    n = hvf_driver_list_hosts(conn, &hosts, &err);
    assert_true(n > 0);
    for (long i = 0; i < n; i++)
        assert_int_equal(hosts[i].state, HVF_DRV_HOST_ACTIVE);
    free(hosts);
    hvf_driver_close(conn);
}

static void
xt_free(xt *t)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", t->dir);

    hvf_plan_free(t->plan);
    hvf_fleet_free(t->fleet);
    free(t->events);
    if (system(cmd) != 0)
        fail_msg("cannot remove %s", t->dir);
}

/* Randomized fleets and limits: the ledger and limits hold at every event, every host is
 * maintained, and the run takes what the plan predicted (same twin, same order). */
static void
test_randomized(void **state)
{
    int ran = 0;

    for (uint64_t seed = 1; seed <= 10; seed++) {
        xt t;
        hvf_exec_summary s;
        double ratio;

        xt_setup(&t, 5 + (uint32_t)(seed * 3 % 7), 3 + (uint32_t)(seed % 5), seed);
        t.policy.max_parallel_hosts = 1 + (uint32_t)(seed % 3);
        t.policy.max_migrations_out_per_host = 1 + (uint32_t)(seed % 2);
        t.policy.max_migrations_in_per_host = 1 + (uint32_t)((seed / 2) % 3);
        t.policy.seatbelt.max_capacity_offline = 1;
        t.allow_refused = true;
        xt_plan(&t);
        if (t.plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED) {
            xt_free(&t);
            continue;
        }
        ran++;
        s = xt_run(&t, NULL, false);
        if (s.result != HVF_EXEC_DONE)
            fail_msg("seed %" PRIu64 ": %s: %s", seed, hvf_exec_result_names[s.result], s.note);
        assert_int_equal(s.hosts_done, t.plan->nhosts);
        assert_int_equal(s.migrations_failed, 0);
        if (s.replans == 0)
            assert_int_equal(s.migrations_done, t.plan->nmigrations);
        ratio = (double)s.actual_makespan_us / (double)s.predicted_makespan_us;
        /* the same twin and the plan's order: what it predicted, unless it re-planned */
        if (s.replans == 0 && (ratio < 0.9 || ratio > 1.1))
            fail_msg("seed %" PRIu64 ": actual/predicted makespan %.3f", seed, ratio);
        xt_after(&t, s.run_id);
        xt_free(&t);
    }
    assert_true(ran >= 6);
}

/* A link at a fifth of its speed makes the first drain's migrations late: the rest is
 * re-planned from the fleet as it is, and the run goes on. */
static void
test_slow_link_replans(void **state)
{
    xt t;
    hvf_exec_summary s;
    char dev[512];

    xt_setup(&t, 6, 5, 11);
    t.policy.max_parallel_hosts = 1;
    xt_plan(&t);
    snprintf(dev, sizeof(dev),
             "{\"at\":\"1s\",\"kind\":\"link\",\"host\":\"%s\",\"factor\":0.2}",
             t.plan->hosts[0].host);
    s = xt_run(&t, dev, false);
    assert_true(s.replans >= 1);
    assert_true(xt_count(&t, "\"event\":\"deviation\"") >= 1);
    assert_true(xt_count(&t, "\"goes_on\":true") >= 1);
    assert_int_equal(s.result, HVF_EXEC_DONE);
    assert_true(s.actual_makespan_us > s.predicted_makespan_us);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A host whose maintenance takes three times what the plan says: the hosts after it are
 * re-planned from the fleet as it is, and the run goes on. */
static void
test_slow_maintenance_replans(void **state)
{
    xt t;
    hvf_exec_summary s;
    char dev[512];

    xt_setup(&t, 6, 4, 13);
    t.policy.max_parallel_hosts = 1;
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    snprintf(dev, sizeof(dev),
             "{\"kind\":\"slow-maintenance\",\"host\":\"%s\",\"factor\":3}",
             t.plan->hosts[0].host);
    s = xt_run(&t, dev, false);
    assert_non_null(strstr(t.events, "\"maintenance_s\""));
    assert_true(s.replans >= 1);
    assert_int_equal(s.result, HVF_EXEC_DONE);
    assert_true(s.actual_makespan_us > s.predicted_makespan_us);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A re-plan whose verdict is worse (a VM became too busy to converge, which needs a person)
 * pauses the run until someone approves it; then --resume finishes. */
static void
test_worse_replan_pauses(void **state)
{
    xt t;
    hvf_exec_summary s;
    char dev[768];
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    hvf_store_run run;
    char *text = NULL;
    hvf_plan *replan;
    hvf_diags diags;
    const char *busy = NULL;
    const char *h;

    xt_setup(&t, 6, 5, 11);
    t.policy.max_parallel_hosts = 1;
    t.policy.seatbelt.max_hosts_without_approval = 100;
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    if (t.plan->summary.verdict != HVF_PLAN_VERDICT_AUTO)
        fail_msg("the plan needs approval: %s", t.plan->summary.reasons[0]);
    for (size_t i = 0; i < t.plan->nmigrations && !busy; i++) {
        if (strcmp(t.plan->migrations[i].from, t.plan->hosts[t.plan->nhosts - 1].host) == 0)
            busy = t.plan->migrations[i].vm;
    }
    assert_non_null(busy);
    /* the first host's link slows down (a late migration: re-plan) and a VM of the last host
     * starts dirtying memory faster than any link carries */
    snprintf(dev, sizeof(dev),
             "{\"at\":\"1s\",\"kind\":\"dirty-rate\",\"vm\":\"%s\",\"factor\":1000},"
             "{\"at\":\"1s\",\"kind\":\"link\",\"host\":\"%s\",\"factor\":0.1}",
             busy, t.plan->hosts[0].host);
    s = xt_run(&t, dev, false);
    assert_int_equal(s.result, HVF_EXEC_PAUSED);
    assert_non_null(strstr(s.note, "worse than auto"));
    st = hvf_store_open(t.state, &err);
    assert_non_null(st);
    assert_int_equal(hvf_store_run_get(st, 0, &run, &err), 1);
    assert_int_equal(run.state, HVF_STORE_RUN_PAUSED);
    h = strstr(s.note, "replans/");
    assert_non_null(h);
    {
        char hash[65];

        memcpy(hash, h + strlen("replans/"), 64);
        hash[64] = '\0';
        text = hvf_store_plan_text(st, hash, &err);
    }
    hvf_store_close(st);
    assert_non_null(text);
    hvf_diags_init(&diags);
    replan = hvf_plan_parse("replan", text, strlen(text), &diags, &err);
    free(text);
    hvf_diags_clear(&diags);
    assert_non_null(replan);
    assert_int_equal(replan->summary.verdict, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    /* not approved yet: resuming pauses again at once */
    s = xt_run(&t, dev, true);
    assert_int_equal(s.result, HVF_EXEC_PAUSED);
    assert_int_equal(hvf_approval_record(t.state, replan, "approver", &err), 0);
    s = xt_run(&t, dev, true);
    if (s.result != HVF_EXEC_DONE && s.result != HVF_EXEC_PARTIAL)
        fail_msg("after approval: %s: %s", hvf_exec_result_names[s.result], s.note);
    hvf_plan_free(replan);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A host that crashes while it is drained: it is not maintained (lost), the others are. */
static void
test_host_crash_mid_drain(void **state)
{
    xt t;
    hvf_exec_summary s;
    char dev[512];

    xt_setup(&t, 7, 4, 5);
    t.policy.max_parallel_hosts = 1;
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    snprintf(dev, sizeof(dev),
             "{\"at\":\"2s\",\"kind\":\"host-crash\",\"host\":\"%s\"}",
             t.plan->hosts[0].host);
    s = xt_run(&t, dev, false);
    assert_int_equal(s.result, HVF_EXEC_PARTIAL);
    assert_true(s.hosts_failed >= 1);
    assert_true(s.hosts_done >= t.plan->nhosts - 2);
    assert_true(xt_count(&t, "\"event\":\"host_lost\"") == 1);
    assert_non_null(strstr(t.events, "\"event\":\"host_lost\""));
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A migration that fails: its VM stays, its host is not maintained and is back in service. */
static void
test_failed_migration(void **state)
{
    xt t;
    hvf_exec_summary s;
    char dev[512];
    const char *vm;

    xt_setup(&t, 6, 4, 3);
    t.policy.max_parallel_hosts = 1;
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    vm = t.plan->migrations[0].vm;
    snprintf(dev, sizeof(dev),
             "{\"kind\":\"migration-fail\",\"vm\":\"%s\"}",
             vm);
    s = xt_run(&t, dev, false);
    assert_int_equal(s.result, HVF_EXEC_PARTIAL);
    assert_true(s.migrations_failed >= 1);
    assert_true(s.hosts_failed >= 1);
    assert_non_null(strstr(t.events, "injected failure"));
    assert_true(xt_count(&t, "\"event\":\"host_returned\"") >= 1);
    xt_all_active(&t);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A fleet that changed since the plan was made: refused, and nothing changed. */
static void
test_stale_refused(void **state)
{
    xt t;
    hvf_exec_summary s;
    hvf_error err = HVF_ERROR_INIT;
    struct stat sb;
    HVF_AUTOFREE char *world = NULL;

    xt_setup(&t, 5, 3, 2);
    xt_plan(&t);
    t.fleet->vms[0].mem_mib *= 2;
    t.fleet->hosts[t.fleet->vms[0].host].used.mem_mib += t.fleet->vms[0].mem_mib / 2;
    assert_int_equal(hvf_inventory_save(t.fleet, t.inv, &err), 0);
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_REFUSED);
    assert_non_null(strstr(s.note, "stale"));
    /* the driver never acted: the world of this fleet, if written, holds no job */
    {
        char fp[65];

        hvf_inventory_fingerprint(t.fleet, fp);
        world = hvf_asprintf("%s/sim-world-%.12s.json", t.state, fp);
    }
    if (stat(world, &sb) == 0) {
        size_t len;
        FILE *fp = fopen(world, "r");
        char *buf = hvf_calloc(1, (size_t)sb.st_size + 1);

        len = fread(buf, 1, (size_t)sb.st_size, fp);
        fclose(fp);
        buf[len] = '\0';
        assert_non_null(strstr(buf, "\"jobs\":[]"));
        free(buf);
    }
    xt_free(&t);
}

/* A freeze while the run goes: nothing new starts, the run pauses; unfrozen, --resume ends it. */
static void
test_freeze_mid_run(void **state)
{
    xt t;
    hvf_exec_summary s;
    hvf_error err = HVF_ERROR_INIT;

    xt_setup(&t, 6, 4, 7);
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    t.freeze_on_first_end = true;
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_PAUSED);
    assert_non_null(strstr(s.note, "frozen"));
    assert_true(s.migrations_done < t.plan->nmigrations);
    s = xt_run(&t, NULL, true);
    assert_int_equal(s.result, HVF_EXEC_PAUSED); /* still frozen */
    assert_int_equal(hvf_freeze_clear(t.state, &err), 0);
    s = xt_run(&t, NULL, true);
    assert_int_equal(s.result, HVF_EXEC_DONE);
    assert_int_equal(s.hosts_done, t.plan->nhosts);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* Non-convergence as the plan says: a VM too busy for pre-copy is migrated with auto-converge
 * or post-copy, or shut down and started again, per the policy. */
static void
test_non_convergence(void **state)
{
    static const hvf_non_converging actions[] = {HVF_NON_CONVERGING_AUTO_CONVERGE,
                                                 HVF_NON_CONVERGING_POST_COPY,
                                                 HVF_NON_CONVERGING_SHUTDOWN};

    for (size_t k = 0; k < HVF_ARRAY_LEN(actions); k++) {
        xt t;
        hvf_exec_summary s;
        hvf_error err = HVF_ERROR_INIT;

        xt_setup(&t, 5, 3, 4);
        /* one VM dirties faster than any link carries */
        t.fleet->vms[0].dirty_bytes_per_s = 2e9;
        t.fleet->vms[0].working_set_mib = t.fleet->vms[0].mem_mib;
        assert_int_equal(hvf_inventory_save(t.fleet, t.inv, &err), 0);
        t.policy.non_converging = actions[k];
        t.policy.seatbelt.max_capacity_offline = 1;
        xt_plan(&t);
        s = xt_run(&t, NULL, false);
        if (s.result != HVF_EXEC_DONE)
            fail_msg("%s: %s (%s)", hvf_non_converging_to_string(actions[k]),
                     hvf_exec_result_names[s.result], s.note);
        if (actions[k] == HVF_NON_CONVERGING_SHUTDOWN)
            assert_true(s.vms_stopped >= 1);
        if (actions[k] == HVF_NON_CONVERGING_POST_COPY)
            assert_true(xt_count(&t, "migration_postcopy") + (size_t)(t.plan->nstops) >= 1);
        xt_after(&t, s.run_id);
        xt_free(&t);
    }
}

/* An operator pauses a run from elsewhere: running migrations finish, nothing new starts;
 * --resume ends it. */
static void
test_pause_resume(void **state)
{
    xt t;
    hvf_exec_summary s;

    xt_setup(&t, 6, 4, 9);
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    t.control_on_first_start = HVF_STORE_CONTROL_PAUSE;
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_PAUSED);
    assert_true(s.migrations_done >= 1);
    assert_true(s.migrations_done < t.plan->nmigrations);
    s = xt_run(&t, NULL, true);
    assert_int_equal(s.result, HVF_EXEC_DONE);
    assert_int_equal(s.hosts_done, t.plan->nhosts);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* Abort with --cancel-running: migrations in flight are cancelled, nothing new starts, every
 * host is back in service and no claim is left. */
static void
test_abort_cancel(void **state)
{
    xt t;
    hvf_exec_summary s;

    xt_setup(&t, 6, 4, 9);
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    t.control_on_first_start = HVF_STORE_CONTROL_ABORT_CANCEL;
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_ABORTED);
    assert_int_equal(s.migrations_done, 0);
    assert_true(xt_count(&t, "\"event\":\"run_aborting\"") == 1);
    xt_all_active(&t);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* An abort that lands between the executor's look at the run's control and its next start is
 * seen by the start's own check: the run aborts, it doesn't stop paused "by an operator". */
static void
test_abort_between_checks(void **state)
{
    xt t;
    hvf_exec_summary s;

    xt_setup(&t, 6, 4, 9);
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    t.control_on_first_start = HVF_STORE_CONTROL_ABORT;
    t.control_on = "\"host_draining\"";
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_ABORTED);
    assert_int_equal(s.migrations_done, 0);
    assert_true(xt_count(&t, "\"event\":\"run_aborting\"") == 1);
    xt_all_active(&t);
    xt_after(&t, s.run_id);
    xt_free(&t);
}

/* A migration whose intent was journaled and whose job ran to its end, but whose outcome was
 * never written (its process killed, or its controller's lease lost, in between): the resume
 * finds the VM on its target, journals it as done, and does not start it again. */
static void
test_resume_finds_ended(void **state)
{
    xt t;
    hvf_exec_summary s;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    hvf_store_entry *j = NULL, e = {0};
    const hvf_plan_migration *pm = NULL;
    HVF_AUTOFREE char *uri = NULL;
    hvf_driver_opts dopts = {0};
    hvf_conn *conn;
    int64_t job;
    long n, notes = 0, starts = 0;

    xt_setup(&t, 6, 4, 9);
    t.policy.seatbelt.max_capacity_offline = 1;
    xt_plan(&t);
    t.control_on_first_start = HVF_STORE_CONTROL_PAUSE;
    s = xt_run(&t, NULL, false);
    assert_int_equal(s.result, HVF_EXEC_PAUSED);
    /* a migration of the plan the paused run has not begun: its intent, and its job to the end */
    st = hvf_store_open(t.state, &err);
    assert_non_null(st);
    n = hvf_store_journal(st, s.run_id, &j, &err);
    assert_true(n > 0);
    for (size_t i = 0; i < t.plan->nmigrations && !pm; i++) {
        bool begun = false;

        for (long k = 0; k < n; k++)
            begun |= j[k].kind == HVF_STORE_INTENT && strcmp(j[k].action, "migrate") == 0 &&
                     strcmp(j[k].vm, t.plan->migrations[i].vm) == 0;
        if (!begun)
            pm = &t.plan->migrations[i];
    }
    free(j);
    assert_non_null(pm);
    e.run = s.run_id;
    e.kind = HVF_STORE_INTENT;
    e.job = -1;
    hvf_strlcpy(e.action, "migrate", sizeof(e.action));
    hvf_strlcpy(e.vm, pm->vm, sizeof(e.vm));
    hvf_strlcpy(e.host, pm->from, sizeof(e.host));
    hvf_strlcpy(e.target, pm->to, sizeof(e.target));
    hvf_strlcpy(e.detail, "ref 0", sizeof(e.detail));
    assert_int_equal(hvf_store_journal_append(st, &e, &err), 0);
    uri = hvf_asprintf("sim://%s", t.inv);
    dopts.state_dir = t.state;
    conn = hvf_driver_open(uri, &dopts, &err);
    assert_non_null(conn);
    job = hvf_driver_migrate(conn, pm->vm, pm->to, NULL, &err);
    assert_true(job >= 0);
    for (int i = 0; i < 10000; i++) {
        hvf_job_info info;
        hvf_drv_event evs[16];
        size_t nevs;

        assert_int_equal(hvf_driver_poll(conn, 1000000, evs, 16, &nevs, &err), 0);
        assert_int_equal(hvf_driver_job_info(conn, job, &info, &err), 0);
        if (info.state >= HVF_JOB_COMPLETED) {
            assert_int_equal(info.state, HVF_JOB_COMPLETED);
            break;
        }
    }
    hvf_driver_close(conn);
    s = xt_run(&t, NULL, true);
    assert_int_equal(s.result, HVF_EXEC_DONE);
    n = hvf_store_journal(st, s.run_id, &j, &err);
    for (long k = 0; k < n; k++) {
        if (strcmp(j[k].vm, pm->vm) != 0)
            continue;
        notes += j[k].kind == HVF_STORE_NOTE && strcmp(j[k].action, "migrated") == 0 &&
                 strcmp(j[k].host, pm->from) == 0 && strcmp(j[k].result, "completed") == 0 &&
                 strstr(j[k].detail, "found on its target") != NULL;
        starts += j[k].kind == HVF_STORE_OUTCOME && strcmp(j[k].action, "migrate") == 0 &&
                  strcmp(j[k].host, pm->from) == 0 && strcmp(j[k].result, "started") == 0;
    }
    free(j);
    hvf_store_close(st);
    assert_int_equal(notes, 1);  /* the journal says it ended */
    assert_int_equal(starts, 0); /* and it was not started again */
    xt_after(&t, s.run_id);
    xt_free(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_randomized),
        cmocka_unit_test(test_slow_link_replans),
        cmocka_unit_test(test_slow_maintenance_replans),
        cmocka_unit_test(test_worse_replan_pauses),
        cmocka_unit_test(test_host_crash_mid_drain),
        cmocka_unit_test(test_failed_migration),
        cmocka_unit_test(test_stale_refused),
        cmocka_unit_test(test_freeze_mid_run),
        cmocka_unit_test(test_non_convergence),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_abort_cancel),
        cmocka_unit_test(test_abort_between_checks),
        cmocka_unit_test(test_resume_finds_ended),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
