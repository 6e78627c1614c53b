/*
 * bn_split.c - the split-phase entry points of bn.h: statistics of a part, their merge, and the
 * forward and backward with statistics combined over P parts.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel of
 * a part; the whole batch has the sum of the parts' counts.
 *
 * Math, per channel (the one-shot kernels' formulas, bn.h, with the reductions cut at the parts):
 *   part p:   n_p = count, mean_p = sum(x)/n_p, M2_p = sum((x - mean_p)^2)
 *             (bn_forward_stats: the forward's blocks, kernels and merge, in double)
 *   merge:    Chan et al., in part order, from (n, mean, M2) = (0, 0, 0):
 *               delta = mean_p - mean,  n' = n + n_p
 *               mean' = mean + delta*n_p/n'
 *               M2'   = M2 + M2_p + delta^2*n*n_p/n'
 *             a first non-empty part is taken as it is, so that P = 1 gives that part's mean and
 *             M2 bit for bit (and so bn_forward_training's results);
 *             var = M2/M (biased), rstd = 1/sqrt(var + eps), running statistics as bn.h says
 *   backward: t1_p = sum(dout), t2_p = sum(dout*(x - mean)) per part (bn_backward_sums; dout
 *             gated by the forward's out with BN_FUSE_RELU, as in bn_backward), added
 *             in part order into T1, T2 (bn_backward_given), then the one-shot's terms with
 *             M = total count and mean, rstd in double.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

bn_status bn_stats_local(double *stats, const void *inp, unsigned int flags, int layout,
                         int64_t N, int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // stats: (3, C); inp: (N,C,S) in layout
    const bn_status st = bn_check_stats_local(stats, inp, flags, layout, N, C, S);
    if (st != BN_OK) return st;
    bn_forward_stats(stats, inp, flags, layout, N, C, S);
    return BN_OK;
}

bn_status bn_stats_merge(double *mean, double *rstd, float *running_mean, float *running_var,
                         const double *stats, double eps, double momentum, unsigned int flags,
                         int64_t C, int64_t P) {
    BN_CLEAR_UPPER();
    // mean, rstd, running_mean, running_var: (C,); stats: (P, 3, C)
    const bn_status st = bn_check_stats_merge(mean, rstd, running_mean, running_var, stats, eps,
                                              momentum, flags, C, P);
    if (st != BN_OK) return st;
    for (int64_t c = 0; c < C; c++) {
        double n = 0.0, mu = 0.0, m2 = 0.0;
        for (int64_t q = 0; q < P; q++) {
            const double *part = stats + q * 3 * C;
            const double nb = part[c], mb = part[C + c], m2b = part[2 * C + c];
            if (nb == 0.0) continue;
            if (n == 0.0) {
                n = nb;
                mu = mb;
                m2 = m2b;
                continue;
            }
            const double nn = n + nb, delta = mb - mu;
            mu = mu + delta * nb / nn;
            m2 = m2 + m2b + delta * delta * n * nb / nn;
            n = nn;
        }
        const double var = m2 / n;
        mean[c] = mu;
        rstd[c] = 1.0 / sqrt(var + eps);
        if (running_mean != NULL) {
            const double f = momentum, unbias = n / (n - 1.0);
            running_mean[c] = (float)((1.0 - f) * (double)running_mean[c] + f * mu);
            running_var[c] = (float)((1.0 - f) * (double)running_var[c] + f * var * unbias);
        }
    }
    return BN_OK;
}

bn_status bn_forward_apply(void *out, const void *inp, const void *res, const double *mean,
                           const double *rstd, const float *gamma, const float *beta,
                           unsigned int flags, int layout, int64_t N, int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // out, inp, res: (N,C,S) in layout; mean, rstd, gamma, beta: (C,)
    const bn_status st = bn_check_forward_apply(out, inp, res, mean, rstd, gamma, beta, flags,
                                                layout, N, C, S);
    if (st != BN_OK) return st;
    bn_forward_given(out, inp, res, mean, rstd, gamma, beta, flags, layout, N, C, S);
    return BN_OK;
}

bn_status bn_backward_reduce(double *sums, const void *dout, const void *out, const void *inp,
                             const double *mean, unsigned int flags, int layout, int64_t N,
                             int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // sums: (3, C); dout, out, inp: (N,C,S) in layout; mean: (C,)
    const bn_status st = bn_check_backward_reduce(sums, dout, out, inp, mean, flags, layout, N, C,
                                                  S);
    if (st != BN_OK) return st;
    bn_backward_sums(sums, dout, out, inp, mean, flags, layout, N, C, S);
    return BN_OK;
}

bn_status bn_backward_apply(void *dinp, void *dres, float *dgamma, float *dbeta,
                            const void *dout, const void *out, const void *inp,
                            const float *gamma, const double *mean, const double *rstd,
                            const double *sums, unsigned int flags, unsigned int mask, int layout,
                            int64_t N, int64_t C, int64_t S, int64_t P) {
    BN_CLEAR_UPPER();
    // dinp, dres, dout, out, inp: (N,C,S) in layout; dgamma, dbeta, gamma, mean, rstd: (C,);
    // sums: (P, 3, C)
    const bn_status st = bn_check_backward_apply(dinp, dres, dgamma, dbeta, dout, out, inp, gamma,
                                                 mean, rstd, sums, flags, mask, layout, N, C, S,
                                                 P);
    if (st != BN_OK) return st;
    bn_backward_given(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, sums, flags,
                      layout, N, C, S, P);
    return BN_OK;
}
