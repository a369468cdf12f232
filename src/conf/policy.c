/* SPDX-License-Identifier: MIT */
/* Policy files (YAML/JSON, schema hvfleet.policy/v1) -> hvf_policy, with defaults from the peers.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "conf/policy-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/policy.h"
#include "hvfleet/units.h"

const char *const hvf_non_converging_names[] = {"auto-converge", "post-copy", "shutdown", "refuse",
                                                NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_non_converging_names) == HVF_NON_CONVERGING_LAST + 1,
               "non_converging table");

const char *
hvf_non_converging_to_string(hvf_non_converging v)
{
    return (unsigned)v < HVF_NON_CONVERGING_LAST ? hvf_non_converging_names[v] : "unknown";
}

int
hvf_non_converging_from_string(const char *s)
{
    for (int i = 0; hvf_non_converging_names[i]; i++) {
        if (strcmp(hvf_non_converging_names[i], s) == 0)
            return i;
    }
    return -1;
}

const char *const hvf_plan_verdict_names[] = {"auto", "needs-approval", "refused", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_plan_verdict_names) == HVF_PLAN_VERDICT_LAST + 1, "verdicts");

const char *
hvf_plan_verdict_to_string(hvf_plan_verdict v)
{
    return (unsigned)v < HVF_PLAN_VERDICT_LAST ? hvf_plan_verdict_names[v] : "unknown";
}

void
hvf_policy_default(hvf_policy *p)
{
    memset(p, 0, sizeof(*p));
    /* One rack at a time and two hosts fleet-wide: the 2017 storm came from many at once. */
    p->max_parallel_hosts = 2;
    p->max_parallel_per_rack = 1;
    p->max_parallel_per_zone = 0;
    /* KubeVirt and oVirt (VDSM): 2 outgoing and 2 incoming per host. */
    p->max_migrations_out_per_host = 2;
    p->max_migrations_in_per_host = 2;
    /* Nova's live_migration_bandwidth = 0: no per-migration cap beyond the NIC share. */
    p->migration_bandwidth_bytes_per_s = 0;
    p->migration_share = 0.5;
    p->headroom_mib = 0;
    p->headroom_share = 0.05;
    p->downtime_limit_us = 300 * HVF_US_PER_MS; /* QEMU's downtime-limit */
    p->maintenance_time_us = 10 * 60 * HVF_US_PER_S;
    p->return_vms = false;
    /* QEMU, Proxmox and vSphere (SDPS) all throttle a guest that out-dirties the link. */
    p->non_converging = HVF_NON_CONVERGING_AUTO_CONVERGE;
    p->window_start_us = 0;
    p->window_end_us = 0;
    /* The seed's fix: more than one host at a time is a human decision. */
    p->seatbelt.max_hosts_without_approval = 1;
    p->seatbelt.max_capacity_offline = 0.2;
    p->seatbelt.max_plan_duration_us = 8 * 3600 * HVF_US_PER_S;
}

uint64_t
hvf_policy_headroom_mib(const hvf_policy *p, uint64_t usable_mib)
{
    if (p->headroom_mib)
        return p->headroom_mib;
    return (uint64_t)ceil((double)usable_mib * p->headroom_share);
}

/* ---- reading ---------------------------------------------------------------------------- */

/* What the reader fills: the policy itself plus the nodes that need custom parsing. */
typedef struct pol_obj {
    hvf_policy p;
    char *schema;
    struct fy_node *bandwidth, *share, *headroom, *window, *seatbelt;
} pol_obj;

typedef struct pol_seatbelt_obj {
    uint32_t max_hosts;
    struct fy_node *capacity;
    int64_t duration_us;
} pol_seatbelt_obj;

#define POL(f) (offsetof(pol_obj, p.f))

static const hvf_field_spec pol_fields[] = {
    {.name = "schema", .type = HVF_FIELD_STRING, .offset = offsetof(pol_obj, schema)},
    {.name = "max_parallel_hosts",
     .type = HVF_FIELD_UINT,
     .offset = POL(max_parallel_hosts),
     .min = 1,
     .max = 1000000},
    {.name = "max_parallel_per_rack",
     .type = HVF_FIELD_UINT,
     .offset = POL(max_parallel_per_rack),
     .min = 0,
     .max = 1000000},
    {.name = "max_parallel_per_zone",
     .type = HVF_FIELD_UINT,
     .offset = POL(max_parallel_per_zone),
     .min = 0,
     .max = 1000000},
    {.name = "max_migrations_out_per_host",
     .type = HVF_FIELD_UINT,
     .offset = POL(max_migrations_out_per_host),
     .min = 1,
     .max = 1000},
    {.name = "max_migrations_in_per_host",
     .type = HVF_FIELD_UINT,
     .offset = POL(max_migrations_in_per_host),
     .min = 1,
     .max = 1000},
    {.name = "migration_bandwidth", .type = HVF_FIELD_NODE, .offset = offsetof(pol_obj, bandwidth)},
    {.name = "migration_share", .type = HVF_FIELD_NODE, .offset = offsetof(pol_obj, share)},
    {.name = "headroom", .type = HVF_FIELD_NODE, .offset = offsetof(pol_obj, headroom)},
    {.name = "downtime_limit", .type = HVF_FIELD_DURATION, .offset = POL(downtime_limit_us)},
    {.name = "maintenance_time", .type = HVF_FIELD_DURATION, .offset = POL(maintenance_time_us)},
    {.name = "return_vms", .type = HVF_FIELD_BOOL, .offset = POL(return_vms)},
    {.name = "non_converging",
     .type = HVF_FIELD_ENUM,
     .offset = POL(non_converging),
     .enum_names = hvf_non_converging_names},
    {.name = "window", .type = HVF_FIELD_NODE, .offset = offsetof(pol_obj, window)},
    {.name = "seatbelt", .type = HVF_FIELD_NODE, .offset = offsetof(pol_obj, seatbelt)},
};

static const hvf_field_spec pol_window_fields[] = {
    {.name = "start", .type = HVF_FIELD_DURATION, .offset = POL(window_start_us)},
    {.name = "end", .type = HVF_FIELD_DURATION, .offset = POL(window_end_us)},
};

static const hvf_field_spec pol_seatbelt_fields[] = {
    {.name = "max_hosts_without_approval",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(pol_seatbelt_obj, max_hosts),
     .min = 0,
     .max = 1000000},
    {.name = "max_capacity_offline",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(pol_seatbelt_obj, capacity)},
    {.name = "max_plan_duration",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(pol_seatbelt_obj, duration_us)},
};

/* A share: a fraction (0.5) or a percentage ("50%"). Returns false on anything else. */
static bool
pol_parse_share(const char *s, double *out)
{
    char *end = NULL;
    double v;

    if (!isdigit((unsigned char)*s) && *s != '.')
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(v))
        return false;
    while (*end == ' ')
        end++;
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

/* "KEY", or "PATH.KEY" for a policy inside another file. */
static const char *
pol_field(const char *path, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", path, *path ? "." : "", key);
    return buf;
}

static void
pol_read_share(hvf_reader *r, struct fy_node *v, const char *path, const char *key, double *out)
{
    HVF_AUTOFREE char *text = hvf_reader_scalar_dup(v);
    double d = 0;
    char field[128];

    if (!text || !pol_parse_share(text, &d) || d > 1 || d <= 0) {
        hvf_reader_report(r, v, pol_field(path, key, field, sizeof(field)),
                          "expected a share such as 0.5 or 50%%, above 0 and at most 1");
        return;
    }
    *out = d;
}

static void
pol_read_headroom(hvf_reader *r, struct fy_node *v, const char *path, hvf_policy *p)
{
    HVF_AUTOFREE char *text = hvf_reader_scalar_dup(v);
    hvf_error err = HVF_ERROR_INIT;
    uint64_t bytes = 0;
    double d = 0;
    char field[128];

    pol_field(path, "headroom", field, sizeof(field));
    if (text && strchr(text, '%')) {
        if (!pol_parse_share(text, &d) || d < 0 || d >= 1) {
            hvf_reader_report(r, v, field, "expected a share below 100%% or a size such as 16GiB");
            return;
        }
        p->headroom_share = d;
        p->headroom_mib = 0;
        return;
    }
    if (!text || hvf_units_parse_size(text, 0, &bytes, &err) < 0) {
        hvf_reader_report(r, v, field, "expected a size such as 16GiB or a share such as 5%%");
        return;
    }
    p->headroom_mib = bytes / HVF_MIB + (bytes % HVF_MIB ? 1 : 0);
    p->headroom_share = 0;
}

static void
pol_read_bandwidth(hvf_reader *r, struct fy_node *v, const char *path, hvf_policy *p)
{
    HVF_AUTOFREE char *text = hvf_reader_scalar_dup(v);
    hvf_error err = HVF_ERROR_INIT;
    double bps = 0;
    char field[128];

    if (text && (strcmp(text, "0") == 0 || strcmp(text, "unlimited") == 0)) {
        p->migration_bandwidth_bytes_per_s = 0;
        return;
    }
    if (!text || hvf_units_parse_rate(text, &bps, &err) < 0 || bps <= 0) {
        hvf_reader_report(r, v, pol_field(path, "migration_bandwidth", field, sizeof(field)),
                          "expected a rate such as 1Gbit or 200MiB/s, or unlimited");
        return;
    }
    p->migration_bandwidth_bytes_per_s = bps;
}

/* Reads mapping @root into @o; @path prefixes every field in messages ("" for a policy file). */
static void
pol_read(hvf_reader *r, struct fy_node *root, const char *path, pol_obj *o)
{
    char sub[128];

    if (hvf_reader_map(r, root, path, pol_fields, HVF_ARRAY_LEN(pol_fields), o) != 0 &&
        (!root || !fy_node_is_mapping(root)))
        return;
    if (o->schema && strcmp(o->schema, HVF_POLICY_SCHEMA) != 0)
        hvf_reader_report_field(r, root, path, "schema", "expected '" HVF_POLICY_SCHEMA "'");
    if (o->bandwidth)
        pol_read_bandwidth(r, o->bandwidth, path, &o->p);
    if (o->share)
        pol_read_share(r, o->share, path, "migration_share", &o->p.migration_share);
    if (o->headroom)
        pol_read_headroom(r, o->headroom, path, &o->p);
    if (o->window)
        hvf_reader_map(r, o->window, pol_field(path, "window", sub, sizeof(sub)), pol_window_fields,
                       HVF_ARRAY_LEN(pol_window_fields), o);
    if (o->seatbelt) {
        pol_seatbelt_obj sb = {o->p.seatbelt.max_hosts_without_approval, NULL,
                               o->p.seatbelt.max_plan_duration_us};
        if (hvf_reader_map(r, o->seatbelt, pol_field(path, "seatbelt", sub, sizeof(sub)),
                           pol_seatbelt_fields, HVF_ARRAY_LEN(pol_seatbelt_fields), &sb) == 0) {
            o->p.seatbelt.max_hosts_without_approval = sb.max_hosts;
            o->p.seatbelt.max_plan_duration_us = sb.duration_us;
            if (sb.capacity)
                pol_read_share(r, sb.capacity, sub, "max_capacity_offline",
                               &o->p.seatbelt.max_capacity_offline);
        }
    }
    if (o->p.downtime_limit_us <= 0)
        hvf_reader_report_field(r, root, path, "downtime_limit", "expected more than 0");
    if (o->p.window_end_us && o->p.window_end_us <= o->p.window_start_us)
        hvf_reader_report_field(r, o->window, pol_field(path, "window", sub, sizeof(sub)), "end",
                                "expected a time after window.start");
}

static int
pol_finish(hvf_reader *r, pol_obj *o, hvf_policy *out, size_t before, hvf_error *err)
{
    size_t problems;

    pol_read(r, hvf_reader_root(r), "", o);
    hvf_reader_free_fields(pol_fields, HVF_ARRAY_LEN(pol_fields), o);
    problems = r->diags->total - before;
    if (problems) {
        hvf_policy_default(out);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", r->file, problems,
                      problems == 1 ? "" : "s");
        return -1;
    }
    *out = o->p;
    return 0;
}

int
hvf_policy_parse(const char *name, const char *buf, size_t len, hvf_policy *out, hvf_diags *diags,
                 hvf_error *err)
{
    pol_obj o = {0};
    hvf_reader r;
    size_t before = diags->total;
    int rc;

    hvf_policy_default(out);
    hvf_policy_default(&o.p);
    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return -1;
    rc = pol_finish(&r, &o, out, before, err);
    hvf_reader_close(&r);
    return rc;
}

int
hvf_policy_load(const char *path, hvf_policy *out, hvf_diags *diags, hvf_error *err)
{
    pol_obj o = {0};
    hvf_reader r;
    size_t before = diags->total;
    int rc;

    hvf_policy_default(out);
    hvf_policy_default(&o.p);
    if (hvf_reader_open_file(&r, path, diags, err) < 0)
        return -1;
    rc = pol_finish(&r, &o, out, before, err);
    hvf_reader_close(&r);
    return rc;
}

size_t
hvf_policy_read_node(hvf_reader *r, struct fy_node *node, const char *path, hvf_policy *out)
{
    pol_obj o = {0};
    size_t before = r->diags->total;

    hvf_policy_default(&o.p);
    pol_read(r, node, path, &o);
    hvf_reader_free_fields(pol_fields, HVF_ARRAY_LEN(pol_fields), &o);
    if (r->diags->total == before)
        *out = o.p;
    else
        hvf_policy_default(out);
    return r->diags->total - before;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Whole seconds, else whole milliseconds, else microseconds: exact on the way back. */
static void
pol_format_duration(hvf_strbuf *out, const char *key, int64_t us)
{
    if (us % HVF_US_PER_S == 0)
        hvf_strbuf_printf(out, "%s: %" PRId64 "s\n", key, (int64_t)(us / HVF_US_PER_S));
    else if (us % HVF_US_PER_MS == 0)
        hvf_strbuf_printf(out, "%s: %" PRId64 "ms\n", key, (int64_t)(us / HVF_US_PER_MS));
    else
        hvf_strbuf_printf(out, "%s: %" PRId64 "us\n", key, us);
}

/* The shortest percentage that reads back as the same share (5% rather than 5.0000000000000009%).
 */
static void
pol_format_percent(hvf_strbuf *out, const char *key, double share)
{
    char buf[40];

    for (int prec = 1; prec <= 17; prec++) {
        double back = 0;
        snprintf(buf, sizeof(buf), "%.*g%%", prec, share * 100.0);
        if (pol_parse_share(buf, &back) && back == share)
            break;
    }
    hvf_strbuf_printf(out, "%s: %s\n", key, buf);
}

void
hvf_policy_format(const hvf_policy *p, hvf_strbuf *out)
{
    hvf_strbuf_puts(out, "schema: " HVF_POLICY_SCHEMA "\n");
    hvf_strbuf_printf(out, "max_parallel_hosts: %u\n", p->max_parallel_hosts);
    hvf_strbuf_printf(out, "max_parallel_per_rack: %u\n", p->max_parallel_per_rack);
    hvf_strbuf_printf(out, "max_parallel_per_zone: %u\n", p->max_parallel_per_zone);
    hvf_strbuf_printf(out, "max_migrations_out_per_host: %u\n", p->max_migrations_out_per_host);
    hvf_strbuf_printf(out, "max_migrations_in_per_host: %u\n", p->max_migrations_in_per_host);
    if (p->migration_bandwidth_bytes_per_s > 0)
        hvf_strbuf_printf(out, "migration_bandwidth: %.17gB/s\n",
                          p->migration_bandwidth_bytes_per_s);
    else
        hvf_strbuf_puts(out, "migration_bandwidth: unlimited\n");
    hvf_strbuf_printf(out, "migration_share: %.17g\n", p->migration_share);
    if (p->headroom_mib)
        hvf_strbuf_printf(out, "headroom: %" PRIu64 "MiB\n", p->headroom_mib);
    else
        pol_format_percent(out, "headroom", p->headroom_share);
    pol_format_duration(out, "downtime_limit", p->downtime_limit_us);
    pol_format_duration(out, "maintenance_time", p->maintenance_time_us);
    hvf_strbuf_printf(out, "return_vms: %s\n", p->return_vms ? "true" : "false");
    hvf_strbuf_printf(out, "non_converging: %s\n", hvf_non_converging_to_string(p->non_converging));
    hvf_strbuf_puts(out, "window:\n");
    pol_format_duration(out, "  start", p->window_start_us);
    pol_format_duration(out, "  end", p->window_end_us);
    hvf_strbuf_puts(out, "seatbelt:\n");
    hvf_strbuf_printf(out, "  max_hosts_without_approval: %u\n",
                      p->seatbelt.max_hosts_without_approval);
    hvf_strbuf_printf(out, "  max_capacity_offline: %.17g\n", p->seatbelt.max_capacity_offline);
    pol_format_duration(out, "  max_plan_duration", p->seatbelt.max_plan_duration_us);
}
