/* SPDX-License-Identifier: MIT */
/* hvfleetd's configuration: defaults, and the --config file (YAML or JSON, keys as the flags). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/reader.h"
#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/watchers.h"

void
hvfd_config_init(hvfd_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_host = hvf_strdup("127.0.0.1");
    c->port = HVFD_DEFAULT_PORT;
    c->driver = hvf_strdup("sim:///");
    c->speed = 1.0;
    c->threads = 4;
    c->max_connections = 256;
    c->max_connections_per_ip = 64;
    c->connection_timeout_s = 30;
    c->max_body = (size_t)1 << 20;
    c->max_inventory_body = (size_t)16 << 20;
    c->max_url = 2048;
    c->rate_per_s = 50;
    c->rate_burst = 100;
    c->agent_heartbeat_s = 5;
    c->agent_down_after_s = 60;
    c->ha_fence_timeout_us = 60 * 1000000LL;
    c->ha_fence_quiet_us = 180 * 1000000LL;
    c->ha_storm_share = 0.3;
    c->ha_restarts_per_min = 30;
    c->reconcile_actions_per_min = 10;
    c->alert_command_timeout_ms = 10000;
    c->alert_webhook_timeout_ms = 5000;
    c->alert_retries = 5;
    c->alert_backoff_ms = 1000;
    c->alert_backoff_max_ms = 300000;
    c->alert_queue = 1024;
    c->deadman_every_ms = 300000;
    c->peer_every_ms = 5000;
    c->peer_down_after_ms = 30000;
    c->lease_ttl_ms = 10000;
    c->lease_renew_ms = 2000;
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
hvfd_config_clear(hvfd_config *c)
{
    free(c->state_dir);
    free(c->listen_host);
    free(c->driver);
    free(c->inventory);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->maintenance_command);
    free(c->ha_fence_command);
    strv_free(c->alert_webhooks, c->nalert_webhooks);
    free(c->alert_command);
    free(c->deadman_url);
    strv_free(c->peers, c->npeers);
    free(c->peer_token_file);
    free(c->store);
    free(c->name);
    free(c->advertise_url);
    memset(c, 0, sizeof(*c));
}

/* "HOST:PORT" or ":PORT" or "PORT" into @c. */
int
hvfd_config_listen(hvfd_config *c, const char *v, hvf_error *err)
{
    const char *colon = strrchr(v, ':');
    const char *port = colon ? colon + 1 : v;
    char *end;
    long p = strtol(port, &end, 10);

    if (!*port || *end || p < 0 || p > 65535) {
        char q[64];

        hvf_quote_value(v, strlen(v), q, sizeof(q));
        hvf_error_set(err, HVF_ERR_INVALID,
                      "listen %s: expected HOST:PORT with a port from 0 to 65535", q);
        return -1;
    }
    if (colon && colon > v) {
        free(c->listen_host);
        c->listen_host = hvf_strndup(v, (size_t)(colon - v));
    }
    c->port = (int)p;
    return 0;
}

typedef struct cfg_obj {
    char *listen, *state_dir, *driver, *inventory, *tls_cert, *tls_key, *maint, *log_level;
    double speed, rate, burst;
    uint32_t threads, conns, conns_ip, body_kib, inv_body_mib, hb_s;
    int64_t down_us;
    int64_t timeout_us;
    char *fence_cmd;
    int64_t fence_after_us, fence_timeout_us, fence_quiet_us;
    double storm_share;
    uint32_t restarts;
    bool reconcile_destroy, reconcile_stop, reconcile_restart, reconcile_adopt;
    uint32_t reconcile_rate;
    bool monitor_only;
    char **webhooks, **peers;
    size_t nwebhooks, npeers;
    char *command, *deadman, *peer_token_file;
    uint32_t retries, queue;
    int64_t cmd_timeout_us, hook_timeout_us, backoff_us, backoff_max_us, deadman_every_us;
    int64_t peer_every_us, peer_down_us;
    char *store, *name, *advertise_url;
    int64_t lease_ttl_us, lease_renew_us;
} cfg_obj;

#define F(n, t, m) {n, t, offsetof(cfg_obj, m), false, 0, 0, NULL, 0, 0}
#define FR(n, t, m, lo, hi) {n, t, offsetof(cfg_obj, m), false, lo, hi, NULL, 0, 0}
#define FL(n, m, cnt) {n, HVF_FIELD_STRLIST, offsetof(cfg_obj, m), false, 0, 0, NULL, \
                       offsetof(cfg_obj, cnt), 0}
static const hvf_field_spec cfg_fields[] = {
    F("listen", HVF_FIELD_STRING, listen),
    F("state_dir", HVF_FIELD_STRING, state_dir),
    F("driver", HVF_FIELD_STRING, driver),
    F("inventory", HVF_FIELD_STRING, inventory),
    F("tls_cert", HVF_FIELD_STRING, tls_cert),
    F("tls_key", HVF_FIELD_STRING, tls_key),
    F("maintenance_command", HVF_FIELD_STRING, maint),
    F("log_level", HVF_FIELD_STRING, log_level),
    FR("speed", HVF_FIELD_DOUBLE, speed, 0, 1e6),
    FR("rate_per_s", HVF_FIELD_DOUBLE, rate, 0, 1e6),
    FR("rate_burst", HVF_FIELD_DOUBLE, burst, 1, 1e6),
    FR("threads", HVF_FIELD_UINT, threads, 1, 64),
    FR("max_connections", HVF_FIELD_UINT, conns, 1, 100000),
    FR("max_connections_per_ip", HVF_FIELD_UINT, conns_ip, 1, 100000),
    FR("max_body_kib", HVF_FIELD_UINT, body_kib, 1, 1024 * 1024),
    FR("max_inventory_body_mib", HVF_FIELD_UINT, inv_body_mib, 1, 4096),
    F("connection_timeout", HVF_FIELD_DURATION, timeout_us),
    FR("agent_heartbeat_s", HVF_FIELD_UINT, hb_s, 1, 300),
    F("agent_down_after", HVF_FIELD_DURATION, down_us),
    F("ha_fence_after", HVF_FIELD_DURATION, fence_after_us),
    F("ha_fence_command", HVF_FIELD_STRING, fence_cmd),
    F("ha_fence_timeout", HVF_FIELD_DURATION, fence_timeout_us),
    F("ha_fence_quiet", HVF_FIELD_DURATION, fence_quiet_us),
    FR("ha_storm_share", HVF_FIELD_DOUBLE, storm_share, 0.01, 1),
    FR("ha_restarts_per_minute", HVF_FIELD_UINT, restarts, 1, 100000),
    F("reconcile_destroy", HVF_FIELD_BOOL, reconcile_destroy),
    F("reconcile_stop", HVF_FIELD_BOOL, reconcile_stop),
    F("reconcile_restart", HVF_FIELD_BOOL, reconcile_restart),
    F("reconcile_adopt", HVF_FIELD_BOOL, reconcile_adopt),
    FR("reconcile_actions_per_minute", HVF_FIELD_UINT, reconcile_rate, 1, 100000),
    F("monitor_only", HVF_FIELD_BOOL, monitor_only),
    FL("alert_webhooks", webhooks, nwebhooks),
    F("alert_command", HVF_FIELD_STRING, command),
    F("alert_command_timeout", HVF_FIELD_DURATION, cmd_timeout_us),
    F("alert_webhook_timeout", HVF_FIELD_DURATION, hook_timeout_us),
    FR("alert_retries", HVF_FIELD_UINT, retries, 0, 20),
    F("alert_backoff", HVF_FIELD_DURATION, backoff_us),
    F("alert_backoff_max", HVF_FIELD_DURATION, backoff_max_us),
    FR("alert_queue", HVF_FIELD_UINT, queue, 16, 1000000),
    F("deadman_url", HVF_FIELD_STRING, deadman),
    F("deadman_every", HVF_FIELD_DURATION, deadman_every_us),
    FL("peers", peers, npeers),
    F("peer_token_file", HVF_FIELD_STRING, peer_token_file),
    F("peer_every", HVF_FIELD_DURATION, peer_every_us),
    F("peer_down_after", HVF_FIELD_DURATION, peer_down_us),
    F("store", HVF_FIELD_STRING, store),
    F("name", HVF_FIELD_STRING, name),
    F("advertise_url", HVF_FIELD_STRING, advertise_url),
    F("lease_ttl", HVF_FIELD_DURATION, lease_ttl_us),
    F("lease_renew", HVF_FIELD_DURATION, lease_renew_us),
};

bool
hvfd_controller_name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len < 1 || len > 48)
        return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '.' || *n == '_' || *n == ':' || *n == '-'))
            return false;
    return true;
}

/* An http:// or https:// URL with a host: what libcurl is given (the same rule as hvfleet
 * audit's reader of these keys, hvfleet/watchers.h). */
bool
hvfd_url_ok(const char *u)
{
    char host[256];

    return hvf_watcher_url_host(u, host, sizeof(host));
}

/* A duration key from @lo_ms to @hi_ms; reported naming the key otherwise. */
static void
cfg_ms(hvf_reader *rd, const char *key, int64_t us, int64_t lo_ms, int64_t hi_ms,
       const char *range)
{
    if (us < lo_ms * 1000 || us > hi_ms * 1000)
        hvf_reader_report_field(rd, hvf_reader_root(rd), "", key, "expected from %s", range);
}

static void
cfg_take(char **dst, char **src)
{
    if (*src) {
        free(*dst);
        *dst = *src;
        *src = NULL;
    }
}

int
hvfd_config_load(hvfd_config *c, const char *path, hvf_error *err)
{
    hvf_reader rd;
    hvf_diags diags;
    cfg_obj o;
    size_t problems;
    int rc = 0;

    memset(&o, 0, sizeof(o));
    o.speed = c->speed;
    o.rate = c->rate_per_s;
    o.burst = c->rate_burst;
    o.threads = c->threads;
    o.conns = c->max_connections;
    o.conns_ip = c->max_connections_per_ip;
    o.body_kib = (uint32_t)(c->max_body >> 10);
    o.inv_body_mib = (uint32_t)(c->max_inventory_body >> 20);
    o.timeout_us = (int64_t)c->connection_timeout_s * 1000000;
    o.hb_s = c->agent_heartbeat_s;
    o.down_us = (int64_t)c->agent_down_after_s * 1000000;
    o.fence_after_us = c->ha_fence_after_us;
    o.fence_timeout_us = c->ha_fence_timeout_us;
    o.fence_quiet_us = c->ha_fence_quiet_us;
    o.storm_share = c->ha_storm_share;
    o.restarts = c->ha_restarts_per_min;
    o.reconcile_destroy = c->reconcile_destroy;
    o.reconcile_stop = c->reconcile_stop;
    o.reconcile_restart = c->reconcile_restart;
    o.reconcile_adopt = c->reconcile_adopt;
    o.reconcile_rate = c->reconcile_actions_per_min;
    o.monitor_only = c->monitor_only;
    o.retries = c->alert_retries;
    o.queue = c->alert_queue;
    o.cmd_timeout_us = (int64_t)c->alert_command_timeout_ms * 1000;
    o.hook_timeout_us = (int64_t)c->alert_webhook_timeout_ms * 1000;
    o.backoff_us = (int64_t)c->alert_backoff_ms * 1000;
    o.backoff_max_us = (int64_t)c->alert_backoff_max_ms * 1000;
    o.deadman_every_us = (int64_t)c->deadman_every_ms * 1000;
    o.peer_every_us = (int64_t)c->peer_every_ms * 1000;
    o.peer_down_us = (int64_t)c->peer_down_after_ms * 1000;
    o.lease_ttl_us = (int64_t)c->lease_ttl_ms * 1000;
    o.lease_renew_us = (int64_t)c->lease_renew_ms * 1000;
    hvf_diags_init(&diags);
    if (hvf_reader_open_file(&rd, path, &diags, err) < 0) {
        hvf_diags_clear(&diags);
        return -1;
    }
    problems = hvf_reader_map(&rd, hvf_reader_root(&rd), "", cfg_fields,
                              HVF_ARRAY_LEN(cfg_fields), &o);
    if (!problems && o.log_level && strcmp(o.log_level, "debug") != 0 &&
        strcmp(o.log_level, "info") != 0)
        hvf_reader_report_field(&rd, hvf_reader_root(&rd), "", "log_level",
                                "expected debug or info");
    if (!problems && o.timeout_us && (o.timeout_us < 1000000 || o.timeout_us > 3600000000))
        hvf_reader_report_field(&rd, hvf_reader_root(&rd), "", "connection_timeout",
                                "expected from 1s to 1h");
    if (!problems && (o.down_us < 1000000 || o.down_us < (int64_t)o.hb_s * 3000000))
        hvf_reader_report_field(&rd, hvf_reader_root(&rd), "", "agent_down_after",
                                "expected at least 1s and 3 heartbeats");
    /* when hvfleetd takes a host for lost, its agent (if alive at all) must have fenced already */
    if (!problems && o.fence_after_us &&
        o.down_us < o.fence_after_us + (int64_t)o.hb_s * 2000000)
        hvf_reader_report_field(&rd, hvf_reader_root(&rd), "", "ha_fence_after",
                                "expected at most agent_down_after minus 2 heartbeats (a host "
                                "is taken for lost only once its agent has fenced itself)");
    if (!problems && (o.fence_timeout_us < 1000000 || o.fence_quiet_us < 0 || o.fence_after_us < 0))
        hvf_reader_report_field(&rd, hvf_reader_root(&rd), "", "ha_fence_timeout",
                                "expected at least 1s");
    if (!problems) {
        hvf_node *root = hvf_reader_root(&rd);

        if (o.nwebhooks > 15)
            hvf_reader_report_field(&rd, root, "", "alert_webhooks", "%zu URLs: at most 15",
                                    o.nwebhooks);
        for (size_t i = 0; i < o.nwebhooks; i++)
            if (!hvfd_url_ok(o.webhooks[i]))
                hvf_reader_report_field(&rd, root, "", "alert_webhooks",
                                        "'%.200s': expected an http:// or https:// URL",
                                        o.webhooks[i]);
        for (size_t i = 0; i < o.npeers; i++)
            if (!hvfd_url_ok(o.peers[i]))
                hvf_reader_report_field(&rd, root, "", "peers",
                                        "'%.200s': expected an http:// or https:// URL",
                                        o.peers[i]);
        if (o.deadman && !hvfd_url_ok(o.deadman))
            hvf_reader_report_field(&rd, root, "", "deadman_url",
                                    "expected an http:// or https:// URL");
        if (o.command && !o.command[0])
            hvf_reader_report_field(&rd, root, "", "alert_command", "expected a command");
        cfg_ms(&rd, "alert_command_timeout", o.cmd_timeout_us, 100, 3600000, "100ms to 1h");
        cfg_ms(&rd, "alert_webhook_timeout", o.hook_timeout_us, 100, 600000, "100ms to 10m");
        cfg_ms(&rd, "alert_backoff", o.backoff_us, 10, 3600000, "10ms to 1h");
        cfg_ms(&rd, "alert_backoff_max", o.backoff_max_us, o.backoff_us / 1000, 86400000,
               "alert_backoff to 1d");
        cfg_ms(&rd, "deadman_every", o.deadman_every_us, 1000, 86400000, "1s to 1d");
        cfg_ms(&rd, "peer_every", o.peer_every_us, 100, 3600000, "100ms to 1h");
        cfg_ms(&rd, "peer_down_after", o.peer_down_us, o.peer_every_us / 1000, 86400000,
               "peer_every to 1d");
        cfg_ms(&rd, "lease_ttl", o.lease_ttl_us, 3000, 300000, "3s to 5m");
        /* three renewals a lease: one lost request does not cost the lead */
        cfg_ms(&rd, "lease_renew", o.lease_renew_us, 100, o.lease_ttl_us / 3000,
               "100ms to a third of lease_ttl");
        if (o.advertise_url && !hvfd_url_ok(o.advertise_url))
            hvf_reader_report_field(&rd, root, "", "advertise_url",
                                    "expected an http:// or https:// URL");
        if (o.name && !hvfd_controller_name_ok(o.name))
            hvf_reader_report_field(&rd, root, "", "name",
                                    "'%.80s': expected 1 to 48 letters, digits, '.', '_', ':' "
                                    "or '-'",
                                    o.name);
    }
    if (diags.n) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.lines[0]);
        rc = -1;
    }
    /* a value quoted in the message may hold any byte: the message stays one line */
    for (char *m = err && rc < 0 ? err->msg : NULL; m && *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f)
            *m = '?';
    if (rc == 0 && o.listen && hvfd_config_listen(c, o.listen, err) < 0) {
        hvf_error_prefix(err, "%s: ", path);
        rc = -1;
    }
    if (rc == 0) {
        cfg_take(&c->state_dir, &o.state_dir);
        cfg_take(&c->driver, &o.driver);
        cfg_take(&c->inventory, &o.inventory);
        cfg_take(&c->tls_cert, &o.tls_cert);
        cfg_take(&c->tls_key, &o.tls_key);
        cfg_take(&c->maintenance_command, &o.maint);
        cfg_take(&c->ha_fence_command, &o.fence_cmd);
        c->ha_fence_after_us = o.fence_after_us;
        c->ha_fence_timeout_us = o.fence_timeout_us;
        c->ha_fence_quiet_us = o.fence_quiet_us;
        c->ha_storm_share = o.storm_share;
        c->ha_restarts_per_min = o.restarts;
        c->reconcile_destroy = o.reconcile_destroy;
        c->reconcile_stop = o.reconcile_stop;
        c->reconcile_restart = o.reconcile_restart;
        c->reconcile_adopt = o.reconcile_adopt;
        c->reconcile_actions_per_min = o.reconcile_rate;
        c->speed = o.speed;
        c->rate_per_s = o.rate;
        c->rate_burst = o.burst;
        c->threads = o.threads;
        c->max_connections = o.conns;
        c->max_connections_per_ip = o.conns_ip;
        c->max_body = (size_t)o.body_kib << 10;
        c->max_inventory_body = (size_t)o.inv_body_mib << 20;
        c->connection_timeout_s = (unsigned)(o.timeout_us / 1000000);
        c->agent_heartbeat_s = o.hb_s;
        c->agent_down_after_s = (unsigned)(o.down_us / 1000000);
        c->log_debug = o.log_level && strcmp(o.log_level, "debug") == 0;
        c->monitor_only = o.monitor_only;
        if (o.nwebhooks) {
            strv_free(c->alert_webhooks, c->nalert_webhooks);
            c->alert_webhooks = o.webhooks;
            c->nalert_webhooks = o.nwebhooks;
            o.webhooks = NULL;
            o.nwebhooks = 0;
        }
        if (o.npeers) {
            strv_free(c->peers, c->npeers);
            c->peers = o.peers;
            c->npeers = o.npeers;
            o.peers = NULL;
            o.npeers = 0;
        }
        cfg_take(&c->alert_command, &o.command);
        cfg_take(&c->deadman_url, &o.deadman);
        cfg_take(&c->peer_token_file, &o.peer_token_file);
        c->alert_retries = o.retries;
        c->alert_queue = o.queue;
        c->alert_command_timeout_ms = (unsigned)(o.cmd_timeout_us / 1000);
        c->alert_webhook_timeout_ms = (unsigned)(o.hook_timeout_us / 1000);
        c->alert_backoff_ms = (unsigned)(o.backoff_us / 1000);
        c->alert_backoff_max_ms = (unsigned)(o.backoff_max_us / 1000);
        c->deadman_every_ms = (unsigned)(o.deadman_every_us / 1000);
        c->peer_every_ms = (unsigned)(o.peer_every_us / 1000);
        c->peer_down_after_ms = (unsigned)(o.peer_down_us / 1000);
        cfg_take(&c->store, &o.store);
        cfg_take(&c->name, &o.name);
        cfg_take(&c->advertise_url, &o.advertise_url);
        c->lease_ttl_ms = (unsigned)(o.lease_ttl_us / 1000);
        c->lease_renew_ms = (unsigned)(o.lease_renew_us / 1000);
    }
    hvf_reader_free_fields(cfg_fields, HVF_ARRAY_LEN(cfg_fields), &o);
    hvf_reader_close(&rd);
    hvf_diags_clear(&diags);
    return rc;
}
