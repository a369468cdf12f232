/* SPDX-License-Identifier: MIT */
/*
 * The lab's network (lab.h): one bridge in the root namespace with SUBNET.1/24, and per host a
 * network namespace holding one end of a veth pair (eth0, SUBNET.(10+i)/24, lo up), the other
 * end on the bridge. Each host's NIC is a token bucket (tc tbf) at its rate on both ends: in the
 * namespace it shapes what the host sends, on the bridge side what it receives, as a
 * full-duplex NIC would. Nothing routes out: no default route, no NAT, no forwarding change.
 */
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/lab.h"
#include "hvfleet/alloc.h"

/* tbf's bucket: 5 ms at the rate, at least 64 KiB (a GSO segment must fit); 50 ms of queue. */
#define LAB_TBF_BURST_MIN ((uint64_t)64 << 10)
#define LAB_TBF_LATENCY "50ms"

static bool
lab_netns_exists(const char *ns)
{
    HVF_AUTOFREE char *p = hvf_asprintf("/run/netns/%s", ns);

    return access(p, F_OK) == 0;
}

static bool
lab_link_exists(const char *ifname)
{
    HVF_AUTOFREE char *p = hvf_asprintf("/sys/class/net/%s", ifname);

    return access(p, F_OK) == 0;
}

/* "A.B.C.D" or "A.B.C.D/LEN" into an address and a prefix length. */
static bool
lab_parse_prefix(const char *s, uint32_t *addr, int *len)
{
    unsigned a, b, c, d;
    int n = 0, l = 32;

    if (sscanf(s, "%3u.%3u.%3u.%3u%n", &a, &b, &c, &d, &n) != 4 || a > 255 || b > 255 || c > 255 ||
        d > 255)
        return false;
    if (s[n] == '/') {
        char *end;
        long v = strtol(s + n + 1, &end, 10);

        if (*end || v < 0 || v > 32)
            return false;
        l = (int)v;
    } else if (s[n]) {
        return false;
    }
    *addr = a << 24 | b << 16 | c << 8 | d;
    *len = l;
    return true;
}

int
hvf_lab_net_check_free(uint32_t subnet, hvf_error *err)
{
    static const char *const argv[] = {"ip", "-j", "-4", "route", "show", "table", "all", NULL};
    hvf_strbuf out = HVF_STRBUF_INIT;
    json_t *routes, *r;
    size_t i;
    int rc = 0;
    char net[16];

    if (hvf_lab_cmd(argv, &out, err) < 0)
        return -1;
    routes = json_loadb(out.buf ? out.buf : "", out.len, 0, NULL);
    hvf_strbuf_clear(&out);
    if (!json_is_array(routes)) {
        json_decref(routes);
        hvf_error_set(err, HVF_ERR_INTERNAL,
                      "'ip -j -4 route show table all': expected a JSON list");
        return -1;
    }
    hvf_lab_addr_format(subnet, net);
    json_array_foreach(routes, i, r)
    {
        const char *dst = json_string_value(json_object_get(r, "dst"));
        const char *dev = json_string_value(json_object_get(r, "dev"));
        uint32_t a = 0;
        int len = 0, l;

        /* a default route is not the lab's /24 being used: it is only where the rest goes */
        if (!dst || !lab_parse_prefix(dst, &a, &len) || len == 0)
            continue;
        l = len < 24 ? len : 24;
        if ((a >> (32 - l)) == (subnet >> (32 - l))) {
            hvf_error_set(err, HVF_ERR_CONFLICT,
                          "--subnet %s/24 is in use on this machine (route %s%s%s): choose "
                          "another --subnet, or take down the lab that holds it",
                          net, dst, dev ? " dev " : "", dev ? dev : "");
            rc = -1;
            break;
        }
    }
    json_decref(routes);
    return rc;
}

/* True when a directory entry of @dir starts with @prefix. */
static bool
lab_dir_has_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    if (!d)
        return false;
    while (!found && (de = readdir(d)) != NULL)
        found = strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

bool
hvf_lab_net_id_taken(const char *id)
{
    char prefix[16];

    snprintf(prefix, sizeof(prefix), "hvl%s", id);
    return lab_dir_has_prefix("/sys/class/net", prefix) || lab_dir_has_prefix("/run/netns", prefix);
}

int
hvf_lab_net_up(const hvf_lab *lab, hvf_error *err)
{
    char rate[32], burst[32], addr[16], cidr[24];
    uint64_t b = lab->nic_bit_s / 8 / 200;

    snprintf(rate, sizeof(rate), "%" PRIu64 "bit", lab->nic_bit_s);
    snprintf(burst, sizeof(burst), "%" PRIu64, b > LAB_TBF_BURST_MIN ? b : LAB_TBF_BURST_MIN);
    snprintf(cidr, sizeof(cidr), "%s/24", hvf_lab_addr_format(lab->subnet + 1, addr));
    {
        const char *br = lab->bridge;
        const char *const cmds[][8] = {
            {"ip", "link", "add", br, "type", "bridge", NULL},
            {"ip", "addr", "add", cidr, "dev", br, NULL},
            {"ip", "link", "set", br, "up", NULL},
        };

        for (size_t c = 0; c < HVF_ARRAY_LEN(cmds); c++) {
            if (hvf_lab_cmd(cmds[c], NULL, err) < 0)
                return -1;
        }
    }
    for (size_t i = 0; i < lab->nhosts; i++) {
        const hvf_lab_host *h = &lab->hosts[i];
        const char *ns = h->netns, *v = h->veth;

        snprintf(cidr, sizeof(cidr), "%s/24", hvf_lab_addr_format(h->addr, addr));
        {
            const char *const cmds[][16] = {
                {"ip", "netns", "add", ns, NULL},
                {"ip", "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns, NULL},
                {"ip", "link", "set", v, "master", lab->bridge, NULL},
                {"ip", "link", "set", v, "up", NULL},
                {"ip", "-n", ns, "addr", "add", cidr, "dev", "eth0", NULL},
                {"ip", "-n", ns, "link", "set", "eth0", "up", NULL},
                {"ip", "-n", ns, "link", "set", "lo", "up", NULL},
                {"tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate,
                 "burst", burst, "latency", LAB_TBF_LATENCY, NULL},
                {"tc", "qdisc", "add", "dev", v, "root", "tbf", "rate", rate, "burst", burst,
                 "latency", LAB_TBF_LATENCY, NULL},
            };

            for (size_t c = 0; c < HVF_ARRAY_LEN(cmds); c++) {
                if (hvf_lab_cmd(cmds[c], NULL, err) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

int
hvf_lab_net_down(const hvf_lab *lab, hvf_error *err)
{
    hvf_error first = HVF_ERROR_INIT;
    hvf_error e = HVF_ERROR_INIT;
    int rc = 0;

    for (size_t i = 0; i < lab->nhosts; i++) {
        const hvf_lab_host *h = &lab->hosts[i];

        if (lab_netns_exists(h->netns)) {
            const char *const argv[] = {"ip", "netns", "del", h->netns, NULL};

            if (hvf_lab_cmd(argv, NULL, &e) < 0 && rc++ == 0)
                first = e;
        }
        /* gone with its namespace, unless a process still holds that namespace */
        if (lab_link_exists(h->veth)) {
            const char *const argv[] = {"ip", "link", "del", h->veth, NULL};

            if (hvf_lab_cmd(argv, NULL, &e) < 0 && lab_link_exists(h->veth) && rc++ == 0)
                first = e;
        }
    }
    if (lab_link_exists(lab->bridge)) {
        const char *const argv[] = {"ip", "link", "del", lab->bridge, NULL};

        if (hvf_lab_cmd(argv, NULL, &e) < 0 && rc++ == 0)
            first = e;
    }
    if (rc) {
        if (err)
            *err = first;
        return -1;
    }
    return 0;
}

size_t
hvf_lab_net_pids(const char *netns, int *pids, size_t max)
{
    const char *const argv[] = {"ip", "netns", "pids", netns, NULL};
    hvf_strbuf out = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    size_t n = 0;

    if (!lab_netns_exists(netns) || hvf_lab_cmd(argv, &out, &err) < 0) {
        hvf_strbuf_clear(&out);
        return 0;
    }
    for (char *p = out.buf; p && *p && n < max;) {
        char *end;
        long v = strtol(p, &end, 10);

        if (end == p)
            break;
        if (v > 1 && v < 4194305)
            pids[n++] = (int)v;
        p = end;
        while (*p == '\n' || *p == ' ')
            p++;
    }
    hvf_strbuf_clear(&out);
    return n;
}
