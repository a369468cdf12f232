/* SPDX-License-Identifier: MIT */
/* hvfleet-agent's command line: every bad flag is one line naming it, its value and what fits. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "util/text.h"

#define OPTS_MAX_TOKEN 4096

static const char usage[] =
    "usage: hvfleet-agent --controller URL[,URL...] --token-file FILE --host NAME --state-dir DIR\n"
    "                     [--workers 4] [--queue 256] [--events 4096] [--batch 256]\n"
    "                     [--heartbeat 5s] [--max-rss 64MiB] [--cacert FILE]\n"
    "                     [--backoff-max 60s] [--sim-delay TYPE=DURATION]... [--sim-progress 100ms]\n"
    "                     [--executor auto|qemu|sim] [--qemu-binary PATH]\n"
    "                     [--migration-ports 49152-49215] [--migration-address 127.0.0.1]\n"
    "                     [--fence-after 0] [--watchdog-device /dev/watchdog]\n"
    "The agent on a hypervisor: one connection to hvfleetd (POST /v1/agent/sync), a fixed pool of\n"
    "workers, bounded queues. Several --controller URLs (or one list): the controllers of one\n"
    "store; it syncs with the leader. See docs/agent.md.\n";

void
hvf_agent_opts_clear(hvf_agent_opts *o)
{
    for (size_t i = 0; i < o->nurls; i++)
        free(o->urls[i]);
    free(o->urls);
    free(o->token);
    free(o->host);
    free(o->state_dir);
    free(o->cacert);
    free(o->executor);
    free(o->qemu_binary);
    free(o->migration_address);
    free(o->watchdog_device);
    memset(o, 0, sizeof(*o));
}

static int
opt_uint(const char *flag, const char *v, uint64_t lo, uint64_t hi, uint64_t *out,
         hvf_error *err)
{
    char *end;
    unsigned long long n;

    if (!isdigit((unsigned char)*v) || (n = strtoull(v, &end, 10), *end) || n < lo || n > hi) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': expected an integer from %" PRIu64
                      " to %" PRIu64, flag, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static int
opt_duration(const char *flag, const char *v, int64_t lo_ms, int64_t hi_ms, int64_t *ms,
             hvf_error *err)
{
    hvf_error e2 = HVF_ERROR_INIT;
    char lo[32], hi[32];
    int64_t us;

    if (hvf_units_parse_duration(v, &us, &e2) < 0 || us / 1000 < lo_ms || us / 1000 > hi_ms) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': expected a duration from %s to %s", flag,
                      v, hvf_units_format_duration(lo_ms * 1000, lo, sizeof(lo)),
                      hvf_units_format_duration(hi_ms * 1000, hi, sizeof(hi)));
        return -1;
    }
    *ms = us / 1000;
    return 0;
}

/* http://HOST[:PORT] or https://..., an optional '/' and nothing after it (as hvfleet --server). */
static char *
opt_url(const char *v, hvf_error *err)
{
    const char *host = strncmp(v, "http://", 7) == 0    ? v + 7
                       : strncmp(v, "https://", 8) == 0 ? v + 8
                                                        : NULL;
    size_t n = strlen(v);
    const char *slash = host ? strchr(host, '/') : NULL;

    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            host = NULL;
    if (!host || !*host || *host == '/' || *host == ':' || (slash && slash[1]) || n > 1024 ||
        v[n - 1 - (slash != NULL)] == ':') {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "--controller '%.200s': expected http://HOST:PORT or https://HOST:PORT "
                      "(hvfleetd's address, no path)",
                      v);
        return NULL;
    }
    if (v[n - 1] == '/')
        n--;
    return hvf_strndup(v, n);
}

/* --controller URL[,URL...], repeatable: at most 16 controllers. */
static int
opt_urls(hvf_agent_opts *o, const char *v, hvf_error *err)
{
    HVF_AUTOFREE char *list = hvf_strdup(v);
    char *save = NULL;

    if (!*v) {
        hvf_error_set(err, HVF_ERR_INVALID, "--controller '': expected http://HOST:PORT");
        return -1;
    }
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        char *url = opt_url(u, err);

        if (!url)
            return -1;
        if (o->nurls >= 16) {
            free(url);
            hvf_error_set(err, HVF_ERR_INVALID, "--controller: at most 16 controllers");
            return -1;
        }
        o->urls = hvf_realloc(o->urls, (o->nurls + 1) * sizeof(*o->urls));
        o->urls[o->nurls++] = url;
    }
    return 0;
}

static char *
opt_token(const char *path, hvf_error *err)
{
    size_t len = 0;
    char *text = hvf_text_read_file(path, OPTS_MAX_TOKEN, &len, err);

    if (!text) {
        hvf_error_prefix(err, "--token-file '%s': ", path);
        err->code = HVF_ERR_INVALID;
        return NULL;
    }
    while (len && isspace((unsigned char)text[len - 1]))
        text[--len] = '\0';
    for (size_t i = 0; i <= len; i++) {
        if (i == len ? len == 0 : (text[i] < 0x21 || text[i] > 0x7e)) {
            free(text);
            hvf_error_set(err, HVF_ERR_INVALID,
                          "--token-file '%s': expected one token (printable characters, no "
                          "spaces) as its only line, as hvfleet token create --role agent "
                          "prints it",
                          path);
            return NULL;
        }
    }
    return text;
}

static bool
host_ok(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 63 || h[0] == '-' || h[0] == '.')
        return false;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
            return false;
    return true;
}

static int
opt_sim_delay(hvf_agent_opts *o, const char *v, hvf_error *err)
{
    const char *eq = strchr(v, '=');
    size_t n = eq ? (size_t)(eq - v) : 0;
    int64_t ms;

    if (!eq || n == 0 || n >= HVF_AGENT_MAX_TYPE || o->sim.n_delay == HVF_ARRAY_LEN(o->sim.delay)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "--sim-delay '%s': expected TYPE=DURATION (migrate_out=2s), at most %zu "
                      "times",
                      v, HVF_ARRAY_LEN(o->sim.delay));
        return -1;
    }
    if (opt_duration("--sim-delay", eq + 1, 0, 3600000, &ms, err) < 0)
        return -1;
    memcpy(o->sim.delay[o->sim.n_delay].type, v, n);
    o->sim.delay[o->sim.n_delay].type[n] = '\0';
    o->sim.delay[o->sim.n_delay++].ms = ms;
    return 0;
}

/* LO-HI, both in 1024..65535, LO <= HI. */
static int
opt_ports(hvf_agent_opts *o, const char *v, hvf_error *err)
{
    char *end;
    long lo = strtol(v, &end, 10), hi = -1;

    if (isdigit((unsigned char)*v) && *end == '-' && isdigit((unsigned char)end[1]))
        hi = strtol(end + 1, &end, 10);
    if (hi < 0 || *end || lo < 1024 || hi > 65535 || lo > hi) {
        hvf_error_set(err, HVF_ERR_INVALID, "--migration-ports '%s': expected LO-HI, ports from "
                      "1024 to 65535 with LO <= HI (49152-49215)", v);
        return -1;
    }
    o->port_min = (int)lo;
    o->port_max = (int)hi;
    return 0;
}

/*
 * --fence-after: 0 (off), or at least twice the heartbeat and a second: two good syncs can be a
 * held long-poll and an early answer's wait apart, and a slow but present controller must never
 * be taken for a lost one.
 */
static int
opt_fence_after(hvf_agent_opts *o, const char *v, hvf_error *err)
{
    int64_t lo = 2 * o->heartbeat_ms + 1000, hi = 3600000;
    char los[32];

    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0) {
        o->fence_after_ms = 0;
        return 0;
    }
    if (opt_duration("--fence-after", v, lo, hi, &o->fence_after_ms, err) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "--fence-after '%.100s': expected 0 (off) or a "
                      "duration from %s (2 x --heartbeat + 1s) to 1h", v,
                      hvf_units_format_duration(lo * 1000, los, sizeof(los)));
        return -1;
    }
    return 0;
}

int
hvf_agent_opts_parse(int argc, char **argv, hvf_agent_opts *o, hvf_error *err)
{
    const char *token_file = NULL;
    const char *fence_after = NULL;
    uint64_t n;

    memset(o, 0, sizeof(*o));
    o->workers = 4;
    o->queue = 256;
    o->events = 4096;
    o->batch = 256;
    o->heartbeat_ms = 5000;
    o->max_rss = (uint64_t)64 << 20;
    o->backoff_max_ms = 60000;
    o->sim.progress_ms = 100;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        HVF_AUTOFREE char *flag = hvf_strndup(arg, eq && strncmp(arg, "--", 2) == 0
                                                       ? (size_t)(eq - arg)
                                                       : strlen(arg));
        const char *v;

        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(flag, "--version") == 0) {
            puts("hvfleet-agent " HVF_AGENT_VERSION);
            return 1;
        }
        if (strncmp(flag, "--", 2) != 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "'%s': unexpected argument (hvfleet-agent takes flags only; see "
                          "--help)", arg);
            goto fail;
        }
        if (eq && strncmp(arg, "--", 2) == 0) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            hvf_error_set(err, HVF_ERR_INVALID, "%s: expected a value after it (see --help)",
                          flag);
            goto fail;
        }
        if (strcmp(flag, "--controller") == 0) {
            if (opt_urls(o, v, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--token-file") == 0) {
            token_file = v;
        } else if (strcmp(flag, "--host") == 0) {
            if (!host_ok(v)) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "--host '%.100s': expected a host name of 1 to 63 letters, digits, "
                              "'-', '.', '_' (as in the inventory)",
                              v);
                goto fail;
            }
            free(o->host);
            o->host = hvf_strdup(v);
        } else if (strcmp(flag, "--state-dir") == 0) {
            if (!*v) {
                hvf_error_set(err, HVF_ERR_INVALID, "--state-dir '': expected a directory");
                goto fail;
            }
            free(o->state_dir);
            o->state_dir = hvf_strdup(v);
        } else if (strcmp(flag, "--cacert") == 0) {
            free(o->cacert);
            o->cacert = hvf_strdup(v);
        } else if (strcmp(flag, "--workers") == 0) {
            if (opt_uint(flag, v, 1, 64, &n, err) < 0)
                goto fail;
            o->workers = (unsigned)n;
        } else if (strcmp(flag, "--queue") == 0) {
            if (opt_uint(flag, v, 1, 65536, &n, err) < 0)
                goto fail;
            o->queue = n;
        } else if (strcmp(flag, "--events") == 0) {
            if (opt_uint(flag, v, 16, 1048576, &n, err) < 0)
                goto fail;
            o->events = n;
        } else if (strcmp(flag, "--batch") == 0) {
            if (opt_uint(flag, v, 1, 1024, &n, err) < 0)
                goto fail;
            o->batch = n;
        } else if (strcmp(flag, "--heartbeat") == 0) {
            if (opt_duration(flag, v, 1000, 300000, &o->heartbeat_ms, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--backoff-max") == 0) {
            if (opt_duration(flag, v, 1000, 3600000, &o->backoff_max_ms, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--sim-progress") == 0) {
            if (opt_duration(flag, v, 1, 60000, &o->sim.progress_ms, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--sim-delay") == 0) {
            if (opt_sim_delay(o, v, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--executor") == 0) {
            if (strcmp(v, "auto") != 0 && strcmp(v, "qemu") != 0 && strcmp(v, "sim") != 0) {
                hvf_error_set(err, HVF_ERR_INVALID, "--executor '%.100s': expected auto, qemu or "
                              "sim", v);
                goto fail;
            }
            free(o->executor);
            o->executor = hvf_strdup(v);
        } else if (strcmp(flag, "--qemu-binary") == 0) {
            if (!*v) {
                hvf_error_set(err, HVF_ERR_INVALID, "--qemu-binary '': expected a program");
                goto fail;
            }
            free(o->qemu_binary);
            o->qemu_binary = hvf_strdup(v);
        } else if (strcmp(flag, "--migration-ports") == 0) {
            if (opt_ports(o, v, err) < 0)
                goto fail;
        } else if (strcmp(flag, "--migration-address") == 0) {
            if (!*v || strlen(v) > 64) {
                hvf_error_set(err, HVF_ERR_INVALID, "--migration-address '%.100s': expected an "
                              "IP address of this host", v);
                goto fail;
            }
            free(o->migration_address);
            o->migration_address = hvf_strdup(v);
        } else if (strcmp(flag, "--fence-after") == 0) {
            /* checked against --heartbeat once every flag is read */
            fence_after = v;
        } else if (strcmp(flag, "--watchdog-device") == 0) {
            if (!*v) {
                hvf_error_set(err, HVF_ERR_INVALID, "--watchdog-device '': expected a device "
                              "(/dev/watchdog)");
                goto fail;
            }
            free(o->watchdog_device);
            o->watchdog_device = hvf_strdup(v);
        } else if (strcmp(flag, "--max-rss") == 0) {
            hvf_error e2 = HVF_ERROR_INIT;

            if (hvf_units_parse_size(v, 1, &o->max_rss, &e2) < 0 ||
                o->max_rss < ((uint64_t)16 << 20)) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "--max-rss '%s': expected a size of at least 16MiB (64MiB, 1GiB)",
                              v);
                goto fail;
            }
        } else {
            hvf_error_set(err, HVF_ERR_INVALID, "%s: unknown flag (see --help)", flag);
            goto fail;
        }
    }
    if (!o->nurls || !token_file || !o->host || !o->state_dir) {
        hvf_error_set(err, HVF_ERR_INVALID, "missing %s (see --help)",
                      !o->nurls ? "--controller URL" : !token_file ? "--token-file FILE"
                      : !o->host ? "--host NAME" : "--state-dir DIR");
        goto fail;
    }
    if (fence_after && opt_fence_after(o, fence_after, err) < 0)
        goto fail;
    if (o->watchdog_device && !o->fence_after_ms) {
        hvf_error_set(err, HVF_ERR_INVALID, "--watchdog-device '%.200s': needs --fence-after (the "
                      "device is petted while hvfleetd answers or once the VMs are fenced)",
                      o->watchdog_device);
        goto fail;
    }
    if (!(o->token = opt_token(token_file, err)))
        goto fail;
    if (!o->executor)
        o->executor = hvf_strdup("auto");
    return 0;

fail:
    hvf_agent_opts_clear(o);
    return -1;
}
