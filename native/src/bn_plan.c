/*
 * bn_plan.c - how a call is cut into units, groups and blocks (bn_internal.h), the merge of
 * statistics, and running tasks on the team or in order.
 *
 * N = batch, C = channels, S = spatial size (H*W, or L; 1 for NC). M = N*S values per channel.
 */
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"
#include "bn_kernels.h"

_Static_assert(BN_CHUNK == BN_KERNEL_COLS, "the kernels' arrays hold one unit's columns");

static ptrdiff_t ceil_div(ptrdiff_t a, ptrdiff_t b) { return (a + b - 1) / b; }

void bn_plan_init(bn_plan *p, int layout, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S) {
    p->N = N;
    p->C = C;
    p->S = S;
    p->M = N * S;
    p->rows = !(layout == BN_LAYOUT_NCHW && S > 1);
    p->k = p->W = p->nrows = p->tailn = 0;
    p->per_block = p->pieces = p->piece = 0;
    p->shorts = 0;
    p->cg = 1;
    if (p->rows) {
        p->k = C >= BN_MIN_WIDE ? 1 : ceil_div(BN_MIN_WIDE, C);
        p->W = p->k * C;
        p->nrows = p->M / p->k;
        p->tailn = (p->M % p->k) * C;
        p->units = ceil_div(p->W, BN_CHUNK);
        p->blocks = p->nrows > 0 ? ceil_div(p->nrows, BN_BLOCK_ROWS) : 1;
    } else if (S < BN_SHORT_RUN) {
        const ptrdiff_t cg = BN_SHORT_UNIT_BYTES / (p->M * (ptrdiff_t)sizeof(float));
        p->shorts = 1;
        p->cg = cg < 1 ? 1 : cg > BN_CHUNK ? BN_CHUNK : cg;
        p->units = ceil_div(C, p->cg);
        p->blocks = N;
    } else {
        if (S <= BN_BLOCK_LEN) {
            p->per_block = BN_BLOCK_LEN / S;
            p->pieces = 1;
            p->piece = S;
            p->blocks = ceil_div(N, p->per_block);
        } else {
            p->per_block = 1;
            p->pieces = ceil_div(S, BN_BLOCK_LEN);
            p->piece = ceil_div(S, p->pieces);
            p->blocks = N * p->pieces;
        }
        p->units = C;
    }
    // groups of at least BN_GROUP_BYTES of the unit's values, at most BN_MAX_GROUPS/units
    const ptrdiff_t chans = p->rows ? (p->W < BN_CHUNK ? p->W : BN_CHUNK) / p->k : p->cg;
    const ptrdiff_t unit_bytes = p->M * chans * (ptrdiff_t)sizeof(float);
    ptrdiff_t g = unit_bytes / BN_GROUP_BYTES;
    if (g > BN_MAX_GROUPS / p->units) g = BN_MAX_GROUPS / p->units;
    if (g > p->blocks) g = p->blocks;
    p->groups = g < 1 ? 1 : g;
}

void bn_plan_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn) {
    if (p->rows) {
        bn_plan_unit_cols(p, u, w0, wn);
    } else {
        *w0 = u * p->cg;
        *wn = p->C - *w0 < p->cg ? p->C - *w0 : p->cg;
    }
}

void bn_plan_unit_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn) {
    *w0 = u * BN_CHUNK;
    *wn = p->W - *w0 < BN_CHUNK ? p->W - *w0 : BN_CHUNK;
}

void bn_plan_rows_block(const bn_plan *p, ptrdiff_t b, ptrdiff_t *r0, ptrdiff_t *nr,
                        ptrdiff_t *tail) {
    *r0 = b * BN_BLOCK_ROWS;
    *nr = p->nrows - *r0 < BN_BLOCK_ROWS ? p->nrows - *r0 : BN_BLOCK_ROWS;
    *tail = b == p->blocks - 1 ? p->tailn : 0;
}

void bn_plan_runs_block(const bn_plan *p, ptrdiff_t c, ptrdiff_t b, ptrdiff_t *offset,
                        ptrdiff_t *stride, ptrdiff_t *nruns, ptrdiff_t *len) {
    *stride = p->C * p->S;
    if (p->pieces == 1) {
        const ptrdiff_t n0 = b * p->per_block;
        *nruns = p->N - n0 < p->per_block ? p->N - n0 : p->per_block;
        *offset = (n0 * p->C + c) * p->S;
        *len = p->S;
    } else {
        const ptrdiff_t n = b / p->pieces, s0 = (b % p->pieces) * p->piece;
        *nruns = 1;
        *offset = (n * p->C + c) * p->S + s0;
        *len = p->S - s0 < p->piece ? p->S - s0 : p->piece;
    }
}

ptrdiff_t bn_plan_task(const bn_plan *p, ptrdiff_t i, ptrdiff_t *u, ptrdiff_t *b0,
                       ptrdiff_t *b1) {
    const ptrdiff_t g = i % p->groups;
    ptrdiff_t w0, wn;
    *u = i / p->groups;
    bn_plan_group(p, g, b0, b1);
    bn_plan_cols(p, *u, &w0, &wn);
    return g * (p->rows ? p->W : p->C) + w0;
}

void bn_plan_group(const bn_plan *p, ptrdiff_t g, ptrdiff_t *b0, ptrdiff_t *b1) {
    *b0 = g * p->blocks / p->groups;
    *b1 = (g + 1) * p->blocks / p->groups;
}

double bn_plan_values(const bn_plan *p, ptrdiff_t b0, ptrdiff_t b1) {
    if (p->shorts) return (double)((b1 - b0) * p->S);
    if (p->rows) {
        const ptrdiff_t e = b1 * BN_BLOCK_ROWS < p->nrows ? b1 * BN_BLOCK_ROWS : p->nrows;
        const ptrdiff_t s = b0 * BN_BLOCK_ROWS < p->nrows ? b0 * BN_BLOCK_ROWS : p->nrows;
        return (double)(e - s);
    }
    ptrdiff_t n = 0;
    for (ptrdiff_t b = b0; b < b1; b++) {
        ptrdiff_t off, stride, nruns, len;
        bn_plan_runs_block(p, 0, b, &off, &stride, &nruns, &len);
        n += nruns * len;
    }
    return (double)n;
}

void bn_merge(double *T, double *M2, double na, const double *Tb, const double *M2b, double nb,
              ptrdiff_t n) {
    if (nb == 0.0) return;
    if (na == 0.0) {
        for (ptrdiff_t j = 0; j < n; j++) {
            T[j] = Tb[j];
            M2[j] = M2b[j];
        }
        return;
    }
    const double f = na * nb / (na + nb);
    for (ptrdiff_t j = 0; j < n; j++) {
        // mean_b - mean_a by divisions: T = n*K exactly for a constant channel, and T/n is then
        // exactly K, so the merge adds no variance (a reciprocal would leave ~1e-32)
        const double delta = Tb[j] / nb - T[j] / na;
        M2[j] = M2[j] + M2b[j] + delta * delta * f;
        T[j] = T[j] + Tb[j];
    }
}

void bn_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx) {
    if (nthreads >= 2 && ntasks >= 2) {
        bn_team_run(nthreads, ntasks, fn, ctx);
        return;
    }
    for (ptrdiff_t i = 0; i < ntasks; i++) fn(ctx, i);
}
