/*
 * test_half_bn.c - 16-bit activations (BN_DATA_BF16, BN_DATA_F16) in the Batch Normalization
 * entry points, against their definition (bn.h): a 16-bit call gives, bit for bit,
 *   out = bn_convert(the float32 call's out on the widened inputs)
 * for every activation output, and the float32 call's per-channel outputs. Every view (NC, NCHW
 * with S = 1, short runs, runs, runs cut into pieces, NHWC, C < 64 folded with a partial row,
 * more than one unit), every flag combination, every backward mask, in place, buffers at an
 * address of 2 mod 4, special values (NaN, Inf, subnormal halves, an output that overflows f16,
 * a large common offset), both formats, 1 and 2 threads, non-temporal stores; the split phase;
 * the statuses of the new flags.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const int64_t shapes[][4] = { // layout, N, C, S
    {BN_LAYOUT_NC, 37, 5, 1},     {BN_LAYOUT_NC, 9, 300, 1},     {BN_LAYOUT_NCHW, 40, 6, 1},
    {BN_LAYOUT_NCHW, 6, 5, 7},    {BN_LAYOUT_NCHW, 3, 5, 100},   {BN_LAYOUT_NCHW, 3, 5, 600},
    {BN_LAYOUT_NCHW, 2, 5, 4100}, {BN_LAYOUT_NHWC, 5, 6, 9},     {BN_LAYOUT_NHWC, 4, 70, 5},
    {BN_LAYOUT_NHWC, 2, 257, 3},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const unsigned int dflags[] = {BN_DATA_BF16, BN_DATA_F16};

static int dtype_of(unsigned int dflag) { return dflag == BN_DATA_BF16 ? BN_BF16 : BN_F16; }
static const char *dname(unsigned int dflag) { return dflag == BN_DATA_BF16 ? "bf16" : "f16"; }

// n 16-bit elements at `off` elements from a 64-byte boundary (off = 1: an address of 2 mod 4),
// with the element before and after them; 0xffff-filled
typedef struct {
    uint16_t *base, *p;
} hbuf;

static hbuf hb_new(size_t n, int off) {
    hbuf b;
    b.base = malloc((n + 2) * sizeof *b.base + 64);
    if (b.base == NULL) abort();
    memset(b.base, 0xff, (n + 2) * sizeof *b.base + 64);
    // from a 64-byte boundary (aligned for every vector store at off = 0)
    b.p = (uint16_t *)(void *)((char *)b.base + (64 - (uintptr_t)b.base % 64) % 64) + off;
    return b;
}

// the f32 values of random inputs narrowed to the format (then exact in both forms)
static void narrow_to(uint16_t *h, const float *f, size_t n, unsigned int dflag) {
    CHECK(bn_convert(h, dtype_of(dflag), f, BN_F32, (int64_t)n) == BN_OK, "narrow");
}
static void widen_to(float *f, const uint16_t *h, size_t n, unsigned int dflag) {
    CHECK(bn_convert(f, BN_F32, h, dtype_of(dflag), (int64_t)n) == BN_OK, "widen");
}

// 1000 + 3*N(0,1) in channel 3 (when C has it) of the float values, before they are narrowed
static void offset_channel(bt_rng *r, float *x, int layout, int64_t N, int64_t C, int64_t S) {
    for (int64_t n = 0; n < N && C > 3; n++) {
        for (int64_t s = 0; s < S; s++) x[bt_index(layout, N, C, S, n, 3, s)] = (float)(1000.0 + 3.0 * bt_normal(r));
    }
}

// Special values into channels 0-2 (when C has them): a quiet NaN and a signaling NaN in
// channel 0, +Inf in channel 1, subnormal halves only in channel 2
static void specials(bt_rng *r, uint16_t *h, unsigned int dflag, int layout, int64_t N,
                     int64_t C, int64_t S) {
    const int bf = dflag == BN_DATA_BF16;
    const uint16_t qnan = bf ? 0x7fc1 : 0x7e01, snan = bf ? 0xff81 : 0xfc01;
    const uint16_t inf = bf ? 0x7f80 : 0x7c00, mant = bf ? 0x7f : 0x3ff;
    h[bt_index(layout, N, C, S, 0, 0, 0)] = qnan;
    if (N * S > 2) h[bt_index(layout, N, C, S, N - 1, 0, S - 1)] = snan;
    if (C > 1) h[bt_index(layout, N, C, S, N / 2, 1, S / 2)] = inf;
    for (int64_t n = 0; n < N && C > 2; n++) {
        for (int64_t s = 0; s < S; s++) {
            const uint16_t m = (uint16_t)(bt_uniform(r) * (mant + 1)) & mant;
            h[bt_index(layout, N, C, S, n, 2, s)] = (uint16_t)((bt_uniform(r) < 0.5 ? 0x8000 : 0) | m);
        }
    }
}

// the half output h equals bn_convert(f) bit for bit; a NaN equals any NaN (where NaNs meet in
// a sum, the compiler may order the operands either way, and x86 keeps the first one's bits)
static void same_half(const char *what, const uint16_t *h, const float *f, size_t n,
                      unsigned int dflag) {
    uint16_t *e = malloc(n * sizeof *e + 2);
    if (e == NULL) abort();
    narrow_to(e, f, n, dflag);
    const uint16_t inf = dflag == BN_DATA_BF16 ? 0x7f80 : 0x7c00;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == e[i] || ((h[i] & 0x7fff) > inf && (e[i] & 0x7fff) > inf)) continue;
        CHECK(0, "%s: element %zu is 0x%04x, expected 0x%04x (bn_convert of %.9g)", what, i,
              h[i], e[i], (double)f[i]);
        break;
    }
    bt_checks++;
    free(e);
}

// per-channel outputs: the same bits (a NaN: any NaN, as above)
static void same_floats(const char *what, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) == 0 || (isnan(a[i]) && isnan(b[i]))) continue;
        CHECK(0, "%s: element %zu is %.9g, expected %.9g (bit for bit)", what, i, (double)a[i],
              (double)b[i]);
        break;
    }
    bt_checks++;
}

// ----------------------------------------------------------------------------
// forward

enum { OUT_NEW, OUT_IS_INP, OUT_IS_RES };

static void forward_case(bt_rng *r, unsigned int dflag, int train, const int64_t *sh,
                         unsigned int flags, int alias, int off, int special) {
    const int layout = (int)sh[0];
    const int64_t N = sh[1], C = sh[2], S = sh[3];
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char name[240];
    snprintf(name, sizeof name, "%s %s %s N=%lld C=%lld S=%lld flags=0x%x alias=%d off=%d sp=%d",
             dname(dflag), train ? "training" : "inference", bt_layout_name(layout), (long long)N,
             (long long)C, (long long)S, flags, alias, off, special);
    float *xf = bt_floats(n), *rf = bt_floats(n), *of = bt_floats(n);
    float *gamma = bt_floats(nc), *beta = bt_floats(nc), *mean = bt_floats(nc), *var = bt_floats(nc);
    float *sm1 = bt_floats(nc), *sr1 = bt_floats(nc), *sm2 = bt_floats(nc), *sr2 = bt_floats(nc);
    float *rm1 = bt_floats(nc), *rv1 = bt_floats(nc), *rm2, *rv2;
    hbuf xh = hb_new(n, off), rh = hb_new(n, off), oh = hb_new(n, off);
    bt_fill_inp(r, xf, layout, N, C, S);
    bt_fill_normal(r, rf, n);
    if (special) offset_channel(r, xf, layout, N, C, S);
    narrow_to(xh.p, xf, n, dflag);
    narrow_to(rh.p, rf, n, dflag);
    if (special) specials(r, xh.p, dflag, layout, N, C, S);
    widen_to(xf, xh.p, n, dflag);
    widen_to(rf, rh.p, n, dflag);
    bt_fill_uniform(r, gamma, nc, -2.0, 2.0);
    bt_fill_uniform(r, beta, nc, -1.0, 1.0);
    bt_fill_uniform(r, mean, nc, -1.0, 1.0);
    bt_fill_uniform(r, var, nc, 0.25, 4.0);
    bt_fill_uniform(r, rm1, nc, -1.0, 1.0);
    bt_fill_uniform(r, rv1, nc, 0.5, 2.0);
    if (special && C > 4) gamma[4] = 3e4f; // |out| up to ~1e5: beyond f16's 65504
    rm2 = bt_copy_floats(rm1, nc);
    rv2 = bt_copy_floats(rv1, nc);
    const int scale = (flags & BN_USE_SCALE) != 0, shift = (flags & BN_USE_SHIFT) != 0;
    const int run = (flags & BN_UPDATE_RUNNING) != 0, add = (flags & BN_FUSE_ADD) != 0;
    bn_status s1, s2;
    uint16_t *out = alias == OUT_IS_INP ? xh.p : alias == OUT_IS_RES ? rh.p : oh.p;
    if (train) {
        s1 = bn_forward_training(of, sm1, sr1, run ? rm1 : NULL, run ? rv1 : NULL, xf,
                                 add ? rf : NULL, scale ? gamma : NULL, shift ? beta : NULL, 1e-5,
                                 0.1, flags, layout, N, C, S);
        s2 = bn_forward_training(out, sm2, sr2, run ? rm2 : NULL, run ? rv2 : NULL, xh.p,
                                 add ? rh.p : NULL, scale ? gamma : NULL, shift ? beta : NULL, 1e-5,
                                 0.1, flags | dflag, layout, N, C, S);
    } else {
        s1 = bn_forward_inference(of, xf, add ? rf : NULL, mean, var, scale ? gamma : NULL,
                                  shift ? beta : NULL, 1e-5, flags, layout, N, C, S);
        s2 = bn_forward_inference(out, xh.p, add ? rh.p : NULL, mean, var, scale ? gamma : NULL,
                                  shift ? beta : NULL, 1e-5, flags | dflag, layout, N, C, S);
    }
    CHECK(s1 == BN_OK && s2 == BN_OK, "%s: status %d (float32 %d)", name, s2, s1);
    if (s1 == BN_OK && s2 == BN_OK) {
        char what[300];
        snprintf(what, sizeof what, "%s: out", name);
        same_half(what, out, of, n, dflag);
        CHECK(off == 0 || alias != OUT_NEW || oh.p[-1] == 0xffff, "%s: wrote before out", name);
        CHECK(alias != OUT_NEW || oh.p[n] == 0xffff, "%s: wrote past out", name);
        if (train) {
            snprintf(what, sizeof what, "%s: save_mean", name);
            same_floats(what, sm2, sm1, nc);
            snprintf(what, sizeof what, "%s: save_rstd", name);
            same_floats(what, sr2, sr1, nc);
            snprintf(what, sizeof what, "%s: running_mean", name);
            same_floats(what, rm2, rm1, nc);
            snprintf(what, sizeof what, "%s: running_var", name);
            same_floats(what, rv2, rv1, nc);
        }
    }
    free(xf), free(rf), free(of), free(gamma), free(beta), free(mean), free(var);
    free(sm1), free(sr1), free(sm2), free(sr2), free(rm1), free(rv1), free(rm2), free(rv2);
    free(xh.base), free(rh.base), free(oh.base);
}

static void forward_all(int train) {
    bn_set_num_threads(1); // threads: test_half_threads
    bt_rng r;
    bt_rng_seed(&r, train ? 2001 : 2002);
    const unsigned int nflags = train ? 32u : 16u; // scale, shift, (running), relu, add
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < NSHAPES; i++) {
            for (unsigned int k = 0; k < nflags; k++) {
                unsigned int flags = (k & 3u) | (train ? (k & 4u) : 0u);
                const unsigned int fk = train ? k >> 3 : k >> 2;
                flags |= (fk & 1u ? BN_FUSE_RELU : 0u) | (fk & 2u ? BN_FUSE_ADD : 0u);
                for (int alias = OUT_NEW; alias <= OUT_IS_RES; alias++) {
                    if (alias == OUT_IS_RES && !(flags & BN_FUSE_ADD)) continue;
                    forward_case(&r, dflags[d], train, shapes[i], flags, alias, (int)(k & 1u),
                                 (int)((k >> 1) & 1u));
                }
            }
        }
    }
}

void test_half_forward_training(void) { forward_all(1); }
void test_half_forward_inference(void) { forward_all(0); }

// ----------------------------------------------------------------------------
// backward

enum { D_NEW, DINP_IS_DOUT, DINP_IS_INP, DRES_IS_DOUT };

static void backward_case(bt_rng *r, unsigned int dflag, const int64_t *sh, unsigned int flags,
                          unsigned int mask, int alias, int off, int special) {
    const int layout = (int)sh[0];
    const int64_t N = sh[1], C = sh[2], S = sh[3];
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char name[240];
    snprintf(name, sizeof name, "%s backward %s N=%lld C=%lld S=%lld flags=0x%x mask=0x%x alias=%d off=%d sp=%d",
             dname(dflag), bt_layout_name(layout), (long long)N, (long long)C, (long long)S, flags,
             mask, alias, off, special);
    float *xf = bt_floats(n), *dyf = bt_floats(n), *gf = bt_floats(n), *dxf = bt_floats(n), *drf = bt_floats(n);
    float *gamma = bt_floats(nc), *mean = bt_floats(nc), *rstd = bt_floats(nc);
    float *dg1 = bt_floats(nc), *db1 = bt_floats(nc), *dg2 = bt_floats(nc), *db2 = bt_floats(nc);
    hbuf xh = hb_new(n, off), dyh = hb_new(n, off), gh = hb_new(n, off), dxh = hb_new(n, off), drh = hb_new(n, off);
    bt_fill_inp(r, xf, layout, N, C, S);
    bt_fill_uniform(r, dyf, n, -2.0, 2.0);
    bt_fill_uniform(r, gf, n, -2.0, 2.0);
    for (size_t i = 0; i < n; i += 7) gf[i] = (i / 7) % 2 ? 0.0f : -0.0f; // the gate's edge
    if (special) offset_channel(r, xf, layout, N, C, S);
    narrow_to(xh.p, xf, n, dflag);
    narrow_to(dyh.p, dyf, n, dflag);
    narrow_to(gh.p, gf, n, dflag);
    if (special) {
        specials(r, xh.p, dflag, layout, N, C, S);
        dyh.p[n / 2] = dflag == BN_DATA_BF16 ? 0x7fa0 : 0x7d00; // a signaling NaN in dout
    }
    widen_to(xf, xh.p, n, dflag);
    widen_to(dyf, dyh.p, n, dflag);
    widen_to(gf, gh.p, n, dflag);
    bt_fill_uniform(r, gamma, nc, -2.0, 2.0);
    if (special && C > 4) gamma[4] = 3e4f;
    { // mean, rstd: the batch statistics of x, or running ones for global statistics
        float *t = bt_floats(n);
        CHECK(bn_forward_training(t, mean, rstd, NULL, NULL, xf, NULL, NULL, NULL, 1e-5, 0.0, 0,
                                  layout, N, C, S) == BN_OK, "%s: statistics", name);
        free(t);
        if (flags & BN_USE_GLOBAL_STATS) bt_fill_uniform(r, rstd, nc, 0.5, 2.0);
    }
    const int scale = (flags & BN_USE_SCALE) != 0, relu = (flags & BN_FUSE_RELU) != 0;
    float *dinp1 = mask & BN_DIFF_INP ? dxf : NULL, *dres1 = mask & BN_DIFF_RES ? drf : NULL;
    uint16_t *dinp2 = mask & BN_DIFF_INP ? dxh.p : NULL, *dres2 = mask & BN_DIFF_RES ? drh.p : NULL;
    if (alias == DINP_IS_DOUT) dinp2 = dyh.p;
    if (alias == DINP_IS_INP) dinp2 = xh.p;
    if (alias == DRES_IS_DOUT) dres2 = dyh.p;
    uint16_t *dout0 = malloc(n * sizeof *dout0 + 2); // dres == dout without the gate: left as it is
    if (dout0 == NULL) abort();
    memcpy(dout0, dyh.p, n * sizeof *dout0);
    const bn_status s1 = bn_backward(dinp1, dres1, mask & BN_DIFF_SCALE ? dg1 : NULL,
                                     mask & BN_DIFF_SHIFT ? db1 : NULL, dyf, relu ? gf : NULL, xf,
                                     scale ? gamma : NULL, mean, rstd, flags, mask, layout, N, C, S);
    const bn_status s2 = bn_backward(dinp2, dres2, mask & BN_DIFF_SCALE ? dg2 : NULL,
                                     mask & BN_DIFF_SHIFT ? db2 : NULL, dyh.p, relu ? gh.p : NULL,
                                     xh.p, scale ? gamma : NULL, mean, rstd, flags | dflag, mask,
                                     layout, N, C, S);
    CHECK(s1 == BN_OK && s2 == BN_OK, "%s: status %d (float32 %d)", name, s2, s1);
    if (s1 == BN_OK && s2 == BN_OK) {
        char what[300];
        snprintf(what, sizeof what, "%s: dinp", name);
        if (dinp2 != NULL) same_half(what, dinp2, dxf, n, dflag);
        snprintf(what, sizeof what, "%s: dres", name);
        if (dres2 != NULL && (alias != DRES_IS_DOUT || relu)) same_half(what, dres2, drf, n, dflag);
        if (alias == DRES_IS_DOUT && !relu) { // the definition, or dout left as it is: they
            uint16_t *e = malloc(n * sizeof *e + 2); // differ only in a signaling NaN of dout
            if (e == NULL) abort();
            narrow_to(e, drf, n, dflag);
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) bad += dres2[i] != e[i] && dres2[i] != dout0[i];
            CHECK(bad == 0, "%s: dres == dout: %zu elements neither dout nor the definition", name, bad);
            free(e);
        }
        snprintf(what, sizeof what, "%s: dgamma", name);
        if (mask & BN_DIFF_SCALE) same_floats(what, dg2, dg1, nc);
        snprintf(what, sizeof what, "%s: dbeta", name);
        if (mask & BN_DIFF_SHIFT) same_floats(what, db2, db1, nc);
        CHECK(dxh.p[n] == 0xffff && drh.p[n] == 0xffff, "%s: wrote past dinp or dres", name);
    }
    free(xf), free(dyf), free(gf), free(dxf), free(drf), free(gamma), free(mean), free(rstd);
    free(dg1), free(db1), free(dg2), free(db2), free(dout0);
    free(xh.base), free(dyh.base), free(gh.base), free(dxh.base), free(drh.base);
}

void test_half_backward(void) {
    bn_set_num_threads(1);
    bt_rng r;
    bt_rng_seed(&r, 2003);
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < NSHAPES; i++) {
            for (unsigned int k = 0; k < 16; k++) { // scale, global, relu, add
                const unsigned int flags = (k & 1u ? BN_USE_SCALE : 0u) |
                                           (k & 2u ? BN_USE_GLOBAL_STATS : 0u) |
                                           (k & 4u ? BN_FUSE_RELU : 0u) | (k & 8u ? BN_FUSE_ADD : 0u);
                for (unsigned int mask = 1; mask < 16; mask++) {
                    if ((mask & BN_DIFF_RES) && !(flags & BN_FUSE_ADD)) continue;
                    for (int alias = D_NEW; alias <= DRES_IS_DOUT; alias++) {
                        if ((alias == DINP_IS_DOUT || alias == DINP_IS_INP) && !(mask & BN_DIFF_INP)) continue;
                        if (alias == DRES_IS_DOUT && !(mask & BN_DIFF_RES)) continue;
                        if (alias == DINP_IS_DOUT && (mask & BN_DIFF_RES)) continue; // dinp == dres
                        backward_case(&r, dflags[d], shapes[i], flags, mask, alias,
                                      (int)((mask + k) & 1u), (int)((mask >> 1) & 1u));
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// threads and non-temporal stores: larger calls, 2 threads against 1 and the definition

static void big_case(unsigned int dflag, int layout, int64_t N, int64_t C, int64_t S, int threads) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char name[200];
    snprintf(name, sizeof name, "%s %s N=%lld C=%lld S=%lld threads=%d", dname(dflag),
             bt_layout_name(layout), (long long)N, (long long)C, (long long)S, threads);
    bt_rng r;
    bt_rng_seed(&r, 2004 + (uint64_t)n);
    float *xf = bt_floats(n), *f = bt_floats(n), *g = bt_floats(n);
    float *gamma = bt_floats(nc), *beta = bt_floats(nc), *sm1 = bt_floats(nc), *sr1 = bt_floats(nc);
    float *sm2 = bt_floats(nc), *sr2 = bt_floats(nc), *dg1 = bt_floats(nc), *dg2 = bt_floats(nc);
    // out at 2 mod 4 bytes (the runs views store a head before their aligned vectors), or
    // aligned (the rows view streams only then)
    hbuf xh = hb_new(n, 1), oh = hb_new(n, layout == BN_LAYOUT_NCHW ? 1 : 0), dyh = hb_new(n, 0);
    bt_fill_inp(&r, xf, layout, N, C, S);
    bt_fill_normal(&r, g, n);
    narrow_to(xh.p, xf, n, dflag);
    narrow_to(dyh.p, g, n, dflag);
    widen_to(xf, xh.p, n, dflag);
    widen_to(g, dyh.p, n, dflag);
    bt_fill_uniform(&r, gamma, nc, -2.0, 2.0);
    bt_fill_uniform(&r, beta, nc, -1.0, 1.0);
    bn_set_num_threads(1);
    CHECK(bn_forward_training(f, sm1, sr1, NULL, NULL, xf, NULL, gamma, beta, 1e-5, 0.0,
                              BN_USE_SCALE | BN_USE_SHIFT, layout, N, C, S) == BN_OK, "%s", name);
    bn_set_num_threads(threads);
    CHECK(bn_forward_training(oh.p, sm2, sr2, NULL, NULL, xh.p, NULL, gamma, beta, 1e-5, 0.0,
                              BN_USE_SCALE | BN_USE_SHIFT | dflag, layout, N, C, S) == BN_OK, "%s", name);
    char what[240];
    snprintf(what, sizeof what, "%s: training out", name);
    same_half(what, oh.p, f, n, dflag);
    snprintf(what, sizeof what, "%s: save_mean", name);
    same_floats(what, sm2, sm1, nc);
    snprintf(what, sizeof what, "%s: save_rstd", name);
    same_floats(what, sr2, sr1, nc);
    // inference (NCHW: walked in memory order, bn_plan_init), with any positive var
    bn_set_num_threads(1);
    CHECK(bn_forward_inference(f, xf, NULL, sm1, sr1, gamma, beta, 1e-5,
                               BN_USE_SCALE | BN_USE_SHIFT, layout, N, C, S) == BN_OK, "%s", name);
    bn_set_num_threads(threads);
    CHECK(bn_forward_inference(oh.p, xh.p, NULL, sm1, sr1, gamma, beta, 1e-5,
                               BN_USE_SCALE | BN_USE_SHIFT | dflag, layout, N, C, S) == BN_OK,
          "%s", name);
    snprintf(what, sizeof what, "%s: inference out", name);
    same_half(what, oh.p, f, n, dflag);
    bn_set_num_threads(1);
    CHECK(bn_backward(f, NULL, dg1, NULL, g, NULL, xf, gamma, sm1, sr1, BN_USE_SCALE,
                      BN_DIFF_INP | BN_DIFF_SCALE, layout, N, C, S) == BN_OK, "%s", name);
    bn_set_num_threads(threads);
    CHECK(bn_backward(oh.p, NULL, dg2, NULL, dyh.p, NULL, xh.p, gamma, sm1, sr1,
                      BN_USE_SCALE | dflag, BN_DIFF_INP | BN_DIFF_SCALE, layout, N, C, S) == BN_OK,
          "%s", name);
    snprintf(what, sizeof what, "%s: dinp", name);
    same_half(what, oh.p, f, n, dflag);
    snprintf(what, sizeof what, "%s: dgamma", name);
    same_floats(what, dg2, dg1, nc);
    bn_set_num_threads(0);
    free(xf), free(f), free(g), free(gamma), free(beta), free(sm1), free(sr1), free(sm2), free(sr2);
    free(dg1), free(dg2), free(xh.base), free(oh.base), free(dyh.base);
}

void test_half_threads(void) {
    for (int d = 0; d < 2; d++) {
        for (int t = 1; t <= 2; t++) {
            big_case(dflags[d], BN_LAYOUT_NCHW, 8, 16, 1024, t);  // runs, groups on threads
            big_case(dflags[d], BN_LAYOUT_NCHW, 64, 40, 49, t);   // short runs
            big_case(dflags[d], BN_LAYOUT_NHWC, 32, 100, 49, t);  // rows, two units
            big_case(dflags[d], BN_LAYOUT_NC, 2000, 33, 1, t);    // folded rows
            big_case(dflags[d], BN_LAYOUT_NHWC, 8, 600, 49, t);   // 3 units (the rows walk too)
            big_case(dflags[d], BN_LAYOUT_NHWC, 8, 2048, 49, t);  // rows of 2048 (the walk too)
        }
    }
}

// outputs of 16 MiB: non-temporal stores (CTest runs this with BNORM_STREAM_BYTES at 1 MiB, below
// them; bn_dispatch.c)
void test_half_stream(void) {
    for (int d = 0; d < 2; d++) {
        big_case(dflags[d], BN_LAYOUT_NCHW, 2, 4, 1 << 20, 1);
        big_case(dflags[d], BN_LAYOUT_NHWC, 1024, 128, 64, 1);
    }
}

// ----------------------------------------------------------------------------
// split phase: P = 2 parts of one batch (samples [0, N0) and [N0, N))

void test_half_split(void) {
    bt_rng r;
    bt_rng_seed(&r, 2005);
    for (int d = 0; d < 2; d++) {
        const unsigned int dflag = dflags[d];
        for (int i = 0; i < NSHAPES; i++) {
            const int layout = (int)shapes[i][0];
            const int64_t N = shapes[i][1], C = shapes[i][2], S = shapes[i][3], N0 = N / 2;
            const size_t n = (size_t)(N * C * S), nc = (size_t)C, per = (size_t)(C * S);
            for (unsigned int k = 0; k < 8; k++) { // scale (and shift), relu, add
                const unsigned int flags = (k & 1u ? BN_USE_SCALE | BN_USE_SHIFT : 0u) |
                                           (k & 2u ? BN_FUSE_RELU : 0u) | (k & 4u ? BN_FUSE_ADD : 0u);
                const unsigned int bflags = flags & ~BN_USE_SHIFT;
                const int relu = (flags & BN_FUSE_RELU) != 0, add = (flags & BN_FUSE_ADD) != 0;
                char name[200];
                snprintf(name, sizeof name, "%s split %s N=%lld C=%lld S=%lld flags=0x%x", dname(dflag),
                         bt_layout_name(layout), (long long)N, (long long)C, (long long)S, flags);
                float *xf = bt_floats(n), *rf = bt_floats(n), *of = bt_floats(n), *dyf = bt_floats(n);
                float *dxf = bt_floats(n), *drf = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
                float *dg1 = bt_floats(nc), *db1 = bt_floats(nc), *dg2 = bt_floats(nc), *db2 = bt_floats(nc);
                double *st1 = bt_doubles(6 * nc), *st2 = bt_doubles(6 * nc), *mean = bt_doubles(nc);
                double *rstd = bt_doubles(nc), *su1 = bt_doubles(6 * nc), *su2 = bt_doubles(6 * nc);
                hbuf xh = hb_new(n, (int)(k & 1u)), rh = hb_new(n, 0), oh = hb_new(n, 1);
                hbuf dyh = hb_new(n, 0), dxh = hb_new(n, 1), drh = hb_new(n, 0);
                bt_fill_inp(&r, xf, layout, N, C, S);
                bt_fill_normal(&r, rf, n);
                bt_fill_normal(&r, dyf, n);
                if (k == 1) offset_channel(&r, xf, layout, N, C, S);
                narrow_to(xh.p, xf, n, dflag);
                narrow_to(rh.p, rf, n, dflag);
                narrow_to(dyh.p, dyf, n, dflag);
                if (k == 1) specials(&r, xh.p, dflag, layout, N, C, S);
                widen_to(xf, xh.p, n, dflag);
                widen_to(rf, rh.p, n, dflag);
                widen_to(dyf, dyh.p, n, dflag);
                bt_fill_uniform(&r, gamma, nc, -2.0, 2.0);
                bt_fill_uniform(&r, beta, nc, -1.0, 1.0);
                const int64_t Np[2] = {N0, N - N0};
                const size_t at[2] = {0, (size_t)N0 * per};
                int ok = 1;
                for (int q = 0; q < 2; q++) { // NC and NHWC split by rows as NCHW: samples
                    if (Np[q] == 0) continue;
                    const bn_status s1 = bn_stats_local(st1 + q * 3 * nc, xf + at[q], 0, layout, Np[q], C, S);
                    const bn_status s2 = bn_stats_local(st2 + q * 3 * nc, xh.p + at[q], dflag, layout, Np[q], C, S);
                    ok &= s1 == BN_OK && s2 == BN_OK;
                }
                CHECK(ok, "%s: bn_stats_local", name);
                CHECK(memcmp(st1, st2, 6 * nc * sizeof *st1) == 0, "%s: stats differ", name);
                CHECK(bn_stats_merge(mean, rstd, NULL, NULL, st1, 1e-5, 0.0, 0, C, 2) == BN_OK, "%s", name);
                CHECK(bn_forward_apply(of, xf, add ? rf : NULL, mean, rstd, k & 1u ? gamma : NULL,
                                       k & 1u ? beta : NULL, flags, layout, N, C, S) == BN_OK, "%s", name);
                CHECK(bn_forward_apply(oh.p, xh.p, add ? rh.p : NULL, mean, rstd, k & 1u ? gamma : NULL,
                                       k & 1u ? beta : NULL, flags | dflag, layout, N, C, S) == BN_OK,
                      "%s", name);
                char what[260];
                snprintf(what, sizeof what, "%s: bn_forward_apply", name);
                same_half(what, oh.p, of, n, dflag);
                widen_to(of, oh.p, n, dflag); // the gate: the 16-bit forward's out
                ok = 1;
                for (int q = 0; q < 2; q++) {
                    if (Np[q] == 0) continue;
                    const bn_status s1 = bn_backward_reduce(su1 + q * 3 * nc, dyf + at[q], relu ? of + at[q] : NULL,
                                                            xf + at[q], mean, relu ? BN_FUSE_RELU : 0u,
                                                            layout, Np[q], C, S);
                    const bn_status s2 = bn_backward_reduce(su2 + q * 3 * nc, dyh.p + at[q],
                                                            relu ? oh.p + at[q] : NULL, xh.p + at[q], mean,
                                                            (relu ? BN_FUSE_RELU : 0u) | dflag, layout, Np[q], C, S);
                    ok &= s1 == BN_OK && s2 == BN_OK;
                }
                CHECK(ok, "%s: bn_backward_reduce", name);
                CHECK(memcmp(su1, su2, 6 * nc * sizeof *su1) == 0, "%s: sums differ", name);
                const unsigned int mask = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT | (add ? BN_DIFF_RES : 0u);
                CHECK(bn_backward_apply(dxf, add ? drf : NULL, dg1, db1, dyf, relu ? of : NULL, xf,
                                        k & 1u ? gamma : NULL, mean, rstd, su1, bflags, mask, layout,
                                        N, C, S, 2) == BN_OK, "%s", name);
                CHECK(bn_backward_apply(dxh.p, add ? drh.p : NULL, dg2, db2, dyh.p, relu ? oh.p : NULL,
                                        xh.p, k & 1u ? gamma : NULL, mean, rstd, su1, bflags | dflag,
                                        mask, layout, N, C, S, 2) == BN_OK, "%s", name);
                snprintf(what, sizeof what, "%s: bn_backward_apply dinp", name);
                same_half(what, dxh.p, dxf, n, dflag);
                snprintf(what, sizeof what, "%s: bn_backward_apply dres", name);
                if (add) same_half(what, drh.p, drf, n, dflag);
                snprintf(what, sizeof what, "%s: bn_backward_apply dgamma", name);
                same_floats(what, dg2, dg1, nc);
                snprintf(what, sizeof what, "%s: bn_backward_apply dbeta", name);
                same_floats(what, db2, db1, nc);
                free(xf), free(rf), free(of), free(dyf), free(dxf), free(drf), free(gamma), free(beta);
                free(dg1), free(db1), free(dg2), free(db2), free(st1), free(st2), free(mean);
                free(rstd), free(su1), free(su2), free(xh.base), free(rh.base), free(oh.base);
                free(dyh.base), free(dxh.base), free(drh.base);
            }
        }
    }
}

// ----------------------------------------------------------------------------
// statuses

void test_half_check(void) {
    enum { N = 4, C = 3, S = 5, L = BN_LAYOUT_NCHW, n = N * C * S };
    static uint16_t a[4 * n + 8], b[n + 4], c[n + 4];
    static float g[C], be[C], sm[C], sr[C], st_f[C];
    static double st[6 * C], dm[C], dr[C];
    const unsigned int both = BN_DATA_BF16 | BN_DATA_F16;
    for (int i = 0; i < C; i++) g[i] = be[i] = sm[i] = sr[i] = st_f[i] = 1.0f, dm[i] = dr[i] = 1.0;
    for (int i = 0; i < 3; i++) st[i] = 2.0; // counts
    uint16_t *x = a, *y = a + n; // adjacent: disjoint as 16-bit buffers, overlapping as float ones
    uint16_t *odd = (uint16_t *)(void *)((char *)b + 1), *two = b + 1; // 1 and 2 mod 4 bytes
    for (int d = 0; d < 3; d++) {
        const unsigned int f = d == 0 ? BN_DATA_BF16 : d == 1 ? BN_DATA_F16 : both;
        const bn_status want = d == 2 ? BN_ERR_BAD_DTYPE : BN_OK;
        CHECK(bn_forward_training(y, sm, sr, NULL, NULL, x, NULL, NULL, NULL, 1e-5, 0.1, f, L, N, C, S) == want, "training 0x%x", f);
        CHECK(bn_forward_inference(y, x, NULL, sm, sr, NULL, NULL, 1e-5, f, L, N, C, S) == want, "inference 0x%x", f);
        CHECK(bn_backward(y, NULL, NULL, NULL, x, NULL, x, NULL, sm, sr, f, BN_DIFF_INP, L, N, C, S) == want, "backward 0x%x", f);
        CHECK(bn_stats_local(st, x, f, L, N, C, S) == want, "stats_local 0x%x", f);
        CHECK(bn_forward_apply(y, x, NULL, dm, dr, NULL, NULL, f, L, N, C, S) == want, "forward_apply 0x%x", f);
        CHECK(bn_backward_reduce(st, y, NULL, x, dm, f, L, N, C, S) == want, "backward_reduce 0x%x", f);
        CHECK(bn_backward_apply(y, NULL, NULL, NULL, x, NULL, x, NULL, dm, dr, st, f, BN_DIFF_INP, L, N, C, S, 1) == want,
              "backward_apply 0x%x", f);
        if (d == 2) continue;
        // 2-byte alignment is enough; an odd address is not
        CHECK(bn_forward_inference(two, x, NULL, sm, sr, NULL, NULL, 1e-5, f, L, N, C, S) == BN_OK, "2 mod 4");
        CHECK(bn_forward_inference(odd, x, NULL, sm, sr, NULL, NULL, 1e-5, f, L, N, C, S) == BN_ERR_MISALIGNED, "odd out");
        CHECK(bn_stats_local(st, odd, f, L, N, C, S) == BN_ERR_MISALIGNED, "odd inp");
        CHECK(bn_backward(c, NULL, NULL, NULL, odd, NULL, x, NULL, sm, sr, f, BN_DIFF_INP, L, N, C, S) == BN_ERR_MISALIGNED, "odd dout");
        // overlap measured in 16-bit elements: one element's shift overlaps
        CHECK(bn_forward_inference(x + 1, x, NULL, sm, sr, NULL, NULL, 1e-5, f, L, N, C, S) == BN_ERR_ALIAS, "out = inp + 1");
        CHECK(bn_forward_inference(y - 1, x, NULL, sm, sr, NULL, NULL, 1e-5, f, L, N, C, S) == BN_ERR_ALIAS, "out = inp + n - 1");
        CHECK(bn_backward(y, NULL, NULL, NULL, y - 1, NULL, x, NULL, sm, sr, f, BN_DIFF_INP, L, N, C, S) == BN_ERR_ALIAS, "dout overlaps");
        CHECK(bn_forward_apply(x + 2 * n, x + 2 * n + 1, NULL, dm, dr, NULL, NULL, f, L, N, C, S) == BN_ERR_ALIAS, "apply overlaps");
        // the float32 call on the same adjacent buffers overlaps
        CHECK(bn_forward_inference(y, x, NULL, sm, sr, NULL, NULL, 1e-5, 0, L, N, C, S) == BN_ERR_ALIAS, "float32 overlaps");
        // size overflow by the element size: N*C*S*2 fits where *4 does not
        const int64_t big = (int64_t)(PTRDIFF_MAX / 2 / 2 + 1);
        CHECK(bn_forward_inference(y, x, NULL, sm, sr, NULL, NULL, 1e-5, f, BN_LAYOUT_NC, big, 1, 1) != BN_ERR_OVERFLOW, "2-byte size");
        CHECK(bn_forward_inference(y, x, NULL, sm, sr, NULL, NULL, 1e-5, 0, BN_LAYOUT_NC, big, 1, 1) == BN_ERR_OVERFLOW, "4-byte size");
        CHECK(bn_forward_inference(y, x, NULL, sm, sr, NULL, NULL, 1e-5, f, BN_LAYOUT_NC, 2 * big, 1, 1) == BN_ERR_OVERFLOW, "2-byte overflow");
    }
    // bn_stats_local: flags other than the data bits; bn_stats_merge takes none of them
    CHECK(bn_stats_local(st, x, BN_USE_SCALE, L, N, C, S) == BN_ERR_BAD_FLAGS, "stats_local flag");
    CHECK(bn_stats_local(st, x, 0x100u, L, N, C, S) == BN_ERR_BAD_FLAGS, "stats_local unknown");
    CHECK(bn_stats_local(NULL, x, both, L, N, C, S) == BN_ERR_NULL_POINTER, "null before dtype");
    CHECK(bn_stats_local(st, x, both | 0x100u, L, N, C, S) == BN_ERR_BAD_FLAGS, "flags before dtype");
    CHECK(bn_stats_local(st, x, both, L, 0, C, S) == BN_ERR_BAD_DTYPE, "dtype before dimension");
    CHECK(bn_stats_merge(dm, dr, NULL, NULL, st, 1e-5, 0.0, BN_DATA_BF16, C, 1) == BN_ERR_BAD_FLAGS, "merge");
    CHECK(bn_backward(NULL, NULL, NULL, NULL, x, NULL, x, NULL, sm, sr, both, 0, L, N, C, S) == BN_ERR_BAD_DTYPE,
          "dtype before mask");
    (void)st_f, (void)g, (void)be;
}
