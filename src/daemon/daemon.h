/* SPDX-License-Identifier: MIT */
/*
 * hvfleetd: the controller daemon. One process holds the fleet's state (the store of its state
 * directory), owns the driver connection, runs plans with the executor and answers people and
 * tools over HTTP (/v1, /metrics, the status page). docs/daemon.md and docs/api.md.
 *
 * Contract:
 * - Threads: libmicrohttpd's fixed pool answers requests; one controller thread owns the driver
 *   connection (drivers are single-threaded) and runs the executor; one tailer thread follows
 *   the store's event feed and wakes the requests that wait for events; one reaper thread
 *   (http.c) shuts down connections whose request has not fully arrived within the connection
 *   timeout (slow clients); two alert threads (alerts.c: a sender, a monitor of peers, the
 *   dead-man's switch and the feed). Nothing starts a thread per request, per migration or per
 *   client (seed 001). One daemon per process (http.c keeps the reaper's state).
 * - Requests read the fleet from a snapshot the controller publishes (refcounted, immutable),
 *   never from the driver; what changes the fleet is queued to the controller and answered when
 *   it is done.
 * - The store is the daemon's state: every acknowledged change is committed before the answer
 *   is sent, so SIGKILL at any instant loses nothing acknowledged; a run interrupted by a kill
 *   or SIGTERM is resumed from its journal at the next start.
 * - Bad input is a 4xx with a JSON error naming the field and what was expected; a 5xx means
 *   the daemon itself failed (the store, the driver), never the request.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/alloc.h"
#include "hvfleet/driver.h"
#include "hvfleet/error.h"
#include "hvfleet/exec.h"
#include "hvfleet/fleet.h"
#include "hvfleet/hash.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"

#define HVFD_VERSION "0.1.0"
#define HVFD_DEFAULT_PORT 8470

/* ---- configuration (flags or --config hvfleetd.yaml) ---- */

typedef struct hvfd_config {
    char *state_dir;
    char *listen_host; /* "127.0.0.1" */
    int port;          /* 0: any free port (written to STATE/hvfleetd.port) */
    char *driver;      /* "sim:///" */
    char *inventory;   /* the sim driver's fleet (NULL: built-in, or STATE/inventory.yaml) */
    char *tls_cert, *tls_key;
    double speed;            /* sim: N simulated seconds a wall second; 1 = real time */
    unsigned threads;        /* request threads (4) */
    unsigned max_connections;        /* global (256) */
    unsigned max_connections_per_ip; /* (64) */
    unsigned connection_timeout_s;   /* idle or slow clients are dropped after this (30) */
    size_t max_body;           /* 1 MiB */
    size_t max_inventory_body; /* 16 MiB, PUT /v1/inventory */
    size_t max_url;            /* 2048 */
    double rate_per_s; /* per token: sustained requests a second (50) */
    double rate_burst; /* ... and the burst above it (100) */
    char *maintenance_command; /* what maintaining a host runs; NULL = the driver's default */
    unsigned agent_heartbeat_s;  /* agents sync at least this often (5); suspect after 3 missed */
    unsigned agent_down_after_s; /* silent this long: down (60) */
    /* HA (ha.c, docs/ha.md) */
    int64_t ha_fence_after_us;   /* agents self-fence after this long alone (0: they do not) */
    char *ha_fence_command;      /* fences a lost host ({host}); NULL: none */
    int64_t ha_fence_timeout_us; /* the fence command's (60 s) */
    int64_t ha_fence_quiet_us;   /* between two fences (180 s, oVirt's) */
    double ha_storm_share;       /* this share of hosts lost together is the network's (0.3) */
    unsigned ha_restarts_per_min; /* HA restarts at most (30) */
    bool reconcile_destroy;       /* a VM's copies that lost are destroyed (false: reported) */
    bool reconcile_stop;          /* a VM alive where it should be stopped is stopped */
    bool reconcile_restart;       /* a VM that should run and runs nowhere is started */
    bool reconcile_adopt;         /* a QEMU none of the inventory's is adopted (else reported) */
    unsigned reconcile_actions_per_min; /* reconciliation's actions at most (10) */
    bool log_debug;
    /* alert paths and monitors (alerts.c, docs/ha.md) */
    bool monitor_only;            /* API, monitors and alerts; no driver, no controller */
    char **alert_webhooks;        /* http(s) URLs, each a path of its own */
    size_t nalert_webhooks;
    char *alert_command;          /* /bin/sh -c CMD, the alert JSON on stdin; NULL: none */
    unsigned alert_command_timeout_ms; /* then its process group is killed (10 s) */
    unsigned alert_webhook_timeout_ms; /* one POST, connecting included (5 s) */
    unsigned alert_retries;            /* a webhook's retries of one alert (5) */
    unsigned alert_backoff_ms;         /* before the first retry, doubled each time (1 s) */
    unsigned alert_backoff_max_ms;     /* ... up to this (5 min) */
    unsigned alert_queue;              /* alerts waiting for a path, at most (1024) */
    char *deadman_url;                 /* hit every deadman_every_ms; NULL: none */
    unsigned deadman_every_ms;         /* (5 min) */
    char **peers;                      /* other hvfleetds' base URLs */
    size_t npeers;
    char *peer_token_file;             /* a viewer token for them; NULL: none */
    unsigned peer_every_ms;            /* heartbeat period (5 s) */
    unsigned peer_down_after_ms;       /* silent this long: peer-down (30 s) */
    /* several controllers on one PostgreSQL store (cluster.c, docs/controller-ha.md) */
    char *store;             /* a PostgreSQL URI; NULL: the state directory's SQLite */
    char *name;              /* this controller's (NULL: HOSTNAME:PORT) */
    char *advertise_url;     /* where others reach it (NULL: http(s)://LISTEN_HOST:PORT) */
    unsigned lease_ttl_ms;   /* the leader's lease (10 s) */
    unsigned lease_renew_ms; /* renewed this often (2 s) */
} hvfd_config;

void hvfd_config_init(hvfd_config *c);
void hvfd_config_clear(hvfd_config *c);
/* "HOST:PORT", ":PORT" or "PORT" (0: any free port). */
int hvfd_config_listen(hvfd_config *c, const char *v, hvf_error *err)
    __attribute__((warn_unused_result));
/* An http:// or https:// URL with a host and no blank or control byte. */
bool hvfd_url_ok(const char *u);
/* A controller name: 1 to 48 of [A-Za-z0-9._:-]. */
bool hvfd_controller_name_ok(const char *n);
/* Reads a YAML/JSON config file into @c (keys as the flags, with '_' for '-'). */
int hvfd_config_load(hvfd_config *c, const char *path, hvf_error *err)
    __attribute__((warn_unused_result));

/* ---- logs: one JSON object a line on stderr ---- */

typedef enum hvfd_level { HVFD_DEBUG, HVFD_INFO, HVFD_WARN, HVFD_ERROR } hvfd_level;
void hvfd_log_set_debug(bool on);
/* False when a line of @level would not be written: callers skip building it. */
bool hvfd_log_wanted(hvfd_level level);
/* @fields (may be NULL) is stolen: extra keys of the line. */
void hvfd_log(hvfd_level level, const char *msg, json_t *fields);
void hvfd_logf(hvfd_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the fleet as the controller last saw it ---- */

typedef struct hvfd_snap {
    atomic_int ref;
    int64_t now_us;  /* driver time */
    int64_t at_unix; /* wall time it was taken */
    hvf_drv_host *hosts;
    size_t nhosts;
    hvf_drv_vm *vms;
    size_t nvms;
    hvf_fleet *fleet; /* owned: zones, racks, services and the facts planners read */
} hvfd_snap;

void hvfd_snap_unref(hvfd_snap *s);

/* ---- identities ---- */

typedef enum hvfd_perm {
    HVFD_PERM_NONE = 0,
    HVFD_PERM_READ = 1u << 0,
    HVFD_PERM_OPERATE = 1u << 1, /* plans, runs, freeze, VMs, inventory */
    HVFD_PERM_APPROVE = 1u << 2,
    HVFD_PERM_AGENT = 1u << 3,
} hvfd_perm;

typedef struct hvfd_ident {
    char name[64];
    char role[48];
    char host[128]; /* agents only */
    unsigned perms;
} hvfd_ident;

/* The roles a token may have, NULL-terminated, and what each may do. */
extern const char *const hvfd_role_names[];
unsigned hvfd_role_perms(const char *role);

/* ---- the run the controller carries out ---- */

typedef struct hvfd_run_view {
    int64_t id; /* 0: none since the start */
    char plan_hash[65];
    char kind[16];
    char state[16]; /* "running", "paused", "done", "partial", "aborted", "refused", "failed" */
    char note[512];
    hvf_exec_progress p; /* the last progress (borrowed arrays copied below) */
    hvf_exec_progress_mig *migs;
    hvf_exec_progress_host *hosts;
    char **names; /* the strings the two arrays point to */
    size_t nnames;
    int64_t predicted_makespan_us, actual_makespan_us;
    int64_t started_unix, ended_unix;
    char **hosts_in_plan; /* the run's host set: a second plan touching one is refused */
    size_t nhosts_in_plan;
} hvfd_run_view;

/* ---- the daemon ---- */

typedef struct hvfd_route hvfd_route;
typedef struct hvfd_cmd hvfd_cmd;
typedef struct hvfd_req hvfd_req;
typedef struct hvfd_metrics hvfd_metrics;

typedef struct hvfd_waiter hvfd_waiter;
typedef struct hvfd_alerts hvfd_alerts;

typedef struct hvfd {
    hvfd_config cfg;
    char *state_dir; /* resolved */
    char *driver_uri;
    int lock_fd;     /* flock on STATE/hvfleetd.lock: one daemon per state directory */
    int port;        /* bound */
    int64_t started_unix;
    struct MHD_Daemon *mhd;
    atomic_bool stopping;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* controller: commands queued; waiters: answers */
    hvfd_snap *snap;
    hvfd_run_view run;
    hvfd_cmd *cmds, *cmds_tail;
    bool controller_ready;
    char driver_error[512]; /* why the driver cannot be opened, while it cannot */

    /* stores for request threads: one per thread at a time */
    pthread_mutex_t store_lock;
    hvf_store **stores;
    size_t nstores, stores_cap;

    /* tokens, reloaded from the store when an unknown one is presented */
    pthread_mutex_t tok_lock;
    hvf_store_token *tokens;
    size_t ntokens;
    hvf_hash tok_index; /* sha256 -> index in tokens */
    int64_t tokens_loaded_ms;
    struct hvfd_bucket **buckets; /* per-token rate limits */
    size_t nbuckets, buckets_cap;
    hvf_hash bucket_index; /* token name -> index in buckets */

    /* the event feed: its newest seq, and the requests waiting for more */
    pthread_mutex_t ev_lock;
    pthread_cond_t ev_cond;
    int64_t ev_last;
    hvfd_waiter *waiters; /* feed followers */
    hvfd_waiter *parked;  /* parked answers (hvfd_park): swept 4 times a second, and on a kick */
    int64_t parked_swept_ms;
    bool park_kick; /* hvfd_park_wake: ask the parked whether they are ready (under ev_lock) */
    unsigned nstreams; /* feed followers */
    atomic_uint nparked; /* parked answers not yet sent and closed (hvfd_park): agents' syncs */

    /* hvfleet-agents (agents.c) */
    pthread_mutex_t agent_lock;
    struct hvfd_agent **agents;
    size_t nagents, agents_cap;
    hvf_hash agent_index; /* host -> index in agents */
    /* what agents say, for the agent:// driver while it is open (agent-hub.c) */
    pthread_mutex_t hub_lock;
    pthread_cond_t hub_cond;
    json_t *hub_msgs; /* array, oldest first; NULL while no driver listens */
    int hub_users;    /* drivers attached (two for a moment while one replaces the other) */
    uint64_t hub_dropped; /* progress samples dropped because the driver fell behind */
    hvf_agent_hub hub;

    hvfd_metrics *metrics;
    struct hvfd_ha *ha; /* the controller thread's (ha.c) */
    struct hvfd_rc *rc; /* the controller thread's (reconcile.c) */
    json_t *ha_view, *rc_view; /* what GET /v1/ha shows, under lock */
    char ha_resume_by[64]; /* under lock: POST /v1/ha/resume's caller, for the controller */
    hvfd_alerts *alerts; /* alerts.c; NULL before the start and after the stop */

    pthread_t controller, tailer;
    bool controller_started, tailer_started;

    /* several controllers on one store (cluster.c) */
    char *store_loc; /* the store: the state directory, or --store's URI */
    bool cluster;    /* the store is shared: the lease says who acts */
    char ctl_name[64], instance[64], url[512];
    atomic_llong lead_until_ms;     /* monotonic: this controller acts before it (cluster) */
    atomic_llong lead_term;         /* the lease's term it holds or last held */
    atomic_llong hold_off_until_ms; /* no lease asked before it (after letting it go) */
    pthread_mutex_t lease_lock;     /* guards the four below */
    pthread_cond_t lease_cond;
    hvf_store_lease lease_seen;
    char leader_url[512], leader_name[64];
    pthread_t leaser;
    bool leaser_started, lease_init;
} hvfd;

/* daemon.c */
/* The monotonic clock, for intervals and timeouts. */
int64_t hvfd_mono_ns(void);
int64_t hvfd_mono_ms(void);
/* @ts = now + @ms on the clock pthread_cond_timedwait reads (CLOCK_REALTIME). */
void hvfd_deadline(struct timespec *ts, int ms);
int hvfd_start(hvfd *d, hvf_error *err) __attribute__((warn_unused_result));
void hvfd_stop(hvfd *d);
hvf_store *hvfd_store_get(hvfd *d, hvf_error *err);
void hvfd_store_put(hvfd *d, hvf_store *st);
/* The current snapshot, referenced (hvfd_snap_unref), or NULL before the first. */
hvfd_snap *hvfd_snap_get(hvfd *d);
/* Appends an event to the feed (its JSON @data stolen), through @st, or (NULL) a store of the
 * pool. Errors are logged, not returned: the change it reports is already committed. */
void hvfd_event(hvfd *d, hvf_store *st, const char *type, int64_t run, json_t *data);

/* ---- commands for the controller thread ---- */

typedef enum hvfd_cmd_kind {
    HVFD_CMD_RUN,       /* run a plan (text in @plan_text) */
    HVFD_CMD_RESUME,    /* resume the unfinished run */
    HVFD_CMD_VM_CREATE, /* define and start a VM (@spec_json) */
    HVFD_CMD_VM_START,
    HVFD_CMD_VM_STOP,
    HVFD_CMD_VM_DELETE,
    HVFD_CMD_INVENTORY, /* the desired fleet was replaced: reopen the twin on it */
} hvfd_cmd_kind;

struct hvfd_cmd {
    hvfd_cmd_kind kind;
    char *plan_text, *plan_hash, *by;
    char vm[HVF_DRV_NAME_MAX], host[HVF_DRV_NAME_MAX];
    json_t *spec;
    /* the answer */
    bool done;
    int status; /* HTTP status */
    json_t *result;
    hvf_error err;
    bool detached; /* the request gave up waiting: the controller frees it */
    hvfd_cmd *next;
};

/* Queues @c and waits up to @timeout_ms for its answer. Returns true when answered (then the
 * caller frees @c with hvfd_cmd_free), false when it timed out (the controller frees it). */
bool hvfd_cmd_call(hvfd *d, hvfd_cmd *c, int timeout_ms);
/* hvfd_cmd_call for a request: answers @r itself when the command did not succeed (503 when the
 * controller did not answer in time, @c then being the controller's; its error otherwise, @c
 * freed) and returns false. True: it succeeded, the caller answers and frees @c. */
bool hvfd_cmd_run(hvfd_req *r, hvfd_cmd *c, int timeout_ms);
void hvfd_cmd_free(hvfd_cmd *c);

/* cluster.c: several controllers, one leader (docs/controller-ha.md) */
/* Names this controller and, with a shared store, starts renewing the lease. */
int hvfd_cluster_start(hvfd *d, hvf_error *err) __attribute__((warn_unused_result));
/* After the controller thread ended: stops the renewals and lets the lease go. */
void hvfd_cluster_stop(hvfd *d);
/* True while this controller may act: always with one controller; with several, while its
 * lease holds (on its own clock, a margin before the database's expiry). */
bool hvfd_leading(hvfd *d);
int64_t hvfd_lead_term(hvfd *d);
/* "single", "leader" or "standby". */
const char *hvfd_role(hvfd *d);
/* Lets the lease go now (a leader that cannot act) and asks again only after a hold-off. */
void hvfd_cluster_release(hvfd *d, const char *why);
/* A standby's answer to a request it does not serve (307 to the leader, or 503): -1 when it
 * answered, 0 when the request goes on. */
int hvfd_cluster_gate(hvfd_req *r);
void hvfd_cluster_metrics(hvfd *d, hvf_strbuf *sb);

/* controller.c */
void *hvfd_controller_main(void *arg);
/* True when a run is going (running, not paused or ended); fills @id. */
/* Whether PUT /v1/inventory reopens the driver on the new inventory (sim:/// and agent:///
 * without --inventory), rather than keeping it as the desired fleet. */
bool hvfd_driver_follows_put(const hvfd *d);
bool hvfd_run_busy(hvfd *d, int64_t *id);

/* ---- HTTP ---- */

struct hvfd_req {
    hvfd *d;
    char id[24];
    const char *method;
    char path[2048];
    char *query; /* owned, after '?', or NULL */
    struct MHD_Connection *conn;
    const char *content_type_in; /* the request's Content-Type (borrowed), or NULL */
    const hvfd_route *route;
    char param[2][256]; /* {name} segments */
    hvfd_ident who;
    hvf_strbuf body;
    size_t body_max;
    bool body_too_big;
    int64_t t0_ns;
    /* the answer */
    int status;
    json_t *json;       /* an API answer */
    char *text;         /* or a text answer */
    size_t text_len;
    const char *content_type;
    int retry_after_s;
    char allow[64]; /* 405: the methods the path has */
    char *location; /* 307: where to go (owned) */
    struct MHD_Response *response; /* or a streaming one */
    bool answered;
};

typedef int (*hvfd_handler)(hvfd_req *r);

struct hvfd_route {
    const char *method;
    const char *pattern; /* "/v1/vms/{name}", at most two {params} */
    unsigned perms;      /* what the caller needs; 0 = anyone, no token */
    hvfd_handler fn;
    const char *name;    /* for metrics: the pattern */
    size_t body_max;     /* 0 = the config's max_body */
};

/* route.c: the table and matching */
extern const hvfd_route hvfd_routes[];
extern const size_t hvfd_nroutes;
/* Finds the route for @method and @path. Returns it, or NULL with *status 404 (no such path)
 * or 405 (the path exists for other methods, listed in @allow). */
const hvfd_route *hvfd_route_match(const char *method, const char *path, char params[2][256],
                                   int *status, char *allow, size_t allow_len);

/* http.c */
int hvfd_http_start(hvfd *d, hvf_error *err) __attribute__((warn_unused_result));
void hvfd_http_stop(hvfd *d);

/* answers (handlers return 0; these fill @r) */
int hvfd_reply(hvfd_req *r, int status, json_t *body); /* stolen */
int hvfd_reply_text(hvfd_req *r, int status, const char *ctype, char *text, size_t len); /* stolen */
/* A JSON error: {"error": {"status", "code", "field", "message"}, "request_id"}. @field may be
 * NULL. */
int hvfd_fail(hvfd_req *r, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with @code instead of the status's name (the agents' "re-register"). */
int hvfd_fail_code(hvfd_req *r, int status, const char *code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An hvf_error as an answer: INVALID 400, NOT_FOUND 404, CONFLICT 409, REFUSED 409, CAPACITY
 * 409, UNSUPPORTED 501, IO/INTERNAL 500. */
int hvfd_fail_err(hvfd_req *r, const hvf_error *err);
/* The request's query as "?k=v&..." (escaped again), or "" (owned). */
char *hvfd_req_query_string(const hvfd_req *r);
/* The query parameter @name (owned copy), or NULL. */
char *hvfd_query(const hvfd_req *r, const char *name);

/* body.c: request bodies */
/* Parses the body as one JSON object whose keys are all in @allowed (NULL-terminated). Returns
 * it (owned) or NULL after answering 400/415 naming what is wrong. */
json_t *hvfd_body_object(hvfd_req *r, const char *const *allowed);
/* Field readers: each answers 400 naming "@obj.@key" and returns -1 when the value is there
 * but wrong; 0 with the default when missing and not @required. */
int hvfd_field_string(hvfd_req *r, json_t *obj, const char *key, bool required, size_t max,
                      const char **out);
int hvfd_field_uint(hvfd_req *r, json_t *obj, const char *key, bool required, uint64_t max,
                    uint64_t *out);
int hvfd_field_bool(hvfd_req *r, json_t *obj, const char *key, bool *out);
/* A name as the inventory allows it (hvf_name_is_valid). */
int hvfd_field_name(hvfd_req *r, json_t *obj, const char *key, bool required, const char **out);

/* auth.c */
/* Sets r->who from the Authorization header. Returns 0, or answers 401 and returns -1. */
int hvfd_auth(hvfd_req *r);
/* The status page's cookie, set by GET /?token=TOKEN (page.c). */
#define HVFD_TOKEN_COOKIE "hvfleet_token"
/* For the status page, which answers in HTML itself: sets r->who from @token (a ?token=
 * parameter; may be NULL), else from a Bearer header, else from the hvfleet_token cookie.
 * Returns 1 when the token is known, 0 when none was presented, -1 when it is not known;
 * answers nothing. */
int hvfd_auth_browser(hvfd_req *r, const char *token);
/* Per-token rate limit. Returns 0, or answers 429 with Retry-After and returns -1. */
int hvfd_rate_limit(hvfd_req *r);
void hvfd_auth_clear(hvfd *d);

/* events.c */
void *hvfd_tailer_main(void *arg);
void hvfd_events_clear(hvfd *d);
/* A request answered later, without holding a thread: parked (its connection suspended) until
 * @ops->ready(@ctx) or @wait_ms pass, then answered 200 with @ops->answer(@ctx) (a JSON object,
 * stolen). ready is called with ev_lock held (take no lock that is held while waking);
 * hvfd_park_wake asks every parked request again at once. @ctx is freed by @ops->free. */
typedef struct hvfd_park_ops {
    bool (*ready)(void *ctx);
    json_t *(*answer)(void *ctx);
    void (*free)(void *ctx);
} hvfd_park_ops;
int hvfd_park(hvfd_req *r, int64_t wait_ms, const hvfd_park_ops *ops, void *ctx);
void hvfd_park_wake(hvfd *d);
/* Routes: GET /v1/events (long-poll) and /v1/events/stream (SSE). */
int hvfd_api_events(hvfd_req *r);
int hvfd_api_events_stream(hvfd_req *r);

/* agents.c: hvfleet-agents (docs/agent-protocol.md) */
typedef struct hvfd_agent_counts {
    size_t by_state[3]; /* connected, suspect, down */
    uint64_t dropped_events, dropped_progress, commands_busy, commands_waiting;
    uint64_t max_rss_bytes, max_threads;
} hvfd_agent_counts;
int hvfd_api_agent_sync(hvfd_req *r);
int hvfd_api_agents(hvfd_req *r);
/* Queues a command for @host's agent (@args stolen); fills @id. The agent gets it with its next
 * sync (a parked sync at once). HVF_ERR_NOT_FOUND: no agent registered for the host. */
int hvfd_agent_command(hvfd *d, const char *host, const char *type, json_t *args, char id[64],
                       hvf_error *err) __attribute__((warn_unused_result));
/* Moves hosts whose agent went silent to suspect (3 heartbeats) or down (60 s): the tailer
 * calls it; each change is an event of the feed. */
void hvfd_agents_tick(hvfd *d);
void hvfd_agents_counts(hvfd *d, hvfd_agent_counts *out);
void hvfd_agents_clear(hvfd *d);
/* Each agent's host, liveness (HVFD_AGENT_CONNECTED, _SUSPECT, _DOWN) and last sync, as an
 * owned array (free()); returns how many. */
enum { HVFD_AGENT_CONNECTED, HVFD_AGENT_SUSPECT, HVFD_AGENT_DOWN };
typedef struct hvfd_agent_view {
    char host[HVF_DRV_NAME_MAX];
    int state;
    int64_t last_ms; /* hvfd_mono_ms() of its last sync */
    bool identity_ok;
    json_t *vm_list; /* its last heartbeat's VMs [{name, state: alive|gone|busy}], or NULL */
    json_t *unknown; /* ... and QEMUs none of its VMs [{pid, cmdline}], or NULL */
} hvfd_agent_view;
size_t hvfd_agents_view(hvfd *d, hvfd_agent_view **out);
/* Whether any agent has synced since the start. */
bool hvfd_agents_any(hvfd *d);
void hvfd_agents_view_free(hvfd_agent_view *v, size_t n);
/* Posts one "agent" message per agent to the hub (agent:// driver opened late). */
void hvfd_agents_replay(hvfd *d);

/* ha.c: host failure, fencing, HA restarts, the storm guard (docs/ha.md); controller thread */
void hvfd_ha_tick(hvfd *d, hvf_conn *conn);
int hvfd_api_ha(hvfd_req *r);
/* Whether HA holds back for a storm now (controller thread). */
bool hvfd_ha_storm(const hvfd *d);
/* Whether per-VM remediation is paused: an infrastructure incident (a failed shared dependency,
 * a fleet-wide symptom) that no operator resumed (controller thread). */
bool hvfd_ha_paused(const hvfd *d);
/* Whether @host is in service or fenced: its VMs may start elsewhere (controller thread). */
bool hvfd_ha_host_settled(const hvfd *d, const char *host);
/* Queues @vm (crashed or stopped, HA) for a restart placed by HA; false when it is already
 * queued (controller thread). */
bool hvfd_ha_restart(hvfd *d, hvf_conn *conn, const char *vm, const char *from);
/* POST /v1/ha/resume: per-VM remediation resumes despite the infrastructure incident. */
int hvfd_api_ha_resume(hvfd_req *r);
void hvfd_ha_free(hvfd *d);
/* reconcile.c: what agents report runs against the driver's view (docs/ha.md) */
void hvfd_reconcile(hvfd *d, hvf_conn *conn, const hvfd_agent_view *views, size_t n,
                    int64_t now_ms);
void hvfd_reconcile_free(hvfd *d);

/* agent-hub.c: the hub the agent:// driver reads (hvf_agent_hub in hvfleet/driver.h) */
void hvfd_hub_init(hvfd *d);
void hvfd_hub_clear(hvfd *d);
/* Hands @msg (stolen) to the driver, when one listens; dropped otherwise. */
void hvfd_hub_post(hvfd *d, json_t *msg);
bool hvfd_hub_listening(hvfd *d);

/* alerts.c: alert paths (webhooks, a command hook) and the monitors that raise alerts (peers,
 * a dead-man's switch, the feed's incidents); docs/ha.md. Two threads: a sender, a monitor. */
/* Starts them (after the HTTP side: the instance's name has the bound port). */
int hvfd_alerts_start(hvfd *d, hvf_error *err) __attribute__((warn_unused_result));
/* Joins them (d->stopping set first); hvfd_alerts_clear also frees the state. */
void hvfd_alerts_stop(hvfd *d);
void hvfd_alerts_clear(hvfd *d);
/* Raises an alert: written to the feed (type "alert"), logged, and queued for every path.
 * @severity: "info", "warning" or "critical"; @kind: e.g. "peer-down"; @summary: one line;
 * @details (stolen, may be NULL): a JSON object. Any thread; never blocks on a path. */
void hvfd_alert(hvfd *d, const char *severity, const char *kind, const char *summary,
                json_t *details);
/* The alert and monitor families of /metrics. */
void hvfd_alerts_metrics(hvfd *d, hvf_strbuf *sb);
int hvfd_api_monitors(hvfd_req *r);
int hvfd_api_cluster(hvfd_req *r);

/* metrics.c */
hvfd_metrics *hvfd_metrics_new(void);
void hvfd_metrics_free(hvfd_metrics *m);
void hvfd_metrics_request(hvfd_metrics *m, const char *route, const char *method, int status,
                          double seconds);
void hvfd_metrics_migration(hvfd_metrics *m, const char *result, double predicted_s,
                            double actual_s);
int hvfd_api_metrics(hvfd_req *r);

/* api-*.c: the handlers the route table names */
int hvfd_api_health(hvfd_req *r);
int hvfd_api_version(hvfd_req *r);
int hvfd_api_hosts(hvfd_req *r);
int hvfd_api_host(hvfd_req *r);
int hvfd_api_vms(hvfd_req *r);
int hvfd_api_vm(hvfd_req *r);
int hvfd_api_services(hvfd_req *r);
int hvfd_api_inventory_put(hvfd_req *r);
int hvfd_api_audit(hvfd_req *r);
int hvfd_api_vm_create(hvfd_req *r);
int hvfd_api_vm_action(hvfd_req *r);
int hvfd_api_vm_delete(hvfd_req *r);
int hvfd_api_vm_migrate(hvfd_req *r);
int hvfd_api_plans_post(hvfd_req *r);
int hvfd_api_plan_get(hvfd_req *r);
int hvfd_api_approvals_post(hvfd_req *r);
int hvfd_api_approvals_get(hvfd_req *r);
int hvfd_api_runs_post(hvfd_req *r);
/* Runs the stored plan r->param[0] (a plan hash): the answer of POST /v1/plans/{hash}/runs. */
int hvfd_run_start(hvfd_req *r);
int hvfd_api_run_get(hvfd_req *r);
int hvfd_api_runs_get(hvfd_req *r);
int hvfd_api_run_control(hvfd_req *r);
int hvfd_api_freeze_get(hvfd_req *r);
int hvfd_api_freeze_put(hvfd_req *r);
int hvfd_api_freeze_delete(hvfd_req *r);
int hvfd_api_incidents(hvfd_req *r);
int hvfd_api_openapi(hvfd_req *r);
int hvfd_api_page(hvfd_req *r);
