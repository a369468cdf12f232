/* SPDX-License-Identifier: MIT */
/* VMs as an orchestrator serves them: start, stop, delete (and create, migrate) through the
 * controller, which owns the driver. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"
#include "hvfleet/placement.h"
#include "hvfleet/plan.h"

/* Checks that @name is a VM of the snapshot; fills @host with where it runs. Answers 404. */
static int
vm_known(hvfd_req *r, const char *name, char *host, size_t len)
{
    hvfd_snap *s = hvfd_snap_get(r->d);
    bool found = false;

    for (size_t i = 0; s && i < s->nvms && !found; i++)
        if (strcmp(s->vms[i].name, name) == 0) {
            found = true;
            hvf_strlcpy(host, s->vms[i].host, len);
        }
    hvfd_snap_unref(s);
    if (!found)
        return hvfd_fail(r, 404, "name", "no VM named '%.128s'", name) - 1;
    return 0;
}

/* Queues @kind for @vm and answers with what the controller says. */
static int
vm_command(hvfd_req *r, hvfd_cmd_kind kind, const char *vm, const char *host)
{
    hvfd_cmd *cmd = HVF_NEW(hvfd_cmd);

    cmd->kind = kind;
    hvf_strlcpy(cmd->vm, vm, sizeof(cmd->vm));
    hvf_strlcpy(cmd->host, host ? host : "", sizeof(cmd->host));
    if (!hvfd_cmd_run(r, cmd, 30000))
        return 0;
    hvfd_reply(r, cmd->status ? cmd->status : 200, json_incref(cmd->result));
    hvfd_event(r->d, NULL, "vm", 0,
               json_pack("{s:s, s:s, s:s, s:s}", "vm", vm, "action",
                         kind == HVFD_CMD_VM_START  ? "start"
                         : kind == HVFD_CMD_VM_STOP ? "stop"
                                                    : "delete",
                         "host", host ? host : "", "by", r->who.name));
    hvfd_cmd_free(cmd);
    return 0;
}

int
hvfd_api_vm_action(hvfd_req *r)
{
    static const char *const start_fields[] = {"host", NULL};
    const char *action = r->param[1];
    char host[HVF_DRV_NAME_MAX];
    json_t *body;
    const char *to = NULL;
    int rc = 0;

    if (strcmp(action, "start") != 0 && strcmp(action, "stop") != 0 &&
        strcmp(action, "migrate") != 0)
        return hvfd_fail(r, 404, "action",
                         "no route POST /v1/vms/{name}/%.40s (expected start, stop or migrate)",
                         action);
    if (vm_known(r, r->param[0], host, sizeof(host)) < 0)
        return 0;
    if (strcmp(action, "migrate") == 0)
        return hvfd_api_vm_migrate(r);
    if (!(body = hvfd_body_object(r, strcmp(action, "start") == 0 ? start_fields : NULL)))
        return 0;
    if (hvfd_field_name(r, body, "host", false, &to) < 0) {
        json_decref(body);
        return 0;
    }
    rc = vm_command(r, strcmp(action, "start") == 0 ? HVFD_CMD_VM_START : HVFD_CMD_VM_STOP,
                    r->param[0], to ? to : host);
    json_decref(body);
    return rc;
}

int
hvfd_api_vm_delete(hvfd_req *r)
{
    char host[HVF_DRV_NAME_MAX];

    if (vm_known(r, r->param[0], host, sizeof(host)) < 0)
        return 0;
    return vm_command(r, HVFD_CMD_VM_DELETE, r->param[0], host);
}

/* ---- placement for a new VM or a migration: the fleet as last seen, with the claims of the
 * migrations in flight, hosts not in service left out ---- */

typedef struct vm_place {
    hvfd_snap *snap;
    hvf_fleet *fleet; /* owned copy with claims */
    hvf_placer *placer;
} vm_place;

static void
vm_place_clear(vm_place *vp)
{
    hvf_placer_free(vp->placer);
    hvf_fleet_free(vp->fleet);
    hvfd_snap_unref(vp->snap);
}

static int
vm_place_init(hvfd_req *r, vm_place *vp)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    hvf_store_claim *claims = NULL;
    long n = 0;
    int64_t run = 0;

    memset(vp, 0, sizeof(*vp));
    if (!(vp->snap = hvfd_snap_get(d))) {
        r->retry_after_s = 1;
        return hvfd_fail(r, 503, NULL, "the controller has not read the fleet yet") - 1;
    }
    vp->fleet = hvf_fleet_dup(vp->snap->fleet);
    if (hvfd_run_busy(d, &run) && (st = hvfd_store_get(d, &err))) {
        n = hvf_store_claims(st, run, &claims, &err);
        hvfd_store_put(d, st);
    }
    for (long i = 0; i < n; i++) {
        int32_t h = hvf_fleet_find_host(vp->fleet, claims[i].host);
        hvf_resources res = {claims[i].mem_mib, claims[i].vcpus};

        if (h >= 0 && hvf_host_claim(&vp->fleet->hosts[h], &res, HVF_OVERCOMMIT, &err) < 0)
            hvfd_log(HVFD_WARN, err.msg, NULL);
    }
    free(claims);
    vp->placer = hvf_placer_new(vp->fleet, NULL);
    for (size_t i = 0; i < vp->snap->nhosts; i++) {
        int32_t h = hvf_fleet_find_host(vp->fleet, vp->snap->hosts[i].name);

        if (h >= 0 && vp->snap->hosts[i].state != HVF_DRV_HOST_ACTIVE)
            hvf_placer_set_role(vp->placer, h, HVF_PLACE_ROLE_OFFLINE);
    }
    return 0;
}

/* {"memory": 3, ...}: how many hosts each filter turned away. */
static json_t *
vm_rejects(const hvf_place_result *res)
{
    json_t *o = json_object();

    for (int i = 0; i < HVF_PLACE_REJECT_LAST; i++)
        if (res->rejected[i])
            json_object_set_new(o, hvf_place_reject_to_string((hvf_place_reject)i),
                                json_integer(res->rejected[i]));
    return o;
}

/* Chooses a host for @req, or (@to) checks that one. Returns the host index, or -1 after
 * answering 404/409 with why, per filter. */
static int32_t
vm_choose(hvfd_req *r, vm_place *vp, hvf_place_request *req, const char *to, const char *what)
{
    hvf_place_result res;
    int32_t h;

    memset(&res, 0, sizeof(res));
    if (to) {
        int why;

        h = hvf_fleet_find_host(vp->fleet, to);
        if (h < 0)
            return hvfd_fail(r, 404, "host", "no host named '%.128s'", to) - 1;
        why = hvf_placer_check(vp->placer, req, h);
        if (hvf_placer_get_role(vp->placer, h) == HVF_PLACE_ROLE_OFFLINE)
            why = HVF_PLACE_REJECT_STATE;
        if (why >= 0) {
            hvfd_fail(r, 409, "host", "%s cannot go to %s: %s (%s)", what, to,
                      hvf_place_reject_to_string((hvf_place_reject)why),
                      hvf_place_reject_describe((hvf_place_reject)why));
            return -1;
        }
        return h;
    }
    req->explain = true;
    h = hvf_placer_choose(vp->placer, req, &res);
    if (h < 0) {
        char why[512] = "";

        for (int i = 0; i < HVF_PLACE_REJECT_LAST; i++)
            if (res.rejected[i])
                snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s%u %s (%s)",
                         why[0] ? ", " : "", res.rejected[i],
                         hvf_place_reject_to_string((hvf_place_reject)i),
                         hvf_place_reject_describe((hvf_place_reject)i));
        hvfd_fail(r, 409, NULL, "%s fits on none of the %u hosts: %s", what, res.examined,
                  why[0] ? why : "no host");
        json_object_set_new(r->json, "rejected", vm_rejects(&res));
        return -1;
    }
    return h;
}

int
hvfd_api_vm_create(hvfd_req *r)
{
    static const char *const fields[] = {"name",    "mem_mib",         "vcpus", "service",
                                         "host",    "dirty_mib_per_s", "migratable", "ha", NULL};
    hvfd *d = r->d;
    json_t *body = hvfd_body_object(r, fields);
    const char *name = NULL, *service = NULL, *to = NULL;
    uint64_t mem = 0, vcpus = 0;
    bool migratable = true, ha = false;
    double dirty = 0;
    vm_place vp;
    hvf_place_request req;
    hvfd_cmd *cmd;
    int32_t h, svc = -1;
    json_t *dj;

    if (!body)
        return 0;
    if (hvfd_field_name(r, body, "name", true, &name) < 0 ||
        hvfd_field_uint(r, body, "mem_mib", true, (uint64_t)1 << 24, &mem) < 0 ||
        hvfd_field_uint(r, body, "vcpus", true, 1024, &vcpus) < 0 ||
        hvfd_field_name(r, body, "service", false, &service) < 0 ||
        hvfd_field_name(r, body, "host", false, &to) < 0 ||
        hvfd_field_bool(r, body, "migratable", &migratable) < 0 ||
        hvfd_field_bool(r, body, "ha", &ha) < 0)
        goto out;
    if (mem == 0 || vcpus == 0) {
        hvfd_fail(r, 400, mem == 0 ? "mem_mib" : "vcpus", "'%s' must be more than 0",
                  mem == 0 ? "mem_mib" : "vcpus");
        goto out;
    }
    if ((dj = json_object_get(body, "dirty_mib_per_s")) &&
        (!json_is_number(dj) || json_number_value(dj) < 0 || json_number_value(dj) > 1e6)) {
        hvfd_fail(r, 400, "dirty_mib_per_s", "'dirty_mib_per_s' must be a number from 0 to 1e6");
        goto out;
    }
    dirty = dj ? json_number_value(dj) : 0;
    if (vm_place_init(r, &vp) < 0)
        goto out;
    if (hvf_fleet_find_vm(vp.fleet, name) >= 0) {
        hvfd_fail(r, 409, "name", "a VM named '%s' exists", name);
        goto place_out;
    }
    if (service && (svc = hvf_fleet_find_service(vp.fleet, service)) < 0) {
        hvfd_fail(r, 404, "service", "no service named '%s'", service);
        goto place_out;
    }
    memset(&req, 0, sizeof(req));
    req.need.mem_mib = mem;
    req.need.vcpus = (uint32_t)vcpus;
    req.service = svc;
    req.source = -1;
    req.pin_host = -1;
    if ((h = vm_choose(r, &vp, &req, to, name)) < 0)
        goto place_out;
    cmd = HVF_NEW(hvfd_cmd);
    cmd->kind = HVFD_CMD_VM_CREATE;
    hvf_strlcpy(cmd->vm, name, sizeof(cmd->vm));
    hvf_strlcpy(cmd->host, vp.fleet->hosts[h].name, sizeof(cmd->host));
    cmd->spec = json_pack("{s:I, s:I, s:f, s:s, s:b}", "mem_mib", (json_int_t)mem, "vcpus",
                          (json_int_t)vcpus, "dirty_mib_per_s", dirty, "service",
                          service ? service : "", "migratable", migratable);
    if (json_is_boolean(json_object_get(body, "ha"))) /* absent: its service's */
        json_object_set_new(cmd->spec, "ha", json_boolean(ha));
    if (hvfd_cmd_run(r, cmd, 30000)) {
        hvfd_reply(r, 201, json_pack("{s:s, s:s, s:s}", "name", name, "host", cmd->host, "state",
                                     "running"));
        hvfd_event(d, NULL, "vm", 0,
                   json_pack("{s:s, s:s, s:s, s:s}", "vm", name, "action", "create", "host",
                             cmd->host, "by", r->who.name));
        hvfd_cmd_free(cmd);
    }
place_out:
    vm_place_clear(&vp);
out:
    json_decref(body);
    return 0;
}

/* A single migration is a one-move plan run by the executor: the same limits, claims, journal
 * and approval rules as any plan (a move the seatbelt does not let through needs approving). */
int
hvfd_api_vm_migrate(hvfd_req *r)
{
    static const char *const fields[] = {"host", NULL};
    hvfd *d = r->d;
    json_t *body = hvfd_body_object(r, fields);
    const char *to = NULL;
    vm_place vp;
    hvf_place_request req;
    hvf_audit a;
    hvf_audit_move mv;
    hvf_plan *plan = NULL;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = NULL;
    int32_t v, h;
    json_t *sub;

    if (!body)
        return 0;
    if (hvfd_field_name(r, body, "host", false, &to) < 0 || vm_place_init(r, &vp) < 0)
        goto out;
    v = hvf_fleet_find_vm(vp.fleet, r->param[0]);
    if (v < 0 || vp.fleet->vms[v].host < 0) {
        hvfd_fail(r, 409, "name", "VM '%s' is not placed on a host", r->param[0]);
        goto place_out;
    }
    if (!vp.fleet->vms[v].migratable) {
        hvfd_fail(r, 409, "name", "VM '%s' cannot live-migrate (migratable: false)",
                  r->param[0]);
        goto place_out;
    }
    memset(&req, 0, sizeof(req));
    req.need = hvf_vm_resources(&vp.fleet->vms[v]);
    req.service = vp.fleet->vms[v].service;
    req.source = vp.fleet->vms[v].host;
    hvf_place_request_pin(&req, &vp.fleet->vms[v]);
    if ((h = vm_choose(r, &vp, &req, to, r->param[0])) < 0)
        goto place_out;
    memset(&a, 0, sizeof(a));
    mv.vm = v;
    mv.from = vp.fleet->vms[v].host;
    mv.to = h;
    mv.finding = 0;
    a.moves = &mv;
    a.nmoves = 1;
    /* the plan is made on the fleet as the driver reports it (its fingerprint is checked) */
    plan = hvf_audit_fix_plan(&a, vp.snap->fleet, NULL);
    hvf_plan_format(plan, &sb);
    if (!(st = hvfd_store_get(d, &err)) ||
        hvf_store_plan_put(st, plan->summary.plan_hash, "rebalance", r->who.name, sb.buf, &err) <
            0) {
        hvfd_fail_err(r, &err);
        goto place_out;
    }
    hvfd_event(d, st, "plan", 0,
               json_pack("{s:s, s:s, s:s, s:s, s:s}", "plan_hash", plan->summary.plan_hash,
                         "kind", "rebalance", "by", r->who.name, "verdict",
                         hvf_plan_verdict_to_string(plan->summary.verdict), "vm", r->param[0]));
    /* then as POST /v1/plans/{hash}/runs */
    hvf_strlcpy(r->param[0], plan->summary.plan_hash, sizeof(r->param[0]));
    hvfd_store_put(d, st);
    st = NULL;
    hvfd_run_start(r);
    if ((sub = r->json)) {
        json_object_set_new(sub, "plan_hash", json_string(plan->summary.plan_hash));
        json_object_set_new(sub, "from", json_string(vp.fleet->hosts[mv.from].name));
        json_object_set_new(sub, "to", json_string(vp.fleet->hosts[h].name));
    }
place_out:
    hvfd_store_put(d, st);
    hvf_strbuf_clear(&sb);
    hvf_plan_free(plan);
    vm_place_clear(&vp);
out:
    json_decref(body);
    return 0;
}
