/*
 * bn_backward.c - Batch Normalization backward: dinp, dgamma, dbeta.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values (x from inp, mean and rstd given; gamma = 1 without
 * BN_USE_SCALE):
 *   xhat   = (x - mean)*rstd
 *   dbeta  = sum(dout)                               // term 1
 *   dgamma = sum(dout*xhat) = rstd*sum(dout*(x - mean))   // term 2 (one fused pass with term 1,
 *                                                    //   both summed in double)
 *   k      = gamma*rstd                              // final scale
 *   dinp   = k*(dout - dbeta/M - xhat*dgamma/M)      // batch statistics: needs terms 1 and 2
 *                                                    //   even when dgamma, dbeta are not wanted
 *   dinp   = k*dout                                  // BN_USE_GLOBAL_STATS: mean, rstd constant
 * dgamma and dbeta are the same in both modes. inp is read only for term 2, so it may be NULL
 * with BN_USE_GLOBAL_STATS when dgamma is not wanted.
 *
 * Memory order as in bn_forward.c: NCHW per channel, in BN_LANES partial sums; NC, NHWC (and
 * NCHW with S == 1) as R = N*S rows of C floats, in chunks of BN_CHUNK channels with stack
 * accumulators.
 *
 * In place (dinp == dout or dinp == inp): all sums of a channel (or chunk) are complete before
 * its first dinp element is written, and dinp element i is written after dout element i and inp
 * element i are read. So dinp, dout and inp are not restrict.
 */
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

// ----------------------------------------------------------------------------
// reductions: t1 = sum(dout), t2 = sum(dout*(x - mean)) (t2 only when inp != NULL)

// acc1[j] += dout[s], acc2[j] += dout[s]*(x[s] - mean) for the s of lane j
static void sums_run(double *acc1, double *acc2, const float *dy, const float *x, double mean,
                     ptrdiff_t S) {
    // acc1, acc2: (BN_LANES,)
    // dy, x: (S,)
    ptrdiff_t s = 0;
    for (; s + BN_LANES <= S; s += BN_LANES) {
        for (int j = 0; j < BN_LANES; j++) {
            acc1[j] += (double)dy[s + j];                             // term 1
            acc2[j] += (double)dy[s + j] * ((double)x[s + j] - mean); // term 2
        }
    }
    for (int j = 0; s < S; s++, j++) {
        acc1[j] += (double)dy[s];
        acc2[j] += (double)dy[s] * ((double)x[s] - mean);
    }
}

// acc1[j] += dout[s] for the s of lane j
static void dout_run(double *acc1, const float *dy, ptrdiff_t S) {
    // acc1: (BN_LANES,)
    // dy: (S,)
    ptrdiff_t s = 0;
    for (; s + BN_LANES <= S; s += BN_LANES) {
        for (int j = 0; j < BN_LANES; j++) acc1[j] += (double)dy[s + j]; // term 1
    }
    for (int j = 0; s < S; s++, j++) acc1[j] += (double)dy[s];
}

static void sums_nchw(double *t1, double *t2, const float *dout, const float *inp, double mean,
                      ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    // dout, inp: (N,C,S)
    double acc1[BN_LANES] = {0.0}, acc2[BN_LANES] = {0.0};
    for (ptrdiff_t n = 0; n < N; n++) {
        const ptrdiff_t off = (n * C + c) * S;
        if (inp != NULL) sums_run(acc1, acc2, dout + off, inp + off, mean, S);
        else dout_run(acc1, dout + off, S);
    }
    *t1 = bn_lanes_total(acc1);
    *t2 = bn_lanes_total(acc2);
}

static void sums_rows(double *t1, double *t2, const float *dout, const float *inp,
                      const double *mean, ptrdiff_t R, ptrdiff_t C, ptrdiff_t c0, ptrdiff_t nc) {
    // t1, t2, mean: (nc,) for channels c0 .. c0+nc-1
    // dout, inp: (R,C)
    for (ptrdiff_t k = 0; k < nc; k++) t1[k] = t2[k] = 0.0;
    for (ptrdiff_t r = 0; r < R; r++) {
        const float *dy = dout + r * C + c0;
        if (inp != NULL) {
            const float *x = inp + r * C + c0;
            for (ptrdiff_t k = 0; k < nc; k++) {
                t1[k] += (double)dy[k];                            // term 1
                t2[k] += (double)dy[k] * ((double)x[k] - mean[k]); // term 2
            }
        } else {
            for (ptrdiff_t k = 0; k < nc; k++) t1[k] += (double)dy[k]; // term 1
        }
    }
}

// ----------------------------------------------------------------------------
// dinp. Batch statistics: dinp = k*(dout - a - (x - mean)*b) with a = dbeta/M and
// b = rstd*dgamma/M (so that xhat*dgamma/M = (x - mean)*b). Global statistics: dinp = k*dout.

static void dinp_nchw(float *dinp, const float *dout, const float *inp,
                      double mean, double k, double a, double b, int global,
                      ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    // dinp, dout, inp: (N,C,S)
    for (ptrdiff_t n = 0; n < N; n++) {
        const ptrdiff_t off = (n * C + c) * S;
        const float *dy = dout + off;
        float *dx = dinp + off;
        if (global) {
            for (ptrdiff_t s = 0; s < S; s++) dx[s] = (float)(k * (double)dy[s]);
        } else {
            const float *x = inp + off;
            for (ptrdiff_t s = 0; s < S; s++) {
                dx[s] = (float)(k * ((double)dy[s] - a - ((double)x[s] - mean) * b));
            }
        }
    }
}

static void dinp_rows(float *dinp, const float *dout, const float *inp,
                      const double *mean, const double *k, const double *a, const double *b,
                      int global, ptrdiff_t R, ptrdiff_t C, ptrdiff_t c0, ptrdiff_t nc) {
    // dinp, dout, inp: (R,C)
    // mean, k, a, b: (nc,) for channels c0 .. c0+nc-1
    for (ptrdiff_t r = 0; r < R; r++) {
        const float *dy = dout + r * C + c0;
        float *dx = dinp + r * C + c0;
        if (global) {
            for (ptrdiff_t j = 0; j < nc; j++) dx[j] = (float)(k[j] * (double)dy[j]);
        } else {
            const float *x = inp + r * C + c0;
            for (ptrdiff_t j = 0; j < nc; j++) {
                dx[j] = (float)(k[j] * ((double)dy[j] - a[j] - ((double)x[j] - mean[j]) * b[j]));
            }
        }
    }
}

// ----------------------------------------------------------------------------
// per-channel terms

typedef struct {
    float *dgamma, *dbeta;                   // (C,) or NULL
    const float *gamma, *mean, *rstd;        // (C,); gamma may be NULL
    double M;
} bn_back_terms;

// writes dgamma, dbeta of channel c from the sums; returns k, a, b for dinp
static void back_channel(const bn_back_terms *t, ptrdiff_t c, double t1, double t2,
                         double *k, double *a, double *b) {
    const double rstd = (double)t->rstd[c];
    const double dbeta = t1;
    const double dgamma = rstd * t2;
    if (t->dbeta != NULL) t->dbeta[c] = (float)dbeta;
    if (t->dgamma != NULL) t->dgamma[c] = (float)dgamma;
    *k = t->gamma != NULL ? (double)t->gamma[c] * rstd : rstd;
    *a = dbeta / t->M;
    *b = rstd * dgamma / t->M;
}

// ----------------------------------------------------------------------------
// entry point

bn_status bn_backward(float *dinp, float *dgamma, float *dbeta,
                      const float *dout, const float *inp, const float *gamma,
                      const float *mean, const float *rstd,
                      unsigned int flags, unsigned int mask,
                      int layout, int64_t N, int64_t C, int64_t S) {
    // dinp, dout, inp: (N,C,S) in layout
    // dgamma, dbeta, gamma, mean, rstd: (C,)
    const bn_status st = bn_check_backward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd,
                                           flags, mask, layout, N, C, S);
    if (st != BN_OK) return st;
    // The check guarantees: dinp/dgamma/dbeta != NULL exactly when wanted, gamma != NULL exactly
    // with BN_USE_SCALE, inp != NULL when term 2 is needed.
    const int global = (flags & BN_USE_GLOBAL_STATS) != 0;
    // term 2 is needed for dgamma, and for dinp with batch statistics
    const float *x = (dgamma != NULL || (dinp != NULL && !global)) ? inp : NULL;
    const int need_sums = dgamma != NULL || dbeta != NULL || (dinp != NULL && !global);
    const ptrdiff_t n_ = (ptrdiff_t)N, c_ = (ptrdiff_t)C, s_ = (ptrdiff_t)S, R = n_ * s_;
    const bn_back_terms t = {dgamma, dbeta, gamma, mean, rstd, (double)R};
    if (layout == BN_LAYOUT_NCHW && s_ > 1) {
        for (ptrdiff_t c = 0; c < c_; c++) {
            const double mean_c = (double)mean[c];
            double t1 = 0.0, t2 = 0.0, k, a, b;
            if (need_sums) sums_nchw(&t1, &t2, dout, x, mean_c, n_, c_, s_, c);
            back_channel(&t, c, t1, t2, &k, &a, &b);
            if (dinp != NULL) dinp_nchw(dinp, dout, inp, mean_c, k, a, b, global, n_, c_, s_, c);
        }
        return BN_OK;
    }
    double mean_c[BN_CHUNK], t1[BN_CHUNK], t2[BN_CHUNK], k[BN_CHUNK], a[BN_CHUNK], b[BN_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < c_; c0 += BN_CHUNK) {
        const ptrdiff_t nc = c_ - c0 < BN_CHUNK ? c_ - c0 : BN_CHUNK;
        for (ptrdiff_t j = 0; j < nc; j++) {
            mean_c[j] = (double)mean[c0 + j];
            t1[j] = t2[j] = 0.0;
        }
        if (need_sums) sums_rows(t1, t2, dout, x, mean_c, R, c_, c0, nc);
        for (ptrdiff_t j = 0; j < nc; j++) {
            back_channel(&t, c0 + j, t1[j], t2[j], &k[j], &a[j], &b[j]);
        }
        if (dinp != NULL) dinp_rows(dinp, dout, inp, mean_c, k, a, b, global, R, c_, c0, nc);
    }
    return BN_OK;
}
