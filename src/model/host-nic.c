/* SPDX-License-Identifier: MIT */
/* Hosts' NICs: names, MACs, and whether what a host reports is what its inventory records. */
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"
#include "hvfleet/strbuf.h"

bool
hvf_nic_name_is_valid(const char *name)
{
    size_t n = 0;

    for (const char *p = name; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ':')
            return false;
    }
    return n >= 1 && n <= HVF_NIC_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int
nic_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
hvf_mac_parse(const char *text, char out[HVF_MAC_TEXT_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    char buf[HVF_MAC_TEXT_LEN + 1];

    if (strlen(text) != HVF_MAC_TEXT_LEN)
        return false;
    for (size_t i = 0; i < HVF_MAC_TEXT_LEN; i++) {
        if (i % 3 == 2) {
            if (text[i] != ':')
                return false;
            buf[i] = ':';
        } else {
            int v = nic_hex(text[i]);
            if (v < 0)
                return false;
            buf[i] = digits[v];
        }
    }
    buf[HVF_MAC_TEXT_LEN] = '\0';
    memcpy(out, buf, sizeof(buf));
    return true;
}

/* What a host said, fit for a one-line message: at most 32 characters, printable ASCII. */
static void
nic_put_reported(hvf_strbuf *out, const char *s)
{
    size_t n = 0;

    if (!s) {
        hvf_strbuf_puts(out, "(none)");
        return;
    }
    for (; s[n] && n < 32; n++) {
        unsigned char c = (unsigned char)s[n];
        char ch = c >= ' ' && c < 0x7f ? (char)c : '?';
        hvf_strbuf_add(out, &ch, 1);
    }
    if (s[n])
        hvf_strbuf_puts(out, "...");
}

/* True when report @r names the MAC @mac (lower-case). */
static bool
nic_report_has_mac(const hvf_nic_report *r, const char *mac)
{
    char m[HVF_MAC_TEXT_LEN + 1];

    return r->mac && hvf_mac_parse(r->mac, m) && strcmp(m, mac) == 0;
}

static void
nic_describe(const hvf_nic *want, const hvf_nic_report *seen, size_t nseen, hvf_strbuf *out)
{
    const hvf_nic_report *by_name = NULL, *by_mac = NULL;

    for (size_t j = 0; j < nseen; j++) {
        bool same_name = seen[j].name && strcmp(seen[j].name, want->name) == 0;
        if (same_name && !by_name)
            by_name = &seen[j];
        if (!same_name && !by_mac && nic_report_has_mac(&seen[j], want->mac))
            by_mac = &seen[j];
    }
    if (by_mac) {
        /* its MAC under another name: what a renamed NIC looks like (seed 002) */
        hvf_strbuf_printf(out, "inventory NIC %s (%s) is named ", want->name, want->mac);
        nic_put_reported(out, by_mac->name);
        hvf_strbuf_puts(out, " on the host (renamed)");
    } else if (by_name) {
        hvf_strbuf_printf(out, "%s: inventory %s, host reports ", want->name, want->mac);
        nic_put_reported(out, by_name->mac);
    } else {
        hvf_strbuf_printf(out, "inventory NIC %s missing on the host (", want->name);
        if (nseen == 0)
            hvf_strbuf_puts(out, "it reports none");
        for (size_t j = 0; j < nseen; j++) {
            hvf_strbuf_puts(out, j ? ", " : "it has ");
            nic_put_reported(out, seen[j].name);
        }
        hvf_strbuf_puts(out, ")");
    }
}

/* True when the first NIC the host reports under @want's name has @want's MAC. */
static bool
nic_present(const hvf_nic *want, const hvf_nic_report *seen, size_t nseen)
{
    for (size_t j = 0; j < nseen; j++) {
        if (seen[j].name && strcmp(seen[j].name, want->name) == 0)
            return nic_report_has_mac(&seen[j], want->mac);
    }
    return false;
}

bool
hvf_host_nics_match(const hvf_host *host, const hvf_nic_report *seen, size_t nseen, char *why,
                    size_t whysize)
{
    if (why && whysize)
        why[0] = '\0';
    for (size_t i = 0; i < host->nnics; i++) {
        if (!nic_present(&host->nics[i], seen, nseen)) {
            if (why && whysize) {
                hvf_strbuf sb = HVF_STRBUF_INIT;

                nic_describe(&host->nics[i], seen, nseen, &sb);
                hvf_strlcpy(why, sb.buf, whysize);
                hvf_strbuf_clear(&sb);
            }
            return false;
        }
    }
    return true;
}
