/* SPDX-License-Identifier: MIT */
/* VMs as an orchestrator serves them: start, stop, delete (and create, migrate) through the
 * controller, which owns the driver. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

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
    hvfd *d = r->d;
    hvfd_cmd *cmd = HVF_NEW(hvfd_cmd);
    hvf_store *st;
    hvf_error err = HVF_ERROR_INIT;

    cmd->kind = kind;
    hvf_strlcpy(cmd->vm, vm, sizeof(cmd->vm));
    hvf_strlcpy(cmd->host, host ? host : "", sizeof(cmd->host));
    if (!hvfd_cmd_call(d, cmd, 30000))
        return hvfd_fail(r, 503, NULL, "the controller did not answer in 30 s");
    if (cmd->err.code) {
        hvfd_fail_err(r, &cmd->err);
    } else {
        hvfd_reply(r, cmd->status ? cmd->status : 200, json_incref(cmd->result));
        if ((st = hvfd_store_get(d, &err))) {
            hvfd_event(d, st, "vm", 0,
                       json_pack("{s:s, s:s, s:s, s:s}", "vm", vm, "action",
                                 kind == HVFD_CMD_VM_START  ? "start"
                                 : kind == HVFD_CMD_VM_STOP ? "stop"
                                                            : "delete",
                                 "host", host ? host : "", "by", r->who.name));
            hvfd_store_put(d, st);
        }
    }
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
