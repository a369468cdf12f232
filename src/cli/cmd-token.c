/* SPDX-License-Identifier: MIT */
/* hvfleet token: bearer tokens for hvfleetd, made in the state directory's store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"
#include "hvfleet/freeze.h"
#include "hvfleet/store.h"
#include "hvfleet/token.h"

static const char *const token_roles[] = {"viewer", "operator", "approver", "agent", NULL};

static void
token_usage(FILE *out)
{
    fprintf(out,
            "usage: hvfleet token create --role ROLE --name NAME [--host HOST] [--state-dir DIR]\n"
            "       hvfleet token list [--state-dir DIR]\n"
            "       hvfleet token revoke NAME [--state-dir DIR]\n"
            "Bearer tokens for hvfleetd's API. Roles: viewer (reads), operator (plans, runs,\n"
            "freeze, VMs), approver (approvals), agent (one host's agent; --host names it);\n"
            "several may be joined: --role operator,approver. The name is the identity the\n"
            "two-person rule compares: nobody approves a plan they made.\n"
            "create prints the token once; the store keeps only its SHA-256. A running\n"
            "hvfleetd accepts it at once.\n");
}

static int
token_create(const char *dir, const char *role, const char *name, const char *host)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store_token t;
    char tok[64];
    hvf_store *st;
    bool known = false;
    const char *user = getenv("USER");

    for (const char *p = role; p && *p;) {
        size_t n = strcspn(p, ",");

        known = false;
        for (size_t i = 0; token_roles[i]; i++)
            known = known || (strlen(token_roles[i]) == n && strncmp(p, token_roles[i], n) == 0);
        if (!known)
            break;
        p += n;
        if (*p == ',' && *++p == '\0')
            known = false;
    }
    if (!role || !known || strlen(role) >= sizeof(t.role) ||
        (strstr(role, "agent") && strcmp(role, "agent") != 0)) {
        fprintf(stderr,
                "hvfleet: token create: --role '%s': expected viewer, operator, approver or "
                "agent, or several joined by ',' (operator,approver); agent stands alone\n",
                role ? role : "");
        return 2;
    }
    if (!name || !hvf_name_is_valid(name)) {
        fprintf(stderr,
                "hvfleet: token create: --name '%s': expected 1-63 letters, digits, '.', '-' "
                "or '_' (it names who acts, in approvals and the journal)\n",
                name ? name : "");
        return 2;
    }
    if ((strcmp(role, "agent") == 0) != (host != NULL) || (host && !hvf_name_is_valid(host))) {
        fprintf(stderr, "hvfleet: token create: --host: %s\n",
                host ? (strcmp(role, "agent") == 0 ? "expected a host name"
                                                   : "only agent tokens name a host")
                     : "an agent token is for one host: give --host HOST");
        return 2;
    }
    memset(&t, 0, sizeof(t));
    hvf_strlcpy(t.name, name, sizeof(t.name));
    hvf_strlcpy(t.role, role, sizeof(t.role));
    hvf_strlcpy(t.host, host ? host : "", sizeof(t.host));
    hvf_strlcpy(t.by, user && *user ? user : "unknown", sizeof(t.by));
    t.created_unix = (int64_t)time(NULL);
    if (hvf_token_new(tok, t.sha256, &err) < 0 || !(st = hvf_state_open(dir, &err)))
        return hvf_cli_fail(&err);
    if (hvf_store_token_add(st, &t, &err) < 0) {
        hvf_store_close(st);
        return hvf_cli_fail(&err);
    }
    hvf_store_close(st);
    printf("%s\n", tok);
    fprintf(stderr, "token '%s' (%s) made in %s; it is shown only now\n", name, role, dir);
    return 0;
}

int
hvf_cli_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'}, {"name", required_argument, NULL, 'n'},
        {"host", required_argument, NULL, 'H'}, {"state-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *name = NULL, *host = NULL, *dir_arg = NULL, *dir, *verb;
    hvf_error err = HVF_ERROR_INIT;
    int c;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    verb = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': role = optarg; break;
        case 'n': name = optarg; break;
        case 'H': host = optarg; break;
        case 'd': dir_arg = optarg; break;
        case 'h': token_usage(stdout); return 0;
        default: token_usage(stderr); return 2;
        }
    }
    dir = hvf_state_dir(dir_arg);
    if (strcmp(verb, "create") == 0 && optind == argc - 1)
        return token_create(dir, role, name, host);
    if (strcmp(verb, "list") == 0 && optind == argc - 1) {
        hvf_store *st = hvf_state_open(dir, &err);
        hvf_store_token *toks = NULL;
        long n = st ? hvf_store_tokens(st, &toks, &err) : -1;

        hvf_store_close(st);
        if (n < 0)
            return hvf_cli_fail(&err);
        printf("%-24s %-9s %-16s %s\n", "NAME", "ROLE", "HOST", "SHA-256");
        for (long i = 0; i < n; i++)
            printf("%-24s %-9s %-16s %.12s\n", toks[i].name, toks[i].role,
                   toks[i].host[0] ? toks[i].host : "-", toks[i].sha256);
        free(toks);
        return 0;
    }
    if (strcmp(verb, "revoke") == 0 && optind == argc - 2) {
        hvf_store *st = hvf_state_open(dir, &err);
        int rc = st ? hvf_store_token_revoke(st, argv[optind + 1], &err) : -1;

        hvf_store_close(st);
        if (rc < 0)
            return hvf_cli_fail(&err);
        fprintf(stderr, "token '%s' revoked\n", argv[optind + 1]);
        return 0;
    }
    fprintf(stderr, "hvfleet: token: expected create, list or revoke NAME (hvfleet token --help)\n");
    return 2;
}
