/*
 * test_fused.c - the fusions of bn.h (BN_FUSE_RELU, BN_FUSE_ADD, the mask bit BN_DIFF_RES): every
 * flag combination, layout and view (NC, NCHW with S = 1, short and long runs, runs cut into
 * pieces, C < 64 folded rows with a partial row, more than one unit) against the naive double
 * references of harness.c with the fusion applied here; the exact rounding order (the fused out
 * is relu(fl(fl(bn) + res)) of the unfused out, bit for bit; the fused backward is the unfused
 * one of the gated dout, bit for bit); in place; the new statuses; thread counts.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const int64_t shapes[][4] = { // layout, N, C, S
    {BN_LAYOUT_NC, 37, 5, 1},     {BN_LAYOUT_NC, 9, 300, 1},     {BN_LAYOUT_NCHW, 40, 3, 1},
    {BN_LAYOUT_NCHW, 6, 5, 7},    {BN_LAYOUT_NCHW, 3, 4, 100},   {BN_LAYOUT_NCHW, 3, 2, 600},
    {BN_LAYOUT_NCHW, 2, 2, 4100}, {BN_LAYOUT_NHWC, 5, 3, 9},     {BN_LAYOUT_NHWC, 4, 70, 5},
    {BN_LAYOUT_NHWC, 2, 257, 3},
};

static const unsigned int fusions[] = {BN_FUSE_RELU, BN_FUSE_ADD, BN_FUSE_RELU | BN_FUSE_ADD};

static float relu_f(float v) { return v <= 0.0f ? 0.0f : v; }

// channel c of element i
static int64_t chan(int layout, int64_t C, int64_t S, size_t i) {
    return layout == BN_LAYOUT_NCHW ? (int64_t)(i / (size_t)S) % C : (int64_t)(i % (size_t)C);
}

// the bits of a and b agree (a NaN agrees with a NaN)
static int same_bits(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) == 0 || (isnan(a[i]) && isnan(b[i]))) continue;
        CHECK(0, "%s: element %zu is %.9g, expected %.9g (bit for bit)", what, i, (double)a[i],
              (double)b[i]);
        return 0;
    }
    return 1;
}

enum { OUT_NEW, OUT_IS_INP, OUT_IS_RES };

// ----------------------------------------------------------------------------
// forward

static void forward_case(bt_rng *r, int train, int layout, int64_t N, int64_t C, int64_t S,
                         unsigned int flags, int alias) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const int add = (flags & BN_FUSE_ADD) != 0, relu = (flags & BN_FUSE_RELU) != 0;
    const unsigned int base = flags & (BN_USE_SCALE | BN_USE_SHIFT);
    char name[200], what[300];
    snprintf(name, sizeof name, "%s %s N=%lld C=%lld S=%lld flags=0x%x alias=%d",
             train ? "training" : "inference", bt_layout_name(layout), (long long)N, (long long)C,
             (long long)S, flags, alias);
    float *inp = bt_floats(n), *res = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    float *mean = bt_floats(nc), *var = bt_floats(nc), *sm = bt_floats(nc), *sr = bt_floats(nc);
    float *sm1 = bt_floats(nc), *sr1 = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    bt_fill_normal(r, mean, nc);
    bt_fill_uniform(r, var, nc, 0.5, 1.5);
    gamma[0] = 0.0f; // channel 0: bn = beta exactly, and res = -beta makes z exactly 0
    for (size_t i = 0; i < n; i++) {
        res[i] = chan(layout, C, S, i) == 0 ? -beta[0] : (float)bt_normal(r);
    }
    const float *g = (base & BN_USE_SCALE) ? gamma : NULL, *b = (base & BN_USE_SHIFT) ? beta : NULL;
    // the unfused call, then the fusion here: relu(fl(u + res)) bit for bit
    float *u = bt_floats(n);
    bn_status st = train ? bn_forward_training(u, sm, sr, NULL, NULL, inp, NULL, g, b, 1e-5, 0.1,
                                               base, layout, N, C, S)
                         : bn_forward_inference(u, inp, NULL, mean, var, g, b, 1e-5, base, layout,
                                                N, C, S);
    CHECK(st == BN_OK, "%s: unfused status %d", name, st);
    float *want = bt_floats(n);
    for (size_t i = 0; i < n; i++) {
        float v = add ? u[i] + res[i] : u[i];
        want[i] = relu ? relu_f(v) : v;
    }
    float *inp0 = bt_copy_floats(inp, n), *res0 = bt_copy_floats(res, n);
    float *out = alias == OUT_IS_INP ? inp : alias == OUT_IS_RES ? res : bt_floats(n);
    st = train ? bn_forward_training(out, sm1, sr1, NULL, NULL, inp, add ? res : NULL, g, b, 1e-5,
                                     0.1, flags, layout, N, C, S)
               : bn_forward_inference(out, inp, add ? res : NULL, mean, var, g, b, 1e-5, flags,
                                      layout, N, C, S);
    CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
    snprintf(what, sizeof what, "%s: out = relu(fl(unfused out) + res)", name);
    same_bits(out, want, n, what);
    if (train) {
        snprintf(what, sizeof what, "%s: save_mean, save_rstd", name);
        same_bits(sm1, sm, nc, what);
        same_bits(sr1, sr, nc, what);
    }
    // the naive double reference with the fusion
    const int64_t M = N * S;
    double *dm = bt_doubles(nc), *dv = bt_doubles(nc), *rstd = bt_doubles(nc), *ref = bt_doubles(n);
    if (train) ref_stats(dm, dv, inp0, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) {
        if (!train) {
            dm[c] = mean[c];
            dv[c] = var[c];
        }
        rstd[c] = 1.0 / sqrt(dv[c] + 1e-5);
    }
    ref_normalize(ref, inp0, dm, rstd, g, b, layout, N, C, S);
    double big = bt_maxabs(ref, n);
    for (size_t i = 0; i < n; i++) {
        const double z = ref[i] + (add ? (double)res0[i] : 0.0);
        ref[i] = relu && !(z > 0.0) ? 0.0 : z;
    }
    big += add ? 5.0 : 0.0;
    const double tol = bt_tol(M);
    snprintf(what, sizeof what, "%s: out against the double reference", name);
    bt_close(what, out, ref, n, tol * big + 1e-30, tol);
    for (size_t i = 0; relu && i < n; i++) {
        if (!(out[i] >= 0.0f) || signbit(out[i])) {
            CHECK(0, "%s: relu out[%zu] = %g", name, i, (double)out[i]);
            break;
        }
    }
    if (alias == OUT_NEW) free(out);
    free(inp); free(res); free(gamma); free(beta); free(mean); free(var); free(sm); free(sr);
    free(sm1); free(sr1); free(u); free(want); free(inp0); free(res0); free(dm); free(dv);
    free(rstd); free(ref);
}

void test_fused_forward(void) {
    bt_rng r;
    bt_rng_seed(&r, 16);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        for (int train = 0; train < 2; train++) {
            for (size_t f = 0; f < sizeof fusions / sizeof fusions[0]; f++) {
                for (unsigned int base = 0; base < 4; base++) {
                    const unsigned int flags = fusions[f] | base;
                    const int last = (flags & BN_FUSE_ADD) ? OUT_IS_RES : OUT_IS_INP;
                    for (int alias = OUT_NEW; alias <= last; alias++) {
                        forward_case(&r, train, (int)shapes[k][0], shapes[k][1], shapes[k][2],
                                     shapes[k][3], flags, alias);
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// backward

enum { NO_ALIAS, DINP_IS_DOUT, DINP_IS_INP, DRES_IS_DOUT, DINP_IS_INP_DRES_IS_DOUT, N_ALIAS };

static void backward_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S,
                          unsigned int flags, unsigned int mask, int alias) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const int relu = (flags & BN_FUSE_RELU) != 0, global = (flags & BN_USE_GLOBAL_STATS) != 0;
    const int scale = (flags & BN_USE_SCALE) != 0;
    char name[200], what[300];
    snprintf(name, sizeof name, "backward %s N=%lld C=%lld S=%lld flags=0x%x mask=0x%x alias=%d",
             bt_layout_name(layout), (long long)N, (long long)C, (long long)S, flags, mask, alias);
    float *inp = bt_floats(n), *res = bt_floats(n), *dout = bt_floats(n), *out = bt_floats(n);
    float *gamma = bt_floats(nc), *beta = bt_floats(nc), *mean = bt_floats(nc);
    float *rstd = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, res, n);
    bt_fill_normal(r, dout, n);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    gamma[0] = 0.0f; // channel 0: out = relu(beta - beta) = 0 exactly, the gate's edge
    for (size_t i = 0; i < n; i++) {
        if (chan(layout, C, S, i) == 0) res[i] = -beta[0];
    }
    // the forward's out and statistics (the fused forward, with res so that out has zeros)
    bn_status st = bn_forward_training(out, mean, rstd, NULL, NULL, inp, res, gamma, beta, 1e-5,
                                       0.1, BN_USE_SCALE | BN_USE_SHIFT | BN_FUSE_RELU |
                                       BN_FUSE_ADD, layout, N, C, S);
    CHECK(st == BN_OK, "%s: forward status %d", name, st);
    for (size_t c = 0; global && c < nc; c++) rstd[c] *= (float)(0.5 + bt_uniform(r));
    // the gated dout, and the unfused backward of it
    float *gd = bt_floats(n);
    for (size_t i = 0; i < n; i++) gd[i] = relu ? (out[i] <= 0.0f ? 0.0f : dout[i]) : dout[i];
    const unsigned int umask = mask & ~BN_DIFF_RES, uflags = flags & ~(BN_FUSE_RELU | BN_FUSE_ADD);
    float *udinp = (umask & BN_DIFF_INP) ? bt_floats(n) : NULL;
    float *udg = (umask & BN_DIFF_SCALE) ? bt_floats(nc) : NULL;
    float *udb = (umask & BN_DIFF_SHIFT) ? bt_floats(nc) : NULL;
    const float *g = scale ? gamma : NULL;
    if (umask != 0) {
        st = bn_backward(udinp, NULL, udg, udb, gd, NULL, inp, g, mean, rstd, uflags, umask, layout,
                         N, C, S);
        CHECK(st == BN_OK, "%s: unfused status %d", name, st);
    }
    float *inp0 = bt_copy_floats(inp, n), *dout0 = bt_copy_floats(dout, n);
    float *dinp = NULL, *dres = NULL;
    float *dg = (mask & BN_DIFF_SCALE) ? bt_floats(nc) : NULL;
    float *db = (mask & BN_DIFF_SHIFT) ? bt_floats(nc) : NULL;
    if (mask & BN_DIFF_INP) {
        dinp = alias == DINP_IS_DOUT ? dout
               : alias == DINP_IS_INP || alias == DINP_IS_INP_DRES_IS_DOUT ? inp : bt_floats(n);
    }
    if (mask & BN_DIFF_RES) {
        dres = alias == DRES_IS_DOUT || alias == DINP_IS_INP_DRES_IS_DOUT ? dout : bt_floats(n);
    }
    st = bn_backward(dinp, dres, dg, db, dout, relu ? out : NULL, inp, g, mean, rstd, flags, mask,
                     layout, N, C, S);
    CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
    if (dinp) {
        snprintf(what, sizeof what, "%s: dinp = the unfused dinp of the gated dout", name);
        same_bits(dinp, udinp, n, what);
    }
    if (dg) {
        snprintf(what, sizeof what, "%s: dgamma", name);
        same_bits(dg, udg, nc, what);
    }
    if (db) {
        snprintf(what, sizeof what, "%s: dbeta", name);
        same_bits(db, udb, nc, what);
    }
    if (dres) {
        snprintf(what, sizeof what, "%s: dres = the gated dout", name);
        same_bits(dres, gd, n, what);
    }
    // the naive double reference of the gated dout
    double *ref = bt_doubles(n), *rdg = bt_doubles(nc), *rdb = bt_doubles(nc);
    ref_backward(ref, rdg, rdb, gd, inp0, g, mean, rstd, global, layout, N, C, S);
    const int64_t M = N * S;
    const double tol = bt_tol(M);
    if (dinp) {
        snprintf(what, sizeof what, "%s: dinp against the double reference", name);
        bt_close(what, dinp, ref, n, tol * bt_maxabs(ref, n) + 1e-30, tol);
    }
    if (dg) {
        snprintf(what, sizeof what, "%s: dgamma against the double reference", name);
        bt_close(what, dg, rdg, nc, 1e-9 * (double)M, tol);
    }
    for (size_t i = 0; dres && i < n; i++) { // the gate against the forward's z, not its out
        if (relu && out[i] == 0.0f && dres[i] != 0.0f) {
            CHECK(0, "%s: dres[%zu] = %g where out = 0", name, i, (double)dres[i]);
            break;
        }
        if (!(relu && out[i] == 0.0f) && memcmp(&dres[i], &dout0[i], sizeof(float)) != 0) {
            CHECK(0, "%s: dres[%zu] = %g, dout %g", name, i, (double)dres[i], (double)dout0[i]);
            break;
        }
    }
    if (dinp != NULL && dinp != dout && dinp != inp) free(dinp);
    if (dres != NULL && dres != dout) free(dres);
    free(inp); free(res); free(dout); free(out); free(gamma); free(beta); free(mean); free(rstd);
    free(gd); free(udinp); free(udg); free(udb); free(inp0); free(dout0); free(dg); free(db);
    free(ref); free(rdg); free(rdb);
}

void test_fused_backward(void) {
    bt_rng r;
    bt_rng_seed(&r, 1616);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        for (size_t f = 0; f < sizeof fusions / sizeof fusions[0]; f++) {
            for (unsigned int base = 0; base < 4; base++) {
                const unsigned int flags = fusions[f] | (base & 1u ? BN_USE_SCALE : 0u) |
                                           (base & 2u ? BN_USE_GLOBAL_STATS : 0u);
                for (unsigned int mask = 1; mask < 16; mask++) {
                    if ((mask & BN_DIFF_RES) && !(flags & BN_FUSE_ADD)) continue;
                    for (int alias = NO_ALIAS; alias < N_ALIAS; alias++) {
                        const int dinp_alias = alias == DINP_IS_DOUT || alias == DINP_IS_INP ||
                                               alias == DINP_IS_INP_DRES_IS_DOUT;
                        const int dres_alias = alias == DRES_IS_DOUT ||
                                               alias == DINP_IS_INP_DRES_IS_DOUT;
                        if ((dinp_alias && !(mask & BN_DIFF_INP)) ||
                            (dres_alias && !(mask & BN_DIFF_RES)) ||
                            (alias == DINP_IS_DOUT && (mask & BN_DIFF_RES))) {
                            continue;
                        }
                        backward_case(&r, (int)shapes[k][0], shapes[k][1], shapes[k][2],
                                      shapes[k][3], flags, mask, alias);
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// statuses

void test_fused_check(void) {
    const int64_t N = 4, C = 3, S = 5;
    const size_t n = (size_t)(N * C * S);
    float *x = bt_floats(n), *res = bt_floats(n), *out = bt_floats(n), *dout = bt_floats(n);
    float *dinp = bt_floats(n), *dres = bt_floats(n), *fwd = bt_floats(n);
    float *m = bt_floats(3), *v = bt_floats(3), *sm = bt_floats(3), *sr = bt_floats(3);
    for (size_t i = 0; i < n; i++) x[i] = res[i] = dout[i] = fwd[i] = (float)i;
    for (int c = 0; c < 3; c++) m[c] = v[c] = 1.0f;
    const int L = BN_LAYOUT_NCHW;
    const unsigned int ra = BN_FUSE_RELU | BN_FUSE_ADD;
#define FT(o, r, fl) bn_forward_training(o, sm, sr, NULL, NULL, x, r, NULL, NULL, 1e-5, 0.1, fl, L, N, C, S)
#define FI(o, r, fl) bn_forward_inference(o, x, r, m, v, NULL, NULL, 1e-5, fl, L, N, C, S)
#define BW(di, dr, o, fl, mk) bn_backward(di, dr, NULL, NULL, dout, o, x, NULL, m, v, fl, mk, L, N, C, S)
    CHECK(FT(out, res, ra) == BN_OK, "training, relu + add");
    CHECK(FT(out, NULL, BN_FUSE_ADD) == BN_ERR_NULL_POINTER, "training, add without res");
    CHECK(FT(out, res, BN_FUSE_RELU) == BN_ERR_BAD_FLAGS, "training, res without add");
    CHECK(FT(res, res, ra) == BN_OK, "training, out == res");
    CHECK(FT(out, out + 1, ra) == BN_ERR_ALIAS, "training, res overlaps out");
    CHECK(FT(x + 1, res, ra) == BN_ERR_ALIAS, "training, out overlaps inp");
    CHECK(FI(out, res, ra) == BN_OK, "inference, relu + add");
    CHECK(FI(out, NULL, BN_FUSE_ADD) == BN_ERR_NULL_POINTER, "inference, add without res");
    CHECK(FI(out, res, 0u) == BN_ERR_BAD_FLAGS, "inference, res without add");
    CHECK(FI(res, res, BN_FUSE_ADD) == BN_OK, "inference, out == res");
    float *two = bt_floats(2 * n);
    for (size_t i = 0; i < 2 * n; i++) two[i] = 1.0f;
    CHECK(FI(two, two + 1, BN_FUSE_ADD) == BN_ERR_ALIAS, "inference, res overlapping out");
    free(two);
    CHECK(BW(dinp, dres, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_OK, "backward, relu + add");
    CHECK(BW(dinp, NULL, NULL, BN_FUSE_RELU, BN_DIFF_INP) == BN_ERR_NULL_POINTER,
          "backward, relu without out");
    CHECK(BW(dinp, NULL, fwd, 0u, BN_DIFF_INP) == BN_ERR_BAD_FLAGS, "backward, out without relu");
    CHECK(BW(dinp, NULL, NULL, BN_FUSE_ADD, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_NULL_POINTER,
          "backward, BN_DIFF_RES without dres");
    CHECK(BW(dinp, dres, NULL, BN_FUSE_ADD, BN_DIFF_INP) == BN_ERR_BAD_FLAGS,
          "backward, dres without BN_DIFF_RES");
    CHECK(BW(dinp, dres, NULL, 0u, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_BAD_MASK,
          "backward, BN_DIFF_RES without BN_FUSE_ADD");
    CHECK(BW(NULL, dres, NULL, BN_FUSE_ADD, BN_DIFF_RES) == BN_OK, "backward, dres alone");
    CHECK(BW(dout, dout, NULL, BN_FUSE_ADD, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "backward, dinp == dres");
    CHECK(BW(dinp, dinp, NULL, BN_FUSE_ADD, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "backward, dinp == dres (not dout)");
    CHECK(BW(dinp, dout, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_OK, "backward, dres == dout");
    CHECK(BW(x, dout, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_OK,
          "backward, dinp == inp, dres == dout");
    CHECK(BW(dinp, x, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS, "backward, dres == inp");
    CHECK(BW(fwd, dres, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "backward, dinp == out");
    CHECK(BW(dinp, fwd, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "backward, dres == out");
    double *dm = malloc(3 * sizeof(double)), *dr = malloc(3 * sizeof(double));
    double *sums = malloc(9 * sizeof(double));
    for (int c = 0; c < 3; c++) dm[c] = dr[c] = 1.0;
    CHECK(bn_forward_apply(out, x, res, dm, dr, NULL, NULL, ra, L, N, C, S) == BN_OK, "apply, relu + add");
    CHECK(bn_forward_apply(res, x, res, dm, dr, NULL, NULL, ra, L, N, C, S) == BN_OK, "apply, out == res");
    CHECK(bn_forward_apply(out, x, NULL, dm, dr, NULL, NULL, BN_FUSE_ADD, L, N, C, S) == BN_ERR_NULL_POINTER,
          "apply, add without res");
    CHECK(bn_forward_apply(out, x, res, dm, dr, NULL, NULL, BN_FUSE_RELU, L, N, C, S) == BN_ERR_BAD_FLAGS,
          "apply, res without add");
    CHECK(bn_backward_reduce(sums, dout, fwd, x, dm, BN_FUSE_RELU, L, N, C, S) == BN_OK, "reduce, relu");
    CHECK(bn_backward_reduce(sums, dout, NULL, x, dm, BN_FUSE_RELU, L, N, C, S) == BN_ERR_NULL_POINTER,
          "reduce, relu without out");
    CHECK(bn_backward_reduce(sums, dout, fwd, x, dm, BN_FUSE_ADD, L, N, C, S) == BN_ERR_BAD_FLAGS,
          "reduce takes only BN_FUSE_RELU");
    for (int c = 0; c < 3; c++) sums[c] = (double)(N * S);
#define BA(di, dr_, o, fl, mk) bn_backward_apply(di, dr_, NULL, NULL, dout, o, x, NULL, dm, dr, sums, fl, mk, L, N, C, S, 1)
    CHECK(BA(dinp, dres, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_OK, "apply backward, relu + add");
    CHECK(BA(dinp, dout, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_OK, "apply backward, dres == dout");
    CHECK(BA(dinp, dres, fwd, BN_FUSE_RELU, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_BAD_MASK,
          "apply backward, dres without add");
    CHECK(BA(dinp, NULL, NULL, BN_FUSE_RELU, BN_DIFF_INP) == BN_ERR_NULL_POINTER,
          "apply backward, relu without out");
    CHECK(BA(dinp, dinp, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "apply backward, dinp == dres");
    CHECK(BA(dinp, fwd, fwd, ra, BN_DIFF_INP | BN_DIFF_RES) == BN_ERR_ALIAS,
          "apply backward, dres == out");
#undef BA
    free(sums);
#undef FT
#undef FI
#undef BW
    free(dm); free(dr);
    free(x); free(res); free(out); free(dout); free(dinp); free(dres); free(fwd);
    free(m); free(v); free(sm); free(sr);
}

// ----------------------------------------------------------------------------
// threads: bit-identical fused results for 1 and 2 threads on calls large enough to be split

void test_fused_threads(void) {
    static const int64_t big[][4] = {
        {BN_LAYOUT_NCHW, 8, 16, 4096}, {BN_LAYOUT_NCHW, 64, 32, 49}, {BN_LAYOUT_NHWC, 4096, 128, 4},
        {BN_LAYOUT_NC, 20000, 300, 1}, {BN_LAYOUT_NCHW, 2, 3, 300000},
    };
    bt_rng r;
    bt_rng_seed(&r, 161616);
    const int saved = bn_get_num_threads();
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        const int layout = (int)big[k][0];
        const int64_t N = big[k][1], C = big[k][2], S = big[k][3];
        const size_t n = (size_t)(N * C * S), nc = (size_t)C;
        float *x = bt_floats(n), *res = bt_floats(n), *dout = bt_floats(n), *gamma = bt_floats(nc);
        float *beta = bt_floats(nc), *out[2], *dinp[2], *dres[2], *dg[2], *db[2], *sm[2], *sr[2];
        bt_fill_inp(&r, x, layout, N, C, S);
        bt_fill_normal(&r, res, n);
        bt_fill_normal(&r, dout, n);
        bt_fill_normal(&r, gamma, nc);
        bt_fill_normal(&r, beta, nc);
        const unsigned int fl = BN_USE_SCALE | BN_USE_SHIFT | BN_FUSE_RELU | BN_FUSE_ADD;
        for (int t = 0; t < 2; t++) {
            bn_set_num_threads(t + 1);
            out[t] = bt_floats(n); dinp[t] = bt_floats(n); dres[t] = bt_floats(n);
            dg[t] = bt_floats(nc); db[t] = bt_floats(nc); sm[t] = bt_floats(nc); sr[t] = bt_floats(nc);
            bn_status st = bn_forward_training(out[t], sm[t], sr[t], NULL, NULL, x, res, gamma,
                                               beta, 1e-5, 0.1, fl, layout, N, C, S);
            CHECK(st == BN_OK, "threads forward status %d", st);
            st = bn_backward(dinp[t], dres[t], dg[t], db[t], dout, out[t], x, gamma, sm[t], sr[t],
                             BN_USE_SCALE | BN_FUSE_RELU | BN_FUSE_ADD, 15u, layout, N, C, S);
            CHECK(st == BN_OK, "threads backward status %d", st);
        }
        char what[120];
        snprintf(what, sizeof what, "%s N=%lld C=%lld S=%lld: 1 and 2 threads",
                 bt_layout_name(layout), (long long)N, (long long)C, (long long)S);
        same_bits(out[0], out[1], n, what);
        same_bits(dinp[0], dinp[1], n, what);
        same_bits(dres[0], dres[1], n, what);
        same_bits(dg[0], dg[1], nc, what);
        same_bits(db[0], db[1], nc, what);
        for (int t = 0; t < 2; t++) {
            free(out[t]); free(dinp[t]); free(dres[t]); free(dg[t]); free(db[t]); free(sm[t]);
            free(sr[t]);
        }
        free(x); free(res); free(dout); free(gamma); free(beta);
    }
    bn_set_num_threads(saved);
}

// ----------------------------------------------------------------------------
// split phase: with P = 1 the fused forward is bn_forward_training's bit for bit; the fused
// backward is the unfused one of the gated dout bit for bit

void test_fused_split(void) {
    bt_rng r;
    bt_rng_seed(&r, 2727);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int layout = (int)shapes[k][0];
        const int64_t N = shapes[k][1], C = shapes[k][2], S = shapes[k][3];
        const size_t n = (size_t)(N * C * S), nc = (size_t)C;
        for (size_t f = 0; f < sizeof fusions / sizeof fusions[0]; f++) {
            const unsigned int fl = fusions[f], relu = fl & BN_FUSE_RELU;
            const int add = (fl & BN_FUSE_ADD) != 0;
            char name[160];
            snprintf(name, sizeof name, "split %s N=%lld C=%lld S=%lld flags=0x%x",
                     bt_layout_name(layout), (long long)N, (long long)C, (long long)S, fl);
            float *inp = bt_floats(n), *res = bt_floats(n), *dout = bt_floats(n);
            float *out1 = bt_floats(n), *out2 = bt_floats(n), *sm = bt_floats(nc), *sr = bt_floats(nc);
            float *gamma = bt_floats(nc), *beta = bt_floats(nc), *g = bt_floats(n);
            bt_fill_inp(&r, inp, layout, N, C, S);
            bt_fill_normal(&r, res, n);
            bt_fill_normal(&r, dout, n);
            bt_fill_normal(&r, gamma, nc);
            bt_fill_normal(&r, beta, nc);
            const unsigned int aff = BN_USE_SCALE | BN_USE_SHIFT;
            bn_status st = bn_forward_training(out1, sm, sr, NULL, NULL, inp, add ? res : NULL, gamma,
                                               beta, 1e-5, 0.1, aff | fl, layout, N, C, S);
            CHECK(st == BN_OK, "%s: training status %d", name, st);
            double *stats = bt_doubles(3 * nc), *mean = bt_doubles(nc), *rstd = bt_doubles(nc);
            st = bn_stats_local(stats, inp, 0, layout, N, C, S);
            if (st == BN_OK) st = bn_stats_merge(mean, rstd, NULL, NULL, stats, 1e-5, 0.1, 0u, C, 1);
            if (st == BN_OK) st = bn_forward_apply(out2, inp, add ? res : NULL, mean, rstd, gamma, beta,
                                                   aff | fl, layout, N, C, S);
            CHECK(st == BN_OK, "%s: split forward status %d", name, st);
            same_bits(out2, out1, n, name);
            // backward: fused on dout against unfused on g = gate(dout)
            for (size_t i = 0; i < n; i++) g[i] = relu && out2[i] <= 0.0f ? 0.0f : dout[i];
            double *s1 = bt_doubles(3 * nc), *s0 = bt_doubles(3 * nc);
            float *dinp1 = bt_floats(n), *dres1 = bt_floats(n), *dinp0 = bt_floats(n);
            float *dg1 = bt_floats(nc), *db1 = bt_floats(nc), *dg0 = bt_floats(nc), *db0 = bt_floats(nc);
            st = bn_backward_reduce(s1, dout, relu ? out2 : NULL, inp, mean, relu, layout, N, C, S);
            if (st == BN_OK) st = bn_backward_reduce(s0, g, NULL, inp, mean, 0u, layout, N, C, S);
            CHECK(st == BN_OK, "%s: reduce status %d", name, st);
            CHECK(memcmp(s1, s0, 3 * nc * sizeof(double)) == 0, "%s: reduce sums", name);
            const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
            st = bn_backward_apply(dinp1, add ? dres1 : NULL, dg1, db1, dout, relu ? out2 : NULL, inp,
                                   gamma, mean, rstd, s1, BN_USE_SCALE | fl,
                                   all | (add ? BN_DIFF_RES : 0u), layout, N, C, S, 1);
            if (st == BN_OK) st = bn_backward_apply(dinp0, NULL, dg0, db0, g, NULL, inp, gamma, mean,
                                                    rstd, s0, BN_USE_SCALE, all, layout, N, C, S, 1);
            CHECK(st == BN_OK, "%s: backward apply status %d", name, st);
            same_bits(dinp1, dinp0, n, name);
            same_bits(dg1, dg0, nc, name);
            same_bits(db1, db0, nc, name);
            if (add) same_bits(dres1, g, n, name);
            free(inp); free(res); free(dout); free(out1); free(out2); free(sm); free(sr);
            free(gamma); free(beta); free(g); free(stats); free(mean); free(rstd); free(s1); free(s0);
            free(dinp1); free(dres1); free(dinp0); free(dg1); free(db1); free(dg0); free(db0);
        }
    }
}
