/* SPDX-License-Identifier: MIT */
/*
 * GET /: the status page, one self-contained HTML document rendered here from the data the API
 * answers with (the controller's snapshot, the run it carries out, the freeze switch, the
 * store's event feed), refreshed by the browser every 2 s with a meta refresh: no script, no
 * external asset. Every string from outside (inventory names, reasons, event data) goes
 * through page_esc().
 *
 * A browser cannot send a bearer header on a plain page load, so GET /?token=TOKEN checks the
 * token, sets it as an HttpOnly, SameSite=Strict cookie and redirects to / (the token leaves
 * the address bar and the history); the cookie, or a Bearer header, authenticates /. Without
 * either the answer is a 401 page with a form asking for the token. The cookie is read by this
 * page only: the API keeps taking bearer headers alone.
 */
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"

#define PAGE_EVENTS 20
#define PAGE_EVENT_DATA_MAX 160 /* characters of an event's data shown */

/* ---- helpers ---- */

/* Appends @s to @sb with &, <, >, " and ' escaped, so that it is text in an element or an
 * attribute value; control characters other than tab and newline are dropped. */
static void
page_esc(hvf_strbuf *sb, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '&':
            hvf_strbuf_puts(sb, "&amp;");
            break;
        case '<':
            hvf_strbuf_puts(sb, "&lt;");
            break;
        case '>':
            hvf_strbuf_puts(sb, "&gt;");
            break;
        case '"':
            hvf_strbuf_puts(sb, "&quot;");
            break;
        case '\'':
            hvf_strbuf_puts(sb, "&#39;");
            break;
        default:
            if (c >= 0x20 || c == '\t' || c == '\n')
                hvf_strbuf_add(sb, s, 1);
        }
    }
}

/* "2026-12-07 13:12:26 UTC", or "-" for 0. */
static void
page_time(hvf_strbuf *sb, int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    char buf[40];

    if (unix_s <= 0 || !gmtime_r(&t, &tm) ||
        !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm)) {
        hvf_strbuf_puts(sb, "-");
        return;
    }
    hvf_strbuf_puts(sb, buf);
}

/* "1h02m", "3m05s", "42s". */
static void
page_duration(hvf_strbuf *sb, int64_t s)
{
    if (s < 0)
        s = 0;
    if (s >= 3600)
        hvf_strbuf_printf(sb, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
    else if (s >= 60)
        hvf_strbuf_printf(sb, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else
        hvf_strbuf_printf(sb, "%" PRId64 "s", s);
}

/* "12.5 GiB" from MiB. */
static void
page_mib(hvf_strbuf *sb, uint64_t mib)
{
    if (mib >= 1024)
        hvf_strbuf_printf(sb, "%.1f GiB", (double)mib / 1024.0);
    else
        hvf_strbuf_printf(sb, "%" PRIu64 " MiB", mib);
}

/* A bar @pct wide (0..100), in a class for its colour. */
static void
page_bar(hvf_strbuf *sb, const char *cls, double pct)
{
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    hvf_strbuf_printf(sb, "<div class=\"bar %s\"><div style=\"width:%.1f%%\"></div></div>", cls,
                      pct);
}

static const char page_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}"
    "header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;align-items:baseline;"
    "gap:16px;flex-wrap:wrap}"
    "header h1{font-size:20px;margin:0}header span{color:#b8c0cc;font-size:13px}"
    "main{padding:12px 20px;display:grid;grid-template-columns:1fr 1fr;gap:12px}"
    "section{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:10px 14px}"
    "section.wide{grid-column:1/-1}"
    "h2{font-size:15px;margin:0 0 8px}h3{font-size:14px;margin:10px 0 4px}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eceef1;vertical-align:top}"
    "th{font-weight:600;color:#505a69;font-size:12px}td.n,th.n{text-align:right}"
    ".muted{color:#7a8494}.mono{font-family:ui-monospace,monospace;font-size:12px}"
    ".bar{background:#e4e7eb;border-radius:4px;height:10px;min-width:80px;overflow:hidden}"
    ".bar>div{height:100%;background:#3b82f6}.bar.big{height:18px}"
    ".bar.mem>div{background:#64748b}.bar.hot>div{background:#dc6803}"
    ".st{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600}"
    ".st-active{background:#dcfce7;color:#166534}.st-draining{background:#fef3c7;color:#92400e}"
    ".st-maintenance{background:#dbeafe;color:#1e40af}.st-down{background:#fee2e2;color:#991b1b}"
    ".chip{display:inline-block;width:11px;height:11px;border-radius:2px;margin:1px}"
    ".chip.st-active{background:#22c55e}.chip.st-draining{background:#f59e0b}"
    ".chip.st-maintenance{background:#3b82f6}.chip.st-down{background:#ef4444}"
    ".frozen{border-left:6px solid #dc2626}.thawed{border-left:6px solid #16a34a}"
    "#run-progress{font-size:16px;font-weight:600;margin:4px 0}"
    ".legend span{margin-right:10px}.nw{white-space:nowrap}"
    "td.data{font-family:ui-monospace,monospace;font-size:12px;overflow-wrap:anywhere}"
    ".mem-cell{display:flex;align-items:center;gap:8px;white-space:nowrap}"
    ".mem-cell .bar{width:140px;flex:none}";

/* The document's head and header. @title is plain ASCII of ours. */
static void
page_open(hvf_strbuf *sb, const char *title, bool refresh)
{
    hvf_strbuf_puts(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    if (refresh)
        hvf_strbuf_puts(sb, "<meta http-equiv=\"refresh\" content=\"2\">");
    hvf_strbuf_printf(sb,
                      "<meta name=\"viewport\" content=\"width=device-width\">"
                      "<title>%s</title><style>%s</style></head><body>",
                      title, page_css);
}

/* Sets r->response to @sb's text as text/html with @status (the headers http.c adds come on
 * top). */
static int
page_send(hvfd_req *r, int status, hvf_strbuf *sb, const char *location, const char *cookie)
{
    size_t len = sb->len;
    char *text = hvf_strbuf_steal(sb);
    struct MHD_Response *resp;

    if (!text)
        text = hvf_strdup("");
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return hvfd_fail(r, 500, NULL, "the status page could not be answered");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    /* no script runs, nothing is fetched, forms go back here only */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    if (cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    r->response = resp;
    r->status = status;
    r->answered = true;
    return 0;
}

/* 401: a page asking for the token. */
static int
page_login(hvfd_req *r, const char *why)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    page_open(&sb, "hvfleet: sign in", false);
    hvf_strbuf_puts(&sb, "<header><h1>hvfleet</h1><span>status page</span></header><main>"
                         "<section class=\"wide\" id=\"login\"><h2>A token is needed</h2><p>");
    page_esc(&sb, why);
    hvf_strbuf_puts(&sb, "</p><form method=\"get\" action=\"/\"><label>Token (viewer or better, "
                         "from <span class=\"mono\">hvfleet token create</span>): "
                         "<input type=\"password\" name=\"token\" size=\"50\" autocomplete=\"off\" "
                         "required></label> <button type=\"submit\">Show the fleet</button></form>"
                         "</section></main></body></html>\n");
    return page_send(r, 401, &sb, NULL, NULL);
}

/* ---- sections ---- */

static void
page_header(hvf_strbuf *sb, hvfd *d, const hvfd_snap *s, const hvfd_req *r)
{
    time_t now = time(NULL);

    hvf_strbuf_puts(sb, "<header><h1>hvfleet</h1><span>hvfleetd " HVFD_VERSION " &middot; ");
    page_esc(sb, d->driver_uri);
    hvf_strbuf_puts(sb, " &middot; up ");
    page_duration(sb, (int64_t)now - d->started_unix);
    hvf_strbuf_puts(sb, " &middot; fleet as of ");
    if (s)
        page_time(sb, s->at_unix);
    else
        hvf_strbuf_puts(sb, "(not read yet)");
    if (d->cluster) { /* several controllers: which this is, and who leads */
        char leader[64], url[512];

        pthread_mutex_lock(&d->lease_lock);
        hvf_strlcpy(leader, d->leader_name, sizeof(leader));
        hvf_strlcpy(url, d->leader_url, sizeof(url));
        pthread_mutex_unlock(&d->lease_lock);
        hvf_strbuf_puts(sb, " &middot; <span id=\"controller-role\">controller ");
        page_esc(sb, d->ctl_name);
        hvf_strbuf_printf(sb, " %s", hvfd_role(d));
        if (!hvfd_leading(d)) {
            hvf_strbuf_puts(sb, "; the leader is ");
            page_esc(sb, leader[0] ? leader : "none now");
            if (url[0]) {
                hvf_strbuf_puts(sb, " (");
                page_esc(sb, url);
                hvf_strbuf_puts(sb, ")");
            }
        }
        hvf_strbuf_puts(sb, "</span>");
    }
    hvf_strbuf_puts(sb, " &middot; signed in as ");
    page_esc(sb, r->who.name);
    hvf_strbuf_puts(sb, " (");
    page_esc(sb, r->who.role);
    hvf_strbuf_puts(sb, ") &middot; refreshes every 2 s</span></header>");
}

static void
page_freeze(hvf_strbuf *sb, hvfd *d)
{
    hvf_freeze_info fi;
    hvf_error err = HVF_ERROR_INIT;
    int rc = hvf_freeze_status(d->store_loc, &fi, &err);

    hvf_strbuf_printf(sb, "<section id=\"freeze\" class=\"%s\"><h2>Freeze switch</h2>",
                      fi.frozen ? "frozen" : "thawed");
    if (rc < 0) {
        hvf_strbuf_puts(sb, "<p id=\"freeze-state\"><b>frozen</b> (the freeze state cannot be "
                            "read, which counts as frozen): ");
        page_esc(sb, err.msg);
        hvf_strbuf_puts(sb, "</p></section>");
        return;
    }
    if (!fi.frozen) {
        hvf_strbuf_puts(sb, "<p id=\"freeze-state\"><b>not frozen</b>: automation may act.</p>"
                            "<p class=\"muted\">PUT /v1/freeze or <span class=\"mono\">hvfleet "
                            "freeze</span> stops it.</p></section>");
        return;
    }
    hvf_strbuf_puts(sb, "<p id=\"freeze-state\"><b>frozen</b>: no automated action starts.</p>"
                        "<table><tr><th>by</th><td id=\"freeze-by\">");
    page_esc(sb, fi.by);
    hvf_strbuf_puts(sb, "</td></tr><tr><th>since</th><td>");
    page_time(sb, fi.since_unix);
    hvf_strbuf_puts(sb, "</td></tr><tr><th>reason</th><td id=\"freeze-reason\">");
    page_esc(sb, fi.reason);
    hvf_strbuf_puts(sb, "</td></tr></table></section>");
}

/* The run the controller carries out (or carried out last), under d->lock. */
static void
page_run(hvf_strbuf *sb, hvfd *d)
{
    const hvfd_run_view *v = &d->run;
    const hvf_exec_progress *p = &v->p;
    double pct;

    hvf_strbuf_puts(sb, "<section id=\"run\"><h2>Plan run</h2>");
    if (v->id == 0 && strcmp(v->state, "starting") != 0) {
        hvf_strbuf_puts(sb, "<p id=\"run-none\" class=\"muted\">No run since hvfleetd started."
                            "</p></section>");
        return;
    }
    /* as GET /v1/runs/ID computes it */
    pct = p->migrations_total
              ? 100.0 * (double)(p->migrations_done + p->migrations_failed) /
                    (double)p->migrations_total
              : (p->hosts_total
                     ? 100.0 * (double)(p->hosts_done + p->hosts_failed) / (double)p->hosts_total
                     : 0.0);
    hvf_strbuf_printf(sb,
                      "<div id=\"run-progress\" data-run=\"%" PRId64 "\" data-pct=\"%.1f\">"
                      "Run %" PRId64 " &middot; %.1f%% &middot; ",
                      v->id, pct, v->id, pct);
    page_esc(sb, v->state);
    hvf_strbuf_puts(sb, "</div>");
    page_bar(sb, "big", pct);
    hvf_strbuf_puts(sb, "<table><tr><th>plan</th><td class=\"mono\">");
    page_esc(sb, v->kind);
    hvf_strbuf_puts(sb, " ");
    hvf_strbuf_add(sb, v->plan_hash, strnlen(v->plan_hash, 12));
    hvf_strbuf_printf(sb,
                      "</td></tr><tr><th>migrations</th><td id=\"run-migrations\">%zu / %zu "
                      "done",
                      p->migrations_done, p->migrations_total);
    if (p->migrations_failed)
        hvf_strbuf_printf(sb, ", %zu failed", p->migrations_failed);
    hvf_strbuf_printf(sb, ", %zu in flight</td></tr>", p->nmigs);
    hvf_strbuf_printf(sb, "<tr><th>hosts</th><td id=\"run-hosts\">%zu / %zu done", p->hosts_done,
                      p->hosts_total);
    if (p->hosts_failed)
        hvf_strbuf_printf(sb, ", %zu failed", p->hosts_failed);
    hvf_strbuf_printf(sb, ", %zu out of service</td></tr>", p->hosts_active);
    hvf_strbuf_puts(sb, "<tr><th>elapsed</th><td>");
    page_duration(sb, p->now_us / 1000000);
    hvf_strbuf_puts(sb, " (driver time)</td></tr>");
    if (!v->ended_unix) {
        hvf_strbuf_puts(sb, "<tr><th>ETA</th><td id=\"run-eta\">");
        page_duration(sb, p->remaining_us / 1000000);
        hvf_strbuf_puts(sb, " (plan: ");
        page_duration(sb, v->predicted_makespan_us / 1000000);
        hvf_strbuf_puts(sb, " in all)</td></tr>");
    }
    hvf_strbuf_puts(sb, "<tr><th>started</th><td>");
    page_time(sb, v->started_unix);
    hvf_strbuf_puts(sb, "</td></tr>");
    if (v->ended_unix) {
        hvf_strbuf_puts(sb, "<tr><th>ended</th><td>");
        page_time(sb, v->ended_unix);
        hvf_strbuf_puts(sb, "</td></tr>");
    }
    if (v->note[0]) {
        hvf_strbuf_puts(sb, "<tr><th>note</th><td>");
        page_esc(sb, v->note);
        hvf_strbuf_puts(sb, "</td></tr>");
    }
    hvf_strbuf_puts(sb, "</table>");
    if (p->nmigs) {
        hvf_strbuf_puts(sb, "<h3>Migrations in flight</h3><table id=\"run-migs\"><tr><th>VM</th>"
                            "<th>from</th><th>to</th><th>progress</th><th class=\"n\">ETA</th>"
                            "</tr>");
        for (size_t i = 0; i < p->nmigs; i++) {
            const hvf_exec_progress_mig *m = &p->migs[i];

            hvf_strbuf_puts(sb, "<tr><td>");
            page_esc(sb, m->vm);
            hvf_strbuf_puts(sb, "</td><td>");
            page_esc(sb, m->from);
            hvf_strbuf_puts(sb, "</td><td>");
            page_esc(sb, m->to);
            hvf_strbuf_puts(sb, "</td><td>");
            hvf_strbuf_puts(sb, "<div class=\"mem-cell\">");
            /* the executor gives percent (exec-record.c), not a fraction */
            page_bar(sb, m->postcopy ? "hot" : "", m->pct);
            hvf_strbuf_printf(sb, "%.0f%%%s</div></td><td class=\"n\">", m->pct,
                              m->postcopy ? " post-copy" : "");
            if (m->eta_us >= 0)
                page_duration(sb, m->eta_us / 1000000);
            else
                hvf_strbuf_puts(sb, "?");
            hvf_strbuf_puts(sb, "</td></tr>");
        }
        hvf_strbuf_puts(sb, "</table>");
    }
    hvf_strbuf_puts(sb, "</section>");
}

/* The hosts not active, with what the run says of them (under d->lock). */
static void
page_out_of_service(hvf_strbuf *sb, hvfd *d, const hvfd_snap *s)
{
    const hvf_exec_progress *p = &d->run.p;
    size_t n = 0;

    hvf_strbuf_puts(sb, "<section id=\"out-of-service\" class=\"wide\"><h2>Hosts out of service"
                        " <span class=\"muted\">(draining, in maintenance or down)</span>"
                        "</h2>");
    for (size_t i = 0; s && i < s->nhosts; i++) {
        const hvf_drv_host *h = &s->hosts[i];
        int32_t fi = hvf_fleet_find_host(s->fleet, h->name);
        const char *state = hvf_drv_host_state_names[h->state];

        if (h->state == HVF_DRV_HOST_ACTIVE)
            continue;
        if (n++ == 0)
            hvf_strbuf_puts(sb, "<table><tr><th>host</th><th>zone / rack</th><th>state</th>"
                                "<th>in the run</th><th class=\"n\">VMs on it</th>"
                                "<th class=\"n\">memory used</th></tr>");
        hvf_strbuf_puts(sb, "<tr><td class=\"oos-host\">");
        page_esc(sb, h->name);
        hvf_strbuf_puts(sb, "</td><td>");
        if (fi >= 0) {
            page_esc(sb, s->fleet->zones[s->fleet->hosts[fi].zone].name);
            hvf_strbuf_puts(sb, " / ");
            page_esc(sb, s->fleet->racks[s->fleet->hosts[fi].rack].name);
        }
        hvf_strbuf_printf(sb, "</td><td><span class=\"st st-%s\">%s</span></td><td>", state, state);
        for (size_t k = 0; k < p->nhosts; k++) {
            if (p->hosts[k].host && strcmp(p->hosts[k].host, h->name) == 0) {
                page_esc(sb, p->hosts[k].state);
                hvf_strbuf_puts(sb, ", ");
                page_duration(sb, p->hosts[k].remaining_us / 1000000);
                hvf_strbuf_puts(sb, " to go");
            }
        }
        {
            size_t nvms = 0;

            for (size_t v = 0; v < s->nvms; v++)
                nvms += strcmp(s->vms[v].host, h->name) == 0;
            hvf_strbuf_printf(sb, "</td><td class=\"n\">%zu</td><td class=\"n\">", nvms);
        }
        page_mib(sb, h->used_mib);
        hvf_strbuf_puts(sb, "</td></tr>");
    }
    if (n)
        hvf_strbuf_puts(sb, "</table>");
    else
        hvf_strbuf_puts(sb, "<p class=\"muted\" id=\"oos-none\">Every host is active.</p>");
    hvf_strbuf_puts(sb, "</section>");
}

/* Per zone, a table of its racks: hosts per state (a coloured square each), VMs, memory. */
static void
page_fleet(hvf_strbuf *sb, const hvfd_snap *s)
{
    const hvf_fleet *f = s ? s->fleet : NULL;

    hvf_strbuf_puts(sb, "<section id=\"fleet\" class=\"wide\"><h2>Fleet</h2>");
    if (!f) {
        hvf_strbuf_puts(sb, "<p class=\"muted\">The controller has not read the fleet yet."
                            "</p></section>");
        return;
    }
    hvf_strbuf_puts(sb, "<p class=\"legend\">");
    for (int st = 0; st < HVF_DRV_HOST_LAST; st++)
        hvf_strbuf_printf(sb, "<span><span class=\"chip st-%s\"></span> %s</span>",
                          hvf_drv_host_state_names[st], hvf_drv_host_state_names[st]);
    hvf_strbuf_puts(sb, "</p>");
    for (size_t z = 0; z < f->nzones; z++) {
        size_t zcount[HVF_DRV_HOST_LAST] = {0};
        uint64_t zused = 0, zusable = 0;

        hvf_strbuf_puts(sb, "<h3>Zone ");
        page_esc(sb, f->zones[z].name);
        hvf_strbuf_puts(sb, "</h3><table class=\"zone\"><tr><th>rack</th><th>hosts</th>");
        for (int st = 0; st < HVF_DRV_HOST_LAST; st++)
            hvf_strbuf_printf(sb, "<th class=\"n\">%s</th>", hvf_drv_host_state_names[st]);
        hvf_strbuf_puts(sb, "<th class=\"n\">VMs</th><th>memory used / usable</th></tr>");
        for (size_t k = 0; k < f->nracks; k++) {
            size_t count[HVF_DRV_HOST_LAST] = {0}, nvms = 0;
            uint64_t used = 0, usable = 0;

            if (f->racks[k].zone != (int32_t)z)
                continue;
            hvf_strbuf_puts(sb, "<tr><td>");
            page_esc(sb, f->racks[k].name);
            hvf_strbuf_puts(sb, "</td><td>");
            for (size_t i = 0; i < s->nhosts; i++) {
                const hvf_drv_host *h = &s->hosts[i];
                int32_t fi = hvf_fleet_find_host(f, h->name);

                if (fi < 0 || f->hosts[fi].rack != (int32_t)k)
                    continue;
                count[h->state]++;
                used += h->used_mib;
                usable += h->usable_mib;
                for (size_t v = 0; v < s->nvms; v++)
                    nvms += strcmp(s->vms[v].host, h->name) == 0;
                hvf_strbuf_printf(sb, "<span class=\"chip st-%s\" title=\"",
                                  hvf_drv_host_state_names[h->state]);
                page_esc(sb, h->name);
                hvf_strbuf_printf(sb, ": %s\"></span>", hvf_drv_host_state_names[h->state]);
            }
            hvf_strbuf_puts(sb, "</td>");
            for (int st = 0; st < HVF_DRV_HOST_LAST; st++) {
                hvf_strbuf_printf(sb, "<td class=\"n\">%zu</td>", count[st]);
                zcount[st] += count[st];
            }
            hvf_strbuf_printf(sb, "<td class=\"n\">%zu</td><td><div class=\"mem-cell\">", nvms);
            page_bar(sb, "mem", usable ? 100.0 * (double)used / (double)usable : 0);
            page_mib(sb, used);
            hvf_strbuf_puts(sb, " / ");
            page_mib(sb, usable);
            hvf_strbuf_puts(sb, "</div></td></tr>");
            zused += used;
            zusable += usable;
        }
        hvf_strbuf_puts(sb, "<tr><th>zone</th><th></th>");
        for (int st = 0; st < HVF_DRV_HOST_LAST; st++)
            hvf_strbuf_printf(sb, "<th class=\"n\">%zu</th>", zcount[st]);
        hvf_strbuf_puts(sb, "<th></th><th>");
        page_mib(sb, zused);
        hvf_strbuf_puts(sb, " / ");
        page_mib(sb, zusable);
        if (zusable)
            hvf_strbuf_printf(sb, " (%.0f%%)", 100.0 * (double)zused / (double)zusable);
        hvf_strbuf_puts(sb, "</th></tr></table>");
    }
    hvf_strbuf_puts(sb, "</section>");
}

/* One incident of GET /v1/incidents ({"id", "kind", "state", "title", ...}); a missing field is
 * left blank. */
static void
page_incident(hvf_strbuf *sb, json_t *inc)
{
    static const char *const titles[] = {"title", "summary", "message", "reason", NULL};
    json_t *id = json_object_get(inc, "id");
    const char *state = json_string_value(json_object_get(inc, "state"));

    hvf_strbuf_puts(sb, "<tr><td class=\"mono\">");
    if (json_is_string(id))
        page_esc(sb, json_string_value(id));
    else if (json_is_integer(id))
        hvf_strbuf_printf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    hvf_strbuf_puts(sb, "</td><td>");
    page_esc(sb, json_string_value(json_object_get(inc, "kind")));
    hvf_strbuf_puts(sb, "</td><td>");
    for (size_t i = 0; titles[i]; i++) {
        const char *t = json_string_value(json_object_get(inc, titles[i]));

        if (t) {
            page_esc(sb, t);
            break;
        }
    }
    hvf_strbuf_puts(sb, "</td><td>");
    page_esc(sb, state);
    hvf_strbuf_puts(sb, "</td></tr>");
}

/* The open incidents, as GET /v1/incidents answers @r's identity (501 while it is not written:
 * none). */
static void
page_incidents(hvf_strbuf *sb, hvfd_req *r)
{
    hvfd_req *sub = HVF_NEW(hvfd_req);
    char params[2][256];
    int status = 0;
    size_t shown = 0;
    json_t *list = NULL;

    sub->d = r->d;
    sub->conn = r->conn;
    sub->method = "GET";
    memcpy(sub->id, r->id, sizeof(sub->id));
    hvf_strlcpy(sub->path, "/v1/incidents", sizeof(sub->path));
    sub->who = r->who;
    sub->t0_ns = r->t0_ns;
    sub->route = hvfd_route_match("GET", sub->path, params, &status, NULL, 0);
    if (sub->route && (r->who.perms & sub->route->perms) == sub->route->perms)
        sub->route->fn(sub);
    if (sub->status == 200 && sub->json)
        list = json_is_array(sub->json) ? sub->json : json_object_get(sub->json, "incidents");
    hvf_strbuf_puts(sb, "<section id=\"incidents\"><h2>Open incidents</h2>");
    if (json_is_array(list)) {
        size_t i;
        json_t *inc;

        json_array_foreach(list, i, inc)
        {
            const char *state = json_string_value(json_object_get(inc, "state"));

            if (!json_is_object(inc) ||
                (state && (strcmp(state, "closed") == 0 || strcmp(state, "resolved") == 0)))
                continue;
            if (shown++ == 0)
                hvf_strbuf_puts(sb, "<table><tr><th>id</th><th>kind</th><th>what</th><th>state</th>"
                                    "</tr>");
            page_incident(sb, inc);
        }
        if (shown)
            hvf_strbuf_puts(sb, "</table>");
    }
    if (!shown)
        hvf_strbuf_puts(sb, "<p class=\"muted\" id=\"incidents-none\">None.</p>");
    hvf_strbuf_puts(sb, "</section>");
    json_decref(sub->json);
    free(sub->text);
    free(sub->query);
    if (sub->response)
        MHD_destroy_response(sub->response);
    hvf_strbuf_clear(&sub->body);
    free(sub);
}

static void
page_agents(hvf_strbuf *sb, hvfd *d)
{
    hvfd_agent_counts ac;

    hvfd_agents_counts(d, &ac);
    hvf_strbuf_printf(sb,
                      "<section id=\"agents\"><h2>Agents</h2><p><b id=\"agents-connected\">%zu"
                      "</b> connected, %zu suspect, %zu down.</p></section>",
                      ac.by_state[0], ac.by_state[1], ac.by_state[2]);
}

/* An event's data (a JSON object) as "key=value" for its non-empty scalar members, cut at
 * PAGE_EVENT_DATA_MAX characters; what is not an object is shown as it is. */
static void
page_event_data(hvf_strbuf *sb, const char *data)
{
    hvf_strbuf line = HVF_STRBUF_INIT;
    json_t *o = data ? json_loads(data, 0, NULL) : NULL;
    const char *key;
    json_t *v;

    if (!json_is_object(o)) {
        hvf_strbuf_puts(&line, data ? data : "");
    } else {
        json_object_foreach(o, key, v)
        {
            HVF_AUTOFREE char *text = NULL;

            if (json_is_string(v) && json_string_length(v) == 0)
                continue;
            if (json_is_string(v))
                text = hvf_strdup(json_string_value(v));
            else
                text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!text)
                continue;
            hvf_strbuf_printf(&line, "%s%s=%s", line.len ? " " : "", key, text);
        }
    }
    json_decref(o);
    if (line.len > PAGE_EVENT_DATA_MAX) {
        size_t k = PAGE_EVENT_DATA_MAX;

        /* cut before a character, not inside its UTF-8 sequence */
        while (k > 0 && ((unsigned char)line.buf[k] & 0xc0) == 0x80)
            k--;
        line.buf[k] = '\0';
        page_esc(sb, line.buf);
        hvf_strbuf_puts(sb, "&hellip;");
    } else {
        page_esc(sb, line.buf);
    }
    hvf_strbuf_clear(&line);
}

/* The last PAGE_EVENTS events of the store's feed, newest first. */
static void
page_events(hvf_strbuf *sb, hvfd *d)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_event *evs = NULL;
    int64_t last = st ? hvf_store_event_last(st) : -1;
    long n = last >= 0 ? hvf_store_events(st, last > PAGE_EVENTS ? last - PAGE_EVENTS : 0,
                                          PAGE_EVENTS, &evs, &err)
                       : -1;

    hvfd_store_put(d, st);
    hvf_strbuf_puts(sb, "<section id=\"events\" class=\"wide\"><h2>Last events</h2>");
    if (n < 0) {
        hvf_strbuf_puts(sb, "<p>The event feed cannot be read: ");
        page_esc(sb, err.code ? err.msg : "the store did not answer");
        hvf_strbuf_puts(sb, "</p></section>");
        return;
    }
    if (n == 0)
        hvf_strbuf_puts(sb, "<p class=\"muted\">None yet.</p>");
    else
        hvf_strbuf_puts(sb, "<table><tr><th class=\"n\">seq</th><th>at</th><th>type</th>"
                            "<th class=\"n\">run</th><th>data</th></tr>");
    for (long i = n - 1; i >= 0; i--) {
        const hvf_store_event *e = &evs[i];

        hvf_strbuf_printf(sb, "<tr><td class=\"n ev-seq\">%" PRId64 "</td><td class=\"nw\">",
                          e->seq);
        page_time(sb, e->at_unix);
        hvf_strbuf_puts(sb, "</td><td>");
        page_esc(sb, e->type);
        hvf_strbuf_puts(sb, "</td><td class=\"n\">");
        if (e->run)
            hvf_strbuf_printf(sb, "%" PRId64, e->run);
        hvf_strbuf_puts(sb, "</td><td class=\"data\">");
        page_event_data(sb, e->data);
        hvf_strbuf_puts(sb, "</td></tr>");
    }
    if (n > 0)
        hvf_strbuf_puts(sb, "</table>");
    hvf_strbuf_puts(sb, "</section>");
    hvf_store_events_free(evs, (size_t)n);
}

/* ---- the route ---- */

/* A token as `hvfleet token create` makes them: only characters a cookie may carry. */
static bool
page_token_is_plain(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

int
hvfd_api_page(hvfd_req *r)
{
    hvfd *d = r->d;
    HVF_AUTOFREE char *token = hvfd_query(r, "token");
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvfd_snap *s;
    int known = hvfd_auth_browser(r, token);

    if (token) {
        HVF_AUTOFREE char *cookie = NULL;

        if (known != 1 || !page_token_is_plain(token))
            return page_login(r, "That token is not known (revoked, or a typo?).");
        cookie = hvf_asprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s", HVFD_TOKEN_COOKIE,
                              token, d->cfg.tls_cert ? "; Secure" : "");
        hvf_strbuf_puts(&sb, "<!DOCTYPE html>\n<html><body><a href=\"/\">the status page</a>"
                             "</body></html>\n");
        return page_send(r, 303, &sb, "/", cookie);
    }
    if (known == 0)
        return page_login(r, "The status page shows the fleet: give a token to see it.");
    if (known < 0)
        return page_login(r, "The token is not known (revoked, or a typo?): give another.");
    if (!(r->who.perms & HVFD_PERM_READ)) {
        page_open(&sb, "hvfleet: forbidden", false);
        hvf_strbuf_puts(&sb, "<header><h1>hvfleet</h1><span>status page</span></header>"
                             "<main><section class=\"wide\"><h2>Forbidden</h2><p>The token '");
        page_esc(&sb, r->who.name);
        hvf_strbuf_puts(&sb, "' has role ");
        page_esc(&sb, r->who.role);
        hvf_strbuf_puts(&sb,
                        ", which may not read the fleet.</p></section></main></body></html>\n");
        return page_send(r, 403, &sb, NULL, NULL);
    }
    if (hvfd_rate_limit(r) < 0)
        return 0;

    s = hvfd_snap_get(d);
    page_open(&sb, "hvfleet status", true);
    page_header(&sb, d, s, r);
    hvf_strbuf_puts(&sb, "<main>");
    pthread_mutex_lock(&d->lock);
    page_run(&sb, d);
    pthread_mutex_unlock(&d->lock);
    page_freeze(&sb, d);
    pthread_mutex_lock(&d->lock);
    page_out_of_service(&sb, d, s);
    pthread_mutex_unlock(&d->lock);
    page_fleet(&sb, s);
    page_incidents(&sb, r);
    page_agents(&sb, d);
    page_events(&sb, d);
    hvf_strbuf_puts(&sb, "</main></body></html>\n");
    hvfd_snap_unref(s);
    return page_send(r, 200, &sb, NULL, NULL);
}
