/*
 * bn_backward.c - Batch Normalization backward: dinp, dgamma, dbeta.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values (x from inp, mean and rstd given; gamma = 1 without
 * BN_USE_SCALE):
 *   xhat   = (x - mean)*rstd
 *   dbeta  = sum(dout)                               // term 1 \ one fused pass (the kernels'
 *   dgamma = sum(dout*xhat) = rstd*sum(dout*(x - mean))  // term 2 / sums, bn_kernels.h), in
 *                                                    //   double: x - mean of two floats and
 *                                                    //   its product with dout are exact, so
 *                                                    //   only the sums round
 *   k      = gamma*rstd                              // final scale
 *   dinp   = k*(dout - dbeta/M - xhat*dgamma/M)      // batch statistics: needs terms 1 and 2
 *                                                    //   even when dgamma, dbeta are not wanted
 *                                                    //   per element in double (a = dbeta/M,
 *                                                    //   b = rstd*dgamma/M): the terms cancel
 *                                                    //   almost exactly for small M or a dout
 *                                                    //   close to linear in x, and float
 *                                                    //   would keep only their rounding
 *   dinp   = k*dout                                  // BN_USE_GLOBAL_STATS: mean, rstd constant;
 *                                                    //   in float (double if k is not a normal
 *                                                    //   float)
 * dgamma and dbeta are the same in both modes. inp is read only for term 2 and for dinp with
 * batch statistics, so it may be NULL with BN_USE_GLOBAL_STATS when dgamma is not wanted.
 *
 * Order of work as in bn_forward.c: per unit, its sums (per block, added over blocks and groups
 * in order), its per-channel terms, its dinp; large calls on the thread team.
 *
 * In place (dinp == dout or dinp == inp): a unit's sums are complete before its first dinp
 * element is written, and dinp element i is written after dout element i and inp element i are
 * read. So dinp, dout and inp are not restrict.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bn.h"
#include "bn_internal.h"
#include "bn_kernels.h"

typedef struct {
    const bn_plan *p;
    const bn_kernels *kern;
    float *dinp, *dgamma, *dbeta;           // each NULL when not wanted
    const float *dout, *x_sums, *x_dinp;    // inp where term 2 / dinp reads it, else NULL
    const float *gamma, *mean, *rstd;       // (C,); gamma may be NULL
    int need_sums, stream;
    void *scratch;                          // the team's (bn_back_scratch), for groups
    // split phase (bn_split.c), with mean, rstd given in double (dmean, drstd):
    // sums != NULL: write each channel's (count, t1, t2) into sums (3, C), nothing else;
    // psums != NULL: the terms come from the sums of P parts, (P, 3, C), added in order
    double *sums;
    const double *psums, *dmean, *drstd;
    ptrdiff_t P;
} bn_bwd;

// the terms of dinp for the columns of one unit (bn_kernels.h, bn_back_terms); the double ones
// padded with zeros to a multiple of 32 columns, as cl_dinp reads them
typedef struct {
    double cm[BN_CHUNK], ca[BN_CHUNK], cb[BN_CHUNK], ck[BN_CHUNK];
    float kf[BN_CHUNK];
    unsigned char fast[BN_CHUNK];
} bn_back_cols;

// the team's scratch when groups run on threads: sums of (group, column), then each unit's terms
typedef struct {
    double t1[BN_MAX_GROUPS * BN_CHUNK], t2[BN_MAX_GROUPS * BN_CHUNK];
    bn_back_cols cols[BN_MAX_GROUPS / 2];
} bn_back_scratch;
_Static_assert(sizeof(bn_back_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

static ptrdiff_t clamp0(ptrdiff_t v, ptrdiff_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }
// ----------------------------------------------------------------------------
// sums: t1 = sum(dout), t2 = sum(dout*(x - mean)) per column of a unit

// Sums of blocks [b0, b1) of unit u, added block by block in order.
static void group_sums(const bn_bwd *d, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1, double *t1,
                       double *t2) {
    const bn_plan *p = d->p;
    double s1[BN_CHUNK], s2[BN_CHUNK];
    float mcols[BN_CHUNK]; // the mean of each column's channel (k > 1: w0 = 0, wn = W = k*C)
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    memset(t1, 0, (size_t)wn * sizeof *t1);
    memset(t2, 0, (size_t)wn * sizeof *t2);
    for (ptrdiff_t w = 0; w < wn; w++) {
        const ptrdiff_t c = (w0 + w) % p->C;
        mcols[w] = d->dmean != NULL ? (float)d->dmean[c] : d->mean[c];
    }
    for (ptrdiff_t b = b0; b < b1; b++) {
        if (p->shorts) { // a block is one sample: a run of each channel
            const ptrdiff_t at = (b * p->C + w0) * p->S;
            d->kern->short_sums(s1, s2, d->dout + at, d->x_sums ? d->x_sums + at : NULL, mcols,
                                wn, p->S);
        } else if (p->rows) {
            ptrdiff_t r0, nr, tail;
            bn_plan_rows_block(p, b, &r0, &nr, &tail);
            const ptrdiff_t at = r0 * p->W + w0;
            d->kern->cl_sums(s1, s2, d->dout + at, d->x_sums ? d->x_sums + at : NULL, mcols,
                             p->W, nr, clamp0(tail - w0, wn), wn);
        } else {
            ptrdiff_t off, stride, nruns, len;
            bn_plan_runs_block(p, u, b, &off, &stride, &nruns, &len);
            d->kern->run_sums(s1, s2, d->dout + off, d->x_sums ? d->x_sums + off : NULL,
                              mcols[0], stride, nruns, len);
        }
        for (ptrdiff_t j = 0; j < wn; j++) {
            t1[j] += s1[j];
            t2[j] += s2[j];
        }
    }
}

// ----------------------------------------------------------------------------
// per-channel terms

// the kernel's terms of n channels from channel c on (writes dgamma, dbeta), into o from column j
static void channel_terms(const bn_bwd *d, ptrdiff_t c, ptrdiff_t n, const double *t1,
                          const double *t2, bn_back_cols *o, ptrdiff_t j) {
    const ptrdiff_t C = d->p->C;
    if (d->sums != NULL) { // split phase: the sums, with term 2 moved from (float)mean to mean
        for (ptrdiff_t k = 0; k < n; k++) {
            const double md = d->dmean[c + k], mf = (double)(float)md;
            d->sums[c + k] = (double)d->p->M;
            d->sums[C + c + k] = t1[k];
            // sum(dout*(x - md)) = sum(dout*(x - mf)) + (mf - md)*sum(dout)
            d->sums[2 * C + c + k] = t2[k] + (mf - md) * t1[k];
        }
        return;
    }
    if (d->psums != NULL) { // split phase: the totals of the P parts, channel by channel
        for (ptrdiff_t k = 0; k < n; k++) {
            double M = 0.0, g1 = 0.0, g2 = 0.0;
            for (ptrdiff_t q = 0; q < d->P; q++) {
                const double *part = d->psums + q * 3 * C;
                M += part[c + k];
                g1 += part[C + c + k];
                g2 += part[2 * C + c + k];
            }
            const bn_back_terms t = {&g1, &g2, M, NULL, NULL,
                                     d->gamma ? d->gamma + c + k : NULL,
                                     d->dgamma ? d->dgamma + c + k : NULL,
                                     d->dbeta ? d->dbeta + c + k : NULL, o->cm + j + k,
                                     o->ca + j + k, o->cb + j + k, o->ck + j + k, o->kf + j + k,
                                     o->fast + j + k, d->dmean + c + k, d->drstd + c + k};
            d->kern->back_terms(&t, 1);
        }
        return;
    }
    const bn_back_terms t = {t1, t2, (double)d->p->M, d->mean + c, d->rstd + c,
                             d->gamma ? d->gamma + c : NULL, d->dgamma ? d->dgamma + c : NULL,
                             d->dbeta ? d->dbeta + c : NULL, o->cm + j, o->ca + j, o->cb + j,
                             o->ck + j, o->kf + j, o->fast + j, NULL, NULL};
    d->kern->back_terms(&t, n);
}

// terms of every column of unit u from its sums; k > 1: a channel's k wide columns are added
// first, in order
static void unit_terms(const bn_bwd *d, ptrdiff_t u, const double *t1, const double *t2,
                       bn_back_cols *o) {
    const bn_plan *p = d->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    if (!p->rows || p->k == 1) { // a column per channel
        channel_terms(d, w0, wn, t1, t2, o, 0);
    } else {
        double s1[BN_CHUNK], s2[BN_CHUNK];
        for (ptrdiff_t c = 0; c < p->C; c++) {
            s1[c] = s2[c] = 0.0;
            for (ptrdiff_t ph = 0; ph < p->k; ph++) {
                s1[c] += t1[ph * p->C + c];
                s2[c] += t2[ph * p->C + c];
            }
        }
        channel_terms(d, 0, p->C, s1, s2, o, 0);
        for (ptrdiff_t w = p->C; w < p->W && d->sums == NULL; w++) {
            const ptrdiff_t c = w % p->C;
            o->cm[w] = o->cm[c];
            o->ca[w] = o->ca[c];
            o->cb[w] = o->cb[c];
            o->ck[w] = o->ck[c];
            o->kf[w] = o->kf[c];
            o->fast[w] = o->fast[c];
        }
    }
    for (ptrdiff_t j = wn; j < (wn + 31) / 32 * 32 && d->sums == NULL; j++) { // cl_dinp reads 32 columns at a time
        o->cm[j] = o->ca[j] = o->cb[j] = o->ck[j] = 0.0;
    }
}

// ----------------------------------------------------------------------------
// dinp of a unit

// dinp of blocks [b0, b1) of unit u. Batch statistics: the kernels, in double. Global statistics:
// dinp = dout*k, the forward's kernel in float (out = (x - 0)*k + -0, the same bits as dout*k)
// where k is a normal float, else in double.
static void unit_dinp(const bn_bwd *d, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                      const bn_back_cols *o) {
    static const float zero[BN_CHUNK];
    const bn_plan *p = d->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    int all_fast = 1;
    float negz[BN_CHUNK];
    for (ptrdiff_t j = 0; j < wn; j++) {
        all_fast &= o->fast[j];
        negz[j] = -0.0f;
    }
    const float *x = d->x_dinp;
    for (ptrdiff_t b = b0; b < b1; b++) {
        if (p->shorts) {
            const ptrdiff_t at = (b * p->C + w0) * p->S;
            if (x != NULL) {
                d->kern->short_dinp(d->dinp + at, d->dout + at, x + at, wn, p->S, o->cm, o->ca,
                                    o->cb, o->ck);
                continue;
            }
            for (ptrdiff_t j = 0; j < wn; j++) { // global statistics
                const ptrdiff_t e = at + j * p->S;
                if (all_fast || o->fast[j]) {
                    const ptrdiff_t n = all_fast ? wn : 1;
                    d->kern->short_apply(d->dinp + e, d->dout + e, n, p->S, zero + j, o->kf + j,
                                         negz + j);
                    j += n - 1;
                    continue;
                }
                for (ptrdiff_t s = 0; s < p->S; s++) d->dinp[e + s] = (float)(o->ck[j] * (double)d->dout[e + s]);
            }
            continue;
        }
        if (!p->rows) {
            ptrdiff_t off, stride, nruns, len;
            bn_plan_runs_block(p, u, b, &off, &stride, &nruns, &len);
            if (x != NULL) {
                d->kern->run_dinp(d->dinp + off, d->dout + off, x + off, stride, nruns, len,
                                  o->cm[0], o->ca[0], o->cb[0], o->ck[0], d->stream);
            } else if (o->fast[0]) {
                d->kern->run_apply(d->dinp + off, d->dout + off, stride, nruns, len, 0.0f,
                                   o->kf[0], -0.0f, d->stream);
            } else {
                for (ptrdiff_t r = 0; r < nruns; r++) {
                    const ptrdiff_t at = off + r * stride;
                    for (ptrdiff_t s = 0; s < len; s++) d->dinp[at + s] = (float)(o->ck[0] * (double)d->dout[at + s]);
                }
            }
            continue;
        }
        ptrdiff_t r0, nr, tail;
        bn_plan_rows_block(p, b, &r0, &nr, &tail);
        const ptrdiff_t tu = clamp0(tail - w0, wn), at = r0 * p->W + w0;
        if (x != NULL) {
            d->kern->cl_dinp(d->dinp + at, d->dout + at, x + at, p->W, nr, tu, wn, o->cm, o->ca,
                             o->cb, o->ck, d->stream);
            continue;
        }
        for (ptrdiff_t j0 = 0, j1; j0 < wn; j0 = j1) { // global statistics
            for (j1 = j0 + 1; j1 < wn && o->fast[j1] == o->fast[j0]; j1++) continue;
            if (o->fast[j0]) {
                d->kern->cl_apply(d->dinp + at + j0, d->dout + at + j0, p->W, nr,
                                  clamp0(tu - j0, j1 - j0), j1 - j0, zero + j0, o->kf + j0,
                                  negz + j0, d->stream && all_fast);
                continue;
            }
            for (ptrdiff_t r = 0; r <= nr; r++) { // r == nr: the partial row
                const ptrdiff_t e = r < nr ? j1 : j0 + clamp0(tu - j0, j1 - j0), row = at + r * p->W;
                for (ptrdiff_t j = j0; j < e; j++) d->dinp[row + j] = (float)(o->ck[j] * (double)d->dout[row + j]);
            }
        }
    }
}

// everything of unit u on this thread
static void unit_all(const bn_bwd *d, ptrdiff_t u) {
    const bn_plan *p = d->p;
    double t1[BN_CHUNK], t2[BN_CHUNK];
    bn_back_cols o;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    for (ptrdiff_t j = 0; j < wn; j++) t1[j] = t2[j] = 0.0;
    if (d->need_sums && p->groups == 1) {
        group_sums(d, u, 0, p->blocks, t1, t2);
    } else if (d->need_sums) {
        double g1[BN_CHUNK], g2[BN_CHUNK];
        for (ptrdiff_t g = 0; g < p->groups; g++) {
            ptrdiff_t b0, b1;
            bn_plan_group(p, g, &b0, &b1);
            group_sums(d, u, b0, b1, g1, g2);
            for (ptrdiff_t j = 0; j < wn; j++) {
                t1[j] += g1[j];
                t2[j] += g2[j];
            }
        }
    }
    unit_terms(d, u, t1, t2, &o);
    if (d->dinp != NULL) unit_dinp(d, u, 0, p->blocks, &o);
}

// ----------------------------------------------------------------------------
// tasks on the team

static void task_unit(void *ctx, ptrdiff_t u) { unit_all((const bn_bwd *)ctx, u); }

static void task_group_sums(void *ctx, ptrdiff_t i) {
    const bn_bwd *d = (const bn_bwd *)ctx;
    bn_back_scratch *sc = d->scratch;
    ptrdiff_t u, b0, b1;
    const ptrdiff_t at = bn_plan_task(d->p, i, &u, &b0, &b1);
    group_sums(d, u, b0, b1, sc->t1 + at, sc->t2 + at);
}

static void task_group_dinp(void *ctx, ptrdiff_t i) {
    const bn_bwd *d = (const bn_bwd *)ctx;
    const bn_back_scratch *sc = d->scratch;
    ptrdiff_t u, b0, b1;
    bn_plan_task(d->p, i, &u, &b0, &b1);
    unit_dinp(d, u, b0, b1, &sc->cols[u]);
}

// groups on the team: group sums, then (here) their totals in order and the terms, then dinp
static void back_groups(bn_bwd *d, int nthreads) {
    const bn_plan *p = d->p;
    bn_back_scratch *sc = d->scratch = bn_team_scratch();
    if (d->need_sums) bn_run(nthreads, p->units * p->groups, task_group_sums, d);
    for (ptrdiff_t u = 0; u < p->units; u++) {
        double t1[BN_CHUNK], t2[BN_CHUNK];
        ptrdiff_t w0, wn;
        bn_plan_cols(p, u, &w0, &wn);
        for (ptrdiff_t j = 0; j < wn; j++) t1[j] = t2[j] = 0.0;
        for (ptrdiff_t g = 0; g < p->groups && d->need_sums; g++) {
            ptrdiff_t uu, b0, b1;
            const ptrdiff_t at = bn_plan_task(p, u * p->groups + g, &uu, &b0, &b1);
            for (ptrdiff_t j = 0; j < wn; j++) {
                t1[j] += sc->t1[at + j];
                t2[j] += sc->t2[at + j];
            }
        }
        unit_terms(d, u, t1, t2, &sc->cols[u]);
    }
    if (d->dinp != NULL) bn_run(nthreads, p->units * p->groups, task_group_dinp, d);
}

// all units of the call, on the team when it is large enough
static void backward(bn_bwd *d) {
    const bn_plan *p = d->p;
    const size_t bytes = (size_t)(p->M * p->C) * sizeof(float);
    d->stream = d->dinp != NULL && bytes >= BN_STREAM_BYTES;
    const size_t touched = bytes * (size_t)((d->x_sums ? 1 : 0) + 1 + (d->dinp != NULL ? 2 : 0));
    const ptrdiff_t tasks = p->units * p->groups;
    const int nthreads = touched >= BN_PARALLEL_BYTES && tasks >= 2 ? bn_team_acquire() : 1;
    if (nthreads >= 2 && p->groups > 1) {
        back_groups(d, nthreads);
    } else {
        bn_run(nthreads, p->units, task_unit, d);
    }
    if (nthreads >= 2) bn_team_release();
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
    const float *x_sums = (dgamma != NULL || (dinp != NULL && !global)) ? inp : NULL;
    const int need_sums = dgamma != NULL || dbeta != NULL || (dinp != NULL && !global);
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_bwd d = {&p, bn_kernels_get(), dinp, dgamma, dbeta, dout, x_sums, global ? NULL : inp,
                gamma, mean, rstd, need_sums, 0, NULL, NULL, NULL, NULL, NULL, 0};
    backward(&d);
    return BN_OK;
}

// ----------------------------------------------------------------------------
// split phase (bn_split.c validates the arguments first)

void bn_backward_sums(double *sums, const float *dout, const float *inp, const double *mean,
                      int layout, int64_t N, int64_t C, int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_bwd d = {&p, bn_kernels_get(), NULL, NULL, NULL, dout, inp, NULL, NULL, NULL, NULL, 1, 0,
                NULL, sums, NULL, mean, NULL, 0};
    backward(&d);
}

void bn_backward_given(float *dinp, float *dgamma, float *dbeta, const float *dout,
                       const float *inp, const float *gamma, const double *mean,
                       const double *rstd, const double *psums, int layout, int64_t N, int64_t C,
                       int64_t S, int64_t P) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_bwd d = {&p, bn_kernels_get(), dinp, dgamma, dbeta, dout, NULL, inp, gamma, NULL, NULL, 0,
                0, NULL, NULL, psums, mean, rstd, (ptrdiff_t)P};
    backward(&d);
}
