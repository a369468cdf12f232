/* SPDX-License-Identifier: MIT */
/*
 * What the drivers of real hosts (agent://, libvirt:) share. Their world is the inventory's
 * fleet with where each VM runs now (its accounting kept by hvf_drv_vm_place), a state per
 * host and VM that each driver keeps in its own records (read through a view), and the events
 * not polled yet. Their clock is wall time since they opened (CLOCK_MONOTONIC).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"

int64_t hvf_drv_mono_ns(void);

typedef struct hvf_drv_evq {
    hvf_drv_event *evs;
    size_t n, cap;
} hvf_drv_evq;

void hvf_drv_evq_push(hvf_drv_evq *q, int64_t t_us, hvf_drv_event_type type, const char *host,
                      const char *vm, hvf_drv_vm_state vs, int64_t job, hvf_job_state js);
/* Moves up to @cap of the oldest events into @evs; returns how many. */
size_t hvf_drv_evq_take(hvf_drv_evq *q, hvf_drv_event *evs, size_t cap);
void hvf_drv_evq_clear(hvf_drv_evq *q);

/* A driver's states, read by index of the fleet's hosts and VMs. */
typedef struct hvf_drv_world_view {
    const hvf_fleet *fleet;
    const void *ctx;
    hvf_drv_host_state (*host_state)(const void *ctx, size_t h);
    hvf_drv_vm_state (*vm_state)(const void *ctx, size_t v); /* MIGRATING while it has a job */
    int64_t (*vm_job)(const void *ctx, size_t v);            /* -1 none */
    double (*vm_dirty)(const void *ctx, size_t v);           /* measured bytes/s, < 0 none */
} hvf_drv_world_view;

/* The driver table's list_hosts, list_vms and fleet, for a driver whose private data begins
 * with its hvf_drv_world_view. */
long hvf_drv_world_list_hosts(hvf_conn *conn, hvf_drv_host **out, hvf_error *err);
long hvf_drv_world_list_vms(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err);
hvf_fleet *hvf_drv_world_fleet(hvf_conn *conn, hvf_error *err);

/* The host states a caller may set (active <-> draining, maintenance -> active): 0, or -1
 * with HVF_ERR_CONFLICT naming @host, its state and the one asked for. */
int hvf_drv_host_transition(const char *host, hvf_drv_host_state cur, hvf_drv_host_state want,
                            hvf_error *err);
/* host_maintain's checks: @h is draining and runs nothing (HVF_ERR_CONFLICT naming what). */
int hvf_drv_world_may_maintain(const hvf_drv_world_view *w, int32_t h, hvf_error *err);
/* host_fenced's check and its effect: @h must be down; each VM of it neither stopped nor
 * crashed is handed to @crash (which marks it crashed and says so). */
int hvf_drv_world_fence(const hvf_drv_world_view *w, int32_t h, void (*crash)(void *ctx, size_t v),
                        void *ctx, hvf_error *err);
/* Records that @vm runs on @host now, moving what it uses there (over-committing if need be:
 * the world says what is, not what should be). */
void hvf_drv_vm_place(hvf_fleet *f, int32_t vm, int32_t host);
