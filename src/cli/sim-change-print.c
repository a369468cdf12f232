/* SPDX-License-Identifier: MIT */
/* The lines `hvfleet simulate` prints about a run's rolling changes and services' work. */
#include <stdio.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/sim-change.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/units.h"

static const char *
cli_t(int64_t us, char *buf, size_t size)
{
    if (us < 0)
        return "never";
    return hvf_units_format_duration(us, buf, size);
}

void
hvf_cli_print_changes(hvf_sim *sim)
{
    const hvf_sim_change_outcome *o = NULL;
    size_t n = hvf_sim_change_outcomes(sim, &o);
    hvf_sim_svc_stats st;
    char a[32], b[32], c[32], d[32];

    for (size_t i = 0; i < n; i++) {
        const hvf_sim_change_outcome *x = &o[i];
        printf("  change %-13s %s, ", x->name, x->as_written ? "as written" : "hvfleet");
        if (!x->started)
            printf("not started (%s)\n",
                   x->as_written ? "no plan" : hvf_plan_verdict_to_string(x->verdict));
        else if (x->completed)
            printf("all %zu waves applied%s; %zu of %zu units changed at the end\n",
                   x->waves_planned, x->reverted ? ", then reverted by people" : "",
                   x->units_changed, x->units);
        else
            printf("%s during wave %zu of %zu; %zu of %zu units changed at the end\n",
                   x->rolled_back ? "halted and rolled back"
                   : x->reverted  ? "reverted by people"
                   : x->halted    ? "halted"
                                  : "still running",
                   x->waves_done + 1, x->waves_planned, x->units_changed, x->units);
        if (x->halt_reason[0])
            printf("    gate failed: %s\n", x->halt_reason);
        if (x->t_event_us >= 0)
            printf("    first harm %s, detected %s, decided %s, resolved %s\n",
                   cli_t(x->t_event_us, a, sizeof(a)), cli_t(x->t_detect_us, b, sizeof(b)),
                   cli_t(x->t_decide_us, c, sizeof(c)), cli_t(x->t_resolve_us, d, sizeof(d)));
    }
    hvf_sim_svc_get_stats(sim, &st);
    if (st.first_impact_us < 0)
        return;
    printf("  services             %u VMs with disk IO blocked at once (%.1f VM-minutes); %u "
           "replicas answering nothing (%.1f min); %u clients failing (%.1f client-minutes)\n",
           st.peak_vms_io_blocked, st.vm_io_blocked_s / 60, st.peak_replicas_not_serving,
           st.replica_not_serving_s / 60, st.peak_clients_failing, st.client_failing_s / 60);
}
