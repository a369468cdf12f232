/* SPDX-License-Identifier: MIT */
/*
 * The document tree the readers walk: 32 bytes a node in one array, text in large blocks, built
 * from parser events under a memory budget, with duplicate keys refused as it goes. A generated
 * inventory of 200,000 VMs takes about 90 MiB here, against 1.2 GiB in libfyaml's tree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/reader-priv.h"
#include "hvfleet/alloc.h"

/* Text lives in blocks of this size, never moved, so nodes can point into them. */
#define TREE_CHUNK_BYTES ((size_t)1 << 20)

typedef struct tree_chunk {
    struct tree_chunk *prev;
    size_t used, cap;
    char data[];
} tree_chunk;

typedef struct tree_frame {
    uint32_t node; /* index of the open collection */
    uint32_t last; /* index of its last child, UINT32_MAX while it has none */
} tree_frame;

void
hvf_doc_free(hvf_doc *doc)
{
    tree_chunk *c = doc->text, *prev;

    for (; c; c = prev) {
        prev = c->prev;
        free(c);
    }
    free(doc->nodes);
    doc->nodes = NULL;
    doc->nnodes = 0;
    doc->text = NULL;
}

void
hvf_tree_init(hvf_tree_builder *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

int
hvf_tree_fail(hvf_tree_builder *b, hvf_tree_status status, int line, const char *fmt, ...)
{
    va_list ap;

    if (b->status != HVF_TREE_OK)
        return -1;
    b->status = status;
    b->line = line;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int
tree_out_of_budget(hvf_tree_builder *b, int line)
{
    bool mib = b->limit >= ((size_t)1 << 20);

    return hvf_tree_fail(b, HVF_TREE_MEMORY, line,
                         "reading it needs more than %zu %s of memory (the limit for one file)",
                         mib ? b->limit >> 20 : b->limit >> 10, mib ? "MiB" : "KiB");
}

/* Memory is counted before it is taken; allocation failures are reported, not aborted on. */
static int
tree_charge(hvf_tree_builder *b, size_t bytes, int line)
{
    if (bytes > b->limit || b->used > b->limit - bytes)
        return tree_out_of_budget(b, line);
    b->used += bytes;
    return 0;
}

static char *
tree_text(hvf_tree_builder *b, const char *s, size_t len, int line)
{
    tree_chunk *c = b->doc.text;
    char *out;

    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > TREE_CHUNK_BYTES / 4 ? len + 1 : TREE_CHUNK_BYTES;

        if (tree_charge(b, cap, line) < 0)
            return NULL;
        c = malloc(sizeof(*c) + cap);
        if (!c) {
            hvf_tree_fail(b, HVF_TREE_MEMORY, line, "ran out of memory reading it");
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        /* A big scalar gets a block of its own, behind the current one, which keeps filling. */
        if (b->doc.text && cap != TREE_CHUNK_BYTES) {
            c->prev = b->doc.text->prev;
            b->doc.text->prev = c;
        } else {
            c->prev = b->doc.text;
            b->doc.text = c;
        }
    }
    out = c->data + c->used;
    if (len > 0) /* an empty JSON string has no buffer behind it */
        memcpy(out, s, len);
    out[len] = '\0';
    c->used += len + 1;
    return out;
}

/* Appends a node to the array and to its parent (the innermost open collection). */
static hvf_node *
tree_add(hvf_tree_builder *b, hvf_node_kind kind, int line, bool anchored)
{
    hvf_node *n;
    size_t idx = b->doc.nnodes;

    if (b->status != HVF_TREE_OK)
        return NULL;
    if (b->depth == 0 && idx > 0)
        return hvf_tree_fail(b, HVF_TREE_SYNTAX, line, "expected one value"), NULL;
    if (idx == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        hvf_node *nodes;

        if (cap > UINT32_MAX)
            return tree_out_of_budget(b, line), NULL;
        if (tree_charge(b, (cap - b->cap) * sizeof(hvf_node), line) < 0)
            return NULL;
        nodes = realloc(b->doc.nodes, cap * sizeof(hvf_node));
        if (!nodes)
            return hvf_tree_fail(b, HVF_TREE_MEMORY, line, "ran out of memory reading it"), NULL;
        b->doc.nodes = nodes;
        b->cap = cap;
    }
    n = &b->doc.nodes[idx];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = line > 0 ? (uint32_t)line : 0;
    n->anchored = anchored;
    if (b->depth > 0) {
        tree_frame *f = &b->stack[b->depth - 1];
        hvf_node *parent = &b->doc.nodes[f->node];

        if (f->last == UINT32_MAX)
            parent->first = (uint32_t)(idx - f->node);
        else
            b->doc.nodes[f->last].next = (uint32_t)(idx - f->last);
        f->last = (uint32_t)idx;
        parent->len++;
    }
    b->doc.nnodes++;
    return n;
}

int
hvf_tree_start(hvf_tree_builder *b, hvf_node_kind kind, int line, bool anchored)
{
    size_t idx = b->doc.nnodes;

    if (b->depth >= HVF_TREE_MAX_DEPTH)
        return hvf_tree_fail(b, HVF_TREE_SYNTAX, line,
                             "expected at most %d levels of nested lists and mappings",
                             HVF_TREE_MAX_DEPTH);
    if (!tree_add(b, kind, line, anchored))
        return -1;
    if (b->depth == b->stack_cap) {
        b->stack_cap = b->stack_cap ? b->stack_cap * 2 : 16;
        b->stack = hvf_realloc(b->stack, b->stack_cap * sizeof(*b->stack));
    }
    b->stack[b->depth].node = (uint32_t)idx;
    b->stack[b->depth].last = UINT32_MAX;
    b->depth++;
    return 0;
}

static bool
tree_same_key(const hvf_node *a, const hvf_node *b)
{
    return a->kind == HVF_NODE_SCALAR && b->kind == HVF_NODE_SCALAR && a->len == b->len &&
           memcmp(a->text, b->text, a->len) == 0;
}

typedef struct tree_key {
    const hvf_node *node;
    size_t order;
} tree_key;

static int
tree_key_cmp(const void *pa, const void *pb)
{
    const tree_key *a = pa, *b = pb;
    bool sa = a->node->kind == HVF_NODE_SCALAR, sb = b->node->kind == HVF_NODE_SCALAR;
    int c;

    /* scalars first, by text; collections and aliases after, in file order, never equal */
    if (sa != sb)
        return sa ? -1 : 1;
    if (!sa)
        return a->order < b->order ? -1 : a->order > b->order;
    if (a->node->len != b->node->len)
        return a->node->len < b->node->len ? -1 : 1;
    c = memcmp(a->node->text, b->node->text, a->node->len);
    if (c != 0)
        return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

/*
 * The first key of @map that repeats an earlier one, or NULL. Only scalar keys compare: a
 * collection as a key is refused later by every reader ("expected a field name").
 */
static const hvf_node *
tree_duplicate_key(const hvf_node *map)
{
    const hvf_node *k, *dup = NULL;
    size_t npairs = map->len / 2, i = 0;
    HVF_AUTOFREE tree_key *keys = NULL;

    if (npairs < 2)
        return NULL;
    if (npairs <= 16) {
        const hvf_node *seen[16];

        for (k = map + map->first; i < npairs; i++) {
            for (size_t j = 0; j < i; j++) {
                if (tree_same_key(seen[j], k))
                    return k;
            }
            seen[i] = k;
            k += k->next;      /* the value */
            if (k->next)
                k += k->next;  /* the next key */
        }
        return NULL;
    }
    keys = hvf_calloc(npairs, sizeof(*keys));
    for (k = map + map->first; i < npairs; i++) {
        keys[i].node = k;
        keys[i].order = i;
        k += k->next;
        if (k->next)
            k += k->next;
    }
    qsort(keys, npairs, sizeof(*keys), tree_key_cmp);
    /* In each run of equal keys the second in file order is a duplicate; report the earliest. */
    for (i = 1; i < npairs; i++) {
        if (keys[i].node->kind == HVF_NODE_SCALAR && keys[i - 1].node->kind == HVF_NODE_SCALAR &&
            tree_key_cmp(&(tree_key){keys[i].node, 0}, &(tree_key){keys[i - 1].node, 0}) == 0 &&
            (!dup || keys[i].node < dup))
            dup = keys[i].node;
    }
    return dup;
}

int
hvf_tree_end(hvf_tree_builder *b)
{
    const hvf_node *map, *dup;

    if (b->status != HVF_TREE_OK)
        return -1;
    HVF_ASSERT(b->depth > 0);
    map = &b->doc.nodes[b->stack[b->depth - 1].node];
    b->depth--;
    if (map->kind == HVF_NODE_MAPPING && (dup = tree_duplicate_key(map)) != NULL)
        return hvf_tree_fail(b, HVF_TREE_SYNTAX, (int)dup->line, "duplicate key");
    return 0;
}

int
hvf_tree_scalar(hvf_tree_builder *b, hvf_node_kind kind, hvf_node_style style, const char *text,
                size_t len, int line, bool anchored)
{
    hvf_node *n;
    const char *t;
    size_t idx;

    if (len > UINT32_MAX)
        return tree_out_of_budget(b, line);
    n = tree_add(b, kind, line, anchored);
    if (!n)
        return -1;
    idx = (size_t)(n - b->doc.nodes);
    t = tree_text(b, text, len, line);
    if (!t)
        return -1;
    n = &b->doc.nodes[idx];
    n->text = t;
    n->len = (uint32_t)len;
    n->style = (uint8_t)style;
    return 0;
}

int
hvf_tree_finish(hvf_tree_builder *b, hvf_doc *out)
{
    hvf_node *nodes;

    if (b->status == HVF_TREE_OK && (b->depth != 0 || b->doc.nnodes == 0))
        hvf_tree_fail(b, HVF_TREE_SYNTAX, 1, "expected a complete document");
    if (b->status != HVF_TREE_OK) {
        hvf_tree_discard(b);
        return -1;
    }
    /* Give back the unused end of the array: up to half of it after the last doubling. */
    nodes = realloc(b->doc.nodes, b->doc.nnodes * sizeof(hvf_node));
    if (nodes)
        b->doc.nodes = nodes;
    *out = b->doc;
    memset(&b->doc, 0, sizeof(b->doc));
    hvf_tree_discard(b);
    return 0;
}

void
hvf_tree_discard(hvf_tree_builder *b)
{
    hvf_doc_free(&b->doc);
    free(b->stack);
    b->stack = NULL;
    b->depth = b->stack_cap = b->cap = 0;
}

/* ---- nodes ---- */

bool
hvf_node_is_scalar(const hvf_node *n)
{
    return n && n->kind == HVF_NODE_SCALAR;
}

bool
hvf_node_is_sequence(const hvf_node *n)
{
    return n && n->kind == HVF_NODE_SEQUENCE;
}

bool
hvf_node_is_mapping(const hvf_node *n)
{
    return n && n->kind == HVF_NODE_MAPPING;
}

bool
hvf_node_is_alias(const hvf_node *n)
{
    return n && n->kind == HVF_NODE_ALIAS;
}

bool
hvf_node_has_anchor(const hvf_node *n)
{
    return n && n->anchored;
}

size_t
hvf_node_count(const hvf_node *n)
{
    if (hvf_node_is_sequence(n))
        return n->len;
    if (hvf_node_is_mapping(n))
        return n->len / 2;
    return 0;
}

hvf_node *
hvf_node_iterate(const hvf_node *seq, void **iter)
{
    const hvf_node *cur = *iter;

    if (!hvf_node_is_sequence(seq))
        return NULL;
    if (!cur)
        cur = seq->first ? seq + seq->first : NULL;
    else
        cur = cur->next ? cur + cur->next : NULL;
    *iter = (void *)cur;
    return (hvf_node *)cur;
}

hvf_node *
hvf_node_item(const hvf_node *seq, size_t i)
{
    void *iter = NULL;
    hvf_node *n;

    if (!hvf_node_is_sequence(seq) || i >= seq->len)
        return NULL;
    while ((n = hvf_node_iterate(seq, &iter)) != NULL && i-- > 0)
        ;
    return n;
}

hvf_node *
hvf_node_pair_iterate(const hvf_node *map, void **iter, hvf_node **value)
{
    const hvf_node *key = *iter;

    *value = NULL;
    if (!hvf_node_is_mapping(map))
        return NULL;
    if (!key) {
        key = map->first ? map + map->first : NULL;
    } else {
        key += key->next; /* its value: keys and values come in pairs */
        key = key->next ? key + key->next : NULL;
    }
    *iter = (void *)key;
    if (key)
        *value = (hvf_node *)(key + key->next);
    return (hvf_node *)key;
}

hvf_node *
hvf_node_lookup(const hvf_node *map, const char *key, size_t len)
{
    void *iter = NULL;
    hvf_node *k, *v;

    if (len == (size_t)-1)
        len = strlen(key);
    while ((k = hvf_node_pair_iterate(map, &iter, &v)) != NULL) {
        if (k->kind == HVF_NODE_SCALAR && k->len == len && memcmp(k->text, key, len) == 0)
            return v;
    }
    return NULL;
}
