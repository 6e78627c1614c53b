/*
 * bn_plan.c - how a call walks memory: views, units, groups and blocks (bn_internal.h).
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

ptrdiff_t bn_clamp(ptrdiff_t v, ptrdiff_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

// The groups of each of `units` units of unit_bytes (as float32): one per BN_GROUP_BYTES; a call
// of few units has as many more as make BN_MIN_TASKS tasks, each of at least
// BN_SMALL_GROUP_BYTES (with 1 MiB groups alone, a call of one unit below 2 MiB ran on one
// thread); a count above 2 is rounded up to a power of two (3 groups left one of two threads
// idle a third of the time: on a Zen 5, 2 threads, NHWC 8x128x28x28 forward training and
// backward took 0.80x the time with 4, NC 3072x256 0.77x and 0.82x); at most BN_MAX_GROUPS/units
// and one a block
static ptrdiff_t plan_groups(const bn_plan *p, ptrdiff_t unit_bytes, ptrdiff_t units) {
    ptrdiff_t g = unit_bytes / BN_GROUP_BYTES;
    const ptrdiff_t want = ceil_div(BN_MIN_TASKS, units), fit = unit_bytes / BN_SMALL_GROUP_BYTES;
    if (g < (want < fit ? want : fit)) g = want < fit ? want : fit;
    if (g > 2 && (g & (g - 1))) { // whole rounds for 2, 4, 8 or 16 threads
        while (g & (g - 1)) g &= g - 1;
        g *= 2;
    }
    if (g > BN_MAX_GROUPS / units) g = BN_MAX_GROUPS / units;
    if (g > p->blocks) g = p->blocks;
    return g < 1 ? 1 : g;
}

void bn_plan_init(bn_plan *p, int layout, ptrdiff_t N, ptrdiff_t C, ptrdiff_t S, int apply) {
    *p = (bn_plan){.N = N, .C = C, .S = S, .M = N * S, .cg = 1};
    p->view = layout != BN_LAYOUT_NCHW || S == 1 ? BN_VIEW_ROWS
              : S < BN_SHORT_RUN || apply ? BN_VIEW_SHORT : BN_VIEW_RUNS;
    if (p->view == BN_VIEW_ROWS) {
        p->fold = C >= BN_MIN_WIDE ? 1 : ceil_div(BN_MIN_WIDE, C);
        p->W = p->fold * C;
        p->nrows = p->M / p->fold;
        p->tailn = (p->M % p->fold) * C;
        p->chunk = BN_NARROW_CHUNK; // bn_plan_widen may widen them
        p->units = ceil_div(p->W, p->chunk);
        p->blocks = p->nrows > 0 ? ceil_div(p->nrows, BN_BLOCK_ROWS) : 1;
    } else if (p->view == BN_VIEW_SHORT) {
        // apply: a unit's blocks are its samples, so a small batch gets narrower units, enough
        // of them for BN_MAX_GROUPS tasks (N = 1, as when serving: C/16 channels a unit)
        const ptrdiff_t cg = apply ? ceil_div(C, ceil_div(BN_MAX_GROUPS, N))
                                   : BN_SHORT_UNIT_BYTES / (p->M * (ptrdiff_t)sizeof(float));
        p->cg = cg < 1 ? 1 : cg > BN_NARROW_CHUNK ? BN_NARROW_CHUNK : cg;
        p->units = ceil_div(C, p->cg);
        p->blocks = N;
    } else {
        p->per_block = S <= BN_BLOCK_LEN ? BN_BLOCK_LEN / S : 1;
        p->pieces = S <= BN_BLOCK_LEN ? 1 : ceil_div(S, BN_BLOCK_LEN);
        p->piece = ceil_div(S, p->pieces);
        p->blocks = p->pieces == 1 ? ceil_div(N, p->per_block) : N * p->pieces;
        p->units = C;
    }
    const ptrdiff_t chans = p->view == BN_VIEW_ROWS
                                ? (p->W < p->chunk ? p->W : p->chunk) / p->fold : p->cg;
    p->groups = plan_groups(p, p->M * chans * (ptrdiff_t)sizeof(float), p->units);
}

// A narrow unit reads a piece of each row and comes back for the next piece a tensor later; what it
// saves is that its second pass finds its rows in cache. So units are wide unless a narrow one's
// `again` fits in half the L2 and a wide one's would not, or fits in the L3 and a wide one's would
// take half of it or more; on threads, only past the L3 (fewer tasks to share); and not when the
// caches are unknown. On a 2-core Zen 5 (1 MiB L2, 32 MiB L3), float32, bn_ab, 16 alternated rounds
// in both orders, 1 thread: backward NHWC 32x512x28x28 0.88-0.95x the time, NHWC 8x512x14x14
// 0.89-0.92x, NC 512x1024 0.87-0.88x, NC 65536x512 0.76-0.79x, NHWC 32x2048x7x7 0.94-0.97x, NHWC
// 16x1024x14x14 0.95-0.96x, NC 1024x1024 0.96-1.02x; forward training NC 65536x512 0.95-0.96x, NC
// 256x1024, 1024x1024 and 4096x1024 0.90-1.00x; inference 0.98-1.03x. 2 threads: backward NHWC
// 32x512x28x28 0.90-0.92x, NC 32768x512 0.89-0.91x, forward training NC 65536x512 0.84-0.97x; below
// the L3 wide units took NC 512x1024 backward 1.43-1.49x the time and NC 1024x1024 and 4096x1024
// forward training 1.05-1.08x. A build that widened every unit took NC 256x1024 backward 1.21x the
// time (8 alternated rounds), NC 16384x512 and NHWC 32x512x28x28 forward training 1.09-1.15x and
// 1.04-1.08x (a narrow unit's x, 16 and 24.5 MiB, stays in the L3); where a wide unit's takes half
// the L3 (16 MiB), NC 8192x1024 forward training 1.02-1.04x and NC 4096x1024 backward 0.98-1.01x (8
// alternated rounds). Units of 1024 columns took NC 4096x1024 backward 1.56x the time of 512.
void bn_plan_widen(bn_plan *p, size_t again, int nthreads) {
    const ptrdiff_t units = ceil_div(p->W, BN_CHUNK);
    if (p->view != BN_VIEW_ROWS || units == p->units || units * p->groups < nthreads) return;
    const size_t l2 = bn_l2_bytes() / 2, l3 = bn_cache_bytes();
    if (l2 == 0 || l3 == 0) return;
    if ((again <= l2 && 2 * again > l2) || (again < l3 && 2 * again >= l3 / 2)) return;
    if (nthreads > 1 && again < l3) return; // fewer tasks to share, where a narrow unit fits
    p->chunk = BN_CHUNK;
    p->units = units;
}

// A unit down the whole tensor reads a piece of each row; what that buys is that its second pass
// finds the unit's rows in cache. Where they would not stay in half the L2 but the whole call's
// `again` stays in half the last-level cache, the second pass reads that cache either way, and
// whole rows read it faster: one stream per tensor in memory order, where a unit's pieces of 1 or
// 2 KiB every row restart the hardware prefetchers at each 4 KiB page. On a 2-vCPU Xeon guest
// (2 MiB L2, 480 MiB L3), float32, bn_ab (8 rounds in both orders): 1 thread, backward NC
// 4096x1024 0.88-0.90x the time, NHWC 32x2048x7x7 0.87-0.92x, NC 1024x1024 0.90x, forward
// training NC 4096x1024 and NHWC 32x2048x7x7 0.86-0.87x; 2 threads, backward NC 4096x1024
// 0.77-0.78x, NHWC 32x2048x7x7 0.84x, NC 1024x1024 0.75-0.77x, NC 16384x512 and NHWC
// 32x512x28x28 0.82-0.83x, forward training NC 4096x1024 0.75-0.82x, NHWC 32x2048x7x7
// 0.77-0.78x, NC 16384x512 0.85-0.88x. Rows of 512 columns on 1 thread, already one unit wide
// there (bn_plan_widen): 0.98-1.05x. Whole rows need groups to share: NHWC 32x2048x7x7 has one
// group of 256-column units, and two threads' halves of each row (4 KiB each) took its backward
// 1.45 ms against 1.28 with two groups of whole rows. So the walk takes the groups of the whole
// tensor cut among the units (bn_plan_init's rule with all the bytes), 2 there; they depend on
// the machine's caches through this choice, never on the threads.
int bn_plan_rows(bn_plan *p, int tensors) {
    const size_t l2 = bn_l2_bytes(), llc = bn_cache_bytes();
    const size_t again = (size_t)(p->M * p->C) * sizeof(float) * (size_t)tensors;
    if (p->view != BN_VIEW_ROWS || p->units < 2 || p->W > BN_KERNEL_ROW_COLS || p->tailn != 0 ||
        again < BN_PARALLEL_BYTES || l2 == 0 || llc == 0 || again / (size_t)p->units <= l2 / 2 ||
        again > llc / 2) {
        return 0;
    }
    p->groups = plan_groups(p, p->M * p->C * (ptrdiff_t)sizeof(float), p->units);
    return 1;
}

ptrdiff_t bn_plan_rows_slices(const bn_plan *p, int nthreads) {
    ptrdiff_t k = 1;
    while (k < p->units && p->groups * k < nthreads) k++;
    return k;
}

ptrdiff_t bn_plan_rows_task(const bn_plan *p, ptrdiff_t k, ptrdiff_t i, ptrdiff_t *u0,
                            ptrdiff_t *u1, ptrdiff_t *b0, ptrdiff_t *b1) {
    const ptrdiff_t g = i / k, s = i % k;
    *u0 = s * p->units / k;
    *u1 = (s + 1) * p->units / k;
    bn_plan_group(p, g, b0, b1);
    return g;
}

ptrdiff_t bn_plan_run(ptrdiff_t wn) {
    const ptrdiff_t run = BN_APPLY_RUN / (BN_BLOCK_ROWS * wn);
    return run > 1 ? run : 1;
}

void bn_plan_cols(const bn_plan *p, ptrdiff_t u, ptrdiff_t *w0, ptrdiff_t *wn) {
    const ptrdiff_t per = p->view == BN_VIEW_ROWS ? p->chunk : p->cg;
    const ptrdiff_t n = p->view == BN_VIEW_ROWS ? p->W : p->C;
    *w0 = u * per;
    *wn = n - *w0 < per ? n - *w0 : per;
}

bn_block bn_plan_block(const bn_plan *p, ptrdiff_t u, ptrdiff_t b) {
    ptrdiff_t w0, wn;
    bn_plan_cols(p, u, &w0, &wn);
    if (p->view == BN_VIEW_ROWS) {
        const ptrdiff_t r0 = b * BN_BLOCK_ROWS, tail = b == p->blocks - 1 ? p->tailn : 0;
        return (bn_block){r0 * p->W + w0, p->W, bn_clamp(p->nrows - r0, BN_BLOCK_ROWS), wn,
                          bn_clamp(tail - w0, wn)};
    }
    if (p->view == BN_VIEW_SHORT) return (bn_block){(b * p->C + w0) * p->S, p->S, wn, p->S, 0};
    if (p->pieces == 1) {
        const ptrdiff_t n0 = b * p->per_block;
        return (bn_block){(n0 * p->C + u) * p->S, p->C * p->S,
                          p->N - n0 < p->per_block ? p->N - n0 : p->per_block, p->S, 0};
    }
    const ptrdiff_t n = b / p->pieces, s0 = (b % p->pieces) * p->piece;
    return (bn_block){(n * p->C + u) * p->S + s0, p->C * p->S, 1,
                      p->S - s0 < p->piece ? p->S - s0 : p->piece, 0};
}

bn_block bn_block_cols(const bn_plan *p, const bn_block *blk, ptrdiff_t j0, ptrdiff_t j1) {
    bn_block s = *blk;
    if (p->view == BN_VIEW_ROWS) {
        s.at += j0;
        s.len = j1 - j0;
        s.tail = bn_clamp(blk->tail - j0, j1 - j0);
    } else if (p->view == BN_VIEW_SHORT) {
        s.at += j0 * blk->stride;
        s.count = j1 - j0;
    }
    return s;
}

ptrdiff_t bn_block_values(const bn_plan *p, const bn_block *blk) {
    return p->view == BN_VIEW_ROWS ? blk->count : p->view == BN_VIEW_SHORT ? blk->len
                                                                          : blk->count * blk->len;
}

ptrdiff_t bn_plan_task(const bn_plan *p, ptrdiff_t i, ptrdiff_t *u, ptrdiff_t *b0,
                       ptrdiff_t *b1) {
    const ptrdiff_t g = i % p->groups;
    ptrdiff_t w0, wn;
    *u = i / p->groups;
    bn_plan_group(p, g, b0, b1);
    bn_plan_cols(p, *u, &w0, &wn);
    return g * (p->view == BN_VIEW_ROWS ? p->W : p->C) + w0;
}

// the k-th block, k in [0, b1 - b0), of the apply order bn_plan_apply_span describes
static ptrdiff_t apply_block(const bn_plan *p, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1, ptrdiff_t k,
                             int reduced) {
    if (!reduced) return b0 + k;
    const bn_block first = bn_plan_block(p, u, b0);
    const ptrdiff_t values = first.count * first.len + first.tail;
    const ptrdiff_t run = values >= 1 && values < BN_APPLY_RUN ? BN_APPLY_RUN / values : 1; // blocks a run
    const ptrdiff_t r = k / run, start = b1 - (r + 1) * run;                 // run r from the end
    return (start > b0 ? start : b0) + k % run;
}

bn_block bn_plan_apply_span(const bn_plan *p, ptrdiff_t u, ptrdiff_t b0, ptrdiff_t b1,
                            ptrdiff_t *k, int reduced) {
    const ptrdiff_t b = apply_block(p, u, b0, b1, *k, reduced);
    bn_block s = bn_plan_block(p, u, b);
    ptrdiff_t n = 1;
    // rows view: every block but the unit's last has BN_BLOCK_ROWS rows and no partial row, so
    // consecutive blocks are one block of their rows
    while (p->view == BN_VIEW_ROWS && *k + n < b1 - b0 &&
           apply_block(p, u, b0, b1, *k + n, reduced) == b + n) {
        const bn_block t = bn_plan_block(p, u, b + n);
        s.count += t.count;
        s.tail = t.tail;
        n++;
    }
    *k += n;
    return s;
}

int bn_plan_fetch(const bn_plan *p, size_t esize) {
    const size_t bytes = (size_t)(p->M * p->C) * esize;
    return bytes > BN_FETCH_BYTES && bytes >= bn_fetch_bytes();
}

void bn_plan_group(const bn_plan *p, ptrdiff_t g, ptrdiff_t *b0, ptrdiff_t *b1) {
    *b0 = g * p->blocks / p->groups;
    *b1 = (g + 1) * p->blocks / p->groups;
}
