/* SPDX-License-Identifier: MIT */
/*
 * Replay files and runs: a good file and its round trip, one message per kind of bad input
 * (FILE:LINE: field), a run of the 2017 storm replay (both variants, the storm worse than the
 * fix, same outputs twice), and a variant whose scenario cannot be read.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/units.h"

#define STORM_REPLAY HVF_SRCDIR "/scenarios/2017-maintenance-storm.replay.yaml"

static const char good[] = "schema: hvfleet.replay/v1\n"
                           "name: r1\n"
                           "seed: \"002\"\n"
                           "title: \"Kolab Now: \\\"monitoring\\\" on one host\"\n"
                           "event_type: host_reboot\n"
                           "sim_seed: 7\n"
                           "variants:\n"
                           "  - {label: as it happened, scenario: a.yaml}\n"
                           "  - {label: With hvfleet!, scenario: sub/b.yaml}\n";

static hvf_replay *
t_parse(const char *text, hvf_diags *d, hvf_error *err)
{
    hvf_diags_init(d);
    return hvf_replay_parse("t.yaml", text, strlen(text), "/base", d, err);
}

static void
test_good(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_replay *rp = t_parse(good, &d, &err), *back;
    hvf_strbuf sb = HVF_STRBUF_INIT, sb2 = HVF_STRBUF_INIT;

    assert_non_null(rp);
    assert_string_equal(rp->name, "r1");
    assert_string_equal(rp->seed, "002");
    assert_string_equal(rp->title, "Kolab Now: \"monitoring\" on one host");
    assert_string_equal(rp->event_type, "host_reboot");
    assert_true(rp->has_sim_seed);
    assert_int_equal(rp->sim_seed, 7);
    assert_int_equal(rp->nvariants, 2);
    assert_string_equal(rp->variants[0].dir, "as-it-happened");
    assert_string_equal(rp->variants[1].dir, "with-hvfleet");
    assert_string_equal(rp->variants[1].scenario, "sub/b.yaml");
    assert_int_equal(rp->variants[1].line, 9);
    assert_string_equal(rp->base_dir, "/base");

    hvf_replay_format(rp, &sb);
    back = hvf_replay_parse("t2.yaml", sb.buf, sb.len, NULL, &d, &err);
    assert_non_null(back);
    hvf_replay_format(back, &sb2);
    assert_string_equal(sb.buf, sb2.buf);
    assert_string_equal(back->title, rp->title);
    assert_string_equal(back->variants[1].label, "With hvfleet!");
    hvf_strbuf_clear(&sb);
    hvf_strbuf_clear(&sb2);
    hvf_replay_free(back);
    hvf_replay_free(rp);
    hvf_diags_clear(&d);
}

typedef struct bad_case {
    const char *text;
    const char *expect; /* a substring of the first message */
} bad_case;

#define HEAD "schema: hvfleet.replay/v1\nname: r1\nseed: \"002\"\ntitle: t\n"
#define VARS "variants:\n  - {label: a, scenario: a.yaml}\n"

static const bad_case bad_cases[] = {
    /* a scenario given by mistake: one line, on the schema */
    {"schema: hvfleet.scenario/v1\nname: s\ninventory: f.yaml\nduration: 1h\n",
     "t.yaml:1: schema: 'hvfleet.scenario/v1': expected 'hvfleet.replay/v1'"},
    {"name: r1\nseed: \"1\"\ntitle: t\n" VARS, "t.yaml:1: schema: "},
    {"schema: hvfleet.replay/v1\nseed: \"1\"\ntitle: t\n" VARS, "t.yaml:1: name: "},
    {"schema: hvfleet.replay/v1\nname: 'a b'\nseed: \"1\"\ntitle: t\n" VARS,
     "t.yaml:2: name: 'a b'"},
    {"schema: hvfleet.replay/v1\nname: r\nseed: \"0 2\"\ntitle: t\n" VARS,
     "t.yaml:3: seed: '0 2': expected the incident report's id"},
    {"schema: hvfleet.replay/v1\nname: r\nseed: \"1\"\ntitle: \"a\\nb\"\n" VARS,
     "t.yaml:4: title: "},
    {"schema: hvfleet.replay/v1\nname: r\nseed: \"1\"\ntitle: \"\"\n" VARS, "t.yaml:4: title: "},
    {HEAD "event_type: Host-Crash\n" VARS, "t.yaml:5: event_type: 'Host-Crash'"},
    {HEAD "sim_seed: -3\n" VARS, "t.yaml:5: sim_seed: '-3': expected a whole number"},
    {HEAD "sim_seed: 99999999999999999999999\n" VARS, "t.yaml:5: sim_seed: "},
    {HEAD, "variants: "},
    {HEAD "variants: a.yaml\n", "t.yaml:5: variants: 'a.yaml': expected a list of 1 to 8"},
    /* an empty list has no token to take a line from (libfyaml 0.7): match what follows */
    {HEAD "variants: []\n", "variants: (a list): expected a list of 1 to 8"},
    {HEAD "variants: [{label: a, scenario: a}, {label: b, scenario: a}, {label: c, scenario: a},"
          " {label: d, scenario: a}, {label: e, scenario: a}, {label: f, scenario: a},"
          " {label: g, scenario: a}, {label: h, scenario: a}, {label: i, scenario: a}]\n",
     "t.yaml:5: variants: "},
    {HEAD "variants:\n  - {label: a, scenario: x}\n  - {label: a, scenario: y}\n",
     "t.yaml:7: variants[1].label: 'a': expected a label unlike variant 'a'"},
    {HEAD "variants:\n  - {label: As It Happened, scenario: x}\n"
          "  - {label: as-it-happened, scenario: y}\n",
     "variants[1].label: 'as-it-happened': expected a label unlike variant 'As It Happened' "
     "(directory 'as-it-happened')"},
    {HEAD "variants:\n  - {label: '!!!', scenario: x}\n",
     "t.yaml:6: variants[0].label: '!!!': expected 1 to 40 characters"},
    {HEAD "variants:\n  - {label: a}\n", "t.yaml:6: variants[0].scenario: "},
    {HEAD "variants:\n  - {label: a, scenario: x, weight: 2}\n", "variants[0].weight: "},
    {HEAD "variants:\n  - [a, x]\n", "t.yaml:6: variants[0]: "},
    {HEAD VARS "colour: red\n", "t.yaml:7: colour: "},
    {"- just\n- a list\n", "t.yaml:1: "},
    {"schema: [unclosed\n", "t.yaml:"},
    {"", "t.yaml"},
};

static void
test_bad(void **state)
{
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad_cases); i++) {
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_replay *rp = t_parse(bad_cases[i].text, &d, &err);

        if (rp || d.n == 0 || !strstr(d.lines[0], bad_cases[i].expect))
            fail_msg("case %zu: expected '%s', got '%s' (%s)", i, bad_cases[i].expect,
                     d.n ? d.lines[0] : "nothing", rp ? "parsed" : err.msg);
        assert_int_equal(err.code, HVF_ERR_INVALID);
        for (size_t k = 0; k < d.n; k++)
            assert_null(strchr(d.lines[k], '\n'));
        hvf_diags_clear(&d);
    }
}

static char *
t_tmpdir(void)
{
    char tmpl[] = "/tmp/hvf-replay-XXXXXX";

    assert_non_null(mkdtemp(tmpl));
    return hvf_strdup(tmpl);
}

static char *
t_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    hvf_strbuf sb = HVF_STRBUF_INIT;
    char buf[4096];
    size_t n;

    assert_non_null(f);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        hvf_strbuf_add(&sb, buf, n);
    fclose(f);
    return hvf_strbuf_steal(&sb);
}

static void
t_rmrf(const char *dir)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", dir);

    assert_int_equal(system(cmd), 0);
}

static void
test_run_storm(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_replay *rp;
    hvf_replay_outcome o1, o2;
    HVF_AUTOFREE char *dir = t_tmpdir();
    HVF_AUTOFREE char *out1 = hvf_asprintf("%s/one", dir);
    HVF_AUTOFREE char *out2 = hvf_asprintf("%s/two", dir);
    HVF_AUTOFREE char *p1 = hvf_asprintf("%s/summary.json", out1);
    HVF_AUTOFREE char *p2 = hvf_asprintf("%s/summary.json", out2);
    HVF_AUTOFREE char *e1 = hvf_asprintf("%s/as-it-happened/events.jsonl", out1);
    HVF_AUTOFREE char *e2 = hvf_asprintf("%s/as-it-happened/events.jsonl", out2);
    HVF_AUTOFREE char *s1 = NULL, *s2 = NULL, *ev1 = NULL, *ev2 = NULL;
    hvf_replay_opts opts = {.out_dir = out1};
    json_t *root;

    hvf_diags_init(&d);
    rp = hvf_replay_load(STORM_REPLAY, &d, &err);
    if (!rp)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    assert_int_equal(hvf_replay_run(rp, &opts, &o1, &d, &err), 0);
    opts.out_dir = out2;
    assert_int_equal(hvf_replay_run(rp, &opts, &o2, &d, &err), 0);
    assert_int_equal(o1.n, 2);
    print_message("storm replay: VM-minutes %.1f vs %.1f, VMs down %u vs %u, hosts crashed %u "
                  "vs %u\n",
                  o1.kpis[0].vm_minutes_lost, o1.kpis[1].vm_minutes_lost,
                  o1.kpis[0].vms_down_distinct, o1.kpis[1].vms_down_distinct,
                  o1.kpis[0].hosts_crashed, o1.kpis[1].hosts_crashed);
    /* the first window opens at 30 min in both variants */
    assert_int_equal(o1.kpis[0].event_us, 30 * 60 * HVF_US_PER_S);
    assert_int_equal(o1.kpis[1].event_us, 30 * 60 * HVF_US_PER_S);
    /* the storm: many hosts evacuating at once, targets over-committed, VMs killed */
    assert_true(o1.stats[0].peak_concurrent_evacuations >= 10);
    assert_true(o1.stats[0].hosts_over_committed >= 1);
    assert_true(o1.stats[0].vms_rebooted + o1.stats[0].vms_crashed >= 10);
    assert_true(o1.kpis[0].vms_down_distinct >= 10);
    assert_true(o1.kpis[0].vm_minutes_lost > 100);
    assert_true(o1.kpis[0].hosts_crashed >= 1);
    /* with hvfleet (the planner as the scheduler): nothing over-committed, no VM down, every
     * host maintained within the policy's limits */
    assert_int_equal(o1.stats[1].hosts_over_committed, 0);
    assert_true(o1.stats[1].peak_host_memory_ratio <= 1.0);
    assert_int_equal(o1.stats[1].vms_rebooted + o1.stats[1].vms_crashed, 0);
    assert_int_equal(o1.kpis[1].vms_down_distinct, 0);
    assert_true(o1.kpis[1].vm_minutes_lost == 0.0);
    assert_int_equal(o1.kpis[1].hosts_crashed, 0);
    assert_int_equal(o1.stats[1].hosts_maintained, 30);
    assert_true(o1.stats[1].peak_concurrent_evacuations <= 3);
    /* in runs of the same length (10 h), the storm does not even maintain every host */
    assert_true(o1.stats[0].hosts_maintained < o1.stats[1].hosts_maintained);
    /* nobody is alerted in either; the plan of 30 hosts needed a person, whose approval came
     * after the maintenance opened (not at once), where the storm's windows were nobody's
     * decision */
    assert_int_equal(o1.kpis[0].detection_us, -1);
    assert_int_equal(o1.kpis[0].decision_us, -1);
    assert_true(o1.kpis[1].decision_us > o1.kpis[1].event_us);
    /* deterministic: the same KPIs, the same files */
    assert_memory_equal(o1.kpis, o2.kpis, 2 * sizeof(hvf_incident_kpis));
    s1 = t_slurp(p1);
    s2 = t_slurp(p2);
    assert_string_equal(s1, s2);
    ev1 = t_slurp(e1);
    ev2 = t_slurp(e2);
    assert_string_equal(ev1, ev2);
    root = json_loads(s1, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "schema")),
                        HVF_REPLAY_SUMMARY_SCHEMA);
    assert_string_equal(json_string_value(json_object_get(root, "seed")), "000");
    assert_int_equal(json_array_size(json_object_get(json_object_get(root, "kpis"), "columns")), 2);
    json_decref(root);
    hvf_replay_outcome_clear(&o1);
    hvf_replay_outcome_clear(&o2);
    hvf_replay_free(rp);
    hvf_diags_clear(&d);
    t_rmrf(dir);
}

static void
test_run_missing_variant(void **state)
{
    static const char text[] = "schema: hvfleet.replay/v1\nname: r\nseed: \"9\"\ntitle: t\n"
                               "variants:\n"
                               "  - {label: a, scenario: 2017-maintenance-storm.yaml}\n"
                               "  - {label: b, scenario: no-such-file.yaml}\n";
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_replay *rp;
    hvf_replay_outcome o;
    HVF_AUTOFREE char *dir = t_tmpdir();
    HVF_AUTOFREE char *out = hvf_asprintf("%s/out", dir);
    hvf_replay_opts opts = {.out_dir = out};
    struct stat st;
    bool found = false;

    hvf_diags_init(&d);
    rp = hvf_replay_parse("r.yaml", text, strlen(text), HVF_SRCDIR "/scenarios", &d, &err);
    assert_non_null(rp);
    assert_int_equal(hvf_replay_run(rp, &opts, &o, &d, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    for (size_t i = 0; i < d.n; i++)
        found |=
            strstr(d.lines[i], "r.yaml:7: variants[1].scenario: 'no-such-file.yaml': ") != NULL;
    if (!found)
        fail_msg("no line for the missing scenario: %s", d.n ? d.lines[0] : err.msg);
    /* nothing was run or written */
    assert_int_equal(stat(out, &st), -1);
    assert_int_equal(o.n, 0);
    hvf_replay_free(rp);
    hvf_diags_clear(&d);
    t_rmrf(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_run_storm),
        cmocka_unit_test(test_run_missing_variant),
    };

    hvf_maintenance_register_scheduler(); /* the storm's "with hvfleet" variant needs it */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
