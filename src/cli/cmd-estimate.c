/* SPDX-License-Identifier: MIT */
/* hvfleet estimate: predicts one live migration (time, downtime, convergence), text or JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"

static const char estimate_usage[] =
    "usage: hvfleet estimate --memory SIZE --bandwidth RATE [options]\n"
    "\n"
    "Predicts one QEMU live migration: total time, downtime, rounds, bytes sent, and whether\n"
    "it converges, and why.\n"
    "\n"
    "  --memory SIZE          guest RAM, e.g. 16GiB (a bare number is MiB)\n"
    "  --bandwidth RATE       the migration's bandwidth (QEMU max-bandwidth), e.g. 10Gbit, 500MiB/s\n"
    "  --dirty-rate RATE      how fast the guest writes memory (default 0, an idle guest)\n"
    "  --working-set SIZE     memory it keeps rewriting; rewritten pages count once (default: all)\n"
    "  --zero-fraction F      share of RAM that is zero pages, from 0 up to 1 (default 0)\n"
    "  --downtime-limit TIME  QEMU downtime-limit (default 300ms)\n"
    "  --strategy NAME        precopy, auto-converge or post-copy (default precopy)\n"
    "  --timeout TIME         abort the live phase after this; 0 = no timeout, as in Nova\n"
    "                         (default: Nova's 800 s per GiB)\n"
    "  --link-speed RATE      what the final copy and post-copy get, uncapped (default: 10Gbit,\n"
    "                         or --bandwidth if higher; QEMU lifts the cap for them)\n"
    "  --switchover TIME      fixed pause for device state, stop and restart (default 20ms)\n"
    "  --json                 print one JSON object instead of text\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 it converges, 1 it does not (aborted at the timeout, or never ends\n"
    "without one), 2 bad input.\n"
    "The model and its assumptions: docs/migration-model.md.\n";

enum {
    OPT_MEMORY = 256,
    OPT_BANDWIDTH,
    OPT_DIRTY_RATE,
    OPT_WORKING_SET,
    OPT_ZERO_FRACTION,
    OPT_DOWNTIME_LIMIT,
    OPT_STRATEGY,
    OPT_TIMEOUT,
    OPT_LINK_SPEED,
    OPT_SWITCHOVER,
    OPT_JSON,
};

static const struct option estimate_options[] = {
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"bandwidth", required_argument, NULL, OPT_BANDWIDTH},
    {"dirty-rate", required_argument, NULL, OPT_DIRTY_RATE},
    {"working-set", required_argument, NULL, OPT_WORKING_SET},
    {"zero-fraction", required_argument, NULL, OPT_ZERO_FRACTION},
    {"downtime-limit", required_argument, NULL, OPT_DOWNTIME_LIMIT},
    {"strategy", required_argument, NULL, OPT_STRATEGY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"link-speed", required_argument, NULL, OPT_LINK_SPEED},
    {"switchover", required_argument, NULL, OPT_SWITCHOVER},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The flag that sets each model parameter, to name it in errors the way the user wrote it. */
static const char *const estimate_field_flags[] = {
    [HVF_MIGRATE_FIELD_NONE] = NULL,
    [HVF_MIGRATE_FIELD_MEM] = "memory",
    [HVF_MIGRATE_FIELD_DIRTY_RATE] = "dirty-rate",
    [HVF_MIGRATE_FIELD_WORKING_SET] = "working-set",
    [HVF_MIGRATE_FIELD_ZERO_FRACTION] = "zero-fraction",
    [HVF_MIGRATE_FIELD_BANDWIDTH] = "bandwidth",
    [HVF_MIGRATE_FIELD_LINK] = "link-speed",
    [HVF_MIGRATE_FIELD_DOWNTIME_LIMIT] = "downtime-limit",
    [HVF_MIGRATE_FIELD_SWITCHOVER] = "switchover",
    [HVF_MIGRATE_FIELD_TIMEOUT] = "timeout",
    [HVF_MIGRATE_FIELD_STRATEGY] = "strategy",
    [HVF_MIGRATE_FIELD_THROTTLE] = NULL,
};
_Static_assert(HVF_ARRAY_LEN(estimate_field_flags) == HVF_MIGRATE_FIELD_LAST, "field flag table");

typedef struct estimate_args {
    hvf_migrate_params params;
    const char *raw[HVF_MIGRATE_FIELD_LAST]; /* borrowed from argv: what the user typed */
    bool json;
} estimate_args;

static int
estimate_fail(hvf_error *err, const char *flag)
{
    if (flag)
        hvf_error_prefix(err, "estimate: --%s: ", flag);
    else
        hvf_error_prefix(err, "estimate: ");
    return hvf_cli_fail(err);
}

/* A plain decimal fraction: strtod alone would also take "nan", "inf" and hex. */
static int
estimate_parse_fraction(const char *s, double *out, hvf_error *err)
{
    char *end = NULL;
    double v;

    if (strspn(s, "0123456789.") != strlen(s) || *s == '\0')
        goto bad;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        goto bad;
    *out = v;
    return 0;

bad:
    hvf_error_set(err, HVF_ERR_INVALID, "'%s': expected a fraction from 0 up to, not including, 1",
                  s);
    return -1;
}

/* Parses one flag's value into @a; on error @err holds the message without the flag name. */
static int
estimate_parse_flag(estimate_args *a, int opt, const char *val, hvf_error *err)
{
    hvf_migrate_params *p = &a->params;
    int strategy;

    switch (opt) {
    case OPT_MEMORY:
        a->raw[HVF_MIGRATE_FIELD_MEM] = val;
        return hvf_units_parse_size(val, HVF_MIB, &p->mem_bytes, err);
    case OPT_BANDWIDTH:
        a->raw[HVF_MIGRATE_FIELD_BANDWIDTH] = val;
        return hvf_units_parse_rate(val, &p->bandwidth_bytes_per_s, err);
    case OPT_DIRTY_RATE:
        a->raw[HVF_MIGRATE_FIELD_DIRTY_RATE] = val;
        return hvf_units_parse_rate(val, &p->dirty_bytes_per_s, err);
    case OPT_WORKING_SET:
        a->raw[HVF_MIGRATE_FIELD_WORKING_SET] = val;
        return hvf_units_parse_size(val, HVF_MIB, &p->working_set_bytes, err);
    case OPT_ZERO_FRACTION:
        a->raw[HVF_MIGRATE_FIELD_ZERO_FRACTION] = val;
        return estimate_parse_fraction(val, &p->zero_fraction, err);
    case OPT_DOWNTIME_LIMIT:
        a->raw[HVF_MIGRATE_FIELD_DOWNTIME_LIMIT] = val;
        return hvf_units_parse_duration(val, &p->downtime_limit_us, err);
    case OPT_TIMEOUT:
        a->raw[HVF_MIGRATE_FIELD_TIMEOUT] = val;
        return hvf_units_parse_duration(val, &p->timeout_us, err);
    case OPT_SWITCHOVER:
        a->raw[HVF_MIGRATE_FIELD_SWITCHOVER] = val;
        return hvf_units_parse_duration(val, &p->switchover_us, err);
    case OPT_LINK_SPEED:
        a->raw[HVF_MIGRATE_FIELD_LINK] = val;
        return hvf_units_parse_rate(val, &p->link_bytes_per_s, err);
    case OPT_STRATEGY:
        a->raw[HVF_MIGRATE_FIELD_STRATEGY] = val;
        strategy = hvf_migrate_strategy_from_string(val);
        if (strategy < 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "'%s': expected precopy, auto-converge or post-copy", val);
            return -1;
        }
        p->strategy = (hvf_migrate_strategy)strategy;
        return 0;
    default:
        return 0;
    }
}

static const char *
estimate_opt_name(int opt)
{
    for (size_t i = 0; estimate_options[i].name; i++) {
        if (estimate_options[i].val == opt)
            return estimate_options[i].name;
    }
    return "?";
}

/* Returns -1 to go on, or the exit status when parsing ends the command (help, bad input). */
static int
estimate_parse(int argc, char **argv, estimate_args *a)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_migrate_field bad = HVF_MIGRATE_FIELD_NONE;
    int opt;

    hvf_migrate_params_default(&a->params);
    /* Reset getopt: a process may run more than one command (tests do). */
    if (hvf_cli_options_wanted(estimate_options))
        return 0;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:h", estimate_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(estimate_usage, stdout);
            return 0;
        case OPT_JSON:
            a->json = true;
            break;
        case ':':
            fprintf(stderr, "hvfleet: estimate: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        case '?':
            fprintf(stderr, "hvfleet: estimate: unknown option '%s'; run 'hvfleet estimate --help'\n",
                    argv[optind - 1]);
            return 2;
        default:
            if (estimate_parse_flag(a, opt, optarg, &err) < 0)
                return estimate_fail(&err, estimate_opt_name(opt));
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hvfleet: estimate: unexpected argument '%s'; every value follows a flag\n",
                argv[optind]);
        return 2;
    }
    if (!a->raw[HVF_MIGRATE_FIELD_MEM]) {
        fprintf(stderr, "hvfleet: estimate: --memory is required: the guest's RAM, e.g. --memory 16GiB\n");
        return 2;
    }
    if (!a->raw[HVF_MIGRATE_FIELD_BANDWIDTH]) {
        fprintf(stderr, "hvfleet: estimate: --bandwidth is required: e.g. --bandwidth 10Gbit\n");
        return 2;
    }
    if (hvf_migrate_params_validate(&a->params, &bad, &err) < 0) {
        const char *flag = estimate_field_flags[bad];
        const char *expected = strstr(err.msg, ": ");

        /* Name the flag and the text the user typed, not the struct field and its bytes. */
        if (flag && a->raw[bad] && expected) {
            fprintf(stderr, "hvfleet: estimate: --%s: '%s'%s\n", flag, a->raw[bad], expected);
            return hvf_errcode_exit_status(err.code);
        }
        return estimate_fail(&err, NULL);
    }
    return -1;
}

/*
 * A size or rate as the user gave it, in their unit with a space ("200MiB/s" -> "200 MiB/s",
 * "10Gbit" -> "10 Gbit"), so that the echo never converts it; formatted from @v when the user
 * gave no unit or did not give it at all (a default).
 */
static const char *
estimate_echo(const char *raw, bool rate, double v, char *buf, size_t size)
{
    size_t n = raw ? strspn(raw, "0123456789.") : 0;
    const char *unit = raw ? raw + n + strspn(raw + n, " ") : NULL;

    if (n > 0 && *unit != '\0')
        snprintf(buf, size, "%.*s %s", (int)n, raw, unit);
    else if (rate)
        hvf_units_format_rate(v, buf, size);
    else
        hvf_units_format_size((uint64_t)v, buf, size);
    return buf;
}

static void
estimate_print_text(const estimate_args *a, const hvf_migrate_result *r)
{
    const hvf_migrate_params *p = &a->params;
    const char *const *raw = a->raw;
    char b1[48], b2[48], b3[48], b4[48];
    bool own_link = p->link_bytes_per_s > 0;
    double link = hvf_migrate_params_link_bytes_per_s(p);
    const char *link_raw = own_link ? raw[HVF_MIGRATE_FIELD_LINK]
                           : link == p->bandwidth_bytes_per_s ? raw[HVF_MIGRATE_FIELD_BANDWIDTH]
                                                              : NULL;
    int64_t timeout_us = hvf_migrate_params_timeout_us(p);

    printf("migration of %s, dirtying %s",
           estimate_echo(raw[HVF_MIGRATE_FIELD_MEM], false, (double)p->mem_bytes, b1, sizeof(b1)),
           estimate_echo(raw[HVF_MIGRATE_FIELD_DIRTY_RATE], true, p->dirty_bytes_per_s, b2,
                         sizeof(b2)));
    if (p->working_set_bytes)
        printf(" within %s", estimate_echo(raw[HVF_MIGRATE_FIELD_WORKING_SET], false,
                                           (double)p->working_set_bytes, b3, sizeof(b3)));
    printf(", at %s (final copy %s), strategy %s\n",
           estimate_echo(raw[HVF_MIGRATE_FIELD_BANDWIDTH], true, p->bandwidth_bytes_per_s, b1,
                         sizeof(b1)),
           estimate_echo(link_raw, true, link, b2, sizeof(b2)),
           hvf_migrate_strategy_to_string(p->strategy));
    printf("downtime limit %s, switchover %s, timeout %s\n\n",
           hvf_units_format_duration(p->downtime_limit_us, b1, sizeof(b1)),
           hvf_units_format_duration(p->switchover_us, b2, sizeof(b2)),
           timeout_us > 0 ? hvf_units_format_duration(timeout_us, b3, sizeof(b3)) : "none");
    printf("  converged   %s (%s)\n", r->converged ? "yes" : "no",
           hvf_migrate_strategy_to_string(r->finished_by));
    printf("  total time  %s\n", r->total_us == HVF_MIGRATE_NEVER
                                     ? "never (no timeout: it runs until cancelled)"
                                     : hvf_units_format_duration(r->total_us, b1, sizeof(b1)));
    printf("  downtime    %s\n",
           r->converged ? hvf_units_format_duration(r->downtime_us, b2, sizeof(b2))
           : timeout_us > 0 ? "none, the migration was aborted"
                            : "none, the guest never switches over");
    if (r->total_us == HVF_MIGRATE_NEVER) {
        printf("  rounds      without end\n");
        printf("  bytes sent  without end\n");
    } else {
        printf("  rounds      %" PRIu32 "\n", r->rounds);
        printf("  bytes sent  %s\n", hvf_units_format_size(r->bytes_sent, b3, sizeof(b3)));
    }
    if (r->throttle_pct > 0)
        printf("  throttle    %" PRIu32 " %%\n", r->throttle_pct);
    if (r->postcopy_us > 0)
        printf("  post-copy   %s\n", hvf_units_format_duration(r->postcopy_us, b4, sizeof(b4)));
    printf("  why         %s\n", r->reason);
}

static int
estimate_print_json(const hvf_migrate_params *p, const hvf_migrate_result *r)
{
    json_t *root = NULL;
    json_t *in = NULL;
    int rc;

    in = json_pack("{s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:s}",
                   "memory_bytes", (json_int_t)p->mem_bytes,
                   "dirty_bytes_per_s", p->dirty_bytes_per_s,
                   "working_set_bytes", (json_int_t)(p->working_set_bytes ? p->working_set_bytes
                                                                          : p->mem_bytes),
                   "zero_fraction", p->zero_fraction,
                   "bandwidth_bytes_per_s", p->bandwidth_bytes_per_s,
                   "link_bytes_per_s",
                   hvf_migrate_params_link_bytes_per_s(p),
                   "downtime_limit_ms", (double)p->downtime_limit_us / 1e3,
                   "switchover_ms", (double)p->switchover_us / 1e3,
                   "timeout_s", (double)hvf_migrate_params_timeout_us(p) / 1e6,
                   "strategy", hvf_migrate_strategy_to_string(p->strategy));
    root = json_pack("{s:s, s:i, s:o, s:b, s:s, s:f, s:f, s:I, s:I, s:I, s:i, s:f, s:s}",
                     "schema", "hvfleet.estimate", "version", 1, "input", in,
                     "converged", r->converged,
                     "strategy", hvf_migrate_strategy_to_string(r->finished_by),
                     "total_s", (double)r->total_us / 1e6,
                     "downtime_ms", (double)r->downtime_us / 1e3,
                     "rounds", (json_int_t)r->rounds,
                     "bytes_sent", (json_int_t)r->bytes_sent,
                     "final_bytes", (json_int_t)r->final_bytes,
                     "throttle_pct", (int)r->throttle_pct,
                     "postcopy_s", (double)r->postcopy_us / 1e6,
                     "reason", r->reason);
    /* json_pack's "o" took the reference to @in, even on failure. */
    if (!root) {
        fprintf(stderr, "hvfleet: estimate: could not build the JSON answer\n");
        return 1;
    }
    /* no timeout, and a migration that never ends: null, not a number of seconds */
    if (hvf_migrate_params_timeout_us(p) == 0)
        json_object_set_new(in, "timeout_s", json_null());
    if (r->total_us == HVF_MIGRATE_NEVER) {
        json_object_set_new(root, "total_s", json_null());
        json_object_set_new(root, "rounds", json_null());
        json_object_set_new(root, "bytes_sent", json_null());
    }
    rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "hvfleet: estimate: could not write the JSON answer to stdout\n");
        return 1;
    }
    return 0;
}

int
hvf_cli_estimate(int argc, char **argv)
{
    estimate_args a = {0};
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    int rc = estimate_parse(argc, argv, &a);

    if (rc >= 0)
        return rc;
    if (hvf_migrate_estimate(&a.params, &r, &err) < 0)
        return estimate_fail(&err, NULL);
    if (a.json) {
        if (estimate_print_json(&a.params, &r) != 0)
            return 1;
    } else {
        estimate_print_text(&a, &r);
    }
    /* "Does not converge" is the command's "no" answer. */
    return r.converged ? 0 : 1;
}
