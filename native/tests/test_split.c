/*
 * test_split.c - the split-phase entry points of bn.h: one part against the one-shot kernels
 * (forward bit for bit), P uneven parts (one of them empty) against the naive references on the
 * whole batch, counts that differ between channels, the input gradient with a large common offset,
 * and every status.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel; P parts along N (a
 * sample's C*S values are contiguous in every layout, so a part is a pointer into the batch).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const int layouts[] = {BN_LAYOUT_NC, BN_LAYOUT_NCHW, BN_LAYOUT_NHWC};

// bn.h's backward with batch statistics, naively in double, with mean and rstd in double (the
// harness's ref_backward takes them as floats, which is itself off by far more than the split
// kernels when |mean|*rstd is large)
static void ref_backward_d(double *dinp, double *dgamma, double *dbeta, const float *dout,
                           const float *inp, const float *gamma, const double *mean,
                           const double *rstd, int layout, int64_t N, int64_t C, int64_t S) {
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double t1 = 0.0, t2 = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, n, c, s);
                t1 += dout[i];
                t2 += dout[i] * ((inp[i] - mean[c]) * rstd[c]);
            }
        }
        const double k = (gamma ? gamma[c] : 1.0) * rstd[c];
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, n, c, s);
                dinp[i] = k * (dout[i] - t1 / M - (inp[i] - mean[c]) * rstd[c] * t2 / M);
            }
        }
        dgamma[c] = t2;
        dbeta[c] = t1;
    }
}

// ----------------------------------------------------------------------------
// one part: the one-shot kernels' results

static void one_part_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    const double eps = 1e-5, f = 0.3;
    char name[160];
    snprintf(name, sizeof name, "%s N=%lld C=%lld S=%lld", bt_layout_name(layout), (long long)N,
             (long long)C, (long long)S);
    float *inp = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc), *dout = bt_floats(n);
    float *rm1 = bt_floats(nc), *rv1 = bt_floats(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    bt_fill_normal(r, dout, n);
    bt_fill_normal(r, rm1, nc);
    bt_fill_uniform(r, rv1, nc, 0.5, 1.5);
    float *rm2 = bt_copy_floats(rm1, nc), *rv2 = bt_copy_floats(rv1, nc);
    float *out1 = bt_floats(n), *save_mean = bt_floats(nc), *save_rstd = bt_floats(nc);
    float *out2 = bt_floats(n);
    const unsigned int fl = BN_USE_SCALE | BN_USE_SHIFT;
    bn_status st = bn_forward_training(out1, save_mean, save_rstd, rm1, rv1, inp, NULL, gamma, beta,
                                       eps, f, fl | BN_UPDATE_RUNNING, layout, N, C, S);
    CHECK(st == BN_OK, "%s: one-shot status %d", name, st);

    double *stats = bt_doubles(3 * nc), *mean = bt_doubles(nc), *rstd = bt_doubles(nc);
    st = bn_stats_local(stats, inp, 0, layout, N, C, S);
    CHECK(st == BN_OK, "%s: bn_stats_local status %d", name, st);
    st = bn_stats_merge(mean, rstd, rm2, rv2, stats, eps, f, BN_UPDATE_RUNNING, C, 1);
    CHECK(st == BN_OK, "%s: bn_stats_merge status %d", name, st);
    st = bn_forward_apply(out2, inp, NULL, mean, rstd, gamma, beta, fl, layout, N, C, S);
    CHECK(st == BN_OK, "%s: bn_forward_apply status %d", name, st);
    CHECK(memcmp(out1, out2, n * sizeof(float)) == 0, "%s: out differs from one-shot", name);
    CHECK(memcmp(rm1, rm2, nc * sizeof(float)) == 0, "%s: running_mean differs", name);
    CHECK(memcmp(rv1, rv2, nc * sizeof(float)) == 0, "%s: running_var differs", name);
    for (size_t c = 0; c < nc; c++) {
        CHECK((float)mean[c] == save_mean[c] && (float)rstd[c] == save_rstd[c],
              "%s: channel %zu mean %.9g/%.9g rstd %.9g/%.9g", name, c, mean[c], save_mean[c],
              rstd[c], save_rstd[c]);
        CHECK(stats[c] == (double)(N * S), "%s: count %g", name, stats[c]);
    }

    // backward: the double reference; the one-shot's within its rounding of mean and rstd
    float *dinp1 = bt_floats(n), *dg1 = bt_floats(nc), *db1 = bt_floats(nc);
    float *dinp2 = bt_floats(n), *dg2 = bt_floats(nc), *db2 = bt_floats(nc);
    const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    st = bn_backward(dinp1, NULL, dg1, db1, dout, NULL, inp, gamma, save_mean, save_rstd, BN_USE_SCALE, all,
                     layout, N, C, S);
    CHECK(st == BN_OK, "%s: one-shot backward status %d", name, st);
    double *sums = bt_doubles(3 * nc);
    st = bn_backward_reduce(sums, dout, NULL, inp, mean, 0u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: bn_backward_reduce status %d", name, st);
    st = bn_backward_apply(dinp2, NULL, dg2, db2, dout, NULL, inp, gamma, mean, rstd, sums, BN_USE_SCALE, all,
                           layout, N, C, S, 1);
    CHECK(st == BN_OK, "%s: bn_backward_apply status %d", name, st);
    double *ref = bt_doubles(n), *rg = bt_doubles(nc), *rb = bt_doubles(nc);
    ref_backward_d(ref, rg, rb, dout, inp, gamma, mean, rstd, layout, N, C, S);
    // dinp is a difference of terms of the size of |gamma*rstd*dout|: compare at that scale
    const double tol = 4 * bt_tol(N * S), scale = 1.0 + bt_maxabs(ref, n);
    char what[200];
    snprintf(what, sizeof what, "%s: dinp", name);
    bt_close(what, dinp2, ref, n, tol * scale, 0.0);
    snprintf(what, sizeof what, "%s: dgamma", name);
    bt_close(what, dg2, rg, nc, tol * (1.0 + bt_maxabs(rg, nc)), tol);
    snprintf(what, sizeof what, "%s: dbeta", name);
    bt_close(what, db2, rb, nc, tol * (1.0 + bt_maxabs(rb, nc)), tol);
    // the one-shot rounds mean and rstd to float: xhat is then off by up to
    // FLT_EPSILON*(1 + |mean|*rstd), and dinp by a small multiple of that times its scale
    double spread = 0.0;
    for (size_t c = 0; c < nc; c++) {
        if (fabs(mean[c]) * rstd[c] > spread) spread = fabs(mean[c]) * rstd[c];
    }
    for (size_t i = 0; i < n; i++) ref[i] = dinp2[i];
    snprintf(what, sizeof what, "%s: one-shot dinp vs split", name);
    bt_close(what, dinp1, ref, n, (tol + 32 * FLT_EPSILON * (1.0 + spread)) * scale, 0.0);

    free(inp); free(gamma); free(beta); free(dout); free(rm1); free(rv1); free(rm2); free(rv2);
    free(out1); free(out2); free(save_mean); free(save_rstd); free(stats); free(mean); free(rstd);
    free(dinp1); free(dg1); free(db1); free(dinp2); free(dg2); free(db2); free(sums); free(ref);
    free(rg); free(rb);
}

void test_split_one_part(void) {
    bt_rng r;
    bt_rng_seed(&r, 41);
    for (int l = 0; l < 3; l++) {
        for (int in = 0; in < bt_n_sizes; in++) {
            for (int ic = 0; ic < bt_n_sizes; ic++) {
                for (int is = 0; is < (layouts[l] == BN_LAYOUT_NC ? 1 : bt_n_sizes); is++) {
                    const int64_t N = bt_sizes[in], C = bt_sizes[ic], S = bt_sizes[is];
                    if (N * S > 1 && N * C * S <= (1 << 16)) one_part_case(&r, layouts[l], N, C, S);
                }
            }
        }
    }
    // large enough for the thread team, groups, long runs cut into pieces and short runs
    one_part_case(&r, BN_LAYOUT_NC, 3000, 300, 1);
    one_part_case(&r, BN_LAYOUT_NHWC, 64, 20, 500);
    one_part_case(&r, BN_LAYOUT_NCHW, 4, 3, 9000);
    one_part_case(&r, BN_LAYOUT_NCHW, 32, 64, 49);
    one_part_case(&r, BN_LAYOUT_NCHW, 600, 2, 1024);
}

// ----------------------------------------------------------------------------
// P parts: the whole batch's results

static void parts_case(bt_rng *r, int layout, const int64_t *Np, int P, int64_t C, int64_t S) {
    int64_t N = 0;
    for (int q = 0; q < P; q++) N += Np[q];
    const size_t n = (size_t)(N * C * S), nc = (size_t)C, per = (size_t)(C * S);
    const int64_t M = N * S;
    const double eps = 1e-3, f = 0.1;
    char name[160];
    snprintf(name, sizeof name, "%s P=%d N=%lld C=%lld S=%lld", bt_layout_name(layout), P,
             (long long)N, (long long)C, (long long)S);
    float *inp = bt_floats(n), *gamma = bt_floats(nc), *beta = bt_floats(nc), *dout = bt_floats(n);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, beta, nc);
    bt_fill_normal(r, dout, n);
    float *rm = bt_floats(nc), *rv = bt_floats(nc);
    for (size_t c = 0; c < nc; c++) rm[c] = 0.0f, rv[c] = 1.0f;
    double *stats = bt_doubles((size_t)P * 3 * nc), *sums = bt_doubles((size_t)P * 3 * nc);
    double *mean = bt_doubles(nc), *rstd = bt_doubles(nc);
    float *out = bt_floats(n), *dinp = bt_floats(n), *dg = bt_floats(nc), *db = bt_floats(nc);

    size_t at = 0; // part q's first sample
    for (int q = 0; q < P; q++) { // an empty part stays (0, 0, 0)
        if (Np[q] > 0) {
            bn_status st = bn_stats_local(stats + (size_t)q * 3 * nc, inp + at * per, 0, layout,
                                          Np[q], C, S);
            CHECK(st == BN_OK, "%s: stats of part %d: %d", name, q, st);
        }
        at += (size_t)Np[q];
    }
    bn_status st = bn_stats_merge(mean, rstd, rm, rv, stats, eps, f, BN_UPDATE_RUNNING, C, P);
    CHECK(st == BN_OK, "%s: merge %d", name, st);
    at = 0;
    for (int q = 0; q < P; q++) {
        if (Np[q] > 0) {
            st = bn_forward_apply(out + at * per, inp + at * per, NULL, mean, rstd, gamma, beta,
                                  BN_USE_SCALE | BN_USE_SHIFT, layout, Np[q], C, S);
            CHECK(st == BN_OK, "%s: apply of part %d: %d", name, q, st);
            st = bn_backward_reduce(sums + (size_t)q * 3 * nc, dout + at * per, NULL, inp + at * per,
                                    mean, 0u, layout, Np[q], C, S);
            CHECK(st == BN_OK, "%s: reduce of part %d: %d", name, q, st);
        }
        at += (size_t)Np[q];
    }
    at = 0;
    for (int q = 0; q < P; q++) {
        if (Np[q] > 0) {
            const int last = q == P - 1 || at + (size_t)Np[q] == (size_t)N;
            st = bn_backward_apply(dinp + at * per, NULL, last ? dg : NULL, last ? db : NULL,
                                   dout + at * per, NULL, inp + at * per, gamma, mean, rstd, sums,
                                   BN_USE_SCALE,
                                   BN_DIFF_INP | (last ? BN_DIFF_SCALE | BN_DIFF_SHIFT : 0u),
                                   layout, Np[q], C, S, P);
            CHECK(st == BN_OK, "%s: backward apply of part %d: %d", name, q, st);
        }
        at += (size_t)Np[q];
    }

    // references on the whole batch
    double *rmean = bt_doubles(nc), *rvar = bt_doubles(nc), *rr = bt_doubles(nc);
    double *ref = bt_doubles(n), *rdinp = bt_doubles(n), *rdg = bt_doubles(nc), *rdb = bt_doubles(nc);
    double *rrm = bt_doubles(nc), *rrv = bt_doubles(nc);
    ref_stats(rmean, rvar, inp, layout, N, C, S);
    for (size_t c = 0; c < nc; c++) {
        rr[c] = 1.0 / sqrt(rvar[c] + eps);
        rrm[c] = f * rmean[c];
        rrv[c] = (1.0 - f) + f * rvar[c] * (double)M / (double)(M - 1);
    }
    ref_normalize(ref, inp, rmean, rr, gamma, beta, layout, N, C, S);
    ref_backward_d(rdinp, rdg, rdb, dout, inp, gamma, rmean, rr, layout, N, C, S);
    const double tol = bt_tol(M);
    char what[200];
    int ok = 1;
    for (size_t c = 0; c < nc; c++) {
        ok &= fabs(mean[c] - rmean[c]) <= tol * (1e-3 + fabs(rmean[c]));
        ok &= fabs(rstd[c] - rr[c]) <= tol * rr[c];
    }
    CHECK(ok, "%s: merged mean or rstd off the reference", name);
    snprintf(what, sizeof what, "%s: out", name);
    bt_close(what, out, ref, n, tol, tol);
    snprintf(what, sizeof what, "%s: running_mean", name);
    bt_close(what, rm, rrm, nc, 1e-12, tol);
    snprintf(what, sizeof what, "%s: running_var", name);
    bt_close(what, rv, rrv, nc, 0.0, tol);
    snprintf(what, sizeof what, "%s: dinp", name);
    bt_close(what, dinp, rdinp, n, 4 * tol * (1.0 + bt_maxabs(rdinp, n)), 0.0);
    snprintf(what, sizeof what, "%s: dgamma", name);
    bt_close(what, dg, rdg, nc, 4 * tol * (1.0 + bt_maxabs(rdg, nc)), tol);
    snprintf(what, sizeof what, "%s: dbeta", name);
    bt_close(what, db, rdb, nc, 4 * tol * (1.0 + bt_maxabs(rdb, nc)), tol);

    free(inp); free(gamma); free(beta); free(dout); free(rm); free(rv); free(stats); free(sums);
    free(mean); free(rstd); free(out); free(dinp); free(dg); free(db); free(rmean); free(rvar);
    free(rr); free(ref); free(rdinp); free(rdg); free(rdb); free(rrm); free(rrv);
}

void test_split_parts(void) {
    bt_rng r;
    bt_rng_seed(&r, 43);
    static const int64_t cuts[][4] = {{5, 0, 0, 0}, {1, 1, 0, 0}, {3, 0, 7, 0},
                                      {13, 2, 1, 9}, {0, 4, 4, 64}, {127, 1, 0, 2}};
    static const int ncut[] = {1, 2, 3, 4, 4, 4};
    for (int l = 0; l < 3; l++) {
        for (int k = 0; k < 6; k++) {
            for (int ic = 0; ic < bt_n_sizes; ic++) {
                for (int is = 0; is < (layouts[l] == BN_LAYOUT_NC ? 1 : 4); is++) {
                    parts_case(&r, layouts[l], cuts[k], ncut[k], bt_sizes[ic], bt_sizes[is]);
                }
            }
        }
    }
    static const int64_t big[] = {700, 1300};
    parts_case(&r, BN_LAYOUT_NC, big, 2, 300, 1);
    static const int64_t img[] = {3, 5, 0, 2};
    parts_case(&r, BN_LAYOUT_NCHW, img, 4, 16, 3000);
}

// ----------------------------------------------------------------------------
// sums whose counts differ between channels: bn_backward_apply takes each channel's own M (the
// library hands the kernels runs of channels with one count), against the formula in double

static void counts_case(bt_rng *r, int layout, int64_t N, int64_t C, int64_t S) {
    const size_t n = (size_t)(N * C * S), nc = (size_t)C;
    char name[160];
    snprintf(name, sizeof name, "%s N=%lld C=%lld S=%lld", bt_layout_name(layout), (long long)N,
             (long long)C, (long long)S);
    float *inp = bt_floats(n), *gamma = bt_floats(nc), *dout = bt_floats(n);
    float *dinp = bt_floats(n), *dg = bt_floats(nc), *db = bt_floats(nc);
    double *mean = bt_doubles(nc), *rstd = bt_doubles(nc), *sums = bt_doubles(3 * nc);
    double *ref = bt_doubles(n), *rg = bt_doubles(nc), *rb = bt_doubles(nc);
    bt_fill_inp(r, inp, layout, N, C, S);
    bt_fill_normal(r, gamma, nc);
    bt_fill_normal(r, dout, n);
    for (size_t c = 0; c < nc; c++) mean[c] = 0.1 * (double)c - 1.0, rstd[c] = 0.5 + 0.01 * (double)c;
    bn_status st = bn_backward_reduce(sums, dout, NULL, inp, mean, 0u, layout, N, C, S);
    CHECK(st == BN_OK, "%s: bn_backward_reduce status %d", name, st);
    for (size_t c = 0; c < nc; c++) sums[c] *= (double)(1 + (c / 3) % 3); // runs of 3, then single
    sums[nc - 1] = 7.0 * (double)(N * S);
    st = bn_backward_apply(dinp, NULL, dg, db, dout, NULL, inp, gamma, mean, rstd, sums, BN_USE_SCALE,
                           BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, layout, N, C, S, 1);
    CHECK(st == BN_OK, "%s: bn_backward_apply status %d", name, st);
    for (int64_t c = 0; c < C; c++) {
        const double M = sums[c], t1 = sums[C + c], t2 = sums[2 * C + c], k = gamma[c] * rstd[c];
        for (int64_t i = 0; i < N; i++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t e = bt_index(layout, N, C, S, i, c, s);
                ref[e] = k * (dout[e] - t1 / M - (inp[e] - mean[c]) * rstd[c] * rstd[c] * t2 / M);
            }
        }
        rg[c] = rstd[c] * t2;
        rb[c] = t1;
    }
    const double tol = 4 * bt_tol(N * S);
    char what[200];
    snprintf(what, sizeof what, "%s: dinp", name);
    bt_close(what, dinp, ref, n, tol * (1.0 + bt_maxabs(ref, n)), 0.0);
    snprintf(what, sizeof what, "%s: dgamma", name);
    bt_close(what, dg, rg, nc, tol * (1.0 + bt_maxabs(rg, nc)), tol);
    snprintf(what, sizeof what, "%s: dbeta", name);
    bt_close(what, db, rb, nc, tol * (1.0 + bt_maxabs(rb, nc)), tol);
    free(inp); free(gamma); free(dout); free(dinp); free(dg); free(db); free(mean); free(rstd);
    free(sums); free(ref); free(rg); free(rb);
}

void test_split_counts_per_channel(void) {
    bt_rng r;
    bt_rng_seed(&r, 47);
    counts_case(&r, BN_LAYOUT_NC, 6, 37, 1);
    counts_case(&r, BN_LAYOUT_NC, 3, 300, 1); // more channels than a unit's columns
    counts_case(&r, BN_LAYOUT_NCHW, 4, 13, 20);
    counts_case(&r, BN_LAYOUT_NHWC, 4, 13, 20);
}

// ----------------------------------------------------------------------------
// the input gradient with a large common offset (x = 1000 + 0.01*N(0, 1), 32 x 20) against the
// float64 truth from the same float inputs; bn.h's one-shot backward (mean and rstd rounded to
// float) is off by ~0.5 here

void test_split_large_offset(void) {
    enum { N = 32, C = 20 };
    bt_rng r;
    bt_rng_seed(&r, 47);
    float inp[N * C], dout[N * C], dinp[N * C], gamma[C];
    for (int i = 0; i < N * C; i++) {
        inp[i] = (float)(1000.0 + 0.01 * bt_normal(&r));
        dout[i] = (float)bt_normal(&r);
    }
    for (int c = 0; c < C; c++) gamma[c] = 1.0f;
    double stats[3 * C], mean[C], rstd[C], sums[3 * C];
    CHECK(bn_stats_local(stats, inp, 0, BN_LAYOUT_NC, N, C, 1) == BN_OK, "stats");
    CHECK(bn_stats_merge(mean, rstd, NULL, NULL, stats, 1e-5, 0.0, 0u, C, 1) == BN_OK, "merge");
    CHECK(bn_backward_reduce(sums, dout, NULL, inp, mean, 0u, BN_LAYOUT_NC, N, C, 1) == BN_OK, "reduce");
    CHECK(bn_backward_apply(dinp, NULL, NULL, NULL, dout, NULL, inp, gamma, mean, rstd, sums, BN_USE_SCALE,
                            BN_DIFF_INP, BN_LAYOUT_NC, N, C, 1, 1) == BN_OK, "apply");
    double worst = 0.0;
    for (int c = 0; c < C; c++) {
        double m = 0.0, v = 0.0, t1 = 0.0, t2 = 0.0;
        for (int i = 0; i < N; i++) m += inp[i * C + c];
        m /= N;
        for (int i = 0; i < N; i++) v += (inp[i * C + c] - m) * (inp[i * C + c] - m);
        const double rs = 1.0 / sqrt(v / N + 1e-5);
        for (int i = 0; i < N; i++) {
            t1 += dout[i * C + c];
            t2 += dout[i * C + c] * (inp[i * C + c] - m) * rs;
        }
        for (int i = 0; i < N; i++) {
            const double xhat = (inp[i * C + c] - m) * rs;
            const double truth = rs * (dout[i * C + c] - t1 / N - xhat * t2 / N);
            const double e = fabs(dinp[i * C + c] - truth);
            if (e > worst) worst = e; // not fmax: aarch64 GCC 12 fails to vectorize that reduction
        }
    }
    CHECK(worst <= 0.01, "dinp worst error %g > 0.01", worst);
    printf("split_large_offset: dinp worst error %.3g\n", worst);
}

// ----------------------------------------------------------------------------
// threads: every split-phase result is the same bits for 1, 2, 3 and 7 threads (shapes large
// enough for the thread team, with groups, pieces and short runs)

static void split_all(double *stats, double *mean, double *rstd, float *rm, float *rv, float *out,
                      double *sums, float *dinp, float *dg, float *db, const float *inp,
                      const float *dout, const float *gamma, int layout, int64_t N, int64_t C,
                      int64_t S) {
    const size_t nc = (size_t)C;
    for (size_t c = 0; c < nc; c++) rm[c] = 0.0f, rv[c] = 1.0f;
    CHECK(bn_stats_local(stats, inp, 0, layout, N, C, S) == BN_OK, "stats");
    CHECK(bn_stats_merge(mean, rstd, rm, rv, stats, 1e-5, 0.1, BN_UPDATE_RUNNING, C, 1) == BN_OK, "merge");
    CHECK(bn_forward_apply(out, inp, NULL, mean, rstd, gamma, NULL, BN_USE_SCALE, layout, N, C, S) == BN_OK, "apply");
    CHECK(bn_backward_reduce(sums, dout, NULL, inp, mean, 0u, layout, N, C, S) == BN_OK, "reduce");
    CHECK(bn_backward_apply(dinp, NULL, dg, db, dout, NULL, inp, gamma, mean, rstd, sums, BN_USE_SCALE,
                            BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, layout, N, C, S, 1) == BN_OK,
          "backward apply");
}

void test_split_threads_identical(void) {
    static const struct { int layout; int64_t N, C, S; } shapes[] = {
        {BN_LAYOUT_NC, 3000, 300, 1}, {BN_LAYOUT_NC, 20000, 7, 1}, {BN_LAYOUT_NHWC, 64, 20, 500},
        {BN_LAYOUT_NCHW, 4, 3, 9000}, {BN_LAYOUT_NCHW, 32, 64, 49}, {BN_LAYOUT_NCHW, 600, 2, 1024},
        {BN_LAYOUT_NHWC, 8, 128, 784}, // one unit of 3 MiB: its 3 groups rounded up to 4
    };
    static const int counts[] = {2, 3, 7};
    bt_rng r;
    bt_rng_seed(&r, 53);
    const int before = bn_get_num_threads();
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int layout = shapes[k].layout;
        const int64_t N = shapes[k].N, C = shapes[k].C, S = shapes[k].S;
        const size_t n = (size_t)(N * C * S), nc = (size_t)C;
        float *inp = bt_floats(n), *dout = bt_floats(n), *gamma = bt_floats(nc);
        bt_fill_inp(&r, inp, layout, N, C, S);
        bt_fill_normal(&r, dout, n);
        bt_fill_normal(&r, gamma, nc);
        double *st[2], *mean[2], *rstd[2], *sums[2];
        float *rm[2], *rv[2], *out[2], *dinp[2], *dg[2], *db[2];
        for (int i = 0; i < 2; i++) {
            st[i] = bt_doubles(3 * nc), sums[i] = bt_doubles(3 * nc);
            mean[i] = bt_doubles(nc), rstd[i] = bt_doubles(nc);
            rm[i] = bt_floats(nc), rv[i] = bt_floats(nc), dg[i] = bt_floats(nc), db[i] = bt_floats(nc);
            out[i] = bt_floats(n), dinp[i] = bt_floats(n);
        }
        bn_set_num_threads(1);
        split_all(st[0], mean[0], rstd[0], rm[0], rv[0], out[0], sums[0], dinp[0], dg[0], db[0], inp,
                  dout, gamma, layout, N, C, S);
        for (size_t t = 0; t < sizeof counts / sizeof counts[0]; t++) {
            bn_set_num_threads(counts[t]);
            split_all(st[1], mean[1], rstd[1], rm[1], rv[1], out[1], sums[1], dinp[1], dg[1], db[1],
                      inp, dout, gamma, layout, N, C, S);
            const int same = memcmp(st[0], st[1], 3 * nc * 8) == 0 &&
                             memcmp(mean[0], mean[1], nc * 8) == 0 &&
                             memcmp(rstd[0], rstd[1], nc * 8) == 0 &&
                             memcmp(sums[0], sums[1], 3 * nc * 8) == 0 &&
                             memcmp(rm[0], rm[1], nc * 4) == 0 && memcmp(rv[0], rv[1], nc * 4) == 0 &&
                             memcmp(out[0], out[1], n * 4) == 0 && memcmp(dinp[0], dinp[1], n * 4) == 0 &&
                             memcmp(dg[0], dg[1], nc * 4) == 0 && memcmp(db[0], db[1], nc * 4) == 0;
            CHECK(same, "%s N=%lld C=%lld S=%lld: %d threads differ from 1", bt_layout_name(layout),
                  (long long)N, (long long)C, (long long)S, counts[t]);
        }
        for (int i = 0; i < 2; i++) {
            free(st[i]); free(sums[i]); free(mean[i]); free(rstd[i]); free(rm[i]); free(rv[i]);
            free(dg[i]); free(db[i]); free(out[i]); free(dinp[i]);
        }
        free(inp); free(dout); free(gamma);
    }
    bn_set_num_threads(before);
}

// ----------------------------------------------------------------------------
// statuses

void test_check_split(void) {
    enum { N = 4, C = 3, S = 2 };
    static float inp[N * C * S], out[N * C * S], g[C], rm[C], rv[C];
    static double st3[3 * C], st2[2 * 3 * C], mean[C], rstd[C], spare[4 * C];
    for (int i = 0; i < N * C * S; i++) inp[i] = (float)i;
    for (int c = 0; c < C; c++) g[c] = 1.0f, mean[c] = 1.0, rstd[c] = 1.0;
    const int L = BN_LAYOUT_NCHW;
#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        const bn_status s_ = (call);                                                               \
        bt_statuses_seen |= 1u << s_;                                                              \
        CHECK(s_ == (want), "%s: got %d (%s), want %d", #call, s_, bn_strerror(s_), (want));       \
    } while (0)
    EXPECT(bn_stats_local(st3, inp, 0, L, N, C, S), BN_OK);
    EXPECT(bn_stats_local(NULL, inp, 0, L, N, C, S), BN_ERR_NULL_POINTER);
    EXPECT(bn_stats_local(st3, inp, 0, L, 0, C, S), BN_ERR_BAD_DIMENSION);
    EXPECT(bn_stats_local(st3, inp, 0, 7, N, C, S), BN_ERR_BAD_LAYOUT);
    EXPECT(bn_stats_local((double *)((char *)spare + 4), inp, 0, L, N, C, S), BN_ERR_MISALIGNED);
    EXPECT(bn_stats_local((double *)(void *)inp, inp, 0, L, N, C, S), BN_ERR_ALIAS);
    EXPECT(bn_stats_local(st3, inp, 0, L, 1, C, 1), BN_OK); // M = 1 is a valid part
    memcpy(st2, st3, sizeof st3);
    memcpy(st2 + 3 * C, st3, sizeof st3);
    EXPECT(bn_stats_merge(mean, rstd, rm, rv, st2, 1e-5, 0.1, BN_UPDATE_RUNNING, C, 2), BN_OK);
    EXPECT(bn_stats_merge(mean, rstd, NULL, rv, st2, 1e-5, 0.1, BN_UPDATE_RUNNING, C, 2),
           BN_ERR_NULL_POINTER);
    EXPECT(bn_stats_merge(mean, rstd, rm, rv, st2, 1e-5, 0.1, 0u, C, 2), BN_ERR_BAD_FLAGS);
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.1, BN_USE_SCALE, C, 2),
           BN_ERR_BAD_FLAGS);
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.1, 0u, C, 0), BN_ERR_BAD_DIMENSION);
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.1, 0u, INT64_MAX / 8, 4),
           BN_ERR_OVERFLOW);
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 0.0, 0.1, 0u, C, 2), BN_ERR_BAD_EPS);
    EXPECT(bn_stats_merge(mean, rstd, rm, rv, st2, 1e-5, 1.5, BN_UPDATE_RUNNING, C, 2),
           BN_ERR_BAD_MOMENTUM);
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st3, 1e-5, 0.0, 0u, C, 1), BN_ERR_SINGLE_VALUE);
    EXPECT(bn_stats_merge(mean, mean, NULL, NULL, st2, 1e-5, 0.0, 0u, C, 2), BN_ERR_ALIAS);
    EXPECT(bn_stats_merge(mean, (double *)((char *)spare + 4), NULL, NULL, st2, 1e-5, 0.0, 0u, C, 2),
           BN_ERR_MISALIGNED);
    st2[1] = -1.0; // a negative count
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.0, 0u, C, 2), BN_ERR_BAD_DIMENSION);
    st2[1] = 0.5; // not a whole number
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.0, 0u, C, 2), BN_ERR_BAD_DIMENSION);
    st2[1] = NAN;
    EXPECT(bn_stats_merge(mean, rstd, NULL, NULL, st2, 1e-5, 0.0, 0u, C, 2), BN_ERR_BAD_DIMENSION);
    st2[1] = 1.0;

    EXPECT(bn_forward_apply(out, inp, NULL, mean, rstd, g, NULL, BN_USE_SCALE, L, N, C, S), BN_OK);
    EXPECT(bn_forward_apply(inp, inp, NULL, mean, rstd, NULL, NULL, 0u, L, N, C, S), BN_OK); // in place
    EXPECT(bn_forward_apply(out, inp, NULL, NULL, rstd, NULL, NULL, 0u, L, N, C, S), BN_ERR_NULL_POINTER);
    EXPECT(bn_forward_apply(out, inp, NULL, mean, rstd, g, NULL, 0u, L, N, C, S), BN_ERR_BAD_FLAGS);
    EXPECT(bn_forward_apply(out, inp, NULL, mean, rstd, NULL, NULL, BN_UPDATE_RUNNING, L, N, C, S),
           BN_ERR_BAD_FLAGS);
    EXPECT(bn_forward_apply(out, inp, NULL, mean, rstd, NULL, NULL, 0u, BN_LAYOUT_NC, N, C, S),
           BN_ERR_BAD_DIMENSION);
    EXPECT(bn_forward_apply(inp + 1, inp, NULL, mean, rstd, NULL, NULL, 0u, L, N - 1, C, S), BN_ERR_ALIAS);
    EXPECT(bn_forward_apply(out, inp, NULL, mean, (double *)((char *)spare + 4), NULL, NULL, 0u, L, N, C,
                            S), BN_ERR_MISALIGNED);

    double sums[2 * 3 * C];
    EXPECT(bn_backward_reduce(sums, inp, NULL, inp, mean, 0u, L, N, C, S), BN_OK);
    EXPECT(bn_backward_reduce(sums, NULL, NULL, inp, mean, 0u, L, N, C, S), BN_ERR_NULL_POINTER);
    EXPECT(bn_backward_reduce(sums, inp, NULL, inp, mean, 0u, L, N, -1, S), BN_ERR_BAD_DIMENSION);
    EXPECT(bn_backward_reduce((double *)(void *)out, out, NULL, inp, mean, 0u, L, N, C, S), BN_ERR_ALIAS);
    memcpy(sums + 3 * C, sums, 3 * C * sizeof(double));
    const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    float dg[C], db[C];
    EXPECT(bn_backward_apply(out, NULL, dg, db, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE, all, L, N, C,
                             S, 2), BN_OK);
    EXPECT(bn_backward_apply(out, NULL, dg, NULL, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE, all, L, N,
                             C, S, 2), BN_ERR_NULL_POINTER);
    EXPECT(bn_backward_apply(out, NULL, dg, db, inp, NULL, inp, g, mean, rstd, sums, BN_USE_GLOBAL_STATS, all,
                             L, N, C, S, 2), BN_ERR_BAD_FLAGS);
    EXPECT(bn_backward_apply(NULL, NULL, NULL, NULL, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE, 0x10u, L,
                             N, C, S, 2), BN_ERR_BAD_MASK);
    EXPECT(bn_backward_apply(out, NULL, NULL, NULL, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE,
                             BN_DIFF_INP, L, N, C, S, 0), BN_ERR_BAD_DIMENSION);
    EXPECT(bn_backward_apply(out, NULL, NULL, NULL, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE,
                             BN_DIFF_INP, L, N, C, S, INT64_MAX / 4), BN_ERR_OVERFLOW);
    EXPECT(bn_backward_apply(out, NULL, dg, db, inp, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE, all, L, N,
                             C, S, 2), BN_OK);
    EXPECT(bn_backward_apply(inp, NULL, NULL, NULL, out, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE,
                             BN_DIFF_INP, L, N, C, S, 2), BN_OK); // dinp == inp
    EXPECT(bn_backward_apply(out + 2, NULL, NULL, NULL, out, NULL, inp, g, mean, rstd, sums, BN_USE_SCALE,
                             BN_DIFF_INP, L, N - 1, C, S, 2), BN_ERR_ALIAS);
    double zero[2 * 3 * C] = {0};
    EXPECT(bn_backward_apply(out, NULL, NULL, NULL, inp, NULL, inp, g, mean, rstd, zero, BN_USE_SCALE,
                             BN_DIFF_INP, L, N, C, S, 2), BN_ERR_SINGLE_VALUE);
#undef EXPECT
}
