/* SPDX-License-Identifier: MIT */
/* The API's routes: one table, matched segment by segment. */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

#define R HVFD_PERM_READ
#define OP HVFD_PERM_OPERATE
#define AP HVFD_PERM_APPROVE
#define AG HVFD_PERM_AGENT

#define MIB ((size_t)1 << 20)

/* Every route; docs/api.md and GET /v1/openapi.json describe the same set (a test checks). */
const hvfd_route hvfd_routes[] = {
    {"GET", "/", 0, hvfd_api_page, "/", 0},
    {"GET", "/v1/health", 0, hvfd_api_health, "/v1/health", 0},
    {"GET", "/v1/version", 0, hvfd_api_version, "/v1/version", 0},
    {"GET", "/v1/openapi.json", 0, hvfd_api_openapi, "/v1/openapi.json", 0},
    {"GET", "/metrics", R, hvfd_api_metrics, "/metrics", 0},
    {"GET", "/v1/hosts", R, hvfd_api_hosts, "/v1/hosts", 0},
    {"GET", "/v1/hosts/{name}", R, hvfd_api_host, "/v1/hosts/{name}", 0},
    {"GET", "/v1/vms", R, hvfd_api_vms, "/v1/vms", 0},
    {"POST", "/v1/vms", OP, hvfd_api_vm_create, "/v1/vms", 0},
    {"GET", "/v1/vms/{name}", R, hvfd_api_vm, "/v1/vms/{name}", 0},
    {"DELETE", "/v1/vms/{name}", OP, hvfd_api_vm_delete, "/v1/vms/{name}", 0},
    {"POST", "/v1/vms/{name}/{action}", OP, hvfd_api_vm_action, "/v1/vms/{name}/{action}", 0},
    {"GET", "/v1/services", R, hvfd_api_services, "/v1/services", 0},
    {"PUT", "/v1/inventory", OP, hvfd_api_inventory_put, "/v1/inventory", 16 * MIB},
    {"GET", "/v1/audit", R, hvfd_api_audit, "/v1/audit", 0},
    {"POST", "/v1/plans", OP, hvfd_api_plans_post, "/v1/plans", 0},
    {"GET", "/v1/plans/{hash}", R, hvfd_api_plan_get, "/v1/plans/{hash}", 0},
    {"GET", "/v1/plans/{hash}/approvals", R, hvfd_api_approvals_get, "/v1/plans/{hash}/approvals",
     0},
    {"POST", "/v1/plans/{hash}/approvals", AP, hvfd_api_approvals_post,
     "/v1/plans/{hash}/approvals", 0},
    {"POST", "/v1/plans/{hash}/runs", OP, hvfd_api_runs_post, "/v1/plans/{hash}/runs", 0},
    {"GET", "/v1/runs", R, hvfd_api_runs_get, "/v1/runs", 0},
    {"GET", "/v1/runs/{id}", R, hvfd_api_run_get, "/v1/runs/{id}", 0},
    {"POST", "/v1/runs/{id}/{action}", OP, hvfd_api_run_control, "/v1/runs/{id}/{action}", 0},
    {"GET", "/v1/freeze", R, hvfd_api_freeze_get, "/v1/freeze", 0},
    {"PUT", "/v1/freeze", OP, hvfd_api_freeze_put, "/v1/freeze", 0},
    {"DELETE", "/v1/freeze", OP, hvfd_api_freeze_delete, "/v1/freeze", 0},
    {"GET", "/v1/events", R, hvfd_api_events, "/v1/events", 0},
    {"GET", "/v1/events/stream", R, hvfd_api_events_stream, "/v1/events/stream", 0},
    {"GET", "/v1/incidents", R, hvfd_api_incidents, "/v1/incidents", 0},
    {"GET", "/v1/agents", R, hvfd_api_agents, "/v1/agents", 0},
    {"GET", "/v1/ha", R, hvfd_api_ha, "/v1/ha", 0},
    {"POST", "/v1/ha/resume", OP, hvfd_api_ha_resume, "/v1/ha/resume", 0},
    {"GET", "/v1/monitors", R, hvfd_api_monitors, "/v1/monitors", 0},
    {"GET", "/v1/cluster", R, hvfd_api_cluster, "/v1/cluster", 0},
    {"POST", "/v1/agent/sync", AG, hvfd_api_agent_sync, "/v1/agent/sync", 0},
};
const size_t hvfd_nroutes = HVF_ARRAY_LEN(hvfd_routes);

/* Matches @path against @pattern; {x} takes one non-empty segment. */
static bool
route_fits(const char *pattern, const char *path, char params[2][256])
{
    int np = 0;

    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            size_t n = strcspn(path, "/");

            if (!close || n == 0 || n >= 256 || np >= 2)
                return false;
            memcpy(params[np], path, n);
            params[np++][n] = '\0';
            pattern = close + 1;
            path += n;
            continue;
        }
        if (*pattern++ != *path++)
            return false;
    }
    return *pattern == '\0' && *path == '\0';
}

const hvfd_route *
hvfd_route_match(const char *method, const char *path, char params[2][256], int *status,
                 char *allow, size_t allow_len)
{
    bool path_known = false;

    if (allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < hvfd_nroutes; i++) {
        const hvfd_route *rt = &hvfd_routes[i];

        if (!route_fits(rt->pattern, path, params))
            continue;
        if (strcmp(rt->method, method) == 0)
            return rt;
        if (allow_len && !strstr(allow, rt->method)) {
            size_t used = strlen(allow);

            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", rt->method);
        }
        path_known = true;
    }
    *status = path_known ? 405 : 404;
    return NULL;
}
