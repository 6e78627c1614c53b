/*
 * harness.c - checks, random numbers, comparisons and the naive references of the C tests.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 */
#include "harness.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// checks

int bt_failures = 0;
long bt_checks = 0;

enum { BT_MAX_PRINTED = 30 };

int bt_verbose(void) { return bt_failures <= BT_MAX_PRINTED; }

void bt_fail_at(const char *file, int line, const char *cond) {
    bt_failures++;
    if (bt_failures <= BT_MAX_PRINTED) {
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, cond);
    } else if (bt_failures == BT_MAX_PRINTED + 1) {
        fprintf(stderr, "(further failures are counted, not printed)\n");
    }
}

// ----------------------------------------------------------------------------
// random numbers

void bt_rng_seed(bt_rng *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0) r->s = 1;
    r->has_spare = 0;
    r->spare = 0.0;
}

static uint64_t bt_next(bt_rng *r) {
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double bt_uniform(bt_rng *r) { return (double)(bt_next(r) >> 11) * 0x1.0p-53; }

double bt_normal(bt_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = bt_uniform(r);
    while (u1 <= 0.0) u1 = bt_uniform(r);
    const double u2 = bt_uniform(r);
    const double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(two_pi * u2);
    r->has_spare = 1;
    return rad * cos(two_pi * u2);
}

// ----------------------------------------------------------------------------
// buffers and comparisons

static void *bt_malloc(size_t bytes) {
    void *p = malloc(bytes == 0 ? 1 : bytes);
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

void bt_fill_nan(float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

float *bt_floats(size_t n) {
    float *p = bt_malloc(n * sizeof(float));
    bt_fill_nan(p, n);
    return p;
}

double *bt_doubles(size_t n) {
    double *p = bt_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) p[i] = 0.0;
    return p;
}

double bt_tol(int64_t M) { return 4.0 * FLT_EPSILON * (1.0 + log2((double)M)); }

int bt_close(const char *what, const float *got, const double *ref, size_t n,
             double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_ratio = -1.0;
    bt_checks++;
    for (size_t i = 0; i < n; i++) {
        const double g = (double)got[i], r = ref[i];
        double ratio;
        if (isnan(r) || isnan(g)) {
            ratio = isnan(r) && isnan(g) ? 0.0 : INFINITY;
        } else if (isinf(r) || isinf(g)) {
            ratio = g == r ? 0.0 : INFINITY;
        } else {
            const double diff = fabs(g - r), bound = atol + rtol * fabs(r);
            ratio = diff <= bound ? (bound > 0.0 ? diff / bound : 0.0)
                                  : (bound > 0.0 ? diff / bound : INFINITY);
        }
        if (ratio > 1.0) bad++;
        if (ratio > worst_ratio || (isnan(ratio) && worst_ratio >= 0.0)) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (bad == 0) return 1;
    bt_failures++;
    if (bt_verbose()) {
        const double g = (double)got[worst], r = ref[worst];
        fprintf(stderr,
                "  %s: %zu of %zu elements differ; worst index %zu: got %.9g ref %.17g "
                "diff %.3g bound %.3g\n",
                what, bad, n, worst, g, r, fabs(g - r), atol + rtol * fabs(r));
    }
    return 0;
}

int bt_all_finite(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(p[i])) return 0;
    }
    return 1;
}

double bt_maxabs(const double *p, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fabs(p[i]) > m ? fabs(p[i]) : m;
    return m;
}

float *bt_copy_floats(const float *p, size_t n) {
    float *q = bt_floats(n);
    memcpy(q, p, n * sizeof(float));
    return q;
}

const char *bt_layout_name(int layout) {
    switch (layout) {
    case BN_LAYOUT_NC: return "NC";
    case BN_LAYOUT_NCHW: return "NCHW";
    case BN_LAYOUT_NHWC: return "NHWC";
    }
    return "?";
}

const int64_t bt_sizes[] = {1, 2, 3, 7, 13, 64, 127};
const int bt_n_sizes = (int)(sizeof bt_sizes / sizeof bt_sizes[0]);

void bt_fill_inp(bt_rng *r, float *inp, int layout, int64_t N, int64_t C, int64_t S) {
    for (int64_t c = 0; c < C; c++) {
        const double off = 4.0 * (bt_uniform(r) - 0.5), sd = 0.5 + 1.5 * bt_uniform(r);
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                inp[bt_index(layout, N, C, S, n, c, s)] = (float)(off + sd * bt_normal(r));
            }
        }
    }
}

void bt_fill_normal(bt_rng *r, float *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (float)bt_normal(r);
}

void bt_fill_uniform(bt_rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * bt_uniform(r));
}

// ----------------------------------------------------------------------------
// references

size_t bt_index(int layout, int64_t N, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s) {
    (void)N;
    if (layout == BN_LAYOUT_NCHW) return (size_t)((n * C + c) * S + s);
    return (size_t)((n * S + s) * C + c); // NHWC; NC is NHWC with S = 1
}

void ref_stats(double *mean, double *var, const float *inp,
               int layout, int64_t N, int64_t C, int64_t S) {
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) sum += inp[bt_index(layout, N, C, S, n, c, s)];
        }
        const double m = sum / M;
        double ssd = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const double d = inp[bt_index(layout, N, C, S, n, c, s)] - m;
                ssd += d * d;
            }
        }
        mean[c] = m;
        var[c] = ssd / M;
    }
}

void ref_normalize(double *out, const float *inp, const double *mean, const double *rstd,
                   const float *gamma, const float *beta,
                   int layout, int64_t N, int64_t C, int64_t S) {
    for (int64_t c = 0; c < C; c++) {
        const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, n, c, s);
                out[i] = g * ((inp[i] - mean[c]) * rstd[c]) + b;
            }
        }
    }
}

void ref_backward(double *dinp, double *dgamma, double *dbeta,
                  const float *dout, const float *inp, const float *gamma,
                  const float *mean, const float *rstd, int global,
                  int layout, int64_t N, int64_t C, int64_t S) {
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        const double g = gamma ? gamma[c] : 1.0, m = mean[c], r = rstd[c];
        double db = 0.0, dg = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, n, c, s);
                db += dout[i];
                if (inp) dg += dout[i] * ((inp[i] - m) * r);
            }
        }
        if (dbeta) dbeta[c] = db;
        if (dgamma) dgamma[c] = dg;
        if (!dinp) continue;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t s = 0; s < S; s++) {
                const size_t i = bt_index(layout, N, C, S, n, c, s);
                if (global) {
                    dinp[i] = g * r * dout[i];
                } else {
                    const double xhat = (inp[i] - m) * r;
                    dinp[i] = g * r * (dout[i] - db / M - xhat * dg / M);
                }
            }
        }
    }
}
