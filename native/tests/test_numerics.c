/*
 * test_numerics.c - the numerically hard cases: a large offset (mean >> std), constant channels
 * (var = 0), and NaN/Inf that must stay inside their channel.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const int layouts[] = {BN_LAYOUT_NC, BN_LAYOUT_NCHW, BN_LAYOUT_NHWC};

static int64_t channel_of(size_t i, int layout, int64_t C, int64_t S) {
    if (layout == BN_LAYOUT_NCHW) return ((int64_t)i / S) % C;
    return (int64_t)i % C;
}

// ----------------------------------------------------------------------------
// x = offset + noise*N(0,1): 1000 + 0.01*noise, 1e6 + noise

// S: spatial size for NCHW and NHWC (NC: 1)
static void large_offset_case(int layout, double offset, double noise, int64_t s) {
    const int64_t C = 3;
    const int64_t N = layout == BN_LAYOUT_NC ? 20000 : 20, S = layout == BN_LAYOUT_NC ? 1 : s;
    const int64_t M = N * S;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const double eps = 1e-5, f = 1.0; // running_var = the unbiased batch var
    char name[120], what[160];
    snprintf(name, sizeof name, "%s S=%lld x = %g + %g*N(0,1)", bt_layout_name(layout),
             (long long)S, offset, noise);
    bt_rng r;
    bt_rng_seed(&r, 7);
    float *inp = bt_floats(n), *out = bt_floats(n), *save_mean = bt_floats(nc);
    float *save_rstd = bt_floats(nc), *rm = bt_floats(nc), *rv = bt_floats(nc);
    for (size_t i = 0; i < n; i++) inp[i] = (float)(offset + noise * bt_normal(&r));
    for (size_t c = 0; c < nc; c++) {
        rm[c] = 0.0f;
        rv[c] = 1.0f;
    }
    double *mean = bt_doubles(nc), *var = bt_doubles(nc), *rstd = bt_doubles(nc);
    double *ref = bt_doubles(n), *ref_rv = bt_doubles(nc);
    ref_stats(mean, var, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) {
        rstd[c] = 1.0 / sqrt(var[c] + eps);
        ref_rv[c] = (1.0 - f) * 1.0 + f * var[c] * (double)M / (double)(M - 1);
    }
    ref_normalize(ref, inp, mean, rstd, NULL, NULL, layout, N, C, S);

    // training
    bn_status st = bn_forward_training(out, save_mean, save_rstd, rm, rv, inp, NULL, NULL, NULL, eps, f,
                                       BN_UPDATE_RUNNING, layout, N, C, S);
    CHECK(st == BN_OK, "%s: training status %d", name, st);
    CHECK(bt_all_finite(out, n), "%s: training out not finite", name);
    snprintf(what, sizeof what, "%s: training out (abs 1e-3)", name);
    bt_close(what, out, ref, n, 1e-3, 0.0);
    snprintf(what, sizeof what, "%s: save_mean", name);
    bt_close(what, save_mean, mean, nc, 0.0, 1e-7);
    snprintf(what, sizeof what, "%s: save_rstd", name);
    bt_close(what, save_rstd, rstd, nc, 0.0, 1e-4);
    snprintf(what, sizeof what, "%s: running_var", name);
    bt_close(what, rv, ref_rv, nc, 0.0, 1e-4);
    for (size_t c = 0; c < nc; c++) { // sane: the noise level, not the offset's rounding
        const double sd = sqrt((double)rv[c]);
        CHECK(sd > 0.9 * noise && sd < 1.1 * noise, "%s: running std %g for noise %g", name, sd,
              noise);
    }

    // inference with the batch statistics as floats, in place
    float *fmean = bt_floats(nc), *fvar = bt_floats(nc);
    for (size_t c = 0; c < nc; c++) {
        fmean[c] = (float)mean[c];
        fvar[c] = (float)var[c];
        mean[c] = fmean[c];
        rstd[c] = 1.0 / sqrt((double)fvar[c] + eps);
    }
    float *io = bt_floats(n);
    memcpy(io, inp, n * sizeof(float));
    ref_normalize(ref, inp, mean, rstd, NULL, NULL, layout, N, C, S);
    st = bn_forward_inference(io, io, NULL, fmean, fvar, NULL, NULL, eps, 0u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: inference status %d", name, st);
    snprintf(what, sizeof what, "%s: inference out (abs 1e-3)", name);
    bt_close(what, io, ref, n, 1e-3, 0.0);

    // backward with the saved statistics
    float *dout = bt_floats(n), *dinp = bt_floats(n), *dgamma = bt_floats(nc);
    float *dbeta = bt_floats(nc);
    for (size_t i = 0; i < n; i++) dout[i] = (float)bt_normal(&r);
    double *ref_dg = bt_doubles(nc), *ref_db = bt_doubles(nc);
    st = bn_backward(dinp, NULL, dgamma, dbeta, dout, NULL, inp, NULL, save_mean, save_rstd, 0u,
                     BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, layout, N, C, S);
    CHECK(st == BN_OK, "%s: backward status %d", name, st);
    ref_backward(ref, ref_dg, ref_db, dout, inp, NULL, save_mean, save_rstd, 0, layout, N, C, S);
    snprintf(what, sizeof what, "%s: dinp", name);
    bt_close(what, dinp, ref, n, 1e-5 * bt_maxabs(ref, n), 1e-5);
    snprintf(what, sizeof what, "%s: dgamma", name);
    bt_close(what, dgamma, ref_dg, nc, 1e-5 * sqrt((double)M), 1e-5);
    snprintf(what, sizeof what, "%s: dbeta", name);
    bt_close(what, dbeta, ref_db, nc, 1e-5 * sqrt((double)M), 1e-5);

    free(inp); free(out); free(save_mean); free(save_rstd); free(rm); free(rv); free(mean);
    free(var); free(rstd); free(ref); free(ref_rv); free(fmean); free(fvar); free(io);
    free(dout); free(dinp); free(dgamma); free(dbeta); free(ref_dg); free(ref_db);
}

void test_large_offset(void) {
    for (int l = 0; l < 3; l++) {
        // NCHW: S = 100 takes the short-run path, S = 1000 the per-channel one
        for (int64_t s = 1000; s >= (layouts[l] == BN_LAYOUT_NCHW ? 100 : 1000); s -= 900) {
            large_offset_case(layouts[l], 1000.0, 0.01, s);
            large_offset_case(layouts[l], 1e6, 1.0, s);
            large_offset_case(layouts[l], -3e4, 0.01, s);
        }
    }
}

// ----------------------------------------------------------------------------
// constant channels: var = 0, out = beta exactly, nothing NaN

// s: spatial size of NCHW and NHWC (NC: 1)
static void constant_case(int layout, double eps, int64_t s) {
    const int64_t N = 6, C = 4, S = layout == BN_LAYOUT_NC ? 1 : s, M = N * S;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const float k2 = 3.7f, k0 = -1e6f; // channel 2 and channel 0 are constant
    const double f = 0.1;
    char name[80];
    snprintf(name, sizeof name, "%s S=%lld eps=%g", bt_layout_name(layout), (long long)S, eps);
    bt_rng r;
    bt_rng_seed(&r, 8);
    float *inp = bt_floats(n), *out = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    float *save_mean = bt_floats(nc), *save_rstd = bt_floats(nc), *rm = bt_floats(nc);
    float *rv = bt_floats(nc);
    for (size_t i = 0; i < n; i++) {
        const int64_t c = channel_of(i, layout, C, S);
        inp[i] = c == 2 ? k2 : c == 0 ? k0 : (float)bt_normal(&r);
    }
    for (size_t c = 0; c < nc; c++) {
        gamma[c] = (float)(1.0 + bt_normal(&r));
        beta[c] = (float)bt_normal(&r);
        rm[c] = 0.5f;
        rv[c] = 2.0f;
    }
    bn_status st = bn_forward_training(out, save_mean, save_rstd, rm, rv, inp, NULL, gamma, beta, eps, f,
                                       BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING, layout, N,
                                       C, S);
    CHECK(st == BN_OK, "%s: status %d", name, st);
    CHECK(bt_all_finite(out, n), "%s: out has NaN/Inf", name);
    for (size_t i = 0; i < n; i++) {
        const int64_t c = channel_of(i, layout, C, S);
        if (c == 0 || c == 2) {
            CHECK(out[i] == beta[c], "%s: out[%zu] = %.9g, want beta = %.9g", name, i, out[i],
                  beta[c]);
        }
    }
    CHECK(save_mean[2] == k2 && save_mean[0] == k0, "%s: save_mean %.9g %.9g", name, save_mean[2],
          save_mean[0]);
    const float rstd0 = (float)(1.0 / sqrt(eps));
    CHECK(save_rstd[2] == rstd0 && save_rstd[0] == rstd0, "%s: save_rstd %.9g, want %.9g", name,
          save_rstd[2], rstd0);
    CHECK(rv[2] == (float)((1.0 - f) * 2.0), "%s: running_var %.9g", name, rv[2]);
    CHECK(rm[2] == (float)((1.0 - f) * 0.5 + f * k2), "%s: running_mean %.9g", name, rm[2]);
    CHECK(bt_all_finite(rm, nc) && bt_all_finite(rv, nc), "%s: running stats not finite", name);
    CHECK(bt_all_finite(save_mean, nc), "%s: save_mean not finite", name);

    if (isfinite(rstd0)) { // backward through the constant channels
        float *dout = bt_floats(n), *dinp = bt_floats(n), *dgamma = bt_floats(nc);
        float *dbeta = bt_floats(nc);
        for (size_t i = 0; i < n; i++) dout[i] = (float)bt_normal(&r);
        st = bn_backward(dinp, NULL, dgamma, dbeta, dout, NULL, inp, gamma, save_mean, save_rstd,
                         BN_USE_SCALE, BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, layout, N, C,
                         S);
        CHECK(st == BN_OK, "%s: backward status %d", name, st);
        CHECK(bt_all_finite(dinp, n), "%s: dinp has NaN/Inf", name);
        CHECK(dgamma[2] == 0.0f && dgamma[0] == 0.0f, "%s: dgamma %g %g, want 0", name, dgamma[2],
              dgamma[0]);
        double *ref = bt_doubles(n), *ref_dg = bt_doubles(nc), *ref_db = bt_doubles(nc);
        ref_backward(ref, ref_dg, ref_db, dout, inp, gamma, save_mean, save_rstd, 0, layout, N,
                     C, S);
        char what[120];
        snprintf(what, sizeof what, "%s: dinp", name);
        bt_close(what, dinp, ref, n, bt_tol(M) * bt_maxabs(ref, n), bt_tol(M));
        snprintf(what, sizeof what, "%s: dbeta", name);
        bt_close(what, dbeta, ref_db, nc, 1e-9, bt_tol(M));
        free(dout); free(dinp); free(dgamma); free(dbeta); free(ref); free(ref_dg); free(ref_db);
    }
    free(inp); free(out); free(gamma); free(beta); free(save_mean); free(save_rstd); free(rm);
    free(rv);
}

void test_constant_channel(void) {
    for (int l = 0; l < 3; l++) {
        constant_case(layouts[l], 1e-5, 5);
        constant_case(layouts[l], 1e-300, 5); // rstd = 1e150 overflows float: out is still beta
        constant_case(layouts[l], 1e-5, 1500); // NCHW: runs too long to be short runs
        constant_case(layouts[l], 1e-300, 1500);
    }
}

// ----------------------------------------------------------------------------
// NaN and Inf stay in their channel: every other channel is bit-identical to a clean run

enum { NF_C = 300 }; // two chunks of the channels-last kernels
// 0 and 256 are the first channels of their chunks: a leak into a neighbour would show
static const int64_t dirty[] = {0, 131, 256, 299};

static int is_dirty(int64_t c) {
    for (size_t k = 0; k < sizeof dirty / sizeof dirty[0]; k++) {
        if (c == dirty[k]) return 1;
    }
    return 0;
}

// first element of channel c (sample 0, s = 0) and the last
static size_t first_of(int64_t c, int layout, int64_t N, int64_t S) {
    return bt_index(layout, N, NF_C, S, 0, c, 0);
}
static size_t last_of(int64_t c, int layout, int64_t N, int64_t S) {
    return bt_index(layout, N, NF_C, S, N - 1, c, S - 1);
}

// clean elements equal bit for bit; in dirty channels every element is non-finite
static void compare_channels(const char *name, const char *what, const float *clean,
                             const float *got, size_t n, int layout, int64_t C, int64_t S,
                             int per_channel) {
    size_t same_bad = 0, dirty_bad = 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t c = per_channel ? (int64_t)i : channel_of(i, layout, C, S);
        if (is_dirty(c)) {
            if (isfinite(got[i])) dirty_bad++;
        } else if (memcmp(&clean[i], &got[i], sizeof(float)) != 0) {
            same_bad++;
        }
    }
    CHECK(same_bad == 0, "%s: %s: %zu elements of clean channels changed", name, what, same_bad);
    CHECK(dirty_bad == 0, "%s: %s: %zu elements of dirty channels are finite", name, what,
          dirty_bad);
}

// s: spatial size of NCHW and NHWC (NC: 1)
static void nonfinite_case(int layout, int64_t s) {
    const int64_t C = NF_C;
    const int64_t N = layout == BN_LAYOUT_NC ? 12 : 4, S = layout == BN_LAYOUT_NC ? 1 : s;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const unsigned int all_f = BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING;
    const unsigned int all_m = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    const char *name = bt_layout_name(layout);
    bt_rng r;
    bt_rng_seed(&r, 9);
    float *a = bt_floats(n), *b = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    for (size_t i = 0; i < n; i++) a[i] = (float)bt_normal(&r);
    for (size_t c = 0; c < nc; c++) {
        gamma[c] = (float)bt_normal(&r);
        beta[c] = (float)bt_normal(&r);
    }
    memcpy(b, a, n * sizeof(float));
    b[first_of(dirty[0], layout, N, S)] = NAN;
    b[last_of(dirty[1], layout, N, S)] = NAN;
    b[last_of(dirty[2], layout, N, S)] = INFINITY;
    b[first_of(dirty[3], layout, N, S)] = INFINITY;
    b[last_of(dirty[3], layout, N, S)] = -INFINITY;

    // training: clean run (a) and dirty run (b)
    float *out_a = bt_floats(n), *out_b = bt_floats(n);
    float *sm_a = bt_floats(nc), *sm_b = bt_floats(nc), *sr_a = bt_floats(nc);
    float *sr_b = bt_floats(nc), *rm_a = bt_floats(nc), *rm_b = bt_floats(nc);
    float *rv_a = bt_floats(nc), *rv_b = bt_floats(nc);
    for (size_t c = 0; c < nc; c++) {
        rm_a[c] = rm_b[c] = 0.25f;
        rv_a[c] = rv_b[c] = 1.5f;
    }
    bn_status st = bn_forward_training(out_a, sm_a, sr_a, rm_a, rv_a, a, NULL, gamma, beta, 1e-5, 0.1,
                                       all_f, layout, N, C, S);
    CHECK(st == BN_OK, "%s: training (clean) status %d", name, st);
    st = bn_forward_training(out_b, sm_b, sr_b, rm_b, rv_b, b, NULL, gamma, beta, 1e-5, 0.1, all_f,
                             layout, N, C, S);
    CHECK(st == BN_OK, "%s: training (dirty) status %d", name, st);
    compare_channels(name, "training out", out_a, out_b, n, layout, C, S, 0);
    compare_channels(name, "save_mean", sm_a, sm_b, nc, layout, C, S, 1);
    compare_channels(name, "save_rstd", sr_a, sr_b, nc, layout, C, S, 1);
    compare_channels(name, "running_mean", rm_a, rm_b, nc, layout, C, S, 1);
    compare_channels(name, "running_var", rv_a, rv_b, nc, layout, C, S, 1);
    CHECK(isnan(sm_b[dirty[0]]) && isnan(sm_b[dirty[1]]) && sm_b[dirty[2]] == INFINITY &&
              isnan(sm_b[dirty[3]]),
          "%s: save_mean of dirty channels %g %g %g %g", name, sm_b[dirty[0]], sm_b[dirty[1]],
          sm_b[dirty[2]], sm_b[dirty[3]]);

    // inference: NaN var in one channel, Inf mean in another; one NaN input element
    float *mean = bt_floats(nc), *var = bt_floats(nc), *mean_b = bt_floats(nc);
    float *var_b = bt_floats(nc);
    for (size_t c = 0; c < nc; c++) {
        mean[c] = mean_b[c] = (float)bt_normal(&r);
        var[c] = var_b[c] = (float)(0.5 + bt_uniform(&r));
    }
    var_b[dirty[0]] = NAN;
    mean_b[dirty[1]] = NAN;
    mean_b[dirty[2]] = INFINITY;
    var_b[dirty[3]] = -INFINITY;
    st = bn_forward_inference(out_a, a, NULL, mean, var, gamma, beta, 1e-5, 3u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: inference (clean) status %d", name, st);
    st = bn_forward_inference(out_b, a, NULL, mean_b, var_b, gamma, beta, 1e-5, 3u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: inference (dirty) status %d", name, st);
    compare_channels(name, "inference out", out_a, out_b, n, layout, C, S, 0);
    memcpy(out_b, a, n * sizeof(float)); // a NaN element spoils its own output only (in place)
    const size_t bad = last_of(5, layout, N, S);
    out_b[bad] = NAN;
    st = bn_forward_inference(out_b, out_b, NULL, mean, var, gamma, beta, 1e-5, 3u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: inference (NaN element) status %d", name, st);
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        if (i != bad && memcmp(&out_a[i], &out_b[i], sizeof(float)) != 0) changed++;
    }
    CHECK(changed == 0 && isnan(out_b[bad]), "%s: inference NaN element: %zu others changed",
          name, changed);

    // backward, batch statistics of the clean run: a NaN in dout, an Inf in inp
    float *dout = bt_floats(n), *dout_b = bt_floats(n);
    for (size_t i = 0; i < n; i++) dout[i] = dout_b[i] = (float)bt_normal(&r);
    dout_b[last_of(dirty[0], layout, N, S)] = NAN;
    dout_b[first_of(dirty[1], layout, N, S)] = NAN;
    dout_b[first_of(dirty[3], layout, N, S)] = -INFINITY;
    float *inp_b = bt_floats(n);
    memcpy(inp_b, a, n * sizeof(float));
    inp_b[first_of(dirty[2], layout, N, S)] = INFINITY;
    float *dinp_a = bt_floats(n), *dinp_b = bt_floats(n), *dg_a = bt_floats(nc);
    float *dg_b = bt_floats(nc), *db_a = bt_floats(nc), *db_b = bt_floats(nc);
    st = bn_backward(dinp_a, NULL, dg_a, db_a, dout, NULL, a, gamma, sm_a, sr_a, BN_USE_SCALE, all_m, layout,
                     N, C, S);
    CHECK(st == BN_OK, "%s: backward (clean) status %d", name, st);
    st = bn_backward(dinp_b, NULL, dg_b, db_b, dout_b, NULL, inp_b, gamma, sm_a, sr_a, BN_USE_SCALE, all_m,
                     layout, N, C, S);
    CHECK(st == BN_OK, "%s: backward (dirty) status %d", name, st);
    compare_channels(name, "dinp", dinp_a, dinp_b, n, layout, C, S, 0);
    compare_channels(name, "dgamma", dg_a, dg_b, nc, layout, C, S, 1);
    // dbeta = sum(dout) does not read inp: the Inf in inp leaves dirty[2]'s dbeta unchanged
    CHECK(!isfinite(db_b[dirty[0]]) && !isfinite(db_b[dirty[1]]) && !isfinite(db_b[dirty[3]]) &&
              memcmp(&db_a[dirty[2]], &db_b[dirty[2]], sizeof(float)) == 0,
          "%s: dbeta of dirty channels %g %g %g %g", name, db_b[dirty[0]], db_b[dirty[1]],
          db_b[dirty[2]], db_b[dirty[3]]);
    size_t db_changed = 0;
    for (int64_t c = 0; c < C; c++) {
        if (!is_dirty(c) && memcmp(&db_a[c], &db_b[c], sizeof(float)) != 0) db_changed++;
    }
    CHECK(db_changed == 0, "%s: dbeta of %zu clean channels changed", name, db_changed);

    free(a); free(b); free(gamma); free(beta); free(out_a); free(out_b); free(sm_a); free(sm_b);
    free(sr_a); free(sr_b); free(rm_a); free(rm_b); free(rv_a); free(rv_b); free(mean);
    free(var); free(mean_b); free(var_b); free(dout); free(dout_b); free(inp_b); free(dinp_a);
    free(dinp_b); free(dg_a); free(dg_b); free(db_a); free(db_b);
}

void test_nonfinite_isolation(void) {
    for (int l = 0; l < 3; l++) {
        nonfinite_case(layouts[l], 3);
        nonfinite_case(layouts[l], 1100); // NCHW: runs too long to be short runs
    }
}

// ----------------------------------------------------------------------------
// values near FLT_MAX: x - mean overflows float where (x - mean)*scale + beta does not

// out of bn_forward_inference at 1 and at 4 threads: bit-identical
static void inference_any_threads(float *out, const float *inp, const float *mean,
                                  const float *var, const float *gamma, const float *beta,
                                  unsigned int flags, int layout, int64_t N, int64_t C, int64_t S,
                                  const char *name) {
    const size_t n = (size_t)(N * C * S);
    float *other = bt_floats(n);
    bn_set_num_threads(1);
    bn_status st = bn_forward_inference(out, inp, NULL, mean, var, gamma, beta, 1e-5, flags, layout, N,
                                        C, S);
    CHECK(st == BN_OK, "%s: inference status %d", name, st);
    bn_set_num_threads(4);
    st = bn_forward_inference(other, inp, NULL, mean, var, gamma, beta, 1e-5, flags, layout, N, C, S);
    CHECK(st == BN_OK, "%s: inference status %d (4 threads)", name, st);
    bn_set_num_threads(0);
    CHECK(memcmp(out, other, n * sizeof(float)) == 0, "%s: 1 and 4 threads differ", name);
    free(other);
}

// inference with mean, var (C,) against the double reference, at 1 and 4 threads; out: (N,C,S)
static void check_inference(float *out, const float *inp, const float *mean, const float *var,
                            int layout, int64_t N, int64_t C, int64_t S, const char *name,
                            const char *step) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char what[200];
    double *dmean = bt_doubles(nc), *rstd = bt_doubles(nc), *ref = bt_doubles(n);
    for (size_t c = 0; c < nc; c++) {
        dmean[c] = mean[c];
        rstd[c] = 1.0 / sqrt((double)var[c] + 1e-5);
    }
    ref_normalize(ref, inp, dmean, rstd, NULL, NULL, layout, N, C, S);
    inference_any_threads(out, inp, mean, var, NULL, NULL, 0u, layout, N, C, S, name);
    CHECK(bt_all_finite(out, n), "%s: inference out %s not finite", name, step);
    snprintf(what, sizeof what, "%s: inference out %s", name, step);
    bt_close(what, out, ref, n, 1e-6, 1e-6);
    free(dmean); free(rstd); free(ref);
}

// channels: 0: x = 3e38, mean = -3e38, var = 4 (out 2.9999964e38); 1: x = -FLT_MAX,
// mean = 1e37, var = +Inf (out 0); 2: x = +-FLT_MAX, mean = 2^103, var = FLT_MAX; 3: the same
// with mean just below 2^103 (the fast path); 4: N(0,1), mean 0, var 1 (the fast path)
static void near_float_max_case(int layout, int64_t N, int64_t S) {
    const int64_t C = 5;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char name[120], what[160];
    snprintf(name, sizeof name, "%s N=%lld S=%lld near FLT_MAX", bt_layout_name(layout),
             (long long)N, (long long)S);
    bt_rng r;
    bt_rng_seed(&r, 13);
    float *inp = bt_floats(n), *out = bt_floats(n), *mean = bt_floats(nc), *var = bt_floats(nc);
    const float means[5] = {-3e38f, 1e37f, 0x1p103f, 0x1.fffffep102f, 0.0f};
    const float vars[5] = {4.0f, INFINITY, FLT_MAX, FLT_MAX, 1.0f};
    for (size_t c = 0; c < nc; c++) {
        mean[c] = means[c];
        var[c] = vars[c];
    }
    for (int64_t b = 0; b < N; b++) {
        for (int64_t c = 0; c < C; c++) {
            for (int64_t s = 0; s < S; s++) {
                const float pm = bt_uniform(&r) < 0.5 ? -FLT_MAX : FLT_MAX;
                const float v[5] = {3e38f, -FLT_MAX, pm, pm, (float)bt_normal(&r)};
                inp[bt_index(layout, N, C, S, b, c, s)] = v[c];
            }
        }
    }
    check_inference(out, inp, mean, var, layout, N, C, S, name, "of given statistics");
    CHECK(out[bt_index(layout, N, C, S, 0, 0, 0)] == 2.9999964e38f, "%s: channel 0: got %.8g",
          name, (double)out[bt_index(layout, N, C, S, 0, 0, 0)]);
    CHECK(out[bt_index(layout, N, C, S, N - 1, 1, S - 1)] == 0.0f, "%s: channel 1: got %g",
          name, (double)out[bt_index(layout, N, C, S, N - 1, 1, S - 1)]);

    // training on +-FLT_MAX (a third +, two thirds -) with gamma = 1e10: scale is a normal
    // float, mean = -FLT_MAX/3 and x - mean overflows float; then inference with the running
    // statistics (running_var = +Inf)
    float *gamma = bt_floats(nc), *sm = bt_floats(nc), *sr = bt_floats(nc), *rm = bt_floats(nc);
    float *rv = bt_floats(nc);
    for (int64_t b = 0; b < N; b++) {
        for (int64_t c = 0; c < C; c++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, b, c, s);
                inp[i] = c == 4 ? (float)bt_normal(&r) : (b * S + s) % 3 == 0 ? FLT_MAX : -FLT_MAX;
            }
        }
    }
    for (size_t c = 0; c < nc; c++) {
        gamma[c] = 1e10f;
        rm[c] = 0.0f;
        rv[c] = 1.0f;
    }
    double *dmean = bt_doubles(nc), *bvar = bt_doubles(nc), *rstd = bt_doubles(nc);
    double *ref = bt_doubles(n);
    ref_stats(dmean, bvar, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) rstd[c] = 1.0 / sqrt(bvar[c] + 1e-5);
    ref_normalize(ref, inp, dmean, rstd, gamma, NULL, layout, N, C, S);
    bn_status st = bn_forward_training(out, sm, sr, rm, rv, inp, NULL, gamma, NULL, 1e-5, 1.0,
                                       BN_USE_SCALE | BN_UPDATE_RUNNING, layout, N, C, S);
    CHECK(st == BN_OK, "%s: training status %d", name, st);
    CHECK(bt_all_finite(out, n), "%s: training out not finite", name);
    snprintf(what, sizeof what, "%s: training out", name);
    bt_close(what, out, ref, n, 1e-4, 1e-5);
    check_inference(out, inp, rm, rv, layout, N, C, S, name, "after training");

    free(inp); free(out); free(mean); free(var); free(dmean); free(rstd); free(ref);
    free(gamma); free(sm); free(sr); free(rm); free(rv); free(bvar);
}

void test_near_float_max(void) {
    for (int l = 0; l < 3; l++) {
        near_float_max_case(layouts[l], 3, 1);
        near_float_max_case(layouts[l], 64, layouts[l] == BN_LAYOUT_NC ? 1 : 100);
        near_float_max_case(layouts[l], layouts[l] == BN_LAYOUT_NC ? 30000 : 30, layouts[l] == BN_LAYOUT_NC ? 1 : 1100);
    }
}
