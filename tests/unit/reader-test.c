/* SPDX-License-Identifier: MIT */
/*
 * The reader's document side: the memory limit (a file too big to hold says so, never "syntax"),
 * strict JSON, duplicate keys, nesting, the node API the readers walk, and the YAML fast path.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conf/reader-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"
#include "util/text.h"

/* An inventory of @nvms VMs on 4 hosts, in YAML or JSON. */
static char *
make_inventory(size_t nvms, bool json)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_strbuf_puts(&sb, json ? "{\"hosts\": [" : "hosts:\n");
    for (int h = 0; h < 4; h++)
        hvf_strbuf_printf(&sb, json ? "%s{\"name\": \"kvm%d\", \"cpus\": 4096, \"memory\": \"64TiB\"}"
                                    : "%s  - {name: kvm%d, cpus: 4096, memory: 64TiB}\n",
                          json && h ? ", " : "", h);
    hvf_strbuf_puts(&sb, json ? "], \"vms\": [" : "vms:\n");
    for (size_t i = 0; i < nvms; i++)
        hvf_strbuf_printf(&sb, json ? "%s{\"name\": \"vm%zu\", \"host\": \"kvm%zu\", \"vcpus\": 1, "
                                      "\"memory\": \"1GiB\"}"
                                    : "%s  - {name: vm%zu, host: kvm%zu, vcpus: 1, memory: 1GiB}\n",
                          json && i ? ", " : "", i, i % 4);
    if (json)
        hvf_strbuf_puts(&sb, "]}");
    return hvf_strbuf_steal(&sb);
}

/* Item 18: a document over the memory limit is refused as memory, a syntax error as syntax. */
static void
test_memory_limit(void **state)
{
    (void)state;
    for (int json = 0; json <= 1; json++) {
        HVF_AUTOFREE char *text = make_inventory(5000, json);
        const char *name = json ? "big.json" : "big.yaml";
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_fleet *f;
        size_t old;

        /* it reads with the default limit... */
        hvf_diags_init(&d);
        f = hvf_inventory_parse(name, text, strlen(text), &d, &err);
        assert_non_null(f);
        assert_int_equal(f->nvms, 5000);
        hvf_fleet_free(f);
        hvf_diags_clear(&d);

        /* ...and not within 256 KiB: about 13 nodes of 32 bytes a VM, and their text */
        old = hvf_reader_set_memory_limit(256 * 1024);
        hvf_diags_init(&d);
        f = hvf_inventory_parse(name, text, strlen(text), &d, &err);
        hvf_reader_set_memory_limit(old);
        assert_null(f);
        assert_int_equal(d.n, 1);
        assert_non_null(strstr(d.lines[0], ": memory: reading it needs more than 256 KiB of memory"));
        assert_null(strstr(d.lines[0], "syntax"));
        assert_non_null(strstr(err.msg, "cannot be read: reading it needs more than 256 KiB"));
        assert_int_equal(err.code, HVF_ERR_INVALID);
        hvf_diags_clear(&d);
    }
    /* the limit is back to the default */
    assert_int_equal(hvf_reader_set_memory_limit(0), HVF_CONF_MAX_TREE_BYTES);
}

/* Opens @text as @name; returns the first diagnostic (static) or NULL when it parsed. */
static const char *
open_text(const char *name, const char *text, hvf_reader *r)
{
    static char first[600];
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    int rc;

    hvf_diags_init(&d);
    rc = hvf_reader_open_buffer(r, name, text, strlen(text), &d, &err);
    first[0] = '\0';
    if (rc < 0) {
        assert_true(d.n >= 1);
        snprintf(first, sizeof(first), "%s", d.lines[0]);
    }
    hvf_diags_clear(&d);
    return rc < 0 ? first : NULL;
}

/* Item 7: what is not JSON is refused in a JSON document, with line and column. */
static void
test_json_strict(void **state)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"a\": [1, 2,]}", "t.json:1: syntax: expected a value after ',', found ']' (column 13"},
        {"{\"a\": 1,}", "expected a \"key\" after ',', found '}'"},
        {"{\"a\": 1}\n,", "t.json:2: syntax: expected the end of the document, found ','"},
        {"{\"a\" 1}", "expected ':' after a key, found '1'"},
        {"{\"a\": 01}", "expected no digit after a leading 0"},
        {"{\"a\": 1.}", "expected a digit after '.'"},
        {"{\"a\": .5}", "expected a value"},
        {"{\"a\": +1}", "expected a value"},
        {"{\"a\": 1e}", "expected a digit in the exponent"},
        {"{\"a\": NaN}", "expected a value"},
        {"{\"a\": tru}", "expected a value"},
        {"{\"a\": 'x'}", "JSON strings take double quotes"},
        {"{\"a\": \"\\x\"}", "expected one of the escapes"},
        {"{\"a\": \"\\u12G4\"}", "expected 4 hexadecimal digits after \\u"},
        {"{\"a\": \"\\udc00\"}", "expected a high surrogate before a low one"},
        {"{\"a\": \"\\ud800x\"}", "expected \\u and a low surrogate after a high one"},
        {"{\"a\": \"x\ty\"}", "found the control character 0x09"},
        {"{\"a\": \"x\ny\"}", "expected '\"' to end the string on its line"},
        {"{\"a\": \"x", "expected '\"' to end the string, found the end of the file"},
        {"{\"a\": 1, \"a\": 2}", "t.json:1: syntax: duplicate key"},
        {"{\"a\": 1} {\"b\": 2}", "expected the end of the document"},
        {"[1, 2]", NULL},
        {"  \n ", "t.json:1: syntax: expected a YAML or JSON document"},
        {"{\"a\": [\n1,\n2\n", "t.json:4: syntax: expected ',' or ']', found the end of the file"},
    };
    hvf_reader r;

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad); i++) {
        const char *got = open_text("t.json", bad[i].text, &r);

        if (!bad[i].want) {
            assert_null(got);
            hvf_reader_close(&r);
            continue;
        }
        if (!got || !strstr(got, bad[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, got ? got : "(parsed)", bad[i].want);
    }
}

/* JSON decodes escapes, keeps numbers as written, and null/true/false as plain scalars. */
static void
test_json_values(void **state)
{
    hvf_reader r;
    hvf_node *root, *v;
    HVF_AUTOFREE char *s = NULL;

    (void)state;
    assert_null(open_text("v.json",
                          "\xEF\xBB\xBF{\"s\": \"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\", "
                          "\"n\": -1.5e+3, \"z\": null, \"q\": \"null\", \"t\": true, \"e\": {}}",
                          &r));
    root = hvf_reader_root(&r);
    assert_true(hvf_node_is_mapping(root));
    assert_int_equal(hvf_node_count(root), 6);
    s = hvf_reader_scalar_dup(hvf_node_lookup(root, "s", (size_t)-1));
    assert_string_equal(s, "a\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
    free(s);
    s = hvf_reader_scalar_dup(hvf_node_lookup(root, "n", (size_t)-1));
    assert_string_equal(s, "-1.5e+3");
    assert_true(hvf_reader_is_null(hvf_node_lookup(root, "z", (size_t)-1)));
    /* a quoted "null" is a string, not null */
    assert_false(hvf_reader_is_null(hvf_node_lookup(root, "q", (size_t)-1)));
    v = hvf_node_lookup(root, "e", (size_t)-1);
    assert_true(hvf_node_is_mapping(v));
    assert_int_equal(hvf_node_count(v), 0);
    assert_null(hvf_node_lookup(root, "missing", (size_t)-1));
    hvf_reader_close(&r);
}

/* Duplicate keys, in small mappings and in large ones (sorted), at the line of the second. */
static void
test_duplicate_keys(void **state)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_reader r;
    const char *got;

    (void)state;
    for (int i = 0; i < 40; i++)
        hvf_strbuf_printf(&sb, "k%d: %d\n", i == 33 ? 7 : i, i);
    got = open_text("d.yaml", sb.buf, &r);
    assert_non_null(got);
    assert_string_equal(got, "d.yaml:34: syntax: duplicate key");
    hvf_strbuf_clear(&sb);
    for (int i = 0; i < 40; i++)
        hvf_strbuf_printf(&sb, "k%d: %d\n", i, i);
    assert_null(open_text("d.yaml", sb.buf, &r));
    assert_int_equal(hvf_node_count(hvf_reader_root(&r)), 40);
    hvf_reader_close(&r);
    hvf_strbuf_clear(&sb);
    assert_string_equal(open_text("d.yaml", "a: 1\nb: 2\na: 3\n", &r),
                        "d.yaml:3: syntax: duplicate key");
}

/* Nesting is bounded in YAML and JSON alike: no document needs 256 levels. */
static void
test_nesting(void **state)
{
    char deep[1200];
    hvf_reader r;
    const char *got;

    (void)state;
    memset(deep, '[', 600);
    deep[600] = '\0';
    got = open_text("n.yaml", deep, &r);
    assert_non_null(got);
    assert_non_null(strstr(got, "syntax: expected at most 256 levels of nested lists and mappings"));
    got = open_text("n.json", deep, &r);
    assert_non_null(got);
    assert_non_null(strstr(got, "syntax: expected at most 256 levels of nested lists and mappings"));
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    deep[400] = '\0';
    assert_null(open_text("n.json", deep, &r));
    hvf_reader_close(&r);
}

/* The node API over YAML: kinds, items, pairs, aliases and anchors, lines. */
static void
test_nodes(void **state)
{
    hvf_reader r;
    hvf_node *root, *seq, *k, *v;
    void *iter = NULL;
    int n = 0;

    (void)state;
    assert_null(open_text("y.yaml",
                          "# comment\n"
                          "list:\n"
                          "  - a\n"
                          "  - &x b\n"
                          "  - *x\n"
                          "  - 'it''s'\n"
                          "map: {c: 1, d: [2, 3]}\n"
                          "empty:\n",
                          &r));
    root = hvf_reader_root(&r);
    assert_int_equal(hvf_reader_line(root), 2);
    seq = hvf_node_lookup(root, "list", 4);
    assert_true(hvf_node_is_sequence(seq));
    assert_int_equal(hvf_node_count(seq), 4);
    assert_int_equal(hvf_reader_line(seq), 3);
    assert_true(hvf_node_has_anchor(hvf_node_item(seq, 1)));
    assert_true(hvf_node_is_alias(hvf_node_item(seq, 2)));
    assert_false(hvf_node_is_scalar(hvf_node_item(seq, 2)));
    assert_int_equal(hvf_reader_line(hvf_node_item(seq, 3)), 6);
    assert_null(hvf_node_item(seq, 4));
    {
        HVF_AUTOFREE char *s = hvf_reader_scalar_dup(hvf_node_item(seq, 3));
        assert_string_equal(s, "it's");
    }
    while ((k = hvf_node_pair_iterate(root, &iter, &v)) != NULL) {
        assert_true(hvf_node_is_scalar(k));
        n++;
    }
    assert_int_equal(n, 3);
    v = hvf_node_lookup(root, "map", (size_t)-1);
    assert_int_equal(hvf_node_count(hvf_node_lookup(v, "d", (size_t)-1)), 2);
    assert_true(hvf_reader_is_null(hvf_node_lookup(root, "empty", (size_t)-1)));
    assert_int_equal(hvf_reader_line(hvf_node_lookup(root, "empty", (size_t)-1)), 8);
    /* the libfyaml names map onto the same nodes */
    assert_int_equal(fy_node_sequence_item_count(seq), 4);
    assert_ptr_equal(fy_node_mapping_lookup_by_string(root, "list", FY_NT), seq);
    hvf_reader_close(&r);
}


/* ---- the YAML fast path (issue 9) ---- */

/*
 * Reads @text with the fast path and with libyaml. Returns true when the fast path accepted it,
 * after checking that libyaml accepts it too and builds the same nodes.
 */
static bool
fast_same_tree(const char *text, size_t len, const char *what)
{
    HVF_AUTOFREE char *copy = hvf_malloc(len + 1);
    hvf_tree_builder fb, lb;
    hvf_doc fd = {0}, ld = {0};

    memcpy(copy, text, len);
    copy[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (copy[i] == '\t')
            copy[i] = ' '; /* as the reader hands it over */
    }
    hvf_tree_init(&fb, HVF_CONF_MAX_TREE_BYTES);
    if (hvf_yaml_fast_parse(copy, len, &fb) < 0) {
        hvf_tree_discard(&fb);
        return false;
    }
    assert_int_equal(hvf_tree_finish(&fb, &fd), 0);
    hvf_tree_init(&lb, HVF_CONF_MAX_TREE_BYTES);
    hvf_yaml_parse(copy, len, &lb);
    if (lb.status != HVF_TREE_OK)
        fail_msg("%s: the fast path accepted what libyaml refuses: line %d: %s", what, lb.line,
                 lb.msg);
    assert_int_equal(hvf_tree_finish(&lb, &ld), 0);
    assert_int_equal(fd.nnodes, ld.nnodes);
    for (size_t i = 0; i < fd.nnodes; i++) {
        const hvf_node *a = &fd.nodes[i], *b = &ld.nodes[i];

        if (a->kind != b->kind || a->style != b->style || a->len != b->len ||
            a->line != b->line || a->first != b->first || a->next != b->next ||
            (a->text && memcmp(a->text, b->text, a->len) != 0))
            fail_msg("%s: node %zu differs (line %u / %u, '%s' / '%s')", what, i, a->line,
                     b->line, a->text ? a->text : "", b->text ? b->text : "");
    }
    hvf_doc_free(&fd);
    hvf_doc_free(&ld);
    return true;
}

static void
test_yaml_fast_subset(void **state)
{
    HVF_AUTOFREE char *inv = make_inventory(50, false);
    static const char *const inside[] = {
        "a: b\n",
        ("# head\n\nschema: x/v1 # tail\nhosts:\n  - {name: kvm1, tags: [\"a\", 'b'], n: 1.5}\n"
         "  - {}\n  - []\nvms:\n- name: vm1\n  host: kvm1\n\n- {name: vm2, x: {y: [1, [2]]}}\n"),
        "a:\n  b:\n    c: d\n  e: f\ng: h",
        "- a\n- b: c\n  d: e\n-   f: g\n    h: i\n",
        "a:\n- x\n- y\nb: 1\n",
        "k: \"quoted # not a comment\"\n'q': v\n",
        "a: ...\nb: x-y+z/w_.\n",
    };
    static const char *const outside[] = {
        "",                     /* nothing: libyaml says what */
        "# only a comment\n",
        "a\n",                  /* a scalar document */
        "{a: b}\n",             /* a flow root */
        "a: &x 1\nb: *x\n",     /* anchors, aliases */
        "a: !!str 1\n",         /* tags */
        "a: \"x\\ty\"\n",       /* escapes */
        "a: 'it''s'\n",
        "a: two words\n",
        "a: b\n  c\n",          /* a plain scalar over two lines */
        "a:\nb: 1\n",           /* an empty value */
        "a: ~\n",
        "---\na: 1\n",
        "a: 1\n...\n",
        "a: [x, y,]\n",         /* trailing comma */
        "a: [x,\n  y]\n",       /* a flow collection over two lines */
        "a: 1\r\n",
        "a: caf\xc3\xa9\n",
        "# NEL \xc2\x85 is a line break to libyaml\na: 1\n",
        "a: \"x\x01\"\n",
        "a: 1 # \x7f\n",
        "a: 1\na: 2\n",         /* a duplicate key: libyaml's message */
        "a: {b: 1, b: 2}\n",
        "a:b\n",
        "a : b\n",
        "- - a\n",
        "-\n  a\n",
        "? a\n: b\n",
        "a: b#c\n",
        "a:\n  - x\n  b: 1\n",  /* libyaml refuses it */
        "a: 1\n - b\n",
        "a: -1\n",
        "a: {b:1}\n",
        "a: [b: 1]\n",
    };
    HVF_AUTOFREE char *longkey = hvf_malloc(2000);

    (void)state;
    assert_true(fast_same_tree(inv, strlen(inv), "make_inventory"));
    for (size_t i = 0; i < HVF_ARRAY_LEN(inside); i++) {
        if (!fast_same_tree(inside[i], strlen(inside[i]), inside[i]))
            fail_msg("the fast path gave up on: %s", inside[i]);
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(outside); i++) {
        if (fast_same_tree(outside[i], strlen(outside[i]), outside[i]))
            fail_msg("the fast path took: %s", outside[i]);
    }
    /* libyaml refuses implicit keys over 1024 bytes */
    memset(longkey, 'k', 1500);
    memcpy(longkey + 1500, ": v\n", 5);
    assert_false(fast_same_tree(longkey, strlen(longkey), "a long key"));
}

/* Every YAML file of the repository: the fast path takes it with libyaml's tree, or leaves it. */
static size_t
fast_walk(const char *dir, size_t *taken)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        HVF_AUTOFREE char *path = NULL;
        size_t len = strlen(e->d_name);

        if (e->d_name[0] == '.')
            continue;
        path = hvf_asprintf("%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) {
            n += fast_walk(path, taken);
        } else if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
            hvf_error err = HVF_ERROR_INIT;
            size_t size = 0;
            HVF_AUTOFREE char *text = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &size, &err);

            assert_non_null(text);
            *taken += fast_same_tree(text, size, path);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void
test_yaml_fast_files(void **state)
{
    static const char *const dirs[] = {"examples", "scenarios", "tests/conf", "tests/fuzz/corpus"};
    size_t n = 0, taken = 0;

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(dirs); i++) {
        HVF_AUTOFREE char *dir = hvf_asprintf("%s/%s", HVF_SRCDIR, dirs[i]);
        n += fast_walk(dir, &taken);
    }
    print_message("yaml fast path: %zu of %zu files\n", taken, n);
    assert_true(n > 100);
    assert_true(taken > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_limit),   cmocka_unit_test(test_json_strict),
        cmocka_unit_test(test_json_values),    cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_nesting),        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_yaml_fast_subset), cmocka_unit_test(test_yaml_fast_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
