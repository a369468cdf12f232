/* SPDX-License-Identifier: MIT */
/* migration-fidelity: runs real QEMU migrations and sets each beside hvf_migrate_estimate. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "driver/qemu/qemu-proc.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"
#include "matrix.h"

#ifndef HVF_GUEST_ELF
#define HVF_GUEST_ELF "guest/lab-guest.elf"
#endif

#define FID_SCHEMA "hvfleet.bench.migration-fidelity"

static const char usage[] =
    "usage: migration-fidelity [options]\n"
    "\n"
    "Runs live migrations between two local QEMUs (TCG, a guest that dirties memory at a set\n"
    "rate) and sets each beside hvf_migrate_estimate() for the same parameters: error of the\n"
    "total time and of the downtime, and whether the model's convergence verdict is right.\n"
    "\n"
    "  --full             the whole matrix (256 MiB-1 GiB, 50 and 125 MB/s; about an hour)\n"
    "                     instead of the quick subset (256 MiB at 125 MB/s; a few minutes)\n"
    "  --only TEXT        only the configs whose name contains TEXT\n"
    "  --list             print the matrix and the model's estimates at the nominal rates\n"
    "  --from FILE        re-compare the model against a recorded run; no QEMU is started\n"
    "  --out FILE         write the record (JSON: configs, QEMU's figures, model, summary)\n"
    "  --link RATE        stop-and-copy speed, e.g. 400MB/s (default: measured by calibration)\n"
    "  --switchover TIME  fixed part of the downtime, e.g. 15ms (default: measured)\n"
    "  --guest PATH       benchmark guest (default: " HVF_GUEST_ELF ")\n"
    "  --qemu PATH        QEMU binary (default: qemu-system-x86_64)\n"
    "  -v, --verbose      print each run as it ends\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 goal met (every pre-copy config below 0.9x the cap within 5 % and every\n"
    "verdict right), 1 goal missed, 2 bad usage or a failed run.\n";

typedef struct fid_opts {
    bool full, list, verbose;
    const char *only, *from, *out, *guest, *qemu;
    fid_calibration cal; /* link_bytes_per_s > 0 when given */
    bool have_switchover;
} fid_opts;

static int
parse_opts(int argc, char **argv, fid_opts *o)
{
    static const struct option longopts[] = {
        {"full", no_argument, NULL, 'F'},
        {"only", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'l'},
        {"from", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'O'},
        {"link", required_argument, NULL, 'L'},
        {"switchover", required_argument, NULL, 'S'},
        {"guest", required_argument, NULL, 'g'},
        {"qemu", required_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    hvf_error err = HVF_ERROR_INIT;
    int ch;

    memset(o, 0, sizeof(*o));
    o->guest = HVF_GUEST_ELF;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'F':
            o->full = true;
            break;
        case 'o':
            o->only = optarg;
            break;
        case 'l':
            o->list = true;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 'O':
            o->out = optarg;
            break;
        case 'g':
            o->guest = optarg;
            break;
        case 'q':
            o->qemu = optarg;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'L':
            if (hvf_units_parse_rate(optarg, &o->cal.link_bytes_per_s, &err) < 0 ||
                o->cal.link_bytes_per_s <= 0) {
                fprintf(stderr,
                        "migration-fidelity: --link '%s': expected a rate such as 400MB/s\n",
                        optarg);
                return -1;
            }
            break;
        case 'S':
            if (hvf_units_parse_duration(optarg, &o->cal.switchover_us, &err) < 0) {
                fprintf(stderr,
                        "migration-fidelity: --switchover '%s': expected a duration such as 15ms\n",
                        optarg);
                return -1;
            }
            o->have_switchover = true;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fprintf(stderr, "migration-fidelity: run with --help for the options\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "migration-fidelity: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->from && o->full) {
        fprintf(stderr, "migration-fidelity: --from and --full do not go together\n");
        return -1;
    }
    return 0;
}

static char *
qemu_version(const char *qemu)
{
    char cmd[512];
    char line[256] = "unknown";
    FILE *p;

    snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", qemu ? qemu : "qemu-system-x86_64");
    p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof(line), p))
            hvf_strlcpy(line, "unknown", sizeof(line));
        pclose(p);
    }
    line[strcspn(line, "\n")] = 0;
    return hvf_strdup(line);
}

static char *
host_cpu(void)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            return hvf_strdup(colon + 2);
        }
    }
    if (f)
        fclose(f);
    return hvf_strdup("unknown");
}

/* ---------------------------------------------------------------- record */

/*
 * Keeps the samples worth reading back: those next to a dirty-bitmap sync or a throttle change
 * (where the rounds are reconstructed from), the first and last, and one per 500 ms between.
 */
static json_t *
thin_samples(json_t *samples)
{
    json_t *out = json_array();
    size_t n = json_array_size(samples);
    json_int_t kept_t = -1000000;

    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        json_t *prev = i > 0 ? json_array_get(samples, i - 1) : NULL;
        json_t *next = json_array_get(samples, i + 1);
        json_int_t t = json_integer_value(json_array_get(s, 0));
        bool edge = i == 0 || i + 1 == n;
        for (size_t f = 3; f <= 4 && !edge; f++) {
            json_int_t v = json_integer_value(json_array_get(s, f));
            edge = (prev && json_integer_value(json_array_get(prev, f)) != v) ||
                   (next && json_integer_value(json_array_get(next, f)) != v);
        }
        if (edge || t - kept_t >= 500) {
            json_array_append(out, s);
            kept_t = t;
        }
    }
    return out;
}

/* A measure for the record: @m's, or the one read by --from, with its samples thinned. */
static json_t *
record_measure(const fid_row *r)
{
    json_t *j = r->measure_json ? json_deep_copy(r->measure_json) : fid_measure_to_json(&r->m);
    json_t *samples = json_object_get(j, "samples");

    if (json_is_array(samples))
        json_object_set_new(j, "samples", thin_samples(samples));
    return j;
}

/*
 * Writes the record: the header indented, then one run per line, so that a diff between two
 * records shows which runs changed.
 */
static int
write_record(const char *path, const fid_row *rows, size_t n, const fid_calibration *cal,
             const fid_summary *s, const char *qemu_ver, const char *matrix, const char *measured,
             hvf_error *err)
{
    char date[32];
    time_t now = time(NULL);
    json_t *root;
    char *cpu = host_cpu();
    char *head;
    size_t len;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int rc;

    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    root = json_pack("{s:s, s:i, s:s, s:s, s:s, s:{s:s, s:I}, s:{s:f, s:I, s:b}, s:i, s:o}",
                     "schema", FID_SCHEMA, "version", 1, "date", date, "matrix", matrix,
                     "qemu_version", qemu_ver, "host", "cpu", cpu, "cores",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "calibration", "link_bytes_per_s",
                     cal->link_bytes_per_s, "switchover_us", (json_int_t)cal->switchover_us,
                     "measured", cal->measured, "downtime_limit_ms", FID_DOWNTIME_LIMIT_MS,
                     "summary", fid_summary_json(s));
    free(cpu);
    json_object_set_new(root, "measured_date", json_string(measured ? measured : date));
    json_object_set_new(root, "sample_fields",
                        json_pack("[s, s, s, s, s, s, s, s]", "t_ms", "transferred_bytes",
                                  "remaining_bytes", "dirty_sync_count", "throttle_pct",
                                  "qemu_dirty_pages_per_s", "guest_t_ms", "guest_written_pages"));
    head = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    HVF_ASSERT(head != NULL);
    /* the header ends in "\n}": the runs go before that brace */
    len = strlen(head);
    HVF_ASSERT(len >= 2 && head[len - 1] == '}');
    hvf_strbuf_add(&sb, head, len - 2);
    hvf_strbuf_puts(&sb, ",\n \"runs\": [");
    for (size_t i = 0; i < n; i++) {
        json_t *run = json_pack("{s:o, s:o, s:o}", "config", fid_config_to_json(&rows[i].c),
                                "measure", record_measure(&rows[i]), "model",
                                fid_row_model_json(&rows[i]));
        char *line = json_dumps(run, JSON_COMPACT | JSON_SORT_KEYS);
        HVF_ASSERT(line != NULL);
        hvf_strbuf_printf(&sb, "%s\n  %s", i ? "," : "", line);
        free(line);
        json_decref(run);
    }
    hvf_strbuf_puts(&sb, "\n ]\n}\n");
    rc = hvf_file_write_atomic(path, sb.buf, sb.len, err);
    hvf_strbuf_clear(&sb);
    free(head);
    return rc;
}

static int
read_record(const char *path, fid_row **rows, size_t *n, fid_calibration *cal, char **qemu_ver,
            char **measured_date, char **matrix, hvf_error *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *runs;
    const char *schema = NULL;
    const char *ver = "unknown";
    const char *date = "unknown";
    const char *kind = "quick";
    size_t i;
    json_t *run;
    int measured = 0;
    json_int_t sw = 0;

    if (!root) {
        if (jerr.line > 0)
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%d: %s", path, jerr.line, jerr.text);
        else
            hvf_error_set(err, HVF_ERR_IO, "%s", jerr.text);
        return -1;
    }
    if (json_unpack(root, "{s:s, s?s, s?s, s?s, s:o, s:{s:F, s:I, s?b}}", "schema", &schema,
                    "qemu_version", &ver, "date", &date, "matrix", &kind, "runs", &runs,
                    "calibration", "link_bytes_per_s", &cal->link_bytes_per_s, "switchover_us", &sw,
                    "measured", &measured) < 0 ||
        strcmp(schema, FID_SCHEMA) != 0 || !json_is_array(runs)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: expected a %s record", path, FID_SCHEMA);
        json_decref(root);
        return -1;
    }
    cal->switchover_us = sw;
    cal->measured = measured;
    *qemu_ver = hvf_strdup(ver);
    /* a record re-compared keeps the date of its measurements */
    {
        json_t *md = json_object_get(root, "measured_date");
        *measured_date = hvf_strdup(json_is_string(md) ? json_string_value(md) : date);
    }
    *matrix = hvf_strdup(kind);
    *rows = hvf_calloc(json_array_size(runs) + 1, sizeof(**rows));
    *n = 0;
    json_array_foreach(runs, i, run)
    {
        fid_row *r = &(*rows)[(*n)++];
        if (fid_config_from_json(json_object_get(run, "config"), &r->c, err) < 0 ||
            fid_measure_from_json(json_object_get(run, "measure"), &r->m, err) < 0) {
            hvf_error_prefix(err, "%s: run %zu: ", path, i);
            json_decref(root);
            return -1;
        }
        /* written back as it was: the model is what --from recomputes, not the measurement */
        r->measure_json = json_incref(json_object_get(run, "measure"));
    }
    json_decref(root);
    return 0;
}

/* Removes QEMU's sockets, serial and log files, unless a run failed: then they explain it. */
static void
workdir_clean(const char *dir, const fid_row *rows, size_t n)
{
    static const char *const files[] = {"src.qmp", "src.serial", "src.log",
                                        "dst.qmp", "dst.serial", "dst.log"};

    for (size_t i = 0; i < n; i++) {
        if (!rows[i].m.ok) {
            fprintf(stderr, "migration-fidelity: QEMU logs of the last run kept in %s\n", dir);
            return;
        }
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        char *path = hvf_asprintf("%s/%s", dir, files[i]);
        unlink(path);
        free(path);
    }
    rmdir(dir);
}

/* ---------------------------------------------------------------- main */

static bool
selected(const fid_opts *o, const fid_config *c)
{
    return c->calibration || !o->only || strstr(c->name, o->only);
}

int
main(int argc, char **argv)
{
    fid_opts o;
    fid_matrix cal_mx;
    fid_matrix mx;
    fid_row *rows = NULL;
    size_t n = 0;
    fid_calibration cal;
    fid_summary sum;
    hvf_error err = HVF_ERROR_INIT;
    char *qver = NULL;
    char *measured = NULL; /* --from: when the record's runs were made */
    char *matrix = NULL;
    int status = 2;

    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    cal = o.cal;
    fid_matrix_build(&mx, o.full);
    fid_matrix_calibration(&cal_mx);

    if (o.from) {
        fid_calibration recorded = {0};
        if (read_record(o.from, &rows, &n, &recorded, &qver, &measured, &matrix, &err) < 0)
            goto fail;
        if (cal.link_bytes_per_s <= 0)
            cal.link_bytes_per_s = recorded.link_bytes_per_s;
        if (!o.have_switchover)
            cal.switchover_us = recorded.switchover_us;
        cal.measured = recorded.measured && !o.cal.link_bytes_per_s && !o.have_switchover;
    } else if (o.list) {
        rows = hvf_calloc(mx.n + 1, sizeof(*rows));
        if (cal.link_bytes_per_s <= 0)
            cal.link_bytes_per_s = 1.3e9; /* typical of loopback on the build machines */
        if (!o.have_switchover)
            cal.switchover_us = 0;
        for (size_t i = 0; i < mx.n; i++) {
            fid_row *r = &rows[n];
            if (!selected(&o, &mx.configs[i]))
                continue;
            r->c = mx.configs[i];
            r->m.ok = true;
            r->m.dirty_before_bytes_per_s = r->c.dirty_factor * r->c.cap_bytes_per_s;
            r->m.guest_ws_bytes = (uint64_t)r->c.ws_mib * 1024 * 1024;
            hvf_strlcpy(r->m.r.status, "not run", sizeof(r->m.r.status));
            fid_compare_row(r, &cal);
            printf("%-34s timeout %5.0f s  model: total %7.2f s, downtime %6.1f ms, %s\n",
                   r->c.name, (double)r->c.timeout_ms / 1e3, (double)r->model.total_us / 1e6,
                   (double)r->model.downtime_us / 1e3, r->model.reason);
            n++;
        }
        status = 0;
        goto done;
    } else {
        fid_env env = {.qemu = o.qemu, .guest = o.guest, .verbose = o.verbose};
        bool need_cal = cal.link_bytes_per_s <= 0 || !o.have_switchover;
        char tmpl[] = "/tmp/hvf-fidelity-XXXXXX";

        if (access(o.guest, R_OK) != 0) {
            fprintf(stderr,
                    "migration-fidelity: guest '%s' not found; build it (ninja) or pass --guest\n",
                    o.guest);
            goto done;
        }
        if (!mkdtemp(tmpl)) {
            perror("migration-fidelity: mkdtemp");
            goto done;
        }
        hvf_strlcpy(env.workdir, tmpl, sizeof(env.workdir));
        hvf_qemu_cleanup_install();
        qver = qemu_version(o.qemu);
        rows = hvf_calloc(mx.n + cal_mx.n + 1, sizeof(*rows));
        for (size_t pass = 0; pass < 2; pass++) {
            fid_matrix *m = pass == 0 ? &cal_mx : &mx;
            if (pass == 0 && !need_cal)
                continue;
            for (size_t i = 0; i < m->n; i++) {
                fid_row *r = &rows[n];
                if (!selected(&o, &m->configs[i]))
                    continue;
                r->c = m->configs[i];
                if (o.verbose)
                    fprintf(stderr, "migration-fidelity: %s ...\n", r->c.name);
                if (fid_run(&env, &r->c, &r->m, &err) < 0 && !r->m.error[0])
                    hvf_strlcpy(r->m.error, err.msg, sizeof(r->m.error));
                n++;
                if (o.verbose && r->m.ok)
                    fprintf(stderr,
                            "migration-fidelity: %s: %s in %lld ms, downtime %lld ms, dirty %.1f "
                            "MB/s\n",
                            r->c.name, r->m.r.status, (long long)r->m.r.total_time_ms,
                            (long long)r->m.r.downtime_ms, r->m.dirty_before_bytes_per_s / 1e6);
            }
            if (pass == 0) {
                fid_calibration got;
                if (fid_calibrate(rows, n, &got, &err) < 0)
                    goto fail;
                if (cal.link_bytes_per_s <= 0)
                    cal.link_bytes_per_s = got.link_bytes_per_s;
                if (!o.have_switchover)
                    cal.switchover_us = got.switchover_us;
                cal.measured = true;
            }
        }
        workdir_clean(env.workdir, rows, n);
    }

    for (size_t i = 0; i < n; i++)
        fid_compare_row(&rows[i], &cal);
    fid_summarize(rows, n, &sum);
    printf("QEMU: %s\n\n", qver ? qver : "unknown");
    fid_print_table(stdout, rows, n);
    fid_print_summary(stdout, &sum, &cal);
    if (o.out && write_record(o.out, rows, n, &cal, &sum, qver ? qver : "unknown",
                              matrix   ? matrix
                              : o.full ? "full"
                                       : "quick",
                              measured, &err) < 0)
        goto fail;
    status = sum.failed_runs ? 2 : sum.goal_met ? 0 : 1;
    goto done;

fail:
    fprintf(stderr, "migration-fidelity: %s\n", err.msg);
    status = 2;
done:
    for (size_t i = 0; i < n; i++) {
        fid_measure_free(&rows[i].m);
        json_decref(rows[i].measure_json);
    }
    free(rows);
    free(qver);
    free(measured);
    free(matrix);
    fid_matrix_free(&mx);
    fid_matrix_free(&cal_mx);
    return status;
}
