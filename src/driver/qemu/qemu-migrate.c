/* SPDX-License-Identifier: MIT */
/* A live migration between two local QEMUs: capabilities, parameters, migrate, poll, figures. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-migrate.h"
#include "hvfleet/alloc.h"

/* After a cancel, or past the timeout in post-copy (which cannot be cancelled), this long. */
#define MIGRATE_END_GRACE_MS 60000

static int64_t
mig_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
mig_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static bool
mig_uri_local(const char *uri)
{
    return uri && (strncmp(uri, "tcp:127.0.0.1:", 14) == 0 || strncmp(uri, "tcp:[::1]:", 10) == 0 ||
                   strncmp(uri, "tcp:localhost:", 14) == 0 || strncmp(uri, "unix:", 5) == 0);
}

static uint64_t
mig_u64(json_t *obj, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(obj, key));

    return v > 0 ? (uint64_t)v : 0;
}

static int64_t
mig_i64(json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

void
hvf_qemu_migrate_read_sample(json_t *info, hvf_qemu_migrate_sample *s)
{
    json_t *ram = json_object_get(info, "ram");
    const char *status = json_string_value(json_object_get(info, "status"));

    memset(s, 0, sizeof(*s));
    hvf_strlcpy(s->status, status ? status : "none", sizeof(s->status));
    s->transferred_bytes = mig_u64(ram, "transferred");
    s->remaining_bytes = mig_u64(ram, "remaining");
    s->dirty_sync_count = mig_u64(ram, "dirty-sync-count");
    s->dirty_pages_rate = mig_u64(ram, "dirty-pages-rate");
    s->expected_downtime_ms = mig_i64(info, "expected-downtime", -1);
    {
        int64_t pct = mig_i64(info, "cpu-throttle-percentage", 0);
        s->throttle_pct = pct < 0 ? 0 : pct > 100 ? 100 : (int)pct;
    }
}

static void
mig_read_result(json_t *info, hvf_qemu_migrate_result *out)
{
    json_t *ram = json_object_get(info, "ram");
    const char *status = json_string_value(json_object_get(info, "status"));
    const char *desc = json_string_value(json_object_get(info, "error-desc"));

    hvf_strlcpy(out->status, status ? status : "none", sizeof(out->status));
    hvf_strlcpy(out->error_desc, desc ? desc : "", sizeof(out->error_desc));
    out->total_time_ms = mig_i64(info, "total-time", -1);
    out->downtime_ms = mig_i64(info, "downtime", -1);
    out->setup_time_ms = mig_i64(info, "setup-time", -1);
    out->ram_total_bytes = mig_u64(ram, "total");
    out->ram_transferred_bytes = mig_u64(ram, "transferred");
    out->ram_duplicate_pages = mig_u64(ram, "duplicate");
    out->ram_normal_pages = mig_u64(ram, "normal");
    out->precopy_bytes = mig_u64(ram, "precopy-bytes");
    out->downtime_bytes = mig_u64(ram, "downtime-bytes");
    out->postcopy_bytes = mig_u64(ram, "postcopy-bytes");
    out->dirty_sync_count = mig_u64(ram, "dirty-sync-count");
    out->postcopy_requests = mig_u64(ram, "postcopy-requests");
}

static bool
mig_final(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

static int
mig_set_caps(hvf_qmp *q, bool auto_converge, bool postcopy, hvf_error *err)
{
    json_t *caps = json_array();

    if (auto_converge)
        json_array_append_new(caps,
                              json_pack("{s:s, s:b}", "capability", "auto-converge", "state", 1));
    if (postcopy)
        json_array_append_new(caps,
                              json_pack("{s:s, s:b}", "capability", "postcopy-ram", "state", 1));
    if (json_array_size(caps) == 0) {
        json_decref(caps);
        return 0;
    }
    return hvf_qmp_command(q, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps),
                           err);
}

static int
mig_set_params(hvf_qmp *q, const hvf_qemu_migrate_opts *o, hvf_error *err)
{
    json_t *params = json_object();

    if (o->max_bandwidth_bytes_per_s > 0)
        json_object_set_new(params, "max-bandwidth",
                            json_integer((json_int_t)o->max_bandwidth_bytes_per_s));
    if (o->downtime_limit_ms > 0)
        json_object_set_new(params, "downtime-limit", json_integer(o->downtime_limit_ms));
    if (o->max_postcopy_bandwidth_bytes_per_s > 0)
        json_object_set_new(params, "max-postcopy-bandwidth",
                            json_integer((json_int_t)o->max_postcopy_bandwidth_bytes_per_s));
    if (json_object_size(params) == 0) {
        json_decref(params);
        return 0;
    }
    return hvf_qmp_command(q, "migrate-set-parameters", params, err);
}

int
hvf_qemu_migrate(hvf_qmp *src, hvf_qmp *dst, const hvf_qemu_migrate_opts *o,
                 hvf_qemu_migrate_result *out, hvf_error *err)
{
    int poll_ms = o->poll_ms > 0 ? o->poll_ms : 100;
    uint64_t pc_after = o->postcopy_after_syncs > 0 ? o->postcopy_after_syncs : 2;
    int64_t start;
    int64_t hard_deadline = -1;
    bool cancelled = false;

    memset(out, 0, sizeof(*out));
    out->postcopy_start_ms = -1;
    out->expected_downtime_ms = -1;
    if (!mig_uri_local(o->uri)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "migration URI '%s': expected a local one (tcp:127.0.0.1:PORT, "
                      "tcp:[::1]:PORT or unix:PATH)",
                      o->uri ? o->uri : "(none)");
        return -1;
    }
    if (mig_set_caps(dst, false, o->postcopy, err) < 0 ||
        mig_set_caps(src, o->auto_converge, o->postcopy, err) < 0 ||
        mig_set_params(src, o, err) < 0)
        return -1;

    start = mig_now_ms();
    if (hvf_qmp_command(src, "migrate", json_pack("{s:s}", "uri", o->uri), err) < 0)
        return -1;

    for (;;) {
        hvf_qemu_migrate_sample s;
        json_t *info = hvf_qmp_execute(src, "query-migrate", NULL, err);
        int64_t now = mig_now_ms();

        if (!info)
            return -1;
        hvf_qemu_migrate_read_sample(info, &s);
        s.t_ms = now - start;
        out->samples++;
        if (s.throttle_pct > out->max_throttle_pct)
            out->max_throttle_pct = s.throttle_pct;
        if (strcmp(s.status, "active") == 0 && s.expected_downtime_ms >= 0)
            out->expected_downtime_ms = s.expected_downtime_ms;
        if (o->on_sample)
            o->on_sample(&s, o->opaque);
        if (mig_final(s.status)) {
            mig_read_result(info, out);
            json_decref(info);
            out->wall_ms = now - start;
            out->timed_out = cancelled;
            return 0;
        }
        json_decref(info);

        if (o->postcopy && out->postcopy_start_ms < 0 && strcmp(s.status, "active") == 0 &&
            s.dirty_sync_count >= pc_after) {
            if (hvf_qmp_command(src, "migrate-start-postcopy", NULL, err) < 0)
                return -1;
            out->postcopy_start_ms = mig_now_ms() - start;
        }
        if (o->timeout_ms > 0 && !cancelled && hard_deadline < 0 && now - start >= o->timeout_ms) {
            hard_deadline = now + MIGRATE_END_GRACE_MS;
            /* Post-copy cannot be cancelled: the guest already runs on the destination. */
            if (strcmp(s.status, "postcopy-active") != 0) {
                if (hvf_qmp_command(src, "migrate_cancel", NULL, err) < 0)
                    return -1;
                cancelled = true;
            }
        }
        if (hard_deadline >= 0 && now >= hard_deadline) {
            hvf_error_set(err, HVF_ERR_IO,
                          "migration to %s still '%s' %d s after its timeout of %lld ms", o->uri,
                          s.status, MIGRATE_END_GRACE_MS / 1000, (long long)o->timeout_ms);
            return -1;
        }
        mig_sleep_ms(poll_ms);
    }
}

int
hvf_qemu_free_port(int *port, hvf_error *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot find a free TCP port on 127.0.0.1: %s",
                      strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    *port = ntohs(addr.sin_port);
    return 0;
}
