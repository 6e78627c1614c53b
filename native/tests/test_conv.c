/*
 * test_conv.c - bn_im2col, bn_col2im, bn_transpose (bn.h) against naive loops written from the
 * definitions in bn.h: tap t of row (n-n0)*P + y*WO + x is (c, i, j) with t = (c*KH + i)*KW + j
 * for NCHW and t = (i*KW + j)*C + c for NHWC, read at (y*stride - pad + i, x*stride - pad + j).
 * The functions only copy and add (col2im in increasing row order), so results must be equal bit
 * for bit, on awkward sizes: 1x1, 3x3, 7x7 kernels, strides 1 and 2, paddings 0 to 2, images
 * whose sides are no multiple of anything, kernels as large as the padded image, chunks of samples.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct {
    int64_t N, C, H, W, KH, KW, sh, sw, ph, pw;
} conv_case;

static const conv_case CASES[] = {
    {2, 3, 5, 7, 3, 3, 1, 1, 1, 1},  // 3x3, same padding, odd sides
    {3, 2, 9, 6, 3, 3, 2, 2, 0, 0},  // stride 2, no padding: the last column is never read
    {2, 3, 11, 9, 7, 7, 2, 2, 2, 2}, // 7x7, stride 2, padding 2
    {2, 5, 4, 3, 1, 1, 1, 1, 0, 0},  // 1x1
    {3, 4, 7, 5, 1, 1, 2, 2, 0, 0},  // 1x1 stride 2 (the downsample)
    {2, 4, 5, 6, 3, 3, 2, 1, 2, 0},  // different strides and paddings per direction
    {1, 2, 3, 3, 3, 3, 1, 1, 2, 2},  // rows made of padding only
    {2, 3, 7, 7, 7, 7, 1, 1, 0, 0},  // kernel as large as the image: one output pixel
    {2, 2, 1, 1, 3, 3, 1, 1, 1, 1},  // 1x1 image, 3x3 kernel
    {1, 3, 2, 13, 2, 5, 1, 3, 0, 2}, // rectangular kernel
};

static int64_t ho(const conv_case *k) { return (k->H + 2 * k->ph - k->KH) / k->sh + 1; }
static int64_t wo(const conv_case *k) { return (k->W + 2 * k->pw - k->KW) / k->sw + 1; }

// the input index of (n, c, yy, xx) in layout, or -1 outside the image
static int64_t at(const conv_case *k, int layout, int64_t n, int64_t c, int64_t yy, int64_t xx) {
    if (yy < 0 || yy >= k->H || xx < 0 || xx >= k->W) return -1;
    return layout == BN_LAYOUT_NHWC ? ((n * k->H + yy) * k->W + xx) * k->C + c
                                    : ((n * k->C + c) * k->H + yy) * k->W + xx;
}

// the input index of tap t of row (n, y, x), or -1 in the padding
static int64_t tap(const conv_case *k, int layout, int64_t n, int64_t y, int64_t x, int64_t t) {
    int64_t c, i, j;
    if (layout == BN_LAYOUT_NHWC) {
        c = t % k->C;
        j = t / k->C % k->KW;
        i = t / k->C / k->KW;
    } else {
        j = t % k->KW;
        i = t / k->KW % k->KH;
        c = t / k->KW / k->KH;
    }
    return at(k, layout, n, c, y * k->sh - k->ph + i, x * k->sw - k->pw + j);
}

static int64_t row_of(const conv_case *k, int64_t n, int64_t y, int64_t x) {
    return (n * ho(k) + y) * wo(k) + x;
}

static int call_im2col(float *cols, const float *inp, int layout, const conv_case *k, int64_t n0,
                       int64_t count) {
    return bn_im2col(cols, inp, layout, k->N, k->C, k->H, k->W, k->KH, k->KW, k->sh, k->sw, k->ph,
                     k->pw, n0, count);
}

static int call_col2im(float *dinp, const float *dcols, int layout, const conv_case *k, int64_t n0,
                       int64_t count) {
    return bn_col2im(dinp, dcols, layout, k->N, k->C, k->H, k->W, k->KH, k->KW, k->sh, k->sw, k->ph,
                     k->pw, n0, count);
}

static void one_case(const conv_case *k, int layout, int64_t n0, int64_t count) {
    const int64_t K = k->C * k->KH * k->KW, P = ho(k) * wo(k), size = k->N * k->C * k->H * k->W;
    const int64_t rows = count * P;
    bt_rng r;
    bt_rng_seed(&r, (uint64_t)(size * 31 + K * 7 + layout));
    float *inp = bt_floats((size_t)size);
    bt_fill_normal(&r, inp, (size_t)size);
    float *cols = bt_floats((size_t)(rows * K + 1)); // NaN, and one float past the end
    CHECK(call_im2col(cols, inp, layout, k, n0, count) == BN_OK, "im2col status");
    int bad = 0;
    for (int64_t n = n0; n < n0 + count; n++) {
        for (int64_t y = 0; y < ho(k); y++) {
            for (int64_t x = 0; x < wo(k); x++) {
                const float *row = cols + row_of(k, n - n0, y, x) * K;
                for (int64_t t = 0; t < K; t++) {
                    const int64_t i = tap(k, layout, n, y, x, t);
                    const float want = i < 0 ? 0.0f : inp[i];
                    if (memcmp(&row[t], &want, sizeof want) != 0 && bad++ < 3) {
                        CHECK(0, "im2col layout %d N=%lld C=%lld H=%lld W=%lld %lldx%lld: sample %lld "
                              "pixel (%lld,%lld) tap %lld: got %g, expected %g", layout, (long long)k->N,
                              (long long)k->C, (long long)k->H, (long long)k->W, (long long)k->KH,
                              (long long)k->KW, (long long)n, (long long)y, (long long)x, (long long)t,
                              row[t], want);
                    }
                }
            }
        }
    }
    CHECK(bad == 0, "im2col: %d taps differ", bad);
    CHECK(cols[rows * K] != cols[rows * K], "im2col wrote past count*P rows");

    // col2im: a naive float accumulation in row order; samples outside the chunk stay untouched
    float *dcols = bt_floats((size_t)(rows * K));
    bt_fill_normal(&r, dcols, (size_t)(rows * K));
    float *dinp = bt_floats((size_t)size);
    float *want = bt_floats((size_t)size);
    const int64_t chw = k->C * k->H * k->W;
    for (int64_t i = n0 * chw; i < (n0 + count) * chw; i++) want[i] = 0.0f;
    for (int64_t n = n0; n < n0 + count; n++) {
        for (int64_t y = 0; y < ho(k); y++) {
            for (int64_t x = 0; x < wo(k); x++) {
                const float *row = dcols + row_of(k, n - n0, y, x) * K;
                for (int64_t t = 0; t < K; t++) {
                    const int64_t i = tap(k, layout, n, y, x, t);
                    if (i >= 0) want[i] += row[t];
                }
            }
        }
    }
    CHECK(call_col2im(dinp, dcols, layout, k, n0, count) == BN_OK, "col2im status");
    bad = 0;
    for (int64_t i = 0; i < size; i++) {
        const int same = memcmp(&dinp[i], &want[i], sizeof(float)) == 0 || (dinp[i] != dinp[i] && want[i] != want[i]);
        if (!same && bad++ < 3) {
            CHECK(0, "col2im layout %d N=%lld C=%lld H=%lld W=%lld %lldx%lld n0=%lld count=%lld: index %lld: "
                  "got %g, expected %g", layout, (long long)k->N, (long long)k->C, (long long)k->H,
                  (long long)k->W, (long long)k->KH, (long long)k->KW, (long long)n0, (long long)count,
                  (long long)i, dinp[i], want[i]);
        }
    }
    CHECK(bad == 0, "col2im: %d values differ", bad);
    free(inp);
    free(cols);
    free(dcols);
    free(dinp);
    free(want);
}

void test_conv_im2col(void) {
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        for (int layout = BN_LAYOUT_NCHW; layout <= BN_LAYOUT_NHWC; layout++) {
            const conv_case *k = &CASES[c];
            one_case(k, layout, 0, k->N);
            if (k->N > 1) {
                one_case(k, layout, 1, k->N - 1);
                one_case(k, layout, k->N - 1, 1);
            }
        }
    }
}

void test_conv_transpose(void) {
    const int64_t sizes[][3] = {{1, 1, 1}, {2, 3, 5}, {3, 17, 33}, {1, 64, 49}, {2, 49, 64}, {1, 1, 19}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t N = sizes[s][0], R = sizes[s][1], C = sizes[s][2], n = N * R * C;
        bt_rng r;
        bt_rng_seed(&r, (uint64_t)(n + 3));
        float *inp = bt_floats((size_t)n);
        float *bias = bt_floats((size_t)C);
        float *out = bt_floats((size_t)n);
        bt_fill_normal(&r, inp, (size_t)n);
        bt_fill_normal(&r, bias, (size_t)C);
        inp[0] = -0.0f;
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            CHECK(bn_transpose(out, inp, with_bias ? bias : NULL, N, R, C) == BN_OK, "status");
            int bad = 0;
            for (int64_t b = 0; b < N; b++) {
                for (int64_t c = 0; c < C; c++) {
                    for (int64_t i = 0; i < R; i++) {
                        const float a = inp[(b * R + i) * C + c];
                        const float want = with_bias ? a + bias[c] : a;
                        const float got = out[(b * C + c) * R + i];
                        if (memcmp(&got, &want, sizeof got) != 0) bad++;
                    }
                }
            }
            CHECK(bad == 0, "transpose (%lld, %lld, %lld) bias %d: %d values differ", (long long)N,
                  (long long)R, (long long)C, with_bias, bad);
        }
        free(inp);
        free(bias);
        free(out);
    }
}

void test_conv_check(void) {
    // N=2, C=2, H=5, W=4, 3x3, stride 1, padding 1: P = 20, K = 18
    enum { N = 2, C = 2, H = 5, W = 4, K = 18, P = 20, IMG = N * C * H * W, COLS = N * P * K,
           TOTAL = IMG + COLS + 8 };
    float *arena = bt_floats(TOTAL);
    bt_rng r;
    bt_rng_seed(&r, 5);
    bt_fill_normal(&r, arena, TOTAL);
    float *inp = arena;
    float *cols = arena + IMG;
    float *odd = (float *)(void *)((char *)(arena + IMG + COLS) + 2);
    float *before = bt_copy_floats(arena, TOTAL);
    const int L = BN_LAYOUT_NCHW;
#define EXPECT(expect, call)                                                                       \
    do {                                                                                           \
        const bn_status st_ = (call);                                                              \
        CHECK(st_ == (expect), "%s: got %d, expected %d", #call, st_, expect);                     \
        CHECK(memcmp(arena, before, sizeof(float) * TOTAL) == 0, "written by a rejected call: %s", #call); \
    } while (0)
    for (int dir = 0; dir < 2; dir++) {
        bn_status (*f)(float *, const float *, int, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) =
            dir == 0 ? bn_im2col : bn_col2im;
        float *out = dir == 0 ? cols : inp;
        const float *in = dir == 0 ? inp : cols;
        EXPECT(BN_ERR_NULL_POINTER, f(NULL, in, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_NULL_POINTER, f(out, NULL, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_LAYOUT, f(out, in, BN_LAYOUT_NC, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_LAYOUT, f(out, in, 3, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, 0, C, H, W, 3, 3, 1, 1, 1, 1, 0, 1));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, 0, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, -1, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 0, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 3, 0, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 3, 1, 1, -1, 1, 0, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 8, 3, 1, 1, 1, 1, 0, N));  // KH > H + 2
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 7, 1, 1, 1, 1, 0, N));  // KW > W + 2
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 3, 1, 1, 1, 1, -1, N));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, 0));
        EXPECT(BN_ERR_BAD_DIMENSION, f(out, in, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 1, N));  // n0+count > N
        EXPECT(BN_ERR_OVERFLOW, f(out, in, L, N, C, H, W, 3, 3, 1, 1, INT64_MAX / 2, 1, 0, N));
        EXPECT(BN_ERR_OVERFLOW, f(out, in, L, INT64_MAX / 4, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
        EXPECT(BN_ERR_OVERFLOW, f(out, in, L, 1, (int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21, 1, 1, 1, 1, 0, 0, 0, 1));
        EXPECT(BN_ERR_OVERFLOW, f(out, in, L, 1, (int64_t)1 << 25, (int64_t)1 << 16, (int64_t)1 << 16, 15, 15, 1, 1, 7, 7, 0, 1));
        EXPECT(BN_ERR_MISALIGNED, f(odd, in, L, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1));
        EXPECT(BN_ERR_MISALIGNED, f(out, odd, L, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1));
    }
    EXPECT(BN_ERR_ALIAS, bn_im2col(inp + 1, inp, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
    EXPECT(BN_ERR_ALIAS, bn_col2im(cols + 1, cols, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 0, N));
    EXPECT(BN_ERR_ALIAS, bn_im2col(inp + C * H * W + 4, inp, L, N, C, H, W, 3, 3, 1, 1, 1, 1, 1, 1));
    // bn_transpose
    EXPECT(BN_ERR_NULL_POINTER, bn_transpose(NULL, inp, NULL, 1, 2, 3));
    EXPECT(BN_ERR_NULL_POINTER, bn_transpose(cols, NULL, NULL, 1, 2, 3));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_transpose(cols, inp, NULL, 0, 2, 3));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_transpose(cols, inp, NULL, 1, -2, 3));
    EXPECT(BN_ERR_BAD_DIMENSION, bn_transpose(cols, inp, NULL, 1, 2, 0));
    EXPECT(BN_ERR_OVERFLOW, bn_transpose(cols, inp, NULL, (int64_t)1 << 30, (int64_t)1 << 30, 8));
    EXPECT(BN_ERR_MISALIGNED, bn_transpose(odd, inp, NULL, 1, 1, 1));
    EXPECT(BN_ERR_MISALIGNED, bn_transpose(cols, odd, NULL, 1, 1, 1));
    EXPECT(BN_ERR_MISALIGNED, bn_transpose(cols, inp, odd, 1, 1, 1));
    EXPECT(BN_ERR_ALIAS, bn_transpose(inp + 5, inp, NULL, 1, 2, 3));
    EXPECT(BN_ERR_ALIAS, bn_transpose(inp, inp, NULL, 1, 2, 3));
    EXPECT(BN_ERR_ALIAS, bn_transpose(cols, inp, cols + 5, 1, 2, 3));
#undef EXPECT
    free(arena);
    free(before);
}
