/* SPDX-License-Identifier: MIT */
/* The driver registry and the public entry points: check arguments, hand off to the table. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "driver/agent/agent-driver.h"
#include "driver/driver-uri.h"
#include "driver/libvirt/lv-driver.h"
#include "driver/sim/sim-driver.h"
#include "hvfleet/alloc.h"
#include "hvfleet/driver.h"

const char *const hvf_drv_host_state_names[] = {"active", "draining", "maintenance", "down", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_drv_host_state_names) == HVF_DRV_HOST_LAST + 1, "host states");
const char *const hvf_drv_vm_state_names[] = {"running", "migrating", "paused", "stopped",
                                              "crashed", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_drv_vm_state_names) == HVF_DRV_VM_LAST + 1, "vm states");
const char *const hvf_job_state_names[] = {"setup",  "active",    "postcopy", "completed",
                                           "failed", "cancelled", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_job_state_names) == HVF_JOB_LAST + 1, "job states");
const char *const hvf_drv_event_type_names[] = {"job_done",  "vm_state",    "host_lost",
                                                "host_back", "change_done", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_drv_event_type_names) == HVF_DRV_EV_LAST + 1, "event types");

static const hvf_driver *const registry[] = {&hvf_sim_driver, &hvf_agent_driver,
                                             &hvf_libvirt_driver};
static const char *const schemes[] = {"sim", "agent", "libvirt", NULL};
_Static_assert(HVF_ARRAY_LEN(registry) + 1 == HVF_ARRAY_LEN(schemes), "one scheme a driver");

const char *const *
hvf_driver_schemes(void)
{
    return schemes;
}

/* A caller that may no longer act (a controller whose lease lapsed) is refused every action:
 * the backend is another controller's now (docs/controller-ha.md). */
static bool
may_act(hvf_conn *conn, const char *what, hvf_error *err)
{
    if (!conn->may_act || conn->may_act(conn->may_act_ctx))
        return true;
    hvf_error_set(err, HVF_ERR_REFUSED,
                  "driver %s: not %s: this controller no longer leads (its lease lapsed)",
                  conn->uri, what);
    return false;
}

hvf_conn *
hvf_driver_open(const char *uri, const hvf_driver_opts *opts, hvf_error *err)
{
    static const hvf_driver_opts none = {0};
    const char *colon;
    hvf_conn *conn;

    if (!uri || !(colon = strchr(uri, ':')) || colon == uri) {
        hvf_error_set(err, HVF_ERR_INVALID, "driver URI '%s': expected SCHEME:..., e.g. sim:///default",
                      uri ? uri : "");
        return NULL;
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(registry); i++) {
        size_t n = strlen(registry[i]->scheme);

        if ((size_t)(colon - uri) != n || strncmp(uri, registry[i]->scheme, n) != 0)
            continue;
        conn = HVF_NEW(hvf_conn);
        conn->drv = registry[i];
        conn->uri = hvf_strdup(uri);
        conn->may_act = opts ? opts->may_act : NULL;
        conn->may_act_ctx = opts ? opts->may_act_ctx : NULL;
        if (conn->drv->open(conn, uri, opts ? opts : &none, err) < 0) {
            free(conn->uri);
            free(conn);
            return NULL;
        }
        return conn;
    }
    hvf_error_set(err, HVF_ERR_NOT_FOUND, "driver URI '%s': no driver for scheme '%.*s' (known: sim, agent)",
                  uri, (int)(colon - uri), uri);
    return NULL;
}

void
hvf_driver_close(hvf_conn *conn)
{
    if (!conn)
        return;
    if (conn->drv->close)
        conn->drv->close(conn);
    free(conn->uri);
    free(conn);
}

static int
unsupported(hvf_conn *conn, const char *op, hvf_error *err)
{
    hvf_error_set(err, HVF_ERR_UNSUPPORTED, "driver '%s' does not support %s", conn->drv->scheme,
                  op);
    return -1;
}

static bool
name_ok(const char *what, const char *name, hvf_error *err)
{
    if (!name || !*name || strlen(name) >= HVF_DRV_NAME_MAX) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s name '%s': expected 1 to %d characters", what,
                      name ? name : "", HVF_DRV_NAME_MAX - 1);
        return false;
    }
    return true;
}

int64_t
hvf_driver_now_us(hvf_conn *conn)
{
    return conn->drv->now_us ? conn->drv->now_us(conn) : 0;
}

int
hvf_driver_poll(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap,
                size_t *nevs, hvf_error *err)
{
    *nevs = 0;
    if (!conn->drv->poll)
        return unsupported(conn, "poll", err);
    if (max_wait_us < 0 || !evs || cap == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "poll: expected a wait >= 0 and room for events");
        return -1;
    }
    return conn->drv->poll(conn, max_wait_us, evs, cap, nevs, err);
}

long
hvf_driver_list_hosts(hvf_conn *conn, hvf_drv_host **out, hvf_error *err)
{
    *out = NULL;
    return conn->drv->list_hosts ? conn->drv->list_hosts(conn, out, err)
                                 : unsupported(conn, "listing hosts", err);
}

long
hvf_driver_list_vms(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err)
{
    *out = NULL;
    return conn->drv->list_vms ? conn->drv->list_vms(conn, out, err)
                               : unsupported(conn, "listing VMs", err);
}

hvf_fleet *
hvf_driver_fleet(hvf_conn *conn, hvf_error *err)
{
    if (!conn->drv->fleet) {
        unsupported(conn, "describing the fleet", err);
        return NULL;
    }
    return conn->drv->fleet(conn, err);
}

int
hvf_driver_host_set_state(hvf_conn *conn, const char *host, hvf_drv_host_state state,
                          hvf_error *err)
{
    if (!may_act(conn, "setting a host's state", err))
        return -1;
    if (!name_ok("host", host, err))
        return -1;
    if ((unsigned)state >= HVF_DRV_HOST_LAST) {
        hvf_error_set(err, HVF_ERR_INVALID, "host '%s': state %d does not exist", host, state);
        return -1;
    }
    return conn->drv->host_set_state ? conn->drv->host_set_state(conn, host, state, err)
                                     : unsupported(conn, "host state changes", err);
}

int
hvf_driver_host_maintain(hvf_conn *conn, const char *host, const char *command,
                         int64_t expected_us, int64_t timeout_us, hvf_error *err)
{
    if (!may_act(conn, "maintaining a host", err))
        return -1;
    if (!name_ok("host", host, err))
        return -1;
    if (timeout_us < 0 || expected_us < 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "host '%s': maintenance time and timeout must be >= 0", host);
        return -1;
    }
    return conn->drv->host_maintain
               ? conn->drv->host_maintain(conn, host, command, expected_us, timeout_us, err)
               : unsupported(conn, "host maintenance", err);
}

int
hvf_driver_vm_start(hvf_conn *conn, const char *vm, const char *host, hvf_error *err)
{
    if (!may_act(conn, "starting a VM", err))
        return -1;
    if (!name_ok("VM", vm, err) || !name_ok("host", host, err))
        return -1;
    return conn->drv->vm_start ? conn->drv->vm_start(conn, vm, host, err)
                               : unsupported(conn, "starting VMs", err);
}

int
hvf_driver_vm_stop(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err)
{
    if (!may_act(conn, "stopping a VM", err))
        return -1;
    if (!name_ok("VM", vm, err))
        return -1;
    return conn->drv->vm_stop ? conn->drv->vm_stop(conn, vm, timeout_us < 0 ? 0 : timeout_us, err)
                              : unsupported(conn, "stopping VMs", err);
}

int
hvf_driver_vm_destroy(hvf_conn *conn, const char *vm, hvf_error *err)
{
    if (!may_act(conn, "destroying a VM", err))
        return -1;
    if (!name_ok("VM", vm, err))
        return -1;
    return conn->drv->vm_destroy ? conn->drv->vm_destroy(conn, vm, err)
                                 : unsupported(conn, "destroying VMs", err);
}

int64_t
hvf_driver_migrate(hvf_conn *conn, const char *vm, const char *target,
                   const hvf_migrate_job_params *p, hvf_error *err)
{
    static const hvf_migrate_job_params defaults = {0};

    if (!may_act(conn, "migrating a VM", err))
        return -1;
    if (!name_ok("VM", vm, err) || !name_ok("host", target, err))
        return -1;
    if (p && (p->max_bytes_per_s < 0 || p->downtime_limit_us < 0 ||
              p->completion_timeout_us < 0)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "migration of '%s': bandwidth, downtime limit and timeout must be >= 0", vm);
        return -1;
    }
    if (!conn->drv->migrate)
        return unsupported(conn, "live migration", err);
    return conn->drv->migrate(conn, vm, target, p ? p : &defaults, err);
}

int
hvf_driver_job_info(hvf_conn *conn, int64_t job, hvf_job_info *out, hvf_error *err)
{
    memset(out, 0, sizeof(*out));
    return conn->drv->job_info ? conn->drv->job_info(conn, job, out, err)
                               : unsupported(conn, "job progress", err);
}

int
hvf_driver_job_postcopy(hvf_conn *conn, int64_t job, hvf_error *err)
{
    if (!may_act(conn, "switching a migration to post-copy", err))
        return -1;
    return conn->drv->job_postcopy ? conn->drv->job_postcopy(conn, job, err)
                                   : unsupported(conn, "post-copy", err);
}

int
hvf_driver_job_cancel(hvf_conn *conn, int64_t job, hvf_error *err)
{
    if (!may_act(conn, "cancelling a migration", err))
        return -1;
    return conn->drv->job_cancel ? conn->drv->job_cancel(conn, job, err)
                                 : unsupported(conn, "cancelling jobs", err);
}

int
hvf_driver_host_apply(hvf_conn *conn, const char *host, const char *change, bool rollback,
                      int64_t expected_us, hvf_error *err)
{
    if (!may_act(conn, "applying a change to a host", err))
        return -1;
    if (!name_ok("host", host, err) || !name_ok("change", change, err))
        return -1;
    if (expected_us < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "host '%s': expected time must be >= 0", host);
        return -1;
    }
    return conn->drv->host_apply
               ? conn->drv->host_apply(conn, host, change, rollback, expected_us, err)
               : unsupported(conn, "applying changes", err);
}

int
hvf_driver_host_health(hvf_conn *conn, const char *host, hvf_drv_health *out, hvf_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!name_ok("host", host, err))
        return -1;
    return conn->drv->host_health ? conn->drv->host_health(conn, host, out, err)
                                  : unsupported(conn, "host health", err);
}

int
hvf_driver_job_forget(hvf_conn *conn, int64_t job, hvf_error *err)
{
    return conn->drv->job_forget ? conn->drv->job_forget(conn, job, err) : 0;
}

int
hvf_driver_vm_define(hvf_conn *conn, const hvf_drv_vm_spec *spec, const char *host, hvf_error *err)
{
    if (!may_act(conn, "defining a VM", err))
        return -1;
    if (!spec) {
        hvf_error_set(err, HVF_ERR_INVALID, "define: expected a VM spec");
        return -1;
    }
    /* fixed arrays a caller filled: a name without its terminator is not a name */
    if (!memchr(spec->name, '\0', sizeof(spec->name)) ||
        !memchr(spec->service, '\0', sizeof(spec->service))) {
        hvf_error_set(err, HVF_ERR_INVALID, "define: VM or service name of %d characters or more",
                      HVF_DRV_NAME_MAX);
        return -1;
    }
    if (!name_ok("VM", spec->name, err) || !name_ok("host", host, err))
        return -1;
    if (spec->mem_mib == 0 || spec->vcpus == 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "VM '%s': %" PRIu64 " MiB, %" PRIu32 " vCPUs: expected more than 0",
                      spec->name, spec->mem_mib, spec->vcpus);
        return -1;
    }
    if (!(spec->dirty_mib_per_s >= 0 && spec->dirty_mib_per_s <= HVF_DRV_DIRTY_MIB_MAX)) {
        hvf_error_set(err, HVF_ERR_INVALID, "VM '%s': dirty rate %g MiB/s: expected 0 to %d MiB/s",
                      spec->name, spec->dirty_mib_per_s, HVF_DRV_DIRTY_MIB_MAX);
        return -1;
    }
    return conn->drv->vm_define ? conn->drv->vm_define(conn, spec, host, err)
                                : unsupported(conn, "defining VMs", err);
}

int
hvf_driver_vm_undefine(hvf_conn *conn, const char *vm, hvf_error *err)
{
    if (!may_act(conn, "undefining a VM", err))
        return -1;
    if (!name_ok("VM", vm, err))
        return -1;
    return conn->drv->vm_undefine ? conn->drv->vm_undefine(conn, vm, err)
                                  : unsupported(conn, "undefining VMs", err);
}

int
hvf_driver_host_fenced(hvf_conn *conn, const char *host, hvf_error *err)
{
    if (!name_ok("host", host, err))
        return -1;
    return conn->drv->host_fenced ? conn->drv->host_fenced(conn, host, err)
                                  : unsupported(conn, "fencing hosts", err);
}

int
hvf_driver_uri_split(const char *uri, size_t scheme_len, hvf_driver_uri *out, hvf_error *err)
{
    char *query;

    memset(out, 0, sizeof(*out));
    out->buf = hvf_strdup(uri + scheme_len + 1);
    out->path = out->buf;
    if ((query = strchr(out->buf, '?')))
        *query++ = '\0';
    if (strncmp(out->path, "//", 2) == 0)
        out->path += 2; /* SCHEME:///abs/path: an empty authority */
    while (query && *query) {
        char *amp = strchr(query, '&');
        char *eq;

        if (amp)
            *amp++ = '\0';
        eq = strchr(query, '=');
        if (!eq || eq == query || !eq[1] || out->nparams == HVF_DRIVER_URI_MAX_PARAMS) {
            hvf_error_set(err, HVF_ERR_INVALID, "driver URI '%s': parameter '%s': expected %s",
                          uri, query,
                          out->nparams == HVF_DRIVER_URI_MAX_PARAMS ? "at most 16 parameters"
                                                                    : "NAME=VALUE");
            hvf_driver_uri_clear(out);
            return -1;
        }
        *eq++ = '\0';
        out->names[out->nparams] = query;
        out->values[out->nparams++] = eq;
        query = amp;
    }
    return 0;
}

void
hvf_driver_uri_clear(hvf_driver_uri *u)
{
    free(u->buf);
    memset(u, 0, sizeof(*u));
}
