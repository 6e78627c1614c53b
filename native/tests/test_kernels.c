/*
 * test_kernels.c - every kernel against the naive double references of harness.c: all layouts,
 * awkward shapes, all flag and mask combinations, in place; running statistics over steps.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 *
 * Outputs start filled with NaN, so an output that is not overwritten (or accumulated into)
 * fails the comparison.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

// shapes up to SMALL elements run every flag combination; up to LARGE a few; larger are skipped
enum { SMALL = 4096, LARGE = 1 << 18 };

static const int layouts[] = {BN_LAYOUT_NC, BN_LAYOUT_NCHW, BN_LAYOUT_NHWC};

static void case_name(char *buf, size_t size, const char *kernel, int layout, int64_t N,
                      int64_t C, int64_t S, unsigned int flags, unsigned int mask, int inplace) {
    snprintf(buf, size, "%s %s N=%lld C=%lld S=%lld flags=0x%x mask=0x%x inplace=%d", kernel,
             bt_layout_name(layout), (long long)N, (long long)C, (long long)S, flags, mask,
             inplace);
}

static void sub(char *buf, size_t size, const char *name, const char *what) {
    snprintf(buf, size, "%s: %s", name, what);
}

// ----------------------------------------------------------------------------
// bn_forward_training

static void train_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S,
                       unsigned int flags, int inplace) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const int64_t M = N * S;
    const double eps = bt_uniform(r) < 0.5 ? 1e-5 : 1e-3, f = 0.05 + 0.5 * bt_uniform(r);
    char name[160], what[200];
    case_name(name, sizeof name, "forward_training", layout, N, C, S, flags, 0, inplace);

    float *inp = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    float *running_mean = bt_floats(nc), *running_var = bt_floats(nc);
    float *save_mean = bt_floats(nc), *save_rstd = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    bt_fill_normal(r, running_mean, nc);
    bt_fill_uniform(r, running_var, nc, 0.5, 1.5);
    float *inp0 = bt_copy_floats(inp, n), *rm0 = bt_copy_floats(running_mean, nc);
    float *rv0 = bt_copy_floats(running_var, nc);
    float *out = inplace ? inp : bt_floats(n);
    const int scale = (flags & BN_USE_SCALE) != 0, shift = (flags & BN_USE_SHIFT) != 0;
    const int upd = (flags & BN_UPDATE_RUNNING) != 0;

    const bn_status st = bn_forward_training(out, save_mean, save_rstd,
                                             upd ? running_mean : NULL, upd ? running_var : NULL,
                                             inp, NULL, scale ? gamma : NULL, shift ? beta : NULL, eps,
                                             f, flags, layout, N, C, S);
    if (M == 1) {
        CHECK(st == BN_ERR_SINGLE_VALUE, "%s: status %d, want BN_ERR_SINGLE_VALUE", name, st);
        CHECK(memcmp(inp, inp0, n * sizeof(float)) == 0, "%s: inp/out written", name);
        CHECK(memcmp(running_mean, rm0, nc * sizeof(float)) == 0, "%s: running_mean", name);
        CHECK(isnan(save_mean[0]) && isnan(save_rstd[0]), "%s: save_* written", name);
    } else {
        CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
        double *mean = bt_doubles(nc), *var = bt_doubles(nc), *rstd = bt_doubles(nc);
        double *ref = bt_doubles(n), *ref_rm = bt_doubles(nc), *ref_rv = bt_doubles(nc);
        ref_stats(mean, var, inp0, layout, N, C, S);
        for (size_t c = 0; c < nc; c++) {
            rstd[c] = 1.0 / sqrt(var[c] + eps);
            ref_rm[c] = (1.0 - f) * rm0[c] + f * mean[c];
            ref_rv[c] = (1.0 - f) * rv0[c] + f * var[c] * (double)M / (double)(M - 1);
        }
        ref_normalize(ref, inp0, mean, rstd, scale ? gamma : NULL, shift ? beta : NULL, layout,
                      N, C, S);
        const double tol = bt_tol(M);
        sub(what, sizeof what, name, "out");
        bt_close(what, out, ref, n, tol, tol);
        sub(what, sizeof what, name, "save_mean");
        bt_close(what, save_mean, mean, nc, 1e-12, tol);
        sub(what, sizeof what, name, "save_rstd");
        bt_close(what, save_rstd, rstd, nc, 0.0, tol);
        if (upd) {
            sub(what, sizeof what, name, "running_mean");
            bt_close(what, running_mean, ref_rm, nc, 1e-12, tol);
            sub(what, sizeof what, name, "running_var");
            bt_close(what, running_var, ref_rv, nc, 0.0, tol);
        } else {
            CHECK(memcmp(running_mean, rm0, nc * sizeof(float)) == 0, "%s: running_mean", name);
        }
        free(mean); free(var); free(rstd); free(ref); free(ref_rm); free(ref_rv);
    }
    if (!inplace) free(out);
    free(inp); free(gamma); free(beta); free(running_mean); free(running_var);
    free(save_mean); free(save_rstd); free(inp0); free(rm0); free(rv0);
}

void test_forward_training(void) {
    bt_rng r;
    bt_rng_seed(&r, 1);
    for (int l = 0; l < 3; l++) {
        const int layout = layouts[l];
        for (int in = 0; in < bt_n_sizes; in++) {
            for (int ic = 0; ic < bt_n_sizes; ic++) {
                for (int is = 0; is < (layout == BN_LAYOUT_NC ? 1 : bt_n_sizes); is++) {
                    const int64_t N = bt_sizes[in], C = bt_sizes[ic], S = bt_sizes[is];
                    const int64_t n = N * C * S;
                    if (n <= SMALL) {
                        for (unsigned int flags = 0; flags < 8; flags++) {
                            train_case(&r, layout, N, C, S, flags, 0);
                            train_case(&r, layout, N, C, S, flags, 1);
                        }
                    } else if (n <= LARGE) {
                        train_case(&r, layout, N, C, S, 7u, 0);
                        train_case(&r, layout, N, C, S, 0u, 1);
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// bn_forward_inference

static void infer_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S,
                       unsigned int flags, int inplace) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const double eps = bt_uniform(r) < 0.5 ? 1e-5 : 0.1;
    char name[160], what[200];
    case_name(name, sizeof name, "forward_inference", layout, N, C, S, flags, 0, inplace);

    float *inp = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    float *mean = bt_floats(nc), *var = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    bt_fill_normal(r, mean, nc);
    bt_fill_uniform(r, var, nc, 0.0, 3.0);
    var[0] = 0.0f; // a zero variance is valid: rstd = 1/sqrt(eps)
    float *inp0 = bt_copy_floats(inp, n);
    float *out = inplace ? inp : bt_floats(n);
    const int scale = (flags & BN_USE_SCALE) != 0, shift = (flags & BN_USE_SHIFT) != 0;

    const bn_status st = bn_forward_inference(out, inp, NULL, mean, var, scale ? gamma : NULL,
                                              shift ? beta : NULL, eps, flags, layout, N, C, S);
    CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
    double *mean_d = bt_doubles(nc), *rstd = bt_doubles(nc), *ref = bt_doubles(n);
    for (size_t c = 0; c < nc; c++) {
        mean_d[c] = mean[c];
        rstd[c] = 1.0 / sqrt((double)var[c] + eps);
    }
    ref_normalize(ref, inp0, mean_d, rstd, scale ? gamma : NULL, shift ? beta : NULL, layout, N,
                  C, S);
    const double tol = bt_tol(2);
    sub(what, sizeof what, name, "out");
    bt_close(what, out, ref, n, tol, tol);
    if (!inplace) free(out);
    free(inp); free(gamma); free(beta); free(mean); free(var); free(inp0);
    free(mean_d); free(rstd); free(ref);
}

void test_forward_inference(void) {
    bt_rng r;
    bt_rng_seed(&r, 2);
    for (int l = 0; l < 3; l++) {
        const int layout = layouts[l];
        for (int in = 0; in < bt_n_sizes; in++) {
            for (int ic = 0; ic < bt_n_sizes; ic++) {
                for (int is = 0; is < (layout == BN_LAYOUT_NC ? 1 : bt_n_sizes); is++) {
                    const int64_t N = bt_sizes[in], C = bt_sizes[ic], S = bt_sizes[is];
                    const int64_t n = N * C * S;
                    if (n <= SMALL) {
                        for (unsigned int flags = 0; flags < 4; flags++) {
                            infer_case(&r, layout, N, C, S, flags, 0);
                            infer_case(&r, layout, N, C, S, flags, 1);
                        }
                    } else if (n <= LARGE) {
                        infer_case(&r, layout, N, C, S, 3u, 0);
                        infer_case(&r, layout, N, C, S, 0u, 1);
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// bn_backward

enum { NO_ALIAS = 0, DINP_IS_DOUT = 1, DINP_IS_INP = 2 };

static void back_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S,
                      unsigned int flags, unsigned int mask, int alias, int inp_null) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const int64_t M = N * S;
    const double eps = 1e-5;
    const int global = (flags & BN_USE_GLOBAL_STATS) != 0, scale = (flags & BN_USE_SCALE) != 0;
    char name[180], what[220];
    case_name(name, sizeof name, "backward", layout, N, C, S, flags, mask, alias);
    if (inp_null) snprintf(name + strlen(name), sizeof name - strlen(name), " inp=NULL");

    float *inp = bt_floats(n), *dout = bt_floats(n), *gamma = bt_floats(nc);
    float *mean = bt_floats(nc), *rstd = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, dout, n);
    bt_fill_normal(r, gamma, nc);
    double *bm = bt_doubles(nc), *bv = bt_doubles(nc);
    ref_stats(bm, bv, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) {
        if (global) { // running statistics: near, not equal to, the batch statistics
            mean[c] = (float)(bm[c] + 0.1 * bt_normal(r));
            rstd[c] = (float)(1.0 / sqrt(bv[c] * (0.5 + bt_uniform(r)) + eps));
        } else { // save_mean, save_rstd of the forward
            mean[c] = (float)bm[c];
            rstd[c] = (float)(1.0 / sqrt(bv[c] + eps));
        }
    }
    float *inp0 = bt_copy_floats(inp, n), *dout0 = bt_copy_floats(dout, n);
    float *dinp = NULL, *dgamma = NULL, *dbeta = NULL;
    if (mask & BN_DIFF_INP) {
        if (alias == DINP_IS_DOUT) dinp = dout;
        else if (alias == DINP_IS_INP) dinp = inp;
        else dinp = bt_floats(n);
    }
    if (mask & BN_DIFF_SCALE) dgamma = bt_floats(nc);
    if (mask & BN_DIFF_SHIFT) dbeta = bt_floats(nc);

    const bn_status st = bn_backward(dinp, NULL, dgamma, dbeta, dout, NULL, inp_null ? NULL : inp,
                                     scale ? gamma : NULL, mean, rstd, flags, mask, layout, N, C,
                                     S);
    CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
    double *ref = bt_doubles(n), *ref_dg = bt_doubles(nc), *ref_db = bt_doubles(nc);
    ref_backward(ref, ref_dg, ref_db, dout0, inp_null ? NULL : inp0, scale ? gamma : NULL, mean,
                 rstd, global, layout, N, C, S);
    const double tol = bt_tol(M);
    if (dinp) {
        sub(what, sizeof what, name, "dinp");
        bt_close(what, dinp, ref, n, tol * bt_maxabs(ref, n) + 1e-30, tol);
    }
    if (dgamma) {
        sub(what, sizeof what, name, "dgamma");
        bt_close(what, dgamma, ref_dg, nc, 1e-9 * (double)M, tol);
    }
    if (dbeta) {
        sub(what, sizeof what, name, "dbeta");
        bt_close(what, dbeta, ref_db, nc, 1e-9 * (double)M, tol);
    }
    if (dinp != NULL && alias == NO_ALIAS) free(dinp);
    free(dgamma); free(dbeta);
    free(inp); free(dout); free(gamma); free(mean); free(rstd); free(bm); free(bv);
    free(inp0); free(dout0); free(ref); free(ref_dg); free(ref_db);
}

// every flag, mask and aliasing combination of one shape
static void back_all(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S) {
    const unsigned int flag_sets[] = {0u, BN_USE_SCALE, BN_USE_GLOBAL_STATS,
                                      BN_USE_SCALE | BN_USE_GLOBAL_STATS};
    for (int fi = 0; fi < 4; fi++) {
        const unsigned int flags = flag_sets[fi];
        for (unsigned int mask = 1; mask < 8; mask++) {
            // inp may be NULL when it is not read: global stats without dgamma
            const int inp_null = (flags & BN_USE_GLOBAL_STATS) && !(mask & BN_DIFF_SCALE);
            back_case(r, layout, N, C, S, flags, mask, NO_ALIAS, inp_null);
            if (mask & BN_DIFF_INP) {
                back_case(r, layout, N, C, S, flags, mask, DINP_IS_DOUT, inp_null);
                back_case(r, layout, N, C, S, flags, mask, DINP_IS_INP, 0);
            }
        }
    }
}

void test_backward(void) {
    bt_rng r;
    bt_rng_seed(&r, 3);
    const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    for (int l = 0; l < 3; l++) {
        const int layout = layouts[l];
        for (int in = 0; in < bt_n_sizes; in++) {
            for (int ic = 0; ic < bt_n_sizes; ic++) {
                for (int is = 0; is < (layout == BN_LAYOUT_NC ? 1 : bt_n_sizes); is++) {
                    const int64_t N = bt_sizes[in], C = bt_sizes[ic], S = bt_sizes[is];
                    const int64_t n = N * C * S;
                    if (n <= SMALL) {
                        back_all(&r, layout, N, C, S);
                    } else if (n <= LARGE) {
                        back_case(&r, layout, N, C, S, BN_USE_SCALE, all, NO_ALIAS, 0);
                        back_case(&r, layout, N, C, S, BN_USE_SCALE | BN_USE_GLOBAL_STATS, all,
                                  DINP_IS_DOUT, 0);
                        back_case(&r, layout, N, C, S, 0u, BN_DIFF_INP, DINP_IS_INP, 0);
                    }
                }
            }
        }
    }
}

// ----------------------------------------------------------------------------
// channel counts around the chunk size of the channels-last kernels

void test_channel_chunks(void) {
    bt_rng r;
    bt_rng_seed(&r, 4);
    const int64_t cs[] = {255, 256, 257, 300, 511, 512, 513, 1000};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const int64_t C = cs[i];
        for (int l = 0; l < 3; l++) {
            const int layout = layouts[l];
            const int64_t N = layout == BN_LAYOUT_NC ? 9 : 3, S = layout == BN_LAYOUT_NC ? 1 : 5;
            train_case(&r, layout, N, C, S, 7u, 0);
            train_case(&r, layout, N, C, S, 1u, 1);
            infer_case(&r, layout, N, C, S, 3u, 1);
            back_case(&r, layout, N, C, S, BN_USE_SCALE, 7u, DINP_IS_INP, 0);
            back_case(&r, layout, N, C, S, BN_USE_GLOBAL_STATS, 5u, DINP_IS_DOUT, 1);
        }
    }
    // NCHW with S = 1 is the same memory as NC
    train_case(&r, BN_LAYOUT_NCHW, 17, 300, 1, 7u, 1);
    back_case(&r, BN_LAYOUT_NCHW, 17, 300, 1, BN_USE_SCALE, 7u, NO_ALIAS, 0);
}

// ----------------------------------------------------------------------------
// running statistics over several training steps

static void running_steps(int layout, double momentum, int cumulative) {
    const int64_t N = 4, C = 5, S = layout == BN_LAYOUT_NC ? 1 : 6, M = N * S;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const double eps = 1e-5;
    bt_rng r;
    bt_rng_seed(&r, 5);
    float *inp = bt_floats(n), *out = bt_floats(n), *save_mean = bt_floats(nc);
    float *save_rstd = bt_floats(nc), *running_mean = bt_floats(nc), *running_var = bt_floats(nc);
    double *mean = bt_doubles(nc), *var = bt_doubles(nc), *ref_rm = bt_doubles(nc);
    double *ref_rv = bt_doubles(nc);
    for (size_t c = 0; c < nc; c++) { // PyTorch's initial state
        running_mean[c] = 0.0f;
        running_var[c] = 1.0f;
        ref_rm[c] = 0.0;
        ref_rv[c] = 1.0;
    }
    char what[160];
    for (int step = 1; step <= 6; step++) {
        const double f = cumulative ? 1.0 / (double)step : momentum;
        bt_fill_inp(&r, inp, layout, N, C, S);
        const bn_status st = bn_forward_training(out, save_mean, save_rstd, running_mean,
                                                 running_var, inp, NULL, NULL, NULL, eps, f,
                                                 BN_UPDATE_RUNNING, layout, N, C, S);
        CHECK(st == BN_OK, "step %d: status %d", step, st);
        ref_stats(mean, var, inp, layout, N, C, S);
        for (size_t c = 0; c < nc; c++) { // the reference also stores floats between steps
            ref_rm[c] = (float)((1.0 - f) * ref_rm[c] + f * mean[c]);
            ref_rv[c] = (float)((1.0 - f) * ref_rv[c] + f * var[c] * (double)M / (double)(M - 1));
        }
        snprintf(what, sizeof what, "%s f=%g%s step %d: running_mean", bt_layout_name(layout),
                 momentum, cumulative ? " (cumulative)" : "", step);
        bt_close(what, running_mean, ref_rm, nc, 1e-6, 1e-6);
        snprintf(what, sizeof what, "%s f=%g%s step %d: running_var", bt_layout_name(layout),
                 momentum, cumulative ? " (cumulative)" : "", step);
        bt_close(what, running_var, ref_rv, nc, 1e-6, 1e-6);
    }
    free(inp); free(out); free(save_mean); free(save_rstd); free(running_mean);
    free(running_var); free(mean); free(var); free(ref_rm); free(ref_rv);
}

// momentum 0 leaves the running statistics bit for bit; momentum 1 replaces them by the batch's
static void running_extremes(int layout) {
    const int64_t N = 3, C = 4, S = layout == BN_LAYOUT_NC ? 1 : 5, M = N * S;
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    bt_rng r;
    bt_rng_seed(&r, 6);
    float *inp = bt_floats(n), *out = bt_floats(n), *save_mean = bt_floats(nc);
    float *save_rstd = bt_floats(nc), *rm = bt_floats(nc), *rv = bt_floats(nc);
    bt_fill_inp(&r, inp, layout, N, C, S);
    bt_fill_normal(&r, rm, nc);
    bt_fill_uniform(&r, rv, nc, 0.5, 2.0);
    float *rm0 = bt_copy_floats(rm, nc), *rv0 = bt_copy_floats(rv, nc);
    bn_status st = bn_forward_training(out, save_mean, save_rstd, rm, rv, inp, NULL, NULL, NULL, 1e-5,
                                       0.0, BN_UPDATE_RUNNING, layout, N, C, S);
    CHECK(st == BN_OK, "momentum 0: status %d", st);
    CHECK(memcmp(rm, rm0, nc * sizeof(float)) == 0, "%s momentum 0 changed running_mean",
          bt_layout_name(layout));
    CHECK(memcmp(rv, rv0, nc * sizeof(float)) == 0, "%s momentum 0 changed running_var",
          bt_layout_name(layout));
    st = bn_forward_training(out, save_mean, save_rstd, rm, rv, inp, NULL, NULL, NULL, 1e-5, 1.0,
                             BN_UPDATE_RUNNING, layout, N, C, S);
    CHECK(st == BN_OK, "momentum 1: status %d", st);
    CHECK(memcmp(rm, save_mean, nc * sizeof(float)) == 0,
          "%s momentum 1: running_mean != save_mean", bt_layout_name(layout));
    double *mean = bt_doubles(nc), *var = bt_doubles(nc);
    ref_stats(mean, var, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) var[c] *= (double)M / (double)(M - 1);
    char what[80];
    snprintf(what, sizeof what, "%s momentum 1: running_var (unbiased)", bt_layout_name(layout));
    bt_close(what, rv, var, nc, 0.0, bt_tol(M));
    free(inp); free(out); free(save_mean); free(save_rstd); free(rm); free(rv); free(rm0);
    free(rv0); free(mean); free(var);
}

void test_running_stats(void) {
    for (int l = 0; l < 3; l++) {
        running_steps(layouts[l], 0.1, 0);
        running_steps(layouts[l], 0.75, 0);
        running_steps(layouts[l], 0.0, 1); // momentum=None: f = 1/num_batches_tracked
        running_extremes(layouts[l]);
    }
}

// ----------------------------------------------------------------------------
// inference over wide rows: whole rows (2 to 8 units of 256 columns) give exactly what the
// columns give called unit by unit (a copy of each block of at most 256 columns is one unit),
// in float32, bf16 and f16; one column whose terms cannot be applied in float (mean -3e38
// against x = 3e38: x - mean overflows a float) sends the call back to the units

static void wide_rows_case(int64_t N, int64_t C, unsigned int data, unsigned int flags,
                           int slow_column, int threads) {
    const int dt = data == BN_DATA_BF16 ? BN_BF16 : data == BN_DATA_F16 ? BN_F16 : BN_F32;
    const size_t es = data != 0 ? 2 : 4, n = (size_t)(N * C), nc = (size_t)C;
    char name[160];
    snprintf(name, sizeof name, "wide_rows NC %lldx%lld %s flags %#x slow %d threads %d",
             (long long)N, (long long)C, dt == BN_BF16 ? "bf16" : dt == BN_F16 ? "f16" : "f32",
             flags, slow_column, threads);
    bt_rng r;
    bt_rng_seed(&r, (uint64_t)(N * 31 + C));
    float *xf = bt_floats(n), *rf = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    float *mean = bt_floats(nc), *var = bt_floats(nc);
    bt_fill_normal(&r, xf, n);
    bt_fill_normal(&r, rf, n);
    bt_fill_normal(&r, gamma, nc);
    bt_fill_normal(&r, beta, nc);
    bt_fill_normal(&r, mean, nc);
    bt_fill_uniform(&r, var, nc, 0.1, 3.0);
    if (slow_column) {
        const int64_t c = C - 7; // in the last unit
        mean[c] = -3e38f, var[c] = 4.0f, gamma[c] = 0.25f, beta[c] = 0.0f;
        for (int64_t i = 0; i < N; i++) xf[i * C + c] = i % 2 ? 3e38f : 1.0f;
    }
    char *x = malloc(n * es), *res = malloc(n * es), *out = malloc(n * es), *ref = malloc(n * es);
    char *xb = malloc(n * es), *resb = malloc(n * es), *outb = malloc(n * es);
    CHECK(x && res && out && ref && xb && resb && outb, "%s: out of memory", name);
    bn_convert(x, dt, xf, BN_F32, (int64_t)n);
    bn_convert(res, dt, rf, BN_F32, (int64_t)n);
    const int fuse_add = (flags & BN_FUSE_ADD) != 0;
    bn_set_num_threads(threads);
    bn_status st = bn_forward_inference(out, x, fuse_add ? res : NULL, mean, var, gamma, beta, 1e-5,
                                        flags | data, BN_LAYOUT_NC, N, C, 1);
    CHECK(st == BN_OK, "%s: status %d (%s)", name, st, bn_strerror(st));
    for (int64_t c0 = 0; c0 < C; c0 += 256) { // the same columns unit by unit
        const int64_t w = C - c0 < 256 ? C - c0 : 256;
        for (int64_t i = 0; i < N; i++) {
            memcpy(xb + (size_t)(i * w) * es, x + (size_t)(i * C + c0) * es, (size_t)w * es);
            memcpy(resb + (size_t)(i * w) * es, res + (size_t)(i * C + c0) * es, (size_t)w * es);
        }
        st = bn_forward_inference(outb, xb, fuse_add ? resb : NULL, mean + c0, var + c0, gamma + c0,
                                  beta + c0, 1e-5, flags | data, BN_LAYOUT_NC, N, w, 1);
        CHECK(st == BN_OK, "%s: columns from %lld: status %d", name, (long long)c0, st);
        for (int64_t i = 0; i < N; i++) {
            memcpy(ref + (size_t)(i * C + c0) * es, outb + (size_t)(i * w) * es, (size_t)w * es);
        }
    }
    bn_set_num_threads(0);
    size_t bad = 0;
    for (size_t i = 0; i < n * es && bad == 0; i++) bad = out[i] != ref[i] ? i / es + 1 : 0;
    CHECK(bad == 0, "%s: element %zu differs from the call by units", name, bad - 1);
    if (slow_column) {
        const int64_t c = C - 7;
        float o;
        bn_convert(&o, BN_F32, out + (size_t)(C + c) * es, dt, 1); // row 1: x = 3e38
        CHECK(fabs((double)o - 7.5e37) < 1e36,
              "%s: the slow column's out %g, want (3e38 + 3e38)*0.5*0.25", name, (double)o);
    }
    free(xf); free(rf); free(gamma); free(beta); free(mean); free(var);
    free(x); free(res); free(out); free(ref); free(xb); free(resb); free(outb);
}

void test_wide_rows(void) {
    const int64_t cs[] = {257, 600, 1024, 2048, 2049};
    const unsigned int fl = BN_USE_SCALE | BN_USE_SHIFT;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        for (int d = 0; d < 3; d++) {
            const unsigned int data = d == 1 ? BN_DATA_BF16 : d == 2 ? BN_DATA_F16 : 0u;
            wide_rows_case(67, cs[i], data, fl, 0, 1);
            wide_rows_case(67, cs[i], data, fl | BN_FUSE_RELU | BN_FUSE_ADD, 0, 2);
            if (d != 2) wide_rows_case(130, cs[i], data, fl, 1, 2); // 3e38 is no f16
        }
    }
}

// The rows walk (bn_plan_rows; CTest runs rows_walk with BNORM_L2_BYTES and BNORM_CACHE_BYTES set
// so that it takes it on every machine): forward training and backward over rows of 257 to 2048
// columns against the double references, on 1 and 3 threads with the same bits, and the split
// phase's statistics with forward training's bits. Then one column holds +-FLT_MAX (a third +)
// with gamma = 1e10, so that x - mean overflows float there: that column's output goes through
// the double loop, the others' through the kernels.
static void rows_walk_case(int layout, int64_t N, int64_t C, int64_t S) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const int64_t M = N * S, big = C - 7;
    const unsigned int fl = BN_USE_SCALE | BN_USE_SHIFT;
    const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    char name[120], what[200];
    snprintf(name, sizeof name, "rows_walk %s N=%lld C=%lld S=%lld", bt_layout_name(layout),
             (long long)N, (long long)C, (long long)S);
    bt_rng r;
    bt_rng_seed(&r, (uint64_t)(C * 7 + N));
    float *inp = bt_floats(n), *dout = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc);
    bt_fill_inp(&r, inp, layout, N, C, S);
    bt_fill_normal(&r, dout, n);
    bt_fill_uniform(&r, gamma, nc, 0.5, 1.5);
    bt_fill_normal(&r, beta, nc);
    float *out[2], *mean[2], *rstd[2], *dinp[2], *dg[2], *db[2];
    double *rmean = bt_doubles(nc), *rvar = bt_doubles(nc), *rrstd = bt_doubles(nc);
    double *ref = bt_doubles(n), *ref_dg = bt_doubles(nc), *ref_db = bt_doubles(nc);
    const double tol = bt_tol(M);
    for (int t = 0; t < 2; t++) {
        out[t] = bt_floats(n), mean[t] = bt_floats(nc), rstd[t] = bt_floats(nc);
        dinp[t] = bt_floats(n), dg[t] = bt_floats(nc), db[t] = bt_floats(nc);
        bn_set_num_threads(t == 0 ? 1 : 3);
        bn_status st = bn_forward_training(out[t], mean[t], rstd[t], NULL, NULL, inp, NULL, gamma,
                                           beta, 1e-5, 0.1, fl, layout, N, C, S);
        CHECK(st == BN_OK, "%s: forward training status %d", name, st);
        st = bn_backward(dinp[t], NULL, dg[t], db[t], dout, NULL, inp, gamma, mean[t], rstd[t],
                         BN_USE_SCALE, all, layout, N, C, S);
        CHECK(st == BN_OK, "%s: backward status %d", name, st);
    }
    ref_stats(rmean, rvar, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) rrstd[c] = 1.0 / sqrt(rvar[c] + 1e-5);
    ref_normalize(ref, inp, rmean, rrstd, gamma, beta, layout, N, C, S);
    sub(what, sizeof what, name, "out");
    bt_close(what, out[0], ref, n, tol, tol);
    ref_backward(ref, ref_dg, ref_db, dout, inp, gamma, mean[0], rstd[0], 0, layout, N, C, S);
    sub(what, sizeof what, name, "dinp");
    bt_close(what, dinp[0], ref, n, tol * bt_maxabs(ref, n) + 1e-30, tol);
    sub(what, sizeof what, name, "dgamma");
    bt_close(what, dg[0], ref_dg, nc, 1e-9 * (double)M, tol);
    sub(what, sizeof what, name, "dbeta");
    bt_close(what, db[0], ref_db, nc, 1e-9 * (double)M, tol);
    // the split phase's statistics take the same walk: the same bits as forward training's
    double *stats = bt_doubles(3 * nc), *smean = bt_doubles(nc), *srstd = bt_doubles(nc);
    bn_status st = bn_stats_local(stats, inp, 0u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: bn_stats_local status %d", name, st);
    st = bn_stats_merge(smean, srstd, NULL, NULL, stats, 1e-5, 0.1, 0u, C, 1);
    CHECK(st == BN_OK, "%s: bn_stats_merge status %d", name, st);
    for (size_t c = 0; c < nc; c++) {
        CHECK((float)smean[c] == mean[0][c] && (float)srstd[c] == rstd[0][c],
              "%s: channel %zu: split phase mean %.9g rstd %.9g, forward training %.9g %.9g", name,
              c, smean[c], srstd[c], (double)mean[0][c], (double)rstd[0][c]);
    }
    free(stats); free(smean); free(srstd);
    CHECK(memcmp(out[0], out[1], n * 4) == 0 && memcmp(mean[0], mean[1], nc * 4) == 0 &&
              memcmp(rstd[0], rstd[1], nc * 4) == 0 && memcmp(dinp[0], dinp[1], n * 4) == 0 &&
              memcmp(dg[0], dg[1], nc * 4) == 0 && memcmp(db[0], db[1], nc * 4) == 0,
          "%s: 3 threads differ from 1", name);

    // the column of +-FLT_MAX (in the last unit), training only
    for (int64_t b = 0; b < N; b++) {
        for (int64_t s = 0; s < S; s++) {
            inp[bt_index(layout, N, C, S, b, big, s)] = (b * S + s) % 3 == 0 ? FLT_MAX : -FLT_MAX;
        }
    }
    gamma[big] = 1e10f;
    bn_set_num_threads(1);
    st = bn_forward_training(out[0], mean[0], rstd[0], NULL, NULL, inp, NULL, gamma, beta, 1e-5,
                             0.1, fl, layout, N, C, S);
    CHECK(st == BN_OK, "%s: training with FLT_MAX status %d", name, st);
    ref_stats(rmean, rvar, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) rrstd[c] = 1.0 / sqrt(rvar[c] + 1e-5);
    ref_normalize(ref, inp, rmean, rrstd, gamma, beta, layout, N, C, S);
    CHECK(bt_all_finite(out[0], n), "%s: training with FLT_MAX: out not finite", name);
    sub(what, sizeof what, name, "out with a column of +-FLT_MAX");
    bt_close(what, out[0], ref, n, 1e-4, 1e-5);
    bn_set_num_threads(0);
    for (int t = 0; t < 2; t++) {
        free(out[t]); free(mean[t]); free(rstd[t]); free(dinp[t]); free(dg[t]); free(db[t]);
    }
    free(inp); free(dout); free(gamma); free(beta); free(rmean); free(rvar); free(rrstd);
    free(ref); free(ref_dg); free(ref_db);
}

void test_rows_walk(void) {
    rows_walk_case(BN_LAYOUT_NC, 700, 257, 1);    // a unit of one column
    rows_walk_case(BN_LAYOUT_NC, 1000, 600, 1);   // the last unit partial, 600 columns: not 32s
    rows_walk_case(BN_LAYOUT_NHWC, 8, 2048, 49);  // 8 units, rows of 8 KiB, a partial block
    rows_walk_case(BN_LAYOUT_NHWC, 3, 1024, 700); // 33 blocks in 8 groups of 4 or 5
}
