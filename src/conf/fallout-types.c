/* SPDX-License-Identifier: MIT */
/*
 * The fallout components' options as data (include/hvfleet/fallout-types.h): their names, the
 * documented defaults and clearing, which the scenario reader and the twin both use.
 */
#include "hvfleet/fallout-types.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

const char *const hvf_buffer_policy_names[] = {"unbounded", "block", "drop_newest", "spill", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_buffer_policy_names) == HVF_BUFFER_LAST + 1, "names");

const char *const hvf_remediation_mode_names[] = {"per_vm", "correlated", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_remediation_mode_names) == HVF_REMEDIATION_LAST + 1, "names");

const char *const hvf_hvagent_model_names[] = {"per_notification", "pooled", NULL};
const char *const hvf_overflow_names[] = {"drop_newest", "drop_oldest", "block", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_hvagent_model_names) == HVF_HVAGENT_LAST + 1, "names");
_Static_assert(HVF_ARRAY_LEN(hvf_overflow_names) == HVF_OVERFLOW_LAST + 1, "names");

void
hvf_telemetry_opts_default(hvf_telemetry_opts *o)
{
    memset(o, 0, sizeof(*o));
    hvf_strlcpy(o->dependency, "bus", sizeof(o->dependency));
    o->rate_bytes_per_s = 16 * 1024;
    o->policy = HVF_BUFFER_UNBOUNDED;
    o->buffer_max_mib = 32;
    o->spill_max_mib = 256;
    o->drain_bytes_per_s = 1024 * 1024;
    o->guest_used = 0.75;
    o->guest_swap_mib = 512;
    o->guest_swap_io_fraction = 0.05;
    o->thrash_io_bytes_per_s = 5e6;
    o->thrash_speed = 0.05;
    o->tick_us = 10 * HVF_US_PER_S;
}

void
hvf_remediation_opts_default(hvf_remediation_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = HVF_REMEDIATION_PER_VM;
    o->check_interval_us = 30 * HVF_US_PER_S;
    o->unreachable_after = 2;
    o->renotify_us = 5 * 60 * HVF_US_PER_S;
    o->slow_speed = 0.3;
    o->upscale_speed = 0;
    o->alert_delay_us = 60 * HVF_US_PER_S;
    o->dependents_need_restart = false;
    o->deploys_per_min = 30;
    o->deploy_time_us = 2 * 60 * HVF_US_PER_S;
    o->deploy_cpu_cores = 2;
    o->deploy_io_bytes_per_s = 50e6;
    o->fleet_share = 0.05;
    o->clear_after_us = 10 * 60 * HVF_US_PER_S;
    o->redeploy_per_min = 10;
    o->redeploy_burst = 5;
    o->upscale_per_min = 2;
    o->cooldown_us = 15 * 60 * HVF_US_PER_S;
    o->queue_max = 0;
    o->reconcile = true;
    o->operator_pause_after_us = -1;
    o->operator_zombies_after_us = -1;
}

void
hvf_hvagent_opts_default(hvf_hvagent_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->model = HVF_HVAGENT_PER_NOTIFICATION;
    o->notifications_per_min = 20;
    o->burst_at_us = -1;
    o->proxy_leaks = false;
    o->process_threads = 1;
    o->handle_time_us = 2 * HVF_US_PER_S;
    o->threads_max = 4096;
    o->base_threads = 600;
    o->qemu_threads = 4;
    o->qemu_spawns_per_min = 1;
    o->workers = 4;
    o->queue_max = 256;
    o->overflow = HVF_OVERFLOW_DROP_OLDEST;
    o->tick_us = 10 * HVF_US_PER_S;
    o->alert_after_crashes = 1;
    o->alert_delay_us = 5 * 60 * HVF_US_PER_S;
    o->diagnose_after_us = 7 * 60 * HVF_US_PER_S;
    o->decide_after_us = 22 * 60 * HVF_US_PER_S;
    o->revert_duration_us = 15 * 60 * HVF_US_PER_S;
    o->confirm_after_us = 7 * 60 * HVF_US_PER_S;
}

void
hvf_fallout_opts_clear(hvf_fallout_opts *o)
{
    if (!o)
        return;
    free(o->telemetry.vms);
    free(o->remediation.vms);
    free(o->remediation.dependents);
    for (size_t i = 0; i < o->remediation.ncorrelate_on; i++)
        free(o->remediation.correlate_on[i]);
    free(o->remediation.correlate_on);
    free(o->hv_agent.hosts);
    memset(o, 0, sizeof(*o));
}
