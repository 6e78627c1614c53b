/*
 * bn_linear_impl.h - the kernels of bn_linear.h, written once over vector helpers that the
 * including file defines (bn_linear_generic.c, _avx2.c, _avx512.c), then packed into its table
 * with BN_LINEAR_TABLE(name).
 *
 * Helpers: vf holds VL floats: vf_load, vf_load_n (first n lanes, the rest 0, never reads past
 * them), vf_store, vf_store_n, vf_set1, vf_add, vf_fma (a*b + c), vf_hsum (the sum of the lanes
 * by a fixed tree). Register blocks: DOT_MR x DOT_NR dot products (dot), AX_MR rows x AX_NV
 * vectors (axpy; a lone row AX_NV1 vectors).
 *
 * dot: out[n][o] accumulates inp[n][k]*w[o][k] in lane k mod VL, k increasing, then adds the
 * lanes with vf_hsum, then the bias, then applies the activation. Rows come in blocks of DOT_MR
 * (the last block smaller, with its own code); a last column block repeats its last weight row
 * and stores only the valid columns.
 * axpy: each output element sums its P products in order of p, starting from 0, or with
 * accumulate from its old value; then, when asked (bn_linear_forward_t), adds the bias and applies
 * the activation.
 */
#include <math.h>

#include "bn.h"

#define AX_PB 256 // axpy: values of p per block

static ptrdiff_t lmin(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

static float activate(float v, int act) {
    if (act == BN_ACT_RELU) return v > 0.0f ? v : (v == v ? 0.0f : v); // NaN stays NaN
    if (act == BN_ACT_SIGMOID) return (float)(1.0 / (1.0 + exp(-(double)v)));
    return v;
}

#if defined(__GNUC__)
#define BN_INLINE static inline __attribute__((always_inline))
#else
#define BN_INLINE static inline
#endif

// rows [n, n + mr) of out against weight rows [o0, o1); mr is a constant where this is called,
// so each row count gets its own register block (no row is computed twice)
BN_INLINE void dot_rows(const int mr, float *out, const float *inp, const float *w, const float *b,
                        int act, ptrdiff_t I, ptrdiff_t O, ptrdiff_t n, ptrdiff_t o0, ptrdiff_t o1) {
    const ptrdiff_t kfull = I - I % VL;
    const float *x[4]; // mr <= 4 (DOT_MR <= 4)
    for (int i = 0; i < mr; i++) x[i] = inp + (n + i) * I;
    for (ptrdiff_t o = o0; o < o1; o += DOT_NR) {
        const float *wr[DOT_NR];
        for (int j = 0; j < DOT_NR; j++) wr[j] = w + lmin(o + j, o1 - 1) * I;
        vf acc[4][DOT_NR];
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < DOT_NR; j++) acc[i][j] = vf_set1(0.0f);
        ptrdiff_t k = 0;
        for (; k < kfull; k += VL) {
            vf wv[DOT_NR];
            for (int j = 0; j < DOT_NR; j++) wv[j] = vf_load(wr[j] + k);
            for (int i = 0; i < mr; i++) {
                const vf xv = vf_load(x[i] + k);
                for (int j = 0; j < DOT_NR; j++) acc[i][j] = vf_fma(xv, wv[j], acc[i][j]);
            }
        }
        if (k < I) {
            const ptrdiff_t t = I - k;
            vf wv[DOT_NR];
            for (int j = 0; j < DOT_NR; j++) wv[j] = vf_load_n(wr[j] + k, t);
            for (int i = 0; i < mr; i++) {
                const vf xv = vf_load_n(x[i] + k, t);
                for (int j = 0; j < DOT_NR; j++) acc[i][j] = vf_fma(xv, wv[j], acc[i][j]);
            }
        }
        const ptrdiff_t nj = lmin(DOT_NR, o1 - o);
        for (int i = 0; i < mr; i++) {
            float *y = out + (n + i) * O + o;
            for (ptrdiff_t j = 0; j < nj; j++) {
                float s = vf_hsum(acc[i][j]);
                if (b != NULL) s += b[o + j];
                y[j] = activate(s, act);
            }
        }
    }
}

static void lin_dot(float *out, const float *inp, const float *w, const float *b, int act,
                    ptrdiff_t I, ptrdiff_t O, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t o0,
                    ptrdiff_t o1) {
    ptrdiff_t n = n0;
    for (; n + DOT_MR <= n1; n += DOT_MR) dot_rows(DOT_MR, out, inp, w, b, act, I, O, n, o0, o1);
    switch (n1 - n) { // the last rows, fewer than DOT_MR (DOT_MR <= 4)
    case 3: dot_rows(3, out, inp, w, b, act, I, O, n, o0, o1); break;
    case 2: dot_rows(2, out, inp, w, b, act, I, O, n, o0, o1); break;
    case 1: dot_rows(1, out, inp, w, b, act, I, O, n, o0, o1); break;
    default: break;
    }
}

// The vectors of a tile of one row (a batch of one, or the last row of a batch): each sum waits on
// its last multiply-add, and AX_NV sums alone ran at that latency (on the Xeon guest, perf put 63%
// of a small MLP's batch-1 call in this loop). A lone row takes all of a task's columns, up to 8
// vectors, where it has more than AX_NV vectors' worth; every element still sums in order of p.
#define AX_NV1 (BN_LINEAR_COLS / VL < 8 ? BN_LINEAR_COLS / VL : 8)

// one mi x nv*VL tile (mi <= AX_MR rows, nv AX_NV or, for one row, AX_NV1: constants where this is
// called, so each gets its own register block; nj valid columns) over p in [p0, p1): the sums
// start from c when `resume` (the partial sums of the earlier p, or the old values to add to)
BN_INLINE void axpy_tile(const int mi, const int nv, float *c, ptrdiff_t ldc, const float *const *ar,
                         ptrdiff_t sap, const float *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t p1,
                         ptrdiff_t nj, int resume, const float *bias, int act) {
    ptrdiff_t cnt[AX_NV1 > AX_NV ? AX_NV1 : AX_NV];
    for (int v = 0; v < nv; v++) {
        const ptrdiff_t r = nj - v * VL;
        cnt[v] = r < 0 ? 0 : r > VL ? VL : r;
    }
    vf acc[6][AX_NV1 > AX_NV ? AX_NV1 : AX_NV]; // mi <= AX_MR <= 6
    for (int i = 0; i < mi; i++)
        for (int v = 0; v < nv; v++)
            acc[i][v] = resume ? vf_load_n(c + i * ldc + v * VL, cnt[v]) : vf_set1(0.0f);
    if (nj >= nv * VL) {
        for (ptrdiff_t p = p0; p < p1; p++) {
            vf bv[AX_NV1 > AX_NV ? AX_NV1 : AX_NV];
            for (int v = 0; v < nv; v++) bv[v] = vf_load(b + p * ldb + v * VL);
            for (int i = 0; i < mi; i++) {
                const vf av = vf_set1(ar[i][p * sap]);
                for (int v = 0; v < nv; v++) acc[i][v] = vf_fma(av, bv[v], acc[i][v]);
            }
        }
    } else {
        for (ptrdiff_t p = p0; p < p1; p++) {
            vf bv[AX_NV1 > AX_NV ? AX_NV1 : AX_NV];
            for (int v = 0; v < nv; v++) bv[v] = vf_load_n(b + p * ldb + v * VL, cnt[v]);
            for (int i = 0; i < mi; i++) {
                const vf av = vf_set1(ar[i][p * sap]);
                for (int v = 0; v < nv; v++) acc[i][v] = vf_fma(av, bv[v], acc[i][v]);
            }
        }
    }
    for (int i = 0; i < mi; i++) {
        for (int v = 0; v < nv; v++) {
            if (cnt[v] == VL) vf_store(c + i * ldc + v * VL, acc[i][v]);
            else vf_store_n(c + i * ldc + v * VL, acc[i][v], cnt[v]);
        }
        if (bias != NULL || act != BN_ACT_NONE) { // the last block of p: out = act(sum + bias)
            float *y = c + i * ldc;
            const ptrdiff_t n = lmin(nj, nv * VL);
            for (ptrdiff_t j = 0; j < n; j++) y[j] = activate(bias != NULL ? y[j] + bias[j] : y[j], act);
        }
    }
}

// p in blocks of AX_PB (the block of b a tile walks stays in cache for the other tiles); each
// element continues its own sum from block to block, so the order is that of p, 0 to P - 1
static void lin_axpy(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t sam, ptrdiff_t sap,
                     const float *b, ptrdiff_t ldb, ptrdiff_t P, ptrdiff_t m0, ptrdiff_t m1,
                     ptrdiff_t j0, ptrdiff_t j1, int accumulate, const float *bias, int act) {
    for (ptrdiff_t p0 = 0; p0 < P; p0 += AX_PB) {
        const ptrdiff_t p1 = lmin(P, p0 + AX_PB);
        const int last = p1 == P, resume = accumulate || p0 > 0;
        for (ptrdiff_t m = m0; m < m1; m += AX_MR) {
            const float *ar[6]; // AX_MR <= 6
            for (int i = 0; i < AX_MR; i++) ar[i] = a + lmin(m + i, m1 - 1) * sam;
            const ptrdiff_t mi = lmin(AX_MR, m1 - m);
            for (ptrdiff_t j = j0; j < j1;) {
                float *cj = c + m * ldc + j;
                const float *bj = last && bias != NULL ? bias + j : NULL;
                const int aj = last ? act : BN_ACT_NONE;
                const int wide = mi == 1 && j1 - j > AX_NV * VL;
#define AX_TILE(r, nv) axpy_tile(r, nv, cj, ldc, ar, sap, b + j, ldb, p0, p1, j1 - j, resume, bj, aj)
                switch (wide ? 0 : mi) {
                case 0: AX_TILE(1, AX_NV1); break;
                case AX_MR: AX_TILE(AX_MR, AX_NV); break;
#if AX_MR > 5
                case 5: AX_TILE(5, AX_NV); break;
                case 4: AX_TILE(4, AX_NV); break;
#endif
                case 3: AX_TILE(3, AX_NV); break;
                case 2: AX_TILE(2, AX_NV); break;
                default: AX_TILE(1, AX_NV); break;
                }
#undef AX_TILE
                j += (wide ? AX_NV1 : AX_NV) * VL;
            }
        }
    }
}

static void lin_colsum(float *db, const float *dout, ptrdiff_t N, ptrdiff_t O, ptrdiff_t o0,
                       ptrdiff_t o1, int accumulate) {
    for (ptrdiff_t o = o0; o < o1; o += VL) {
        const ptrdiff_t t = lmin(VL, o1 - o);
        vf s = accumulate ? vf_load_n(db + o, t) : vf_set1(0.0f);
        for (ptrdiff_t n = 0; n < N; n++) s = vf_add(s, vf_load_n(dout + n * O + o, t));
        vf_store_n(db + o, s, t);
    }
}

#define BN_LINEAR_TABLE(isa)                                                                       \
    const bn_linear_kernels bn_linear_##isa = {#isa, lin_dot, lin_axpy, lin_colsum}
