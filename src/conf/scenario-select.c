/* SPDX-License-Identifier: MIT */
/*
 * Host selector expressions resolved against a fleet (docs/planning.md, "Selecting hosts"):
 *
 *   EXPR  = ITEM { "," ITEM }          union of the items, in order of first appearance
 *   ITEM  = [ "!" ] TERM { "+" TERM }  "+" intersects; a leading "!" excludes the item's hosts
 *   TERM  = all | NAME | rack:ZONE/RACK | rack:RACK | zone:ZONE | tag:TAG
 *
 * Exclusions apply after every inclusion, whatever their place; an expression of exclusions
 * only starts from all. Racks are per zone: rack:RACK must name a rack of one zone only.
 * Names cannot contain , + ! : / (hvf_name_is_valid), so the grammar needs no quoting.
 */
#include "hvfleet/alloc.h"
#include "hvfleet/scenario.h"
#include "hvfleet/strbuf.h"

#define SEL_LIST_MAX 6 /* candidates named in an error message */

typedef enum sel_kind {
    SEL_ALL,
    SEL_NAME,
    SEL_RACK,
    SEL_ZONE,
    SEL_TAG,
} sel_kind;

typedef struct sel_term {
    sel_kind kind;
    const char *text; /* the term as written, for messages (borrowed from the copy) */
    const char *arg;  /* after "kind:", or the name */
    const char *zone; /* rack:ZONE/RACK: the zone; NULL otherwise */
} sel_term;

/* Trims ASCII blanks around [s, e) in place; returns the start, NUL-terminates. */
static char *
sel_trim(char *s)
{
    char *e = s + strlen(s);

    while (*s == ' ' || *s == '\t')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    return s;
}

/* Parses one term (already trimmed, modified in place). */
static int
sel_parse_term(char *s, sel_term *t, hvf_error *err)
{
    char *colon = strchr(s, ':');
    char *slash;

    memset(t, 0, sizeof(*t));
    t->text = s;
    if (!colon) {
        t->kind = strcmp(s, "all") == 0 ? SEL_ALL : SEL_NAME;
        t->arg = s;
        if (t->kind == SEL_NAME && !hvf_name_is_valid(s)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "'%s': expected all, a host name, rack:[ZONE/]RACK, zone:Z or tag:T", s);
            return -1;
        }
        return 0;
    }
    if ((size_t)(colon - s) == 4 && strncmp(s, "rack", 4) == 0)
        t->kind = SEL_RACK;
    else if ((size_t)(colon - s) == 4 && strncmp(s, "zone", 4) == 0)
        t->kind = SEL_ZONE;
    else if ((size_t)(colon - s) == 3 && strncmp(s, "tag", 3) == 0)
        t->kind = SEL_TAG;
    else {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "'%s': expected all, a host name, rack:[ZONE/]RACK, zone:Z or tag:T", s);
        return -1;
    }
    t->arg = colon + 1;
    slash = t->kind == SEL_RACK ? strchr(colon + 1, '/') : NULL;
    if (slash) {
        /* rack:ZONE/RACK: the zone is [colon + 1, slash); the text stays whole for messages */
        char zone[HVF_NAME_MAX + 2] = "";
        size_t zlen = (size_t)(slash - (colon + 1));
        t->zone = colon + 1;
        t->arg = slash + 1;
        memcpy(zone, t->zone, zlen < sizeof(zone) - 1 ? zlen : sizeof(zone) - 1);
        if (!hvf_name_is_valid(zone))
            t->arg = "";
    }
    if (!hvf_name_is_valid(t->arg)) {
        hvf_error_set(err, HVF_ERR_INVALID, "'%s': expected %s:%s, with names of 1-63 characters "
                      "of A-Z a-z 0-9 . _ -", s,
                      t->kind == SEL_RACK ? "rack" : t->kind == SEL_ZONE ? "zone" : "tag",
                      t->kind == SEL_RACK ? "ZONE/RACK or rack:RACK" : t->kind == SEL_ZONE ? "ZONE" : "TAG");
        return -1;
    }
    return 0;
}

/* Names up to SEL_LIST_MAX entries "a, b, c, ... (N in all)". */
static void
sel_list_add(hvf_strbuf *sb, size_t *count, const char *prefix, const char *zone,
             const char *name)
{
    if (*count < SEL_LIST_MAX)
        hvf_strbuf_printf(sb, "%s%s%s%s%s", *count ? ", " : "", prefix, zone ? zone : "",
                          zone ? "/" : "", name);
    (*count)++;
}

static void
sel_list_end(hvf_strbuf *sb, size_t count)
{
    if (count > SEL_LIST_MAX)
        hvf_strbuf_printf(sb, ", ... (%zu in all)", count);
}

/* The zone of a rack:ZONE/RACK term, NUL-terminated in @buf. */
static const char *
sel_zone_name(const sel_term *t, char *buf, size_t size)
{
    size_t len = (size_t)(t->arg - 1 - t->zone);

    if (len >= size)
        len = size - 1;
    memcpy(buf, t->zone, len);
    buf[len] = '\0';
    return buf;
}

static int
sel_unknown_zone(const hvf_fleet *f, const sel_term *t, const char *zone, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    size_t count = 0;

    for (size_t z = 0; z < f->nzones; z++)
        sel_list_add(&sb, &count, "", NULL, f->zones[z].name);
    sel_list_end(&sb, count);
    hvf_error_set(err, HVF_ERR_NOT_FOUND, "'%s': no zone '%s' in the inventory; expected one of %s",
                  t->text, zone, sb.buf ? sb.buf : "(none)");
    hvf_strbuf_clear(&sb);
    return -1;
}

/* The rack a rack: term names, or -1 with @err set (unknown, or ambiguous without a zone). */
static int32_t
sel_find_rack(const hvf_fleet *f, const sel_term *t, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int32_t zone = -1, found = -1;
    size_t count = 0, matches = 0;
    char zname[64];

    if (t->zone) {
        sel_zone_name(t, zname, sizeof(zname));
        zone = hvf_fleet_find_zone(f, zname);
        if (zone < 0)
            return sel_unknown_zone(f, t, zname, err);
    }
    for (size_t k = 0; k < f->nracks; k++) {
        if ((zone < 0 || f->racks[k].zone == zone) && strcmp(f->racks[k].name, t->arg) == 0) {
            found = (int32_t)k;
            matches++;
        }
    }
    if (matches == 1)
        return found;
    if (matches > 1) {
        for (size_t k = 0; k < f->nracks; k++) {
            if (strcmp(f->racks[k].name, t->arg) == 0) {
                sel_list_add(&sb, &count, "rack:", f->zones[f->racks[k].zone].name, t->arg);
            }
        }
        sel_list_end(&sb, count);
        hvf_error_set(err, HVF_ERR_INVALID,
                      "'%s': rack '%s' is in %zu zones (racks are per zone); expected one of %s",
                      t->text, t->arg, matches, sb.buf);
        hvf_strbuf_clear(&sb);
        return -1;
    }
    for (size_t k = 0; k < f->nracks; k++) {
        if (zone < 0 || f->racks[k].zone == zone)
            sel_list_add(&sb, &count, "", f->zones[f->racks[k].zone].name, f->racks[k].name);
    }
    sel_list_end(&sb, count);
    if (zone >= 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND,
                      "'%s': zone '%s' has no rack '%s'; expected one of %s", t->text, zname,
                      t->arg, sb.buf ? sb.buf : "(none)");
    else
        hvf_error_set(err, HVF_ERR_NOT_FOUND,
                      "'%s': no rack '%s' in the inventory; expected rack:ZONE/RACK, one of %s",
                      t->text, t->arg, sb.buf ? sb.buf : "(none)");
    hvf_strbuf_clear(&sb);
    return -1;
}

/* Marks the hosts one term names in @mark (cleared first). */
static int
sel_mark_term(const hvf_fleet *f, const sel_term *t, bool *mark, hvf_error *err)
{
    int32_t idx = -1;
    bool any = false;

    memset(mark, 0, f->nhosts * sizeof(bool));
    switch (t->kind) {
    case SEL_ALL:
        for (size_t h = 0; h < f->nhosts; h++)
            mark[h] = true;
        return 0;
    case SEL_NAME:
        idx = hvf_fleet_find_host(f, t->arg);
        if (idx < 0) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "'%s': expected a host name of the inventory, or all, "
                          "rack:[ZONE/]RACK, zone:Z, tag:T",
                          t->text);
            return -1;
        }
        mark[idx] = true;
        return 0;
    case SEL_RACK:
        idx = sel_find_rack(f, t, err);
        if (idx < 0)
            return -1;
        for (size_t h = 0; h < f->nhosts; h++)
            mark[h] = f->hosts[h].rack == idx;
        return 0;
    case SEL_ZONE:
        idx = hvf_fleet_find_zone(f, t->arg);
        if (idx < 0)
            return sel_unknown_zone(f, t, t->arg, err);
        for (size_t h = 0; h < f->nhosts; h++)
            mark[h] = f->hosts[h].zone == idx;
        return 0;
    case SEL_TAG:
        for (size_t h = 0; h < f->nhosts; h++) {
            for (size_t k = 0; k < f->hosts[h].ntags && !mark[h]; k++)
                mark[h] = strcmp(f->hosts[h].tags[k], t->arg) == 0;
            any = any || mark[h];
        }
        if (!any) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND, "'%s': no host has the tag '%s'", t->text,
                          t->arg);
            return -1;
        }
        return 0;
    }
    return 0;
}

/*
 * Walks the expression in @copy (modified): for each item, calls back with its terms. Returns
 * the number of items, or -1 with @err set on a syntax error.
 */
typedef int (*sel_item_fn)(void *ctx, bool exclude, const char *text, sel_term *terms,
                           size_t nterms, hvf_error *err);

static int
sel_walk(char *copy, sel_item_fn fn, void *ctx, hvf_error *err)
{
    char *save = NULL;
    char *p = copy;
    int nitems = 0;

    /* messages quote what was written: keep them one printable line */
    for (const char *c = copy; *c; c++) {
        if (*c < 0x20 || *c > 0x7e) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "byte %zu is 0x%02x: expected printable ASCII (names are A-Z a-z 0-9 "
                          ". _ -)",
                          (size_t)(c - copy) + 1, (unsigned)(unsigned char)*c);
            return -1;
        }
    }
    if (*sel_trim(copy) == '\0') {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "empty selector: expected all, a host name, rack:[ZONE/]RACK, zone:Z or "
                      "tag:T, comma-separated");
        return -1;
    }
    /* strtok would merge empty items; a split by hand reports them */
    for (;;) {
        char *comma = strchr(p, ',');
        char *item;
        bool exclude = false;
        HVF_AUTOFREE sel_term *terms = NULL;
        size_t nterms = 0;
        HVF_AUTOFREE char *text = NULL;

        if (comma)
            *comma = '\0';
        item = sel_trim(p);
        nitems++;
        if (*item == '\0') {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "item %d is empty: expected a selector between the commas", nitems);
            return -1;
        }
        text = hvf_strdup(item);
        if (*item == '!') {
            exclude = true;
            item = sel_trim(item + 1);
            if (*item == '\0') {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "item %d is '!' alone: expected a selector after '!'", nitems);
                return -1;
            }
        }
        save = item;
        for (;;) {
            char *plus = strchr(save, '+');
            char *term;
            if (plus)
                *plus = '\0';
            term = sel_trim(save);
            if (*term == '\0') {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "'%s': empty term: expected a selector on each side of '+'", text);
                return -1;
            }
            terms = hvf_realloc(terms, (nterms + 1) * sizeof(sel_term));
            if (sel_parse_term(term, &terms[nterms++], err) < 0)
                return -1;
            if (!plus)
                break;
            save = plus + 1;
        }
        if (fn && fn(ctx, exclude, text, terms, nterms, err) < 0)
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return nitems;
}

typedef struct sel_ctx {
    const hvf_fleet *f;
    unsigned flags;
    bool *tmp, *item, *excluded, *taken;
    int32_t *order; /* hosts in order of first inclusion */
    size_t norder;
    bool any_include;
} sel_ctx;

static bool
sel_is_group(const sel_term *terms, size_t n)
{
    return n > 1 || terms[0].kind != SEL_NAME;
}

static int
sel_item(void *vctx, bool exclude, const char *text, sel_term *terms, size_t nterms,
         hvf_error *err)
{
    sel_ctx *c = vctx;
    const hvf_fleet *f = c->f;
    bool group = sel_is_group(terms, nterms);
    size_t hits = 0;

    for (size_t i = 0; i < nterms; i++) {
        if (sel_mark_term(f, &terms[i], i == 0 ? c->item : c->tmp, err) < 0)
            return -1;
        for (size_t h = 0; i > 0 && h < f->nhosts; h++)
            c->item[h] = c->item[h] && c->tmp[h];
    }
    for (size_t h = 0; h < f->nhosts; h++)
        hits += c->item[h];
    if (exclude) {
        for (size_t h = 0; h < f->nhosts; h++)
            c->excluded[h] = c->excluded[h] || c->item[h];
        return 0;
    }
    c->any_include = true;
    if (hits == 0 && f->nhosts > 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "'%s' selects no host", text);
        return -1;
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        if (!c->item[h] || c->taken[h])
            continue;
        if ((c->flags & HVF_SELECT_ACTIVE_GROUPS) && group &&
            f->hosts[h].state != HVF_HOST_STATE_ACTIVE)
            continue;
        c->taken[h] = true;
        c->order[c->norder++] = (int32_t)h;
    }
    return 0;
}

int
hvf_scenario_selector_check(const char *expr, hvf_error *err)
{
    HVF_AUTOFREE char *copy = hvf_strdup(expr ? expr : "");

    return sel_walk(copy, NULL, NULL, err) < 0 ? -1 : 0;
}

int
hvf_scenario_select(const hvf_fleet *f, const char *expr, unsigned flags, int32_t **out,
                    size_t *n, hvf_error *err)
{
    HVF_AUTOFREE char *copy = hvf_strdup(expr ? expr : "");
    size_t nh = f->nhosts;
    HVF_AUTOFREE bool *tmp = hvf_calloc(nh + 1, sizeof(bool));
    HVF_AUTOFREE bool *item = hvf_calloc(nh + 1, sizeof(bool));
    HVF_AUTOFREE bool *excluded = hvf_calloc(nh + 1, sizeof(bool));
    HVF_AUTOFREE bool *taken = hvf_calloc(nh + 1, sizeof(bool));
    HVF_AUTOFREE int32_t *order = hvf_calloc(nh + 1, sizeof(int32_t));
    sel_ctx c = {.f = f,
                 .flags = flags,
                 .tmp = tmp,
                 .item = item,
                 .excluded = excluded,
                 .taken = taken,
                 .order = order};
    size_t kept = 0;

    if (sel_walk(copy, sel_item, &c, err) < 0)
        return -1;
    if (!c.any_include) {
        /* only exclusions: they apply to all */
        sel_term all = {.kind = SEL_ALL, .text = "all", .arg = "all"};
        if (sel_item(&c, false, "all", &all, 1, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < c.norder; i++) {
        if (!excluded[order[i]])
            order[kept++] = order[i];
    }
    if (kept == 0 && nh > 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "'%s' selects no host%s", expr,
                      (flags & HVF_SELECT_ACTIVE_GROUPS) ? " in service (state active)"
                                                         : " once exclusions apply");
        return -1;
    }
    *out = hvf_realloc(*out, (*n + kept + 1) * sizeof(int32_t));
    memcpy(*out + *n, order, kept * sizeof(int32_t));
    *n += kept;
    return 0;
}

int
hvf_scenario_select_hosts(const hvf_fleet *f, const char *sel, int32_t **out, size_t *n,
                          hvf_error *err)
{
    return hvf_scenario_select(f, sel, 0, out, n, err);
}

const char *
hvf_scenario_selector_msg(const char *value, const char *msg)
{
    size_t len = value ? strlen(value) : 0;

    if (value && msg[0] == '\'' && strncmp(msg + 1, value, len) == 0 && msg[len + 1] == '\'' &&
        msg[len + 2] == ':' && msg[len + 3] == ' ')
        return msg + len + 4;
    return msg;
}

int32_t
hvf_scenario_find_rack(const hvf_fleet *f, const char *spec, hvf_error *err)
{
    HVF_AUTOFREE char *term = hvf_asprintf("rack:%s", spec ? spec : "");
    sel_term t;

    if (sel_parse_term(term, &t, err) < 0)
        return -1;
    return sel_find_rack(f, &t, err);
}
