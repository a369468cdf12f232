/* SPDX-License-Identifier: MIT */
/* hvfleetd.yaml's watchers (hvfleet/watchers.h) and their audit against a fleet (audit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/audit.h"
#include "hvfleet/inventory.h"
#include "hvfleet/watchers.h"

static void
test_url_host(void **state)
{
    static const struct {
        const char *url, *want; /* NULL: refused */
    } cases[] = {
        {"http://mon1:9093/hook", "mon1"},
        {"https://user:pw@Hooks.Example.COM/x?t=1", "hooks.example.com"},
        {"http://[fd00::1]:8470/", "fd00::1"},
        {"http://a@b@c:1/", "c"},
        {"https://hc-ping.com", "hc-ping.com"},
        {"http://10.0.0.2:8470?x=@y", "10.0.0.2"},
        {"ftp://x/", NULL},
        {"http://", NULL},
        {"http://:8470/", NULL},
        {"http://user@/", NULL},
        {"http://[::1/", NULL},
        {"http://a b/", NULL},
        {"mon1:9093", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64];
        bool ok = hvf_watcher_url_host(cases[i].url, host, sizeof(host));

        if (ok != (cases[i].want != NULL) || (ok && strcmp(host, cases[i].want) != 0))
            fail_msg("'%s': %s, expected %s", cases[i].url, ok ? host : "refused",
                     cases[i].want ? cases[i].want : "refused");
    }
}

static void
test_parse(void **state)
{
    static const char ok[] = "threads: 4\n"
                             "peers: [\"http://p1:8470\"]\n"
                             "alert_webhooks:\n  - \"http://w1/a\"\n  - \"https://w2/b\"\n"
                             "deadman_url: \"https://dm.example/x\"\n";
    static const char bad[] = "peers:\n  - \"http://p1\"\n  - \"gopher://x\"\n";
    hvf_watchers w;
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_int_equal(hvf_watchers_parse("d.yaml", ok, sizeof(ok) - 1, &w, NULL, &err), 0);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.v[0].kind, HVF_WATCHER_PEER);
    assert_string_equal(w.v[1].host, "w1");
    assert_int_equal(w.v[2].line, 5);
    assert_int_equal(w.v[3].kind, HVF_WATCHER_DEADMAN);
    hvf_watchers_clear(&w);
    hvf_diags_init(&diags);
    assert_int_equal(hvf_watchers_parse("d.yaml", bad, sizeof(bad) - 1, &w, &diags, &err), -1);
    assert_int_equal(w.n, 0);
    assert_int_equal(diags.n, 1);
    assert_string_equal(diags.lines[0], "d.yaml:3: peers[1]: 'gopher://x': expected an http:// or "
                                        "https:// URL with a host");
    hvf_diags_clear(&diags);
}

static void
test_audit(void **state)
{
    static const char inv[] =
        "schema: hvfleet.inventory/v1\n"
        "hosts:\n"
        "  - {name: kvm01, rack: r1, zone: z1, cpus: 8, memory: 32GiB}\n"
        "  - {name: kvm02, rack: r2, zone: z1, cpus: 8, memory: 32GiB,"
        " migration_address: 10.1.0.2}\n"
        "vms:\n"
        "  - {name: mon1, host: kvm01, vcpus: 1, memory: 1GiB}\n";
    static const char conf[] = "peers: [\"http://kvm01.dc.example:8470\", \"http://kvm011:1\"]\n"
                               "alert_webhooks: [\"http://MON1/hook\", \"http://10.1.0.2/\"]\n"
                               "deadman_url: \"https://mon1x.example/\"\n";
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    hvf_watchers w;
    hvf_watch_finding *x = NULL;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    size_t n;

    (void)state;
    hvf_diags_init(&diags);
    f = hvf_inventory_parse("inv.yaml", inv, sizeof(inv) - 1, &diags, &err);
    if (!f)
        fail_msg("%s", err.msg);
    assert_int_equal(hvf_watchers_parse("d.yaml", conf, sizeof(conf) - 1, &w, NULL, &err), 0);
    n = hvf_audit_watchers(f, &w, &x);
    /* kvm01 by its first label, mon1 (a VM) in capitals, kvm02 by its migration address; not
     * kvm011 nor mon1x */
    assert_int_equal(n, 3);
    assert_int_equal(x[0].watcher, 0);
    assert_int_equal(x[0].vm, -1);
    assert_string_equal(f->hosts[x[0].host].name, "kvm01");
    assert_int_equal(x[1].watcher, 2);
    assert_string_equal(f->vms[x[1].vm].name, "mon1");
    assert_string_equal(f->hosts[x[1].host].name, "kvm01");
    assert_int_equal(x[2].watcher, 3);
    assert_string_equal(f->hosts[x[2].host].name, "kvm02");
    hvf_audit_watch_describe(f, &w, &x[1], &sb);
    assert_non_null(strstr(sb.buf, "webhook mon1 (alert_webhooks, line 2) runs on VM mon1, on "
                                   "host kvm01 (rack r1, zone z1)"));
    hvf_strbuf_clear(&sb);
    free(x);
    hvf_watchers_clear(&w);
    hvf_fleet_free(f);
    hvf_diags_clear(&diags);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_host),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
