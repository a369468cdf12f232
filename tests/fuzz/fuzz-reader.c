/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the reader's documents (YAML through libyaml, strict JSON): any bytes,
 * read as a .yaml and as a .json file, either fail with one FILE:LINE message or give a tree
 * whose every node is sound: kinds, counts that match the items, lines within the text,
 * mappings without duplicate scalar keys, NUL-terminated text.
 */
#include <stdbool.h>
#include <string.h>

#include "conf/reader-priv.h"
#include "conf/reader.h"
#include "fuzz.h"
#include "hvfleet/alloc.h"

#define FUZZ_MAX_INPUT (1u << 20)

static void
check_node(const hvf_node *n, int lines, int depth)
{
    size_t count = 0;
    void *iter = NULL;
    hvf_node *k, *v, *item;

    if (depth > HVF_TREE_MAX_DEPTH + 1)
        fuzz_fail("nested deeper than the limit");
    if (hvf_reader_line(n) < 1 || hvf_reader_line(n) > lines)
        fuzz_fail("line %d outside 1..%d", hvf_reader_line(n), lines);
    if (hvf_node_is_scalar(n) || hvf_node_is_alias(n)) {
        if (!n->text || n->text[n->len] != '\0')
            fuzz_fail("scalar text not NUL-terminated");
        return;
    }
    if (hvf_node_is_sequence(n)) {
        while ((item = hvf_node_iterate(n, &iter)) != NULL) {
            check_node(item, lines, depth + 1);
            count++;
        }
    } else if (hvf_node_is_mapping(n)) {
        while ((k = hvf_node_pair_iterate(n, &iter, &v)) != NULL) {
            check_node(k, lines, depth + 1);
            check_node(v, lines, depth + 1);
            if (hvf_node_is_scalar(k) && hvf_node_lookup(n, k->text, k->len) != v)
                fuzz_fail("key '%s' found at another pair: a duplicate", k->text);
            count++;
        }
    } else {
        fuzz_fail("node of no kind");
    }
    if (count != hvf_node_count(n))
        fuzz_fail("count %zu, %zu items", hvf_node_count(n), count);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"fuzz.yaml", "fuzz.json"};
    int lines = 1;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    for (size_t i = 0; i < HVF_ARRAY_LEN(names); i++) {
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_reader r;

        hvf_diags_init(&d);
        if (hvf_reader_open_buffer(&r, names[i], (const char *)data, size, &d, &err) < 0) {
            fuzz_check_error("open", "'fuzz.", &err);
            if (d.n != 1 || strncmp(d.lines[0], names[i], strlen(names[i])) != 0 ||
                strchr(d.lines[0], '\n'))
                fuzz_fail("%zu diagnostics, first: %s", d.n, d.n ? d.lines[0] : "(none)");
        } else {
            check_node(hvf_reader_root(&r), lines, 0);
            hvf_reader_close(&r);
        }
        hvf_diags_clear(&d);
    }
    return 0;
}
