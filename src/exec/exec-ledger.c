/* SPDX-License-Identifier: MIT */
/* The executor's claims ledger and limits, and their invariants checked against the driver. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"

void
x_ledger_init(x_run *x, const hvf_drv_host *hosts, size_t nhosts, const hvf_drv_vm *vms,
              size_t nvms)
{
    x->ledger = hvf_calloc(x->fleet->nhosts + 1, sizeof(*x->ledger));
    x->total_usable_mib = 0;
    for (size_t i = 0; i < nhosts; i++) {
        int32_t h = hvf_fleet_find_host(x->fleet, hosts[i].name);

        if (h < 0)
            continue;
        x->ledger[h].usable_mib = hosts[i].usable_mib;
        x->ledger[h].usable_vcpus = hosts[i].vcpus;
        if (hosts[i].state != HVF_DRV_HOST_DOWN)
            x->total_usable_mib += hosts[i].usable_mib;
    }
    x->vm_state = hvf_calloc(x->fleet->nvms + 1, sizeof(*x->vm_state));
    for (size_t i = 0; i < nvms; i++) {
        int32_t h = hvf_fleet_find_host(x->fleet, vms[i].host);
        int32_t v = hvf_fleet_find_vm(x->fleet, vms[i].name);

        if (v >= 0)
            x->vm_state[v] = vms[i].state;
        if (h < 0 || vms[i].state == HVF_DRV_VM_STOPPED || vms[i].state == HVF_DRV_VM_CRASHED)
            continue;
        x->ledger[h].used_mib += vms[i].mem_mib;
        x->ledger[h].used_vcpus += vms[i].vcpus;
    }
}

bool
x_ledger_fits(const x_run *x, int32_t host, uint64_t mem_mib, uint32_t vcpus, bool headroom)
{
    const x_ledger_host *l = &x->ledger[host];
    uint64_t keep = headroom ? hvf_policy_headroom_mib(&x->policy, l->usable_mib) : 0;

    return l->used_mib + l->claimed_mib + mem_mib + keep <= l->usable_mib &&
           l->used_vcpus + l->claimed_vcpus + vcpus <= l->usable_vcpus;
}

void
x_ledger_claim(x_run *x, const x_mig *m)
{
    const hvf_vm *v = &x->fleet->vms[m->vm_idx];

    x->ledger[m->to_idx].claimed_mib += v->mem_mib;
    x->ledger[m->to_idx].claimed_vcpus += v->vcpus;
    x->ledger[m->to_idx].mig_in++;
    x->ledger[m->from_idx].mig_out++;
}

void
x_ledger_release(x_run *x, const x_mig *m)
{
    const hvf_vm *v = &x->fleet->vms[m->vm_idx];
    x_ledger_host *to = &x->ledger[m->to_idx];

    HVF_ASSERT(to->claimed_mib >= v->mem_mib && to->mig_in > 0 &&
               x->ledger[m->from_idx].mig_out > 0);
    to->claimed_mib -= v->mem_mib;
    to->claimed_vcpus -= v->vcpus;
    to->mig_in--;
    x->ledger[m->from_idx].mig_out--;
}

void
x_ledger_complete(x_run *x, const x_mig *m)
{
    /* the VM's memory moved in the driver's figures already (x_ledger_sync runs before the
     * events of a poll are handled): only the claim goes */
    x_ledger_release(x, m);
    x->fleet->vms[m->vm_idx].host = m->to_idx;
}

void
x_out_of_service(const x_run *x, int32_t rack, int32_t zone, uint32_t *all, uint32_t *in_rack,
                 uint32_t *in_zone, uint64_t *offline_mib)
{
    *all = *in_rack = *in_zone = 0;
    *offline_mib = 0;
    for (size_t i = 0; i < x->nhosts; i++) {
        const x_host *h = &x->hosts[i];
        const hvf_host *fh;

        if (h->st != XH_DRAINING && h->st != XH_MAINTAINING)
            continue;
        fh = &x->fleet->hosts[h->idx];
        (*all)++;
        *in_rack += fh->rack == rack;
        *in_zone += fh->zone == zone;
        *offline_mib += x->ledger[h->idx].usable_mib;
    }
}

int
x_ledger_sync(x_run *x, hvf_error *err)
{
    hvf_drv_vm *vms = NULL;
    long nvms = hvf_driver_list_vms(x->conn, &vms, err);

    if (nvms < 0)
        return -1;
    for (size_t h = 0; h < x->fleet->nhosts; h++) {
        x->ledger[h].used_mib = 0;
        x->ledger[h].used_vcpus = 0;
    }
    for (long i = 0; i < nvms; i++) {
        /* drivers list VMs in a stable order: the name at the same index needs no lookup */
        int32_t v = (size_t)i < x->fleet->nvms && strcmp(x->fleet->vms[i].name, vms[i].name) == 0
                        ? (int32_t)i
                        : hvf_fleet_find_vm(x->fleet, vms[i].name);
        int32_t h = v >= 0 && x->fleet->vms[v].host >= 0 &&
                            strcmp(x->fleet->hosts[x->fleet->vms[v].host].name, vms[i].host) == 0
                        ? x->fleet->vms[v].host
                        : hvf_fleet_find_host(x->fleet, vms[i].host);

        if (h < 0 || v < 0)
            continue;
        x->fleet->vms[v].host = h;
        x->vm_state[v] = vms[i].state;
        if (vms[i].state == HVF_DRV_VM_STOPPED || vms[i].state == HVF_DRV_VM_CRASHED)
            continue;
        x->ledger[h].used_mib += vms[i].mem_mib;
        x->ledger[h].used_vcpus += vms[i].vcpus;
    }
    free(vms);
    return 0;
}

/*
 * The invariants: the ledger's claims are exactly the running migrations (per target, in
 * memory and count) and the store holds the same claims (what a resume rebuilds from); every
 * running migration has a job in the driver; no host with claims is promised more than its
 * usable memory; every VM is on exactly one known host; and the limits hold.
 */
int
x_check(x_run *x, hvf_error *err)
{
    hvf_drv_vm *vms = NULL;
    long nvms = hvf_driver_list_vms(x->conn, &vms, err);
    hvf_store_claim *sc = NULL;
    long nsc;
    HVF_AUTOFREE uint64_t *claimed = NULL;
    HVF_AUTOFREE uint32_t *in = NULL;
    HVF_AUTOFREE uint32_t *out = NULL;
    uint64_t running_mib = 0, stored_mib = 0;
    size_t running = 0;
    uint32_t all, r, z;
    uint64_t off;

    if (nvms < 0)
        return -1;
    claimed = hvf_calloc(x->fleet->nhosts + 1, sizeof(*claimed));
    in = hvf_calloc(x->fleet->nhosts + 1, sizeof(*in));
    out = hvf_calloc(x->fleet->nhosts + 1, sizeof(*out));
    if ((size_t)nvms != x->fleet->nvms) {
        free(vms);
        hvf_error_set(err, HVF_ERR_INTERNAL, "ledger: the driver reports %ld VMs, %zu expected",
                      nvms, x->fleet->nvms);
        return -1;
    }
    for (long i = 0; i < nvms; i++) {
        if (hvf_fleet_find_host(x->fleet, vms[i].host) < 0 ||
            hvf_fleet_find_vm(x->fleet, vms[i].name) != (int32_t)i) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "ledger: VM '%s' is on no known host, or twice",
                          vms[i].name);
            free(vms);
            return -1;
        }
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        const x_mig *m = &x->migs[i];

        if (m->st != XM_RUNNING)
            continue;
        if (vms[m->vm_idx].job != m->job && vms[m->vm_idx].job >= 0) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "ledger: VM '%s' runs job %" PRId64 ", the executor follows job %" PRId64,
                          m->vm, vms[m->vm_idx].job, m->job);
            free(vms);
            return -1;
        }
        claimed[m->to_idx] += x->fleet->vms[m->vm_idx].mem_mib;
        in[m->to_idx]++;
        out[m->from_idx]++;
        running_mib += x->fleet->vms[m->vm_idx].mem_mib;
        running++;
    }
    free(vms);
    nsc = hvf_store_claims(x->st, x->run.id, &sc, err);
    if (nsc < 0)
        return -1;
    for (long i = 0; i < nsc; i++)
        stored_mib += sc[i].mem_mib;
    free(sc);
    if ((size_t)nsc != running || stored_mib != running_mib) {
        hvf_error_set(err, HVF_ERR_INTERNAL,
                      "ledger: the store holds %ld claims (%" PRIu64 " MiB), %zu migrations run "
                      "(%" PRIu64 " MiB)",
                      nsc, stored_mib, running, running_mib);
        return -1;
    }
    for (size_t h = 0; h < x->fleet->nhosts; h++) {
        const x_ledger_host *l = &x->ledger[h];
        const char *name = x->fleet->hosts[h].name;

        if (l->claimed_mib != claimed[h] || l->mig_in != in[h] || l->mig_out != out[h]) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "ledger: host '%s' has %" PRIu64 " MiB claimed by %u migrations in, the "
                          "ledger says %" PRIu64 " MiB and %u",
                          name, claimed[h], in[h], l->claimed_mib, l->mig_in);
            return -1;
        }
        if (claimed[h] > 0 && l->used_mib + l->claimed_mib > l->usable_mib) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "ledger: host '%s' is promised %" PRIu64 " MiB of %" PRIu64 " usable",
                          name, l->used_mib + l->claimed_mib, l->usable_mib);
            return -1;
        }
        if (in[h] > x->policy.max_migrations_in_per_host ||
            out[h] > x->policy.max_migrations_out_per_host) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "limits: host '%s' has %u migrations in and %u out", name, in[h], out[h]);
            return -1;
        }
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        const hvf_host *fh;

        if (x->hosts[i].idx < 0 ||
            (x->hosts[i].st != XH_DRAINING && x->hosts[i].st != XH_MAINTAINING))
            continue;
        fh = &x->fleet->hosts[x->hosts[i].idx];
        x_out_of_service(x, fh->rack, fh->zone, &all, &r, &z, &off);
        if (all > x->policy.max_parallel_hosts ||
            (x->policy.max_parallel_per_rack && r > x->policy.max_parallel_per_rack) ||
            (x->policy.max_parallel_per_zone && z > x->policy.max_parallel_per_zone)) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "limits: %u hosts out of service (%u in the rack of '%s', %u in its "
                          "zone)",
                          all, r, x->hosts[i].name, z);
            return -1;
        }
    }
    return 0;
}
