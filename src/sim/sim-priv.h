/* SPDX-License-Identifier: MIT */
/*
 * Internals of the twin shared by its files (engine, heap, flows, migrations, dynamics, faults,
 * metrics, output) and reached by the unit tests. Not installed.
 *
 * Indexes, not pointers, everywhere: hosts and VMs use the fleet's indexes, migrations live in a
 * pool with a free list (an id is reused after its migration ends), links in an array.
 * Stale heap events are skipped by comparing a version stored in the event with the object's.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hvfleet/rng.h"
#include "hvfleet/sim.h"
#include "hvfleet/strbuf.h"
#include "sim/mig-model.h"

/* ---- event heap ---- */

/* Priority classes break ties at one instant: the world changes first, the controller reacts,
 * metrics see the result. */
typedef enum sim_class {
    SIM_CLASS_FAULT = 0,
    SIM_CLASS_FLOW = 1,    /* migration phase boundaries, setup done */
    SIM_CLASS_HOST = 2,    /* host dynamics: pressure, hung tasks, reboots, restarts */
    SIM_CLASS_CONTROL = 3, /* timers, maintenance ends */
    SIM_CLASS_SAMPLE = 4,
    SIM_CLASS_END = 5,
} sim_class;

typedef enum sim_kind {
    SIM_EV_MIG_SETUP,     /* obj = migration */
    SIM_EV_MIG_BOUNDARY,  /* obj = migration */
    SIM_EV_HOST_PRESSURE, /* obj = host */
    SIM_EV_HOST_HUNG,     /* obj = host */
    SIM_EV_HOST_UP,       /* obj = host: back after a crash or reboot */
    SIM_EV_HOST_FIXED,    /* obj = host: inventory matches its NICs again */
    SIM_EV_VM_RESTART,    /* obj = vm */
    SIM_EV_MAINT_END,     /* obj = host */
    SIM_EV_TIMER,         /* tag */
    SIM_EV_FAULT,         /* obj = fault index */
    SIM_EV_LINK_RESTORE,  /* obj = link */
    SIM_EV_SAMPLE,
    SIM_EV_END,
    SIM_EV_COMP_TIMER, /* obj = component id, tag */
    SIM_EV_DEP_RESTORE, /* ext.c: obj = dependency */
    SIM_EV_MODEL,       /* SIM_EV_MODEL + i: for model i (sim_model_push); obj, ver, tag its own */
} sim_kind;

typedef struct sim_event {
    int64_t t_us;
    uint64_t order; /* class << 56 | insertion sequence */
    int64_t tag;
    int32_t obj;
    uint32_t ver;
    uint32_t kind;
} sim_event;

/*
 * A binary heap, beside a run: events pushed each later than the one before (the naive
 * scheduler's windows, thousands queued at the start) are appended to the run, a sorted queue,
 * and the rest go to the heap, which stays small. The earliest event is the earlier of the two
 * heads: the same order as one heap.
 */
typedef struct sim_heap {
    sim_event *ev;
    size_t n, cap;
    sim_event *run;
    size_t run_head, run_n, run_cap; /* the run is run[run_head .. run_n) */
    uint64_t seq;
} sim_heap;

void sim_heap_init(sim_heap *h);
void sim_heap_clear(sim_heap *h);
void sim_heap_push(sim_heap *h, int64_t t_us, sim_class cls, sim_kind kind, int32_t obj,
                   uint32_t ver, int64_t tag);
/* The earliest event, left in place, or NULL when empty. */
const sim_event *sim_heap_peek(const sim_heap *h);
/* Removes the earliest event into *@out; false when empty. */
bool sim_heap_pop(sim_heap *h, sim_event *out);

/* ---- objects ---- */

typedef struct sim_link {
    double cap_bytes_per_s;  /* current capacity */
    double base_bytes_per_s; /* before faults */
    int32_t *flows;          /* owned: migrations crossing it */
    size_t nflows, flows_cap;
    /* scratch for the recompute */
    uint32_t mark;
    uint32_t unfrozen;
    double left;
    bool dirty;
} sim_link;

#define SIM_MAX_PATH 6

typedef struct sim_mig {
    bool active;
    bool in_flow; /* setup done: crossing its links */
    bool claimed;
    int32_t vm, src, dst;
    int32_t next_free;
    double demand; /* the model's wish: cap while live, HUGE_VAL uncapped, 0 paused */
    double rate;   /* current share */
    int64_t t_start_us, t_update_us;
    double sent_at_update; /* bytes */
    double arrive_bytes;   /* pages that end up resident on the target */
    uint32_t ver;
    uint32_t mark;
    bool frozen;
    int32_t links[SIM_MAX_PATH];
    uint8_t nlinks;
    sim_mig_model *model;                         /* owned */
    hvf_sim_migration_info done;                  /* once ended: its final figures */
    int32_t next_out, prev_out, next_in, prev_in; /* per-host lists */
} sim_mig;

typedef struct sim_host {
    hvf_sim_host_state state;
    hvf_sim_host_params p;
    int32_t *vms; /* owned: VMs placed here */
    size_t nvms, vms_cap;
    int32_t mig_out, mig_in; /* list heads, -1 */
    uint32_t n_out, n_in;
    int32_t link_out, link_in;

    /* dynamics, as of the last evaluation */
    double cpu_demand; /* cores */
    double speed;      /* 1 = guests and migrations run at full speed */
    double swap_mib;
    double io_util;
    bool over_committed, swapping, io_saturated, hung;
    int64_t io_saturated_since_us;
    uint32_t pressure_ver, hung_ver, up_ver;
    bool dirty;

    bool nic_mismatch;   /* up, NIC names differ from the inventory */
    bool pending_rename; /* comes back from its reboot with renamed NICs */
    int64_t fixed_after_us;
    bool evac_notified;
    bool was_over; /* ratio exceeded 1 at some time */
    double peak_ratio;
    int64_t maint_end_us;
} sim_host;

typedef struct sim_vm {
    hvf_sim_vm_state state;
    int32_t mig; /* -1 */
    bool placed; /* holds memory on fleet->vms[i].host */
    uint32_t restart_ver;
} sim_vm;

/* Per-host samples, kept compact (metrics.c spools them) until the end picks the hosts to
 * write. Compared with memcmp: zero the whole struct before filling it. */
typedef struct sim_host_sample {
    float memory_ratio, cpu_ratio, nic_out, nic_in, swap_mib, io_util;
    uint16_t mig_out, mig_in;
    uint8_t state;
} sim_host_sample;

/* Metrics streamed to anonymous temporary files (metrics.c). */
typedef struct sim_metrics {
    FILE *fleet;           /* owned, may be NULL: metrics-fleet.csv rows */
    FILE *hosts;           /* owned, may be NULL: changed per-host values (metrics.c) */
    sim_host_sample *last; /* owned, per host: the values last written */
    int err;               /* first errno creating or writing them; 0 */
} sim_metrics;

/* What the incident KPIs need from the engine, kept up to date as states change (outage.c):
 * VMs and hosts out, their integral over time, since when all is clear, and the time of event.
 * The incident events themselves (alerts, decisions, ...) are the platform's
 * (src/platform/incident.c). */
typedef struct sim_incident {
    char *event_type;  /* owned */
    int64_t event_us;  /* -1 until the first event of that type */
    uint32_t vms_down, vms_down_peak, vms_down_distinct;
    uint32_t hosts_out; /* down or quarantined since the start */
    bool *vm_was_down;  /* owned, per VM */
    bool *vm_impaired;  /* owned, per VM: up but unusable (sim_inc_vm_impaired) */
    bool *host_out;     /* owned, per host: counted in hosts_out */
    double vm_down_us;  /* integral of vms_down up to last_us */
    int64_t last_us;
    int64_t clear_since_us; /* every VM running and no host out since; -1 while not */
} sim_incident;

/*
 * Models of the platform's other systems (src/platform/: services, the change controller,
 * incident events) keep their state in the simulation through this table, so the engine runs
 * them without knowing them: it frees their context, hands them their own events and lets them
 * add to summary.json. Every callback may be NULL.
 */
struct json_t;
typedef struct sim_model_ops {
    const char *name; /* a string literal */
    /* An event pushed with sim_model_push. */
    void (*on_event)(hvf_sim *sim, void *ctx, int32_t obj, uint32_t ver, int64_t tag);
    /* A shared dependency (ext.c) was declared before the start. */
    void (*on_dependency)(hvf_sim *sim, void *ctx, int32_t dep);
    /* Adds the model's sections to summary.json's @root. */
    void (*summary)(const hvf_sim *sim, const void *ctx, struct json_t *root);
    void (*free_ctx)(void *ctx);
} sim_model_ops;

typedef struct sim_model {
    const sim_model_ops *ops; /* static */
    void *ctx;                /* owned through ops->free_ctx */
} sim_model;

struct hvf_sim {
    hvf_fleet *fleet; /* owned copy */
    hvf_sim_params p;
    char *name;
    hvf_sim_controller ctl;
    bool has_ctl;
    hvf_rng rng;

    int64_t now_us;
    sim_heap heap;
    bool ran, started, ended;

    sim_host *hosts;
    sim_vm *vms;
    sim_link *links;
    size_t nlinks;
    int32_t *rack_link_out, *rack_link_in; /* per rack, -1 when not modelled */
    int32_t *zone_link_out, *zone_link_in;

    sim_mig *migs;
    size_t nmigs, migs_cap;
    int32_t mig_free;
    uint32_t migs_active;

    hvf_sim_fault *faults;
    size_t nfaults, faults_cap;
    bool *fault_link_drop_restore;

    /* flush work lists */
    int32_t *dirty_links;
    size_t ndirty_links, dirty_links_cap;
    int32_t *dirty_hosts;
    size_t ndirty_hosts, dirty_hosts_cap;
    uint32_t epoch;
    int32_t *scratch_flows, *scratch_links;
    size_t scratch_flows_cap, scratch_links_cap;
    double *scratch_rates;
    size_t scratch_rates_cap;

    /* outputs */
    hvf_strbuf events;
    hvf_strbuf fleet_csv; /* the sample being formatted; rows go to metrics.fleet */
    sim_metrics metrics;
    size_t nsamples;
    int64_t *sample_t;
    size_t sample_t_cap;
    hvf_sim_stats st;
    uint32_t evacuating;
    int64_t first_window_us, last_back_us;
    uint32_t vms_running, vms_crashed_now;

    void (*progress)(int64_t, int64_t, void *);
    void *progress_ctx;

    hvf_sim_component *comps;
    size_t ncomps, comps_cap;
    sim_incident inc;
    sim_model *models; /* in the order they were added */
    size_t nmodels, models_cap;
    struct sim_ext *ext; /* owned, may be NULL: what components add (ext.c) */
};

/* ---- engine.c ---- */
void sim_push(hvf_sim *sim, int64_t t_us, sim_class cls, sim_kind kind, int32_t obj, uint32_t ver,
              int64_t tag);
void sim_notify(hvf_sim *sim, const hvf_sim_event *ev);
void sim_host_mark(hvf_sim *sim, int32_t host);
void sim_host_add_vm(hvf_sim *sim, int32_t host, int32_t vm);
void sim_host_remove_vm(hvf_sim *sim, int32_t host, int32_t vm);
/* Frees the VM's memory on its host and marks it down; the platform restarts it later. */
void sim_vm_down(hvf_sim *sim, int32_t vm, hvf_sim_vm_state state, const char *type,
                 const char *detail);
void sim_check_evacuated(hvf_sim *sim, int32_t host);
void sim_vm_set_state(hvf_sim *sim, int32_t vm, hvf_sim_vm_state state);
void sim_host_set_state(hvf_sim *sim, int32_t host, hvf_sim_host_state state);
/* Restart target for a VM whose host cannot run it: the active host with the most free memory
 * (claims counted), or -1. */
int32_t sim_pick_restart_host(const hvf_sim *sim, int32_t vm);
/* api.c: places a VM that holds no memory on @host, boots it and logs @type. */
void sim_vm_boot(hvf_sim *sim, int32_t vm, int32_t host, const char *type, const char *detail);
/* Recomputes dirty flows and hosts until stable. */
void sim_flush(hvf_sim *sim);
/* Logs sim_start, queues faults, samples and the end, calls on_start (once). */
void sim_start(hvf_sim *sim);
/* Processes every event up to @t_us (clamped to the duration), then sets the clock to it.
 * hvf_sim_run is this up to the end; tests step with it. */
void sim_run_until(hvf_sim *sim, int64_t t_us);

/* ---- flows.c ---- */
void sim_links_build(hvf_sim *sim);
void sim_link_mark(hvf_sim *sim, int32_t link);
void sim_flow_attach(hvf_sim *sim, int32_t mig);
void sim_flow_detach(hvf_sim *sim, int32_t mig);
/* Re-solves max-min fair shares of the components around dirty links. */
void sim_flows_recompute(hvf_sim *sim);
double sim_flow_cap(const hvf_sim *sim, const sim_mig *m);

/* ---- migration.c ---- */
void sim_mig_advance_to_now(hvf_sim *sim, sim_mig *m);
void sim_mig_schedule(hvf_sim *sim, int32_t id);
void sim_mig_on_setup(hvf_sim *sim, int32_t id, uint32_t ver);
void sim_mig_on_boundary(hvf_sim *sim, int32_t id, uint32_t ver);
void sim_mig_abort(hvf_sim *sim, int32_t id, const char *why, bool vm_dies);
double sim_mig_arrived_bytes(const hvf_sim *sim, const sim_mig *m);

/* ---- dynamics.c ---- */
void sim_host_eval(hvf_sim *sim, int32_t host);
void sim_host_on_hung(hvf_sim *sim, int32_t host, uint32_t ver);
void sim_host_crash(hvf_sim *sim, int32_t host, const char *why, int64_t back_after_us,
                    bool renamed_nics, int64_t fixed_after_us);
double sim_host_resident_mib(const hvf_sim *sim, int32_t host, double *arriving_unclaimed_mib);
double sim_host_ratio(const hvf_sim *sim, int32_t host);
double sim_host_cpu_ratio(const hvf_sim *sim, int32_t host);

/* ---- faults.c ---- */
void sim_fault_fire(hvf_sim *sim, int32_t idx);
void sim_on_host_up(hvf_sim *sim, int32_t host, uint32_t ver);
void sim_on_host_fixed(hvf_sim *sim, int32_t host, uint32_t ver);
void sim_on_vm_restart(hvf_sim *sim, int32_t vm, uint32_t ver);
void sim_on_link_restore(hvf_sim *sim, int32_t link);

/* ---- outage.c ---- */
void sim_inc_init(hvf_sim *sim);
void sim_inc_free(hvf_sim *sim);
/* State changes, called by sim_vm_set_state and sim_host_set_state before they apply. */
void sim_inc_vm_state(hvf_sim *sim, int32_t vm, hvf_sim_vm_state from, hvf_sim_vm_state to);
void sim_inc_host_state(hvf_sim *sim, int32_t host, hvf_sim_host_state from, hvf_sim_host_state to);
/* Every logged event type passes here: the first of the configured type is the event. */
void sim_inc_seen(hvf_sim *sim, const char *type);
/* @vm is up but unusable, or usable again: counted as down while impaired. */
void sim_inc_vm_impaired(hvf_sim *sim, int32_t vm, bool impaired);
/* The event type whose first occurrence is the time of event (before the start; copied). */
void sim_inc_set_event_type(hvf_sim *sim, const char *type);
/* VM-microseconds lost up to now. */
double sim_inc_down_us(const hvf_sim *sim);

/* ---- models (engine.c) ---- */
/* Adds a model with its context (owned from now); returns its id. */
int32_t sim_model_add(hvf_sim *sim, const sim_model_ops *ops, void *ctx);
/* The context of the model with @ops, or NULL when none was added. */
void *sim_model_get(const hvf_sim *sim, const sim_model_ops *ops);
/* Queues an event for model @id: its on_event gets @obj, @ver and @tag at @t_us. */
void sim_model_push(hvf_sim *sim, int32_t id, int64_t t_us, sim_class cls, int32_t obj,
                    uint32_t ver, int64_t tag);
/* Calls every model's on_dependency for @dep. */
void sim_model_dependency(hvf_sim *sim, int32_t dep);
/* Adds every model's sections to @root, in the order they were added. */
void sim_model_summary(const hvf_sim *sim, struct json_t *root);

/* ---- ext.c ---- */
typedef struct sim_ext sim_ext;
struct json_t;
void sim_ext_free(hvf_sim *sim);
void sim_ext_dependency_fault(hvf_sim *sim, const hvf_sim_fault *f);
void sim_ext_on_dep_restore(hvf_sim *sim, int32_t id, uint32_t ver);
/* Load on @host beyond its VMs' own: extra cores, extra resident MiB, and disk IO (extra plus
 * what its running guests generate inside), bytes/s. */
double sim_ext_host_cpu(const hvf_sim *sim, int32_t host);
double sim_ext_host_mem(const hvf_sim *sim, int32_t host);
double sim_ext_host_io(const hvf_sim *sim, int32_t host);
/* Adds the components' summary sections to @root. */
void sim_ext_summary(const hvf_sim *sim, struct json_t *root);
/* Whether enough replicas of the service dependency @id follows answer (a model decides). */
void sim_dep_set_replicas(hvf_sim *sim, int32_t id, bool ok, const char *why);
/* The context of the first component named @name, or NULL. */
void *sim_component_ctx(const hvf_sim *sim, const char *name);

/* ---- output.c ---- */
/* Event-log line; @extra is appended raw (",\"k\":v..." or NULL). */
void sim_log(hvf_sim *sim, const char *type, int32_t host, int32_t vm, int32_t from, int32_t to,
             const char *detail, const char *extra);
void sim_sample(hvf_sim *sim);
/* metrics.c: a formatted fleet row (emptied), one host's values at the current sample. */
void sim_metrics_fleet_row(hvf_sim *sim, hvf_strbuf *row);
void sim_metrics_host(hvf_sim *sim, size_t host, const sim_host_sample *s);
/* Writes DIR/FILE atomically: @header, then the fleet rows, or the rows of the @npick hosts of
 * @pick (fleet order) at every sample. Returns 0 or -1 (HVF_ERR_IO). */
int sim_metrics_write_fleet(hvf_sim *sim, const char *dir, const char *file, const char *header,
                            hvf_error *err);
int sim_metrics_write_hosts(hvf_sim *sim, const char *dir, const char *file, const char *header,
                            const int32_t *pick, size_t npick, hvf_error *err);
/* Appends the fleet rows written so far to @out (tests). Returns 0 or -1 (HVF_ERR_IO). */
int sim_metrics_read_fleet(hvf_sim *sim, hvf_strbuf *out, hvf_error *err);
void sim_metrics_clear(hvf_sim *sim);
void sim_format_time(hvf_strbuf *sb, int64_t us);
