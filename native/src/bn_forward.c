/*
 * bn_forward.c - Batch Normalization forward: training (batch statistics) and inference, with the
 * fused ReLU and residual add (bn.h).
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 *
 * Math, per channel c, over its M values x (gamma = 1 without BN_USE_SCALE, beta = 0 without
 * BN_USE_SHIFT, f = momentum):
 *   mean  = sum(x)/M                     // \ reduce: one read of x; per block of the plan, the
 *   var   = sum((x - mean)^2)/M          // / shifted sums of the kernels (bn_kernels.h),
 *                                        //   merged over blocks and groups with Chan's formula
 *                                        //   (bn_merge), all in double. BIASED. Never
 *                                        //   E[x^2] - E[x]^2 over the channel: it cancels
 *                                        //   catastrophically when |mean| >> std.
 *   rstd  = 1/sqrt(var + eps)            // per-channel terms; inference: var is given
 *   scale = gamma*rstd
 *   out   = (x - mean)*scale + beta      // apply: per element in float, as
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
 *   out          = max(fl(out + res), 0)  // BN_FUSE_ADD, BN_FUSE_RELU: in the apply pass
 *
 * Order of work (bn_internal.h): for each unit, reduce over its blocks, then its per-channel
 * terms, then apply over its blocks; in the rows walk (bn_plan_rows) every unit's statistics
 * first, block by block, then the output over whole rows. Large calls run units (and groups of a
 * unit's blocks) on the thread team; results do not depend on the threads.
 *
 * In place (out == inp or out == res): a unit's statistics are complete before its first out
 * element is written, out element i is written only after inp and res element i are read, and
 * other units' elements are never written. So inp, res and out are not restrict.
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
    void *out;
    const void *inp, *res;  // (N,C,S) of kern->esize-byte elements; res: BN_FUSE_ADD, else NULL
    int relu;               // BN_FUSE_RELU
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

// the team's scratch when groups run on threads: statistics of (group, column), then the terms
// of each unit (groups > 1 only when units <= BN_MAX_GROUPS/2)
typedef struct {
    double T[BN_MAX_GROUPS * BN_CHUNK], M2[BN_MAX_GROUPS * BN_CHUNK], n[BN_MAX_GROUPS];
    bn_affine terms[BN_MAX_GROUPS / 2];
} bn_fwd_scratch;
_Static_assert(sizeof(bn_fwd_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

// whether the call computes batch statistics (training, or the split phase's local statistics)
static int batch_stats(const bn_fwd *f) { return f->save_mean != NULL || f->stats != NULL; }

// Chan et al.: (na, T, M2) += (nb, Tb, M2b) for n columns, T being sums and M2 sums of squared
// deviations from the mean; na or nb may be 0 (na == 0: a copy).
static void merge(double *T, double *M2, double na, const double *Tb, const double *M2b,
                  double nb, ptrdiff_t n) {
    if (na == 0.0) {
        memcpy(T, Tb, (size_t)n * sizeof *T);
        memcpy(M2, M2b, (size_t)n * sizeof *M2);
        return;
    }
    if (nb == 0.0) return;
    const double f = na * nb / (na + nb);
    // mean_b - mean_a by divisions: T = n*K exactly for a constant channel, and T/n is then
    // exactly K, so the merge adds no variance (a reciprocal would leave ~1e-32). But where nb
    // (a count) is a power of two, as the rows view's blocks of 64 rows, its reciprocal is exact
    // and multiplying by it gives the same bits as dividing, for half the divisions (on a Zen 4
    // without AVX-512, 1 thread, medians of 21 alternated rounds in one process: float32 NC
    // 4096x1024 statistics 0.96x the time, NC 256x1024 forward training 0.98x).
    const double rb = bn_exact_reciprocal(nb);
    if (rb != 0.0) {
        for (ptrdiff_t j = 0; j < n; j++) {
            const double delta = Tb[j] * rb - T[j] / na;
            M2[j] = M2[j] + M2b[j] + delta * delta * f;
            T[j] = T[j] + Tb[j];
        }
        return;
    }
    for (ptrdiff_t j = 0; j < n; j++) {
        const double delta = Tb[j] / nb - T[j] / na;
        M2[j] = M2[j] + M2b[j] + delta * delta * f;
        T[j] = T[j] + Tb[j];
    }
}

// ----------------------------------------------------------------------------
// reduce: statistics of a unit's blocks

// (n, T, M2) of the wn columns += a block's or group's (nb, Tb, M2b), the first tail columns
// having one value more
static void merge_cols(double *T, double *M2, double n, const double *Tb, const double *M2b,
                       double nb, ptrdiff_t tail, ptrdiff_t wn) {
    merge(T, M2, n, Tb, M2b, nb + 1.0, tail);
    merge(T + tail, M2 + tail, n, Tb + tail, M2b + tail, nb, wn - tail);
}

// Statistics of blocks [b0, b1) of unit u: T, M2 per column (of the unit), merged block by block
// in order (short runs: the kernel takes the blocks at once). Returns the values per column, the
// partial line not counted.
static double group_stats(const bn_fwd *f, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1, double *T,
                          double *M2) {
    const bn_plan *p = f->p;
    double bT[BN_CHUNK], bM2[BN_CHUNK], n = 0.0;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    const ptrdiff_t step = p->view == BN_VIEW_SHORT ? b1 - b0 : 1; // short runs: all in one call
    for (ptrdiff_t b = b0; b < b1; b += step) {
        const bn_block blk = bn_plan_block(p, u, b);
        const void *x = bn_at(f->inp, blk.at, f->kern->esize);
        double *to = b == b0 ? T : bT, *to2 = b == b0 ? M2 : bM2; // the first: as merged into none
        if (p->view == BN_VIEW_ROWS) f->kern->cl_stats(to, to2, x, blk.stride, blk.count, blk.tail, blk.len,
                                                          bn_plan_fetch(p, f->kern->esize));
        else if (p->view == BN_VIEW_RUNS) f->kern->run_stats(to, to2, x, blk.stride, blk.count, blk.len);
        else f->kern->short_stats(to, to2, x, blk.count, blk.len, step, p->C * p->S);
        const double nb = (double)(bn_block_values(p, &blk) * step);
        if (b > b0) merge_cols(T, M2, n, bT, bM2, nb, blk.tail, wn);
        n += nb;
    }
    return n;
}

// (n, T, M2) += group statistics (ng, Tg, M2g) of unit u; last: the group holds the last block
static void merge_group(const bn_plan *p, ptrdiff_t u, double *T, double *M2, double n,
                        const double *Tg, const double *M2g, double ng, int last) {
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    merge_cols(T, M2, n, Tg, M2g, ng, last ? bn_plan_block(p, u, p->blocks - 1).tail : 0, wn);
}

// ----------------------------------------------------------------------------
// per-channel terms

// the kernel's terms of n channels from channel c on, into a from column j on
static void channel_terms(const bn_fwd *f, ptrdiff_t c, ptrdiff_t n, const double *T,
                          const double *M2, bn_affine *a, ptrdiff_t j) {
    if (f->stats != NULL) { // split phase: the partial statistics, no terms
        const double count = (double)f->p->M;
        const ptrdiff_t C = f->p->C;
        for (ptrdiff_t i = 0; i < n; i++) {
            f->stats[c + i] = count;
            f->stats[C + c + i] = T[i] / count; // as fwd_terms divides: exact for a constant channel
            f->stats[2 * C + c + i] = M2[i];
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
        a->mean + j, a->scale + j, a->shift + j, a->mean_f + j, a->scale_f + j, a->shift_f + j,
        a->fast + j, given ? f->dmean + c : NULL, given ? f->drstd + c : NULL};
    f->kern->fwd_terms(&t, n);
}

// Terms of every column of unit u from the unit's statistics (T, M2; unused for inference).
// Folded rows: the fold wide columns of a channel are merged first, in order.
static void unit_terms(const bn_fwd *f, ptrdiff_t u, const double *T, const double *M2,
                       bn_affine *a) {
    const bn_plan *p = f->p;
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    if (p->fold <= 1) { // a column per channel
        channel_terms(f, w0, wn, T, M2, a, 0);
        return;
    }
    double tc[BN_CHUNK], m2c[BN_CHUNK]; // one unit of all W = fold*C columns; C < BN_MIN_WIDE
    for (ptrdiff_t c = 0; c < p->C && batch_stats(f); c++) {
        double nc = 0.0;
        tc[c] = m2c[c] = 0.0;
        for (ptrdiff_t ph = 0; ph < p->fold; ph++) {
            const ptrdiff_t w = ph * p->C + c;
            const double nw = (double)(p->nrows + (w < p->tailn));
            merge(&tc[c], &m2c[c], nc, &T[w], &M2[w], nw, 1);
            nc += nw;
        }
    }
    channel_terms(f, 0, p->C, tc, m2c, a, 0);
    for (ptrdiff_t w = p->C; w < p->W && f->stats == NULL; w++) {
        const ptrdiff_t c = w - p->C; // the same channel one fold earlier, already set
        a->mean[w] = a->mean[c];
        a->scale[w] = a->scale[c];
        a->shift[w] = a->shift[c];
        a->mean_f[w] = a->mean_f[c];
        a->scale_f[w] = a->scale_f[c];
        a->shift_f[w] = a->shift_f[c];
        a->fast[w] = a->fast[c];
    }
}

// ----------------------------------------------------------------------------
// apply

void bn_apply_block(const bn_plan *p, const bn_kernels *kern, void *y, const void *x,
                    const void *res, int relu, const bn_block *blk, const bn_affine *a,
                    int stream) {
    const size_t es = kern->esize;
    const ptrdiff_t ncol = p->view == BN_VIEW_ROWS ? blk->len : p->view == BN_VIEW_SHORT ? blk->count : 1;
    for (ptrdiff_t j0 = 0, j1; j0 < ncol; j0 = j1) { // ranges of columns with equal fast
        const unsigned char *e = ncol > 1 ? memchr(a->fast + j0, !a->fast[j0], (size_t)(ncol - j0)) : NULL;
        j1 = e != NULL ? e - a->fast : ncol;
        const bn_block s = j1 - j0 == ncol ? *blk : bn_block_cols(p, blk, j0, j1);
        const void *r = bn_at(res, s.at, es), *xs = bn_at(x, s.at, es);
        void *ys = bn_at_w(y, s.at, es);
        if (a->fast[j0] && p->view == BN_VIEW_ROWS) {
            kern->cl_apply(ys, xs, r, relu, s.stride, s.count, s.tail, s.len,
                           a->mean_f + j0, a->scale_f + j0, a->shift_f + j0, j1 - j0 == ncol ? stream : 0,
                           bn_plan_fetch(p, es));
        } else if (a->fast[j0] && p->view == BN_VIEW_RUNS) {
            kern->run_apply(ys, xs, r, relu, s.stride, s.count, s.len, a->mean_f[0],
                            a->scale_f[0], a->shift_f[0], stream);
        } else if (a->fast[j0]) {
            kern->short_apply(ys, xs, r, relu, s.count, s.len, p->C * p->S, a->mean_f + j0,
                              a->scale_f + j0, a->shift_f + j0, s.len >= BN_SHORT_RUN ? stream : 0);
        } else {
            for (ptrdiff_t l = 0; l <= s.count; l++) { // in double; l == count: the partial line
                const ptrdiff_t at = s.at + l * s.stride, n = l < s.count ? s.len : s.tail;
                for (ptrdiff_t i = 0; i < n; i++) {
                    const ptrdiff_t j = j0 + (p->view == BN_VIEW_ROWS ? i : p->view == BN_VIEW_SHORT ? l : 0);
                    float v = (float)(((double)bn_act_get(x, at + i, kern->data) - a->mean[j]) * a->scale[j] + a->shift[j]);
                    if (res != NULL) v += bn_act_get(res, at + i, kern->data);
                    bn_act_set(y, at + i, relu && v <= 0.0f ? 0.0f : v, kern->data);
                }
            }
        }
    }
}

static void unit_apply(const bn_fwd *f, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                       const bn_affine *a) {
    for (ptrdiff_t k = 0; k < b1 - b0;) {
        const bn_block blk = bn_plan_apply_span(f->p, u, b0, b1, &k, batch_stats(f));
        bn_apply_block(f->p, f->kern, f->out, f->inp, f->res, f->relu, &blk, a, f->stream);
    }
}

// everything of unit u on this thread: statistics over its groups in order, terms, out
static void unit_all(const bn_fwd *f, ptrdiff_t u) {
    const bn_plan *p = f->p;
    double T[BN_CHUNK], M2[BN_CHUNK], n = 0.0;
    bn_affine a;
    for (ptrdiff_t g = 0; g < p->groups && batch_stats(f); g++) {
        double gT[BN_CHUNK], gM2[BN_CHUNK];
        ptrdiff_t b0, b1;
        bn_plan_group(p, g, &b0, &b1);
        // one group: its statistics are the unit's (a merge into none copies them)
        const int one = p->groups == 1;
        const double ng = group_stats(f, u, b0, b1, one ? T : gT, one ? M2 : gM2);
        if (!one) merge_group(p, u, T, M2, n, gT, gM2, ng, b1 == p->blocks);
        n += ng;
    }
    unit_terms(f, u, T, M2, &a);
    if (f->stats == NULL) unit_apply(f, u, 0, p->blocks, &a);
}

// ----------------------------------------------------------------------------
// tasks on the team

static void task_unit(void *ctx, ptrdiff_t u) { unit_all((const bn_fwd *)ctx, u); }

static void task_group_stats(void *ctx, ptrdiff_t i) {
    const bn_fwd *f = (const bn_fwd *)ctx;
    bn_fwd_scratch *sc = f->scratch;
    ptrdiff_t u, b0, b1;
    const ptrdiff_t at = bn_plan_task(f->p, i, &u, &b0, &b1);
    sc->n[i] = group_stats(f, u, b0, b1, sc->T + at, sc->M2 + at);
}

static void task_group_apply(void *ctx, ptrdiff_t i) {
    const bn_fwd *f = (const bn_fwd *)ctx;
    const bn_fwd_scratch *sc = f->scratch;
    ptrdiff_t u, b0, b1;
    // after statistics, the last task first: as bn_plan_apply_span, so that each thread starts
    // where the statistics job ended (the team cuts a job into one contiguous slice per thread)
    const ptrdiff_t n = f->p->units * f->p->groups;
    bn_plan_task(f->p, batch_stats(f) ? n - 1 - i : i, &u, &b0, &b1);
    unit_apply(f, u, b0, b1, &sc->terms[u]);
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
        for (ptrdiff_t g = 0; g < p->groups && train; g++) {
            ptrdiff_t uu, b0, b1;
            const ptrdiff_t at = bn_plan_task(p, u * p->groups + g, &uu, &b0, &b1);
            merge_group(p, u, T, M2, n, sc->T + at, sc->M2 + at, sc->n[u * p->groups + g],
                        b1 == p->blocks);
            n += sc->n[u * p->groups + g];
        }
        unit_terms(f, u, T, M2, &sc->terms[u]);
    }
    if (f->stats == NULL) bn_run(nthreads, p->units * p->groups, task_group_apply, f);
}

// Inference over rows wider than a unit (2 or more units): whole rows with every column's
// terms, instead of unit by unit down strips of a unit's columns, which read a piece of each row
// and come back for the next piece a whole tensor later. On a Zen 4 without AVX-512, medians of
// 11 alternated processes: float32 NC 4096x1024 0.84x the time (1 thread; best times 0.91x),
// 0.86x (2 threads, best times), NC 256x1024 and 64x2048 0.91x and 0.90x; bf16 4096x1024 0.79x.
typedef struct {
    const bn_fwd *f;
    BN_LINE_ALIGNED float mean_f[BN_KERNEL_ROW_COLS], scale_f[BN_KERNEL_ROW_COLS],
        shift_f[BN_KERNEL_ROW_COLS];
} bn_fwd_rows;

// rows [64*b, 64*b + 64) of the call
static void task_rows(void *ctx, ptrdiff_t b) {
    const bn_fwd_rows *w = (const bn_fwd_rows *)ctx;
    const bn_fwd *f = w->f;
    const bn_plan *p = f->p;
    const size_t es = f->kern->esize;
    const ptrdiff_t r0 = b * BN_BLOCK_ROWS, at = r0 * p->W;
    f->kern->cl_apply(bn_at_w(f->out, at, es), bn_at(f->inp, at, es), bn_at(f->res, at, es),
                      f->relu, p->W, bn_clamp(p->nrows - r0, BN_BLOCK_ROWS), 0, p->W, w->mean_f,
                      w->scale_f, w->shift_f, f->stream, bn_plan_fetch(p, es));
}

// whole rows when the call allows (returns 1): inference with 2 or more units of rows of at most
// BN_KERNEL_ROW_COLS columns, every column's terms in float (fast)
static int forward_rows(const bn_fwd *f, int nthreads) {
    const bn_plan *p = f->p;
    if (batch_stats(f) || p->view != BN_VIEW_ROWS || p->units < 2 || p->W > BN_KERNEL_ROW_COLS ||
        p->tailn != 0) {
        return 0;
    }
    bn_fwd_rows w;
    bn_affine a;
    w.f = f;
    for (ptrdiff_t u = 0; u < p->units; u++) {
        ptrdiff_t w0, wn;
        bn_plan_cols(p, u, &w0, &wn);
        unit_terms(f, u, NULL, NULL, &a);
        if (memchr(a.fast, 0, (size_t)wn) != NULL) return 0;
        memcpy(w.mean_f + w0, a.mean_f, (size_t)wn * sizeof(float));
        memcpy(w.scale_f + w0, a.scale_f, (size_t)wn * sizeof(float));
        memcpy(w.shift_f + w0, a.shift_f, (size_t)wn * sizeof(float));
    }
    bn_run(nthreads, p->blocks, task_rows, &w);
    return 1;
}

// ----------------------------------------------------------------------------
// the rows walk (bn_plan_rows): a task is a group's blocks in order and, at each block, every
// unit of its slice; the output then takes each block's rows whole, with every column's terms

// the walk's arrays, in the team's scratch: each group's statistics (groups*W <= BN_MAX_GROUPS
// times a narrow unit: bn_plan_rows), each unit's terms, then every column's in float for cl_apply
typedef struct {
    double T[BN_MAX_GROUPS * BN_NARROW_CHUNK], M2[BN_MAX_GROUPS * BN_NARROW_CHUNK], n[BN_MAX_GROUPS];
    bn_affine a[BN_KERNEL_ROW_COLS / BN_NARROW_CHUNK];
    BN_LINE_ALIGNED float mean_f[BN_KERNEL_ROW_COLS], scale_f[BN_KERNEL_ROW_COLS],
        shift_f[BN_KERNEL_ROW_COLS];
} bn_fwd_walk_scratch;
_Static_assert(sizeof(bn_fwd_walk_scratch) <= BN_SCRATCH_BYTES, "scratch too small");

typedef struct {
    const bn_fwd *f;
    ptrdiff_t k; // slices a group (bn_plan_rows_task)
    bn_fwd_walk_scratch *sc;
    int fast;    // every column's terms are fast: whole rows through cl_apply
} bn_fwd_walk;

// the statistics of a group's slice, block by block: each unit's are those of group_stats over
// the group's blocks (the first block's as merged into none, then each merged in order)
static void task_walk_stats(void *ctx, ptrdiff_t i) {
    const bn_fwd_walk *w = (const bn_fwd_walk *)ctx;
    const bn_fwd *f = w->f;
    const bn_plan *p = f->p;
    ptrdiff_t u0, u1, b0, b1;
    const ptrdiff_t g = bn_plan_rows_task(p, w->k, i, &u0, &u1, &b0, &b1);
    double *T = w->sc->T + g * p->W, *M2 = w->sc->M2 + g * p->W, n = 0.0;
    for (ptrdiff_t b = b0; b < b1; b++) {
        double nb = 0.0;
        for (ptrdiff_t u = u0; u < u1; u++) {
            double bT[BN_CHUNK], bM2[BN_CHUNK];
            ptrdiff_t w0, wn;
            bn_plan_cols(p, u, &w0, &wn);
            nb = group_stats(f, u, b, b + 1, b == b0 ? T + w0 : bT, b == b0 ? M2 + w0 : bM2);
            if (b > b0) merge_cols(T + w0, M2 + w0, n, bT, bM2, nb, 0, wn); // no partial row
        }
        n += nb;
    }
    if (u0 == 0) w->sc->n[g] = n;
}

// the output of a group's slice, the last task first and its blocks in runs from the last as
// the apply pass of a unit (bn_plan_apply_span says why): one kernel call a run over all the
// slice's columns where every column's terms are fast, else unit by unit
static void task_walk_apply(void *ctx, ptrdiff_t i) {
    const bn_fwd_walk *w = (const bn_fwd_walk *)ctx;
    const bn_fwd *f = w->f;
    const bn_plan *p = f->p;
    const size_t es = f->kern->esize;
    ptrdiff_t u0, u1, b0, b1, c0, cn, cl, cln;
    bn_plan_rows_task(p, w->k, p->groups * w->k - 1 - i, &u0, &u1, &b0, &b1);
    bn_plan_cols(p, u0, &c0, &cn);
    bn_plan_cols(p, u1 - 1, &cl, &cln);
    const ptrdiff_t run = bn_plan_run(cl + cln - c0);
    for (ptrdiff_t e = b1; e > b0; e -= run) {
        const ptrdiff_t s = e - run > b0 ? e - run : b0;
        const ptrdiff_t rows = (e - 1 - s) * BN_BLOCK_ROWS + bn_plan_block(p, u0, e - 1).count;
        if (!w->fast) {
            for (ptrdiff_t u = u0; u < u1; u++) {
                bn_block blk = bn_plan_block(p, u, s); // no partial row (bn_plan_rows)
                blk.count = rows;
                bn_apply_block(p, f->kern, f->out, f->inp, f->res, f->relu, &blk, &w->sc->a[u],
                               f->stream);
            }
            continue;
        }
        const ptrdiff_t at = bn_plan_block(p, u0, s).at;
        f->kern->cl_apply(bn_at_w(f->out, at, es), bn_at(f->inp, at, es), bn_at(f->res, at, es),
                          f->relu, p->W, rows, 0, cl + cln - c0, w->sc->mean_f + c0,
                          w->sc->scale_f + c0, w->sc->shift_f + c0, f->stream,
                          bn_plan_fetch(p, es));
    }
}

// the whole call by the rows walk with the team's scratch (held: the team is held); 0 (nothing
// done) when another call holds the team
static int forward_walk(const bn_fwd *f, int nthreads) {
    const bn_plan *p = f->p;
    const int held = nthreads >= 2;
    bn_fwd_walk w = {f, bn_plan_rows_slices(p, nthreads),
                     held ? bn_team_scratch() : bn_scratch_acquire(), 1};
    if (w.sc == NULL) return 0;
    bn_fwd_walk_scratch *sc = w.sc;
    const ptrdiff_t tasks = p->groups * w.k;
    bn_run(nthreads, tasks, task_walk_stats, &w);
    for (ptrdiff_t u = 0; u < p->units; u++) { // each unit's statistics over its groups in order
        double T[BN_CHUNK], M2[BN_CHUNK], n = 0.0;
        ptrdiff_t w0, wn;
        bn_plan_cols(p, u, &w0, &wn);
        for (ptrdiff_t g = 0; g < p->groups; g++) {
            merge_group(p, u, T, M2, n, sc->T + g * p->W + w0, sc->M2 + g * p->W + w0, sc->n[g],
                        g == p->groups - 1);
            n += sc->n[g];
        }
        unit_terms(f, u, T, M2, &sc->a[u]);
        if (f->stats != NULL) continue;
        w.fast = w.fast && memchr(sc->a[u].fast, 0, (size_t)wn) == NULL;
        memcpy(sc->mean_f + w0, sc->a[u].mean_f, (size_t)wn * sizeof(float));
        memcpy(sc->scale_f + w0, sc->a[u].scale_f, (size_t)wn * sizeof(float));
        memcpy(sc->shift_f + w0, sc->a[u].shift_f, (size_t)wn * sizeof(float));
    }
    if (f->stats == NULL) bn_run(nthreads, tasks, task_walk_apply, &w);
    if (!held) bn_team_release();
    return 1;
}

// all units of the call, on the team when it is large enough
static void forward(bn_fwd *f) {
    bn_plan *p = f->p;
    const size_t bytes = (size_t)(p->M * p->C) * f->kern->esize;
    // the rows walk as the normalize pass would read x again, also for the split phase's
    // statistics alone: the same groups, so the same bits as forward training
    const int walk = batch_stats(f) && bn_plan_rows(p, 1);
    const int nthreads = 2 * bytes >= BN_PARALLEL_BYTES && p->units * p->groups >= 2
                             ? bn_team_acquire() : 1;
    // a unit's normalize pass reads its x again after its statistics
    const int reads_again = batch_stats(f) && f->stats == NULL;
    f->stream = bytes >= (nthreads >= 2 && !reads_again ? bn_stream_once_bytes() : bn_stream_bytes())
                    ? bn_stream_kind() : 0;
    bn_plan_widen(p, reads_again ? bytes / (size_t)p->units : 0, nthreads);
    if (walk) {
        // without the scratch, unit by unit: the same groups, so the same bits
        if (!forward_walk(f, nthreads)) bn_run(nthreads, p->units, task_unit, f);
    } else if (!forward_rows(f, nthreads)) {
        if (nthreads >= 2 && p->groups > 1) forward_groups(f, nthreads);
        else bn_run(nthreads, p->units, task_unit, f);
    }
    if (nthreads >= 2) bn_team_release();
}

// ----------------------------------------------------------------------------
// entry points

bn_status bn_forward_training(void *out, float *save_mean, float *save_rstd,
                              float *running_mean, float *running_var, const void *inp,
                              const void *res, const float *gamma, const float *beta,
                              double eps, double momentum, unsigned int flags,
                              int layout, int64_t N, int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // out, inp, res: (N,C,S) in layout
    // save_mean, save_rstd, running_mean, running_var, gamma, beta: (C,)
    const bn_status st = bn_check_forward_training(out, save_mean, save_rstd, running_mean,
                                                   running_var, inp, res, gamma, beta, eps,
                                                   momentum, flags, layout, N, C, S);
    if (st != BN_OK) return st;
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 0);
    bn_fwd f = {&p, bn_kernels_for(flags), out, inp, res, (flags & BN_FUSE_RELU) != 0, save_mean,
                save_rstd, running_mean, running_var, NULL, NULL, gamma, beta, eps, momentum,
                (double)p.M / (double)(p.M - 1), 0, NULL, NULL, NULL, NULL};
    forward(&f);
    return BN_OK;
}

bn_status bn_forward_inference(void *out, const void *inp, const void *res, const float *mean,
                               const float *var, const float *gamma, const float *beta,
                               double eps, unsigned int flags,
                               int layout, int64_t N, int64_t C, int64_t S) {
    BN_CLEAR_UPPER();
    // out, inp, res: (N,C,S) in layout
    // mean, var, gamma, beta: (C,)
    const bn_status st = bn_check_forward_inference(out, inp, res, mean, var, gamma, beta, eps,
                                                    flags, layout, N, C, S);
    if (st != BN_OK) return st;
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 1);
    bn_fwd f = {&p, bn_kernels_for(flags), out, inp, res, (flags & BN_FUSE_RELU) != 0, NULL, NULL,
                NULL, NULL, mean, var, gamma, beta, eps, 0.0, 0.0, 0, NULL, NULL, NULL, NULL};
    forward(&f);
    return BN_OK;
}

// ----------------------------------------------------------------------------
// split phase (bn_split.c validates the arguments first)

void bn_forward_stats(double *stats, const void *inp, unsigned int flags, int layout, int64_t N,
                      int64_t C, int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 0);
    bn_fwd f = {&p, bn_kernels_for(flags), NULL, inp, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, NULL, 0.0, 0.0, 0.0, 0, NULL, stats, NULL, NULL};
    forward(&f);
}

void bn_forward_given(void *out, const void *inp, const void *res, const double *mean,
                      const double *rstd, const float *gamma, const float *beta,
                      unsigned int flags, int layout, int64_t N, int64_t C, int64_t S) {
    bn_plan p;
    bn_plan_init(&p, layout, (ptrdiff_t)N, (ptrdiff_t)C, (ptrdiff_t)S, 1);
    bn_fwd f = {&p, bn_kernels_for(flags), out, inp, res, (flags & BN_FUSE_RELU) != 0, NULL, NULL,
                NULL, NULL, NULL, NULL, gamma, beta, 0.0, 0.0, 0.0, 0, NULL, NULL, mean, rstd};
    forward(&f);
}
