/*
 * test_linear.c - bn_linear_forward and bn_linear_backward against a double-precision reference,
 * their argument checks (status, and nothing written on failure), and bit-identical results for
 * any number of threads.
 *
 * Tolerance: each output element is a float sum of K products (K = the reduction length), which
 * the library adds in lanes and then by a short tree. Every partial sum is a sum of at most K
 * products, so the error is at most K*u*sum|products| (u = 2^-24, one rounding per product and
 * per addition without FMA: (2K)*u), plus one rounding of the result and of the bias addition.
 * The bound used is 2*(K + 2)*u*sum(|products|) + u*|ref|; the sigmoid is 1/4-Lipschitz, so
 * the same bound holds for its output, plus its own rounding.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn.h"
#include "harness.h"

#define U (FLT_EPSILON / 2)

static int within(const char *what, const float *got, const double *ref, const double *mag,
                  size_t n, int64_t K) {
    size_t bad = 0, worst = 0;
    double worst_excess = 0;
    for (size_t i = 0; i < n; i++) {
        const double bound = 2.0 * (double)(K + 2) * U * mag[i] + U * fabs(ref[i]) + 1e-30;
        const double d = fabs((double)got[i] - ref[i]);
        if (!(d <= bound)) {
            if (bad == 0 || d / bound > worst_excess) {
                worst = i;
                worst_excess = d / bound;
            }
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %zu of %zu elements off; worst [%zu] got %.9g ref %.9g (%.3gx the bound)",
          what, bad, n, worst, (double)got[worst], ref[worst], worst_excess);
    return bad == 0;
}

static const int64_t SIZES[] = {1, 2, 3, 7, 17, 100}; // every remainder of the row blocks (4, 3, 2)
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))

void test_linear_forward(void) {
    bt_rng r;
    bt_rng_seed(&r, 11);
    for (int a = 0; a < NSIZES; a++)
        for (int b = 0; b < NSIZES; b++)
            for (int c = 0; c < NSIZES; c++)
                for (int act = 0; act <= 2; act++)
                    for (int with_bias = 0; with_bias <= 1; with_bias++) {
                        const int64_t N = SIZES[a], I = SIZES[b], O = SIZES[c];
                        float *inp = bt_floats((size_t)(N * I)), *w = bt_floats((size_t)(O * I));
                        float *bias = bt_floats((size_t)O), *out = bt_floats((size_t)(N * O));
                        double *ref = bt_doubles((size_t)(N * O)), *mag = bt_doubles((size_t)(N * O));
                        bt_fill_normal(&r, inp, (size_t)(N * I));
                        bt_fill_normal(&r, w, (size_t)(O * I));
                        bt_fill_normal(&r, bias, (size_t)O);
                        for (int64_t n = 0; n < N; n++)
                            for (int64_t o = 0; o < O; o++) {
                                double s = with_bias ? bias[o] : 0.0, m = with_bias ? fabs(bias[o]) : 0.0;
                                for (int64_t k = 0; k < I; k++) {
                                    s += (double)inp[n * I + k] * w[o * I + k];
                                    m += fabs((double)inp[n * I + k] * w[o * I + k]);
                                }
                                if (act == BN_ACT_RELU) s = s > 0 ? s : 0;
                                if (act == BN_ACT_SIGMOID) s = 1 / (1 + exp(-s));
                                ref[n * O + o] = s;
                                mag[n * O + o] = m;
                            }
                        const bn_status st = bn_linear_forward(out, inp, w, with_bias ? bias : NULL, act, N, I, O);
                        CHECK(st == BN_OK, "status %d", st);
                        char what[96];
                        snprintf(what, sizeof what, "forward N=%lld I=%lld O=%lld act=%d bias=%d",
                                 (long long)N, (long long)I, (long long)O, act, with_bias);
                        within(what, out, ref, mag, (size_t)(N * O), I);
                        // the transposed weight: the same function
                        float *wt = bt_floats((size_t)(O * I));
                        for (int64_t o = 0; o < O; o++)
                            for (int64_t k = 0; k < I; k++) wt[k * O + o] = w[o * I + k];
                        bt_fill_nan(out, (size_t)(N * O));
                        const bn_status st_t = bn_linear_forward_t(out, inp, wt, with_bias ? bias : NULL, act, N, I, O);
                        CHECK(st_t == BN_OK, "status %d", st_t);
                        snprintf(what, sizeof what, "forward_t N=%lld I=%lld O=%lld act=%d bias=%d",
                                 (long long)N, (long long)I, (long long)O, act, with_bias);
                        within(what, out, ref, mag, (size_t)(N * O), I);
                        free(wt);
                        free(inp), free(w), free(bias), free(out), free(ref), free(mag);
                    }
}

// backward against the reference, overwriting and accumulating, with each output alone or all
void test_linear_backward(void) {
    bt_rng r;
    bt_rng_seed(&r, 12);
    for (int a = 0; a < NSIZES; a++)
        for (int b = 0; b < NSIZES; b++)
            for (int c = 0; c < NSIZES; c++)
                for (int accumulate = 0; accumulate <= 1; accumulate++) {
                    const int64_t N = SIZES[a], I = SIZES[b], O = SIZES[c];
                    float *inp = bt_floats((size_t)(N * I)), *w = bt_floats((size_t)(O * I));
                    float *dout = bt_floats((size_t)(N * O)), *dinp = bt_floats((size_t)(N * I));
                    float *dw = bt_floats((size_t)(O * I)), *db = bt_floats((size_t)O);
                    bt_fill_normal(&r, inp, (size_t)(N * I));
                    bt_fill_normal(&r, w, (size_t)(O * I));
                    bt_fill_normal(&r, dout, (size_t)(N * O));
                    bt_fill_normal(&r, dw, (size_t)(O * I)); // old gradients (accumulate)
                    bt_fill_normal(&r, db, (size_t)O);
                    double *rdi = bt_doubles((size_t)(N * I)), *mdi = bt_doubles((size_t)(N * I));
                    double *rdw = bt_doubles((size_t)(O * I)), *mdw = bt_doubles((size_t)(O * I));
                    double *rdb = bt_doubles((size_t)O), *mdb = bt_doubles((size_t)O);
                    for (int64_t n = 0; n < N; n++)
                        for (int64_t k = 0; k < I; k++)
                            for (int64_t o = 0; o < O; o++) {
                                const double p = (double)dout[n * O + o] * w[o * I + k];
                                rdi[n * I + k] += p;
                                mdi[n * I + k] += fabs(p);
                            }
                    for (int64_t o = 0; o < O; o++) {
                        for (int64_t k = 0; k < I; k++) {
                            double s = accumulate ? dw[o * I + k] : 0, m = fabs(s);
                            for (int64_t n = 0; n < N; n++) {
                                const double p = (double)dout[n * O + o] * inp[n * I + k];
                                s += p;
                                m += fabs(p);
                            }
                            rdw[o * I + k] = s;
                            mdw[o * I + k] = m;
                        }
                        double s = accumulate ? db[o] : 0, m = fabs(s);
                        for (int64_t n = 0; n < N; n++) {
                            s += dout[n * O + o];
                            m += fabs(dout[n * O + o]);
                        }
                        rdb[o] = s;
                        mdb[o] = m;
                    }
                    const unsigned flags = accumulate ? BN_LINEAR_ACCUMULATE : 0u;
                    char what[96];
                    snprintf(what, sizeof what, "N=%lld I=%lld O=%lld accumulate=%d", (long long)N,
                             (long long)I, (long long)O, accumulate);
                    // all three at once
                    float *dw1 = bt_copy_floats(dw, (size_t)(O * I)), *db1 = bt_copy_floats(db, (size_t)O);
                    bn_status st = bn_linear_backward(dinp, dw1, db1, dout, inp, w, flags, N, I, O);
                    CHECK(st == BN_OK, "status %d", st);
                    within(what, dinp, rdi, mdi, (size_t)(N * I), O);
                    within(what, dw1, rdw, mdw, (size_t)(O * I), N + 1);
                    within(what, db1, rdb, mdb, (size_t)O, N + 1);
                    // each alone gives the same bits, and reads only what it needs
                    float *x = bt_floats((size_t)(N * I));
                    st = bn_linear_backward(x, NULL, NULL, dout, NULL, w, flags, N, I, O);
                    CHECK(st == BN_OK && memcmp(x, dinp, (size_t)(N * I) * 4) == 0, "dinp alone: %d", st);
                    float *y = bt_copy_floats(dw, (size_t)(O * I));
                    st = bn_linear_backward(NULL, y, NULL, dout, inp, NULL, flags, N, I, O);
                    CHECK(st == BN_OK && memcmp(y, dw1, (size_t)(O * I) * 4) == 0, "dweight alone: %d", st);
                    float *z = bt_copy_floats(db, (size_t)O);
                    st = bn_linear_backward(NULL, NULL, z, dout, NULL, NULL, flags, N, I, O);
                    CHECK(st == BN_OK && memcmp(z, db1, (size_t)O * 4) == 0, "dbias alone: %d", st);
                    free(x), free(y), free(z), free(dw1), free(db1);
                    free(inp), free(w), free(dout), free(dinp), free(dw), free(db);
                    free(rdi), free(mdi), free(rdw), free(mdw), free(rdb), free(mdb);
                }
}

// every rejected call leaves every byte of the arena (which holds all buffers) as it was
void test_linear_check(void) {
    enum { N = 5, I = 6, O = 7, TOTAL = 4 * N * I + 4 * N * O + 2 * O * I + 2 * O + 64 };
    float *arena = bt_floats(TOTAL);
    bt_rng r;
    bt_rng_seed(&r, 13);
    bt_fill_normal(&r, arena, TOTAL);
    float *p = arena;
    float *inp = p; p += N * I;
    float *w = p; p += O * I;
    float *b = p; p += O;
    float *out = p; p += N * O;
    float *dout = p; p += N * O;
    float *dinp = p; p += N * I;
    float *dw = p; p += O * I;
    float *db = p; p += O;
    float *odd = (float *)(void *)((char *)p + 2); // misaligned, inside the arena
    float *before = bt_copy_floats(arena, TOTAL);
#define EXPECT(expect, call)                                                                       \
    do {                                                                                           \
        const bn_status st_ = (call);                                                              \
        CHECK(st_ == (expect), "%s: got %d, expected %d", #call, st_, expect);                     \
        CHECK(memcmp(arena, before, sizeof(float) * TOTAL) == 0, "written by a rejected call: %s", #call); \
    } while (0)
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_forward(NULL, inp, w, b, 0, N, I, O));
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_forward(out, NULL, w, b, 0, N, I, O));
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_forward(out, inp, NULL, b, 0, N, I, O));
    EXPECT(BN_ERR_BAD_FLAGS, bn_linear_forward(out, inp, w, b, 3, N, I, O));
    EXPECT(BN_ERR_BAD_FLAGS, bn_linear_forward(out, inp, w, b, -1, N, I, O));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_linear_forward(out, inp, w, b, 0, 0, I, O));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_linear_forward(out, inp, w, b, 0, N, -1, O));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_linear_forward(out, inp, w, b, 0, N, I, 0));
    EXPECT(BN_ERR_OVERFLOW, bn_linear_forward(out, inp, w, b, 0, INT64_MAX / 2, I, O));
    EXPECT(BN_ERR_OVERFLOW, bn_linear_forward(out, inp, w, b, 0, 1, (int64_t)1 << 40, (int64_t)1 << 40));
    EXPECT(BN_ERR_OVERFLOW, bn_linear_forward(out, inp, w, b, 0, (int64_t)1 << 40, 1, (int64_t)1 << 40));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_forward(out, odd, w, b, 0, 1, 1, 1));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_forward(odd, inp, w, b, 0, 1, 1, 1));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_forward(out, inp, w, odd, 0, 1, 1, 1));
    EXPECT(BN_ERR_ALIAS, bn_linear_forward(inp + 1, inp, w, b, 0, 1, I, 1));     // out inside inp
    EXPECT(BN_ERR_ALIAS, bn_linear_forward(inp, inp, w, b, 0, N, I, I));         // in place is not allowed
    EXPECT(BN_ERR_ALIAS, bn_linear_forward(out, inp, w, out + 1, 0, 1, I, 2));   // out over bias
    EXPECT(BN_ERR_ALIAS, bn_linear_forward(w + I - 1, inp, w, b, 0, 1, I, 1)); // out on the weights' last float

    EXPECT(BN_ERR_NULL_POINTER, bn_linear_forward_t(out, inp, NULL, b, 0, N, I, O));
    EXPECT(BN_ERR_BAD_FLAGS, bn_linear_forward_t(out, inp, w, b, 3, N, I, O));
    EXPECT(BN_ERR_OVERFLOW, bn_linear_forward_t(out, inp, w, b, 0, INT64_MAX / 2, I, O));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_forward_t(out, inp, odd, b, 0, 1, 1, 1));
    EXPECT(BN_ERR_ALIAS, bn_linear_forward_t(w + I - 1, inp, w, b, 0, 1, I, 1));

    EXPECT(BN_ERR_NULL_POINTER, bn_linear_backward(dinp, dw, db, NULL, inp, w, 0, N, I, O));
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_backward(NULL, NULL, NULL, dout, inp, w, 0, N, I, O));
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_backward(dinp, NULL, NULL, dout, inp, NULL, 0, N, I, O));
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_backward(NULL, dw, NULL, dout, NULL, w, 0, N, I, O));
    EXPECT(BN_ERR_BAD_FLAGS, bn_linear_backward(dinp, dw, db, dout, inp, w, 2u, N, I, O));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_linear_backward(dinp, dw, db, dout, inp, w, 0, N, I, -3));
    EXPECT(BN_ERR_OVERFLOW, bn_linear_backward(dinp, dw, db, dout, inp, w, 0, N, INT64_MAX, O));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_backward(NULL, NULL, odd, dout, NULL, NULL, 0, 1, 1, 1));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_backward(NULL, NULL, db, dout, odd, NULL, 0, 1, 1, 1)); // given, not read
    EXPECT(BN_ERR_ALIAS, bn_linear_backward(dinp, dw, db, dout, inp, w, 0, N, I + 1, O));      // dinp runs into dw
    EXPECT(BN_ERR_ALIAS, bn_linear_backward(dout, NULL, NULL, dout, NULL, w, 0, N, 1, O));     // dinp == dout
    EXPECT(BN_ERR_ALIAS, bn_linear_backward(NULL, NULL, dout + 1, dout, NULL, NULL, 0, N, I, O));
    // several faults at once: the first in the order of the checks wins
    EXPECT(BN_ERR_NULL_POINTER, bn_linear_forward(NULL, odd, w, b, 7, 0, I, O));
    EXPECT(BN_ERR_BAD_FLAGS, bn_linear_forward(out, odd, w, b, 7, 0, I, O));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_linear_forward(out, odd, w, b, 0, 0, I, O));
    EXPECT(BN_ERR_MISALIGNED, bn_linear_forward(inp, odd, w, b, 0, 1, 1, 1));
#undef EXPECT
    // the same buffers with correct arguments are accepted: the statuses above came from the one fault
    CHECK(bn_linear_forward(out, inp, w, b, BN_ACT_RELU, N, I, O) == BN_OK, "valid forward");
    CHECK(bn_linear_backward(dinp, dw, db, dout, inp, w, BN_LINEAR_ACCUMULATE, N, I, O) == BN_OK, "valid backward");
    free(before);
    free(arena);
}

// the same bits with 1, 2 and 3 threads, for calls large enough to use them
void test_linear_threads(void) {
    const int64_t N = 70, I = 300, O = 130; // 2.7M multiply-adds, 2 x 3 tasks
    bt_rng r;
    bt_rng_seed(&r, 14);
    float *inp = bt_floats((size_t)(N * I)), *w = bt_floats((size_t)(O * I)), *b = bt_floats((size_t)O);
    float *dout = bt_floats((size_t)(N * O));
    bt_fill_normal(&r, inp, (size_t)(N * I));
    bt_fill_normal(&r, w, (size_t)(O * I));
    bt_fill_normal(&r, b, (size_t)O);
    bt_fill_normal(&r, dout, (size_t)(N * O));
    float *ref[5] = {0}, *got[5] = {0};
    const size_t sizes[5] = {(size_t)(N * O), (size_t)(N * I), (size_t)(O * I), (size_t)O, (size_t)(N * O)};
    const int saved = bn_get_num_threads();
    for (int t = 1; t <= 3; t++) {
        bn_set_num_threads(t);
        float **dst = t == 1 ? ref : got;
        for (int i = 0; i < 5; i++) dst[i] = dst[i] != NULL ? dst[i] : bt_floats(sizes[i]);
        CHECK(bn_linear_forward(dst[0], inp, w, b, BN_ACT_SIGMOID, N, I, O) == BN_OK, "forward");
        CHECK(bn_linear_forward_t(dst[4], inp, w, b, BN_ACT_RELU, N, I, O) == BN_OK, "forward_t"); // w read as (I, O)
        CHECK(bn_linear_backward(dst[1], dst[2], dst[3], dout, inp, w, 0, N, I, O) == BN_OK, "backward");
        if (t > 1) {
            for (int i = 0; i < 5; i++) {
                CHECK(memcmp(ref[i], got[i], sizes[i] * sizeof(float)) == 0,
                      "output %d differs with %d threads", i, t);
            }
        }
    }
    bn_set_num_threads(saved);
    for (int i = 0; i < 5; i++) free(ref[i]), free(got[i]);
    free(inp), free(w), free(b), free(dout);
}
