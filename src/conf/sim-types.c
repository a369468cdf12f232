/* SPDX-License-Identifier: MIT */
/*
 * The twin's inputs as data (include/hvfleet/sim-types.h): names of their values, the documented
 * defaults (docs/simulator.md) and clearing, which the scenario reader and the twin both use.
 */
#include "hvfleet/sim-types.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

const char *const hvf_sim_oom_names[] = {"kill_largest", "panic", NULL};
const char *const hvf_sim_fault_names[] = {"host_crash", "host_reboot",  "link_drop",
                                           "dirty_rate", "service_down", NULL};
const char *const hvf_sim_dir_names[] = {"both", "out", "in", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_sim_fault_names) == HVF_SIM_FAULT_LAST + 1, "names");

const char *const hvf_sim_svc_kind_names[] = {"replicated", "storage", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_sim_svc_kind_names) == HVF_SIM_SVC_LAST + 1, "svc kinds");

void
hvf_sim_params_default(hvf_sim_params *p)
{
    memset(p, 0, sizeof(*p));
    p->duration_us = 24 * 3600 * HVF_US_PER_S;
    p->seed = 1;
    p->metrics_interval_us = 60 * HVF_US_PER_S;
    p->migration_nic_share = 1.0;
    p->migration_setup_min_us = 1 * HVF_US_PER_S;
    p->migration_setup_max_us = 3 * HVF_US_PER_S;
    p->downtime_limit_us = 300 * HVF_US_PER_MS;
    p->zero_page_fraction = 0.0;
    p->strategy = HVF_SIM_STRATEGY_PRECOPY;
    p->completion_timeout_s_per_gib = 800;
    p->migration_cpu_cores = 1.0;
    p->host.swap_mib = 0;
    p->host.disk_io_bytes_per_s = 200e6;
    p->host.hung_task_panic = false;
    p->host.oom = HVF_SIM_OOM_KILL_LARGEST;
    p->swap_io_fraction = 0.05;
    p->hung_task_timeout_us = 120 * HVF_US_PER_S;
    p->pressure_tick_us = 5 * HVF_US_PER_S;
    p->vm_restart_delay_us = 60 * HVF_US_PER_S;
    p->host_reboot_us = 300 * HVF_US_PER_S;
    p->record_events = true;
    p->record_host_series = true;
}

void
hvf_sim_svc_spec_clear(hvf_sim_svc_spec *spec)
{
    free(spec->name);
    free(spec->nodes);
    free(spec->clients);
    memset(spec, 0, sizeof(*spec));
}
