/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics in the Prometheus text exposition format (version 0.0.4): written by hand, as no
 * Prometheus C library is packaged in Debian; `promtool check metrics` checks it in the tests.
 * Every family has HELP and TYPE; label values are escaped; histograms are cumulative with
 * +Inf, _sum and _count.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"

static const double api_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
static const double mig_buckets[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
static const double ratio_buckets[] = {0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 4};

#define NB_API HVF_ARRAY_LEN(api_buckets)
#define NB_MIG HVF_ARRAY_LEN(mig_buckets)
#define NB_RATIO HVF_ARRAY_LEN(ratio_buckets)

typedef struct req_series {
    const char *route, *method; /* route: a pattern (static); method copied below */
    char method_buf[16];
    int code;
    uint64_t count;
} req_series;

typedef struct hist {
    uint64_t b[16];
    uint64_t count;
    double sum;
} hist;

struct hvfd_metrics {
    pthread_mutex_t lock;
    req_series *reqs;
    size_t nreqs, reqs_cap;
    /* latency per route pattern */
    const char **lat_routes;
    hist *lat;
    size_t nlat, lat_cap;
    uint64_t mig_started, mig_completed, mig_failed;
    hist mig_actual, mig_predicted, mig_ratio;
};

hvfd_metrics *
hvfd_metrics_new(void)
{
    hvfd_metrics *m = HVF_NEW(hvfd_metrics);

    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void
hvfd_metrics_free(hvfd_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->reqs);
    free(m->lat_routes);
    free(m->lat);
    free(m);
}

static void
hist_add(hist *h, const double *bounds, size_t nb, double v)
{
    for (size_t i = 0; i < nb; i++)
        if (v <= bounds[i])
            h->b[i]++;
    h->count++;
    h->sum += v;
}

/* Methods are whatever clients send: only the usual ones get a series of their own. */
static const char *
metric_method(const char *m)
{
    static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                        "OPTIONS"};

    for (size_t i = 0; i < HVF_ARRAY_LEN(known); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

void
hvfd_metrics_request(hvfd_metrics *m, const char *route, const char *method, int status,
                     double seconds)
{
    const char *meth = metric_method(method);
    req_series *s = NULL;
    size_t i;

    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->nreqs && !s; i++)
        if (m->reqs[i].route == route && strcmp(m->reqs[i].method, meth) == 0 &&
            m->reqs[i].code == status)
            s = &m->reqs[i];
    if (!s) {
        hvf_grow(&m->reqs, &m->reqs_cap, m->nreqs + 1, sizeof(*m->reqs));
        s = &m->reqs[m->nreqs++];
        memset(s, 0, sizeof(*s));
        s->route = route;
        s->method = meth;
        s->code = status;
    }
    s->count++;
    for (i = 0; i < m->nlat; i++)
        if (m->lat_routes[i] == route)
            break;
    if (i == m->nlat) {
        size_t cap = m->lat_cap;

        hvf_grow(&m->lat_routes, &m->lat_cap, m->nlat + 1, sizeof(*m->lat_routes));
        m->lat = hvf_realloc(m->lat, m->lat_cap * sizeof(*m->lat));
        (void)cap;
        memset(&m->lat[m->nlat], 0, sizeof(*m->lat));
        m->lat_routes[m->nlat++] = route;
    }
    hist_add(&m->lat[i], api_buckets, NB_API, seconds);
    pthread_mutex_unlock(&m->lock);
}

void
hvfd_metrics_migration(hvfd_metrics *m, const char *result, double predicted_s, double actual_s)
{
    pthread_mutex_lock(&m->lock);
    if (strcmp(result, "started") == 0) {
        m->mig_started++;
    } else if (strcmp(result, "failed") == 0) {
        m->mig_failed++;
    } else {
        m->mig_completed++;
        if (actual_s >= 0)
            hist_add(&m->mig_actual, mig_buckets, NB_MIG, actual_s);
        if (predicted_s > 0) {
            hist_add(&m->mig_predicted, mig_buckets, NB_MIG, predicted_s);
            if (actual_s >= 0)
                hist_add(&m->mig_ratio, ratio_buckets, NB_RATIO, actual_s / predicted_s);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- writing ---- */

static void
family(hvf_strbuf *sb, const char *name, const char *type, const char *help)
{
    hvf_strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label_value(hvf_strbuf *sb, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            hvf_strbuf_printf(sb, "\\%c", *v);
        else if (*v == '\n')
            hvf_strbuf_puts(sb, "\\n");
        else
            hvf_strbuf_add(sb, v, 1);
    }
}

static void
num(hvf_strbuf *sb, double v)
{
    if (isnan(v))
        hvf_strbuf_puts(sb, "NaN");
    else if (isinf(v))
        hvf_strbuf_puts(sb, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        hvf_strbuf_printf(sb, "%.0f", v);
    else
        hvf_strbuf_printf(sb, "%.9g", v);
}

static void
hist_write(hvf_strbuf *sb, const char *name, const char *labels, const hist *h,
           const double *bounds, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        hvf_strbuf_printf(sb, "%s_bucket{%s%sle=\"", name, labels, labels[0] ? "," : "");
        num(sb, bounds[i]);
        hvf_strbuf_printf(sb, "\"} %" PRIu64 "\n", h->b[i]);
    }
    hvf_strbuf_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
                      labels[0] ? "," : "", h->count);
    hvf_strbuf_printf(sb, "%s_sum%s%s%s ", name, labels[0] ? "{" : "", labels,
                      labels[0] ? "}" : "");
    num(sb, h->sum);
    hvf_strbuf_printf(sb, "\n%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels,
                      labels[0] ? "}" : "", h->count);
}

static void
metrics_fleet(hvfd *d, hvf_strbuf *sb)
{
    hvfd_snap *s = hvfd_snap_get(d);
    size_t hosts[HVF_DRV_HOST_LAST] = {0}, vms[HVF_DRV_VM_LAST] = {0};
    uint64_t usable = 0, used = 0;

    for (size_t i = 0; s && i < s->nhosts; i++) {
        hosts[s->hosts[i].state]++;
        usable += s->hosts[i].usable_mib;
        used += s->hosts[i].used_mib;
    }
    for (size_t i = 0; s && i < s->nvms; i++)
        vms[s->vms[i].state]++;
    family(sb, "hvfleet_hosts", "gauge", "Hosts by state, as the driver reports them.");
    for (int i = 0; i < HVF_DRV_HOST_LAST; i++)
        hvf_strbuf_printf(sb, "hvfleet_hosts{state=\"%s\"} %zu\n", hvf_drv_host_state_names[i],
                          hosts[i]);
    family(sb, "hvfleet_vms", "gauge", "VMs by state, as the driver reports them.");
    for (int i = 0; i < HVF_DRV_VM_LAST; i++)
        hvf_strbuf_printf(sb, "hvfleet_vms{state=\"%s\"} %zu\n", hvf_drv_vm_state_names[i],
                          vms[i]);
    family(sb, "hvfleet_memory_usable_bytes", "gauge", "Memory the hosts give to VMs.");
    hvf_strbuf_printf(sb, "hvfleet_memory_usable_bytes %" PRIu64 "\n", usable << 20);
    family(sb, "hvfleet_memory_used_bytes", "gauge", "Memory the VMs use.");
    hvf_strbuf_printf(sb, "hvfleet_memory_used_bytes %" PRIu64 "\n", used << 20);
    family(sb, "hvfleet_snapshot_age_seconds", "gauge",
           "Seconds since the controller last read the fleet.");
    hvf_strbuf_printf(sb, "hvfleet_snapshot_age_seconds %" PRId64 "\n",
                      s ? (int64_t)time(NULL) - s->at_unix : -1);
    hvfd_snap_unref(s);
}

static void
metrics_run(hvfd *d, hvf_strbuf *sb)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_claim *claims = NULL;
    uint64_t claimed = 0;
    long n = 0;
    hvfd_run_view *v = &d->run;
    double pct = 0;
    int64_t eta = 0, id;
    bool running;

    pthread_mutex_lock(&d->lock);
    id = v->id;
    running = strcmp(v->state, "running") == 0;
    if (v->p.migrations_total)
        pct = (double)(v->p.migrations_done + v->p.migrations_failed) /
              (double)v->p.migrations_total;
    else if (v->p.hosts_total)
        pct = (double)(v->p.hosts_done + v->p.hosts_failed) / (double)v->p.hosts_total;
    eta = v->p.remaining_us / 1000000;
    pthread_mutex_unlock(&d->lock);
    if (st && id > 0)
        n = hvf_store_claims(st, id, &claims, &err);
    for (long i = 0; i < n; i++)
        claimed += claims[i].mem_mib;
    free(claims);
    hvfd_store_put(d, st);
    family(sb, "hvfleet_claimed_memory_bytes", "gauge",
           "Memory the running plan's migrations hold on their targets.");
    hvf_strbuf_printf(sb, "hvfleet_claimed_memory_bytes %" PRIu64 "\n", claimed << 20);
    family(sb, "hvfleet_run_running", "gauge", "1 while a plan runs.");
    hvf_strbuf_printf(sb, "hvfleet_run_running %d\n", running);
    family(sb, "hvfleet_run_progress_ratio", "gauge",
           "Share of the current or last run's migrations (else hosts) finished.");
    hvf_strbuf_puts(sb, "hvfleet_run_progress_ratio ");
    num(sb, pct);
    hvf_strbuf_puts(sb, "\n");
    family(sb, "hvfleet_run_eta_seconds", "gauge", "Predicted seconds to the end of the run.");
    hvf_strbuf_printf(sb, "hvfleet_run_eta_seconds %" PRId64 "\n", running ? eta : 0);
}

int
hvfd_api_metrics(hvfd_req *r)
{
    hvfd *d = r->d;
    hvfd_metrics *m = d->metrics;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_strbuf labels = HVF_STRBUF_INIT;
    unsigned followers;
    size_t queue = 0;

    family(&sb, "hvfleet_build_info", "gauge", "hvfleetd's version.");
    hvf_strbuf_printf(&sb, "hvfleet_build_info{version=\"%s\"} 1\n", HVFD_VERSION);
    family(&sb, "hvfleet_start_time_seconds", "gauge", "When hvfleetd started (Unix time).");
    hvf_strbuf_printf(&sb, "hvfleet_start_time_seconds %" PRId64 "\n", d->started_unix);
    metrics_fleet(d, &sb);
    metrics_run(d, &sb);
    family(&sb, "hvfleet_frozen", "gauge", "1 while the fleet is frozen.");
    hvf_strbuf_printf(&sb, "hvfleet_frozen %d\n", hvf_freeze_is_frozen(d->store_loc));
    hvfd_cluster_metrics(d, &sb);
    pthread_mutex_lock(&d->lock);
    for (hvfd_cmd *c = d->cmds; c; c = c->next)
        queue++;
    pthread_mutex_unlock(&d->lock);
    pthread_mutex_lock(&d->ev_lock);
    followers = d->nstreams;
    pthread_mutex_unlock(&d->ev_lock);
    family(&sb, "hvfleet_controller_queue_depth", "gauge",
           "Commands waiting for the controller thread.");
    hvf_strbuf_printf(&sb, "hvfleet_controller_queue_depth %zu\n", queue);
    family(&sb, "hvfleet_event_followers", "gauge",
           "Connections following the event feed (long-poll and SSE).");
    hvf_strbuf_printf(&sb, "hvfleet_event_followers %u\n", followers);
    {
        hvfd_agent_counts ac;

        hvfd_agents_counts(d, &ac);
        family(&sb, "hvfleet_agents_connected", "gauge",
               "hvfleet-agents that synced within 3 heartbeats.");
        hvf_strbuf_printf(&sb, "hvfleet_agents_connected %zu\n", ac.by_state[0]);
        family(&sb, "hvfleet_agents", "gauge", "Agents known to this daemon, by state.");
        hvf_strbuf_printf(&sb,
                          "hvfleet_agents{state=\"connected\"} %zu\n"
                          "hvfleet_agents{state=\"suspect\"} %zu\n"
                          "hvfleet_agents{state=\"down\"} %zu\n",
                          ac.by_state[0], ac.by_state[1], ac.by_state[2]);
        family(&sb, "hvfleet_agent_dropped", "gauge",
               "What the agents dropped, as their last heartbeats count it, summed.");
        hvf_strbuf_printf(&sb,
                          "hvfleet_agent_dropped{what=\"events\"} %" PRIu64 "\n"
                          "hvfleet_agent_dropped{what=\"progress\"} %" PRIu64 "\n"
                          "hvfleet_agent_dropped{what=\"commands_busy\"} %" PRIu64 "\n",
                          ac.dropped_events, ac.dropped_progress, ac.commands_busy);
        family(&sb, "hvfleet_agent_commands_waiting", "gauge",
               "Commands queued for agents and not answered yet.");
        hvf_strbuf_printf(&sb, "hvfleet_agent_commands_waiting %" PRIu64 "\n",
                          ac.commands_waiting);
        family(&sb, "hvfleet_agent_max_rss_bytes", "gauge",
               "The largest RSS an agent reported in its last heartbeat.");
        hvf_strbuf_printf(&sb, "hvfleet_agent_max_rss_bytes %" PRIu64 "\n", ac.max_rss_bytes);
        family(&sb, "hvfleet_agent_max_threads", "gauge",
               "The most threads an agent reported in its last heartbeat.");
        hvf_strbuf_printf(&sb, "hvfleet_agent_max_threads %" PRIu64 "\n", ac.max_threads);
    }

    hvfd_alerts_metrics(d, &sb);
    pthread_mutex_lock(&m->lock);
    family(&sb, "hvfleet_migrations_total", "counter", "Migrations by what became of them.");
    hvf_strbuf_printf(&sb,
                      "hvfleet_migrations_total{result=\"started\"} %" PRIu64 "\n"
                      "hvfleet_migrations_total{result=\"completed\"} %" PRIu64 "\n"
                      "hvfleet_migrations_total{result=\"failed\"} %" PRIu64 "\n",
                      m->mig_started, m->mig_completed, m->mig_failed);
    family(&sb, "hvfleet_migrations_running", "gauge", "Migrations in flight.");
    hvf_strbuf_printf(&sb, "hvfleet_migrations_running %" PRIu64 "\n",
                      m->mig_started > m->mig_completed + m->mig_failed
                          ? m->mig_started - m->mig_completed - m->mig_failed
                          : 0);
    family(&sb, "hvfleet_migration_duration_seconds", "histogram",
           "How long completed migrations took.");
    hist_write(&sb, "hvfleet_migration_duration_seconds", "", &m->mig_actual, mig_buckets, NB_MIG);
    family(&sb, "hvfleet_migration_predicted_seconds", "histogram",
           "How long the plan predicted completed migrations would take.");
    hist_write(&sb, "hvfleet_migration_predicted_seconds", "", &m->mig_predicted, mig_buckets,
               NB_MIG);
    family(&sb, "hvfleet_migration_actual_over_predicted", "histogram",
           "Actual over predicted duration of each completed migration.");
    hist_write(&sb, "hvfleet_migration_actual_over_predicted", "", &m->mig_ratio, ratio_buckets,
               NB_RATIO);
    family(&sb, "hvfleet_api_requests_total", "counter", "API requests by route, method and code.");
    for (size_t i = 0; i < m->nreqs; i++) {
        hvf_strbuf_puts(&sb, "hvfleet_api_requests_total{route=\"");
        label_value(&sb, m->reqs[i].route);
        hvf_strbuf_printf(&sb, "\",method=\"%s\",code=\"%d\"} %" PRIu64 "\n", m->reqs[i].method,
                          m->reqs[i].code, m->reqs[i].count);
    }
    family(&sb, "hvfleet_api_request_duration_seconds", "histogram",
           "API request latency by route.");
    for (size_t i = 0; i < m->nlat; i++) {
        labels.len = 0;
        if (labels.buf)
            labels.buf[0] = '\0';
        hvf_strbuf_puts(&labels, "route=\"");
        label_value(&labels, m->lat_routes[i]);
        hvf_strbuf_puts(&labels, "\"");
        hist_write(&sb, "hvfleet_api_request_duration_seconds", labels.buf, &m->lat[i],
                   api_buckets, NB_API);
    }
    pthread_mutex_unlock(&m->lock);
    hvf_strbuf_clear(&labels);
    {
        size_t len = sb.len;

        return hvfd_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                               hvf_strbuf_steal(&sb), len);
    }
}
