/* SPDX-License-Identifier: MIT */
/*
 * Our side of the SimGrid comparison (bench/run drives both sides and prints the table; the
 * SimGrid side is bench/simgrid/sg-migrate.cpp). A benchmark, not a test: it prints figures.
 *
 *   peer-simgrid grid FILE
 *       FILE holds one single-migration configuration per line:
 *       "MEM_BYTES DIRTY_BYTES_PER_S CAP_BYTES_PER_S LINK_BYTES_PER_S WS_BYTES DOWNTIME_MS
 *       SWITCHOVER_MS TIMEOUT_S" (TIMEOUT_S 0: Nova's 800 s per GiB); prints per line
 *       "total_s downtime_s rounds converged us_per_estimate" from hvf_migrate_estimate, the
 *       model `hvfleet estimate` runs.
 *
 *   peer-simgrid fleet --hosts N [--reps R] [--workload FILE]
 *       SimGrid's "scenario B" scaled to N hosts (N = 400 is the one of bench/twin-scale): 20 VMs
 *       per host of 1-16 GiB dirtying 0-40 MB/s, every tenth host evacuated at once by the naive
 *       scheduler, 2 migrations at a time per source, claims on. Model settings that SimGrid
 *       cannot change are matched on our side: 30 ms downtime target, no setup delay, no zero
 *       pages. Runs the twin R times (wall time each), then once more recording every migration
 *       (source, target, start, end) and writes FILE: the platform, the VMs and the migrations
 *       in start order, which sg-migrate replays with the same targets and the same per-source
 *       concurrency.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

#define SCENARIO_B_SLOTS 2

/* ---- single migrations ---- */

static int
grid_line(const char *line, int lineno)
{
    hvf_migrate_params p;
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    double mem, dirty, cap, link, ws, downtime_ms, switchover_ms, timeout_s, t0, wall;
    long reps = 0;

    if (sscanf(line, "%lf %lf %lf %lf %lf %lf %lf %lf", &mem, &dirty, &cap, &link, &ws,
               &downtime_ms, &switchover_ms, &timeout_s) != 8) {
        fprintf(stderr, "peer-simgrid: grid line %d: expected 8 numbers\n", lineno);
        return -1;
    }
    hvf_migrate_params_default(&p);
    p.mem_bytes = (uint64_t)mem;
    p.dirty_bytes_per_s = dirty;
    p.bandwidth_bytes_per_s = cap;
    p.link_bytes_per_s = link;
    p.working_set_bytes = (uint64_t)ws;
    p.downtime_limit_us = (int64_t)(downtime_ms * 1000);
    p.switchover_us = (int64_t)(switchover_ms * 1000);
    p.timeout_us = (int64_t)(timeout_s * 1e6);
    t0 = bench_now();
    do {
        if (hvf_migrate_estimate(&p, &r, &err) < 0) {
            fprintf(stderr, "peer-simgrid: grid line %d: %s\n", lineno, err.msg);
            return -1;
        }
        reps++;
        wall = bench_now() - t0;
    } while (wall < 0.02 && reps < 100000);
    printf("%.6f %.6f %u %d %.3f\n", (double)r.total_us / 1e6, (double)r.downtime_us / 1e6,
           r.rounds, r.converged ? 1 : 0, wall / (double)reps * 1e6);
    return 0;
}

static int
run_grid(const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[512];
    int lineno = 0;

    if (!fp) {
        fprintf(stderr, "peer-simgrid: %s: cannot open\n", path);
        return 2;
    }
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (grid_line(line, lineno) < 0) {
            fclose(fp);
            return 2;
        }
    }
    fclose(fp);
    return 0;
}

/* ---- scenario B ---- */

static void
scenario_b_params(hvf_sim_params *p)
{
    hvf_sim_params_default(p);
    p->duration_us = 24 * 3600 * HVF_US_PER_S;
    p->metrics_interval_us = 600 * HVF_US_PER_S;
    p->record_events = false;
    p->record_host_series = false;
    /* what SimGrid's plugin cannot change, matched here so the two predict the same thing */
    p->downtime_limit_us = 30 * HVF_US_PER_MS;
    p->migration_setup_min_us = 0;
    p->migration_setup_max_us = 0;
    p->zero_page_fraction = 0;
    p->completion_timeout_s_per_gib = 0;
}

static void
scenario_b_opts(hvf_sim_naive_opts *o, uint32_t nhosts)
{
    memset(o, 0, sizeof(*o));
    o->nhosts = nhosts / 10;
    o->hosts = hvf_calloc(o->nhosts + 1, sizeof(int32_t));
    for (size_t i = 0; i < o->nhosts; i++)
        o->hosts[i] = (int32_t)(i * 10);
    o->span_us = 0; /* all at once */
    o->window_us = 60 * HVF_US_PER_S;
    o->migrations_per_host = SCENARIO_B_SLOTS;
    o->claims = true;
    o->retry_us = 60 * HVF_US_PER_S;
    o->max_retries = 3;
    /* a scan of every host per VM grows as hosts x VMs: sample beyond a few thousand hosts */
    o->target_candidates = nhosts > 4000 ? 64 : 0;
}

/* What the recorder learns of one migration. */
typedef struct rec_mig {
    int32_t vm, from, to;
    int64_t start_us, end_us;
    bool aborted;
} rec_mig;

/* A controller wrapped around the naive scheduler that notes every migration it starts. */
typedef struct recorder {
    hvf_sim_controller inner;
    int32_t *watch; /* VMs on evacuated hosts */
    size_t nwatch;
    int32_t *mig_of_vm; /* VM -> index in migs of its migration in flight, -1 */
    rec_mig *migs;
    size_t nmigs, migs_cap;
} recorder;

static void
rec_scan(recorder *r, hvf_sim *sim, size_t active_before)
{
    size_t seen = 0, started = hvf_sim_migrations_active(sim);

    if (started <= active_before)
        return;
    started -= active_before;
    for (size_t i = 0; i < r->nwatch && seen < started; i++) {
        int32_t vm = r->watch[i];

        if (r->mig_of_vm[vm] >= 0 || hvf_sim_vm_migration(sim, vm) < 0)
            continue;
        hvf_grow(&r->migs, &r->migs_cap, r->nmigs + 1, sizeof(rec_mig));
        r->migs[r->nmigs] =
            (rec_mig){vm, hvf_sim_vm_host(sim, vm), -1, hvf_sim_now(sim), -1, false};
        r->mig_of_vm[vm] = (int32_t)r->nmigs++;
        seen++;
    }
}

static void
rec_on_start(hvf_sim *sim, void *ctx)
{
    recorder *r = ctx;

    r->inner.on_start(sim, r->inner.ctx);
    rec_scan(r, sim, 0);
}

static void
rec_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    recorder *r = ctx;
    size_t before;

    if ((ev->type == HVF_SIM_EV_MIGRATION_END || ev->type == HVF_SIM_EV_MIGRATION_ABORT) &&
        ev->vm >= 0 && r->mig_of_vm[ev->vm] >= 0) {
        rec_mig *m = &r->migs[r->mig_of_vm[ev->vm]];

        m->to = ev->to;
        m->end_us = ev->t_us;
        m->aborted = ev->type == HVF_SIM_EV_MIGRATION_ABORT;
        r->mig_of_vm[ev->vm] = -1;
    }
    before = hvf_sim_migrations_active(sim);
    r->inner.on_event(sim, ev, r->inner.ctx);
    rec_scan(r, sim, before);
}

static int
write_workload(const char *path, const hvf_fleet *f, const recorder *r)
{
    FILE *fp = fopen(path, "w");

    if (!fp) {
        fprintf(stderr, "peer-simgrid: %s: cannot write\n", path);
        return -1;
    }
    fprintf(fp, "hvfleet-simgrid-workload 1\n");
    fprintf(fp, "slots %d\n", SCENARIO_B_SLOTS);
    for (size_t h = 0; h < f->nhosts; h++)
        fprintf(fp, "host %s %.0f %u\n", f->hosts[h].name, f->hosts[h].nic_bytes_per_s,
                f->hosts[h].cpus);
    for (size_t v = 0; v < f->nvms; v++) {
        const hvf_vm *vm = &f->vms[v];

        fprintf(fp, "vm %s %d %" PRIu64 " %.0f %" PRIu64 "\n", vm->name, vm->host,
                vm->mem_mib * (uint64_t)HVF_MIB, vm->dirty_bytes_per_s,
                vm->working_set_mib * (uint64_t)HVF_MIB);
    }
    /* only completed migrations are replayed: SimGrid has no abort to mirror an aborted one */
    for (size_t i = 0; i < r->nmigs; i++) {
        const rec_mig *m = &r->migs[i];

        if (m->aborted || m->to < 0)
            continue;
        fprintf(fp, "mig %d %d %d %.6f %.6f\n", m->vm, m->from, m->to, (double)m->start_us / 1e6,
                (double)m->end_us / 1e6);
    }
    if (fclose(fp) != 0) {
        fprintf(stderr, "peer-simgrid: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* Returns the wall time; *@cpu_s gets the CPU time. */
static double
fleet_run(const hvf_fleet *f, uint32_t nhosts, recorder *rec, hvf_sim_stats *st, double *cpu_s)
{
    hvf_sim_params p;
    hvf_sim_naive_opts o;
    hvf_sim_controller ctl = {0}, wrap = {0};
    hvf_sim *sim;
    void *ctx;
    double t0, c0;

    /* timed from the copy of the fleet to the end of the run: what a caller of the twin waits */
    t0 = bench_now();
    c0 = bench_cpu_now();
    scenario_b_params(&p);
    scenario_b_opts(&o, nhosts);
    sim = hvf_sim_new(f, &p, NULL, 0);
    ctx = hvf_sim_naive_new(&o, &ctl);
    if (rec) {
        rec->inner = ctl;
        wrap.name = "recorder";
        wrap.ctx = rec;
        wrap.on_start = rec_on_start;
        wrap.on_event = rec_on_event;
        wrap.on_finish = ctl.on_finish;
        hvf_sim_set_controller(sim, &wrap);
    } else {
        hvf_sim_set_controller(sim, &ctl);
    }
    hvf_sim_run(sim);
    t0 = bench_now() - t0;
    *cpu_s = bench_cpu_now() - c0;
    hvf_sim_get_stats(sim, st);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
    free(o.hosts);
    return t0;
}

static int
run_fleet(uint32_t nhosts, int reps, const char *workload)
{
    hvf_fleet *f;
    hvf_sim_stats st;
    recorder rec = {0};
    double t0 = bench_now();
    double cpu;

    if (nhosts < 10 || nhosts > 100000) {
        fprintf(stderr, "peer-simgrid: --hosts %u: expected 10 to 100000\n", nhosts);
        return 2;
    }
    f = bench_scenario_b_fleet(nhosts);
    printf("hosts %zu\nvms %zu\nevacuated %u\nfleet_build_s %.3f\n", f->nhosts, f->nvms,
           nhosts / 10, bench_now() - t0);
    for (int i = 0; i < reps; i++) {
        double wall = fleet_run(f, nhosts, NULL, &st, &cpu);

        printf("rep %.6f %.6f\n", wall, cpu);
    }
    printf("events %" PRIu64 "\nmigrations %" PRIu64 "\naborted %" PRIu64 "\nmakespan_s %.3f\n",
           st.sim_events, st.migrations_completed, st.migrations_aborted,
           (double)st.makespan_us / 1e6);
    printf("peak_rss_mib %.1f\n", bench_peak_rss_mib());
    if (workload) {
        rec.watch = hvf_calloc(f->nvms + 1, sizeof(int32_t));
        rec.mig_of_vm = hvf_calloc(f->nvms + 1, sizeof(int32_t));
        for (size_t v = 0; v < f->nvms; v++) {
            rec.mig_of_vm[v] = -1;
            if (f->vms[v].host % 10 == 0)
                rec.watch[rec.nwatch++] = (int32_t)v;
        }
        fleet_run(f, nhosts, &rec, &st, &cpu);
        if (write_workload(workload, f, &rec) < 0) {
            hvf_fleet_free(f);
            return 2;
        }
        printf("recorded %zu\n", rec.nmigs);
        free(rec.watch);
        free(rec.mig_of_vm);
        free(rec.migs);
    }
    hvf_fleet_free(f);
    return 0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: peer-simgrid grid FILE\n"
                    "       peer-simgrid fleet --hosts N [--reps R] [--workload FILE]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    uint32_t nhosts = 400;
    int reps = 1;
    const char *workload = NULL;

    if (argc == 3 && strcmp(argv[1], "grid") == 0)
        return run_grid(argv[2]);
    if (argc < 2 || strcmp(argv[1], "fleet") != 0)
        return usage();
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--hosts") == 0)
            nhosts = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--workload") == 0)
            workload = argv[++i];
        else
            return usage();
    }
    if (reps < 1 || reps > 100) {
        fprintf(stderr, "peer-simgrid: --reps %d: expected 1 to 100\n", reps);
        return 2;
    }
    return run_fleet(nhosts, reps, workload);
}
