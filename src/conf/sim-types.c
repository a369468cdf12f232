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
_Static_assert(HVF_SIM_MAX_DURATION_US == 366LL * 86400 * HVF_US_PER_S, "366d in messages");

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

int
hvf_sim_params_check_work(const hvf_sim_params *p, size_t nhosts, const char **field,
                          hvf_error *err)
{
    uint64_t samples, max_samples, host_samples;
    int64_t min_interval_us;
    char b[32];

    if (field)
        *field = "duration";
    if (p->duration_us > HVF_SIM_MAX_DURATION_US) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "expected at most 366d (a year and a day), the twin's limit on one run");
        return -1;
    }
    if (p->metrics_interval_us <= 0 || p->duration_us <= 0)
        return 0;
    samples = (uint64_t)(p->duration_us / p->metrics_interval_us) + 1;
    host_samples = samples > UINT64_MAX / (nhosts > 0 ? nhosts : 1)
                       ? UINT64_MAX /* saturated: beyond every bound anyway */
                       : samples * (uint64_t)(nhosts > 0 ? nhosts : 1);
    if (samples <= HVF_SIM_MAX_SAMPLES && host_samples <= HVF_SIM_MAX_HOST_SAMPLES)
        return 0;
    max_samples = HVF_SIM_MAX_HOST_SAMPLES / (nhosts > 0 ? nhosts : 1);
    if (max_samples > HVF_SIM_MAX_SAMPLES)
        max_samples = HVF_SIM_MAX_SAMPLES;
    /* the shortest interval that fits: duration / (max_samples - 1), rounded up */
    min_interval_us = max_samples > 1 ? (p->duration_us + (int64_t)max_samples - 2) /
                                            (int64_t)(max_samples - 1)
                                      : p->duration_us + 1;
    /* shown rounded up, so that the value shown fits too */
    if (min_interval_us > HVF_US_PER_S)
        min_interval_us = (min_interval_us + HVF_US_PER_S - 1) / HVF_US_PER_S * HVF_US_PER_S;
    else if (min_interval_us > HVF_US_PER_MS)
        min_interval_us = (min_interval_us + HVF_US_PER_MS - 1) / HVF_US_PER_MS * HVF_US_PER_MS;
    if (field)
        *field = "metrics_interval";
    hvf_error_set(err, HVF_ERR_INVALID,
                  "%llu samples of %zu host%s (%llu host samples); expected at most %llu samples and %llu host samples (samples x hosts), e.g. a metrics_interval of at least %s or a shorter duration",
                  (unsigned long long)samples, nhosts, nhosts == 1 ? "" : "s",
                  (unsigned long long)host_samples,
                  (unsigned long long)HVF_SIM_MAX_SAMPLES,
                  (unsigned long long)HVF_SIM_MAX_HOST_SAMPLES,
                  hvf_units_format_duration(min_interval_us, b, sizeof(b)));
    return -1;
}

void
hvf_sim_svc_spec_clear(hvf_sim_svc_spec *spec)
{
    free(spec->name);
    free(spec->nodes);
    free(spec->clients);
    memset(spec, 0, sizeof(*spec));
}
