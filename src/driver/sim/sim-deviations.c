/* SPDX-License-Identifier: MIT */
/* The sim driver's deviations: read from their file, and injected into the twin at their time. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/sim/sim-driver.h"
#include "driver/sim/sim-world.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"

#define SD_MAX_DEVIATIONS 100000

const char *const sd_deviation_kind_names[] = {"dirty-rate",       "link",
                                               "host-crash",       "migration-fail",
                                               "slow-maintenance", "change-breaks",
                                               "controller-partition", NULL};
_Static_assert(HVF_ARRAY_LEN(sd_deviation_kind_names) == SD_DEV_LAST + 1, "deviation kinds");

/* ---- deviations ---- */

static int
dev_fail(hvf_error *err, const char *name, size_t i, const char *field, const char *value,
         const char *expected)
{
    char f[64], v[64];

    /* the file's own words, quoted short and printable: the message stays one line */
    hvf_quote_value(field, strlen(field), f, sizeof(f));
    hvf_quote_value(value, strlen(value), v, sizeof(v));
    f[strlen(f) - 1] = '\0';
    hvf_error_set(err, HVF_ERR_INVALID, "%s: deviations[%zu].%s: %s: expected %s", name, i,
                  f + 1, v, expected);
    return -1;
}

static int
dev_parse_one(const char *name, size_t i, json_t *o, const hvf_fleet *fleet, sd_deviation *d,
              hvf_error *err)
{
    const char *key;
    json_t *v;
    const char *kind = NULL;
    bool has_factor = false;

    memset(d, 0, sizeof(*d));
    d->vm = d->host = -1;
    d->factor = 1;
    d->for_us = -1;
    if (!json_is_object(o))
        return dev_fail(err, name, i, "", "", "an object");
    json_object_foreach(o, key, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        hvf_error why = HVF_ERROR_INIT;

        if (strcmp(key, "kind") == 0) {
            int k = -1;

            for (int n = 0; s && sd_deviation_kind_names[n]; n++) {
                if (strcmp(s, sd_deviation_kind_names[n]) == 0)
                    k = n;
            }
            if (k < 0)
                return dev_fail(err, name, i, key, s ? s : "(not text)",
                                "dirty-rate, link, host-crash, migration-fail, "
                                "slow-maintenance, change-breaks or controller-partition");
            d->kind = (sd_deviation_kind)k;
            kind = s;
        } else if (strcmp(key, "at") == 0 || strcmp(key, "for") == 0) {
            int64_t us;

            if (!s || hvf_units_parse_duration(s, &us, &why) < 0)
                return dev_fail(err, name, i, key, s ? s : "(not text)",
                                "a duration such as 90s or 5m");
            if (key[0] == 'a')
                d->at_us = us;
            else
                d->for_us = us;
        } else if (strcmp(key, "vm") == 0) {
            if (!s || (d->vm = hvf_fleet_find_vm(fleet, s)) < 0)
                return dev_fail(err, name, i, key, s ? s : "(not text)", "a VM of the fleet");
        } else if (strcmp(key, "host") == 0) {
            if (!s || (d->host = hvf_fleet_find_host(fleet, s)) < 0)
                return dev_fail(err, name, i, key, s ? s : "(not text)", "a host of the fleet");
        } else if (strcmp(key, "factor") == 0) {
            char buf[32];

            d->factor = json_is_number(v) ? json_number_value(v) : -1;
            snprintf(buf, sizeof(buf), "%g", d->factor);
            if (!(d->factor > 0 && d->factor <= 1000))
                return dev_fail(err, name, i, key, json_is_number(v) ? buf : "(not a number)",
                                "a number in (0, 1000]");
            has_factor = true;
        } else {
            return dev_fail(err, name, i, key, "", "kind, at, for, vm, host or factor");
        }
    }
    if (!kind)
        return dev_fail(err, name, i, "kind", "", "one of the deviation kinds");
    switch (d->kind) {
    case SD_DEV_DIRTY_RATE:
    case SD_DEV_MIGRATION_FAIL:
        if (d->vm < 0)
            return dev_fail(err, name, i, "vm", "", "the VM this deviation is about");
        break;
    default:
        if (d->host < 0)
            return dev_fail(err, name, i, "host", "", "the host this deviation is about");
        break;
    }
    if (!has_factor && (d->kind == SD_DEV_DIRTY_RATE || d->kind == SD_DEV_LINK ||
                        d->kind == SD_DEV_SLOW_MAINTENANCE))
        return dev_fail(err, name, i, "factor", "", "a factor for this kind");
    return 0;
}

static int
dev_cmp(const void *a, const void *b)
{
    const sd_deviation *x = a, *y = b;

    return (x->at_us > y->at_us) - (x->at_us < y->at_us);
}

long
hvf_sim_deviations_parse(const char *name, const char *buf, size_t len, const hvf_fleet *fleet,
                         sim_deviation **out, hvf_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *schema, *list;
    sd_deviation *devs = NULL;
    size_t n;

    *out = NULL;
    if (!root) {
        /* jansson quotes the bytes it stopped at: keep the message one printable line */
        for (char *q = jerr.text; *q; q++)
            *q = (unsigned char)*q < 0x20 || *q == 0x7f ? '?' : *q;
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return -1;
    }
    schema = json_object_get(root, "schema");
    list = json_object_get(root, "deviations");
    if (!json_is_string(schema) || strcmp(json_string_value(schema), SD_DEVIATIONS_SCHEMA) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: schema: expected \"%s\"", name,
                      SD_DEVIATIONS_SCHEMA);
        json_decref(root);
        return -1;
    }
    if (!json_is_array(list) || json_object_size(root) != 2) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: expected exactly the keys schema and deviations (an array)", name);
        json_decref(root);
        return -1;
    }
    n = json_array_size(list);
    if (n > SD_MAX_DEVIATIONS) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: deviations: %zu entries: expected at most %d",
                      name, n, SD_MAX_DEVIATIONS);
        json_decref(root);
        return -1;
    }
    devs = hvf_calloc(n ? n : 1, sizeof(*devs));
    for (size_t i = 0; i < n; i++) {
        if (dev_parse_one(name, i, json_array_get(list, i), fleet, &devs[i], err) < 0) {
            free(devs);
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    /* by time, deviations of equal time in file order (insertion sort is stable) */
    for (size_t i = 1; i < n; i++) {
        sd_deviation d = devs[i];
        size_t k = i;

        for (; k > 0 && dev_cmp(&devs[k - 1], &d) > 0; k--)
            devs[k] = devs[k - 1];
        devs[k] = d;
    }
    *out = devs;
    return (long)n;
}

void
sd_deviation_apply(sd_priv *p, const sd_deviation *d)
{
    const hvf_fleet *f = hvf_sim_fleet(p->sim);
    /* deviations name the inventory's VMs: where it is in the world's list, if still there */
    int32_t vm = d->vm >= 0 ? p->inv_vm_at[d->vm] : -1;
    hvf_sim_fault fault;
    hvf_error err = HVF_ERROR_INIT;
    sd_job *j;

    if (d->vm >= 0 && vm < 0)
        return; /* its VM was undefined */
    memset(&fault, 0, sizeof(fault));
    fault.host = fault.rack = fault.vm = -1;
    fault.fixed_after_us = -1;
    switch (d->kind) {
    case SD_DEV_DIRTY_RATE:
        p->fleet->vms[vm].dirty_bytes_per_s = f->vms[vm].dirty_bytes_per_s * d->factor;
        fault.type = HVF_SIM_FAULT_DIRTY_RATE;
        fault.vm = vm;
        fault.bytes_per_s = p->fleet->vms[vm].dirty_bytes_per_s;
        break;
    case SD_DEV_LINK:
        fault.type = HVF_SIM_FAULT_LINK_DROP;
        fault.host = d->host;
        fault.bytes_per_s = f->hosts[d->host].nic_bytes_per_s * d->factor;
        fault.duration_us = -1;
        fault.dir = HVF_SIM_DIR_BOTH;
        break;
    case SD_DEV_HOST_CRASH:
        fault.type = HVF_SIM_FAULT_HOST_CRASH;
        fault.host = d->host;
        fault.duration_us = d->for_us;
        break;
    case SD_DEV_MIGRATION_FAIL:
        if ((j = sd_job_of_vm(p, vm))) {
            j->fail_at_us = p->base_us + hvf_sim_now(p->sim) + 1; /* 0 means none */
            p->nfail_pending++;
        } else
            p->fail_next[vm] = true;
        return;
    case SD_DEV_SLOW_MAINTENANCE:
        p->maint_factor[d->host] = d->factor;
        return;
    case SD_DEV_CHANGE_BREAKS:
        p->change_breaks[d->host] = true;
        return;
    case SD_DEV_CONTROLLER_PARTITION:
        sd_partition(p, d->host, d->for_us >= 0 ? p->base_us + hvf_sim_now(p->sim) + d->for_us
                                                : INT64_MAX);
        return;
    default:
        return;
    }
    /* a fault the twin cannot model (it says why in err) changes nothing */
    if (hvf_sim_inject_fault(p->sim, &fault, &err) < 0)
        return;
}

