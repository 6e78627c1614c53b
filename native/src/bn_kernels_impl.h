/*
 * bn_kernels_impl.h - the kernels of bn_kernels.h, written once over small vector helpers that
 * the including file defines before including this one (bn_kernels_generic.c, _avx2.c,
 * _avx512.c), then packed into that file's table with BN_KERNELS_TABLE(name).
 *
 * Helpers: vf holds VL floats, vd holds VL/2 doubles.
 *   vf_load, vf_load_n (first n lanes, the rest 0; never reads past them), vf_store,
 *   vf_store_n, vf_stream (aligned non-temporal store), vf_set1, vf_sub, vf_fma (a*b + c),
 *   vd_lo, vd_hi (exact float -> double of the lower / upper half), vd_zero, vd_set1, vd_add,
 *   vd_sub, vd_mul, vd_fma (a*b + c), vd_fnma (c - a*b), vd_load, vd_store, vd_keep_n (lanes
 *   >= n set to 0), vd_finite_or_zero, vf_from_vd (two vd rounded to one vf), vd_load_f (HV
 *   floats loaded as doubles), vd_total2 (the VL lanes of a then b added by the pairwise tree
 *   ((l0 + l(VL/2)) + (l(VL/4) + l(3VL/4))) + ..., as halves: a + b, then its halves, down to
 *   one lane), bn_sfence.
 *
 * Activations ((N,C,S) buffers: x, res, out, dy, gate, dinp, dres) are bn_act elements: float,
 * or with BN_KERNELS_BF16 / BN_KERNELS_F16 defined, the 16-bit format of bn_half.h. The including file
 * then also defines va_load (VL elements widened to floats, exactly), va_store (VL floats
 * narrowed as bn_half.h does), va_stream (the same, non-temporal, to an address aligned to VL
 * elements) and vd_load_a (HV elements widened to doubles). The loops below are the same for
 * every format: a 16-bit call computes in float and double exactly what the float32 call
 * computes on the widened inputs, and each output element is narrowed once as it is stored.
 * Optionally (BN_VA_N, BN_VA_PAIR) it defines its own partial-vector moves and the lane order in
 * which the elementwise loops take two vectors at a time (both below).
 *
 * N = batch, C = channels, S = spatial size. Views and sums: see bn_kernels.h.
 *
 * Lanes. Rows view: every column has its own accumulators and adds its rows in order, so a
 * column's sums do not depend on the tile it is in. Runs view: element p of a run goes to lane
 * p mod LANES (LANES = 2*NV*VL/2 doubles), and the lanes are added by a fixed pairwise tree.
 * NV float vectors are in flight per step: enough independent additions to hide their latency.
 *
 * In place (out == x, dinp == dy or dinp == x): every element is read before it is written, in
 * the same step, so these pointers are not restrict.
 */

#define NV 4            // float vectors per tile (rows view) or per lane group (runs view)
#define TILE (NV * VL)  // columns per tile; lanes of the runs view
#define HV (VL / 2)     // doubles per vd
// Float vectors per tile of the rows view's reductions over contiguous rows (ld == wn): NV, or
// a divisor of it where the including file sets fewer (bn_kernels_avx2.c)
#ifndef NV_CONTIG
#define NV_CONTIG NV
#endif

#if defined(BN_KERNELS_BF16) || defined(BN_KERNELS_F16)
#include <string.h>
#include "bn.h"
#include "bn_half.h"
typedef uint16_t bn_act;
#if defined(BN_KERNELS_BF16)
#define BN_KERNELS_WIDEN bn_bf16_to_float
#define BN_KERNELS_DATA BN_DATA_BF16
#if defined(BN_KERNELS_BF16_HW)
#define BN_KERNELS_SUFFIX _bf16hw
#else
#define BN_KERNELS_SUFFIX _bf16
#endif
#else
#define BN_KERNELS_WIDEN bn_f16_to_float
#define BN_KERNELS_DATA BN_DATA_F16
#define BN_KERNELS_SUFFIX _f16
#endif
static float va_get(const bn_act *p) { return BN_KERNELS_WIDEN(*p); }
// the first n (<= VL) elements through a zeroed vector's worth: +0 widens to +0.0f as
// vf_load_n's lanes past n are; nothing past p + n is read or written
// (unless the including file defines both itself: BN_VA_N)
#if !defined(BN_VA_N)
static vf va_load_n(const bn_act *p, ptrdiff_t n) {
    bn_act t[VL] = {0};
    memcpy(t, p, (size_t)n * sizeof *t);
    return va_load(t);
}
static void va_store_n(bn_act *p, vf v, ptrdiff_t n) {
    bn_act t[VL];
    va_store(t, v);
    memcpy(p, t, (size_t)n * sizeof *t);
}
#endif
#else
typedef float bn_act;
#define BN_KERNELS_DATA 0u
#define BN_KERNELS_SUFFIX
static float va_get(const float *p) { return *p; }
static vf va_load(const float *p) { return vf_load(p); }
static vf va_load_n(const float *p, ptrdiff_t n) { return vf_load_n(p, n); }
static void va_store(float *p, vf v) { vf_store(p, v); }
static void va_store_n(float *p, vf v, ptrdiff_t n) { vf_store_n(p, v, n); }
static void va_stream(float *p, vf v) { vf_stream(p, v); }
static vd vd_load_a(const float *p) { return vd_load_f(p); }
#endif

// The 2*VL elements at p as two vectors, for elementwise work only: va_load2, va_store2 and
// va_stream2 (p aligned as va_stream wants) put the elements in the same lanes, in an order the
// including file may choose (BN_VA_PAIR: it defines the three); by default memory order, and
// VA_PAIR = 0 leaves the pair loops out.
#if defined(BN_VA_PAIR)
#define VA_PAIR 1
#else
#define VA_PAIR 0
static void va_load2(const bn_act *p, vf *a, vf *b) { *a = va_load(p), *b = va_load(p + VL); }
static void va_store2(bn_act *p, vf a, vf b) { va_store(p, a), va_store(p + VL, b); }
static void va_stream2(bn_act *p, vf a, vf b) { va_stream(p, a), va_stream(p + VL, b); }
static int va_pair_elem(int k) { return k; }
#endif

// Per-column constants in va_load2's lanes: p's (n,) values with each whole group of 2*VL
// reordered (the rest as they are), for the rows view's pair loops.
#define BN_PAIR_ORDER(name, T)                                                                     \
    static void name(T *to, const T *p, ptrdiff_t n) {                                            \
        ptrdiff_t j = 0;                                                                           \
        for (; j + 2 * VL <= n; j += 2 * VL) {                                                     \
            for (int k = 0; k < 2 * VL; k++) to[j + k] = p[j + va_pair_elem(k)];                   \
        }                                                                                          \
        for (; j < n; j++) to[j] = p[j];                                                           \
    }
BN_PAIR_ORDER(pair_order_f, float)
BN_PAIR_ORDER(pair_order_d, double)

static ptrdiff_t clampn(ptrdiff_t v, ptrdiff_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

// Kernels with optional fusions are written once (NAME_k) and compiled twice by their wrapper,
// once with the fusion's arguments as constant NULL/0: the unfused loops carry no test of them
#if defined(__GNUC__)
#define BN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define BN_ALWAYS_INLINE inline
#endif

// p + i, or NULL for an absent buffer
static const bn_act *opt(const bn_act *p, ptrdiff_t i) { return p != NULL ? p + i : NULL; }

static vf vf_load_k(const bn_act *p, ptrdiff_t n) { return n == VL ? va_load(p) : va_load_n(p, n); }

// the fused output (bn.h): y + res[at] when res is given, then max(y, 0) when relu
static vf fuse(vf y, const bn_act *res, ptrdiff_t at, ptrdiff_t n, int relu) {
    if (res != NULL) y = vf_add(y, vf_load_k(res + at, n));
    return relu ? vf_gate(y, y) : y;
}

// n (<= VL) values of dy at `at` through the ReLU's gate (gate == NULL: none), also stored to
// dres when given
static vf load_dy(const bn_act *dy, const bn_act *gate, bn_act *dres, ptrdiff_t at, ptrdiff_t n) {
    vf g = vf_load_k(dy + at, n);
    if (gate != NULL) g = vf_gate(g, vf_load_k(gate + at, n));
    if (dres != NULL) va_store_n(dres + at, g, n);
    return g;
}

// 2*nv double vectors into d[] (as sums, so that the lane order is that of memory)
static BN_ALWAYS_INLINE void lanes_store(double *d, const vd *v, int nv) {
    for (int i = 0; i < 2 * nv; i++) vd_store(d + i * HV, v[i]);
}

// x - k of NV float vectors, in double, as 2*NV vectors (exact: two floats)
#define BN_DIFF(d, v, k, i)                                                                        \
    do {                                                                                           \
        (d)[0] = vd_sub(vd_lo(v), (k)[2 * (i)]);                                                   \
        (d)[1] = vd_sub(vd_hi(v), (k)[2 * (i) + 1]);                                               \
    } while (0)

// x - k of the float vector at p, converted as it is loaded (no shuffle), as 2 vectors
#define BN_DIFF_AT(d, p, k, i)                                                                     \
    do {                                                                                           \
        (d)[0] = vd_sub(vd_load_a(p), (k)[2 * (i)]);                                               \
        (d)[1] = vd_sub(vd_load_a((p) + HV), (k)[2 * (i) + 1]);                                    \
    } while (0)

// s1 += d, s2 += d*d of one float vector's two halves
static void acc_stats(vd *s1, vd *s2, const vd *d) {
    s1[0] = vd_add(s1[0], d[0]);
    s1[1] = vd_add(s1[1], d[1]);
    s2[0] = vd_fma(d[0], d[0], s2[0]);
    s2[1] = vd_fma(d[1], d[1], s2[1]);
}

// shifted sums -> block total and m2; n values, k the shift (exact)
static void shifted_result(double *sum, double *m2, double n, double k, double s1, double s2) {
    if (n == 0.0) {
        *sum = 0.0;
        *m2 = 0.0;
        return;
    }
    *sum = n * k + s1;
    const double m = s2 - s1 * s1 / n;
    *m2 = m < 0.0 ? 0.0 : m; // rounding only; NaN stays NaN
}

// ----------------------------------------------------------------------------
// rows view
//
// Reductions walk rows in slabs: for each slab of rows, each tile of TILE columns (NV_CONTIG*VL
// over contiguous rows), the slab's rows, with the tile's accumulators in registers. Walking one
// tile down a whole block instead would, for a row stride of a multiple of 4 KiB (C = 1024), put
// every row in the same L1 set (64 sets of 64 bytes) and miss on each access. A slab is `ways` rows
// per L1 set period of the stride: 16 rows for C = 1024 (slightly more than the 12 ways of recent
// x86 L1s: the longer sequential run per row pays for the few lines refetched from L2), 64 rows for
// C = 64 (256-byte rows, 16 before a set repeats). Contiguous rows of more than one tile (the unit
// is the whole row, e.g. NHWC C = 256) are walked 8 rows per slab instead: 8 nearly sequential
// streams for the prefetchers, where a tile walking down 64 rows reads a quarter of each row at a
// time (4 rows on a 2-core Xeon: NHWC 32x256x56x56 backward 4-15% faster; on pieces of longer
// rows, C = 1024 or 2048, 4 rows were slightly slower than the rule above). 8 rows instead of 4
// load and store each tile's accumulators half as often: on a Zen 4 without AVX-512, 1 thread,
// forward training NHWC 32x256x56x56 0.93x the time (two runs of 7 alternated rounds), NHWC
// 32x64x56x56 0.93x, NC 65536x256 0.94x, backward 0.98x; NC 256x256 and 32x64 0.93-0.99x; 2
// threads 1.00x (16 rows: 0.92x and 1.00x). Between slabs the accumulators wait in small arrays
// (at most BN_KERNEL_COLS columns, a multiple of TILE). Each column still adds its rows in order,
// so the slab height changes no result.

// Fetches the `bytes` at p + stride elements, the bytes a kernel reads later (the same columns
// further down, or the same place of the next run): towards L2 (locality 2), or with once as
// values read a last time (locality 0: prefetchnta on x86). Past the end of the tensor this
// touches memory that is not the caller's: a prefetch never faults, and the address is formed as
// an integer. Stride 0: nothing (the rows view's kernels called with fetch == 0).
static BN_ALWAYS_INLINE void prefetch_ahead(const bn_act *p, ptrdiff_t stride, size_t bytes,
                                           int once) {
#if defined(__GNUC__)
    if (stride == 0) return;
    const uintptr_t at = (uintptr_t)p + (uintptr_t)stride * sizeof(bn_act);
    for (size_t j = 0; j < bytes; j += 64) {
        if (once) __builtin_prefetch((const void *)(at + j), 0, 0);
        else __builtin_prefetch((const void *)(at + j), 0, 2);
    }
#else
    (void)p, (void)stride, (void)bytes, (void)once;
#endif
}

// prefetch_ahead towards L2
static void prefetch_next(const bn_act *p, ptrdiff_t stride, size_t bytes) {
    prefetch_ahead(p, stride, bytes, 0);
}

// prefetch_next of the same `bytes` in each of the 4 rows, ld elements apart, from p (the 4-row
// loops fetch each line as its columns come: cl_dinp_k says why)
static BN_ALWAYS_INLINE void prefetch_rows4(const bn_act *p, ptrdiff_t ld, ptrdiff_t stride,
                                            size_t bytes) {
    for (int i = 0; i < 4; i++) prefetch_next(p + i * ld, stride, bytes);
}

// rows per slab for a row stride of ld elements, wn columns and `ways` rows per L1 set: row
// starts repeat their set every 4096/g rows, g the largest power of two dividing the stride in
// bytes
static ptrdiff_t slab_rows(ptrdiff_t ld, ptrdiff_t wn, ptrdiff_t ways) {
    if (ld == wn && wn > TILE) return 8;
    const ptrdiff_t bytes = ld * (ptrdiff_t)sizeof(bn_act), g = bytes & -bytes;
    const ptrdiff_t period = g >= 4096 ? 1 : 4096 / g;
    return ways * period < 64 ? ways * period : 64;
}

// While a tile of one row is reduced, the same columns `ahead` rows further on are fetched: the
// hardware prefetchers stop at each 4 KiB page, and a slab of rows starts new pages in every
// stream (on a 2-core Zen 4, 1 thread: NHWC 32x256x56x56 forward training 26-31 -> 17-19 ms,
// backward 49-59 -> 30-39 ms; NC 4096x1024 backward 11-15 -> 8-10 ms). A tile's rows come back
// every slab, after the unit's wn columns of each row of the slab, so `ahead`, a whole number of
// slabs, puts the fetch about BN_PREFETCH_BYTES of each stream ahead of its use.
#ifndef BN_PREFETCH_BYTES
#define BN_PREFETCH_BYTES 8192
#endif
static ptrdiff_t rows_ahead(ptrdiff_t wn, ptrdiff_t slab, int fetch) {
    if (!fetch) return 0;
    const ptrdiff_t row = wn * (ptrdiff_t)sizeof(bn_act);
    const ptrdiff_t rows = (BN_PREFETCH_BYTES + row - 1) / row;
    return (rows + slab - 1) / slab * slab;
}

// the first n (< the tile's columns) columns of one row into the accumulators
static void stats_part(vd *s1, vd *s2, const vd *k, const bn_act *xr, ptrdiff_t n) {
    for (int i = 0; i < NV; i++) {
        const ptrdiff_t ni = clampn(n - i * VL, VL);
        if (ni == 0) break;
        const vf v = va_load_n(xr + i * VL, ni);
        vd d[2];
        BN_DIFF(d, v, k, i);
        d[0] = vd_keep_n(d[0], clampn(ni, HV));
        d[1] = vd_keep_n(d[1], clampn(ni - HV, HV));
        acc_stats(s1 + 2 * i, s2 + 2 * i, d);
    }
}

// rows [0, nr) of one tile of tw (<= nv*VL) columns into the accumulators of the arrays at k,
// a1, a2
static BN_ALWAYS_INLINE void stats_tile_k(double *a1, double *a2, const double *ks, const bn_act *x,
                                          ptrdiff_t ld, ptrdiff_t nr, ptrdiff_t tw, ptrdiff_t ahead,
                                          int nv) {
    vd k[2 * NV], s1[2 * NV], s2[2 * NV];
    for (int i = 0; i < 2 * nv; i++) {
        k[i] = vd_load(ks + i * HV);
        s1[i] = vd_load(a1 + i * HV);
        s2[i] = vd_load(a2 + i * HV);
    }
    if (tw == nv * VL) {
        ptrdiff_t r = 0;
        // Tiles wider than those of contiguous rows (AVX2's 4 vectors over strided rows) keep 24
        // vectors live, more than AVX2's 16 registers, and the spilled accumulators are reloaded
        // every step: two rows a step halve that. Each column still adds its rows in order (the
        // same bits). On a Zen 4 without AVX-512, 1 thread, medians of 21 alternated rounds in
        // one process: float32 NC 4096x1024 statistics 0.96-0.97x the time, NC 256x1024 forward
        // training 0.97x; bf16 1.00x.
        for (; nv > NV_CONTIG && r + 2 <= nr; r += 2) {
            prefetch_next(x + r * ld, ahead * ld, (size_t)tw * sizeof(bn_act));
            prefetch_next(x + (r + 1) * ld, ahead * ld, (size_t)tw * sizeof(bn_act));
            for (int i = 0; i < nv; i++) {
                vd d[2], e[2];
                BN_DIFF_AT(d, x + r * ld + i * VL, k, i);
                BN_DIFF_AT(e, x + (r + 1) * ld + i * VL, k, i);
                acc_stats(s1 + 2 * i, s2 + 2 * i, d);
                acc_stats(s1 + 2 * i, s2 + 2 * i, e);
            }
        }
        for (; r < nr; r++) { // one row a step (and an odd count's last row)
            prefetch_next(x + r * ld, ahead * ld, (size_t)tw * sizeof(bn_act));
            for (int i = 0; i < nv; i++) {
                vd d[2];
                BN_DIFF_AT(d, x + r * ld + i * VL, k, i);
                acc_stats(s1 + 2 * i, s2 + 2 * i, d);
            }
        }
    } else {
        for (ptrdiff_t r = 0; r < nr; r++) stats_part(s1, s2, k, x + r * ld, tw);
    }
    lanes_store(a1, s1, nv);
    lanes_store(a2, s2, nv);
}

static void stats_tile(double *a1, double *a2, const double *ks, const bn_act *x, ptrdiff_t ld,
                       ptrdiff_t nr, ptrdiff_t tw, ptrdiff_t ahead, int nv) {
    if (nv == NV) stats_tile_k(a1, a2, ks, x, ld, nr, tw, ahead, NV);
    else stats_tile_k(a1, a2, ks, x, ld, nr, tw, ahead, NV_CONTIG);
}

static void cl_stats(double *sum, double *m2, const void *xv, ptrdiff_t ld, ptrdiff_t nrows,
                     ptrdiff_t tailn, ptrdiff_t wn, int fetch) {
    const bn_act *x = xv;
    // sum, m2: (wn,)
    // x: (nrows, ld) and a partial row of tailn
    double ks[BN_KERNEL_COLS], a1[BN_KERNEL_COLS], a2[BN_KERNEL_COLS];
    const ptrdiff_t kn = nrows > 0 ? wn : tailn; // K: the first row (or the partial one)
    for (ptrdiff_t w0 = 0; w0 < wn; w0 += TILE) {
        for (int i = 0; i < NV; i++) {
            const vf v = va_load_n(x + w0 + i * VL, clampn(kn - w0 - i * VL, VL));
            vd_store(ks + w0 + 2 * i * HV, vd_finite_or_zero(vd_lo(v)));
            vd_store(ks + w0 + (2 * i + 1) * HV, vd_finite_or_zero(vd_hi(v)));
        }
        for (ptrdiff_t j = w0; j < w0 + TILE; j++) a1[j] = a2[j] = 0.0;
    }
    const ptrdiff_t slab = slab_rows(ld, wn, 16), ahead = rows_ahead(wn, slab, fetch);
    const int nv = ld == wn ? NV_CONTIG : NV;
    const ptrdiff_t tile = nv * VL;
    for (ptrdiff_t r0 = 0; r0 < nrows; r0 += slab) {
        const ptrdiff_t nr = nrows - r0 < slab ? nrows - r0 : slab;
        for (ptrdiff_t w0 = 0; w0 < wn; w0 += tile) {
            stats_tile(a1 + w0, a2 + w0, ks + w0, x + r0 * ld + w0, ld, nr,
                       wn - w0 < tile ? wn - w0 : tile, ahead, nv);
        }
    }
    for (ptrdiff_t w0 = 0; w0 < tailn; w0 += tile) { // the partial row
        stats_tile(a1 + w0, a2 + w0, ks + w0, x + nrows * ld + w0, ld, 1,
                   tailn - w0 < tile ? tailn - w0 : tile, ahead, nv);
    }
    if (nrows == 0) { // only the partial row: some columns have no value
        for (ptrdiff_t j = 0; j < wn; j++) {
            shifted_result(&sum[j], &m2[j], (double)(j < tailn), ks[j], a1[j], a2[j]);
        }
        return;
    }
    const double n0 = (double)nrows, n1 = n0 + 1.0, i0 = 1.0 / n0, i1 = 1.0 / n1;
    for (ptrdiff_t j = 0; j < wn; j++) { // branch-free, so that it vectorizes
        const int t = j < tailn;
        const double n = t ? n1 : n0, inv = t ? i1 : i0, m = a2[j] - a1[j] * (a1[j] * inv);
        sum[j] = n * ks[j] + a1[j];
        m2[j] = m < 0.0 ? 0.0 : m; // rounding only; NaN stays NaN
    }
}

// fuse((x - m)*s + h) of the 2*VL values at xp (rp: the residual's, or NULL) into *a, *b, in
// va_load2's order; m, s, h: the constants of *a, then of *b
static BN_ALWAYS_INLINE void apply_pair(vf *a, vf *b, const bn_act *xp, const bn_act *rp, int relu,
                                        const vf *m, const vf *s, const vf *h) {
    va_load2(xp, a, b);
    *a = vf_fma(vf_sub(*a, m[0]), s[0], h[0]), *b = vf_fma(vf_sub(*b, m[1]), s[1], h[1]);
    if (rp != NULL) {
        vf ra, rb;
        va_load2(rp, &ra, &rb);
        *a = vf_add(*a, ra), *b = vf_add(*b, rb);
    }
    if (relu) *a = vf_gate(*a, *a), *b = vf_gate(*b, *b);
}

static int aligned_vf(const bn_act *p) { return ((uintptr_t)p % (sizeof(bn_act) * VL)) == 0; }

// The elementwise kernels walk rows that are pieces of longer ones (ld > wn) 4 at a time, column
// vector by column vector: 4 sequential streams for the prefetchers, the constants of a vector
// loaded once for the 4 rows, and (per column vector) all 4 rows read before any is written, so
// that a row stride of a multiple of 4 KiB does not make a load wait for the store to the row
// above it (4K aliasing). Contiguous rows (ld == wn: NHWC and NC with a whole row in the unit)
// are one array; when the output streams they are walked in order one row at a time: a single
// stream in and one out (on a 2-core Zen 4, NHWC 32x256x56x56 inference 16.2 -> 8.6 ms and
// backward 62 -> 54 ms against 4 rows at a time, medians of 3 rounds; the 4 rows of 1 KiB fill
// a 4 KiB page as 4 short streams). In cache they take the 4-row tiles too (NC 32x64 backward
// 0.80-0.85x the time, NC 32x256 inference 0.80x). Rows about BN_PREFETCH_BYTES ahead are
// fetched in tensors not expected in cache (bn_plan_fetch), as the reductions do (NC 4096x1024
// inference 1.6-2.2 -> 1.1-1.2 ms; NHWC 32x256x56x56 forward training 16-21 -> 14-16 ms), except
// by the backward's dinp over contiguous rows that stream (cl_dinp_k says why). The fetch of a
// row's lines is spread over the column loop, each line as its columns come (cl_dinp_k gives the
// backward's figures): on a Zen 5, 1 thread, `bn_ab` both orders, forward training NHWC
// 32x512x28x28 and NC 16384x512 0.82-0.85x the time (bf16 0.81-0.88x, AVX2 0.88-0.91x),
// inference NHWC 32x512x28x28 0.89-0.92x, NHWC 32x256x56x56 0.94-0.96x; 2 threads 0.94-1.04x;
// tensors in cache, not fetched, unchanged. Contiguous rows of at most TILE columns keep the
// constants in registers rather than loading them for each row: float32 NC 32x64 inference on a
// Zen 4, medians over 21-25 processes, 0.44-0.46 -> 0.38-0.40 us. The fastest processes are equal
// (0.36-0.37 us); fewer fall into a slow mode (up to 0.9 us) whose cause was not found.

static BN_ALWAYS_INLINE void cl_apply_k(bn_act *out, const bn_act *x, const bn_act *res, int relu, ptrdiff_t ld,
                     ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn, const float *mh,
                     const float *sc, const float *sh, int stream, int fetch) {
    // out, x: (nrows, ld) and a partial row of tailn
    // mh, sc, sh: (wn,)
    const int st = stream && aligned_vf(out) && ld % VL == 0; // then every full vector is aligned
    // 4 rows at a time share the loads of the constants; contiguous rows (ld == wn) go one by
    // one when short (in registers, below) or streamed (one linear stream: 4 at a time took
    // 1.01-1.04x the time of NHWC 8 and 32 x256x56x56 backward on a 2-core Zen 4, i.e. noise)
    const ptrdiff_t rows4 = ld == wn && (wn <= TILE || stream) ? 0 : nrows - nrows % 4;
    const ptrdiff_t ahead = rows_ahead(wn, 4, fetch);
    // the constants in va_load2's lanes for the pair loops (VA_PAIR), not for short contiguous rows
    const ptrdiff_t pairs = VA_PAIR && wn <= BN_KERNEL_ROW_COLS && !(ld == wn && wn <= TILE) ? wn - wn % (2 * VL) : 0;
    float pm[VA_PAIR ? BN_KERNEL_ROW_COLS : 1], ps[VA_PAIR ? BN_KERNEL_ROW_COLS : 1];
    float ph[VA_PAIR ? BN_KERNEL_ROW_COLS : 1];
    if (pairs > 0) pair_order_f(pm, mh, pairs), pair_order_f(ps, sc, pairs), pair_order_f(ph, sh, pairs);
    ptrdiff_t r = 0;
    for (; r < rows4; r += 4) {
        const bn_act *x0 = x + r * ld;
        bn_act *o0 = out + r * ld;
        ptrdiff_t j = 0;
        for (; j < pairs; j += 2 * VL) { // as below, two vectors a row
            prefetch_rows4(x0 + j, ld, ahead * ld, 2 * VL * sizeof(bn_act));
            const vf m[2] = {vf_load(pm + j), vf_load(pm + j + VL)}, s[2] = {vf_load(ps + j), vf_load(ps + j + VL)};
            const vf h[2] = {vf_load(ph + j), vf_load(ph + j + VL)};
            vf a[4], b[4];
            for (int i = 0; i < 4; i++) apply_pair(a + i, b + i, x0 + i * ld + j, opt(res, (r + i) * ld + j), relu, m, s, h);
            for (int i = 0; i < 4; i++) {
                if (st) va_stream2(o0 + i * ld + j, a[i], b[i]);
                else va_store2(o0 + i * ld + j, a[i], b[i]);
            }
        }
        for (; j + VL <= wn; j += VL) {
            prefetch_rows4(x0 + j, ld, ahead * ld, VL * sizeof(bn_act));
            const vf m = vf_load(mh + j), s = vf_load(sc + j), h = vf_load(sh + j);
            const ptrdiff_t at = r * ld + j;
            const vf y0 = fuse(vf_fma(vf_sub(va_load(x0 + j), m), s, h), res, at, VL, relu);
            const vf y1 = fuse(vf_fma(vf_sub(va_load(x0 + ld + j), m), s, h), res, at + ld, VL, relu);
            const vf y2 = fuse(vf_fma(vf_sub(va_load(x0 + 2 * ld + j), m), s, h), res, at + 2 * ld, VL, relu);
            const vf y3 = fuse(vf_fma(vf_sub(va_load(x0 + 3 * ld + j), m), s, h), res, at + 3 * ld, VL, relu);
            if (st) {
                va_stream(o0 + j, y0);
                va_stream(o0 + ld + j, y1);
                va_stream(o0 + 2 * ld + j, y2);
                va_stream(o0 + 3 * ld + j, y3);
            } else {
                va_store(o0 + j, y0);
                va_store(o0 + ld + j, y1);
                va_store(o0 + 2 * ld + j, y2);
                va_store(o0 + 3 * ld + j, y3);
            }
        }
        if (j < wn) {
            const ptrdiff_t t = wn - j;
            prefetch_rows4(x0 + j, ld, ahead * ld, (size_t)t * sizeof(bn_act));
            const vf m = vf_load_n(mh + j, t), s = vf_load_n(sc + j, t), h = vf_load_n(sh + j, t);
            for (int i = 0; i < 4; i++) {
                const vf v = va_load_n(x0 + i * ld + j, t);
                va_store_n(o0 + i * ld + j, fuse(vf_fma(vf_sub(v, m), s, h), res, (r + i) * ld + j, t, relu), t);
            }
        }
    }
    if (ld == wn && wn <= TILE) { // short contiguous rows: the constants in registers for all rows
        vf m[NV], s[NV], h[NV];
        const int nv = (int)((wn + VL - 1) / VL);
        for (int i = 0; i < nv; i++) {
            const ptrdiff_t t = wn - i * VL < VL ? wn - i * VL : VL;
            m[i] = vf_load_n(mh + i * VL, t);
            s[i] = vf_load_n(sc + i * VL, t);
            h[i] = vf_load_n(sh + i * VL, t);
        }
        for (; r < nrows; r++) {
            const ptrdiff_t at = r * ld;
            prefetch_next(x + at, ahead * ld, (size_t)wn * sizeof(bn_act));
            for (int i = 0; i < nv; i++) {
                const ptrdiff_t e = at + i * VL, t = wn - i * VL < VL ? wn - i * VL : VL;
                const vf y = fuse(vf_fma(vf_sub(vf_load_k(x + e, t), m[i]), s[i], h[i]), res, e, t, relu);
                if (t < VL) va_store_n(out + e, y, t);
                else if (st) va_stream(out + e, y);
                else va_store(out + e, y);
            }
        }
    }
    for (; r <= nrows; r++) { // one row at a time (contiguous rows, the last rows), the partial row
        const ptrdiff_t n = r < nrows ? wn : tailn, at = r * ld;
        ptrdiff_t j = 0;
        for (; j < pairs && j + 2 * VL <= n; j += 2 * VL) {
            prefetch_next(x + at + j, ahead * ld, 2 * VL * sizeof(bn_act));
            const vf m[2] = {vf_load(pm + j), vf_load(pm + j + VL)}, s[2] = {vf_load(ps + j), vf_load(ps + j + VL)};
            const vf h[2] = {vf_load(ph + j), vf_load(ph + j + VL)};
            vf a, b;
            apply_pair(&a, &b, x + at + j, opt(res, at + j), relu, m, s, h);
            if (st) va_stream2(out + at + j, a, b);
            else va_store2(out + at + j, a, b);
        }
        for (; j + VL <= n; j += VL) {
            prefetch_next(x + at + j, ahead * ld, VL * sizeof(bn_act));
            const vf y = fuse(vf_fma(vf_sub(va_load(x + at + j), vf_load(mh + j)), vf_load(sc + j),
                                     vf_load(sh + j)), res, at + j, VL, relu);
            if (st) va_stream(out + at + j, y);
            else va_store(out + at + j, y);
        }
        if (j < n) {
            const ptrdiff_t t = n - j;
            prefetch_next(x + at + j, ahead * ld, (size_t)t * sizeof(bn_act));
            const vf y = vf_fma(vf_sub(va_load_n(x + at + j, t), vf_load_n(mh + j, t)),
                                vf_load_n(sc + j, t), vf_load_n(sh + j, t));
            va_store_n(out + at + j, fuse(y, res, at + j, t, relu), t);
        }
    }
    if (stream) bn_sfence();
}

static void cl_apply(void *out, const void *x, const void *res, int relu, ptrdiff_t ld,
                     ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn, const float *mh,
                     const float *sc, const float *sh, int stream, int fetch) {
    if (res == NULL && !relu) cl_apply_k(out, x, NULL, 0, ld, nrows, tailn, wn, mh, sc, sh, stream, fetch);
    else cl_apply_k(out, x, res, relu, ld, nrows, tailn, wn, mh, sc, sh, stream, fetch);
}

// t1 += dy, t2 += dy*(x - m) of the first n (<= NV*VL) columns of one row; x may be NULL
static BN_ALWAYS_INLINE void sums_part(vd *t1, vd *t2, const vd *m, const bn_act *dyr,
                                        const bn_act *gate,
                      const bn_act *xr, ptrdiff_t n) {
    for (int i = 0; i < NV; i++) {
        const ptrdiff_t ni = clampn(n - i * VL, VL);
        if (ni == 0) break;
        const vf g = load_dy(dyr, gate, NULL, i * VL, ni);
        const vd g0 = vd_lo(g), g1 = vd_hi(g);
        t1[2 * i] = vd_add(t1[2 * i], g0);
        t1[2 * i + 1] = vd_add(t1[2 * i + 1], g1);
        if (xr == NULL) continue;
        const vf v = ni == VL ? va_load(xr + i * VL) : va_load_n(xr + i * VL, ni);
        vd d[2];
        BN_DIFF(d, v, m, i);
        d[0] = vd_keep_n(d[0], clampn(ni, HV)); // a NaN mean of a lane past n stays out
        d[1] = vd_keep_n(d[1], clampn(ni - HV, HV));
        t2[2 * i] = vd_fma(g0, d[0], t2[2 * i]);
        t2[2 * i + 1] = vd_fma(g1, d[1], t2[2 * i + 1]);
    }
}

// rows [0, nr) of one tile of tw (<= nv*VL) columns into the sums of the arrays at a1, a2
static BN_ALWAYS_INLINE void sums_tile_k(double *a1, double *a2, const double *md, const bn_act *dy,
                      const bn_act *gate, const bn_act *x, ptrdiff_t ld, ptrdiff_t nr, ptrdiff_t tw,
                      ptrdiff_t ahead, int nv) {
    vd m[2 * NV], t1[2 * NV], t2[2 * NV];
    for (int i = 0; i < 2 * nv; i++) {
        m[i] = vd_load(md + i * HV);
        t1[i] = vd_load(a1 + i * HV);
        t2[i] = vd_load(a2 + i * HV);
    }
    if (tw == nv * VL && x != NULL) {
        for (ptrdiff_t r = 0; r < nr; r++) {
            prefetch_next(dy + r * ld, ahead * ld, (size_t)tw * sizeof(bn_act));
            prefetch_next(x + r * ld, ahead * ld, (size_t)tw * sizeof(bn_act));
            for (int i = 0; i < nv; i++) {
                const bn_act *gp = dy + r * ld + i * VL;
                const vf gv = gate != NULL ? load_dy(gp, gate + r * ld + i * VL, NULL, 0, VL) : vf_set1(0.0f);
                const vd g0 = gate != NULL ? vd_lo(gv) : vd_load_a(gp);
                const vd g1 = gate != NULL ? vd_hi(gv) : vd_load_a(gp + HV);
                vd d[2];
                BN_DIFF_AT(d, x + r * ld + i * VL, m, i);
                t1[2 * i] = vd_add(t1[2 * i], g0);
                t1[2 * i + 1] = vd_add(t1[2 * i + 1], g1);
                t2[2 * i] = vd_fma(g0, d[0], t2[2 * i]);
                t2[2 * i + 1] = vd_fma(g1, d[1], t2[2 * i + 1]);
            }
        }
    } else {
        for (ptrdiff_t r = 0; r < nr; r++) {
            sums_part(t1, t2, m, dy + r * ld, opt(gate, r * ld), opt(x, r * ld), tw);
        }
    }
    lanes_store(a1, t1, nv);
    lanes_store(a2, t2, nv);
}

static void sums_tile(double *a1, double *a2, const double *md, const bn_act *dy,
                      const bn_act *gate, const bn_act *x, ptrdiff_t ld, ptrdiff_t nr, ptrdiff_t tw,
                      ptrdiff_t ahead, int nv) {
    if (nv == NV) {
        if (gate == NULL) sums_tile_k(a1, a2, md, dy, NULL, x, ld, nr, tw, ahead, NV);
        else sums_tile_k(a1, a2, md, dy, gate, x, ld, nr, tw, ahead, NV);
    } else {
        if (gate == NULL) sums_tile_k(a1, a2, md, dy, NULL, x, ld, nr, tw, ahead, NV_CONTIG);
        else sums_tile_k(a1, a2, md, dy, gate, x, ld, nr, tw, ahead, NV_CONTIG);
    }
}

static void cl_sums(double *t1, double *t2, const void *dyv, const void *gatev, const void *xv,
                    const float *mean, ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn,
                    ptrdiff_t wn, int fetch) {
    const bn_act *dy = dyv, *gate = gatev, *x = xv;
    // t1, t2, mean: (wn,)
    // dy, x: (nrows, ld) and a partial row of tailn
    double md[BN_KERNEL_COLS], a1[BN_KERNEL_COLS], a2[BN_KERNEL_COLS];
    const ptrdiff_t wt = (wn + TILE - 1) / TILE * TILE; // the columns of whole tiles
    for (ptrdiff_t j = 0; j < wt; j++) {
        md[j] = j < wn ? (double)mean[j] : 0.0;
        a1[j] = a2[j] = 0.0;
    }
    // Float32 sums in cache (no fetch) take slabs of 4 rows a set period: each row's piece of the
    // unit is read whole before the next rows (at a 4 KiB row stride 8 streams rather than 32).
    // On a 2-core Zen 5, 1 thread, backward NC 64x1024 to 1024x1024, NC 4096x256 and 128x2048
    // took 0.84-1.00x the time, most 0.94-0.97x (bn_ab, both orders; NHWC 8x512x14x14 1.00x), 2
    // threads NC 256x1024 0.92x and 512x1024 0.94-0.97x. bf16 took 1.01-1.07x (presumably as its
    // bytes carry twice the values, so the accumulators' more frequent loads and stores weigh
    // more), and the fetched tensors, out of cache, 1.05-1.11x (NHWC 32x512x28x28, NC 16384x512).
    const ptrdiff_t ways = fetch || sizeof(bn_act) != sizeof(float) ? 16 : 4;
    const int nv = ld == wn ? NV_CONTIG : NV; // as in cl_stats
    // Contiguous rows of at most one tile are read in memory order, two streams that the hardware
    // prefetchers follow alone: on a Zen 5, 1 thread, backward NHWC 32x64x56x56 and NC 200704x32
    // (folded) took 0.89-0.92x the time without the fetch, 2 threads 0.96-1.02x (bn_ab, both
    // orders). Wider contiguous rows are walked tile by tile down slabs and keep it (without:
    // NHWC 32x256x56x56 1.20-1.24x). The statistics keep it too (forward training at 64 channels
    // 1.08-1.11x without).
    const int linear = ld == wn && wn <= nv * VL;
    const ptrdiff_t slab = slab_rows(ld, wn, ways), ahead = rows_ahead(wn, slab, fetch && !linear);
    const ptrdiff_t tile = nv * VL;
    for (ptrdiff_t r0 = 0; r0 < nrows; r0 += slab) {
        const ptrdiff_t nr = nrows - r0 < slab ? nrows - r0 : slab, at = r0 * ld;
        for (ptrdiff_t w0 = 0; w0 < wn; w0 += tile) {
            sums_tile(a1 + w0, a2 + w0, md + w0, dy + at + w0, opt(gate, at + w0), opt(x, at + w0),
                      ld, nr, wn - w0 < tile ? wn - w0 : tile, ahead, nv);
        }
    }
    for (ptrdiff_t w0 = 0; w0 < tailn; w0 += tile) { // the partial row
        const ptrdiff_t at = nrows * ld + w0;
        sums_tile(a1 + w0, a2 + w0, md + w0, dy + at, opt(gate, at), opt(x, at), ld, 1,
                  tailn - w0 < tile ? tailn - w0 : tile, ahead, nv);
    }
    for (ptrdiff_t j = 0; j < wn; j++) {
        t1[j] = a1[j];
        t2[j] = x != NULL ? a2[j] : 0.0;
    }
}

// dinp = sc*((dy - dm) - (x - m)*xs) in double, rounded once to float
static vf dinp_vec(vf g, vf v, const vd *m, const vd *dm, const vd *xs, const vd *sc) {
    const vd t0 = vd_fnma(vd_sub(vd_lo(v), m[0]), xs[0], vd_sub(vd_lo(g), dm[0]));
    const vd t1 = vd_fnma(vd_sub(vd_hi(v), m[1]), xs[1], vd_sub(vd_hi(g), dm[1]));
    return vf_from_vd(vd_mul(t0, sc[0]), vd_mul(t1, sc[1]));
}

// dinp_vec of the VL values at `at`. Without a gate or dres each half is converted as it is
// loaded (no shuffle; on a 2-core Zen 4, 1 thread, float32 backward NC 64x1024, in L2, took
// 0.83-0.93x the time of widening whole vectors: medians of 9 alternated rounds, four runs).
static BN_ALWAYS_INLINE vf dinp_at(const bn_act *dy, const bn_act *gate, bn_act *dres, const bn_act *x, ptrdiff_t at,
                  const vd *m, const vd *dm, const vd *xs, const vd *sc) {
    if (gate != NULL || dres != NULL) return dinp_vec(load_dy(dy, gate, dres, at, VL), va_load(x + at), m, dm, xs, sc);
    const vd t0 = vd_fnma(vd_sub(vd_load_a(x + at), m[0]), xs[0], vd_sub(vd_load_a(dy + at), dm[0]));
    const vd t1 = vd_fnma(vd_sub(vd_load_a(x + at + HV), m[1]), xs[1], vd_sub(vd_load_a(dy + at + HV), dm[1]));
    return vf_from_vd(vd_mul(t0, sc[0]), vd_mul(t1, sc[1]));
}

// dinp_vec of the 2*VL values at `at` into *a, *b, in va_load2's order, dy through the gate and
// into dres as load_dy does; m, dm, xs, sc: the terms of *a, those of *b bo vectors further on
// (0: the same terms; 2: the next ones)
static BN_ALWAYS_INLINE void dinp_pair(vf *a, vf *b, const bn_act *dy, const bn_act *gate,
                                       bn_act *dres, const bn_act *x, ptrdiff_t at, const vd *m,
                                       const vd *dm, const vd *xs, const vd *sc, int bo) {
    vf ga, gb, xa, xb;
    va_load2(dy + at, &ga, &gb);
    if (gate != NULL) {
        vf ca, cb;
        va_load2(gate + at, &ca, &cb);
        ga = vf_gate(ga, ca), gb = vf_gate(gb, cb);
    }
    if (dres != NULL) va_store2(dres + at, ga, gb);
    va_load2(x + at, &xa, &xb);
    *a = dinp_vec(ga, xa, m, dm, xs, sc), *b = dinp_vec(gb, xb, m + bo, dm + bo, xs + bo, sc + bo);
}

// the terms of dinp_vec for columns [j, j + VL)
static BN_ALWAYS_INLINE void dinp_terms(vd *m, vd *dm, vd *xs, vd *sc, const double *mean,
                                        const double *dy_mean, const double *xmu_scale,
                                        const double *scale, ptrdiff_t j) {
    m[0] = vd_load(mean + j), m[1] = vd_load(mean + j + HV);
    dm[0] = vd_load(dy_mean + j), dm[1] = vd_load(dy_mean + j + HV);
    xs[0] = vd_load(xmu_scale + j), xs[1] = vd_load(xmu_scale + j + HV);
    sc[0] = vd_load(scale + j), sc[1] = vd_load(scale + j + HV);
}

static BN_ALWAYS_INLINE void cl_dinp_k(bn_act *dinp, bn_act *dres, const bn_act *dy, const bn_act *gate, const bn_act *x,
                    ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn,
                    const double *mean, const double *dy_mean, const double *xmu_scale, const double *scale,
                    int stream, int fetch) {
    // dinp, dres, dy, gate, x: (nrows, ld) and a partial row of tailn
    // mean, dy_mean, xmu_scale, scale: (wn,) rounded up to a multiple of VL, the padding finite
    const int st = stream && aligned_vf(dinp) && ld % VL == 0; // then every full vector is aligned
    // Contiguous rows that stream (two sequential streams in, one out) are fetched by the hardware
    // alone on AMD CPUs (the BN_STREAM_NTA kind): with the one-row loop below, the fetch 8 KiB
    // ahead made the whole backward slower there (without it: NHWC 32x256x56x56 0.91x the time
    // on 1 thread and 0.92x on 2, NC 65536x256 0.89x, NHWC 32x64x56x56 0.97x, medians of 5-7
    // alternated rounds; bf16 NHWC 32x256x56x56 0.87-0.97x in 3; a Zen 4 without AVX-512; through
    // the 4-row loop, before 45286b4, the same pass had taken 1.32x the time without it). On a
    // 2-vCPU Xeon guest (2 MiB L2, 480 MiB L3) the fetch is the faster: backward NHWC
    // 32x256x56x56 0.92-0.93x the time with it on 1 thread and 0.87-0.89x on 2, NC 65536x256
    // 0.89x and 0.82x, NHWC 32x512x28x28 (1 thread: its one unit of 512 columns) 0.82-0.87x, bf16
    // NHWC 32x256x56x56 0.69-0.79x (bn_ab, both orders).
    const ptrdiff_t ahead = ld == wn && st && stream == BN_STREAM_NTA ? 0 : rows_ahead(wn, 4, fetch);
    // rows 4 at a time, sharing the loads of the terms, as cl_apply; contiguous rows that stream
    // one by one in the loop below. The 4-row loop fetches the lines `ahead` rows down as it
    // reaches their columns, not all 4 rows' lines at once before them (128 prefetches in a
    // burst for a unit of 256 float32 columns, where perf put a fifth of the pass's samples): on
    // a Zen 5, 1 thread, backward NC 16384x512 and NHWC 32x512x28x28 took 0.65-0.69x the time,
    // NC 4096x1024 0.86x, NHWC 32x2048x7x7 0.89-0.93x; 2 threads 0.89-0.95x; bf16 0.91-0.97x;
    // AVX2 0.76-0.95x (bn_ab, both orders).
    const ptrdiff_t rows4 = ld == wn && stream ? 0 : nrows - nrows % 4;
    // the terms in va_load2's lanes for the pair loops (VA_PAIR)
    const ptrdiff_t pairs = VA_PAIR && wn <= BN_KERNEL_COLS ? wn - wn % (2 * VL) : 0;
    double pm[VA_PAIR ? BN_KERNEL_COLS : 1], pdm[VA_PAIR ? BN_KERNEL_COLS : 1];
    double pxs[VA_PAIR ? BN_KERNEL_COLS : 1], psc[VA_PAIR ? BN_KERNEL_COLS : 1];
    if (pairs > 0) {
        pair_order_d(pm, mean, pairs), pair_order_d(pdm, dy_mean, pairs);
        pair_order_d(pxs, xmu_scale, pairs), pair_order_d(psc, scale, pairs);
    }
    ptrdiff_t r = 0;
    for (; r < rows4; r += 4) {
        const ptrdiff_t at = r * ld;
        ptrdiff_t j = 0;
        for (; j < pairs; j += 2 * VL) { // as below, two vectors a row
            prefetch_rows4(dy + at + j, ld, ahead * ld, 2 * VL * sizeof(bn_act));
            prefetch_rows4(x + at + j, ld, ahead * ld, 2 * VL * sizeof(bn_act));
            vd m[4], dm[4], xs[4], sc[4];
            dinp_terms(m, dm, xs, sc, pm, pdm, pxs, psc, j);
            dinp_terms(m + 2, dm + 2, xs + 2, sc + 2, pm, pdm, pxs, psc, j + VL);
            vf a[4], b[4];
            for (int i = 0; i < 4; i++) dinp_pair(a + i, b + i, dy, gate, dres, x, at + i * ld + j, m, dm, xs, sc, 2);
            for (int i = 0; i < 4; i++) {
                if (st) va_stream2(dinp + at + i * ld + j, a[i], b[i]);
                else va_store2(dinp + at + i * ld + j, a[i], b[i]);
            }
        }
        for (; j < wn; j += VL) {
            vd m[2], dm[2], xs[2], sc[2];
            prefetch_rows4(dy + at + j, ld, ahead * ld, VL * sizeof(bn_act));
            prefetch_rows4(x + at + j, ld, ahead * ld, VL * sizeof(bn_act));
            dinp_terms(m, dm, xs, sc, mean, dy_mean, xmu_scale, scale, j);
            if (j + VL <= wn) { // whole vectors, all 4 rows read before any is written
                vf y[4];
                for (int i = 0; i < 4; i++) y[i] = dinp_at(dy, gate, dres, x, at + i * ld + j, m, dm, xs, sc);
                for (int i = 0; i < 4; i++) {
                    if (st) va_stream(dinp + at + i * ld + j, y[i]);
                    else va_store(dinp + at + i * ld + j, y[i]);
                }
                continue;
            }
            const ptrdiff_t t = wn - j;
            for (int i = 0; i < 4; i++) {
                const ptrdiff_t e = at + i * ld + j;
                const vf g = load_dy(dy, gate, dres, e, t);
                va_store_n(dinp + e, dinp_vec(g, vf_load_k(x + e, t), m, dm, xs, sc), t);
            }
        }
    }
    // One row at a time: contiguous rows that stream, the last rows, the partial row. The rows that
    // stream once went through the 4-row loop one row at a time; this plain loop took 0.69-0.80x
    // the time (float32 NHWC 1x256x400 in L2 with streaming stores forced, a Zen 4 without
    // AVX-512, 1 thread, medians of 9 alternated rounds, two runs); the whole backward of NHWC
    // 32x256x56x56 0.83-0.89x (1 thread) and 0.92x (2 threads), NC 65536x256 and NHWC
    // 32x64x56x56 0.84x and 0.83x (7 rounds). The results are the same bits. Its fetch too
    // goes line by line with the columns (on the Zen 5 with every tensor above 256 KiB fetched,
    // as on other CPUs: backward NHWC 8x256x56x56, NC 4096x256 0.97-1.03x, the noise; NHWC
    // 4x512x28x28 0.84-0.94x).
    for (; r <= nrows; r++) {
        const ptrdiff_t n = r < nrows ? wn : tailn, at = r * ld;
        ptrdiff_t j = 0;
        for (; j < pairs && j + 2 * VL <= n; j += 2 * VL) {
            prefetch_next(dy + at + j, ahead * ld, 2 * VL * sizeof(bn_act));
            prefetch_next(x + at + j, ahead * ld, 2 * VL * sizeof(bn_act));
            vd m[4], dm[4], xs[4], sc[4];
            dinp_terms(m, dm, xs, sc, pm, pdm, pxs, psc, j);
            dinp_terms(m + 2, dm + 2, xs + 2, sc + 2, pm, pdm, pxs, psc, j + VL);
            vf a, b;
            dinp_pair(&a, &b, dy, gate, dres, x, at + j, m, dm, xs, sc, 2);
            if (st) va_stream2(dinp + at + j, a, b);
            else va_store2(dinp + at + j, a, b);
        }
        for (; j + VL <= n; j += VL) {
            prefetch_next(dy + at + j, ahead * ld, VL * sizeof(bn_act));
            prefetch_next(x + at + j, ahead * ld, VL * sizeof(bn_act));
            vd m[2], dm[2], xs[2], sc[2];
            dinp_terms(m, dm, xs, sc, mean, dy_mean, xmu_scale, scale, j);
            const vf y = dinp_at(dy, gate, dres, x, at + j, m, dm, xs, sc);
            if (st) va_stream(dinp + at + j, y);
            else va_store(dinp + at + j, y);
        }
        if (j < n) {
            const ptrdiff_t t = n - j, e = at + j;
            vd m[2], dm[2], xs[2], sc[2];
            dinp_terms(m, dm, xs, sc, mean, dy_mean, xmu_scale, scale, j);
            va_store_n(dinp + e, dinp_vec(load_dy(dy, gate, dres, e, t), vf_load_k(x + e, t), m, dm, xs, sc), t);
        }
    }
    if (st) bn_sfence();
}

static void cl_dinp(void *dinp, void *dres, const void *dy, const void *gate, const void *x,
                    ptrdiff_t ld, ptrdiff_t nrows, ptrdiff_t tailn, ptrdiff_t wn,
                    const double *mean, const double *dy_mean, const double *xmu_scale, const double *scale,
                    int stream, int fetch) {
    if (gate == NULL && dres == NULL) cl_dinp_k(dinp, NULL, dy, NULL, x, ld, nrows, tailn, wn, mean, dy_mean, xmu_scale, scale, stream, fetch);
    else cl_dinp_k(dinp, dres, dy, gate, x, ld, nrows, tailn, wn, mean, dy_mean, xmu_scale, scale, stream, fetch);
}

// ----------------------------------------------------------------------------
// runs view

// the pairwise tree over the LANES = TILE lanes: ((l0 + l(T/2)) + ...), fixed by TILE
static double lanes_total(double *a) {
    for (int h = TILE / 2; h >= 1; h /= 2) {
        for (int j = 0; j < h; j++) a[j] += a[j + h];
    }
    return a[0];
}

// The runs of a block are `stride` elements apart and each starts cold: the hardware prefetcher
// needs a few of its lines before it follows (measured: the stats and sums passes of NCHW
// 32x256x56x56, in L3, took about 1.4x as long without this, on a 2-core Xeon). So while a tile
// or vector of one run is read, the same bytes of the next run (the block's next line, or the
// next block's first) are fetched (prefetch_next). The backward's (run_sums, run_dinp) only
// when `fetch` (bn_plan_fetch: tensors above 256 KiB and, on AMD CPUs, not expected in cache;
// without a fetch, on a 2-core Zen 4, small ones took 0.97-1.00x the time): on a 2-core Zen 5,
// float32 NCHW backward of 1.5 to 6 MiB tensors took 0.84-0.97x the time without them on 1
// thread, 0.79-0.85x on 2 (bn_ab, both orders); its forward training and inference 0.97-1.07x,
// so the forward's runs keep theirs.
static void run_stats(double *sum, double *m2, const void *xv, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len) {
    const bn_act *x = xv;
    // x: nruns runs of (len,) at stride
    const double kd = isfinite(va_get(x)) ? (double)va_get(x) : 0.0;
    vd k[2 * NV], s1[2 * NV], s2[2 * NV];
    for (int i = 0; i < 2 * NV; i++) {
        k[i] = vd_set1(kd);
        s1[i] = s2[i] = vd_zero();
    }
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const bn_act *xr = x + r * stride;
        ptrdiff_t p = 0;
        for (; p + TILE <= len; p += TILE) {
            prefetch_next(xr + p, stride, TILE * sizeof(bn_act));
            for (int i = 0; i < NV; i++) {
                vd d[2];
                BN_DIFF_AT(d, xr + p + i * VL, k, i);
                acc_stats(s1 + 2 * i, s2 + 2 * i, d);
            }
        }
        if (p < len) stats_part(s1, s2, k, xr + p, len - p);
    }
    double a1[TILE], a2[TILE];
    lanes_store(a1, s1, NV);
    lanes_store(a2, s2, NV);
    const double t1 = lanes_total(a1), t2 = lanes_total(a2);
    shifted_result(sum, m2, (double)(nruns * len), kd, t1, t2);
}

// first elements of o up to its next VL-float boundary (at most len)
static ptrdiff_t head_to_aligned(const bn_act *o, ptrdiff_t len) {
    const ptrdiff_t mis = (ptrdiff_t)(((uintptr_t)o / sizeof(bn_act)) % VL);
    const ptrdiff_t h = mis == 0 ? 0 : VL - mis;
    return h < len ? h : len;
}

// one run of len values: o = fuse((x - m)*s + h), fetching the values `ahead` elements further
// on; stream: aligned non-temporal stores (the caller fences), with the fetch as values read a
// last time if it is BN_STREAM_NTA. That fetch is the faster on AMD CPUs only: on a 2-core Zen 4,
// 1 thread, NCHW 32x256x56x56 inference took 7.8 ms with prefetch_next, 6.0 with no fetch and 5.5
// with prefetchnta (medians of 5 alternated rounds), where on a 2-core Xeon (2 MiB L2, 480 MiB
// L3) prefetchnta made it 2.3-2.5x slower than prefetch_next and no fetch 1.15-1.27x (bn_ab, 1
// thread, 4 processes of 8 rounds). The rows view's passes and the backward's dinp keep
// prefetch_next: there prefetchnta made NHWC 32x256x56x56 inference 1.37x and backward 1.07x
// slower (the Zen 4).
static BN_ALWAYS_INLINE void apply_run(bn_act *o, const bn_act *xr, const bn_act *rr, int relu,
                                       ptrdiff_t len, ptrdiff_t ahead, vf m, vf s, vf h, int stream) {
    ptrdiff_t p = 0;
    const vf m2[2] = {m, m}, s2[2] = {s, s}, h2[2] = {h, h};
    vf a, b;
    if (stream) {
        const int once = stream == BN_STREAM_NTA;
        p = head_to_aligned(o, len);
        if (p > 0) va_store_n(o, fuse(vf_fma(vf_sub(va_load_n(xr, p), m), s, h), rr, 0, p, relu), p);
        for (; VA_PAIR && p + 2 * VL <= len; p += 2 * VL) {
            prefetch_ahead(xr + p, ahead, 2 * VL * sizeof(bn_act), once);
            apply_pair(&a, &b, xr + p, opt(rr, p), relu, m2, s2, h2);
            va_stream2(o + p, a, b);
        }
        for (; p + VL <= len; p += VL) {
            prefetch_ahead(xr + p, ahead, VL * sizeof(bn_act), once);
            va_stream(o + p, fuse(vf_fma(vf_sub(va_load(xr + p), m), s, h), rr, p, VL, relu));
        }
    } else {
        for (; VA_PAIR && p + 2 * VL <= len; p += 2 * VL) {
            prefetch_next(xr + p, ahead, 2 * VL * sizeof(bn_act));
            apply_pair(&a, &b, xr + p, opt(rr, p), relu, m2, s2, h2);
            va_store2(o + p, a, b);
        }
        for (; p + VL <= len; p += VL) {
            prefetch_next(xr + p, ahead, VL * sizeof(bn_act));
            va_store(o + p, fuse(vf_fma(vf_sub(va_load(xr + p), m), s, h), rr, p, VL, relu));
        }
    }
    if (p < len) va_store_n(o + p, fuse(vf_fma(vf_sub(va_load_n(xr + p, len - p), m), s, h), rr, p, len - p, relu), len - p);
}

static BN_ALWAYS_INLINE void run_apply_k(bn_act *out, const bn_act *x, const bn_act *res, int relu, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len, float mh, float sc, float sh, int stream) {
    // out, x, res: nruns runs of (len,) at stride; each run fetches the next one
    const vf m = vf_set1(mh), s = vf_set1(sc), h = vf_set1(sh);
    for (ptrdiff_t r = 0; r < nruns; r++) {
        apply_run(out + r * stride, x + r * stride, opt(res, r * stride), relu, len, stride, m, s, h, stream);
    }
    if (stream) bn_sfence();
}

static void run_apply(void *out, const void *x, const void *res, int relu, ptrdiff_t stride,
                      ptrdiff_t nruns, ptrdiff_t len, float mh, float sc, float sh, int stream) {
    if (res == NULL && !relu) run_apply_k(out, x, NULL, 0, stride, nruns, len, mh, sc, sh, stream);
    else run_apply_k(out, x, res, relu, stride, nruns, len, mh, sc, sh, stream);
}

static BN_ALWAYS_INLINE void run_sums_k(double *t1, double *t2, const bn_act *dy, const bn_act *gate, const bn_act *x,
                     float mean, ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, int fetch) {
    // dy, gate, x: nruns runs of (len,) at stride; gate, x may be NULL (x NULL: *t2 = 0)
    const ptrdiff_t ahead = fetch ? stride : 0; // the next run's bytes (0: no fetch)
    vd m[2 * NV], a1[2 * NV], a2[2 * NV];
    for (int i = 0; i < 2 * NV; i++) {
        m[i] = vd_set1((double)mean);
        a1[i] = a2[i] = vd_zero();
    }
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const bn_act *gr = dy + r * stride, *xr = opt(x, r * stride), *gt = opt(gate, r * stride);
        ptrdiff_t p = 0;
        if (gt != NULL) { // the gated values go through the same lanes as below
            for (; p + TILE <= len; p += TILE) sums_part(a1, a2, m, gr + p, gt + p, opt(xr, p), TILE);
        } else if (xr != NULL) {
            for (; p + TILE <= len; p += TILE) {
                prefetch_next(gr + p, ahead, TILE * sizeof(bn_act));
                prefetch_next(xr + p, ahead, TILE * sizeof(bn_act));
                for (int i = 0; i < NV; i++) {
                    const bn_act *gp = gr + p + i * VL;
                    const vd g0 = vd_load_a(gp), g1 = vd_load_a(gp + HV);
                    vd d[2];
                    BN_DIFF_AT(d, xr + p + i * VL, m, i);
                    a1[2 * i] = vd_add(a1[2 * i], g0);
                    a1[2 * i + 1] = vd_add(a1[2 * i + 1], g1);
                    a2[2 * i] = vd_fma(g0, d[0], a2[2 * i]);
                    a2[2 * i + 1] = vd_fma(g1, d[1], a2[2 * i + 1]);
                }
            }
        } else {
            for (; p + TILE <= len; p += TILE) {
                prefetch_next(gr + p, ahead, TILE * sizeof(bn_act));
                for (int i = 0; i < NV; i++) {
                    a1[2 * i] = vd_add(a1[2 * i], vd_load_a(gr + p + i * VL));
                    a1[2 * i + 1] = vd_add(a1[2 * i + 1], vd_load_a(gr + p + i * VL + HV));
                }
            }
        }
        if (p < len) sums_part(a1, a2, m, gr + p, opt(gt, p), opt(xr, p), len - p);
    }
    double b1[TILE], b2[TILE];
    lanes_store(b1, a1, NV);
    lanes_store(b2, a2, NV);
    *t1 = lanes_total(b1);
    *t2 = x != NULL ? lanes_total(b2) : 0.0;
}

static void run_sums(double *t1, double *t2, const void *dy, const void *gate, const void *x,
                     float mean, ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, int fetch) {
    if (gate == NULL) run_sums_k(t1, t2, dy, NULL, x, mean, stride, nruns, len, fetch);
    else run_sums_k(t1, t2, dy, gate, x, mean, stride, nruns, len, fetch);
}

static BN_ALWAYS_INLINE void run_dinp_k(bn_act *dinp, bn_act *dres, const bn_act *dy, const bn_act *gate, const bn_act *x,
                     ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, double mean, double dy_mean,
                     double xmu_scale, double scale, int stream, int fetch) {
    // dinp, dres, dy, gate, x: nruns runs of (len,) at stride: with g = dy through the gate,
    // dres = g (when given), dinp = scale*((g - dy_mean) - (x - mean)*xmu_scale)
    const ptrdiff_t ahead = fetch ? stride : 0; // the next run's bytes (0: no fetch)
    const vd m[2] = {vd_set1(mean), vd_set1(mean)}, dm[2] = {vd_set1(dy_mean), vd_set1(dy_mean)};
    const vd xs[2] = {vd_set1(xmu_scale), vd_set1(xmu_scale)}, sc[2] = {vd_set1(scale), vd_set1(scale)};
    for (ptrdiff_t r = 0; r < nruns; r++) {
        const ptrdiff_t at = r * stride;
        const bn_act *xr = x + at;
        bn_act *o = dinp + at;
        ptrdiff_t p = 0;
        const ptrdiff_t head = stream ? head_to_aligned(o, len) : 0;
        if (head > 0) {
            va_store_n(o, dinp_vec(load_dy(dy, gate, dres, at, head), va_load_n(xr, head), m, dm, xs, sc), head);
            p = head;
        }
        for (; VA_PAIR && p + 2 * VL <= len; p += 2 * VL) {
            prefetch_next(dy + at + p, ahead, 2 * VL * sizeof(bn_act));
            prefetch_next(xr + p, ahead, 2 * VL * sizeof(bn_act));
            vf a, b;
            dinp_pair(&a, &b, dy, gate, dres, x, at + p, m, dm, xs, sc, 0);
            if (stream) va_stream2(o + p, a, b);
            else va_store2(o + p, a, b);
        }
        for (; p + VL <= len; p += VL) {
            prefetch_next(dy + at + p, ahead, VL * sizeof(bn_act));
            prefetch_next(xr + p, ahead, VL * sizeof(bn_act));
            const vf y = dinp_at(dy, gate, dres, x, at + p, m, dm, xs, sc);
            if (stream) va_stream(o + p, y);
            else va_store(o + p, y);
        }
        if (p < len) {
            const vf y = dinp_vec(load_dy(dy, gate, dres, at + p, len - p), va_load_n(xr + p, len - p), m, dm, xs, sc);
            va_store_n(o + p, y, len - p);
        }
    }
    if (stream) bn_sfence();
}

static void run_dinp(void *dinp, void *dres, const void *dy, const void *gate, const void *x,
                     ptrdiff_t stride, ptrdiff_t nruns, ptrdiff_t len, double mean, double dy_mean,
                     double xmu_scale, double scale, int stream, int fetch) {
    if (gate == NULL && dres == NULL) {
        run_dinp_k(dinp, NULL, dy, NULL, x, stride, nruns, len, mean, dy_mean, xmu_scale, scale, stream, fetch);
    } else {
        run_dinp_k(dinp, dres, dy, gate, x, stride, nruns, len, mean, dy_mean, xmu_scale, scale, stream, fetch);
    }
}

// ----------------------------------------------------------------------------
// short runs (NCHW with S < BN_SHORT_RUN): a block is one sample's nch runs of len values, run j at
// x + j*len (consecutive channels). The reductions take nsamp such blocks at once, sstride apart,
// channel by channel in a sample's order, sample after sample: each channel has its own VL lanes
// (element p of a run goes to lane p mod VL), kept in arrays between the samples (the first sample
// starts them at 0 in registers) and totalled after the last one, from registers, by a fixed
// pairwise tree (vd_total2). SHORT_TILE channels at a time, so that their lanes stay in L1; the
// tile changes no result. With one sample (N = 1) nothing goes through the arrays: on a Zen 5, 1
// thread, float32 NCHW 1x512x7 forward training took 0.45x the time of clearing, loading and
// storing the arrays at every sample and totalling them from memory, backward 0.52x, 1x512x7x7
// 0.56x and 0.66x, 8x64x14x14 0.98x and 0.97x (bn_ab; the same bits). While a run is reduced, the
// same run of the next sample is fetched (after the last sample, the next tile's first run): a
// sample's runs of a tile (6 KiB for 7x7, 25 KiB for 14x14) lie sstride after the previous
// sample's, and without the fetch perf put the reductions' time on their loads. With it, on a Zen 4
// without AVX-512, 1 thread, float32 NCHW 32x2048x7x7 forward training took 0.77x the time and
// backward 0.83x, 64x256x14x14 0.61x and 0.75x; 2 threads, 7x7: 0.82x and 0.84x (medians of 7
// alternated rounds). short_dinp reads a sample's block in order without a fetch: fetching ahead as
// short_apply does made the backward 0.99-1.13x the time (7x7 on 1 and 2 threads, 14x14).

#define SHORT_TILE 32

// from sample n of a tile of jn channels, the distance to the same run in the next sample, or
// after the last sample to the first run of the next tile
static ptrdiff_t short_ahead(ptrdiff_t n, ptrdiff_t nsamp, ptrdiff_t sstride, ptrdiff_t jn,
                             ptrdiff_t len) {
    return n + 1 < nsamp ? sstride : jn * len - n * sstride;
}

// a channel's lanes at sample n: 0 at the first, else from its arrays l1, l2 (VL doubles each)
static BN_ALWAYS_INLINE void lanes_start(vd *s1, vd *s2, const double *l1, const double *l2,
                                         ptrdiff_t n) {
    s1[0] = s1[1] = s2[0] = s2[1] = vd_zero();
    if (n > 0) {
        s1[0] = vd_load(l1), s1[1] = vd_load(l1 + HV);
        s2[0] = vd_load(l2), s2[1] = vd_load(l2 + HV);
    }
}

// after a sample: the lanes back into l1, l2, or after the last one their totals into *t1, *t2
static BN_ALWAYS_INLINE void lanes_end(const vd *s1, const vd *s2, double *l1, double *l2, int last,
                                       double *t1, double *t2) {
    if (!last) {
        vd_store(l1, s1[0]), vd_store(l1 + HV, s1[1]);
        vd_store(l2, s2[0]), vd_store(l2 + HV, s2[1]);
    } else {
        *t1 = vd_total2(s1[0], s1[1]);
        *t2 = vd_total2(s2[0], s2[1]);
    }
}

static void short_stats(double *sum, double *m2, const void *xv, ptrdiff_t nch, ptrdiff_t len,
                        ptrdiff_t nsamp, ptrdiff_t sstride) {
    const bn_act *x = xv;
    // sum, m2: (nch,); shift K of a channel: its first value (0 if not finite)
    // x: nsamp samples, sstride apart, of nch runs of (len,), contiguous
    double ks[SHORT_TILE], a1[SHORT_TILE * VL], a2[SHORT_TILE * VL], t1[SHORT_TILE], t2[SHORT_TILE];
    const ptrdiff_t t = len % VL, full = len - t; // the masks of the tail, set once
    for (ptrdiff_t j0 = 0; j0 < nch; j0 += SHORT_TILE) {
        const ptrdiff_t jn = nch - j0 < SHORT_TILE ? nch - j0 : SHORT_TILE;
        for (ptrdiff_t j = 0; j < jn; j++) {
            const float v = va_get(x + (j0 + j) * len);
            ks[j] = isfinite(v) ? (double)v : 0.0;
        }
        for (ptrdiff_t n = 0; n < nsamp; n++) {
            const bn_act *xs = x + n * sstride + j0 * len;
            const ptrdiff_t ahead = short_ahead(n, nsamp, sstride, jn, len);
            for (ptrdiff_t j = 0; j < jn; j++) {
                const bn_act *xr = xs + j * len;
                prefetch_next(xr, ahead, (size_t)len * sizeof(bn_act));
                const vd k[2] = {vd_set1(ks[j]), vd_set1(ks[j])};
                double *l1 = a1 + j * VL, *l2 = a2 + j * VL;
                vd s1[2], s2[2];
                lanes_start(s1, s2, l1, l2, n);
                for (ptrdiff_t p = 0; p < full; p += VL) {
                    vd d[2];
                    BN_DIFF_AT(d, xr + p, k, 0);
                    acc_stats(s1, s2, d);
                }
                if (t > 0) { // lanes past len kept 0
                    vd d[2];
                    BN_DIFF(d, va_load_n(xr + full, t), k, 0);
                    d[0] = vd_keep_n(d[0], clampn(t, HV));
                    d[1] = vd_keep_n(d[1], clampn(t - HV, HV));
                    acc_stats(s1, s2, d);
                }
                lanes_end(s1, s2, l1, l2, n + 1 == nsamp, &t1[j], &t2[j]);
            }
        }
        // shifted_result's arithmetic over the tile, branch-free so that its divisions vectorize
        const double cnt = (double)(nsamp * len); // > 0
        for (ptrdiff_t j = 0; j < jn; j++) {
            const double m = t2[j] - t1[j] * t1[j] / cnt;
            sum[j0 + j] = cnt * ks[j] + t1[j];
            m2[j0 + j] = m < 0.0 ? 0.0 : m; // rounding only; NaN stays NaN
        }
    }
}

static BN_ALWAYS_INLINE void short_apply_k(bn_act *out, const bn_act *x, const bn_act *res, int relu, ptrdiff_t nch,
                        ptrdiff_t len, ptrdiff_t sstride, const float *mh, const float *sc, const float *sh,
                        int stream) {
    // out, x, res: nch runs of (len,), contiguous; mh, sc, sh: (nch,). The fetch runs
    // BN_PREFETCH_BYTES ahead in the order of the walk: further on in this block, then in the
    // next one, sstride on. stream: long runs only (bn_apply_block)
    const ptrdiff_t ahead = BN_PREFETCH_BYTES / (ptrdiff_t)sizeof(bn_act), blk = nch * len;
    for (ptrdiff_t j = 0; j < nch; j++) {
        const ptrdiff_t dist = j * len + ahead < blk ? ahead : sstride - blk + ahead;
        apply_run(out + j * len, x + j * len, opt(res, j * len), relu, len, dist, vf_set1(mh[j]),
                  vf_set1(sc[j]), vf_set1(sh[j]), stream);
    }
    if (stream) bn_sfence();
}

static void short_apply(void *out, const void *x, const void *res, int relu, ptrdiff_t nch,
                        ptrdiff_t len, ptrdiff_t sstride, const float *mh, const float *sc,
                        const float *sh, int stream) {
    if (res == NULL && !relu) short_apply_k(out, x, NULL, 0, nch, len, sstride, mh, sc, sh, stream);
    else short_apply_k(out, x, res, relu, nch, len, sstride, mh, sc, sh, stream);
}

static BN_ALWAYS_INLINE void short_sums_k(double *t1, double *t2, const bn_act *dy, const bn_act *gate,
                       const bn_act *x, const float *mean, ptrdiff_t nch, ptrdiff_t len,
                       ptrdiff_t nsamp, ptrdiff_t sstride) {
    // t1, t2, mean: (nch,); dy, gate, x: nsamp samples, sstride apart, of nch runs of (len,),
    // contiguous; gate, x may be NULL (x NULL: t2 = 0)
    double a1[SHORT_TILE * VL], a2[SHORT_TILE * VL];
    const ptrdiff_t t = len % VL, full = len - t; // the masks of the tail, set once
    for (ptrdiff_t j0 = 0; j0 < nch; j0 += SHORT_TILE) {
        const ptrdiff_t jn = nch - j0 < SHORT_TILE ? nch - j0 : SHORT_TILE;
        for (ptrdiff_t n = 0; n < nsamp; n++) {
            const ptrdiff_t ahead = short_ahead(n, nsamp, sstride, jn, len);
            for (ptrdiff_t j = 0; j < jn; j++) {
                const ptrdiff_t at = n * sstride + (j0 + j) * len;
                const bn_act *gr = dy + at, *gt = opt(gate, at), *xr = opt(x, at);
                prefetch_next(gr, ahead, (size_t)len * sizeof(bn_act));
                if (xr != NULL) prefetch_next(xr, ahead, (size_t)len * sizeof(bn_act));
                if (gt != NULL) prefetch_next(gt, ahead, (size_t)len * sizeof(bn_act));
                const vd m[2] = {vd_set1((double)mean[j0 + j]), vd_set1((double)mean[j0 + j])};
                double *l1 = a1 + j * VL, *l2 = a2 + j * VL;
                vd s1[2], s2[2];
                lanes_start(s1, s2, l1, l2, n);
                ptrdiff_t p = 0;
                for (; gt == NULL && xr != NULL && p < full; p += VL) {
                    const vd g0 = vd_load_a(gr + p), g1 = vd_load_a(gr + p + HV);
                    vd d[2];
                    BN_DIFF_AT(d, xr + p, m, 0);
                    s1[0] = vd_add(s1[0], g0);
                    s1[1] = vd_add(s1[1], g1);
                    s2[0] = vd_fma(g0, d[0], s2[0]);
                    s2[1] = vd_fma(g1, d[1], s2[1]);
                }
                for (; p < full; p += VL) { // the same lanes, through the gate or without x
                    sums_part(s1, s2, m, gr + p, opt(gt, p), opt(xr, p), VL);
                }
                if (t > 0) sums_part(s1, s2, m, gr + full, opt(gt, full), opt(xr, full), t);
                // (x NULL: the lanes of t2 stay 0, and so does its total)
                lanes_end(s1, s2, l1, l2, n + 1 == nsamp, &t1[j0 + j], &t2[j0 + j]);
            }
        }
    }
}

static void short_sums(double *t1, double *t2, const void *dy, const void *gate,
                       const void *x, const float *mean, ptrdiff_t nch, ptrdiff_t len,
                       ptrdiff_t nsamp, ptrdiff_t sstride) {
    if (gate == NULL) short_sums_k(t1, t2, dy, NULL, x, mean, nch, len, nsamp, sstride);
    else short_sums_k(t1, t2, dy, gate, x, mean, nch, len, nsamp, sstride);
}

static BN_ALWAYS_INLINE void short_dinp_k(bn_act *dinp, bn_act *dres, const bn_act *dy, const bn_act *gate,
                       const bn_act *x, ptrdiff_t nch, ptrdiff_t len, const double *mean,
                       const double *dy_mean, const double *xmu_scale, const double *scale) {
    // dinp, dres, dy, gate, x: nch runs of (len,), contiguous; mean, dy_mean, xmu_scale, scale: (nch,)
    const ptrdiff_t t = len % VL, full = len - t; // the masks of the tail, set once
    for (ptrdiff_t j = 0; j < nch; j++) {
        const vd m[2] = {vd_set1(mean[j]), vd_set1(mean[j])}, dm[2] = {vd_set1(dy_mean[j]), vd_set1(dy_mean[j])};
        const vd xs[2] = {vd_set1(xmu_scale[j]), vd_set1(xmu_scale[j])}, sc[2] = {vd_set1(scale[j]), vd_set1(scale[j])};
        const ptrdiff_t at = j * len;
        ptrdiff_t p = 0;
        for (; VA_PAIR && p + 2 * VL <= full; p += 2 * VL) {
            vf a, b;
            dinp_pair(&a, &b, dy, gate, dres, x, at + p, m, dm, xs, sc, 0);
            va_store2(dinp + at + p, a, b);
        }
        for (; p < full; p += VL) {
            va_store(dinp + at + p, dinp_at(dy, gate, dres, x, at + p, m, dm, xs, sc));
        }
        if (t > 0) {
            const ptrdiff_t e = at + full;
            va_store_n(dinp + e, dinp_vec(load_dy(dy, gate, dres, e, t), va_load_n(x + e, t), m, dm, xs, sc), t);
        }
    }
}

static void short_dinp(void *dinp, void *dres, const void *dy, const void *gate,
                       const void *x, ptrdiff_t nch, ptrdiff_t len, const double *mean,
                       const double *dy_mean, const double *xmu_scale, const double *scale) {
    if (gate == NULL && dres == NULL) short_dinp_k(dinp, NULL, dy, NULL, x, nch, len, mean, dy_mean, xmu_scale, scale);
    else short_dinp_k(dinp, dres, dy, gate, x, nch, len, mean, dy_mean, xmu_scale, scale);
}

// ----------------------------------------------------------------------------
// per-channel terms: plain loops over arrays, which the compiler vectorizes for each ISA

static int fits_float(double v) { return fabs(v) <= FLT_MAX; } // false for NaN and Inf

// x - mh in float cannot overflow for any finite float x: |x - mh| <= FLT_MAX + |mh|, which
// rounds to Inf only from FLT_MAX + 2^103 (half of FLT_MAX's ulp) on
static int no_overflow_sub(float mh) { return fabsf(mh) < 0x1p103f; }

// (the struct's pointers are copied to restrict locals: a store through fast, an unsigned char,
// could otherwise change them, and the loops would not vectorize)
static void fwd_terms(const bn_fwd_terms *t, ptrdiff_t n) {
    double var[BN_KERNEL_COLS], rstd[BN_KERNEL_COLS];
    double *restrict mean_d = t->mean_d, *restrict scale = t->scale, *restrict shift = t->shift;
    float *restrict mean_f = t->mean_f, *restrict scale_f = t->scale_f, *restrict shift_f = t->shift_f;
    unsigned char *restrict fast = t->fast;
    const double eps = t->eps, count = t->count;
    if (t->T != NULL) {
        const double *restrict T = t->T, *restrict M2 = t->M2;
        float *restrict save_mean = t->save_mean, *restrict save_rstd = t->save_rstd;
        // divisions: for a constant channel T = M*K exactly, and T/M is then exactly K. Where
        // the count is a power of two, products with its exact reciprocal: the same bits, and
        // fewer divisions where there are few rows a channel (on a Zen 4 without AVX-512, 1
        // thread, medians of 11 alternated rounds: float32 NC 8x4096 forward training 0.93x the
        // time, backward 0.98x, with back_terms's)
        const double rc = bn_exact_reciprocal(count);
        if (rc != 0.0) {
            for (ptrdiff_t j = 0; j < n; j++) mean_d[j] = T[j] * rc, var[j] = M2[j] * rc;
        } else {
            for (ptrdiff_t j = 0; j < n; j++) mean_d[j] = T[j] / count, var[j] = M2[j] / count;
        }
        if (t->running_mean != NULL) { // one loop (two: NC 4x4096 training 1.06x the time, Zen 5)
            float *restrict rm = t->running_mean, *restrict rv = t->running_var;
            const double f = t->momentum, unbias = t->unbias;
            for (ptrdiff_t j = 0; j < n; j++) {
                rstd[j] = 1.0 / sqrt(var[j] + eps);
                save_mean[j] = (float)mean_d[j];
                save_rstd[j] = (float)rstd[j];
                rm[j] = (float)((1.0 - f) * (double)rm[j] + f * mean_d[j]);
                rv[j] = (float)((1.0 - f) * (double)rv[j] + f * var[j] * unbias);
            }
        } else {
            for (ptrdiff_t j = 0; j < n; j++) {
                rstd[j] = 1.0 / sqrt(var[j] + eps);
                save_mean[j] = (float)mean_d[j];
                save_rstd[j] = (float)rstd[j];
            }
        }
    } else if (t->dmean != NULL) { // given in double (split phase)
        const double *restrict dmean = t->dmean, *restrict drstd = t->drstd;
        for (ptrdiff_t j = 0; j < n; j++) mean_d[j] = dmean[j];
        for (ptrdiff_t j = 0; j < n; j++) rstd[j] = drstd[j];
    } else {
        const float *restrict mean = t->mean, *restrict v = t->var;
        for (ptrdiff_t j = 0; j < n; j++) {
            mean_d[j] = (double)mean[j];
            rstd[j] = 1.0 / sqrt((double)v[j] + eps);
        }
    }
    if (t->gamma != NULL) {
        const float *restrict gamma = t->gamma;
        for (ptrdiff_t j = 0; j < n; j++) scale[j] = (double)gamma[j] * rstd[j];
    } else {
        for (ptrdiff_t j = 0; j < n; j++) scale[j] = rstd[j];
    }
    if (t->beta != NULL) {
        const float *restrict beta = t->beta;
        for (ptrdiff_t j = 0; j < n; j++) shift[j] = (double)beta[j];
    } else {
        for (ptrdiff_t j = 0; j < n; j++) shift[j] = 0.0;
    }
    // The flags take their own loop: with their byte stores in it, GCC vectorized the float
    // terms 4 doubles at a time instead of 8 (float32 NC 32x64 forward training 0.89x the time,
    // 4x4096 0.92x, on a Zen 5 with AVX-512). sf goes through var, which is not read again.
    double *restrict sfd = var;
    for (ptrdiff_t j = 0; j < n; j++) {
        const float h = (float)mean_d[j];
        const double s = scale[j], sf = shift[j] - (mean_d[j] - (double)h) * s;
        mean_f[j] = h;
        scale_f[j] = (float)s;
        shift_f[j] = (float)sf;
        sfd[j] = sf;
    }
    // fast: mean, shift, scale and sf fit a float, scale is normal or 0, and x - mh cannot
    // overflow. The mean's and shift's own tests are implied by the others: |mh| < 2^103 needs a
    // mean that float holds, and a shift of Inf or NaN (a float beta) makes sf Inf or NaN where
    // the mean and the scale are finite. Four tests instead of six, the same flags.
    for (ptrdiff_t j = 0; j < n; j++) {
        const double s = scale[j];
        fast[j] = (unsigned char)(fits_float(s) & ((s == 0.0) | (fabs(s) >= FLT_MIN)) &
                                  fits_float(sfd[j]) & no_overflow_sub(mean_f[j]));
    }
}

static void back_terms(const bn_back_terms *t, ptrdiff_t n) {
    const double *restrict sum_dy = t->sum_dy, *restrict sum_dy_xmu = t->sum_dy_xmu;
    double *restrict mean_d = t->mean_d, *restrict dy_mean = t->dy_mean, *restrict xmu_scale = t->xmu_scale, *restrict scale = t->scale;
    float *restrict scale_f = t->scale_f;
    unsigned char *restrict fast = t->fast;
    const double M = t->M;
    double rd[BN_KERNEL_COLS]; // rstd in double
    if (t->drstd != NULL) { // given in double (split phase)
        const double *restrict dmean = t->dmean, *restrict drstd = t->drstd;
        for (ptrdiff_t j = 0; j < n; j++) mean_d[j] = dmean[j];
        for (ptrdiff_t j = 0; j < n; j++) rd[j] = drstd[j];
    } else {
        const float *restrict mean = t->mean, *restrict rstd = t->rstd;
        for (ptrdiff_t j = 0; j < n; j++) mean_d[j] = (double)mean[j];
        for (ptrdiff_t j = 0; j < n; j++) rd[j] = (double)rstd[j];
    }
    if (t->gamma != NULL) {
        const float *restrict gamma = t->gamma;
        for (ptrdiff_t j = 0; j < n; j++) scale[j] = (double)gamma[j] * rd[j];
    } else {
        for (ptrdiff_t j = 0; j < n; j++) scale[j] = rd[j];
    }
    const double rM = bn_exact_reciprocal(M);
    if (rM != 0.0) {
        for (ptrdiff_t j = 0; j < n; j++) {
            const double r = rd[j];
            dy_mean[j] = sum_dy[j] * rM;
            xmu_scale[j] = r * (r * sum_dy_xmu[j]) * rM;
        }
    } else {
        for (ptrdiff_t j = 0; j < n; j++) {
            const double r = rd[j];
            dy_mean[j] = sum_dy[j] / M;
            xmu_scale[j] = r * (r * sum_dy_xmu[j]) / M;
        }
    }
    if (t->dbeta != NULL) {
        float *restrict dbeta = t->dbeta;
        for (ptrdiff_t j = 0; j < n; j++) dbeta[j] = (float)sum_dy[j];
    }
    if (t->dgamma != NULL) {
        float *restrict dgamma = t->dgamma;
        for (ptrdiff_t j = 0; j < n; j++) dgamma[j] = (float)(rd[j] * sum_dy_xmu[j]);
    }
    for (ptrdiff_t j = 0; j < n; j++) {
        const double k = scale[j];
        scale_f[j] = (float)k;
        fast[j] = (unsigned char)(fits_float(k) & ((k == 0.0) | (fabs(k) >= FLT_MIN)));
    }
}

#define BN_CAT3_(a, b, c) a##b##c
#define BN_CAT3(a, b, c) BN_CAT3_(a, b, c)
#define BN_KERNELS_TABLE(isa)                                                                      \
    const bn_kernels BN_CAT3(bn_kernels_, isa, BN_KERNELS_SUFFIX) = {#isa, BN_KERNELS_DATA, sizeof(bn_act), \
                                         cl_stats,    cl_apply,   cl_sums,                         \
                                         cl_dinp,     run_stats,   run_apply,  run_sums,           \
                                         run_dinp,    short_stats, short_apply, short_sums,        \
                                         short_dinp,  fwd_terms,   back_terms}
