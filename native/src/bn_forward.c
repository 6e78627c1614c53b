/*
 * bn_forward.c - Batch Normalization forward: training (batch statistics) and inference.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values x (gamma = 1 without BN_USE_SCALE, beta = 0 without
 * BN_USE_SHIFT, f = momentum):
 *   mean  = sum(x)/M                     // term 1 \ one read of x: per block of the plan, the
 *   var   = sum((x - mean)^2)/M          // term 2 / shifted sums of the kernels (bn_kernels.h),
 *                                        //   merged over blocks and groups with Chan's formula
 *                                        //   (bn_merge), all in double. BIASED. Never
 *                                        //   E[x^2] - E[x]^2 over the channel: it cancels
 *                                        //   catastrophically when |mean| >> std.
 *   rstd  = 1/sqrt(var + eps)            // inference: var is given, not computed
 *   scale = gamma*rstd                   // final scale
 *   out   = (x - mean)*scale + beta      // per element in float, as
 *                                        //   out = fma(x - mh, scale, beta - (mean - mh)*scale)
 *                                        //   with mh = (float)mean: x - mh is exact when x is
 *                                        //   within a factor 2 of mh (Sterbenz), and the part
 *                                        //   of the mean that float cannot hold goes into the
 *                                        //   shift. Not x*scale + (beta - mean*scale): with a
 *                                        //   large mean the two big terms cancel and leave
 *                                        //   errors of ~1e-2 in out.
 *                                        //   A channel whose terms float cannot hold (not
 *                                        //   finite, or |scale| out of float's normal range),
 *                                        //   or where x - mh can overflow (|mh| >= 2^103),
 *                                        //   is done in double as (x - mean)*scale + beta:
 *                                        //   training and inference alike.
 *   save_mean    = mean
 *   save_rstd    = rstd
 *   running_mean = (1-f)*running_mean + f*mean            // BN_UPDATE_RUNNING
 *   running_var  = (1-f)*running_var  + f*var*M/(M-1)     // BN_UPDATE_RUNNING, UNBIASED
 *
 * Order of work (bn_internal.h): for each unit (a channel of NCHW, or a chunk of columns of
 * NC/NHWC), its statistics, then its per-channel terms, then its output. Large calls run units
 * (and groups of a unit's blocks) on the thread team; results do not depend on the threads.
 *
 * In place (out == inp): a unit's statistics are complete before its first out element is
 * written, out element i is written only after inp element i is read, and other units' elements
 * are never written. So inp and out are not restrict.
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
    float *out;
    const float *inp;
    // training: save_mean != NULL; inference: mean and var given
    float *save_mean, *save_rstd, *running_mean, *running_var; // (C,); running_* may be NULL
    const float *mean, *var, *gamma, *beta;                    // (C,); gamma, beta may be NULL
    double eps, momentum, unbias;                              // unbias = M/(M-1)
    int stream;
    void *scratch; // the team's (bn_fwd_scratch), when groups run on threads
    // split phase (bn_split.c): stats != NULL: write each channel's (count, mean, M2) into stats
    // (3, C) instead of normalizing; dmean != NULL: normalize with mean, rstd given in double
    double *stats;
    const double *dmean, *drstd;
} bn_fwd;

// the terms of out for the columns of one unit (bn_kernels.h, bn_fwd_terms)
typedef struct {
    double cm[BN_CHUNK], cs[BN_CHUNK], cb[BN_CHUNK];
    float mh[BN_CHUNK], sc[BN_CHUNK], sh[BN_CHUNK];
    unsigned char fast[BN_CHUNK];
    int all_fast; // every column of the unit
} bn_fwd_cols;

// the team's scratch when groups run on threads: statistics of (group, column), then the terms
// of each unit (groups > 1 only when units <= BN_MAX_GROUPS/2)
typedef struct {
    double T[BN_MAX_GROUPS * BN_CHUNK], M2[BN_MAX_GROUPS * BN_CHUNK];
    bn_fwd_cols cols[BN_MAX_GROUPS / 2];
} bn_fwd_scratch;
_Static_assert(sizeof(bn_fwd_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

static ptrdiff_t clamp0(ptrdiff_t v, ptrdiff_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

// whether the call computes batch statistics (training, or the split phase's local statistics)
static int batch_stats(const bn_fwd *f) { return f->save_mean != NULL || f->stats != NULL; }

// ----------------------------------------------------------------------------
// per-channel terms

// the kernel's terms of n channels from channel c on, into o from column j on
static void channel_terms(const bn_fwd *f, ptrdiff_t c, ptrdiff_t n, const double *T,
                          const double *M2, bn_fwd_cols *o, ptrdiff_t j) {
    if (f->stats != NULL) { // split phase: the partial statistics, no terms
        const double count = (double)f->p->M;
        const ptrdiff_t C = f->p->C;
        for (ptrdiff_t k = 0; k < n; k++) {
            f->stats[c + k] = count;
            f->stats[C + c + k] = T[k] / count; // as fwd_terms divides: exact for a constant channel
            f->stats[2 * C + c + k] = M2[k];
        }
        return;
    }
    const int train = f->save_mean != NULL, given = f->dmean != NULL;
    const bn_fwd_terms t = {
        train ? T : NULL, train ? M2 : NULL, (double)f->p->M,
        train || given ? NULL : f->mean + c, train || given ? NULL : f->var + c,
        f->gamma ? f->gamma + c : NULL, f->beta ? f->beta + c : NULL,
        f->eps, f->momentum, f->unbias,
        train ? f->save_mean + c : NULL, train ? f->save_rstd + c : NULL,
        f->running_mean ? f->running_mean + c : NULL, f->running_var ? f->running_var + c : NULL,
        o->cm + j, o->cs + j, o->cb + j, o->mh + j, o->sc + j, o->sh + j, o->fast + j,
        given ? f->dmean + c : NULL, given ? f->drstd + c : NULL};
    f->kern->fwd_terms(&t, n);
}

// Terms of every column of unit u from the unit's statistics (T, M2; unused for inference).
// Rows view with k > 1: the k wide columns of a channel are merged first, in order.
static void unit_terms_cols(const bn_fwd *f, ptrdiff_t u, const double *T, const double *M2,
                            bn_fwd_cols *o);

static void unit_terms(const bn_fwd *f, ptrdiff_t u, const double *T, const double *M2,
                       bn_fwd_cols *o) {
    ptrdiff_t w0, wn;
    bn_plan_cols(f->p, u, &w0, &wn);
    unit_terms_cols(f, u, T, M2, o);
    if (f->stats != NULL) return;
    unsigned char all = 1;
    for (ptrdiff_t j = 0; j < wn; j++) all &= o->fast[j];
    o->all_fast = all;
}

static void unit_terms_cols(const bn_fwd *f, ptrdiff_t u, const double *T, const double *M2,
                            bn_fwd_cols *o) {
    const bn_plan *p = f->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    if (!p->rows || p->k == 1) { // a column per channel
        channel_terms(f, w0, wn, T, M2, o, 0);
        return;
    }
    double tc[BN_CHUNK], m2c[BN_CHUNK]; // one unit of all W = k*C columns; C < BN_MIN_WIDE
    for (ptrdiff_t c = 0; c < p->C && batch_stats(f); c++) {
        double nc = 0.0;
        tc[c] = m2c[c] = 0.0;
        for (ptrdiff_t ph = 0; ph < p->k; ph++) {
            const ptrdiff_t w = ph * p->C + c;
            const double nw = (double)(p->nrows + (w < p->tailn));
            bn_merge(&tc[c], &m2c[c], nc, &T[w], &M2[w], nw, 1);
            nc += nw;
        }
    }
    channel_terms(f, 0, p->C, tc, m2c, o, 0);
    for (ptrdiff_t w = p->C; w < p->W && f->stats == NULL; w++) {
        const ptrdiff_t c = w % p->C;
        o->cm[w] = o->cm[c];
        o->cs[w] = o->cs[c];
        o->cb[w] = o->cb[c];
        o->mh[w] = o->mh[c];
        o->sc[w] = o->sc[c];
        o->sh[w] = o->sh[c];
        o->fast[w] = o->fast[c];
    }
}

// ----------------------------------------------------------------------------
// statistics and output of a unit

// Statistics of blocks [b0, b1) of unit u: T, M2 per column (of the unit). Returns the values
// per column; the partial row's columns have one more when b1 is the last block.
static double group_stats(const bn_fwd *f, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1, double *T,
                          double *M2) {
    const bn_plan *p = f->p;
    double bT[BN_CHUNK], bM2[BN_CHUNK], n = 0.0;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    memset(T, 0, (size_t)wn * sizeof *T);
    memset(M2, 0, (size_t)wn * sizeof *M2);
    if (p->shorts) { // a block is one sample: a run of each channel
        for (ptrdiff_t b = b0; b < b1; b++) {
            const float *x = f->inp + (b * p->C + w0) * p->S;
            if (b1 - b0 == 1) {
                f->kern->short_stats(T, M2, x, wn, p->S);
            } else {
                f->kern->short_stats(bT, bM2, x, wn, p->S);
                bn_merge(T, M2, n, bT, bM2, (double)p->S, wn);
            }
            n += (double)p->S;
        }
        return n;
    }
    if (p->rows && b1 - b0 == 1) { // one block: its statistics, as merging it into none would
        ptrdiff_t r0, nr, tail;
        bn_plan_rows_block(p, b0, &r0, &nr, &tail);
        f->kern->cl_stats(T, M2, f->inp + r0 * p->W + w0, p->W, nr, clamp0(tail - w0, wn), wn);
        return (double)nr;
    }
    for (ptrdiff_t b = b0; b < b1; b++) {
        if (p->rows) {
            ptrdiff_t r0, nr, tail;
            bn_plan_rows_block(p, b, &r0, &nr, &tail);
            const ptrdiff_t tu = clamp0(tail - w0, wn);
            f->kern->cl_stats(bT, bM2, f->inp + r0 * p->W + w0, p->W, nr, tu, wn);
            bn_merge(T, M2, n, bT, bM2, (double)(nr + 1), tu); // the partial row's columns
            bn_merge(T + tu, M2 + tu, n, bT + tu, bM2 + tu, (double)nr, wn - tu);
            n += (double)nr;
        } else {
            ptrdiff_t off, stride, nruns, len;
            bn_plan_runs_block(p, u, b, &off, &stride, &nruns, &len);
            f->kern->run_stats(bT, bM2, f->inp + off, stride, nruns, len);
            bn_merge(T, M2, n, bT, bM2, (double)(nruns * len), 1);
            n += (double)(nruns * len);
        }
    }
    return n;
}

// (n, T, M2) += group statistics (ng, Tg, M2g) of unit u; last: the group holds the last block
static void merge_group(const bn_plan *p, ptrdiff_t u, double *T, double *M2, double n,
                        const double *Tg, const double *M2g, double ng, int last) {
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    const ptrdiff_t tu = p->rows && last ? clamp0(p->tailn - w0, wn) : 0;
    bn_merge(T, M2, n, Tg, M2g, ng + 1.0, tu);
    bn_merge(T + tu, M2 + tu, n, Tg + tu, M2g + tu, ng, wn - tu);
}

// out of blocks [b0, b1) of unit u: the kernel on each run of columns with float terms, double
// for the others (so that a column's result never depends on its neighbours)
static void unit_apply(const bn_fwd *f, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                       const bn_fwd_cols *o) {
    const bn_plan *p = f->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    for (ptrdiff_t b = b0; b < b1; b++) {
        if (p->shorts) {
            const ptrdiff_t at = (b * p->C + w0) * p->S;
            for (ptrdiff_t j = 0; j < wn; j++) {
                if (o->all_fast || o->fast[j]) {
                    const ptrdiff_t n = o->all_fast ? wn : 1;
                    f->kern->short_apply(f->out + at + j * p->S, f->inp + at + j * p->S, n, p->S,
                                         o->mh + j, o->sc + j, o->sh + j);
                    j += n - 1;
                    continue;
                }
                const float *x = f->inp + at + j * p->S;
                float *y = f->out + at + j * p->S;
                for (ptrdiff_t s = 0; s < p->S; s++) y[s] = (float)(((double)x[s] - o->cm[j]) * o->cs[j] + o->cb[j]);
            }
            continue;
        }
        if (!p->rows) {
            ptrdiff_t off, stride, nruns, len;
            bn_plan_runs_block(p, u, b, &off, &stride, &nruns, &len);
            if (o->fast[0]) {
                f->kern->run_apply(f->out + off, f->inp + off, stride, nruns, len, o->mh[0],
                                   o->sc[0], o->sh[0], f->stream);
                continue;
            }
            for (ptrdiff_t r = 0; r < nruns; r++) {
                const float *x = f->inp + off + r * stride;
                float *y = f->out + off + r * stride;
                for (ptrdiff_t s = 0; s < len; s++) y[s] = (float)(((double)x[s] - o->cm[0]) * o->cs[0] + o->cb[0]);
            }
            continue;
        }
        ptrdiff_t r0, nr, tail;
        bn_plan_rows_block(p, b, &r0, &nr, &tail);
        const ptrdiff_t tu = clamp0(tail - w0, wn), at = r0 * p->W + w0;
        if (o->all_fast) {
            f->kern->cl_apply(f->out + at, f->inp + at, p->W, nr, tu, wn, o->mh, o->sc, o->sh,
                              f->stream);
            continue;
        }
        for (ptrdiff_t j0 = 0, j1; j0 < wn; j0 = j1) {
            for (j1 = j0 + 1; j1 < wn && o->fast[j1] == o->fast[j0]; j1++) continue;
            if (o->fast[j0]) {
                f->kern->cl_apply(f->out + at + j0, f->inp + at + j0, p->W, nr,
                                  clamp0(tu - j0, j1 - j0), j1 - j0, o->mh + j0, o->sc + j0,
                                  o->sh + j0, 0);
                continue;
            }
            for (ptrdiff_t r = 0; r <= nr; r++) { // r == nr: the partial row
                const float *x = f->inp + at + r * p->W;
                float *y = f->out + at + r * p->W;
                const ptrdiff_t e = r < nr ? j1 : j0 + clamp0(tu - j0, j1 - j0);
                for (ptrdiff_t j = j0; j < e; j++) y[j] = (float)(((double)x[j] - o->cm[j]) * o->cs[j] + o->cb[j]);
            }
        }
    }
}

// everything of unit u on this thread: statistics over its groups in order, terms, out
static void unit_all(const bn_fwd *f, ptrdiff_t u) {
    const bn_plan *p = f->p;
    double T[BN_CHUNK], M2[BN_CHUNK];
    bn_fwd_cols o;
    const int train = batch_stats(f);
    if (train && p->groups == 1) {
        group_stats(f, u, 0, p->blocks, T, M2);
    } else if (train) {
        double gT[BN_CHUNK], gM2[BN_CHUNK], n = 0.0;
        for (ptrdiff_t g = 0; g < p->groups; g++) {
            ptrdiff_t b0, b1;
            bn_plan_group(p, g, &b0, &b1);
            const double ng = group_stats(f, u, b0, b1, gT, gM2);
            merge_group(p, u, T, M2, n, gT, gM2, ng, b1 == p->blocks);
            n += ng;
        }
    }
    unit_terms(f, u, T, M2, &o);
    if (f->stats == NULL) unit_apply(f, u, 0, p->blocks, &o);
}

// ----------------------------------------------------------------------------
// tasks on the team

static void task_unit(void *ctx, ptrdiff_t u) { unit_all((const bn_fwd *)ctx, u); }

static void task_group_stats(void *ctx, ptrdiff_t i) {
    const bn_fwd *f = (const bn_fwd *)ctx;
    bn_fwd_scratch *sc = f->scratch;
    ptrdiff_t u, b0, b1;
    const ptrdiff_t at = bn_plan_task(f->p, i, &u, &b0, &b1);
    group_stats(f, u, b0, b1, sc->T + at, sc->M2 + at);
}

static void task_group_apply(void *ctx, ptrdiff_t i) {
    const bn_fwd *f = (const bn_fwd *)ctx;
    const bn_fwd_scratch *sc = f->scratch;
    ptrdiff_t u, b0, b1;
    bn_plan_task(f->p, i, &u, &b0, &b1);
    unit_apply(f, u, b0, b1, &sc->cols[u]);
}

// groups on the team: group statistics, then (here) their merge in order and the terms, then
// the output
static void forward_groups(bn_fwd *f, int nthreads) {
    const bn_plan *p = f->p;
    bn_fwd_scratch *sc = f->scratch = bn_team_scratch();
    const int train = batch_stats(f);
    if (train) bn_run(nthreads, p->units * p->groups, task_group_stats, f);
    for (ptrdiff_t u = 0; u < p->units; u++) {
        double T[BN_CHUNK], M2[BN_CHUNK], n = 0.0;
        ptrdiff_t w0, wn;
        bn_plan_cols(p, u, &w0, &wn);
        for (ptrdiff_t g = 0; g < p->groups && train; g++) {
            ptrdiff_t uu, b0, b1;
            const ptrdiff_t at = bn_plan_task(p, u * p->groups + g, &uu, &b0, &b1);
            const double ng = bn_plan_values(p, b0, b1);
            merge_group(p, u, T, M2, n, sc->T + at, sc->M2 + at, ng, b1 == p->blocks);
            n += ng;
        }
        unit_terms(f, u, T, M2, &sc->cols[u]);
    }
    if (f->stats == NULL) bn_run(nthreads, p->units * p->groups, task_group_apply, f);
}

// all units of the call, on the team when it is large enough
static void forward(bn_fwd *f) {
    const bn_plan *p = f->p;
    const size_t bytes = (size_t)(p->M * p->C) * sizeof(float);
    f->stream = bytes >= BN_STREAM_BYTES;
    const int nthreads = 2 * bytes >= BN_PARALLEL_BYTES && p->units * p->groups >= 2
                             ? bn_team_acquire() : 1;
    if (nthreads >= 2 && p->groups > 1) forward_groups(f, nthreads);
    else bn_run(nthreads, p->units, task_unit, f);
    if (nthreads >= 2) bn_team_release();
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
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_fwd f = {&p, bn_kernels_get(), out, inp, save_mean, save_rstd, running_mean, running_var,
                NULL, NULL, gamma, beta, eps, momentum, (double)p.M / (double)(p.M - 1), 0, NULL,
                NULL, NULL, NULL};
    forward(&f);
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
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_fwd f = {&p, bn_kernels_get(), out, inp, NULL, NULL, NULL, NULL,
                mean, var, gamma, beta, eps, 0.0, 0.0, 0, NULL, NULL, NULL, NULL};
    forward(&f);
    return BN_OK;
}

// ----------------------------------------------------------------------------
// split phase (bn_split.c validates the arguments first)

void bn_forward_stats(double *stats, const float *inp, int layout, int64_t N, int64_t C,
                      int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_fwd f = {&p, bn_kernels_get(), NULL, inp, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                0.0, 0.0, 0.0, 0, NULL, stats, NULL, NULL};
    forward(&f);
}

void bn_forward_given(float *out, const float *inp, const double *mean, const double *rstd,
                      const float *gamma, const float *beta, int layout, int64_t N, int64_t C,
                      int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S);
    bn_fwd f = {&p, bn_kernels_get(), out, inp, NULL, NULL, NULL, NULL, NULL, NULL, gamma, beta,
                0.0, 0.0, 0.0, 0, NULL, NULL, mean, rstd};
    forward(&f);
}
