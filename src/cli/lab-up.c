/* SPDX-License-Identifier: MIT */
/*
 * hvfleet lab up (lab.h, docs/lab.md): the network, an inventory, tokens, hvfleetd on the
 * bridge's address, one hvfleet-agent in each host's namespace, then waits until every agent is
 * connected and every VM runs. Each step is recorded in DIR/lab.json before the next, and a
 * step that fails undoes the lab (hvf_lab_down) before the command exits non-zero.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/lab.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "util/text.h"

#define MIB ((uint64_t)1 << 20)

typedef struct lab_opts {
    long hosts; /* 1 to HVF_LAB_MAX_HOSTS */
    long vms;   /* per host, 0 to 64 */
    uint64_t vm_mib;
    double dirty_bps; /* bytes per second */
    uint64_t nic_bit_s;
    uint32_t subnet;
    char *dir;          /* owned, absolute */
    const char *guest;  /* --guest, may be NULL */
    const char *driver; /* --driver, may be NULL: agent:// */
    int port;
    int64_t timeout_ms;
    int64_t down_after_s; /* hvfleetd's agent_down_after */
    bool ha;              /* HA VMs, fenced by `hvfleet lab fence` (docs/ha.md) */
    const char *alert_command; /* hvfleetd's alert_command, may be NULL */
    int64_t self_fence_s;      /* agents fence themselves after this long alone (0: no) */
    bool reconcile_destroy;    /* hvfleetd destroys the copies of a VM that lost */
} lab_opts;

static volatile sig_atomic_t lab_interrupted;

static void
lab_on_signal(int sig)
{
    lab_interrupted = sig;
}

static int
lab_check_interrupted(hvf_error *err)
{
    if (!lab_interrupted)
        return 0;
    hvf_error_set(err, HVF_ERR_INTERNAL, "interrupted by signal %d", (int)lab_interrupted);
    return -1;
}

static void
lab_up_usage(FILE *out)
{
    fprintf(out,
            "usage: hvfleet lab up --hosts N --vms-per-host K --dir DIR [--nic RATE]\n"
            "                      [--vm-memory SIZE] [--dirty-rate RATE] [--subnet A.B.C.0/24]\n"
            "                      [--guest FILE] [--port N] [--timeout D] [--driver URI]\n"
            "                      [--ha] [--self-fence D] [--down-after D]\n"
            "                      [--alert-command CMD] [--reconcile-destroy]\n"
            "A fleet on this machine (root, Linux): N network namespaces as hosts, joined by a\n"
            "bridge, each NIC a token bucket (tc tbf) at RATE (default 1Gbit) both ways;\n"
            "hvfleetd on the bridge's address, one hvfleet-agent per host, K TCG guests per\n"
            "host of SIZE (default 128MiB) dirtying their memory at RATE (default 10MiB/s).\n"
            "The lab takes --subnet (default 10.77.0.0/24), which must be private and unused:\n"
            "it exists only on the lab's bridge and namespaces, nothing routes out of them.\n"
            "DIR gets lab.json (what lab down undoes), inventory.yaml, hvfleetd.yaml, the\n"
            "tokens (token: operator and approver; approver.token: a second approver), logs.\n"
            "--guest: the lab guest (default: next to this hvfleet, its build tree or\n"
            "PREFIX/share/hvfleet/lab-guest.elf). --timeout (default 30s): how long to wait\n"
            "for the agents, then the VMs. --driver sim: hvfleetd on the twin of the lab's\n"
            "inventory instead of the agents (default: agent://, QEMU in the namespaces).\n"
            "--ha: every VM is HA, and hvfleetd fences a lost host with hvfleet lab fence\n"
            "(its namespace's processes killed) before starting its VMs elsewhere.\n"
            "--down-after (default 30s): how long an agent's silence takes its host for lost.\n"
            "--self-fence D: agents fence themselves after D alone (--fence-after), and\n"
            "hvfleetd relies on that instead of lab fence; --down-after must exceed D + 4s.\n"
            "--alert-command: hvfleetd's alert hook (each alert as JSON on its stdin).\n"
            "--reconcile-destroy: hvfleetd destroys a VM's copies that lost (docs/ha.md).\n"
            "A lab already in DIR is taken down first. docs/lab.md.\n");
}

/* ---- options ---- */

static int
lab_long_opt(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "hvfleet: lab up: %s '%s': expected a whole number from %ld to %ld\n", flag,
                v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

/* Returns 0, or the exit status after a message. */
static int
lab_parse(int argc, char **argv, lab_opts *o, const struct option *opts)
{
    hvf_error err = HVF_ERROR_INIT;
    const char *dir = NULL, *nic = "1Gbit", *mem = "128MiB", *dirty = "10MiB/s";
    const char *subnet = "10.77.0.0/24", *timeout = "30s", *down_after = "30s";
    const char *self_fence = NULL;
    bool have_hosts = false, have_vms = false;
    double nic_bps = 0;
    uint64_t bytes = 0;
    int64_t us = 0;
    long port = 0;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (lab_long_opt("--hosts", optarg, 1, HVF_LAB_MAX_HOSTS, &o->hosts) < 0)
                return 2;
            have_hosts = true;
            break;
        case 'k':
            if (lab_long_opt("--vms-per-host", optarg, 0, 64, &o->vms) < 0)
                return 2;
            have_vms = true;
            break;
        case 'p':
            if (lab_long_opt("--port", optarg, 0, 65535, &port) < 0)
                return 2;
            o->port = (int)port;
            break;
        case 'N':
            nic = optarg;
            break;
        case 'm':
            mem = optarg;
            break;
        case 'r':
            dirty = optarg;
            break;
        case 's':
            subnet = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'g':
            o->guest = optarg;
            break;
        case 'D':
            o->driver = optarg;
            break;
        case 't':
            timeout = optarg;
            break;
        case 'A':
            o->ha = true;
            break;
        case 'a':
            down_after = optarg;
            break;
        case 'C':
            o->alert_command = optarg;
            break;
        case 'F':
            self_fence = optarg;
            break;
        case 'R':
            o->reconcile_destroy = true;
            break;
        case 'h':
            lab_up_usage(stdout);
            return -1;
        case ':':
            fprintf(stderr, "hvfleet: lab up: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: lab up: bad option '%s'; see hvfleet lab up --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hvfleet: lab up: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!have_hosts || !have_vms) {
        fprintf(stderr, "hvfleet: lab up: %s is required (hvfleet lab up --help)\n",
                !have_hosts ? "--hosts N" : "--vms-per-host K");
        return 2;
    }
    if (hvf_units_parse_rate(nic, &nic_bps, &err) < 0 || nic_bps * 8 < 1e6 || nic_bps * 8 > 4e11) {
        fprintf(stderr,
                "hvfleet: lab up: --nic '%s': expected a rate from 1Mbit to 400Gbit, such "
                "as 1Gbit\n",
                nic);
        return 2;
    }
    o->nic_bit_s = (uint64_t)llround(nic_bps * 8);
    if (hvf_units_parse_size(mem, MIB, &bytes, &err) < 0 || bytes < 16 * MIB ||
        bytes > 64 * 1024 * MIB || bytes % MIB) {
        fprintf(stderr,
                "hvfleet: lab up: --vm-memory '%s': expected whole MiB from 16MiB to "
                "64GiB, such as 128MiB\n",
                mem);
        return 2;
    }
    o->vm_mib = bytes / MIB;
    if (hvf_units_parse_rate(dirty, &o->dirty_bps, &err) < 0 || o->dirty_bps > 4096.0 * MIB) {
        fprintf(stderr,
                "hvfleet: lab up: --dirty-rate '%s': expected a rate up to 4GiB/s, such as "
                "10MiB/s\n",
                dirty);
        return 2;
    }
    if (hvf_units_parse_duration(timeout, &us, &err) < 0 || us < 1000000 || us > 3600000000LL) {
        fprintf(stderr, "hvfleet: lab up: --timeout '%s': expected from 1s to 1h, such as 30s\n",
                timeout);
        return 2;
    }
    o->timeout_ms = us / 1000;
    /* three heartbeats of 2 s at least: suspect comes first */
    if (hvf_units_parse_duration(down_after, &us, &err) < 0 || us < 6000000 ||
        us > 3600000000LL || us % 1000000) {
        fprintf(stderr, "hvfleet: lab up: --down-after '%s': expected whole seconds from 6s to "
                        "1h, such as 30s\n",
                down_after);
        return 2;
    }
    o->down_after_s = us / 1000000;
    if (self_fence) {
        /* the agents' heartbeat is 2 s: hvfleetd takes a host for lost two heartbeats after its
         * agent fenced, not before (ha_fence_after's rule) */
        if (hvf_units_parse_duration(self_fence, &us, &err) < 0 || us < 5000000 ||
            us % 1000000 || us / 1000000 + 4 > o->down_after_s) {
            fprintf(stderr, "hvfleet: lab up: --self-fence '%s': expected whole seconds from 5s "
                            "to --down-after minus 4s (%" PRId64 "s)\n",
                    self_fence, o->down_after_s - 4);
            return 2;
        }
        o->self_fence_s = us / 1000000;
    }
    if (hvf_lab_subnet_parse(subnet, &o->subnet, &err) < 0) {
        fprintf(stderr, "hvfleet: lab up: --subnet %s\n", err.msg);
        return 2;
    }
    if (o->guest &&
        (!hvf_lab_path_ok(o->guest) || o->guest[0] != '/' || access(o->guest, R_OK) < 0)) {
        fprintf(stderr,
                "hvfleet: lab up: --guest '%.200s': expected a readable file given by an "
                "absolute path of letters, digits and ._/+,:@~-\n",
                o->guest);
        return 2;
    }
    if (!(o->dir = hvf_cli_lab_dir("lab up", dir)))
        return 2;
    return 0;
}

/* The driver hvfleetd runs the lab with: the one place its URI is made. agent:// (the agents
 * run the inventory's VMs as QEMU guests of the lab guest, TCG; the driver fills in each VM's
 * dirty rate from the inventory) unless --driver says otherwise; "sim" is the twin on the
 * lab's inventory. */
static char *
lab_driver_uri(const lab_opts *o, const char *inventory, const char *guest)
{
    if (o->driver && strcmp(o->driver, "sim") == 0)
        return hvf_asprintf("sim://%s", inventory);
    if (o->driver)
        return hvf_strdup(o->driver);
    return hvf_asprintf("agent://%s?image=%s&accel=tcg&append=rate={dirty_mib_per_s}", inventory,
                        guest);
}

static uint64_t
lab_mem_available_mib(void)
{
    FILE *fp = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kib = 0;

    if (!fp)
        return 0;
    while (fgets(line, sizeof(line), fp)) {
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            break;
    }
    fclose(fp);
    return kib / 1024;
}

/* ---- the steps ---- */

typedef struct lab_run {
    lab_opts *o;
    hvf_lab *lab;
    char *state;     /* DIR/state */
    char *inventory; /* DIR/inventory.yaml */
    char *token;     /* DIR/token */
    char *url;       /* http://SUBNET.1:PORT */
    char *daemon;    /* hvfleetd's path */
    char *agent;     /* hvfleet-agent's path */
    char *guest;     /* may be NULL with --driver */
    char *driver;
} lab_run;

static const char *const lab_daemon_rel[] = {"../daemon/hvfleetd", "../sbin/hvfleetd", NULL};
static const char *const lab_agent_rel[] = {"../agent/hvfleet-agent", "../sbin/hvfleet-agent",
                                            NULL};
static const char *const lab_guest_rel[] = {"../../guest/lab-guest.elf",
                                            "../share/hvfleet/lab-guest.elf", NULL};

/* What does not depend on the machine's state: programs, the guest, room for the VMs. */
static int
lab_find_parts(lab_run *r, hvf_error *err)
{
    lab_opts *o = r->o;
    bool agent_driver = !o->driver;

    if (!(r->daemon = hvf_lab_find_program("hvfleetd", lab_daemon_rel))) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "hvfleetd not found next to hvfleet, in its build "
                      "tree or in PATH");
        return -1;
    }
    if (!(r->agent = hvf_lab_find_program("hvfleet-agent", lab_agent_rel))) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "hvfleet-agent not found next to hvfleet, in its "
                      "build tree or in PATH");
        return -1;
    }
    {
        char *q = hvf_lab_find_program("qemu-system-x86_64", NULL);

        free(q);
        if (!q) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "qemu-system-x86_64 not found in PATH: the lab's agents run their VMs "
                          "with it (Debian: qemu-system-x86)");
            return -1;
        }
    }
    if (o->guest)
        r->guest = hvf_strdup(o->guest);
    else if (agent_driver && !(r->guest = hvf_lab_find_data(lab_guest_rel))) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "the lab guest (lab-guest.elf) is not in hvfleet's build tree or "
                      "PREFIX/share/hvfleet: give --guest FILE");
        return -1;
    }
    if (r->guest && !hvf_lab_path_ok(r->guest)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "--guest '%.200s': expected a path of letters, "
                      "digits and ._/+,:@~-",
                      r->guest);
        return -1;
    }
    if (agent_driver && o->vms > 0) {
        uint64_t want = (uint64_t)o->hosts * (uint64_t)o->vms * (o->vm_mib + 32);
        uint64_t have = lab_mem_available_mib();

        if (have && want > have * 4 / 5) {
            hvf_error_set(err, HVF_ERR_CAPACITY,
                          "%ld x %ld VMs of %" PRIu64 " MiB need about %" PRIu64
                          " MiB, and this machine has %" PRIu64 " MiB available (80%% of it may "
                          "be used): fewer VMs, or a smaller --vm-memory",
                          o->hosts, o->vms, o->vm_mib, want, have);
            return -1;
        }
    }
    return 0;
}

/* A random id that no bridge, link or namespace of this machine uses yet. */
static int
lab_new_id(char id[HVF_LAB_ID_LEN + 1], hvf_error *err)
{
    for (int tries = 0; tries < 32; tries++) {
        uint16_t v = 0;

        if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
            v = (uint16_t)(getpid() * 7919 + tries);
        snprintf(id, HVF_LAB_ID_LEN + 1, "%04x", (unsigned)v);
        if (!hvf_lab_net_id_taken(id))
            return 0;
    }
    hvf_error_set(err, HVF_ERR_INTERNAL,
                  "no free lab id after 32 tries (hvl* links and "
                  "namespaces of other labs?)");
    return -1;
}

/* Files of the lab: a fresh state directory and host directories, inventory, tokens, config. */
static int
lab_make_files(lab_run *r, hvf_error *err)
{
    hvf_lab *lab = r->lab;
    HVF_AUTOFREE char *hosts = hvf_asprintf("%s/hosts", lab->dir);
    HVF_AUTOFREE char *cfg = hvf_asprintf("%s/hvfleetd.yaml", lab->dir);
    HVF_AUTOFREE char *appr = hvf_asprintf("%s/approver.token", lab->dir);
    char addr[16];
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int rc;

    /* an earlier lab's store and agents' records would be taken for this one's */
    if (hvf_lab_rm_tree(r->state, err) < 0 || hvf_lab_rm_tree(hosts, err) < 0 ||
        hvf_file_mkdirs(r->state, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < lab->nhosts; i++) {
        HVF_AUTOFREE char *h = hvf_asprintf("%s/%s", hosts, lab->hosts[i].name);
        HVF_AUTOFREE char *tok = hvf_asprintf("%s/agent.token", h);
        HVF_AUTOFREE char *name = hvf_asprintf("agent-%s", lab->hosts[i].name);

        if (hvf_file_mkdirs(h, 0700, err) < 0 ||
            hvf_lab_token(r->state, "agent", name, lab->hosts[i].name, tok, err) < 0)
            return -1;
    }
    if (hvf_lab_write_inventory(lab, r->o->vms, r->o->vm_mib, r->o->dirty_bps, r->o->ha,
                                r->inventory, err) < 0 ||
        hvf_lab_token(r->state, "operator,approver", "lab-operator", NULL, r->token, err) < 0 ||
        hvf_lab_token(r->state, "approver", "lab-approver", NULL, appr, err) < 0)
        return -1;
    r->driver = lab_driver_uri(r->o, r->inventory, r->guest);
    hvf_strbuf_printf(&sb,
                      "# hvfleetd of the lab %s, written by hvfleet lab up (docs/lab.md)\n"
                      "listen: \"%s:%d\"\nstate_dir: ",
                      lab->id, hvf_lab_addr_format(lab->subnet + 1, addr), r->o->port);
    hvf_strbuf_quote(&sb, r->state);
    hvf_strbuf_puts(&sb, "\ndriver: ");
    hvf_strbuf_quote(&sb, r->driver);
    /* a host is suspect after 6 s of silence, down after --down-after (30 s: TCG guests load
     * the machine) */
    hvf_strbuf_printf(&sb, "\nagent_heartbeat_s: 2\nagent_down_after: %" PRId64 "s\n",
                      r->o->down_after_s);
    if (r->o->alert_command) {
        hvf_strbuf_puts(&sb, "alert_command: ");
        hvf_strbuf_quote(&sb, r->o->alert_command);
        hvf_strbuf_puts(&sb, "\n");
    }
    if (r->o->self_fence_s)
        hvf_strbuf_printf(&sb, "ha_fence_after: %" PRId64 "s\n", r->o->self_fence_s);
    if (r->o->reconcile_destroy)
        hvf_strbuf_puts(&sb, "reconcile_destroy: true\n");
    if (r->o->ha && !r->o->self_fence_s) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        HVF_AUTOFREE char *fence = NULL;

        self[n > 0 ? n : 0] = '\0';
        /* the lab's power switch: a lost host's namespace killed whole, then its VMs elsewhere */
        fence = hvf_asprintf("%s lab fence --dir %s --host {host}", n > 0 ? self : "hvfleet",
                             lab->dir);
        hvf_strbuf_puts(&sb, "ha_fence_command: ");
        hvf_strbuf_quote(&sb, fence);
        hvf_strbuf_puts(&sb, "\nha_fence_quiet: 0s\n");
    }
    rc = hvf_lab_write_file(cfg, sb.buf, 0644, err);
    hvf_strbuf_clear(&sb);
    return rc;
}

static int
lab_start_daemon(lab_run *r, hvf_error *err)
{
    hvf_lab *lab = r->lab;
    HVF_AUTOFREE char *cfg = hvf_asprintf("%s/hvfleetd.yaml", lab->dir);
    HVF_AUTOFREE char *log = hvf_asprintf("%s/hvfleetd.log", lab->dir);
    HVF_AUTOFREE char *portf = hvf_asprintf("%s/hvfleetd.port", r->state);
    const char *const argv[] = {r->daemon, "--config", cfg, NULL};
    int64_t deadline = hvf_lab_now_ms() + 15000;
    char addr[16], tail[400];
    int pid = 0;
    uint64_t st = 0;

    (void)unlink(portf);
    if (hvf_lab_spawn(argv, log, &pid, &st, err) < 0)
        return -1;
    hvf_lab_add_proc(lab, "hvfleetd", NULL, pid, st);
    if (hvf_lab_save(lab, err) < 0)
        return -1;
    for (;;) {
        HVF_AUTOFREE char *text = NULL;
        size_t len = 0;
        hvf_error e = HVF_ERROR_INIT;
        long port;
        char *end;

        if (!hvf_lab_proc_alive(&lab->procs[lab->nprocs - 1])) {
            hvf_lab_log_tail(log, tail, sizeof(tail));
            hvf_error_set(err, HVF_ERR_INTERNAL, "hvfleetd exited at start: %s", tail);
            return -1;
        }
        if ((text = hvf_text_read_file(portf, 64, &len, &e)) != NULL) {
            port = strtol(text, &end, 10);
            if (end != text && port > 0 && port < 65536) {
                lab->port = (int)port;
                break;
            }
        }
        if (lab_check_interrupted(err) < 0)
            return -1;
        if (hvf_lab_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "hvfleetd did not listen within 15 s (see %s)",
                          log);
            return -1;
        }
        hvf_lab_sleep_ms(20);
    }
    r->url = hvf_asprintf("http://%s:%d", hvf_lab_addr_format(lab->subnet + 1, addr), lab->port);
    return hvf_lab_save(lab, err);
}

static int
lab_start_agents(lab_run *r, hvf_error *err)
{
    hvf_lab *lab = r->lab;

    for (size_t i = 0; i < lab->nhosts; i++) {
        const hvf_lab_host *h = &lab->hosts[i];
        HVF_AUTOFREE char *dir = hvf_asprintf("%s/hosts/%s", lab->dir, h->name);
        HVF_AUTOFREE char *tok = hvf_asprintf("%s/agent.token", dir);
        HVF_AUTOFREE char *log = hvf_asprintf("%s/agent.log", dir);
        char addr[16], fence_after[24];
        const char *const argv[] = {"ip",
                                    "netns",
                                    "exec",
                                    h->netns,
                                    r->agent,
                                    "--controller",
                                    r->url,
                                    "--token-file",
                                    tok,
                                    "--host",
                                    h->name,
                                    "--state-dir",
                                    dir,
                                    "--executor",
                                    "qemu",
                                    "--migration-address",
                                    hvf_lab_addr_format(h->addr, addr),
                                    "--backoff-max",
                                    "2s",
                                    "--heartbeat", /* hvfleetd.yaml's agent_heartbeat_s */
                                    "2s",
                                    r->o->self_fence_s ? "--fence-after" : NULL,
                                    fence_after,
                                    NULL};
        int pid = 0;
        uint64_t st = 0;

        snprintf(fence_after, sizeof(fence_after), "%" PRId64 "s", r->o->self_fence_s);
        if (hvf_lab_spawn(argv, log, &pid, &st, err) < 0)
            return -1;
        hvf_lab_add_proc(lab, "agent", h->name, pid, st);
        if (hvf_lab_save(lab, err) < 0)
            return -1;
    }
    return 0;
}

/* An agent of the record that died: its error, from its log. */
static int
lab_check_agents_alive(lab_run *r, hvf_error *err)
{
    for (size_t i = 0; i < r->lab->nprocs; i++) {
        const hvf_lab_proc *p = &r->lab->procs[i];

        if (!hvf_lab_proc_alive(p)) {
            HVF_AUTOFREE char *log =
                strcmp(p->role, "agent") == 0
                    ? hvf_asprintf("%s/hosts/%s/agent.log", r->lab->dir, p->host)
                    : hvf_asprintf("%s/hvfleetd.log", r->lab->dir);
            char tail[400];

            hvf_lab_log_tail(log, tail, sizeof(tail));
            hvf_error_set(err, HVF_ERR_INTERNAL, "%s%s%s exited: %s", p->role,
                          *p->host ? " of " : "", p->host, tail);
            return -1;
        }
    }
    return 0;
}

/* GET @path's list @key; NULL with @err set. */
static json_t *
lab_get_list(hvf_client *c, const char *path, const char *key, hvf_error *err)
{
    json_t *ans = NULL;
    long status = hvf_client_request(c, "GET", path, NULL, &ans, err);
    json_t *list;

    if (status < 0)
        return NULL;
    list = json_object_get(ans, key);
    if (status != 200 || !json_is_array(list)) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(ans, "error"), "message"));

        hvf_error_set(err, HVF_ERR_INTERNAL, "GET %s: HTTP %ld%s%s", path, status, msg ? ": " : "",
                      msg ? msg : "");
        json_decref(ans);
        return NULL;
    }
    json_incref(list);
    json_decref(ans);
    return list;
}

/* The names of the lab's hosts not in @want state in @list (objects naming the host by @key),
 * listed into @missing; returns how many. */
static size_t
lab_missing_hosts(const hvf_lab *lab, json_t *list, const char *key, const char *want,
                  hvf_strbuf *missing)
{
    size_t n = 0;

    for (size_t i = 0; i < lab->nhosts; i++) {
        bool ok = false;
        size_t j;
        json_t *a;

        json_array_foreach(list, j, a)
        {
            const char *host = json_string_value(json_object_get(a, key));
            const char *state = json_string_value(json_object_get(a, "state"));

            ok = ok || (host && state && strcmp(host, lab->hosts[i].name) == 0 &&
                        strcmp(state, want) == 0);
        }
        if (!ok) {
            if (n < 8)
                hvf_strbuf_printf(missing, "%s%s", n ? ", " : "", lab->hosts[i].name);
            n++;
        }
    }
    return n;
}

static int
lab_wait_agents(lab_run *r, hvf_client *c, hvf_error *err)
{
    int64_t deadline = hvf_lab_now_ms() + r->o->timeout_ms;

    for (;;) {
        hvf_strbuf missing = HVF_STRBUF_INIT;
        json_t *agents;
        size_t n;

        if (lab_check_interrupted(err) < 0 || lab_check_agents_alive(r, err) < 0)
            return -1;
        if (!(agents = lab_get_list(c, "/v1/agents", "agents", err)))
            return -1;
        n = lab_missing_hosts(r->lab, agents, "host", "connected", &missing);
        json_decref(agents);
        /* connected to hvfleetd, and taken by its agent:// driver: the host is in service
         * (until then a VM start there is refused: "its agent is not registered") */
        if (n == 0) {
            json_t *hosts = lab_get_list(c, "/v1/hosts", "hosts", err);

            if (!hosts)
                return -1;
            n = lab_missing_hosts(r->lab, hosts, "name", "active", &missing);
            json_decref(hosts);
        }
        if (n == 0) {
            hvf_strbuf_clear(&missing);
            return 0;
        }
        if (hvf_lab_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "%zu agent%s did not connect to hvfleetd and its driver within %" PRId64
                          " s (%s%s; see %s/hosts/HOST/agent.log)",
                          n, n == 1 ? "" : "s", r->o->timeout_ms / 1000, missing.buf,
                          n > 8 ? ", ..." : "", r->lab->dir);
            hvf_strbuf_clear(&missing);
            return -1;
        }
        hvf_strbuf_clear(&missing);
        hvf_lab_sleep_ms(200);
    }
}

/* Every VM of the inventory: started where it is defined (POST /v1/vms/NAME/start) unless it
 * runs already, then waited for until GET /v1/vms shows all running. */
static int
lab_start_vms(lab_run *r, hvf_client *c, size_t *running, hvf_error *err)
{
    int64_t deadline = hvf_lab_now_ms() + r->o->timeout_ms;
    json_t *vms = lab_get_list(c, "/v1/vms", "vms", err);
    size_t i;
    json_t *v;

    if (!vms)
        return -1;
    json_array_foreach(vms, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *state = json_string_value(json_object_get(v, "state"));
        HVF_AUTOFREE char *path = NULL;
        json_t *ans = NULL;
        json_t *body;
        long status;

        if (!name || (state && strcmp(state, "running") == 0))
            continue;
        path = hvf_asprintf("/v1/vms/%s/start", name);
        body = json_object();
        status = hvf_client_request(c, "POST", path, body, &ans, err);
        json_decref(body);
        if (status < 0 || status >= 300) {
            const char *msg =
                json_string_value(json_object_get(json_object_get(ans, "error"), "message"));

            if (status >= 300)
                hvf_error_set(err, HVF_ERR_INTERNAL, "POST %s: HTTP %ld%s%s", path, status,
                              msg ? ": " : "", msg ? msg : "");
            json_decref(ans);
            json_decref(vms);
            return -1;
        }
        json_decref(ans);
        if (lab_check_interrupted(err) < 0) {
            json_decref(vms);
            return -1;
        }
    }
    json_decref(vms);
    for (;;) {
        size_t total = 0, up = 0;

        if (lab_check_interrupted(err) < 0 || !(vms = lab_get_list(c, "/v1/vms", "vms", err)))
            return -1;
        json_array_foreach(vms, i, v)
        {
            const char *state = json_string_value(json_object_get(v, "state"));

            total++;
            up += state && strcmp(state, "running") == 0;
        }
        json_decref(vms);
        *running = up;
        if (up == total)
            return 0;
        if (hvf_lab_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "%zu of %zu VMs are not running after %" PRId64 " s (see hvfleet "
                          "status, %s/hosts/HOST/agent.log)",
                          total - up, total, r->o->timeout_ms / 1000, r->lab->dir);
            return -1;
        }
        hvf_lab_sleep_ms(250);
    }
}

static int
lab_up(lab_run *r, size_t *running, hvf_error *err)
{
    hvf_client_opts co = {0};
    hvf_client *c;
    int rc;

    if (hvf_lab_net_up(r->lab, err) < 0 || lab_check_interrupted(err) < 0 ||
        lab_make_files(r, err) < 0 || lab_start_daemon(r, err) < 0 || lab_start_agents(r, err) < 0)
        return -1;
    co.server = r->url;
    co.token_file = r->token;
    if (!(c = hvf_client_new(&co, err)))
        return -1;
    rc = lab_wait_agents(r, c, err);
    *running = 0;
    if (rc == 0 && r->o->vms > 0)
        rc = lab_start_vms(r, c, running, err);
    hvf_client_free(c);
    return rc;
}

/* "hvfleet: lab up: MSG" and the exit status for @err's code. */
static int
lab_fail(hvf_error *err)
{
    hvf_error_prefix(err, "lab up: ");
    return hvf_cli_fail(err);
}

static void
lab_run_clear(lab_run *r)
{
    free(r->state);
    free(r->inventory);
    free(r->token);
    free(r->url);
    free(r->daemon);
    free(r->agent);
    free(r->guest);
    free(r->driver);
    hvf_lab_free(r->lab);
}

static void
lab_print(const lab_run *r, size_t running, int64_t ms)
{
    const hvf_lab *lab = r->lab;
    char net[16], nic[32];

    hvf_lab_format_bits(lab->nic_bit_s, nic, sizeof(nic));
    printf("lab %s up in %.1f s: %zu host%s (h1..h%zu) on %s/24, NIC %s, %zu VM%s running\n",
           lab->id, (double)ms / 1000.0, lab->nhosts, HVF_CLI_S(lab->nhosts), lab->nhosts,
           hvf_lab_addr_format(lab->subnet, net), nic, running, HVF_CLI_S(running));
    printf("  hvfleetd   %s (pid %d), driver %s\n", r->url, lab->procs[0].pid, r->driver);
    printf("  files      %s: inventory.yaml, token, approver.token, hvfleetd.log, "
           "hosts/H/agent.log\n",
           lab->dir);
    printf("To use it (the token is an operator and approver; approver.token a second person):\n");
    printf("  export HVFLEET_SERVER=%s HVFLEET_TOKEN=$(cat %s)\n", r->url, r->token);
    printf("  hvfleet status\n");
    printf("Take it down: hvfleet lab down --dir %s\n", lab->dir);
}

int
hvf_cli_lab_up(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hosts", required_argument, NULL, 'n'},
        {"vms-per-host", required_argument, NULL, 'k'},
        {"nic", required_argument, NULL, 'N'},
        {"vm-memory", required_argument, NULL, 'm'},
        {"dirty-rate", required_argument, NULL, 'r'},
        {"subnet", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},
        {"guest", required_argument, NULL, 'g'},
        {"driver", required_argument, NULL, 'D'},
        {"port", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"ha", no_argument, NULL, 'A'},
        {"down-after", required_argument, NULL, 'a'},
        {"alert-command", required_argument, NULL, 'C'},
        {"self-fence", required_argument, NULL, 'F'},
        {"reconcile-destroy", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lab_opts o;
    lab_run r;
    hvf_error err = HVF_ERROR_INIT;
    struct sigaction sa, old_int, old_term;
    int64_t t0 = hvf_lab_now_ms();
    int lock = -1;
    size_t running = 0;
    char id[HVF_LAB_ID_LEN + 1];
    int rc;

    if (hvf_cli_options_wanted(opts))
        return 0;
    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    r.o = &o;
    rc = lab_parse(argc, argv, &o, opts);
    if (rc != 0) {
        free(o.dir);
        return rc < 0 ? 0 : rc;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "hvfleet: lab up: needs root (it makes network namespaces, a bridge and "
                        "tc qdiscs)\n");
        free(o.dir);
        return 1;
    }
    if (hvf_lab_dir_prepare(o.dir, &err) < 0 || (lock = hvf_lab_dir_lock(o.dir, &err)) < 0 ||
        lab_find_parts(&r, &err) < 0)
        goto fail;
    {
        hvf_lab *stale = hvf_lab_load(o.dir, &err);

        if (!stale && err.code != HVF_ERR_NOT_FOUND) {
            hvf_error_prefix(&err, "a lab is recorded but unreadable: ");
            goto fail;
        }
        if (stale) {
            fprintf(stderr, "hvfleet: lab up: taking down the lab %s recorded in %s first\n",
                    stale->id, o.dir);
            free(stale->dir);
            stale->dir = hvf_strdup(o.dir);
            rc = hvf_lab_down(stale, false, &err);
            hvf_lab_free(stale);
            if (rc < 0)
                goto fail;
        }
        hvf_error_clear(&err);
    }
    if (hvf_lab_net_check_free(o.subnet, &err) < 0 || lab_new_id(id, &err) < 0)
        goto fail;
    r.lab = hvf_lab_new(id, o.dir, o.subnet, (size_t)o.hosts);
    r.lab->nic_bit_s = o.nic_bit_s;
    r.lab->created_unix = (int64_t)time(NULL);
    r.state = hvf_asprintf("%s/state", o.dir);
    r.inventory = hvf_asprintf("%s/inventory.yaml", o.dir);
    r.token = hvf_asprintf("%s/token", o.dir);
    /* recorded before anything is made: a lab cut short by a kill is still taken down */
    if (hvf_lab_save(r.lab, &err) < 0)
        goto fail;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = lab_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = lab_up(&r, &running, &err);
    if (rc < 0) {
        hvf_error undo = HVF_ERROR_INIT;

        fprintf(stderr, "hvfleet: lab up: %s\n", err.msg);
        if (hvf_lab_down(r.lab, true, &undo) < 0)
            fprintf(stderr, "hvfleet: lab up: undoing the lab failed: %s\n", undo.msg);
        else
            fprintf(stderr, "hvfleet: lab up: the lab %s was undone\n", r.lab->id);
        rc = err.code == HVF_ERR_INVALID ? 2 : 1;
    } else {
        lab_print(&r, running, hvf_lab_now_ms() - t0);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    goto out;
fail:
    rc = lab_fail(&err);
out:
    if (lock >= 0)
        close(lock);
    free(o.dir);
    lab_run_clear(&r);
    return rc;
}
