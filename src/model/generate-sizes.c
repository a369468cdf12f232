/* SPDX-License-Identifier: MIT */
/* VM sizes for one generated host: many small, few large, packed to 50-75 % of its memory. */
#include <math.h>

#include "hvfleet/alloc.h"
#include "model/generate-priv.h"

const uint32_t gen_size_gib[GEN_SIZES] = {1, 2, 4, 8, 16, 32, 64};
/* How common each size is before tilting. */
static const double gen_base_weight[GEN_SIZES] = {30, 25, 18, 12, 8, 5, 2};

static double
gen_tilted_mean(double r, double *w)
{
    double sum = 0, mass = 0, rp = 1;

    for (int i = 0; i < GEN_SIZES; i++, rp *= r) {
        w[i] = gen_base_weight[i] * rp;
        sum += w[i];
        mass += w[i] * gen_size_gib[i];
    }
    return mass / sum;
}

/*
 * Weights w_i = base_i x r^i with the mean size @mean_gib: the distribution closest to the
 * base one that packs a host to its target in expectation, so the fix-up below moves few VMs.
 */
static void
gen_weights_for_mean(double mean_gib, double *w)
{
    double lo = -8, hi = 8;

    for (int it = 0; it < 50; it++) {
        double mid = (lo + hi) / 2;
        if (gen_tilted_mean(exp(mid), w) < mean_gib)
            lo = mid;
        else
            hi = mid;
    }
    (void)gen_tilted_mean(exp((lo + hi) / 2), w);
}

void
gen_host_sizes(hvf_rng *rng, uint32_t k, uint64_t usable_mib, uint32_t cpu_cap, uint8_t *sizes)
{
    double w[GEN_SIZES], total = 0;
    uint32_t counts[GEN_SIZES] = {0};
    uint64_t mem = 0, vcpus = 0, lo, hi, at = 0;
    double target = (0.50 + 0.25 * hvf_rng_uniform(rng)) * (double)usable_mib;

    lo = (uint64_t)(0.50 * (double)usable_mib);
    hi = (uint64_t)(0.75 * (double)usable_mib);
    if (hi < (uint64_t)k * 1024) /* so many VMs that even 1 GiB each passes 75 % */
        hi = (uint64_t)k * 1024;
    gen_weights_for_mean(target / 1024.0 / k, w);
    for (int i = 0; i < GEN_SIZES; i++)
        total += w[i];
    for (uint32_t v = 0; v < k; v++) {
        double u = hvf_rng_uniform(rng) * total;
        int i = 0;
        while (i < GEN_SIZES - 1 && u >= w[i]) {
            u -= w[i];
            i++;
        }
        counts[i]++;
        mem += gen_size_gib[i] * 1024ULL;
        vcpus += gen_vcpus(i);
    }
    /* Too much: halve the largest VM until it fits. Validation made 1 GiB x k fit. */
    while (mem > hi || vcpus > cpu_cap) {
        int i = GEN_SIZES - 1;
        while (i > 0 && counts[i] == 0)
            i--;
        if (i == 0)
            break;
        counts[i]--;
        counts[i - 1]++;
        mem -= (gen_size_gib[i] - gen_size_gib[i - 1]) * 1024ULL;
        vcpus -= gen_vcpus(i) - gen_vcpus(i - 1);
    }
    /* Too little: double VMs picked at random among those that can still grow. */
    while (mem < lo) {
        uint64_t feasible = 0, pick;
        int i;

        for (i = 0; i < GEN_SIZES - 1; i++) {
            if (mem + (gen_size_gib[i + 1] - gen_size_gib[i]) * 1024ULL <= hi &&
                vcpus + gen_vcpus(i + 1) - gen_vcpus(i) <= cpu_cap)
                feasible += counts[i];
        }
        if (feasible == 0)
            break; /* too few VMs to reach 50 %: the host stays emptier */
        pick = hvf_rng_range(rng, 0, feasible - 1);
        for (i = 0; i < GEN_SIZES - 1; i++) {
            if (mem + (gen_size_gib[i + 1] - gen_size_gib[i]) * 1024ULL <= hi &&
                vcpus + gen_vcpus(i + 1) - gen_vcpus(i) <= cpu_cap) {
                if (pick < counts[i])
                    break;
                pick -= counts[i];
            }
        }
        counts[i]--;
        counts[i + 1]++;
        mem += (gen_size_gib[i + 1] - gen_size_gib[i]) * 1024ULL;
        vcpus += gen_vcpus(i + 1) - gen_vcpus(i);
    }
    for (int i = 0; i < GEN_SIZES; i++) {
        for (uint32_t c = 0; c < counts[i]; c++)
            sizes[at++] = (uint8_t)i;
    }
    for (uint32_t v = k; v > 1; v--) { /* Fisher-Yates, so big VMs are not all last */
        uint32_t j = (uint32_t)hvf_rng_range(rng, 0, v - 1);
        uint8_t t = sizes[v - 1];
        sizes[v - 1] = sizes[j];
        sizes[j] = t;
    }
}
