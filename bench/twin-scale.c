/* SPDX-License-Identifier: MIT */
/*
 * Speed of the twin at fleet scale (a benchmark, not a test: figures are printed, never
 * asserted). Two runs:
 *   fleet   a generated 10,000-host x 20-VM fleet, every host maintained by the naive
 *           scheduler over a day, 2 migrations per host, claims on;
 *   simgrid SimGrid's "scenario B": 400 hosts, 20 VMs each of 1-16 GiB dirtying 0-40 MB/s,
 *           10 % of the hosts evacuated at once, 2 migrations at a time per host (SimGrid's
 *           VM plugin takes about 80 s of wall time for its 800 migrations).
 * Prints wall time, engine events per second, migrations per wall second and peak RSS.
 * usage: twin-scale [fleet|simgrid|all] [--hosts N]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hvfleet/alloc.h"
#include "hvfleet/generate.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

static void
bench_run(const char *label, const hvf_fleet *f, hvf_sim_params *p, hvf_sim_naive_opts *o)
{
    hvf_sim_controller ctl = {0};
    hvf_sim_stats st;
    hvf_sim *sim;
    void *ctx;
    double t0, t1, wall;
    char span[32], mk[32];

    t0 = bench_now();
    sim = hvf_sim_new(f, p, NULL, 0);
    ctx = hvf_sim_naive_new(o, &ctl);
    hvf_sim_set_controller(sim, &ctl);
    t1 = bench_now();
    hvf_sim_run(sim);
    wall = bench_now() - t1;
    hvf_sim_get_stats(sim, &st);
    printf("%s: %zu hosts, %zu VMs, %zu hosts maintained by the naive scheduler\n", label,
           f->nhosts, f->nvms, o->nhosts);
    printf("  setup            %.2f s (fleet copy, links)\n", t1 - t0);
    printf("  run              %.2f s wall for %s simulated (makespan %s)\n", wall,
           hvf_units_format_duration(p->duration_us, span, sizeof(span)),
           hvf_units_format_duration(st.makespan_us, mk, sizeof(mk)));
    printf("  engine events    %" PRIu64 " (%.0f per s)\n", st.sim_events,
           wall > 0 ? (double)st.sim_events / wall : 0);
    printf("  migrations       %" PRIu64 " completed, %" PRIu64 " aborted, %.0f per wall s; "
           "peak %u at once, %u hosts evacuating\n",
           st.migrations_completed, st.migrations_aborted,
           wall > 0 ? (double)st.migrations_completed / wall : 0, st.peak_concurrent_migrations,
           st.peak_concurrent_evacuations);
    printf("  bandwidth        %" PRIu64 " component re-solves, %.1f flows each on average\n",
           st.flow_recomputes,
           st.flow_recomputes ? (double)st.flow_recompute_flows / (double)st.flow_recomputes : 0);
    printf("  hosts maintained %u; peak host memory %.0f%%; peak RSS %.0f MiB\n\n",
           st.hosts_maintained, st.peak_host_memory_ratio * 100, bench_peak_rss_mib());
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
}

static void
bench_params(hvf_sim_params *p, int64_t duration_us)
{
    hvf_sim_params_default(p);
    p->duration_us = duration_us;
    p->metrics_interval_us = 600 * HVF_US_PER_S;
    p->record_events = false; /* the log of 400,000 migrations is not what we time */
    p->record_host_series = false;
}

static void
bench_fleet(uint32_t hosts)
{
    hvf_generate_params gp;
    hvf_sim_params p;
    hvf_sim_naive_opts o = {0};
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    double t0 = bench_now();

    hvf_generate_params_init(&gp);
    gp.hosts = hosts;
    gp.vms_per_host = 20;
    gp.seed = 42;
    f = hvf_generate_fleet(&gp, &err);
    if (!f) {
        fprintf(stderr, "twin-scale: %s\n", err.msg);
        exit(2);
    }
    printf("generated %u hosts x 20 VMs in %.2f s\n", hosts, bench_now() - t0);
    bench_params(&p, 48 * 3600 * HVF_US_PER_S);
    o.nhosts = f->nhosts;
    o.hosts = hvf_calloc(f->nhosts, sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        o.hosts[h] = (int32_t)h;
    o.start_us = 0;
    o.span_us = 24 * 3600 * HVF_US_PER_S;
    o.window_us = 5 * 60 * HVF_US_PER_S;
    o.migrations_per_host = 2;
    o.claims = true;
    o.retry_us = 60 * HVF_US_PER_S;
    o.max_retries = 3;
    o.target_candidates = 64; /* best of 64 random hosts, not a scan of 10,000 per VM */
    bench_run("fleet-wide maintenance", f, &p, &o);
    free(o.hosts);
    hvf_fleet_free(f);
}

static void
bench_simgrid_b(void)
{
    hvf_fleet *f = bench_scenario_b_fleet(400);
    hvf_sim_params p;
    hvf_sim_naive_opts o = {0};

    bench_params(&p, 24 * 3600 * HVF_US_PER_S);
    o.nhosts = 40;
    o.hosts = hvf_calloc(40, sizeof(int32_t));
    for (int i = 0; i < 40; i++)
        o.hosts[i] = i * 10;
    o.span_us = 0; /* all at once */
    o.window_us = 60 * HVF_US_PER_S;
    o.migrations_per_host = 2;
    o.claims = true;
    o.retry_us = 60 * HVF_US_PER_S;
    o.max_retries = 3;
    bench_run("SimGrid scenario B (400 hosts, 800 migrations)", f, &p, &o);
    free(o.hosts);
    hvf_fleet_free(f);
}

int
main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    uint32_t hosts = 10000;

    if (argc > 3 && strcmp(argv[2], "--hosts") == 0)
        hosts = (uint32_t)strtoul(argv[3], NULL, 10);
    if (strcmp(which, "simgrid") == 0 || strcmp(which, "all") == 0)
        bench_simgrid_b();
    if (strcmp(which, "fleet") == 0 || strcmp(which, "all") == 0)
        bench_fleet(hosts ? hosts : 10000);
    if (strcmp(which, "fleet") && strcmp(which, "simgrid") && strcmp(which, "all")) {
        fprintf(stderr, "usage: twin-scale [fleet|simgrid|all] [--hosts N]\n");
        return 2;
    }
    return 0;
}
