/* SPDX-License-Identifier: MIT */
/* Live migration of hvf_qvm VMs: a free port, migrate-incoming, migrate, query-migrate, finish. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "driver/qemu/qemu-vm-migrate.h"
#include "driver/qemu/qemu-vm-priv.h"
#include "hvfleet/alloc.h"

static int64_t
vmig_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- query-migrate */

static bool
vmig_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static int64_t
vmig_i64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v) : -1;
}

int
hvf_qvm_migrate_info_read(json_t *reply, hvf_qvm_migrate_info *out)
{
    json_t *ram;
    const char *status;
    const char *desc;
    uint64_t page_size = 4096;
    uint64_t pct = 0;
    double mbps;

    memset(out, 0, sizeof(*out));
    hvf_strlcpy(out->status, "none", sizeof(out->status));
    out->expected_downtime_ms = -1;
    out->total_time_ms = -1;
    out->downtime_ms = -1;
    out->setup_time_ms = -1;
    if (!json_is_object(reply))
        return -1;
    ram = json_object_get(reply, "ram");
    status = json_string_value(json_object_get(reply, "status"));
    desc = json_string_value(json_object_get(reply, "error-desc"));
    if (status)
        hvf_strlcpy(out->status, status, sizeof(out->status));
    if (desc)
        hvf_strlcpy(out->error_desc, desc, sizeof(out->error_desc));
    vmig_u64(ram, "transferred", &out->transferred_bytes);
    vmig_u64(ram, "remaining", &out->remaining_bytes);
    vmig_u64(ram, "total", &out->total_bytes);
    vmig_u64(ram, "dirty-sync-count", &out->dirty_sync_count);
    vmig_u64(ram, "dirty-pages-rate", &out->dirty_pages_rate);
    if (!vmig_u64(ram, "page-size", &page_size) || page_size == 0 || page_size > (1u << 30))
        page_size = 4096;
    out->dirty_bytes_per_s = out->dirty_pages_rate > UINT64_MAX / page_size
                                 ? UINT64_MAX
                                 : out->dirty_pages_rate * page_size;
    mbps = json_number_value(json_object_get(ram, "mbps"));
    out->mbps_x1000 = mbps > 0 && mbps < 1e12 ? (uint64_t)(mbps * 1000) : 0;
    out->expected_downtime_ms = vmig_i64(reply, "expected-downtime");
    out->total_time_ms = vmig_i64(reply, "total-time");
    out->downtime_ms = vmig_i64(reply, "downtime");
    out->setup_time_ms = vmig_i64(reply, "setup-time");
    if (vmig_u64(reply, "cpu-throttle-percentage", &pct))
        out->throttle_pct = pct > 100 ? 100 : (int)pct;
    return 0;
}

bool
hvf_qvm_migrate_final(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

/* ---------------------------------------------------------------- lost writes */

/* QEMU 9.0.0 carries commit 03bfc2188f: the fast path of the dirty bitmap sync resets TCG's TLB. */
#define VMIG_QEMU_TLB_FIX_VERSION 90000
/* The fast path takes RAM blocks whose size is a multiple of 64 pages. */
#define VMIG_FAST_SYNC_BYTES (64u * 4096u)

/*
 * Whether @vm's QEMU may miss guest writes while it migrates (see lost_writes_possible):
 * 1 or 0, cached in vm->dirty_risk; -1 with @err set when QEMU did not answer (nothing cached).
 */
static int
vmig_lost_writes_possible(hvf_qvm *vm, hvf_qmp *q, hvf_error *err)
{
    json_t *r;
    hvf_error qerr = HVF_ERROR_INIT;
    bool kvm;
    uint64_t base = 0;
    uint64_t plugged = 0;

    if (vm->dirty_risk != 0)
        return vm->dirty_risk == 2;
    if (hvf_qmp_version(q) >= VMIG_QEMU_TLB_FIX_VERSION) {
        vm->dirty_risk = 1;
        return 0;
    }
    r = hvf_qmp_execute(q, "query-kvm", NULL, err);
    if (!r)
        return -1;
    kvm = json_is_true(json_object_get(r, "enabled"));
    json_decref(r);
    if (kvm) {
        vm->dirty_risk = 1; /* KVM's dirty log: the TCG TLB is not involved */
        return 0;
    }
    r = hvf_qmp_execute(q, "query-memory-size-summary", NULL, &qerr);
    if (!r && qerr.code != HVF_ERR_UNSUPPORTED) {
        if (err)
            *err = qerr;
        return -1;
    }
    /* a QEMU without the command (before 2.11): its RAM size is unknown, so assume the worst */
    if (!r || !vmig_u64(r, "base-memory", &base))
        base = 0;
    vmig_u64(r, "plugged-memory", &plugged);
    json_decref(r);
    vm->dirty_risk = base % VMIG_FAST_SYNC_BYTES == 0 || plugged > 0 ? 2 : 1;
    return vm->dirty_risk == 2;
}

/* ---------------------------------------------------------------- destination */

static int
vmig_set_caps(hvf_qmp *q, bool auto_converge, bool postcopy, bool with_ac, hvf_error *err)
{
    json_t *caps = json_array();

    if (with_ac)
        json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "auto-converge",
                                              "state", auto_converge));
    json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "postcopy-ram", "state",
                                          postcopy));
    return hvf_qmp_command(q, "migrate-set-capabilities", json_pack("{s:o}", "capabilities", caps),
                           err);
}

/* True when nobody has bound @port on @addr (a moment ago). */
static bool
vmig_port_free(const struct addrinfo *ai, int port)
{
    struct sockaddr_storage ss;
    int fd;
    int one = 1;
    bool ok;

    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* as QEMU's own listen does: a port in TIME_WAIT is usable */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == 0;
    close(fd);
    return ok;
}

int
hvf_qvm_migrate_dst_listen(hvf_qvm *dst, const hvf_qvm_incoming *in, char *listen,
                           size_t listen_size, hvf_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    hvf_qmp *q = hvf_qvm_priv_qmp(dst, err);
    bool v6;
    int rc;

    if (!q)
        return -1;
    rc = getaddrinfo(dst->listen_addr, NULL, &hints, &ai);
    if (rc != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "migration listen address '%s': expected an IP address",
                      dst->listen_addr);
        return -1;
    }
    v6 = ai->ai_family == AF_INET6;
    if (vmig_set_caps(q, false, in && in->postcopy, false, err) < 0) {
        freeaddrinfo(ai);
        return -1;
    }
    for (int port = dst->port_min; port <= dst->port_max; port++) {
        char uri[128];
        hvf_error qerr = HVF_ERROR_INIT;

        if (!vmig_port_free(ai, port))
            continue;
        snprintf(uri, sizeof(uri), v6 ? "tcp:[%s]:%d" : "tcp:%s:%d", dst->listen_addr, port);
        if (hvf_qmp_command(q, "migrate-incoming", json_pack("{s:s}", "uri", uri), &qerr) < 0) {
            /* taken between our bind and QEMU's: the next one; any other refusal is final */
            if (qerr.code == HVF_ERR_CONFLICT && strstr(qerr.msg, "in use"))
                continue;
            freeaddrinfo(ai);
            if (err)
                *err = qerr;
            hvf_error_prefix(err, "vm '%s': ", dst->name);
            return -1;
        }
        freeaddrinfo(ai);
        snprintf(listen, listen_size, v6 ? "[%s]:%d" : "%s:%d", dst->listen_addr, port);
        return 0;
    }
    freeaddrinfo(ai);
    hvf_error_set(err, HVF_ERR_CAPACITY, "vm '%s': no free migration port in %d-%d on %s",
                  dst->name, dst->port_min, dst->port_max, dst->listen_addr);
    return -1;
}

int
hvf_qvm_migrate_dst_finish(hvf_qvm *dst, int timeout_ms, hvf_error *err)
{
    int64_t deadline = vmig_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    char raw[32];

    for (;;) {
        hvf_qvm_state s = hvf_qvm_status(dst, raw, sizeof(raw));

        if (s == HVF_QVM_RUNNING)
            return 0;
        if (s == HVF_QVM_STOPPED || s == HVF_QVM_CRASHED) {
            hvf_error_set(err, HVF_ERR_CONFLICT,
                          "vm '%s': QEMU is gone (%s): the incoming migration failed", dst->name,
                          hvf_qvm_state_to_string(s));
            return -1;
        }
        if (strcmp(raw, "inmigrate") != 0 && strcmp(raw, "unknown") != 0) {
            hvf_qmp *q = hvf_qvm_priv_qmp(dst, err);
            return q ? hvf_qmp_command(q, "cont", NULL, err) : -1;
        }
        if (vmig_now_ms() >= deadline) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "vm '%s': still '%s' after %d ms", dst->name,
                          raw, timeout_ms);
            return -1;
        }
        {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* ---------------------------------------------------------------- source */

/* "ADDR:PORT" or "[ADDR6]:PORT", a port of 1..65535 */
static bool
vmig_target_ok(const char *t)
{
    const char *colon = t ? strrchr(t, ':') : NULL;
    char *end;
    long port;

    if (!colon || colon == t || strlen(t) > 100 || strpbrk(t, ", \t\n"))
        return false;
    if (t[0] == '[' && colon[-1] != ']')
        return false;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return errno == 0 && end != colon + 1 && *end == 0 && port >= 1 && port <= 65535;
}

int
hvf_qvm_migrate_src_start(hvf_qvm *src, const hvf_qvm_migrate_params *p, hvf_error *err)
{
    hvf_qmp *q;
    json_t *params;
    char uri[128];

    if (!vmig_target_ok(p->target)) {
        hvf_error_set(err, HVF_ERR_INVALID, "migration target '%s': expected ADDR:PORT",
                      p->target ? p->target : "");
        return -1;
    }
    if (p->downtime_limit_ms < 0 || p->max_bytes_per_s > (uint64_t)INT64_MAX) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "migration of '%s': downtime_limit_ms %lld or max_bytes_per_s out of range",
                      src->name, (long long)p->downtime_limit_ms);
        return -1;
    }
    q = hvf_qvm_priv_qmp(src, err);
    if (!q)
        return -1;
    if (vmig_lost_writes_possible(src, q, err) < 0)
        goto fail;
    if (vmig_set_caps(q, p->auto_converge, p->postcopy, true, err) < 0)
        goto fail;
    params = json_object();
    if (p->max_bytes_per_s > 0)
        json_object_set_new(params, "max-bandwidth", json_integer((json_int_t)p->max_bytes_per_s));
    if (p->downtime_limit_ms > 0)
        json_object_set_new(params, "downtime-limit", json_integer(p->downtime_limit_ms));
    if (json_object_size(params) > 0) {
        if (hvf_qmp_command(q, "migrate-set-parameters", params, err) < 0)
            goto fail;
    } else {
        json_decref(params);
    }
    snprintf(uri, sizeof(uri), "tcp:%s", p->target);
    if (hvf_qmp_command(q, "migrate", json_pack("{s:s}", "uri", uri), err) < 0)
        goto fail;
    return 0;
fail:
    hvf_error_prefix(err, "migration of '%s': ", src->name);
    return -1;
}

int
hvf_qvm_migrate_src_poll(hvf_qvm *src, hvf_qvm_migrate_info *out, hvf_error *err)
{
    hvf_qmp *q = hvf_qvm_priv_qmp(src, err);
    json_t *r = q ? hvf_qmp_execute(q, "query-migrate", NULL, err) : NULL;
    int rc;

    if (!r)
        return -1;
    rc = hvf_qvm_migrate_info_read(r, out);
    json_decref(r);
    if (rc < 0) {
        hvf_error_set(err, HVF_ERR_IO, "vm '%s': query-migrate: unexpected reply", src->name);
        return -1;
    }
    /* asked once per handle (an adopted VM's first poll); unanswered: assume the worst */
    {
        hvf_error ignored = HVF_ERROR_INIT;
        out->lost_writes_possible = vmig_lost_writes_possible(src, q, &ignored) != 0;
    }
    return 0;
}

static int
vmig_simple(hvf_qvm *vm, const char *cmd, hvf_error *err)
{
    hvf_qmp *q = hvf_qvm_priv_qmp(vm, err);

    if (!q || hvf_qmp_command(q, cmd, NULL, err) < 0) {
        hvf_error_prefix(err, "vm '%s': %s: ", vm->name, cmd);
        return -1;
    }
    return 0;
}

int
hvf_qvm_migrate_src_postcopy(hvf_qvm *src, hvf_error *err)
{
    return vmig_simple(src, "migrate-start-postcopy", err);
}

int
hvf_qvm_migrate_src_cancel(hvf_qvm *src, hvf_error *err)
{
    return vmig_simple(src, "migrate_cancel", err);
}

int
hvf_qvm_migrate_src_finish(hvf_qvm *src, hvf_error *err)
{
    hvf_qvm_migrate_info info;

    if (hvf_qvm_migrate_src_poll(src, &info, err) < 0)
        return -1;
    if (strcmp(info.status, "completed") != 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "vm '%s': migration is '%s', not completed: the source keeps running",
                      src->name, info.status);
        return -1;
    }
    return hvf_qvm_destroy(src, err) < 0 ? -1 : 0;
}
