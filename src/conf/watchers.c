/* SPDX-License-Identifier: MIT */
/* The monitoring keys of hvfleetd.yaml (hvfleet/watchers.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/watchers.h"

const char *const hvf_watcher_keys[] = {"peers", "alert_webhooks", "deadman_url", NULL};

bool
hvf_watcher_url_host(const char *url, char *out, size_t size)
{
    const char *p = strncmp(url, "http://", 7) == 0    ? url + 7
                    : strncmp(url, "https://", 8) == 0 ? url + 8
                                                       : NULL;
    const char *end, *at, *h, *he;
    size_t n;

    if (!p)
        return false;
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return false;
    end = p + strcspn(p, "/?#");
    for (at = end; at > p && at[-1] != '@'; at--)
        ;
    h = at > p ? at : p; /* after the user info, if any */
    if (*h == '[') {
        he = memchr(h, ']', (size_t)(end - h));
        if (!he)
            return false;
        h++;
    } else {
        he = memchr(h, ':', (size_t)(end - h));
        if (!he)
            he = end;
    }
    n = (size_t)(he - h);
    if (n == 0 || n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[n] = '\0';
    return true;
}

void
hvf_watchers_clear(hvf_watchers *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->v[i].url);
        free(w->v[i].host);
    }
    free(w->v);
    w->v = NULL;
    w->n = 0;
}

/* One URL of key @k (@field names it in messages): added, or reported. */
static void
watchers_add(hvf_reader *rd, hvf_watchers *out, hvf_watcher_kind k, hvf_node *node,
             const char *field)
{
    HVF_AUTOFREE char *url = hvf_node_is_scalar(node) ? hvf_reader_scalar_dup(node) : NULL;
    char host[256];
    hvf_watcher *w;

    if (!url || !hvf_watcher_url_host(url, host, sizeof(host))) {
        hvf_reader_report(rd, node, field, "expected an http:// or https:// URL with a host");
        return;
    }
    if (out->n == HVF_WATCHERS_MAX) {
        hvf_reader_report(rd, node, field, "more than %d watchers", HVF_WATCHERS_MAX);
        return;
    }
    out->v = hvf_realloc(out->v, (out->n + 1) * sizeof(*out->v));
    w = &out->v[out->n++];
    w->kind = k;
    w->url = hvf_steal_ptr(&url);
    w->host = hvf_strdup(host);
    w->line = hvf_reader_line(node);
}

static int
watchers_read(hvf_reader *rd, hvf_watchers *out, hvf_diags *diags, hvf_error *err)
{
    hvf_node *root = hvf_reader_root(rd);

    if (!hvf_node_is_mapping(root)) {
        hvf_reader_report(rd, root, "(top)", "expected a mapping of hvfleetd settings");
    } else {
        for (int k = 0; k < HVF_WATCHER_KIND_LAST; k++) {
            hvf_node *v = hvf_node_lookup(root, hvf_watcher_keys[k], (size_t)-1);
            void *it = NULL;
            hvf_node *item;
            size_t i = 0;

            if (!v)
                continue;
            if (k == HVF_WATCHER_DEADMAN) {
                watchers_add(rd, out, (hvf_watcher_kind)k, v, hvf_watcher_keys[k]);
                continue;
            }
            if (!hvf_reader_expect_seq(rd, v, hvf_watcher_keys[k]))
                continue;
            while ((item = hvf_node_iterate(v, &it))) {
                char field[48];

                snprintf(field, sizeof(field), "%s[%zu]", hvf_watcher_keys[k], i++);
                watchers_add(rd, out, (hvf_watcher_kind)k, item, field);
            }
        }
    }
    if (diags->n) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s", diags->lines[0]);
        hvf_watchers_clear(out);
        return -1;
    }
    return 0;
}

/* Runs @rd's reading with a diags list of its own when the caller gives none. */
static int
watchers_finish(hvf_reader *rd, hvf_watchers *out, hvf_diags *mine, hvf_diags *diags,
                hvf_error *err)
{
    int rc = watchers_read(rd, out, diags ? diags : mine, err);

    hvf_reader_close(rd);
    hvf_diags_clear(mine);
    return rc;
}

int
hvf_watchers_parse(const char *name, const char *buf, size_t len, hvf_watchers *out,
                   hvf_diags *diags, hvf_error *err)
{
    hvf_reader rd;
    hvf_diags mine;

    memset(out, 0, sizeof(*out));
    hvf_diags_init(&mine);
    if (hvf_reader_open_buffer(&rd, name, buf, len, diags ? diags : &mine, err) < 0) {
        hvf_diags_clear(&mine);
        return -1;
    }
    return watchers_finish(&rd, out, &mine, diags, err);
}

int
hvf_watchers_load(const char *path, hvf_watchers *out, hvf_diags *diags, hvf_error *err)
{
    hvf_reader rd;
    hvf_diags mine;

    memset(out, 0, sizeof(*out));
    hvf_diags_init(&mine);
    if (hvf_reader_open_file(&rd, path, diags ? diags : &mine, err) < 0) {
        hvf_diags_clear(&mine);
        return -1;
    }
    return watchers_finish(&rd, out, &mine, diags, err);
}

/* @s as a double-quoted YAML scalar (URLs have no control characters: parse refuses them). */
static void
watchers_quote(hvf_strbuf *out, const char *s)
{
    hvf_strbuf_puts(out, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            hvf_strbuf_puts(out, "\\");
        hvf_strbuf_printf(out, "%c", *s);
    }
    hvf_strbuf_puts(out, "\"");
}

void
hvf_watchers_format(const hvf_watchers *w, hvf_strbuf *out)
{
    if (w->n == 0) {
        hvf_strbuf_puts(out, "{}\n"); /* a document with none */
        return;
    }
    for (int k = 0; k < HVF_WATCHER_KIND_LAST; k++) {
        bool any = false;

        for (size_t i = 0; i < w->n; i++) {
            if (w->v[i].kind != (hvf_watcher_kind)k)
                continue;
            if (k == HVF_WATCHER_DEADMAN) {
                hvf_strbuf_printf(out, "%s: ", hvf_watcher_keys[k]);
            } else {
                if (!any)
                    hvf_strbuf_printf(out, "%s:\n", hvf_watcher_keys[k]);
                hvf_strbuf_puts(out, "  - ");
            }
            any = true;
            watchers_quote(out, w->v[i].url);
            hvf_strbuf_puts(out, "\n");
        }
    }
}
