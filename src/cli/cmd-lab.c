/* SPDX-License-Identifier: MIT */
/* hvfleet lab up|down|status: a fleet of network namespaces on this machine (docs/lab.md). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/lab.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"

/* --dir DIR and nothing else, for down and status; and --host H when @host is not NULL (fence,
 * which needs it). Returns 0, or the exit status (-1: --help was printed). */
static int
lab_dir_only(int argc, char **argv, const char *what, const char *help, const struct option *opts,
             char **dir, const char **host)
{
    const char *arg = NULL;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            arg = optarg;
            break;
        case 'H':
            *host = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            return -1;
        case ':':
            fprintf(stderr, "hvfleet: %s: %s needs a value\n", what, argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: %s: bad option '%s'; see hvfleet %s --help\n", what,
                    argv[optind - 1], what);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hvfleet: %s: unexpected argument '%s'\n", what, argv[optind]);
        return 2;
    }
    if (host && !*host) {
        fprintf(stderr, "hvfleet: %s: --host H is required (the host to power off)\n", what);
        return 2;
    }
    return (*dir = hvf_cli_lab_dir(what, arg)) ? 0 : 2;
}

/* The lab recorded in @dir, its dir set to @dir (where it was found); NULL after a message with
 * the exit status in *@rc (0 when there is none and @none_ok). */
static hvf_lab *
lab_open(const char *what, const char *dir, bool none_ok, int *rc)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_lab *lab = hvf_lab_load(dir, &err);

    if (!lab) {
        if (err.code == HVF_ERR_NOT_FOUND && none_ok) {
            fprintf(stderr, "hvfleet: %s: %s: nothing to do\n", what, err.msg);
            *rc = 0;
        } else {
            fprintf(stderr, "hvfleet: %s: %s\n", what, err.msg);
            *rc = err.code == HVF_ERR_NOT_FOUND ? 2 : hvf_errcode_exit_status(err.code);
        }
        return NULL;
    }
    free(lab->dir);
    lab->dir = hvf_strdup(dir);
    return lab;
}

int
hvf_cli_lab_down(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char help[] =
        "usage: hvfleet lab down --dir DIR\n"
        "Takes down the lab recorded in DIR/lab.json: its agents, then hvfleetd (SIGTERM, then\n"
        "SIGKILL after 5 s; each by PID and start time), the QEMUs its agents started, then its\n"
        "namespaces, veths and bridge; lab.json last. What is gone already is skipped: down\n"
        "is safe to repeat, and undoes a half-made lab. DIR's files (logs, inventory) stay.\n";
    HVF_AUTOFREE char *dir = NULL;
    hvf_error err = HVF_ERROR_INIT;
    hvf_lab *lab;
    int rc, lock = -1;

    if (hvf_cli_options_wanted(opts))
        return 0;
    if ((rc = lab_dir_only(argc, argv, "lab down", help, opts, &dir, NULL)) != 0)
        return rc < 0 ? 0 : rc;
    if (!(lab = lab_open("lab down", dir, true, &rc)))
        return rc;
    if (geteuid() != 0) {
        fprintf(stderr, "hvfleet: lab down: needs root (it deletes network namespaces and "
                        "links)\n");
        hvf_lab_free(lab);
        return 1;
    }
    /* a lab's directory has its marker; one made by hand may not, and is not locked */
    {
        HVF_AUTOFREE char *marker = hvf_asprintf("%s/" HVF_LAB_MARKER, dir);

        if (access(marker, F_OK) == 0 && (lock = hvf_lab_dir_lock(dir, &err)) < 0) {
            hvf_lab_free(lab);
            fprintf(stderr, "hvfleet: lab down: %s\n", err.msg);
            return 1;
        }
    }
    rc = hvf_lab_down(lab, false, &err);
    if (lock >= 0)
        close(lock);
    hvf_lab_free(lab);
    return rc < 0 ? hvf_cli_fail(&err) : 0;
}

/* The agents' and VMs' lists from the lab's hvfleetd; prints why not when it cannot. */
static json_t *
lab_status_get(hvf_client *c, const char *path, const char *key)
{
    hvf_error err = HVF_ERROR_INIT;
    json_t *ans = NULL;
    long status = hvf_client_request(c, "GET", path, NULL, &ans, &err);
    json_t *list = json_object_get(ans, key);

    if (status != 200 || !json_is_array(list)) {
        fprintf(stderr, "hvfleet: lab status: GET %s: %s\n", path,
                status < 0 ? err.msg : "unexpected answer");
        json_decref(ans);
        return NULL;
    }
    json_incref(list);
    json_decref(ans);
    return list;
}

int
hvf_cli_lab_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char help[] =
        "usage: hvfleet lab status --dir DIR\n"
        "The lab recorded in DIR: its hosts, each agent's process and state, and the VMs as\n"
        "its hvfleetd sees them. Exit 1 when a recorded process is gone.\n";
    HVF_AUTOFREE char *dir = NULL;
    HVF_AUTOFREE char *url = NULL;
    HVF_AUTOFREE char *token = NULL;
    json_t *agents = NULL, *vms = NULL;
    hvf_client *c = NULL;
    hvf_lab *lab;
    char net[16], addr[16];
    bool daemon_up = false;
    size_t gone = 0;
    int rc;

    if (hvf_cli_options_wanted(opts))
        return 0;
    if ((rc = lab_dir_only(argc, argv, "lab status", help, opts, &dir, NULL)) != 0)
        return rc < 0 ? 0 : rc;
    if (!(lab = lab_open("lab status", dir, false, &rc)))
        return rc;
    for (size_t i = 0; i < lab->nprocs; i++) {
        bool alive = hvf_lab_proc_alive(&lab->procs[i]);

        gone += !alive;
        daemon_up = daemon_up || (alive && strcmp(lab->procs[i].role, "hvfleetd") == 0);
    }
    url = hvf_asprintf("http://%s:%d", hvf_lab_addr_format(lab->subnet + 1, addr), lab->port);
    token = hvf_asprintf("%s/token", dir);
    printf("lab %s: %zu host%s on %s/24 (bridge %s), hvfleetd %s (%s)\n", lab->id, lab->nhosts,
           HVF_CLI_S(lab->nhosts), hvf_lab_addr_format(lab->subnet, net), lab->bridge, url,
           daemon_up ? "running" : "not running");
    if (daemon_up) {
        hvf_client_opts co = {url, token, NULL};
        hvf_error err = HVF_ERROR_INIT;

        if (!(c = hvf_client_new(&co, &err)))
            fprintf(stderr, "hvfleet: lab status: %s\n", err.msg);
        if (c) {
            agents = lab_status_get(c, "/v1/agents", "agents");
            vms = lab_status_get(c, "/v1/vms", "vms");
        }
    }
    printf("%-5s %-15s %-8s %-10s %s\n", "HOST", "ADDRESS", "AGENT", "STATE", "VMS RUNNING");
    for (size_t i = 0; i < lab->nhosts; i++) {
        const hvf_lab_host *h = &lab->hosts[i];
        const char *state = "-";
        char pid[16] = "-";
        size_t nvm = 0, up = 0, j;
        json_t *v;

        for (size_t p = 0; p < lab->nprocs; p++) {
            if (strcmp(lab->procs[p].host, h->name) == 0)
                snprintf(pid, sizeof(pid), "%s",
                         hvf_lab_proc_alive(&lab->procs[p]) ? "running" : "gone");
        }
        json_array_foreach(agents, j, v)
        {
            const char *host = json_string_value(json_object_get(v, "host"));

            if (host && strcmp(host, h->name) == 0 && json_is_string(json_object_get(v, "state")))
                state = json_string_value(json_object_get(v, "state"));
        }
        json_array_foreach(vms, j, v)
        {
            const char *host = json_string_value(json_object_get(v, "host"));
            const char *st = json_string_value(json_object_get(v, "state"));

            if (host && strcmp(host, h->name) == 0) {
                nvm++;
                up += st && strcmp(st, "running") == 0;
            }
        }
        printf("%-5s %-15s %-8s %-10s %zu/%zu\n", h->name, hvf_lab_addr_format(h->addr, addr), pid,
               state, up, nvm);
    }
    json_decref(agents);
    json_decref(vms);
    hvf_client_free(c);
    hvf_lab_free(lab);
    return gone ? 1 : 0;
}

int
hvf_cli_lab_fence(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char help[] =
        "usage: hvfleet lab fence --dir DIR --host H\n"
        "Powers host H of the lab in DIR off, as an IPMI or PDU fence would: every process of\n"
        "its namespace (its agent, its QEMUs) is killed at once. hvfleetd's ha_fence_command\n"
        "in a lab made with --ha (docs/ha.md). Exit 0 once nothing of H runs.\n";
    HVF_AUTOFREE char *dir = NULL;
    const char *host = NULL;
    hvf_error err = HVF_ERROR_INIT;
    hvf_lab *lab;
    size_t killed = 0, i;
    int rc;

    if (hvf_cli_options_wanted(opts))
        return 0;
    if ((rc = lab_dir_only(argc, argv, "lab fence", help, opts, &dir, &host)) != 0)
        return rc < 0 ? 0 : rc;
    if (!(lab = lab_open("lab fence", dir, false, &rc)))
        return rc;
    for (i = 0; i < lab->nhosts && strcmp(lab->hosts[i].name, host) != 0; i++)
        ;
    if (i == lab->nhosts) {
        fprintf(stderr, "hvfleet: lab fence: --host '%s': no such host in lab %s (h1 to h%zu)\n",
                host, lab->id, lab->nhosts);
        hvf_lab_free(lab);
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "hvfleet: lab fence: needs root (it kills the host's processes)\n");
        hvf_lab_free(lab);
        return 1;
    }
    rc = hvf_lab_fence(lab, i, &killed, &err);
    if (rc == 0)
        printf("host %s of lab %s fenced: %zu process%s killed\n", host, lab->id, killed,
               killed == 1 ? "" : "es");
    hvf_lab_free(lab);
    return rc < 0 ? hvf_cli_fail(&err) : 0;
}

static const hvf_cli_command lab_subs[] = {
    {"up", "make a fleet of network namespaces here: hvfleetd, agents, TCG guests", hvf_cli_lab_up},
    {"down", "stop a lab's processes by PID and remove its namespaces and links", hvf_cli_lab_down},
    {"status", "a lab's hosts, agents and VMs", hvf_cli_lab_status},
    {"fence", "power a lab's host off: its agent and QEMUs killed (a fence command)",
     hvf_cli_lab_fence},
};

int
hvf_cli_lab(int argc, char **argv)
{
    if (hvf_cli_subcommands_wanted(argc, argv, lab_subs, HVF_ARRAY_LEN(lab_subs)))
        return 0;
    if (argc >= 2) {
        for (size_t i = 0; i < HVF_ARRAY_LEN(lab_subs); i++) {
            if (strcmp(argv[1], lab_subs[i].name) == 0)
                return lab_subs[i].run(argc - 1, argv + 1);
        }
    }
    if (argc >= 2 && hvf_cli_is_help(argv[1])) {
        printf("usage: hvfleet lab SUBCOMMAND --dir DIR\n");
        for (size_t i = 0; i < HVF_ARRAY_LEN(lab_subs); i++)
            printf("  %-12s %s\n", lab_subs[i].name, lab_subs[i].summary);
        printf("A fleet on this machine for trying hvfleet on real QEMU (docs/lab.md).\n");
        return 0;
    }
    fprintf(stderr, "hvfleet: lab: expected one of");
    for (size_t i = 0; i < HVF_ARRAY_LEN(lab_subs); i++)
        fprintf(stderr, " %s", lab_subs[i].name);
    fprintf(stderr, "%s%s%s\n", argc >= 2 ? ", got '" : "", argc >= 2 ? argv[1] : "",
            argc >= 2 ? "'" : "");
    return 2;
}
