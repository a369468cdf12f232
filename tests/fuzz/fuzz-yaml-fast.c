/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the reader's YAML fast path (src/conf/reader-fast.c): whatever text it
 * accepts, libyaml must accept too and build the very same tree (every node's kind, style,
 * line, links and text), since the fast path's whole claim is that reading a file through it
 * changes nothing but the time.
 */
#include <stdbool.h>
#include <string.h>

#include "conf/reader-priv.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

#define FUZZ_MAX_INPUT (1u << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_tree_builder fb, lb;
    hvf_doc fd = {0}, ld = {0};
    char *text;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    /* as the reader hands it over: NUL-terminated, tabs made spaces */
    text = hvf_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < size; i++) {
        if (text[i] == '\t')
            text[i] = ' ';
    }
    hvf_tree_init(&fb, HVF_CONF_MAX_TREE_BYTES);
    if (hvf_yaml_fast_parse(text, size, &fb) < 0) {
        hvf_tree_discard(&fb);
        free(text);
        return 0;
    }
    if (hvf_tree_finish(&fb, &fd) < 0)
        fuzz_fail("fast path accepted an unfinished document: %s", fb.msg);
    hvf_tree_init(&lb, HVF_CONF_MAX_TREE_BYTES);
    hvf_yaml_parse(text, size, &lb);
    if (lb.status != HVF_TREE_OK || hvf_tree_finish(&lb, &ld) < 0)
        fuzz_fail("fast path accepted what libyaml refuses (line %d: %s)", lb.line, lb.msg);
    if (fd.nnodes != ld.nnodes)
        fuzz_fail("fast path: %zu nodes, libyaml: %zu", fd.nnodes, ld.nnodes);
    for (size_t i = 0; i < fd.nnodes; i++) {
        const hvf_node *a = &fd.nodes[i], *b = &ld.nodes[i];

        if (a->kind != b->kind || a->style != b->style || a->len != b->len ||
            a->line != b->line || a->first != b->first || a->next != b->next ||
            a->anchored != b->anchored || !a->text != !b->text ||
            (a->text && memcmp(a->text, b->text, a->len + 1) != 0))
            fuzz_fail("node %zu differs: fast kind %d style %d line %u len %u '%.*s', libyaml "
                      "kind %d style %d line %u len %u '%.*s'",
                      i, a->kind, a->style, a->line, a->len, a->text ? (int)a->len : 0,
                      a->text ? a->text : "", b->kind, b->style, b->line, b->len,
                      b->text ? (int)b->len : 0, b->text ? b->text : "");
    }
    hvf_doc_free(&fd);
    hvf_doc_free(&ld);
    free(text);
    return 0;
}
