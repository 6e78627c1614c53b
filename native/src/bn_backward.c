/*
 * bn_backward.c - Batch Normalization backward: dinp, dres, dgamma, dbeta.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values (x from inp, mean and rstd given; gamma = 1 without
 * BN_USE_SCALE):
 *   g          = dout, or with BN_FUSE_RELU (out <= 0) ? 0 : dout   // the ReLU's gate (bn.h),
 *                                          //   taken on the fly from the forward's out; exact
 *   xhat       = (x - mean)*rstd
 *   sum_dy     = sum(g)                    \ reduce: one fused pass (the kernels' sums,
 *   sum_dy_xmu = sum(g*(x - mean))         / bn_kernels.h), in double: x - mean of two floats
 *                                          //   and its product with g are exact, so only the
 *                                          //   sums round
 *   dbeta      = sum_dy
 *   dgamma     = sum(g*xhat) = rstd*sum_dy_xmu
 *   scale      = gamma*rstd                // per-channel terms
 *   dy_mean    = sum_dy/M
 *   xmu_scale  = rstd*dgamma/M = rstd*rstd*sum_dy_xmu/M
 *   dinp       = scale*((g - dy_mean) - (x - mean)*xmu_scale)   // apply, batch statistics:
 *                                          //   per element in double; the terms cancel almost
 *                                          //   exactly for small M or a g close to linear in
 *                                          //   x, and float would keep only their rounding
 *   dinp       = scale*g                   // BN_USE_GLOBAL_STATS: mean, rstd constant; in
 *                                          //   float (double if scale is not a normal float)
 *   dres       = g                         // BN_DIFF_RES, written in the apply pass
 * dgamma and dbeta are the same in both modes. inp is read only for sum_dy_xmu and for dinp with
 * batch statistics, so it may be NULL with BN_USE_GLOBAL_STATS when dgamma is not wanted.
 *
 * Order of work as in bn_forward.c: per unit, its sums (per block, added over blocks and groups
 * in order), its per-channel terms, its dinp and dres; large calls on the thread team. In the
 * rows walk (bn_plan_rows) every unit's sums first, block by block, then dinp over whole rows:
 * each column's sums go through the same blocks and groups in the same order.
 *
 * In place (dinp == dout or dinp == inp, dres == dout): a unit's sums are complete before its
 * first dinp or dres element is written, and dinp and dres element i are written after dout,
 * out and inp element i are read. So none of these pointers is restrict.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bn.h"
#include "bn_internal.h"
#include "bn_kernels.h"

typedef struct {
    bn_plan *p; // the call's: its units may widen (bn_plan_widen) once the threads are known
    const bn_kernels *kern;
    void *dinp, *dres;                      // (N,C,S) of kern->esize-byte elements, as dout..x_dinp
    float *dgamma, *dbeta;                  // these four each NULL when not wanted
    const void *dout, *gate;                // gate: the forward's out with BN_FUSE_RELU, else NULL
    const void *x_sums, *x_dinp;            // inp where sum_dy_xmu / dinp reads it, else NULL
    const float *gamma, *mean, *rstd;       // (C,); gamma may be NULL
    int need_sums, stream;
    void *scratch;                          // the team's (bn_back_scratch), for groups
    // split phase (bn_split.c), with mean, rstd given in double (dmean, drstd):
    // sums != NULL: write each channel's (count, sum_dy, sum_dy_xmu) into sums (3, C), nothing
    // else; psums != NULL: the terms come from the sums of P parts, (P, 3, C), added in order
    double *sums;
    const double *psums, *dmean, *drstd;
    ptrdiff_t P;
} bn_bwd;

// a unit's terms of dinp (bn_back_terms), zero-padded to 32 columns as cl_dinp reads them; with
// global statistics dinp = (g - 0)*a.scale + -0, the forward's apply
typedef struct {
    BN_LINE_ALIGNED double mean[BN_CHUNK], dy_mean[BN_CHUNK], xmu_scale[BN_CHUNK];
    bn_affine a;
} bn_back_cols;

// the team's scratch when groups run on threads: sums of (group, column), then each unit's terms
typedef struct {
    double t1[BN_MAX_GROUPS * BN_CHUNK], t2[BN_MAX_GROUPS * BN_CHUNK];
    bn_back_cols cols[BN_MAX_GROUPS / 2];
} bn_back_scratch;
_Static_assert(sizeof(bn_back_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

static const float *opt(const float *p, ptrdiff_t i) { return p != NULL ? p + i : NULL; }

// ----------------------------------------------------------------------------
// reduce: t1 = sum_dy, t2 = sum_dy_xmu per column of a unit

// Sums of blocks [b0, b1) of unit u, added block by block in order (short runs: the kernel takes
// the blocks at once).
static void group_sums(const bn_bwd *d, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1, double *t1,
                       double *t2) {
    const bn_plan *p = d->p;
    double s1[BN_CHUNK], s2[BN_CHUNK];
    float mcols[BN_CHUNK]; // the mean of each column's channel (folded: w0 = 0, wn = W)
    const float *mc = mcols;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    memset(t1, 0, (size_t)wn * sizeof *t1);
    memset(t2, 0, (size_t)wn * sizeof *t2);
    // column w0 + w is channel (w0 + w) % C: one division, then a count that wraps (a division
    // per column made a float32 NC 32x64 or 64x1024 backward 4-7% slower on a Zen 4). Where the
    // columns are channels c0, c0 + 1, ... and the means are floats, the kernel reads them in place
    // (that scalar loop took a fifth of a float32 NC 4x4096 backward: without it 0.88x the time,
    // NC 8x512 0.91x, on a Zen 5)
    const ptrdiff_t c0 = w0 % p->C;
    if (d->dmean == NULL && c0 + wn <= p->C) {
        mc = d->mean + c0;
    } else {
        for (ptrdiff_t w = 0, c = c0; w < wn; w++, c = c + 1 == p->C ? 0 : c + 1) {
            mcols[w] = d->dmean != NULL ? (float)d->dmean[c] : d->mean[c];
        }
    }
    const ptrdiff_t step = p->view == BN_VIEW_SHORT ? b1 - b0 : 1; // short runs: all in one call
    for (ptrdiff_t b = b0; b < b1; b += step) {
        const bn_block blk = bn_plan_block(p, u, b);
        const size_t es = d->kern->esize;
        const void *dy = bn_at(d->dout, blk.at, es), *g = bn_at(d->gate, blk.at, es);
        const void *x = bn_at(d->x_sums, blk.at, es);
        if (p->view == BN_VIEW_ROWS) {
            d->kern->cl_sums(s1, s2, dy, g, x, mc, blk.stride, blk.count, blk.tail, blk.len,
                             bn_plan_fetch(p, es));
        } else if (p->view == BN_VIEW_RUNS) {
            d->kern->run_sums(s1, s2, dy, g, x, mc[0], blk.stride, blk.count, blk.len,
                              bn_plan_fetch(p, es));
        } else {
            d->kern->short_sums(s1, s2, dy, g, x, mc, blk.count, blk.len, step, p->C * p->S);
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
    if (d->sums != NULL) { // split phase: the sums, with sum_dy_xmu moved from (float)mean to mean
        for (ptrdiff_t i = 0; i < n; i++) {
            const double md = d->dmean[c + i], mf = (double)(float)md;
            d->sums[c + i] = (double)d->p->M;
            d->sums[C + c + i] = t1[i];
            // sum(g*(x - md)) = sum(g*(x - mf)) + (mf - md)*sum(g)
            d->sums[2 * C + c + i] = t2[i] + (mf - md) * t1[i];
        }
        return;
    }
    // split phase: the totals of the P parts, each channel's added in part order
    double Ms[BN_CHUNK], g1[BN_CHUNK], g2[BN_CHUNK];
    if (d->psums != NULL) {
        for (ptrdiff_t i = 0; i < n; i++) Ms[i] = g1[i] = g2[i] = 0.0;
        for (ptrdiff_t q = 0; q < d->P; q++) {
            const double *part = d->psums + q * 3 * C;
            for (ptrdiff_t i = 0; i < n; i++) {
                Ms[i] += part[c + i];
                g1[i] += part[C + c + i];
                g2[i] += part[2 * C + c + i];
            }
        }
        t1 = g1;
        t2 = g2;
    }
    // the kernel takes one M: channels [i, k) with the same count at once (all n but for split
    // phase sums whose counts differ between channels)
    for (ptrdiff_t i = 0, k; i < n; i = k) {
        const double M = d->psums != NULL ? Ms[i] : (double)d->p->M;
        for (k = i + 1; k < n && (d->psums == NULL || Ms[k] == M); k++) {}
        const ptrdiff_t at = j + i;
        const bn_back_terms t = {t1 + i, t2 + i, M, opt(d->mean, c + i), opt(d->rstd, c + i),
                                 opt(d->gamma, c + i), d->dgamma ? d->dgamma + c + i : NULL,
                                 d->dbeta ? d->dbeta + c + i : NULL, o->mean + at,
                                 o->dy_mean + at, o->xmu_scale + at, o->a.scale + at,
                                 o->a.scale_f + at, o->a.fast + at,
                                 d->dmean ? d->dmean + c + i : NULL, d->drstd ? d->drstd + c + i : NULL};
        d->kern->back_terms(&t, k - i);
    }
}

// terms of every column of unit u from its sums; folded rows: a channel's fold wide columns are
// added first, in order
static void unit_terms(const bn_bwd *d, ptrdiff_t u, const double *t1, const double *t2,
                       bn_back_cols *o) {
    const bn_plan *p = d->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    if (p->fold <= 1) { // a column per channel
        channel_terms(d, w0, wn, t1, t2, o, 0);
    } else {
        double s1[BN_CHUNK], s2[BN_CHUNK];
        for (ptrdiff_t c = 0; c < p->C; c++) {
            s1[c] = s2[c] = 0.0;
            for (ptrdiff_t ph = 0; ph < p->fold; ph++) {
                s1[c] += t1[ph * p->C + c];
                s2[c] += t2[ph * p->C + c];
            }
        }
        channel_terms(d, 0, p->C, s1, s2, o, 0);
        for (ptrdiff_t w = p->C; w < p->W && d->sums == NULL; w++) {
            const ptrdiff_t c = w - p->C; // the same channel one fold earlier, already set
            o->mean[w] = o->mean[c];
            o->dy_mean[w] = o->dy_mean[c];
            o->xmu_scale[w] = o->xmu_scale[c];
            o->a.scale[w] = o->a.scale[c];
            o->a.scale_f[w] = o->a.scale_f[c];
            o->a.fast[w] = o->a.fast[c];
        }
    }
    for (ptrdiff_t j = wn; j < (wn + 31) / 32 * 32 && d->sums == NULL; j++) { // cl_dinp reads 32 columns at a time
        o->mean[j] = o->dy_mean[j] = o->xmu_scale[j] = o->a.scale[j] = 0.0;
    }
    for (ptrdiff_t j = 0; j < wn && d->x_dinp == NULL; j++) { // global statistics: (g - 0)*scale + -0
        o->a.mean[j] = o->a.mean_f[j] = 0.0f;
        o->a.shift[j] = o->a.shift_f[j] = -0.0f;
    }
}

// ----------------------------------------------------------------------------
// apply: dinp and dres of a unit

// dinp, dres of blocks [b0, b1) of unit u. Batch statistics: the kernels, in double, with the
// gate and dres on the fly. Global statistics, or dres without dinp: g (dout through the gate)
// into dres, or else into dinp (whose values are not read again), then dinp = g*scale with the
// forward's apply: the kernels in float (the same bits as g*scale) where scale is a normal float.
static void unit_dinp(const bn_bwd *d, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                      const bn_back_cols *o) {
    const bn_plan *p = d->p;
    for (ptrdiff_t k = 0; k < b1 - b0;) {
        const bn_block blk = bn_plan_apply_span(p, u, b0, b1, &k, d->need_sums);
        const ptrdiff_t at = blk.at;
        const size_t es = d->kern->esize;
        const unsigned int data = d->kern->data;
        void *dinp = d->dinp, *di = bn_at_w(dinp, at, es), *dr = bn_at_w(d->dres, at, es);
        const void *dy = bn_at(d->dout, at, es), *gt = bn_at(d->gate, at, es), *x = bn_at(d->x_dinp, at, es);
        if (x != NULL && dinp != NULL && p->view == BN_VIEW_ROWS) {
            d->kern->cl_dinp(di, dr, dy, gt, x, blk.stride, blk.count, blk.tail, blk.len,
                             o->mean, o->dy_mean, o->xmu_scale, o->a.scale, d->stream,
                             bn_plan_fetch(p, es));
        } else if (x != NULL && dinp != NULL && p->view == BN_VIEW_RUNS) {
            d->kern->run_dinp(di, dr, dy, gt, x, blk.stride, blk.count, blk.len, o->mean[0],
                              o->dy_mean[0], o->xmu_scale[0], o->a.scale[0], d->stream,
                              bn_plan_fetch(p, es));
        } else if (x != NULL && dinp != NULL) {
            d->kern->short_dinp(di, dr, dy, gt, x, blk.count, blk.len, o->mean, o->dy_mean,
                                o->xmu_scale, o->a.scale);
        } else {
            const void *g = d->dout;
            if (d->gate != NULL || (d->dres != NULL && d->dres != d->dout)) {
                void *to = d->dres != NULL ? d->dres : dinp;
                for (ptrdiff_t l = 0; l <= blk.count; l++) { // l == count: the partial line
                    const ptrdiff_t e = at + l * blk.stride, n = l < blk.count ? blk.len : blk.tail;
                    for (ptrdiff_t i = e; i < e + n; i++) {
                        const int shut = d->gate != NULL && bn_act_get(d->gate, i, data) <= 0.0f;
                        bn_act_set(to, i, shut ? 0.0f : bn_act_get(d->dout, i, data), data);
                    }
                }
                g = to;
            }
            if (dinp != NULL) bn_apply_block(p, d->kern, dinp, g, NULL, 0, &blk, &o->a, d->stream);
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
    for (ptrdiff_t g = 0; g < p->groups && d->need_sums; g++) { // 0 + a group's sum: its bits
        double g1[BN_CHUNK], g2[BN_CHUNK];
        ptrdiff_t b0, b1;
        bn_plan_group(p, g, &b0, &b1);
        // one group: its sums are the unit's (0 + a group's sum, which is never -0, is that sum)
        const int one = p->groups == 1;
        group_sums(d, u, b0, b1, one ? t1 : g1, one ? t2 : g2);
        for (ptrdiff_t j = 0; j < wn && !one; j++) {
            t1[j] += g1[j];
            t2[j] += g2[j];
        }
    }
    unit_terms(d, u, t1, t2, &o);
    if (d->dinp != NULL || d->dres != NULL) unit_dinp(d, u, 0, p->blocks, &o);
}

// ----------------------------------------------------------------------------
// tasks on the team

static void task_unit(void *ctx, ptrdiff_t u) { unit_all((const bn_bwd *)ctx, u); }

// a job on the team: the groups of units [u0, u0 + n), task i being u0*groups + i
typedef struct {
    const bn_bwd *d;
    ptrdiff_t u0, n;
} bn_bwd_job;

static void task_group_sums(void *ctx, ptrdiff_t i) {
    const bn_bwd_job *w = (const bn_bwd_job *)ctx;
    const bn_bwd *d = w->d;
    bn_back_scratch *sc = d->scratch;
    ptrdiff_t u, b0, b1;
    const ptrdiff_t at = bn_plan_task(d->p, w->u0 * d->p->groups + i, &u, &b0, &b1);
    group_sums(d, u, b0, b1, sc->t1 + at, sc->t2 + at);
}

static void task_group_dinp(void *ctx, ptrdiff_t i) {
    const bn_bwd_job *w = (const bn_bwd_job *)ctx;
    const bn_bwd *d = w->d;
    const bn_back_scratch *sc = d->scratch;
    const ptrdiff_t n = w->n * d->p->groups;
    ptrdiff_t u, b0, b1;
    // after the sums, the last task first, as the forward's apply job (bn_forward.c)
    bn_plan_task(d->p, w->u0 * d->p->groups + (d->need_sums ? n - 1 - i : i), &u, &b0, &b1);
    unit_dinp(d, u, b0, b1, &sc->cols[u]);
}

// groups on the team, per_job units a job: their group sums, then (here) the totals in order
// and the terms, then dinp
static void back_groups(bn_bwd *d, int nthreads, ptrdiff_t per_job) {
    const bn_plan *p = d->p;
    bn_back_scratch *sc = d->scratch = bn_team_scratch();
    for (ptrdiff_t u0 = 0; u0 < p->units; u0 += per_job) {
        bn_bwd_job w = {d, u0, p->units - u0 < per_job ? p->units - u0 : per_job};
        if (d->need_sums) bn_run(nthreads, w.n * p->groups, task_group_sums, &w);
        for (ptrdiff_t u = u0; u < u0 + w.n; u++) {
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
        if (d->dinp != NULL || d->dres != NULL) {
            bn_run(nthreads, w.n * p->groups, task_group_dinp, &w);
        }
    }
}

// ----------------------------------------------------------------------------
// the rows walk (bn_plan_rows): a task is a group's blocks in order and, at each block, every
// unit of its slice; dinp then takes each block's rows whole, with every column's terms

// the walk's arrays, in the team's scratch: each group's sums (groups*W <= BN_MAX_GROUPS times a
// narrow unit: bn_plan_rows), then every column's terms as cl_dinp reads them (W rounded up to 32)
typedef struct {
    double t1[BN_MAX_GROUPS * BN_NARROW_CHUNK], t2[BN_MAX_GROUPS * BN_NARROW_CHUNK];
    BN_LINE_ALIGNED double mean[BN_KERNEL_ROW_COLS], dy_mean[BN_KERNEL_ROW_COLS],
        xmu_scale[BN_KERNEL_ROW_COLS], scale[BN_KERNEL_ROW_COLS];
} bn_bwd_walk_scratch;
_Static_assert(sizeof(bn_bwd_walk_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

typedef struct {
    const bn_bwd *d;
    ptrdiff_t k; // slices a group (bn_plan_rows_task)
    bn_bwd_walk_scratch *sc;
} bn_bwd_walk;

// the sums of a group's slice, block by block: each unit's are those of group_sums over the
// group's blocks (0 + a block's sum, which is never -0, is that sum)
static void task_walk_sums(void *ctx, ptrdiff_t i) {
    const bn_bwd_walk *w = (const bn_bwd_walk *)ctx;
    const bn_bwd *d = w->d;
    const bn_plan *p = d->p;
    ptrdiff_t u0, u1, b0, b1, c0, cn, cl, cln;
    const ptrdiff_t g = bn_plan_rows_task(p, w->k, i, &u0, &u1, &b0, &b1);
    double *t1 = w->sc->t1 + g * p->W, *t2 = w->sc->t2 + g * p->W;
    bn_plan_cols(p, u0, &c0, &cn);
    bn_plan_cols(p, u1 - 1, &cl, &cln);
    memset(t1 + c0, 0, (size_t)(cl + cln - c0) * sizeof *t1);
    memset(t2 + c0, 0, (size_t)(cl + cln - c0) * sizeof *t2);
    for (ptrdiff_t b = b0; b < b1; b++) {
        for (ptrdiff_t u = u0; u < u1; u++) {
            double s1[BN_CHUNK], s2[BN_CHUNK];
            ptrdiff_t w0, wn;
            bn_plan_cols(p, u, &w0, &wn);
            group_sums(d, u, b, b + 1, s1, s2);
            for (ptrdiff_t j = 0; j < wn; j++) {
                t1[w0 + j] += s1[j];
                t2[w0 + j] += s2[j];
            }
        }
    }
}

// dinp (and dres) of a group's slice, the last task first and its blocks in runs from the last
// as the apply pass of a unit (bn_plan_apply_span says why): one kernel call a run over all the
// slice's columns
static void task_walk_dinp(void *ctx, ptrdiff_t i) {
    const bn_bwd_walk *w = (const bn_bwd_walk *)ctx;
    const bn_bwd *d = w->d;
    const bn_plan *p = d->p;
    const size_t es = d->kern->esize;
    ptrdiff_t u0, u1, b0, b1, c0, cn, cl, cln;
    bn_plan_rows_task(p, w->k, p->groups * w->k - 1 - i, &u0, &u1, &b0, &b1);
    bn_plan_cols(p, u0, &c0, &cn);
    bn_plan_cols(p, u1 - 1, &cl, &cln);
    const ptrdiff_t wn = cl + cln - c0, run = bn_plan_run(wn);
    for (ptrdiff_t e = b1; e > b0; e -= run) {
        const ptrdiff_t s = e - run > b0 ? e - run : b0;
        const bn_block blk = bn_plan_block(p, u0, s); // no partial row (bn_plan_rows)
        const ptrdiff_t at = blk.at;
        const ptrdiff_t rows = (e - 1 - s) * BN_BLOCK_ROWS + bn_plan_block(p, u0, e - 1).count;
        d->kern->cl_dinp(bn_at_w(d->dinp, at, es), bn_at_w(d->dres, at, es),
                         bn_at(d->dout, at, es), bn_at(d->gate, at, es), bn_at(d->x_dinp, at, es),
                         blk.stride, rows, 0, wn, w->sc->mean + c0, w->sc->dy_mean + c0,
                         w->sc->xmu_scale + c0, w->sc->scale + c0, d->stream,
                         bn_plan_fetch(p, es));
    }
}

// the whole call by the rows walk with the team's scratch (held: the team is held); 0 (nothing
// done) when another call holds the team. Only for calls with sums and, if any output, dinp with
// batch statistics: the other applies go through bn_apply_block, unit by unit.
static int back_walk(const bn_bwd *d, int nthreads) {
    const bn_plan *p = d->p;
    const int held = nthreads >= 2;
    bn_bwd_walk w = {d, bn_plan_rows_slices(p, nthreads),
                     held ? bn_team_scratch() : bn_scratch_acquire()};
    if (w.sc == NULL) return 0;
    bn_bwd_walk_scratch *sc = w.sc;
    const ptrdiff_t tasks = p->groups * w.k;
    bn_run(nthreads, tasks, task_walk_sums, &w);
    for (ptrdiff_t u = 0; u < p->units; u++) { // each unit's sums over its groups in order
        double t1[BN_CHUNK], t2[BN_CHUNK];
        bn_back_cols o;
        ptrdiff_t w0, wn;
        bn_plan_cols(p, u, &w0, &wn);
        for (ptrdiff_t j = 0; j < wn; j++) t1[j] = t2[j] = 0.0;
        for (ptrdiff_t g = 0; g < p->groups; g++) {
            for (ptrdiff_t j = 0; j < wn; j++) {
                t1[j] += sc->t1[g * p->W + w0 + j];
                t2[j] += sc->t2[g * p->W + w0 + j];
            }
        }
        unit_terms(d, u, t1, t2, &o);
        if (d->dinp == NULL) continue;
        memcpy(sc->mean + w0, o.mean, (size_t)wn * sizeof(double));
        memcpy(sc->dy_mean + w0, o.dy_mean, (size_t)wn * sizeof(double));
        memcpy(sc->xmu_scale + w0, o.xmu_scale, (size_t)wn * sizeof(double));
        memcpy(sc->scale + w0, o.a.scale, (size_t)wn * sizeof(double));
    }
    for (ptrdiff_t j = p->W; j < (p->W + 31) / 32 * 32; j++) { // cl_dinp reads 32 columns at a time
        sc->mean[j] = sc->dy_mean[j] = sc->xmu_scale[j] = sc->scale[j] = 0.0;
    }
    if (d->dinp != NULL) bn_run(nthreads, tasks, task_walk_dinp, &w);
    if (!held) bn_team_release();
    return 1;
}

// all units of the call, on the team when it is large enough
static void backward(bn_bwd *d) {
    bn_plan *p = d->p;
    const size_t bytes = (size_t)(p->M * p->C) * d->kern->esize;
    d->stream = d->dinp != NULL && bytes >= bn_stream_bytes() ? bn_stream_kind() : 0;
    const size_t touched = bytes * (size_t)((d->x_sums ? 1 : 0) + 1 + (d->dinp != NULL ? 2 : 0) +
                                            (d->gate ? 1 : 0) + (d->dres ? 1 : 0));
    // what the dinp pass reads again after the sums: x and dout, and the gate
    const int again_tensors = 1 + (d->gate ? 1 : 0) + (d->dinp && d->x_dinp ? 1 : 0);
    const size_t again = bytes * (size_t)again_tensors;
    const int walk = d->need_sums && (d->dinp == NULL ? d->dres == NULL : d->x_dinp != NULL) &&
                     bn_plan_rows(p, again_tensors);
    const ptrdiff_t tasks = p->units * p->groups;
    const int nthreads = touched >= BN_PARALLEL_BYTES && tasks >= 2 ? bn_team_acquire() : 1;
    bn_plan_widen(p, d->need_sums ? again / (size_t)p->units : 0, nthreads);
    if (walk) {
        // without the scratch, unit by unit: the same groups, so the same bits
        if (!back_walk(d, nthreads)) bn_run(nthreads, p->units, task_unit, d);
    } else if (nthreads >= 2 && p->groups > 1) {
        // A few units a job when the whole call's `again` fills the last-level cache and the
        // job's share fits in half of it, so that the job's dinp finds its data in cache; else
        // one job over all units (native/PERFORMANCE.md). A job takes the fewest units whose
        // tasks fill whole rounds of the threads (2 units for an odd number of groups on 2
        // threads), and the units must divide into such jobs.
        const size_t llc = bn_cache_bytes();
        ptrdiff_t a = p->groups, b = nthreads; // their greatest common divisor, in a
        while (b != 0) {
            const ptrdiff_t r = a % b;
            a = b, b = r;
        }
        const ptrdiff_t k = nthreads / a; // units a job
        const int by_jobs = llc != 0 && again >= llc && p->units % k == 0 &&
                            again / (size_t)p->units * (size_t)k <= llc / 2;
        back_groups(d, nthreads, by_jobs ? k : p->units);
    } else {
        bn_run(nthreads, p->units, task_unit, d);
    }
    if (nthreads >= 2) bn_team_release();
}

// ----------------------------------------------------------------------------
// entry point

bn_status bn_backward(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout,
                      const void *out, const void *inp, const float *gamma, const float *mean,
                      const float *rstd, unsigned int flags, unsigned int mask,
                      int layout, int64_t N, int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // dinp, dres, dout, out, inp: (N,C,S) in layout
    // dgamma, dbeta, gamma, mean, rstd: (C,)
    const bn_status st = bn_check_backward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean,
                                           rstd, flags, mask, layout, N, C, S);
    if (st != BN_OK) return st;
    // The check guarantees: dinp/dres/dgamma/dbeta != NULL exactly when wanted, gamma != NULL
    // exactly with BN_USE_SCALE, out != NULL exactly with BN_FUSE_RELU, inp != NULL when read.
    const int global = (flags & BN_USE_GLOBAL_STATS) != 0;
    // sum_dy_xmu is needed for dgamma, and for dinp with batch statistics
    const void *x_sums = (dgamma != NULL || (dinp != NULL && !global)) ? inp : NULL;
    const int need_sums = dgamma != NULL || dbeta != NULL || (dinp != NULL && !global);
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 0);
    bn_bwd d = {&p, bn_kernels_for(flags), dinp, dres, dgamma, dbeta, dout, out, x_sums,
                global ? NULL : inp, gamma, mean, rstd, need_sums, 0, NULL, NULL, NULL, NULL,
                NULL, 0};
    backward(&d);
    return BN_OK;
}

// ----------------------------------------------------------------------------
// split phase (bn_split.c validates the arguments first)

void bn_backward_sums(double *sums, const void *dout, const void *out, const void *inp,
                      const double *mean, unsigned int flags, int layout, int64_t N, int64_t C, int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 0);
    bn_bwd d = {&p, bn_kernels_for(flags), NULL, NULL, NULL, NULL, dout, out, inp, NULL, NULL, NULL,
                NULL, 1, 0, NULL, sums, NULL, mean, NULL, 0};
    backward(&d);
}

void bn_backward_given(void *dinp, void *dres, float *dgamma, float *dbeta, const void *dout,
                       const void *out, const void *inp, const float *gamma, const double *mean,
                       const double *rstd, const double *psums, unsigned int flags, int layout, int64_t N, int64_t C,
                       int64_t S, int64_t P) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 0);
    bn_bwd d = {&p, bn_kernels_for(flags), dinp, dres, dgamma, dbeta, dout, out, NULL, inp, gamma,
                NULL, NULL, 0, 0, NULL, NULL, psums, mean, rstd, (ptrdiff_t)P};
    backward(&d);
}
