/* SPDX-License-Identifier: MIT */
/* Change files written back: a complete hvfleet.change/v1 file that parses to the same change. */
#include <inttypes.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change.h"

static void
chg_format_list(hvf_strbuf *out, char *const *items, size_t n)
{
    hvf_strbuf_puts(out, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            hvf_strbuf_puts(out, ", ");
        hvf_strbuf_quote(out, items[i]);
    }
    hvf_strbuf_puts(out, "]");
}

/* Whole microseconds, so that a round trip is exact. */
static void
chg_format_us(hvf_strbuf *out, const char *key, int64_t us)
{
    hvf_strbuf_printf(out, "%s: %" PRId64 "us", key, us);
}

void
hvf_change_format(const hvf_change *c, hvf_strbuf *out)
{
    /* Names are always quoted: "-", "yes", "null" or "1e3" would read back as something else
     * (a list item, a boolean, null, a number). */
    hvf_strbuf_puts(out, "schema: " HVF_CHANGE_SCHEMA "\nname: ");
    hvf_strbuf_quote(out, c->name ? c->name : "change");
    if (c->description) {
        hvf_strbuf_puts(out, "\ndescription: ");
        hvf_strbuf_quote(out, c->description);
    }
    hvf_strbuf_printf(out, "\nkind: %s\ntargets:\n", hvf_change_kind_to_string(c->kind));
    if (c->service) {
        hvf_strbuf_puts(out, "  service: ");
        hvf_strbuf_quote(out, c->service);
        hvf_strbuf_puts(out, "\n");
    } else {
        hvf_strbuf_puts(out, "  hosts: ");
        chg_format_list(out, c->hosts, c->nhosts);
        hvf_strbuf_puts(out, "\n");
    }
    hvf_strbuf_puts(out, "variants_by: ");
    chg_format_list(out, c->variants_by, c->nvariants_by);
    hvf_strbuf_puts(out, "\nsettings: ");
    chg_format_list(out, c->settings, c->nsettings);
    hvf_strbuf_printf(out, "\nwaves:\n  strategy: %s\n  canary: %u\n  canary_units: ",
                      hvf_change_strategy_names[c->strategy], c->canary);
    chg_format_list(out, c->canary_units, c->ncanary_units);
    hvf_strbuf_printf(out, "\n  factor: %.17g\n  max_per_wave: %u\n  ", c->factor, c->max_per_wave);
    chg_format_us(out, "apply", c->apply_us);
    hvf_strbuf_puts(out, "\n  ");
    chg_format_us(out, "bake", c->bake_us);
    hvf_strbuf_puts(out, "\n  ");
    chg_format_us(out, "gate_interval", c->gate_interval_us);
    hvf_strbuf_puts(out, "\n");
    if (c->redundancy_max)
        hvf_strbuf_printf(out, "redundancy: {per: %s, max_down: %u}\n",
                          hvf_spread_to_string(c->redundancy_per), c->redundancy_max);
    hvf_strbuf_puts(out, c->ngates ? "gates:\n" : "gates: []\n");
    for (size_t i = 0; i < c->ngates; i++) {
        const hvf_change_gate *g = &c->gates[i];
        hvf_strbuf_printf(out, "  - {type: %s", hvf_change_gate_to_string(g->type));
        if (g->type == HVF_CHANGE_GATE_SERVICE_ANSWERS) {
            hvf_strbuf_puts(out, ", service: ");
            hvf_strbuf_quote(out, g->service);
            hvf_strbuf_printf(out, ", min_success: %.17g", g->min_success);
        }
        if (g->type == HVF_CHANGE_GATE_CLIENT_IO_LATENCY) {
            if (g->service) {
                hvf_strbuf_puts(out, ", service: ");
                hvf_strbuf_quote(out, g->service);
            }
            hvf_strbuf_puts(out, ", ");
            chg_format_us(out, "max", g->max_latency_us);
            hvf_strbuf_printf(out, ", percentile: %.17g", g->percentile);
        }
        hvf_strbuf_puts(out, "}\n");
    }
    hvf_strbuf_printf(out, "rollback: %s\n", c->rollback ? "true" : "false");
}
