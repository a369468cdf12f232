/* SPDX-License-Identifier: MIT */
/*
 * Our side of the Ganeti hroller comparison: carries out a maintenance in the twin, as hroller
 * grouped it or as `hvfleet plan maintenance` planned it, and prints what it did to the fleet
 * (bench/run drives it and prints the table). A benchmark, not a test.
 *
 *   peer-hroller groups INVENTORY HROLLER_OUTPUT [--policy FILE]
 *       the reboot groups printed by `hroller -t FILE` (one line of comma-separated nodes per
 *       group), with the moves of `--print-moves` when given (after its group, one line
 *       "  INSTANCE NODE" per instance), executed by bench/exec-groups.c
 *   peer-hroller plan INVENTORY PLAN [--policy FILE]
 *       an hvfleet.plan/v1 file, executed by bench/exec-plan.c
 *
 * Both executions share the twin's parameters and the maintenance policy (its defaults, or
 * FILE: per-host migration limits, NIC share, headroom, downtime limit, maintenance time, what
 * to do with guests that out-dirty their link), so what differs is only what the tools decided:
 * which hosts go together, in which order, to which targets. Output: "key value" lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/inventory.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "twin-exec.h"

#define EXEC_DAYS 30 /* simulated time allowed; what is not done by then is reported */

/* The executors' limits and the twin's parameters from @pol, as the planner applies them. */
static void
exec_setup(const hvf_policy *pol, bench_exec_opts *o, hvf_sim_params *p)
{
    memset(o, 0, sizeof(*o));
    o->out_per_host = pol->max_migrations_out_per_host;
    o->in_per_host = pol->max_migrations_in_per_host;
    o->headroom_share = pol->headroom_share;
    o->maintenance_us = pol->maintenance_time_us;
    o->retry_us = 60 * HVF_US_PER_S;
    o->max_retries = 3;
    switch (pol->non_converging) {
    case HVF_NON_CONVERGING_AUTO_CONVERGE:
        o->strategy = HVF_SIM_STRATEGY_AUTO_CONVERGE;
        break;
    case HVF_NON_CONVERGING_POST_COPY:
        o->strategy = HVF_SIM_STRATEGY_POSTCOPY;
        break;
    default:
        o->strategy = HVF_SIM_STRATEGY_PRECOPY;
        break;
    }
    hvf_sim_params_default(p);
    p->duration_us = EXEC_DAYS * 24 * 3600 * HVF_US_PER_S;
    p->metrics_interval_us = 600 * HVF_US_PER_S;
    p->migration_nic_share = pol->migration_share;
    p->migration_max_bytes_per_s = pol->migration_bandwidth_bytes_per_s;
    p->downtime_limit_us = pol->downtime_limit_us;
    p->strategy = o->strategy;
    p->record_events = false;
    p->record_host_series = false;
}

static void
print_results(hvf_sim *sim, const bench_exec_report *rep, double wall)
{
    hvf_sim_stats st;

    hvf_sim_get_stats(sim, &st);
    printf("wall_s %.6f\n", wall);
    printf("hosts_planned %u\nhosts_maintained %u\n", rep->hosts_planned, rep->hosts_maintained);
    printf("makespan_s %.3f\n", rep->last_back_us >= 0 && rep->first_evacuation_us >= 0
                                    ? (double)(rep->last_back_us - rep->first_evacuation_us) / 1e6
                                    : -1.0);
    printf("migrations %" PRIu64 "\naborted %" PRIu64 "\n", st.migrations_completed,
           st.migrations_aborted);
    printf("peak_memory_ratio %.4f\nhosts_over_committed %u\n", st.peak_host_memory_ratio,
           st.hosts_over_committed);
    printf("peak_migrations %u\npeak_evacuating %u\n", st.peak_concurrent_migrations,
           st.peak_concurrent_evacuations);
    printf("peak_offline_hosts %u\npeak_offline_share %.4f\n", rep->peak_offline_hosts,
           rep->peak_offline_share);
    printf("vms_parked %u\nparked_s %.1f\nvms_moved_twice %u\n", rep->vms_parked,
           (double)rep->parked_us / 1e6, rep->vms_moved_twice);
    printf("vms_crashed %u\nvms_rebooted %u\n", st.vms_crashed, st.vms_rebooted);
    printf("late_steps %u\nmax_lateness_s %.1f\nstuck_steps %u\nredirected_steps %u\n",
           rep->late_steps, (double)rep->max_lateness_us / 1e6, rep->stuck_steps,
           rep->redirected_steps);
    printf("returns %u\nreturns_given_up %u\n", rep->returns, rep->returns_given_up);
}

static void
free_groups(int32_t **groups, size_t *sizes, int32_t **targets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(groups[i]);
        if (targets)
            free(targets[i]);
    }
    free(groups);
    free(sizes);
    free(targets);
}

/* An indented --print-moves line of the last group: "  INSTANCE NODE". */
static int
read_move(const char *path, int lineno, char *line, const hvf_fleet *f, size_t ngroups,
          int32_t **targets, size_t *nmoves)
{
    char vm_name[128], node[128];
    int32_t vm, h;

    if (sscanf(line, " %127s %127s", vm_name, node) != 2 || ngroups == 0) {
        fprintf(stderr, "peer-hroller: %s:%d: '%s': expected '  INSTANCE NODE' after a group\n",
                path, lineno, line);
        return -1;
    }
    vm = hvf_fleet_find_vm(f, vm_name);
    h = hvf_fleet_find_host(f, node);
    if (vm < 0 || h < 0) {
        fprintf(stderr, "peer-hroller: %s:%d: %s '%s': not in the inventory\n", path, lineno,
                vm < 0 ? "instance" : "node", vm < 0 ? vm_name : node);
        return -1;
    }
    targets[ngroups - 1][vm] = h;
    (*nmoves)++;
    return 0;
}

/*
 * Reads hroller's groups: one line of comma-separated node names per group, each followed by
 * its moves when hroller ran with --print-moves (*@targets stays NULL without any).
 */
static int
read_groups(const char *path, const hvf_fleet *f, int32_t ***groups, size_t **sizes, size_t *n,
            int32_t ***targets)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, gcap = 0, scap = 0, tcap = 0, nmoves = 0;
    int lineno = 0, rc = 0;

    *groups = NULL;
    *sizes = NULL;
    *targets = NULL;
    *n = 0;
    if (!fp) {
        fprintf(stderr, "peer-hroller: %s: cannot open\n", path);
        return -1;
    }
    while (getline(&line, &cap, fp) > 0) {
        char *save = NULL, *tok;
        int32_t *g = NULL;
        size_t ng = 0, ncap = 0;

        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        /* the header ('Node Reboot Groups') */
        if (line[0] == '\0' || line[0] == '\'')
            continue;
        if (line[0] == ' ') {
            if (read_move(path, lineno, line, f, *n, *targets, &nmoves) < 0) {
                rc = -1;
                break;
            }
            continue;
        }
        for (tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int32_t h = hvf_fleet_find_host(f, tok);

            if (h < 0) {
                fprintf(stderr, "peer-hroller: %s:%d: node '%s': not in the inventory\n", path,
                        lineno, tok);
                rc = -1;
                break;
            }
            hvf_grow(&g, &ncap, ng + 1, sizeof(int32_t));
            g[ng++] = h;
        }
        if (rc < 0) {
            free(g);
            break;
        }
        hvf_grow(groups, &gcap, *n + 1, sizeof(int32_t *));
        hvf_grow(sizes, &scap, *n + 1, sizeof(size_t));
        hvf_grow(targets, &tcap, *n + 1, sizeof(int32_t *));
        (*targets)[*n] = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
        for (size_t v = 0; v < f->nvms; v++)
            (*targets)[*n][v] = -1;
        (*groups)[*n] = g;
        (*sizes)[(*n)++] = ng;
    }
    free(line);
    fclose(fp);
    if (rc == 0 && *n == 0) {
        fprintf(stderr, "peer-hroller: %s: no reboot groups\n", path);
        rc = -1;
    }
    if (rc < 0) {
        free_groups(*groups, *sizes, *targets, *n);
        *groups = *targets = NULL;
        *sizes = NULL;
        *n = 0;
        return rc;
    }
    if (nmoves == 0 && *targets) { /* groups alone: no --print-moves */
        for (size_t i = 0; i < *n; i++)
            free((*targets)[i]);
        free(*targets);
        *targets = NULL;
    }
    return rc;
}

static int
run_groups(const hvf_fleet *f, const char *path, const hvf_policy *pol)
{
    int32_t **groups, **targets;
    size_t *sizes, n;
    bench_exec_opts o;
    bench_exec_report rep;
    hvf_sim_params p;
    hvf_sim_controller ctl = {0};
    hvf_sim *sim;
    void *ctx;
    double t0;

    if (read_groups(path, f, &groups, &sizes, &n, &targets) < 0)
        return 2;
    exec_setup(pol, &o, &p);
    t0 = bench_now();
    sim = hvf_sim_new(f, &p, NULL, 0);
    ctx = bench_exec_groups_new(&o, groups, sizes, n, targets, f->nvms, &ctl);
    hvf_sim_set_controller(sim, &ctl);
    hvf_sim_run(sim);
    bench_exec_groups_report(ctx, &rep);
    printf("groups %zu\nhroller_moves %s\n", n, targets ? "yes" : "no");
    print_results(sim, &rep, bench_now() - t0);
    hvf_sim_free(sim);
    bench_exec_groups_free(ctx);
    free_groups(groups, sizes, targets, n);
    return 0;
}

static int
run_plan(const hvf_fleet *f, const char *path, const hvf_policy *pol)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    bench_exec_opts o;
    bench_exec_report rep;
    hvf_sim_params p;
    hvf_sim_controller ctl = {0};
    hvf_plan *plan;
    hvf_sim *sim;
    void *ctx;
    double t0;

    hvf_diags_init(&diags);
    plan = hvf_plan_load(path, &diags, &err);
    if (!plan) {
        hvf_diags_print(&diags, stderr);
        fprintf(stderr, "peer-hroller: %s\n", err.msg);
        hvf_diags_clear(&diags);
        return 2;
    }
    hvf_diags_clear(&diags);
    exec_setup(pol, &o, &p);
    ctx = bench_exec_plan_new(&o, plan, f, &ctl, &err);
    if (!ctx) {
        fprintf(stderr, "peer-hroller: %s: %s\n", path, err.msg);
        hvf_plan_free(plan);
        return 2;
    }
    t0 = bench_now();
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_sim_set_controller(sim, &ctl);
    hvf_sim_run(sim);
    bench_exec_plan_report(ctx, &rep);
    printf("planned_makespan_s %.3f\n", (double)plan->summary.makespan_ms / 1e3);
    print_results(sim, &rep, bench_now() - t0);
    hvf_sim_free(sim);
    bench_exec_plan_free(ctx);
    hvf_plan_free(plan);
    return 0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: peer-hroller groups INVENTORY HROLLER_OUTPUT [--policy FILE]\n"
                    "       peer-hroller plan INVENTORY PLAN [--policy FILE]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_policy pol;
    hvf_fleet *f;
    int rc;

    if ((argc != 4 && argc != 6) || (argc == 6 && strcmp(argv[4], "--policy") != 0) ||
        (strcmp(argv[1], "groups") != 0 && strcmp(argv[1], "plan") != 0))
        return usage();
    hvf_diags_init(&diags);
    hvf_policy_default(&pol);
    if (argc == 6 && hvf_policy_load(argv[5], &pol, &diags, &err) < 0) {
        hvf_diags_print(&diags, stderr);
        fprintf(stderr, "peer-hroller: %s\n", err.msg);
        hvf_diags_clear(&diags);
        return 2;
    }
    f = hvf_inventory_load(argv[2], &diags, &err);
    if (!f) {
        hvf_diags_print(&diags, stderr);
        fprintf(stderr, "peer-hroller: %s\n", err.msg);
        hvf_diags_clear(&diags);
        return 2;
    }
    rc = strcmp(argv[1], "groups") == 0 ? run_groups(f, argv[3], &pol) : run_plan(f, argv[3], &pol);
    hvf_diags_clear(&diags);
    hvf_fleet_free(f);
    return rc;
}
