/*
 * bn_conv.c - bn_im2col, bn_col2im, bn_transpose (bn.h): the data movement of a convolution
 * computed as matrix products.
 *
 * Dimensions: N, C, H, W (input), KH, KW (taps), HO, WO (output pixels), P = HO*WO, K = C*KH*KW.
 *   cols: (count*P, K), row (n-n0)*P + y*WO + x, taps (c, i, j) for NCHW, (i, j, c) for NHWC.
 *
 * Checks, in this order; the first one that fails gives the status, and nothing is written
 * unless all pass (bn_transpose skips 2 and takes N, R, C as its sizes):
 *   1. BN_ERR_NULL_POINTER   the output or the input is NULL.
 *   2. BN_ERR_BAD_LAYOUT     layout is not BN_LAYOUT_NCHW or BN_LAYOUT_NHWC.
 *   3. BN_ERR_BAD_DIMENSION  N, C, H, W, KH, KW, a stride or count < 1; pad_h, pad_w or n0 < 0;
 *                            KH > H + 2*pad_h or KW > W + 2*pad_w; n0 + count > N.
 *   4. BN_ERR_OVERFLOW       a dimension, N*C*H*W or count*P*K floats do not fit in int64_t,
 *                            size_t and ptrdiff_t bytes.
 *   5. BN_ERR_MISALIGNED     a buffer is not 4-byte aligned.
 *   6. BN_ERR_ALIAS          the output overlaps the input floats it reads (or bias).
 * After that, every index below fits in ptrdiff_t.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bn.h"
#include "bn_internal.h"

// ----------------------------------------------------------------------------
// checks

static uint64_t max_floats(void) {
    uint64_t max_bytes = (uint64_t)INT64_MAX;
    if ((uint64_t)SIZE_MAX < max_bytes) max_bytes = (uint64_t)SIZE_MAX;
    if ((uint64_t)PTRDIFF_MAX < max_bytes) max_bytes = (uint64_t)PTRDIFF_MAX;
    return max_bytes / sizeof(float);
}

// *acc *= v if the product stays within max_floats(); returns 0 (and leaves *acc) otherwise
static int mul_fits(int64_t *acc, int64_t v) {
    if ((uint64_t)*acc > max_floats() / (uint64_t)v) return 0;
    *acc *= v;
    return 1;
}

static int misaligned(const void *p) { return p != NULL && (uintptr_t)p % sizeof(float) != 0; }

// [a, a + a_floats) and [b, b + b_floats) share a byte
static int overlap(const float *a, int64_t a_floats, const float *b, int64_t b_floats) {
    const uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + (uintptr_t)b_floats * sizeof(float) && b0 < a0 + (uintptr_t)a_floats * sizeof(float);
}

typedef struct {
    ptrdiff_t C, H, W, KH, KW, sh, sw, ph, pw, HO, WO, K;
    int nhwc;
} geometry;

// checks 1-6 for bn_im2col (out = cols, in = inp) and bn_col2im (out = dinp, in = dcols)
static bn_status check(geometry *g, const float *out, const float *in, int to_cols, int layout,
                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t n0, int64_t count) {
    if (out == NULL || in == NULL) return BN_ERR_NULL_POINTER;
    if (layout != BN_LAYOUT_NCHW && layout != BN_LAYOUT_NHWC) return BN_ERR_BAD_LAYOUT;
    if (N < 1 || C < 1 || H < 1 || W < 1 || KH < 1 || KW < 1 || sh < 1 || sw < 1 || count < 1 ||
        ph < 0 || pw < 0 || n0 < 0) {
        return BN_ERR_BAD_DIMENSION;
    }
    // KH <= H + 2*pad_h without forming 2*pad_h
    if ((KH > H && (KH - H + 1) / 2 > ph) || (KW > W && (KW - W + 1) / 2 > pw)) {
        return BN_ERR_BAD_DIMENSION;
    }
    if (n0 > N - count) return BN_ERR_BAD_DIMENSION;
    const int64_t dims[] = {N, C, H, W, KH, KW, sh, sw, ph, pw};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if ((uint64_t)dims[i] > max_floats()) return BN_ERR_OVERFLOW;
    }
    // each term is at most 3*max_floats() < 2^63: no overflow
    const int64_t HO = (H + 2 * ph - KH) / sh + 1, WO = (W + 2 * pw - KW) / sw + 1;
    int64_t sample = C, rows = count, k = C;
    if (!mul_fits(&sample, H) || !mul_fits(&sample, W) || !mul_fits(&sample, N)) return BN_ERR_OVERFLOW;
    if (!mul_fits(&k, KH) || !mul_fits(&k, KW) || !mul_fits(&rows, HO) || !mul_fits(&rows, WO)) {
        return BN_ERR_OVERFLOW;
    }
    int64_t cols = rows;
    if (!mul_fits(&cols, k)) return BN_ERR_OVERFLOW;
    if (misaligned(out) || misaligned(in)) return BN_ERR_MISALIGNED;
    const int64_t chw = C * H * W;
    const float *img = to_cols ? in : out; // inp or dinp
    const float *mat = to_cols ? out : in; // cols or dcols
    if (overlap(img + n0 * chw, count * chw, mat, cols)) return BN_ERR_ALIAS;
    *g = (geometry){(ptrdiff_t)C, (ptrdiff_t)H, (ptrdiff_t)W, (ptrdiff_t)KH, (ptrdiff_t)KW,
                    (ptrdiff_t)sh, (ptrdiff_t)sw, (ptrdiff_t)ph, (ptrdiff_t)pw, (ptrdiff_t)HO,
                    (ptrdiff_t)WO, (ptrdiff_t)k, layout == BN_LAYOUT_NHWC};
    return BN_OK;
}

// ----------------------------------------------------------------------------
// im2col: one row of K taps per output pixel

static void im2col_sample(float *restrict cols, const float *restrict img, const geometry *g) {
    const ptrdiff_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW;
    for (ptrdiff_t y = 0; y < g->HO; y++) {
        const ptrdiff_t y0 = y * g->sh - g->ph;
        for (ptrdiff_t x = 0; x < g->WO; x++, cols += g->K) {
            const ptrdiff_t x0 = x * g->sw - g->pw;
            const int inside_x = x0 >= 0 && x0 + KW <= W;
            if (g->nhwc) { // taps (i, j), each C contiguous floats
                for (ptrdiff_t i = 0; i < KH; i++) {
                    const ptrdiff_t yy = y0 + i;
                    float *to = cols + i * KW * C;
                    if (yy < 0 || yy >= H) {
                        memset(to, 0, sizeof(float) * (size_t)(KW * C));
                    } else if (inside_x) { // the KW taps are KW*C contiguous floats
                        memcpy(to, img + (yy * W + x0) * C, sizeof(float) * (size_t)(KW * C));
                    } else {
                        for (ptrdiff_t j = 0; j < KW; j++) {
                            const ptrdiff_t xx = x0 + j;
                            if (xx < 0 || xx >= W) {
                                memset(to + j * C, 0, sizeof(float) * (size_t)C);
                            } else {
                                memcpy(to + j * C, img + (yy * W + xx) * C, sizeof(float) * (size_t)C);
                            }
                        }
                    }
                }
            } else { // taps (c, i, j)
                float *to = cols;
                for (ptrdiff_t c = 0; c < C; c++) {
                    const float *plane = img + c * H * W;
                    for (ptrdiff_t i = 0; i < KH; i++, to += KW) {
                        const ptrdiff_t yy = y0 + i;
                        if (yy < 0 || yy >= H) {
                            for (ptrdiff_t j = 0; j < KW; j++) to[j] = 0.0f;
                        } else if (inside_x) {
                            const float *line = plane + yy * W + x0;
                            for (ptrdiff_t j = 0; j < KW; j++) to[j] = line[j];
                        } else {
                            const float *line = plane + yy * W;
                            for (ptrdiff_t j = 0; j < KW; j++) {
                                const ptrdiff_t xx = x0 + j;
                                to[j] = xx >= 0 && xx < W ? line[xx] : 0.0f;
                            }
                        }
                    }
                }
            }
        }
    }
}

// img (one sample) = 0, then each tap of each row added to the pixel it came from, rows in order
static void col2im_sample(float *restrict img, const float *restrict dcols, const geometry *g) {
    const ptrdiff_t C = g->C, H = g->H, W = g->W, KH = g->KH, KW = g->KW;
    memset(img, 0, sizeof(float) * (size_t)(C * H * W));
    for (ptrdiff_t y = 0; y < g->HO; y++) {
        const ptrdiff_t y0 = y * g->sh - g->ph;
        for (ptrdiff_t x = 0; x < g->WO; x++, dcols += g->K) {
            const ptrdiff_t x0 = x * g->sw - g->pw;
            if (g->nhwc) {
                for (ptrdiff_t i = 0; i < KH; i++) {
                    const ptrdiff_t yy = y0 + i;
                    if (yy < 0 || yy >= H) continue;
                    for (ptrdiff_t j = 0; j < KW; j++) {
                        const ptrdiff_t xx = x0 + j;
                        if (xx < 0 || xx >= W) continue;
                        float *to = img + (yy * W + xx) * C;
                        const float *from = dcols + (i * KW + j) * C;
                        for (ptrdiff_t c = 0; c < C; c++) to[c] += from[c];
                    }
                }
            } else {
                const float *from = dcols;
                for (ptrdiff_t c = 0; c < C; c++) {
                    float *plane = img + c * H * W;
                    for (ptrdiff_t i = 0; i < KH; i++, from += KW) {
                        const ptrdiff_t yy = y0 + i;
                        if (yy < 0 || yy >= H) continue;
                        float *line = plane + yy * W;
                        for (ptrdiff_t j = 0; j < KW; j++) {
                            const ptrdiff_t xx = x0 + j;
                            if (xx >= 0 && xx < W) line[xx] += from[j];
                        }
                    }
                }
            }
        }
    }
}

bn_status bn_im2col(float *cols, const float *inp, int layout, int64_t N, int64_t C, int64_t H,
                    int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w,
                    int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count) {
    BN_CLEAR_UPPER();
    geometry g;
    const bn_status st = check(&g, cols, inp, 1, layout, N, C, H, W, KH, KW, stride_h, stride_w,
                               pad_h, pad_w, n0, count);
    if (st != BN_OK) return st;
    const ptrdiff_t chw = g.C * g.H * g.W, rows = g.HO * g.WO * g.K;
    for (ptrdiff_t n = 0; n < (ptrdiff_t)count; n++) {
        im2col_sample(cols + n * rows, inp + ((ptrdiff_t)n0 + n) * chw, &g);
    }
    return BN_OK;
}

bn_status bn_col2im(float *dinp, const float *dcols, int layout, int64_t N, int64_t C, int64_t H,
                    int64_t W, int64_t KH, int64_t KW, int64_t stride_h, int64_t stride_w,
                    int64_t pad_h, int64_t pad_w, int64_t n0, int64_t count) {
    BN_CLEAR_UPPER();
    geometry g;
    const bn_status st = check(&g, dinp, dcols, 0, layout, N, C, H, W, KH, KW, stride_h, stride_w,
                               pad_h, pad_w, n0, count);
    if (st != BN_OK) return st;
    const ptrdiff_t chw = g.C * g.H * g.W, rows = g.HO * g.WO * g.K;
    for (ptrdiff_t n = 0; n < (ptrdiff_t)count; n++) {
        col2im_sample(dinp + ((ptrdiff_t)n0 + n) * chw, dcols + n * rows, &g);
    }
    return BN_OK;
}

// ----------------------------------------------------------------------------
// transpose, in tiles of TILE x TILE so that both sides are read and written a cache line at a time

#define TILE 16

bn_status bn_transpose(float *out, const float *inp, const float *bias, int64_t N, int64_t R,
                       int64_t C) {
    BN_CLEAR_UPPER();
    if (out == NULL || inp == NULL) return BN_ERR_NULL_POINTER;
    if (N < 1 || R < 1 || C < 1) return BN_ERR_BAD_DIMENSION;
    int64_t all = N;
    if (!mul_fits(&all, R) || !mul_fits(&all, C)) return BN_ERR_OVERFLOW;
    if (misaligned(out) || misaligned(inp) || misaligned(bias)) return BN_ERR_MISALIGNED;
    if (overlap(out, all, inp, all) || (bias != NULL && overlap(out, all, bias, C))) return BN_ERR_ALIAS;
    const ptrdiff_t rn = (ptrdiff_t)R, cn = (ptrdiff_t)C;
    for (ptrdiff_t n = 0; n < (ptrdiff_t)N; n++) {
        const float *restrict a = inp + n * rn * cn; // (R, C)
        float *restrict t = out + n * rn * cn;       // (C, R)
        for (ptrdiff_t c0 = 0; c0 < cn; c0 += TILE) {
            const ptrdiff_t c1 = c0 + TILE < cn ? c0 + TILE : cn;
            for (ptrdiff_t r0 = 0; r0 < rn; r0 += TILE) {
                const ptrdiff_t r1 = r0 + TILE < rn ? r0 + TILE : rn;
                for (ptrdiff_t c = c0; c < c1; c++) {
                    if (bias != NULL) {
                        const float b = bias[c];
                        for (ptrdiff_t r = r0; r < r1; r++) t[c * rn + r] = a[r * cn + c] + b;
                    } else {
                        for (ptrdiff_t r = r0; r < r1; r++) t[c * rn + r] = a[r * cn + c];
                    }
                }
            }
        }
    }
    return BN_OK;
}
