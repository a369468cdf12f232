/* SPDX-License-Identifier: MIT */
/* Replay files (hvfleet.replay/v1): YAML/JSON -> a replay with checked fields, and back. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"
#include "hvfleet/replay.h"

#define RP_MAX_SEED 16
#define RP_MAX_PATH 4096

typedef struct rp_root {
    char *schema, *name, *seed, *title, *event_type, *sim_seed;
    struct fy_node *variants;
} rp_root;

static const hvf_field_spec rp_root_fields[] = {
    {.name = "schema",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rp_root, schema),
     .required = true},
    {.name = "name", .type = HVF_FIELD_NAME, .offset = offsetof(rp_root, name), .required = true},
    {.name = "seed", .type = HVF_FIELD_STRING, .offset = offsetof(rp_root, seed), .required = true},
    {.name = "title",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rp_root, title),
     .required = true},
    {.name = "event_type", .type = HVF_FIELD_STRING, .offset = offsetof(rp_root, event_type)},
    {.name = "sim_seed", .type = HVF_FIELD_STRING, .offset = offsetof(rp_root, sim_seed)},
    {.name = "variants",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(rp_root, variants),
     .required = true},
};

typedef struct rp_variant {
    char *label, *scenario;
} rp_variant;

static const hvf_field_spec rp_variant_fields[] = {
    {.name = "label",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rp_variant, label),
     .required = true},
    {.name = "scenario",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rp_variant, scenario),
     .required = true},
};

/* One line of text people read: no control characters, 1..@max bytes. */
static bool
rp_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* [A-Za-z0-9._-], 1..@max */
static bool
rp_token_ok(const char *s, size_t max, bool lower_only)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (lower_only ? !(islower(c) || isdigit(c) || c == '_')
                       : !(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "as it happened" -> "as-it-happened": lowercase letters and digits, runs of anything else
 * become one '-', none at either end. Empty when the label has no letter or digit. */
static char *
rp_slug(const char *label)
{
    size_t n = strlen(label), k = 0;
    char *s = hvf_malloc(n + 1);

    for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
        if (*p < 0x80 && isalnum(*p))
            s[k++] = (char)tolower(*p);
        else if (k > 0 && s[k - 1] != '-')
            s[k++] = '-';
    }
    while (k > 0 && s[k - 1] == '-')
        k--;
    s[k] = '\0';
    return s;
}

static void
rp_read_variants(hvf_reader *r, struct fy_node *seq, hvf_replay *rp)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!seq || !fy_node_is_sequence(seq) || fy_node_sequence_item_count(seq) == 0 ||
        fy_node_sequence_item_count(seq) > HVF_REPLAY_MAX_VARIANTS) {
        hvf_reader_report(r, seq, "variants",
                          "expected a list of 1 to %d variants ({label, scenario})",
                          HVF_REPLAY_MAX_VARIANTS);
        return;
    }
    rp->variants = hvf_calloc(HVF_REPLAY_MAX_VARIANTS, sizeof(hvf_replay_variant));
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        rp_variant v = {0};
        HVF_AUTOFREE char *slug = NULL;
        bool ok = true;

        snprintf(path, sizeof(path), "variants[%zu]", i++);
        if (hvf_reader_map(r, item, path, rp_variant_fields, HVF_ARRAY_LEN(rp_variant_fields),
                           &v) != 0) {
            hvf_reader_free_fields(rp_variant_fields, HVF_ARRAY_LEN(rp_variant_fields), &v);
            continue;
        }
        slug = rp_slug(v.label);
        if (!rp_text_ok(v.label, HVF_REPLAY_MAX_LABEL) || slug[0] == '\0') {
            hvf_reader_report_field(r, item, path, "label",
                                    "expected 1 to %d characters on one line, with a letter or "
                                    "digit",
                                    HVF_REPLAY_MAX_LABEL);
            ok = false;
        }
        if (!rp_text_ok(v.scenario, RP_MAX_PATH)) {
            hvf_reader_report_field(r, item, path, "scenario",
                                    "expected the path of a scenario file");
            ok = false;
        }
        for (size_t k = 0; ok && k < rp->nvariants; k++) {
            if (strcmp(rp->variants[k].label, v.label) == 0 ||
                strcmp(rp->variants[k].dir, slug) == 0) {
                hvf_reader_report_field(r, item, path, "label",
                                        "expected a label unlike variant '%s' (directory '%s')",
                                        rp->variants[k].label, rp->variants[k].dir);
                ok = false;
            }
        }
        if (ok) {
            hvf_replay_variant *dst = &rp->variants[rp->nvariants++];
            dst->label = hvf_steal_ptr(&v.label);
            dst->scenario = hvf_steal_ptr(&v.scenario);
            dst->dir = hvf_steal_ptr(&slug);
            dst->line = hvf_reader_line(item);
        }
        hvf_reader_free_fields(rp_variant_fields, HVF_ARRAY_LEN(rp_variant_fields), &v);
    }
}

/* True when @top is a mapping whose schema is given and is not a replay's. */
static bool
rp_other_schema(hvf_reader *r, struct fy_node *top)
{
    struct fy_node *v;
    HVF_AUTOFREE char *s = NULL;

    (void)r;
    if (!top || !fy_node_is_mapping(top))
        return false;
    v = fy_node_mapping_lookup_by_string(top, "schema", FY_NT);
    s = hvf_reader_scalar_dup(v);
    return s && strcmp(s, HVF_REPLAY_SCHEMA) != 0;
}

static hvf_replay *
rp_read(hvf_reader *r, const char *base_dir, hvf_error *err)
{
    rp_root root = {0};
    hvf_replay *rp = HVF_NEW(hvf_replay);
    struct fy_node *top = hvf_reader_root(r);
    size_t before = r->diags->total;

    rp->file = hvf_strdup(r->file);
    rp->base_dir = base_dir ? hvf_strdup(base_dir) : NULL;
    if (rp_other_schema(r, top)) {
        /* another kind of file (a scenario, an inventory): one line says so, not one per field */
        hvf_reader_report_field(r, top, "", "schema", "expected '" HVF_REPLAY_SCHEMA "'");
    } else {
        hvf_reader_map(r, top, "", rp_root_fields, HVF_ARRAY_LEN(rp_root_fields), &root);
        if (root.seed && !rp_token_ok(root.seed, RP_MAX_SEED, false))
            hvf_reader_report_field(r, top, "", "seed",
                                    "expected the incident report's id, such as \"002\" (1-%d "
                                    "characters of A-Z a-z 0-9 . _ -)",
                                    RP_MAX_SEED);
        if (root.title && !rp_text_ok(root.title, HVF_REPLAY_MAX_TITLE))
            hvf_reader_report_field(r, top, "", "title", "expected 1 to %d characters on one line",
                                    HVF_REPLAY_MAX_TITLE);
        if (root.event_type && !rp_token_ok(root.event_type, HVF_NAME_MAX, true))
            hvf_reader_report_field(r, top, "", "event_type",
                                    "expected an event type such as fault or "
                                    "maintenance_window (a-z 0-9 _)");
        if (root.sim_seed) {
            char *end = NULL;
            errno = 0;
            rp->sim_seed = strtoull(root.sim_seed, &end, 10);
            rp->has_sim_seed = true;
            if (!isdigit((unsigned char)root.sim_seed[0]) || errno || *end)
                hvf_reader_report_field(r, top, "", "sim_seed",
                                        "expected a whole number (64 bits)");
        }
        if (root.variants)
            rp_read_variants(r, root.variants, rp);
    }
    rp->name = hvf_steal_ptr(&root.name);
    rp->seed = hvf_steal_ptr(&root.seed);
    rp->title = hvf_steal_ptr(&root.title);
    rp->event_type = hvf_steal_ptr(&root.event_type);
    hvf_reader_free_fields(rp_root_fields, HVF_ARRAY_LEN(rp_root_fields), &root);
    if (r->diags->total > before) {
        hvf_replay_free(rp);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", r->file,
                      r->diags->total - before, r->diags->total - before == 1 ? "" : "s");
        return NULL;
    }
    return rp;
}

hvf_replay *
hvf_replay_parse(const char *name, const char *buf, size_t len, const char *base_dir,
                 hvf_diags *diags, hvf_error *err)
{
    hvf_reader r;
    hvf_replay *rp;

    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return NULL;
    rp = rp_read(&r, base_dir, err);
    hvf_reader_close(&r);
    return rp;
}

hvf_replay *
hvf_replay_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    HVF_AUTOFREE char *copy = hvf_strdup(path);
    hvf_reader r;
    hvf_replay *rp;

    if (hvf_reader_open_file(&r, path, diags, err) < 0)
        return NULL;
    rp = rp_read(&r, dirname(copy), err);
    hvf_reader_close(&r);
    return rp;
}

void
hvf_replay_free(hvf_replay *rp)
{
    if (!rp)
        return;
    for (size_t i = 0; i < rp->nvariants; i++) {
        free(rp->variants[i].label);
        free(rp->variants[i].scenario);
        free(rp->variants[i].dir);
    }
    free(rp->variants);
    free(rp->file);
    free(rp->base_dir);
    free(rp->name);
    free(rp->seed);
    free(rp->title);
    free(rp->event_type);
    free(rp);
}

void
hvf_replay_format(const hvf_replay *rp, hvf_strbuf *out)
{
    /* names may start with '-' or spell null: always quoted, so they read back as text */
    hvf_strbuf_puts(out, "schema: " HVF_REPLAY_SCHEMA "\nname: ");
    hvf_strbuf_quote(out, rp->name);
    hvf_strbuf_puts(out, "\nseed: ");
    hvf_strbuf_quote(out, rp->seed);
    hvf_strbuf_puts(out, "\ntitle: ");
    hvf_strbuf_quote(out, rp->title);
    hvf_strbuf_puts(out, "\n");
    if (rp->event_type) {
        hvf_strbuf_puts(out, "event_type: ");
        hvf_strbuf_quote(out, rp->event_type);
        hvf_strbuf_puts(out, "\n");
    }
    if (rp->has_sim_seed)
        hvf_strbuf_printf(out, "sim_seed: %" PRIu64 "\n", rp->sim_seed);
    hvf_strbuf_puts(out, "variants:\n");
    for (size_t i = 0; i < rp->nvariants; i++) {
        hvf_strbuf_puts(out, "  - {label: ");
        hvf_strbuf_quote(out, rp->variants[i].label);
        hvf_strbuf_puts(out, ", scenario: ");
        hvf_strbuf_quote(out, rp->variants[i].scenario);
        hvf_strbuf_puts(out, "}\n");
    }
}
