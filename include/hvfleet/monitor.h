/* SPDX-License-Identifier: MIT */
/*
 * Monitoring in the twin (seed 002): monitors are VMs of the fleet; every interval each working
 * monitor checks the hosts it watches (down, or up but out of service, or running a crashed VM)
 * and, with a heartbeat mesh, the other monitors. After checks_to_alert failed checks in a row
 * it alerts through every alert path: a path hosted on the fleet (a service such as the alert
 * relay or ticketing, or one VM) works only while one of its VMs runs; an external one (a pager
 * service outside the fleet) always works. An alert reaches a human only if a monitor that sees
 * the failure and its path both work: `alert`, else `alert_lost`.
 *
 * An operator acts on the first alert that reaches someone: a decision after `response`, then,
 * after `repair`, every watched host still down or out of service is repaired (renamed NICs put
 * right in the inventory). Without any alert, someone notices the outage `notice` after it
 * began (the next morning). docs/incidents.md, section 002.
 *
 * Plain data filled by the scenario reader (src/conf/scenario-monitor.c, which also clears it);
 * the model is src/platform/monitor.c, attached with hvf_sim_monitor_attach (hvfleet/sim.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hvf_sim_alert_path {
    char *name;       /* owned: "relay", "pager" */
    bool external;    /* not on the fleet: always works */
    int32_t service;  /* hosted: works while one of this service's VMs runs; -1 */
    int32_t vm;       /* hosted: works while this VM runs; -1 */
    int64_t delay_us; /* from sending to a human being notified */
} hvf_sim_alert_path;

typedef struct hvf_sim_monitor_opts {
    int32_t *monitors; /* owned: VM indexes */
    size_t nmonitors;
    int32_t *watched; /* owned: host indexes */
    size_t nwatched;
    int64_t interval_us;
    uint32_t checks_to_alert;  /* failed checks in a row before alerting, >= 1 */
    bool heartbeat;            /* monitors also check each other */
    hvf_sim_alert_path *paths; /* owned */
    size_t npaths;
    int64_t response_us; /* first alert -> the operator's decision */
    int64_t repair_us;   /* decision -> hosts repaired */
    int64_t notice_us;   /* no alert: outage start -> someone notices; -1 = never */
} hvf_sim_monitor_opts;

/* Frees what @o owns (not @o itself); NULL is fine. */
void hvf_sim_monitor_opts_clear(hvf_sim_monitor_opts *o);
