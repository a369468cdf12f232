/* SPDX-License-Identifier: MIT */
/* Routes about the fleet as it is: health, version, hosts, VMs, services, the inventory, the
 * audit. They read the controller's snapshot, never the driver. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"
#include "hvfleet/inventory.h"
#include "hvfleet/store.h"
#include "util/text.h"

int
hvfd_api_health(hvfd_req *r)
{
    hvfd *d = r->d;
    hvfd_snap *s = hvfd_snap_get(d);
    int64_t run = 0;
    bool busy = hvfd_run_busy(d, &run);
    json_t *body;

    /* a standby is healthy without a fleet: it has no driver until it leads */
    bool standby = !hvfd_leading(d);
    bool ok = s || d->cfg.monitor_only || standby;

    pthread_mutex_lock(&d->lock);
    body = json_pack("{s:s, s:s, s:s?, s:I, s:o, s:I}", "status",
                     standby ? "standby"
                     : ok    ? "ok"
                             : "starting",
                     "role", hvfd_role(d), "driver", d->driver_uri, "uptime_s",
                     (json_int_t)(time(NULL) - d->started_unix), "run",
                     busy ? json_integer(run) : json_null(), "snapshot_age_s",
                     (json_int_t)(s ? time(NULL) - s->at_unix : -1));
    pthread_mutex_unlock(&d->lock);
    hvfd_snap_unref(s);
    return hvfd_reply(r, ok ? 200 : 503, body);
}

int
hvfd_api_version(hvfd_req *r)
{
    return hvfd_reply(r, 200,
                      json_pack("{s:s, s:s, s:i, s:[s, s, s]}", "version", HVFD_VERSION, "api",
                                "v1", "store_schema", HVF_STORE_SCHEMA_VERSION, "schemas",
                                "hvfleet.plan/v1", "hvfleet.execution/v1", "hvfleet.audit/v1"));
}

/* The snapshot, or a 503 answered. */
static hvfd_snap *
fleet_snap(hvfd_req *r)
{
    hvfd_snap *s = hvfd_snap_get(r->d);

    if (!s) {
        r->retry_after_s = 1;
        hvfd_fail(r, 503, NULL, "the controller has not read the fleet yet");
    }
    return s;
}

/* @counts: VMs per host of the snapshot's fleet (by its index), or NULL to count them. */
static json_t *
host_json(const hvfd_snap *s, const hvf_drv_host *h, const size_t *counts)
{
    int32_t i = hvf_fleet_find_host(s->fleet, h->name);
    const hvf_host *fh = i >= 0 ? &s->fleet->hosts[i] : NULL;
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:i, s:i}", "name", h->name, "state",
                          hvf_drv_host_state_names[h->state], "usable_mib",
                          (json_int_t)h->usable_mib, "used_mib", (json_int_t)h->used_mib, "vcpus",
                          (int)h->vcpus, "used_vcpus", (int)h->used_vcpus);
    size_t nvms = 0;

    if (fh) {
        json_object_set_new(o, "zone", json_string(s->fleet->zones[fh->zone].name));
        json_object_set_new(o, "rack", json_string(s->fleet->racks[fh->rack].name));
    }
    if (counts && i >= 0)
        nvms = counts[i];
    else
        for (size_t v = 0; v < s->nvms; v++)
            nvms += strcmp(s->vms[v].host, h->name) == 0;
    json_object_set_new(o, "vms", json_integer((json_int_t)nvms));
    if (h->change[0])
        json_object_set_new(o, "change", json_string(h->change));
    if (h->applying)
        json_object_set_new(o, "applying", json_true());
    return o;
}

static json_t *
vm_json(const hvfd_snap *s, const hvf_drv_vm *v)
{
    int32_t i = hvf_fleet_find_vm(s->fleet, v->name);
    const hvf_vm *fv = i >= 0 ? &s->fleet->vms[i] : NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:i}", "name", v->name, "host", v->host, "state",
                          hvf_drv_vm_state_names[v->state], "mem_mib", (json_int_t)v->mem_mib,
                          "vcpus", (int)v->vcpus);

    if (v->job >= 0)
        json_object_set_new(o, "job", json_integer(v->job));
    if (fv) {
        if (fv->service >= 0)
            json_object_set_new(o, "service", json_string(s->fleet->services[fv->service].name));
        json_object_set_new(o, "migratable", json_boolean(fv->migratable));
        json_object_set_new(o, "ha", json_boolean(hvf_vm_is_ha(s->fleet, fv)));
        /* what the planners predict with: the hosts' measurement when they made one */
        json_object_set_new(o, "dirty_mib_per_s",
                            json_real(fv->dirty_bytes_per_s / (1024.0 * 1024.0)));
    }
    return o;
}

int
hvfd_api_hosts(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);
    json_t *arr;

    if (!s)
        return 0;
    arr = json_array();
    {
        /* VMs per host in one pass: a pass per host is hosts x VMs (10,000 x 20,000) */
        HVF_AUTOFREE size_t *counts = hvf_calloc(s->fleet->nhosts + 1, sizeof(size_t));

        for (size_t v = 0; v < s->nvms; v++) {
            int32_t h = hvf_fleet_find_host(s->fleet, s->vms[v].host);

            if (h >= 0)
                counts[h]++;
        }
        for (size_t i = 0; i < s->nhosts; i++)
            json_array_append_new(arr, host_json(s, &s->hosts[i], counts));
    }
    hvfd_reply(r, 200, json_pack("{s:o, s:I}", "hosts", arr, "now_us", (json_int_t)s->now_us));
    hvfd_snap_unref(s);
    return 0;
}

int
hvfd_api_host(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);

    if (!s)
        return 0;
    for (size_t i = 0; i < s->nhosts; i++) {
        if (strcmp(s->hosts[i].name, r->param[0]) == 0) {
            json_t *o = host_json(s, &s->hosts[i], NULL), *vms = json_array();

            for (size_t v = 0; v < s->nvms; v++)
                if (strcmp(s->vms[v].host, r->param[0]) == 0)
                    json_array_append_new(vms, json_string(s->vms[v].name));
            json_object_set_new(o, "vm_names", vms);
            hvfd_snap_unref(s);
            return hvfd_reply(r, 200, o);
        }
    }
    hvfd_snap_unref(s);
    return hvfd_fail(r, 404, "name", "no host named '%.128s'", r->param[0]);
}

int
hvfd_api_vms(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);
    HVF_AUTOFREE char *host = NULL;
    json_t *arr;

    if (!s)
        return 0;
    host = hvfd_query(r, "host");
    arr = json_array();
    for (size_t i = 0; i < s->nvms; i++)
        if (!host || strcmp(s->vms[i].host, host) == 0)
            json_array_append_new(arr, vm_json(s, &s->vms[i]));
    hvfd_reply(r, 200, json_pack("{s:o}", "vms", arr));
    hvfd_snap_unref(s);
    return 0;
}

int
hvfd_api_vm(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);

    if (!s)
        return 0;
    for (size_t i = 0; i < s->nvms; i++) {
        if (strcmp(s->vms[i].name, r->param[0]) == 0) {
            json_t *o = vm_json(s, &s->vms[i]);

            hvfd_snap_unref(s);
            return hvfd_reply(r, 200, o);
        }
    }
    hvfd_snap_unref(s);
    return hvfd_fail(r, 404, "name", "no VM named '%.128s'", r->param[0]);
}

int
hvfd_api_services(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);
    const hvf_fleet *f;
    json_t *arr;

    if (!s)
        return 0;
    f = s->fleet;
    arr = json_array();
    for (size_t i = 0; i < f->nservices; i++) {
        const hvf_service *svc = &f->services[i];
        json_t *vms = json_array();
        size_t running = 0;

        for (size_t v = 0; v < f->nvms; v++) {
            if (f->vms[v].service != (int32_t)i)
                continue;
            json_array_append_new(vms, json_string(f->vms[v].name));
            for (size_t k = 0; k < s->nvms; k++)
                if (strcmp(s->vms[k].name, f->vms[v].name) == 0 &&
                    (s->vms[k].state == HVF_DRV_VM_RUNNING ||
                     s->vms[k].state == HVF_DRV_VM_MIGRATING))
                    running++;
        }
        json_array_append_new(arr, json_pack("{s:s, s:b, s:i, s:s, s:I, s:o}", "name", svc->name,
                                             "critical", svc->critical, "min_available",
                                             (int)svc->min_available, "spread",
                                             hvf_spread_to_string(svc->spread), "running",
                                             (json_int_t)running, "vms", vms));
    }
    hvfd_reply(r, 200, json_pack("{s:o}", "services", arr));
    hvfd_snap_unref(s);
    return 0;
}

/* "FILE:LINE: FIELD: VALUE: MSG" as an object; lines of another shape keep their text. */
static json_t *
inventory_problem(const char *line)
{
    const char *p[4] = {line, NULL, NULL, NULL};
    int n = 1;
    json_t *o;

    while (n < 4 && (p[n] = strstr(p[n - 1], ": ")))
        p[n++] += 2;
    if (n < 4)
        return json_pack("{s:s}", "message", line);
    {
        HVF_AUTOFREE char *where = hvf_strndup(p[0], (size_t)(p[1] - 2 - p[0]));
        HVF_AUTOFREE char *field = hvf_strndup(p[1], (size_t)(p[2] - 2 - p[1]));
        const char *colon = strrchr(where, ':');
        const char *value_end = strstr(p[2], ": ");

        o = json_pack("{s:s, s:i, s:s}", "field", field, "line", colon ? atoi(colon + 1) : 0,
                      "message", line);
        if (value_end) {
            size_t vlen = (size_t)(value_end - p[2]);
            /* the reader quotes values ('lots'): the field holds the value itself */
            bool quoted = vlen >= 2 && p[2][0] == '\'' && p[2][vlen - 1] == '\'';
            HVF_AUTOFREE char *value = hvf_strndup(p[2] + quoted, vlen - 2 * quoted);

            json_object_set_new(o, "value", json_string(value));
            json_object_set_new(o, "expected", json_string(value_end + 2));
        } else {
            json_object_set_new(o, "expected", json_string(p[2]));
        }
    }
    return o;
}

int
hvfd_api_inventory_put(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *fleet;
    HVF_AUTOFREE char *path = NULL;
    hvfd_cmd *cmd;

    if (!r->body.len)
        return hvfd_fail(r, 400, NULL, "the body must be an inventory (hvfleet.inventory/v1)");
    hvf_diags_init(&diags);
    fleet = hvf_inventory_parse("body", r->body.buf, r->body.len, &diags, &err);
    if (!fleet) {
        json_t *list = json_array();

        for (size_t i = 0; i < diags.n; i++)
            json_array_append_new(list, inventory_problem(diags.lines[i]));
        size_t total = diags.total ? diags.total : 1;

        if (!diags.n)
            json_array_append_new(list, json_pack("{s:s}", "message", err.msg));
        hvf_diags_clear(&diags);
        hvfd_fail(r, 400, NULL, "the inventory is not valid: %s", err.msg);
        json_object_set_new(r->json, "problem_count", json_integer((json_int_t)total));
        json_object_set_new(r->json, "problems", list);
        return 0;
    }
    hvf_diags_clear(&diags);
    if (hvfd_run_busy(d, NULL)) {
        hvf_fleet_free(fleet);
        return hvfd_fail(r, 409, NULL, "a run is going: the inventory is replaced after it");
    }
    path = hvf_asprintf("%s/inventory.yaml", d->state_dir);
    if (hvf_file_write_atomic(path, r->body.buf, r->body.len, &err) < 0) {
        hvf_fleet_free(fleet);
        return hvfd_fail_err(r, &err);
    }
    {
        char fp[65];

        hvf_inventory_fingerprint(fleet, fp);
        hvfd_event(d, NULL, "inventory", 0,
                   json_pack("{s:s, s:s, s:I, s:I}", "by", r->who.name, "fingerprint", fp,
                             "hosts", (json_int_t)fleet->nhosts, "vms", (json_int_t)fleet->nvms));
        hvf_fleet_free(fleet);
    }
    if (!hvfd_driver_follows_put(d))
        return hvfd_reply(r, 202,
                          json_pack("{s:s, s:s}", "stored", path, "note",
                                    "kept as the desired fleet; the driver's fleet is not "
                                    "replaced (hvfleetd runs with --inventory or a driver URI "
                                    "that names its own)"));
    cmd = HVF_NEW(hvfd_cmd);
    cmd->kind = HVFD_CMD_INVENTORY;
    if (!hvfd_cmd_run(r, cmd, 30000))
        return 0;
    json_object_set_new(cmd->result, "stored", json_string(path));
    hvfd_reply(r, 200, json_incref(cmd->result));
    hvfd_cmd_free(cmd);
    return 0;
}

int
hvfd_api_audit(hvfd_req *r)
{
    hvfd_snap *s = fleet_snap(r);
    hvf_audit *a;
    char *text;
    json_t *body;

    if (!s)
        return 0;
    a = hvf_audit_run(s->fleet, NULL);
    text = hvf_audit_json(a, s->fleet, NULL);
    hvf_audit_free(a);
    hvfd_snap_unref(s);
    body = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!body)
        return hvfd_fail(r, 500, NULL, "the audit could not be written as JSON");
    return hvfd_reply(r, 200, body);
}
