/* SPDX-License-Identifier: MIT */
/*
 * Internals of the maintenance planner shared by its files: the recorder that turns what
 * happens in the twin into a plan (maint-record.c), the hvfleet controller (maintenance.c),
 * the naive recorder (maint-naive.c) and the driver (maint-run.c).
 */
#pragma once

#include "hvfleet/maintenance.h"
#include "hvfleet/migrate.h"

/* Records hosts, migrations and stops into a plan as the twin runs. Times are sim time. */
typedef struct mrec {
    hvf_plan *plan;     /* borrowed */
    hvf_sim *sim;       /* borrowed */
    const hvf_fleet *f; /* the twin's fleet */
    const hvf_policy *pol;
    int32_t *host_rec; /* per host: index in plan->hosts, -1 */
    int32_t *vm_mig;   /* per VM: open migration in plan->migrations, -1 */
    int32_t *vm_stop;  /* per VM: open stop in plan->stops, -1 */
    uint8_t *moves;    /* per VM: evacuation moves (saturating) */
    bool *at_risk;
    bool *nonconv; /* per VM: listed in summary.non_converging */
    bool *dropped; /* per plan migration: aborted, left out at the end */
    size_t dropped_cap;
    int32_t *host_dropped; /* plan host indexes abandoned, left out at the end */
    size_t nhost_dropped, host_dropped_cap;
    uint32_t nat_risk;
} mrec;

void mrec_init(mrec *r, hvf_plan *plan, hvf_sim *sim, const hvf_policy *pol);
void mrec_free(mrec *r);
int64_t mrec_now_ms(const mrec *r);

void mrec_host_evac_start(mrec *r, int32_t host);
void mrec_host_evac_end(mrec *r, int32_t host);
void mrec_host_maint_start(mrec *r, int32_t host);
void mrec_host_maint_end(mrec *r, int32_t host);
/* @host was abandoned: it leaves hosts[] at the end (its migrations stay: they happened). */
void mrec_host_drop(mrec *r, int32_t host);
/* @to may be -1 (filled by mrec_mig_end). @mode is what was asked; the figures (downtime,
 * rounds, the mechanism it relied on) come from the twin when it ends. */
void mrec_mig_start(mrec *r, int32_t vm, int32_t from, int32_t to, hvf_plan_migration_mode mode,
                    int64_t start_us);
/* @mig: the twin's figures of the migration (hvf_sim_migration_result, read in the callback
 * of its end event). */
void mrec_mig_end(mrec *r, const hvf_sim_event *ev, const hvf_sim_migration_info *mig,
                  bool evacuation);
void mrec_mig_abort(mrec *r, int32_t vm);
void mrec_stop(mrec *r, int32_t vm, int32_t host);
void mrec_start(mrec *r, int32_t vm, int32_t host);
void mrec_nonconv(mrec *r, int32_t vm, hvf_non_converging action);
/* Marks the VMs of @host at risk when it holds more than its usable memory now. */
void mrec_check_host(mrec *r, int32_t host);
void mrec_vm_down(mrec *r, int32_t vm);
/* Drops aborted migrations, closes what is still open at the end of the run. */
void mrec_finish(mrec *r);

/*
 * Whether the live-migration model says @vm converges with pre-copy leaving @src, at the
 * bandwidth the policy gives one of max_migrations_out_per_host concurrent migrations on the
 * source NIC (hvf_migrate_estimate_converges).
 */
bool mrec_converges(const mrec *r, int32_t vm, int32_t src);

/* The hvfleet controller (maintenance.c). */
typedef struct mctl mctl;
mctl *mctl_new(const hvf_maint_opts *opts, hvf_plan *plan, hvf_sim_controller *ctl);
void mctl_free(mctl *m);
/* After the run: hosts maintained, failed; whether all finished. */
void mctl_result(mctl *m, hvf_maint_outcome *out);

/* The naive recorder wrapping the twin's naive scheduler (maint-naive.c). */
typedef struct mnaive mnaive;
mnaive *mnaive_new(const hvf_maint_opts *opts, const hvf_sim_naive_opts *naive, hvf_plan *plan,
                   hvf_sim_controller *ctl);
void mnaive_free(mnaive *n);
void mnaive_result(mnaive *n, hvf_maint_outcome *out);
