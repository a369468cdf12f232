/* SPDX-License-Identifier: MIT */
/*
 * Data-driven inventory tests: every tests/conf/inventory/<case>[.<variant>].yaml or .json is
 * loaded and compared with <case>.out.yaml (canonical output of hvf_inventory_format) or
 * <case>.err (the diagnostics, exactly as `hvfleet inventory check` prints them). Inputs that
 * share <case> (the name up to its first dot) share the expected file: that is how the JSON form
 * of a file, or a file spelling out every default, is held to give the same fleet.
 * Every good case must also be a fixed point of format(parse(...)).
 *
 * HVF_TEST_REGENERATE=1 rewrites the expected files from what the parser does now; review the
 * diff by hand before committing. HVF_TEST_DEBUG=1 prints the whole output of failing cases.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"

/* Relative to HVF_SRCDIR: messages name files the way a user in the source tree would. */
#define CASE_DIR "tests/conf/inventory"

typedef struct conf_case {
    char *input; /* CASE_DIR/<base>[.<variant>].<ext> */
    char *out;   /* CASE_DIR/<base>.out.yaml */
    char *err;   /* CASE_DIR/<base>.err */
} conf_case;

static bool
env_is_set(const char *name)
{
    const char *v = getenv(name);

    return v && *v && strcmp(v, "0") != 0;
}

/* Whole file, or NULL when it does not exist. */
static char *
read_file(const char *path)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    FILE *fp = fopen(path, "rb");
    char buf[4096];
    size_t n;

    if (!fp) {
        if (errno != ENOENT)
            fail_msg("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        hvf_strbuf_add(&sb, buf, n);
    if (ferror(fp)) {
        fclose(fp);
        hvf_strbuf_clear(&sb);
        fail_msg("cannot read '%s'", path);
    }
    fclose(fp);
    return hvf_strbuf_steal(&sb);
}

static void
write_file(const char *path, const char *text)
{
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_file_write_atomic(path, text, strlen(text), &err) < 0)
        fail_msg("%s", err.msg);
    print_message("regenerated %s\n", path);
}

/* What `hvfleet inventory check` prints on stderr, via the same hvf_diags_print. */
static char *
diags_text(const hvf_diags *d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    assert_non_null(fp);
    hvf_diags_print(d, fp);
    assert_int_equal(fclose(fp), 0);
    return text;
}

/* Reports the first differing line, which is what one needs to read a failure. */
static void
assert_same_text(const char *what, const char *want, const char *got)
{
    const char *w = want, *g = got;
    int line = 1;

    if (strcmp(want, got) == 0)
        return;
    while (*w && *w == *g) {
        if (*w == '\n')
            line++;
        w++;
        g++;
    }
    while (w > want && w[-1] != '\n') {
        w--;
        g--;
    }
    print_error("%s differs at line %d\n  expected: %.*s\n  got:      %.*s\n", what, line,
                (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
    if (env_is_set("HVF_TEST_DEBUG"))
        print_error("--- whole output ---\n%s--- end ---\n", got);
    fail_msg("%s: output differs from the expected file (HVF_TEST_REGENERATE=1 rewrites it)", what);
}

/* format(parse(text)) must give text back: the canonical form is a fixed point. */
static void
assert_round_trip(const char *input, const char *text)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf again = HVF_STRBUF_INIT;
    hvf_fleet *f;

    hvf_diags_init(&diags);
    f = hvf_inventory_parse("(formatted)", text, strlen(text), &diags, &err);
    if (!f) {
        HVF_AUTOFREE char *d = diags_text(&diags);
        print_error("%s: its formatted output does not parse:\n%s", input, d);
        hvf_diags_clear(&diags);
        fail();
    }
    hvf_inventory_format(f, &again);
    assert_same_text("format(parse(format(parse(input))))", text, again.buf);
    assert_int_equal(hvf_fleet_check(f, true, &err), 0);
    hvf_strbuf_clear(&again);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
}

static void
test_case(void **state)
{
    const conf_case *c = *state;
    bool regen = env_is_set("HVF_TEST_REGENERATE");
    HVF_AUTOFREE char *want_out = read_file(c->out);
    HVF_AUTOFREE char *want_err = read_file(c->err);
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags diags;
    hvf_fleet *f;

    if (!regen && !want_out && !want_err)
        fail_msg("%s: neither %s nor %s exists (HVF_TEST_REGENERATE=1 creates one)", c->input,
                 c->out, c->err);
    if (!regen && want_out && want_err)
        fail_msg("%s: both %s and %s exist; keep the one that applies", c->input, c->out, c->err);

    hvf_diags_init(&diags);
    f = hvf_inventory_load(c->input, &diags, &err);
    if (f) {
        hvf_strbuf out = HVF_STRBUF_INIT;

        assert_int_equal(diags.total, 0);
        hvf_inventory_format(f, &out);
        if (regen) {
            write_file(c->out, out.buf);
            if (want_err)
                assert_int_equal(unlink(c->err), 0);
        } else if (!want_out) {
            print_error("%s parsed, but %s expects:\n%s", c->input, c->err, want_err);
            fail();
        } else {
            assert_same_text(c->out, want_out, out.buf);
        }
        assert_round_trip(c->input, out.buf);
        hvf_strbuf_clear(&out);
        hvf_fleet_free(f);
    } else {
        HVF_AUTOFREE char *got = diags_text(&diags);

        /* A failed parse always says why, in the diagnostics and in @err. */
        assert_int_equal(err.code, HVF_ERR_INVALID);
        assert_true(diags.total > 0);
        assert_non_null(strstr(err.msg, c->input));
        if (regen) {
            write_file(c->err, got);
            if (want_out)
                assert_int_equal(unlink(c->out), 0);
        } else if (!want_err) {
            print_error("%s was expected to parse (%s) but gave:\n%s", c->input, c->out, got);
            fail();
        } else {
            assert_same_text(c->err, want_err, got);
        }
    }
    hvf_diags_clear(&diags);
}

/* An expected file without an input is a leftover from a renamed case. */
static void
test_no_orphans(void **state)
{
    const conf_case *cases = *state;
    DIR *dir = opendir(CASE_DIR);
    struct dirent *de;

    assert_non_null(dir);
    while ((de = readdir(dir)) != NULL) {
        HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", CASE_DIR, de->d_name);
        bool found = false;

        if (de->d_name[0] == '.')
            continue;
        for (const conf_case *c = cases; c->input; c++) {
            if (strcmp(path, c->input) == 0 || strcmp(path, c->out) == 0 ||
                strcmp(path, c->err) == 0)
                found = true;
        }
        if (!found) {
            closedir(dir);
            fail_msg("%s belongs to no case (inputs end in .yaml or .json)", path);
        }
    }
    closedir(dir);
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Input files of CASE_DIR, sorted so runs and regenerations are in a stable order. */
static conf_case *
list_cases(size_t *count)
{
    DIR *dir = opendir(CASE_DIR);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    conf_case *cases;

    if (!dir) {
        fprintf(stderr, "conf-test: cannot open %s: %s\n", CASE_DIR, strerror(errno));
        exit(1);
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || has_suffix(de->d_name, ".out.yaml"))
            continue;
        if (!has_suffix(de->d_name, ".yaml") && !has_suffix(de->d_name, ".json"))
            continue;
        hvf_grow(&names, &cap, n + 1, sizeof(char *));
        names[n++] = hvf_strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(char *), cmp_str);
    cases = hvf_calloc(n + 1, sizeof(conf_case));
    for (size_t i = 0; i < n; i++) {
        size_t base = strcspn(names[i], ".");
        cases[i].input = hvf_asprintf("%s/%s", CASE_DIR, names[i]);
        cases[i].out = hvf_asprintf("%s/%.*s.out.yaml", CASE_DIR, (int)base, names[i]);
        cases[i].err = hvf_asprintf("%s/%.*s.err", CASE_DIR, (int)base, names[i]);
        free(names[i]);
    }
    free(names);
    *count = n;
    return cases;
}

int
main(void)
{
    struct CMUnitTest *tests;
    conf_case *cases;
    size_t n;
    int rc;

    if (chdir(HVF_SRCDIR) < 0) {
        fprintf(stderr, "conf-test: cannot enter %s: %s\n", HVF_SRCDIR, strerror(errno));
        return 1;
    }
    cases = list_cases(&n);
    if (n == 0) {
        fprintf(stderr, "conf-test: no cases in %s\n", CASE_DIR);
        return 1;
    }
    tests = hvf_calloc(n + 1, sizeof(*tests));
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i].input + strlen(CASE_DIR) + 1;
        tests[i].test_func = test_case;
        tests[i].initial_state = &cases[i];
    }
    tests[n].name = "no orphan expected files";
    tests[n].test_func = test_no_orphans;
    tests[n].initial_state = cases;
    rc = _cmocka_run_group_tests("conf/inventory", tests, n + 1, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(cases[i].input);
        free(cases[i].out);
        free(cases[i].err);
    }
    free(cases);
    free(tests);
    return rc;
}
