/* SPDX-License-Identifier: MIT */
/* The record of a lab fleet, DIR/lab.json: what `hvfleet lab down` undoes (lab.h). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/lab.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

/* The first host's address is SUBNET.(10+1); the last must stay below .255. */
#define LAB_HOST_BASE 10

static void
lab_fill_names(hvf_lab *lab)
{
    snprintf(lab->bridge, sizeof(lab->bridge), "hvl%sbr", lab->id);
    for (size_t i = 0; i < lab->nhosts; i++) {
        hvf_lab_host *h = &lab->hosts[i];
        uint8_t n = (uint8_t)(i + 1); /* at most HVF_LAB_MAX_HOSTS: the names fit */

        snprintf(h->name, sizeof(h->name), "h%u", (unsigned)n);
        snprintf(h->netns, sizeof(h->netns), "hvl%s-h%u", lab->id, (unsigned)n);
        snprintf(h->veth, sizeof(h->veth), "hvl%sh%u", lab->id, (unsigned)n);
        h->addr = lab->subnet + LAB_HOST_BASE + (uint32_t)i + 1;
    }
}

hvf_lab *
hvf_lab_new(const char *id, const char *dir, uint32_t subnet, size_t nhosts)
{
    hvf_lab *lab = HVF_NEW(hvf_lab);

    HVF_ASSERT(strlen(id) == HVF_LAB_ID_LEN && nhosts >= 1 && nhosts <= HVF_LAB_MAX_HOSTS);
    hvf_strlcpy(lab->id, id, sizeof(lab->id));
    lab->dir = hvf_strdup(dir);
    lab->subnet = subnet;
    lab->nhosts = nhosts;
    lab->hosts = hvf_calloc(nhosts, sizeof(*lab->hosts));
    lab_fill_names(lab);
    return lab;
}

void
hvf_lab_free(hvf_lab *lab)
{
    if (!lab)
        return;
    free(lab->dir);
    free(lab->hosts);
    free(lab->procs);
    free(lab);
}

void
hvf_lab_add_proc(hvf_lab *lab, const char *role, const char *host, int pid, uint64_t start_time)
{
    hvf_lab_proc *p;

    HVF_ASSERT(lab->nprocs < HVF_LAB_MAX_PROCS);
    hvf_grow(&lab->procs, &lab->procs_cap, lab->nprocs + 1, sizeof(*lab->procs));
    p = &lab->procs[lab->nprocs++];
    memset(p, 0, sizeof(*p));
    hvf_strlcpy(p->role, role, sizeof(p->role));
    hvf_strlcpy(p->host, host ? host : "", sizeof(p->host));
    p->pid = pid;
    p->start_time = start_time;
}

char *
hvf_lab_path(const char *dir)
{
    return hvf_asprintf("%s/lab.json", dir);
}

char *
hvf_lab_addr_format(uint32_t addr, char buf[16])
{
    snprintf(buf, 16, "%u.%u.%u.%u", (addr >> 24) & 0xff, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
             addr & 0xff);
    return buf;
}

/* "A.B.C.D" (each 0-255, decimal, no leading '+') into *@out; @end gets what follows. */
static bool
lab_parse_quad(const char *s, uint32_t *out, const char **end)
{
    uint32_t a = 0;

    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        int digits = 0;

        while (*s >= '0' && *s <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        a = (a << 8) | v;
        if (i < 3 && *s++ != '.')
            return false;
    }
    *out = a;
    *end = s;
    return true;
}

int
hvf_lab_subnet_parse(const char *s, uint32_t *net, hvf_error *err)
{
    const char *end = NULL;
    uint32_t a = 0;
    bool private_ = false;

    if (!lab_parse_quad(s, &a, &end) || strcmp(end, "/24") != 0 || (a & 0xff) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "'%.64s': expected a /24 as A.B.C.0/24 (e.g. 10.77.0.0/24)", s);
        return -1;
    }
    private_ = (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168);
    if (!private_) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "'%.64s': expected a private /24, inside 10.0.0.0/8, 172.16.0.0/12 "
                      "or 192.168.0.0/16",
                      s);
        return -1;
    }
    *net = a;
    return 0;
}

char *
hvf_lab_format(const hvf_lab *lab)
{
    json_t *o = json_object(), *hosts = json_array(), *procs = json_array();
    char buf[16], sub[24];
    char *text;

    snprintf(sub, sizeof(sub), "%s/24", hvf_lab_addr_format(lab->subnet, buf));
    json_object_set_new(o, "schema", json_string(HVF_LAB_SCHEMA));
    json_object_set_new(o, "id", json_string(lab->id));
    json_object_set_new(o, "dir", json_string(lab->dir));
    json_object_set_new(o, "subnet", json_string(sub));
    json_object_set_new(o, "bridge", json_string(lab->bridge));
    json_object_set_new(o, "nic_bit_s", json_integer((json_int_t)lab->nic_bit_s));
    json_object_set_new(o, "port", json_integer(lab->port));
    json_object_set_new(o, "created_unix", json_integer((json_int_t)lab->created_unix));
    for (size_t i = 0; i < lab->nhosts; i++) {
        const hvf_lab_host *h = &lab->hosts[i];

        json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:s}", "name", h->name, "netns",
                                               h->netns, "veth", h->veth, "addr",
                                               hvf_lab_addr_format(h->addr, buf)));
    }
    json_object_set_new(o, "hosts", hosts);
    for (size_t i = 0; i < lab->nprocs; i++) {
        const hvf_lab_proc *p = &lab->procs[i];

        json_array_append_new(procs,
                              json_pack("{s:s, s:s, s:i, s:I}", "role", p->role, "host", p->host,
                                        "pid", p->pid, "start_time", (json_int_t)p->start_time));
    }
    json_object_set_new(o, "processes", procs);
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    HVF_ASSERT(text);
    {
        char *out = hvf_asprintf("%s\n", text);

        free(text);
        return out;
    }
}

/* ---- reading ---- */

typedef struct lab_rd {
    const char *name;
    hvf_error *err;
} lab_rd;

static bool __attribute__((format(printf, 2, 3))) lab_bad(lab_rd *rd, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hvf_error_set(rd->err, HVF_ERR_INVALID, "%s: %s (as hvfleet lab up writes it)", rd->name, msg);
    return false;
}

/* The keys of @o must all be in @keys (NULL-terminated). */
static bool
lab_only_keys(lab_rd *rd, json_t *o, const char *where, const char *const *keys)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        bool known = false;

        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known) {
            char q[64];

            hvf_quote_value(k, strlen(k), q, sizeof(q));
            return lab_bad(rd, "%s: unknown field %s", where, q);
        }
    }
    return true;
}

/* A string field of at most @max bytes, printable ASCII. */
static const char *
lab_str(lab_rd *rd, json_t *o, const char *where, const char *key, size_t max)
{
    json_t *v = json_object_get(o, key);
    const char *s;

    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        lab_bad(rd, "%s%s: expected a string of 1 to %zu characters", where, key, max);
        return NULL;
    }
    s = json_string_value(v);
    for (size_t i = 0; i < json_string_length(v); i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            lab_bad(rd, "%s%s: expected printable ASCII", where, key);
            return NULL;
        }
    }
    return s;
}

static bool
lab_int(lab_rd *rd, json_t *o, const char *where, const char *key, int64_t lo, int64_t hi,
        int64_t *out)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lab_bad(rd, "%s%s: expected an integer from %" PRId64 " to %" PRId64, where, key, lo,
                       hi);
    *out = json_integer_value(v);
    return true;
}

static bool
lab_read_hosts(lab_rd *rd, hvf_lab *lab, json_t *arr)
{
    static const char *const keys[] = {"name", "netns", "veth", "addr", NULL};
    char where[48], buf[16];
    size_t i;
    json_t *h;

    json_array_foreach(arr, i, h)
    {
        const char *name, *netns, *veth, *addr;

        snprintf(where, sizeof(where), "hosts[%zu].", i);
        if (!json_is_object(h))
            return lab_bad(rd, "hosts[%zu]: expected an object", i);
        if (!lab_only_keys(rd, h, where, keys) || !(name = lab_str(rd, h, where, "name", 64)) ||
            !(netns = lab_str(rd, h, where, "netns", 64)) ||
            !(veth = lab_str(rd, h, where, "veth", 64)) ||
            !(addr = lab_str(rd, h, where, "addr", 64)))
            return false;
        /* every name is the one derived from the id: down deletes nothing else */
        hvf_lab_addr_format(lab->hosts[i].addr, buf);
        if (strcmp(name, lab->hosts[i].name) != 0 || strcmp(netns, lab->hosts[i].netns) != 0 ||
            strcmp(veth, lab->hosts[i].veth) != 0 || strcmp(addr, buf) != 0)
            return lab_bad(rd,
                           "hosts[%zu]: expected name %s, netns %s, veth %s, addr %s (from the "
                           "lab's id and subnet)",
                           i, lab->hosts[i].name, lab->hosts[i].netns, lab->hosts[i].veth, buf);
    }
    return true;
}

static bool
lab_read_procs(lab_rd *rd, hvf_lab *lab, json_t *arr)
{
    static const char *const keys[] = {"role", "host", "pid", "start_time", NULL};
    char where[48];
    size_t i;
    json_t *p;

    json_array_foreach(arr, i, p)
    {
        const char *role;
        json_t *hv;
        const char *host = "";
        int64_t pid = 0, st = 0;
        bool known_host = false;

        snprintf(where, sizeof(where), "processes[%zu].", i);
        if (!json_is_object(p))
            return lab_bad(rd, "processes[%zu]: expected an object", i);
        if (!lab_only_keys(rd, p, where, keys) || !(role = lab_str(rd, p, where, "role", 16)) ||
            !lab_int(rd, p, where, "pid", 2, 4194304, &pid) ||
            !lab_int(rd, p, where, "start_time", 0, INT64_MAX, &st))
            return false;
        hv = json_object_get(p, "host");
        if (!json_is_string(hv))
            return lab_bad(rd, "%shost: expected a string", where);
        host = json_string_value(hv);
        for (size_t h = 0; h < lab->nhosts && !known_host; h++)
            known_host = strcmp(host, lab->hosts[h].name) == 0;
        if (strcmp(role, "hvfleetd") == 0 ? *host != '\0'
                                          : strcmp(role, "agent") != 0 || !known_host)
            return lab_bad(rd,
                           "%srole: expected hvfleetd (host \"\") or agent (host one of the "
                           "lab's hosts)",
                           where);
        hvf_lab_add_proc(lab, role, host, (int)pid, (uint64_t)st);
    }
    return true;
}

hvf_lab *
hvf_lab_parse(const char *name, const char *text, size_t len, hvf_error *err)
{
    static const char *const keys[] = {"schema", "id",        "dir",  "subnet",
                                       "bridge", "nic_bit_s", "port", "created_unix",
                                       "hosts",  "processes", NULL};
    lab_rd rd = {name, err};
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *hosts, *procs;
    const char *schema, *id, *dir, *subnet, *bridge;
    int64_t nic = 0, port = 0, created = 0;
    uint32_t net = 0;
    hvf_lab *lab = NULL;
    hvf_error sub_err = HVF_ERROR_INIT;
    bool ok = false;

    if (!doc) {
        char near[64];

        /* jansson quotes the input near the error: it may hold newlines */
        hvf_quote_value(jerr.text, strlen(jerr.text), near, sizeof(near));
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d: not JSON: %s", name, jerr.line, near);
        return NULL;
    }
    if (!json_is_object(doc)) {
        lab_bad(&rd, "expected an object");
        goto done;
    }
    if (!lab_only_keys(&rd, doc, "", keys) || !(schema = lab_str(&rd, doc, "", "schema", 64)) ||
        !(id = lab_str(&rd, doc, "", "id", 16)) || !(dir = lab_str(&rd, doc, "", "dir", 4096)) ||
        !(subnet = lab_str(&rd, doc, "", "subnet", 32)) ||
        !(bridge = lab_str(&rd, doc, "", "bridge", 16)) ||
        !lab_int(&rd, doc, "", "nic_bit_s", 1, INT64_MAX, &nic) ||
        !lab_int(&rd, doc, "", "port", 0, 65535, &port) ||
        !lab_int(&rd, doc, "", "created_unix", 0, INT64_MAX, &created))
        goto done;
    if (strcmp(schema, HVF_LAB_SCHEMA) != 0) {
        lab_bad(&rd, "schema: expected %s", HVF_LAB_SCHEMA);
        goto done;
    }
    if (strlen(id) != HVF_LAB_ID_LEN || strspn(id, "0123456789abcdef") != HVF_LAB_ID_LEN) {
        lab_bad(&rd, "id: expected %d lowercase hex digits", HVF_LAB_ID_LEN);
        goto done;
    }
    if (dir[0] != '/') {
        lab_bad(&rd, "dir: expected an absolute path");
        goto done;
    }
    if (hvf_lab_subnet_parse(subnet, &net, &sub_err) < 0) {
        lab_bad(&rd, "subnet %s", sub_err.msg);
        goto done;
    }
    hosts = json_object_get(doc, "hosts");
    procs = json_object_get(doc, "processes");
    if (!json_is_array(hosts) || json_array_size(hosts) < 1 ||
        json_array_size(hosts) > HVF_LAB_MAX_HOSTS) {
        lab_bad(&rd, "hosts: expected a list of 1 to %d hosts", HVF_LAB_MAX_HOSTS);
        goto done;
    }
    if (!json_is_array(procs) || json_array_size(procs) > HVF_LAB_MAX_PROCS) {
        lab_bad(&rd, "processes: expected a list of at most %d processes", HVF_LAB_MAX_PROCS);
        goto done;
    }
    lab = hvf_lab_new(id, dir, net, json_array_size(hosts));
    if (strcmp(bridge, lab->bridge) != 0) {
        lab_bad(&rd, "bridge: expected %s (from the lab's id)", lab->bridge);
        goto done;
    }
    lab->nic_bit_s = (uint64_t)nic;
    lab->port = (int)port;
    lab->created_unix = created;
    ok = lab_read_hosts(&rd, lab, hosts) && lab_read_procs(&rd, lab, procs);
done:
    json_decref(doc);
    if (!ok) {
        hvf_lab_free(lab);
        return NULL;
    }
    return lab;
}

hvf_lab *
hvf_lab_load(const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_lab_path(dir);
    HVF_AUTOFREE char *text = NULL;
    size_t len = 0;

    if (access(path, F_OK) < 0 && errno == ENOENT) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "no lab in '%s' (no lab.json)", dir);
        return NULL;
    }
    if (!(text = hvf_text_read_file(path, HVF_LAB_MAX_FILE, &len, err)))
        return NULL;
    return hvf_lab_parse(path, text, len, err);
}

int
hvf_lab_save(const hvf_lab *lab, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_lab_path(lab->dir);
    HVF_AUTOFREE char *text = hvf_lab_format(lab);

    return hvf_file_write_atomic(path, text, strlen(text), err);
}
