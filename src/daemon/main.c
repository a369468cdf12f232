/* SPDX-License-Identifier: MIT */
/* hvfleetd: flags, signals, and the daemon's start and stop. */
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: hvfleetd [--state-dir DIR] [--listen HOST:PORT] [--driver URI]\n"
            "                [--inventory FILE] [--speed N] [--tls-cert FILE --tls-key FILE]\n"
            "                [--config hvfleetd.yaml] [--threads N] [--debug] [--monitor-only]\n"
            "                [--store postgresql://...] [--name NAME] [--advertise-url URL]\n"
            "The hvfleet controller: holds the fleet's state (the store of --state-dir), runs\n"
            "plans with the executor and answers the API (/v1), /metrics and the status page.\n"
            "Defaults: --listen 127.0.0.1:8470 (port 0: any free port, written to\n"
            "STATE/hvfleetd.port), --driver sim:/// (the twin, on --inventory or the built-in\n"
            "fleet), --speed 1 (the twin in real time). SIGTERM stops it; a run in flight is\n"
            "resumed at the next start. --monitor-only: the API, monitors and alerts, no driver\n"
            "(docs/ha.md). --store postgresql://USER@HOST:PORT/DB: the store in PostgreSQL,\n"
            "shared by several hvfleetd of which one leads (a lease) and the others stand by\n"
            "(docs/controller-ha.md). docs/daemon.md, docs/api.md.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"driver", required_argument, NULL, 'D'},
        {"inventory", required_argument, NULL, 'i'},
        {"speed", required_argument, NULL, 's'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, 'C'},
        {"threads", required_argument, NULL, 't'},
        {"debug", no_argument, NULL, 'g'},
        {"monitor-only", no_argument, NULL, 'M'},
        {"store", required_argument, NULL, 'S'},
        {"name", required_argument, NULL, 'N'},
        {"advertise-url", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    hvfd d;
    hvf_error err = HVF_ERROR_INIT;
    sigset_t set;
    int c, sig = 0;

    memset(&d, 0, sizeof(d));
    hvfd_config_init(&d.cfg);
    /* --config first, so that flags given with it win whatever their order */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;

        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (path && hvfd_config_load(&d.cfg, path, &err) < 0) {
            fprintf(stderr, "hvfleetd: --config '%s': %s\n", path, err.msg);
            hvfd_config_clear(&d.cfg);
            return 2;
        }
    }
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'd': free(d.cfg.state_dir); d.cfg.state_dir = hvf_strdup(optarg); break;
        case 'l':
            if (hvfd_config_listen(&d.cfg, optarg, &err) < 0) {
                fprintf(stderr, "hvfleetd: --%s\n", err.msg);
                hvfd_config_clear(&d.cfg);
                return 2;
            }
            break;
        case 'D': free(d.cfg.driver); d.cfg.driver = hvf_strdup(optarg); break;
        case 'i': free(d.cfg.inventory); d.cfg.inventory = hvf_strdup(optarg); break;
        case 'c': free(d.cfg.tls_cert); d.cfg.tls_cert = hvf_strdup(optarg); break;
        case 'k': free(d.cfg.tls_key); d.cfg.tls_key = hvf_strdup(optarg); break;
        case 'C': break;
        case 's':
            d.cfg.speed = strtod(optarg, &end);
            if (*end || !(d.cfg.speed >= 0 && d.cfg.speed <= 1e6)) {
                fprintf(stderr, "hvfleetd: --speed '%s': expected a number from 0 to 1000000\n",
                        optarg);
                hvfd_config_clear(&d.cfg);
                return 2;
            }
            break;
        case 't': {
            long n = strtol(optarg, &end, 10);

            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "hvfleetd: --threads '%s': expected 1 to 64\n", optarg);
                hvfd_config_clear(&d.cfg);
                return 2;
            }
            d.cfg.threads = (unsigned)n;
            break;
        }
        case 'g': d.cfg.log_debug = true; break;
        case 'M': d.cfg.monitor_only = true; break;
        case 'S': free(d.cfg.store); d.cfg.store = hvf_strdup(optarg); break;
        case 'N': free(d.cfg.name); d.cfg.name = hvf_strdup(optarg); break;
        case 'A': free(d.cfg.advertise_url); d.cfg.advertise_url = hvf_strdup(optarg); break;
        case 'h': usage(stdout); hvfd_config_clear(&d.cfg); return 0;
        case 'V': printf("hvfleetd %s\n", HVFD_VERSION); hvfd_config_clear(&d.cfg); return 0;
        default: usage(stderr); hvfd_config_clear(&d.cfg); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hvfleetd: unexpected argument '%s'\n", argv[optind]);
        hvfd_config_clear(&d.cfg);
        return 2;
    }
    hvfd_log_set_debug(d.cfg.log_debug);
    {
        /* a socket per connection, and a few hundred files besides: raise the soft limit to
         * what max_connections needs, as far as the hard limit lets it */
        struct rlimit rl;
        rlim_t want = (rlim_t)d.cfg.max_connections + 512;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    /* signals are taken by sigwait in this thread; every other thread has them blocked */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (hvfd_start(&d, &err) < 0) {
        fprintf(stderr, "hvfleetd: %s\n", err.msg);
        hvfd_stop(&d);
        hvfd_config_clear(&d.cfg);
        return hvf_errcode_exit_status(err.code);
    }
    {
        HVF_AUTOFREE char *port_file = hvf_asprintf("%s/hvfleetd.port", d.state_dir);
        char text[16];
        int n = snprintf(text, sizeof(text), "%d\n", d.port);

        if (hvf_file_write_atomic(port_file, text, (size_t)n, &err) < 0)
            hvfd_log(HVFD_WARN, err.msg, NULL);
    }
    hvfd_log(HVFD_INFO, "listening",
             json_pack("{s:s, s:i, s:s, s:s, s:b}", "host", d.cfg.listen_host, "port", d.port,
                       "state_dir", d.state_dir, "driver", d.driver_uri ? d.driver_uri : "",
                       "tls", d.cfg.tls_cert != NULL));
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
        hvfd_log(HVFD_INFO, "SIGHUP: nothing to reload (restart to read the configuration)",
                 NULL);
    hvfd_log(HVFD_INFO, "stopping", json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    hvfd_stop(&d);
    hvfd_log(HVFD_INFO, "stopped", NULL);
    hvfd_config_clear(&d.cfg);
    return 0;
}
