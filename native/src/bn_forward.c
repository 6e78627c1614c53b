/*
 * bn_forward.c - Batch Normalization forward: training (batch statistics) and inference.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values x (gamma = 1 without BN_USE_SCALE, beta = 0 without
 * BN_USE_SHIFT, f = momentum):
 *   mean  = sum(x)/M                     // term 1: pass 1, summed in double
 *   var   = sum((x - mean)^2)/M          // term 2: pass 2, summed in double; BIASED.
 *                                        //   Never E[x^2] - E[x]^2: it cancels catastrophically
 *                                        //   when |mean| >> std (x = 1000 + 0.01*noise).
 *   rstd  = 1/sqrt(var + eps)            // inference: var is given, not computed
 *   scale = gamma*rstd                   // final scale
 *   out   = (x - mean)*scale + beta      // per element, in double, rounded once to float.
 *                                        //   Not x*scale + (beta - mean*scale) in float: with a
 *                                        //   large mean the two big terms cancel and leave
 *                                        //   errors of ~1e-2 in out.
 *   save_mean    = mean
 *   save_rstd    = rstd
 *   running_mean = (1-f)*running_mean + f*mean            // BN_UPDATE_RUNNING
 *   running_var  = (1-f)*running_var  + f*var*M/(M-1)     // BN_UPDATE_RUNNING, UNBIASED
 *
 * Memory order: NCHW reads channel c as N contiguous runs of S floats, summed in BN_LANES
 * partial sums (bn_internal.h). NC and NHWC (and NCHW with S == 1, which is the same memory as
 * NC) are R = N*S rows of C floats: channels are taken in chunks of BN_CHUNK with per-channel
 * accumulators in stack arrays, and every pass walks the rows in order. Each channel has its own
 * accumulators, so a NaN or Inf stays in its channel.
 *
 * In place (out == inp): the statistics of a channel (or chunk of channels) are complete before
 * its first out element is written, and out element i is written only after inp element i is
 * read; other channels' elements are never written. So inp and out are not restrict.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

// ----------------------------------------------------------------------------
// statistics

// acc[j] += x[s] for the s of lane j
static void sum_run(double *acc, const float *x, ptrdiff_t S) {
    // acc: (BN_LANES,)
    // x: (S,)
    ptrdiff_t s = 0;
    for (; s + BN_LANES <= S; s += BN_LANES) {
        for (int j = 0; j < BN_LANES; j++) acc[j] += (double)x[s + j];
    }
    for (int j = 0; s < S; s++, j++) acc[j] += (double)x[s];
}

// acc[j] += (x[s] - mean)^2 for the s of lane j
static void ssd_run(double *acc, const float *x, double mean, ptrdiff_t S) {
    // acc: (BN_LANES,)
    // x: (S,)
    ptrdiff_t s = 0;
    for (; s + BN_LANES <= S; s += BN_LANES) {
        for (int j = 0; j < BN_LANES; j++) {
            const double d = (double)x[s + j] - mean;
            acc[j] += d * d;
        }
    }
    for (int j = 0; s < S; s++, j++) {
        const double d = (double)x[s] - mean;
        acc[j] += d * d;
    }
}

// mean, var of channel c in NCHW
static void stats_nchw(double *mean, double *var, const float *inp,
                       ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    // inp: (N,C,S)
    const double M = (double)(N * S);
    double acc[BN_LANES] = {0.0};
    for (ptrdiff_t n = 0; n < N; n++) sum_run(acc, inp + (n * C + c) * S, S); // term 1
    const double m = bn_lanes_total(acc) / M;
    for (int j = 0; j < BN_LANES; j++) acc[j] = 0.0;
    for (ptrdiff_t n = 0; n < N; n++) ssd_run(acc, inp + (n * C + c) * S, m, S); // term 2
    *mean = m;
    *var = bn_lanes_total(acc) / M;
}

// mean, var of channels c0 .. c0+nc-1 in R rows of C (NC, NHWC)
static void stats_rows(double *mean, double *var, const float *inp,
                       ptrdiff_t R, ptrdiff_t C, ptrdiff_t c0, ptrdiff_t nc) {
    // mean, var: (nc,)
    // inp: (R,C)
    const double M = (double)R;
    for (ptrdiff_t k = 0; k < nc; k++) mean[k] = 0.0;
    for (ptrdiff_t r = 0; r < R; r++) { // term 1
        const float *x = inp + r * C + c0;
        for (ptrdiff_t k = 0; k < nc; k++) mean[k] += (double)x[k];
    }
    for (ptrdiff_t k = 0; k < nc; k++) {
        mean[k] /= M;
        var[k] = 0.0;
    }
    for (ptrdiff_t r = 0; r < R; r++) { // term 2
        const float *x = inp + r * C + c0;
        for (ptrdiff_t k = 0; k < nc; k++) {
            const double d = (double)x[k] - mean[k];
            var[k] += d * d;
        }
    }
    for (ptrdiff_t k = 0; k < nc; k++) var[k] /= M;
}

// ----------------------------------------------------------------------------
// normalization: out = (x - mean)*scale + beta

static void apply_nchw(float *out, const float *inp, double mean, double scale, double beta,
                       ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, ptrdiff_t c) {
    // out, inp: (N,C,S)
    for (ptrdiff_t n = 0; n < N; n++) {
        const ptrdiff_t off = (n * C + c) * S;
        const float *x = inp + off;
        float *o = out + off;
        for (ptrdiff_t s = 0; s < S; s++) o[s] = (float)(((double)x[s] - mean) * scale + beta);
    }
}

static void apply_rows(float *out, const float *inp,
                       const double *mean, const double *scale, const double *beta,
                       ptrdiff_t R, ptrdiff_t C, ptrdiff_t c0, ptrdiff_t nc) {
    // out, inp: (R,C)
    // mean, scale, beta: (nc,) for channels c0 .. c0+nc-1
    for (ptrdiff_t r = 0; r < R; r++) {
        const float *x = inp + r * C + c0;
        float *o = out + r * C + c0;
        for (ptrdiff_t k = 0; k < nc; k++) {
            o[k] = (float)(((double)x[k] - mean[k]) * scale[k] + beta[k]);
        }
    }
}

// ----------------------------------------------------------------------------
// per-channel terms

typedef struct {
    float *save_mean, *save_rstd, *running_mean, *running_var; // (C,); running_* may be NULL
    const float *gamma, *beta;                                 // (C,) or NULL
    double eps, momentum, unbias;                              // unbias = M/(M-1)
} bn_train_terms;

// training: saves and updates the statistics of channel c; returns scale and beta
static void train_channel(const bn_train_terms *t, ptrdiff_t c, double mean, double var,
                          double *scale, double *beta) {
    const double rstd = 1.0 / sqrt(var + t->eps);
    t->save_mean[c] = (float)mean;
    t->save_rstd[c] = (float)rstd;
    if (t->running_mean != NULL) {
        const double f = t->momentum;
        t->running_mean[c] = (float)((1.0 - f) * (double)t->running_mean[c] + f * mean);
        t->running_var[c] = (float)((1.0 - f) * (double)t->running_var[c] + f * var * t->unbias);
    }
    *scale = t->gamma != NULL ? (double)t->gamma[c] * rstd : rstd;
    *beta = t->beta != NULL ? (double)t->beta[c] : 0.0;
}

// inference: scale and beta of channel c from the given mean and var
static void infer_channel(const float *var, const float *gamma, const float *beta, double eps,
                          ptrdiff_t c, double *scale, double *beta_c) {
    const double rstd = 1.0 / sqrt((double)var[c] + eps);
    *scale = gamma != NULL ? (double)gamma[c] * rstd : rstd;
    *beta_c = beta != NULL ? (double)beta[c] : 0.0;
}

// ----------------------------------------------------------------------------
// entry points

bn_status bn_forward_training(float *out, float *save_mean, float *save_rstd,
                              float *running_mean, float *running_var,
                              const float *inp, const float *gamma, const float *beta,
                              double eps, double momentum, unsigned int flags,
                              int layout, int64_t N, int64_t C, int64_t S) {
    // out, inp: (N,C,S) in layout
    // save_mean, save_rstd, running_mean, running_var, gamma, beta: (C,)
    const bn_status st = bn_check_forward_training(out, save_mean, save_rstd, running_mean,
                                                   running_var, inp, gamma, beta, eps, momentum,
                                                   flags, layout, N, C, S);
    if (st != BN_OK) return st;
    const ptrdiff_t n_ = (ptrdiff_t)N, c_ = (ptrdiff_t)C, s_ = (ptrdiff_t)S, R = n_ * s_;
    const bn_train_terms t = {save_mean, save_rstd, running_mean, running_var, gamma, beta,
                              eps, momentum, (double)R / (double)(R - 1)};
    if (layout == BN_LAYOUT_NCHW && s_ > 1) {
        for (ptrdiff_t c = 0; c < c_; c++) {
            double mean, var, scale, beta_c;
            stats_nchw(&mean, &var, inp, n_, c_, s_, c);
            train_channel(&t, c, mean, var, &scale, &beta_c);
            apply_nchw(out, inp, mean, scale, beta_c, n_, c_, s_, c);
        }
        return BN_OK;
    }
    double mean[BN_CHUNK], var[BN_CHUNK], scale[BN_CHUNK], beta_c[BN_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < c_; c0 += BN_CHUNK) {
        const ptrdiff_t nc = c_ - c0 < BN_CHUNK ? c_ - c0 : BN_CHUNK;
        stats_rows(mean, var, inp, R, c_, c0, nc);
        for (ptrdiff_t k = 0; k < nc; k++) {
            train_channel(&t, c0 + k, mean[k], var[k], &scale[k], &beta_c[k]);
        }
        apply_rows(out, inp, mean, scale, beta_c, R, c_, c0, nc);
    }
    return BN_OK;
}

bn_status bn_forward_inference(float *out, const float *inp, const float *mean,
                               const float *var, const float *gamma, const float *beta,
                               double eps, unsigned int flags,
                               int layout, int64_t N, int64_t C, int64_t S) {
    // out, inp: (N,C,S) in layout
    // mean, var, gamma, beta: (C,)
    const bn_status st = bn_check_forward_inference(out, inp, mean, var, gamma, beta, eps, flags,
                                                    layout, N, C, S);
    if (st != BN_OK) return st;
    const ptrdiff_t n_ = (ptrdiff_t)N, c_ = (ptrdiff_t)C, s_ = (ptrdiff_t)S, R = n_ * s_;
    if (layout == BN_LAYOUT_NCHW && s_ > 1) {
        for (ptrdiff_t c = 0; c < c_; c++) {
            double scale, beta_c;
            infer_channel(var, gamma, beta, eps, c, &scale, &beta_c);
            apply_nchw(out, inp, (double)mean[c], scale, beta_c, n_, c_, s_, c);
        }
        return BN_OK;
    }
    double mean_c[BN_CHUNK], scale[BN_CHUNK], beta_c[BN_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < c_; c0 += BN_CHUNK) {
        const ptrdiff_t nc = c_ - c0 < BN_CHUNK ? c_ - c0 : BN_CHUNK;
        for (ptrdiff_t k = 0; k < nc; k++) {
            mean_c[k] = (double)mean[c0 + k];
            infer_channel(var, gamma, beta, eps, c0 + k, &scale[k], &beta_c[k]);
        }
        apply_rows(out, inp, mean_c, scale, beta_c, R, c_, c0, nc);
    }
    return BN_OK;
}
