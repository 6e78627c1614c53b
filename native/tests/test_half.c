/*
 * test_half.c - bn_convert (bn.h) against references written from the formats' definitions
 * alone: a half value is (-1)^s * significand * 2^exponent computed with ldexp, and rounding is
 * a search for the nearest value in the sorted table of all finite values of the format, ties to
 * the even encoding, with the infinity standing as the value one ulp above the largest finite
 * one. CTest runs these tests once per instruction set (BNORM_ISA), and every path must give the
 * reference's bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct {
    int dtype;
    const char *name;
    int mant_bits; // 7 or 10
    int exp_bits;  // 8 or 5
} fmt;

static const fmt BF16 = {BN_BF16, "bf16", 7, 8};
static const fmt F16 = {BN_F16, "f16", 10, 5};

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int is_nan_half(const fmt *f, uint16_t h) {
    const uint32_t emax = (1u << f->exp_bits) - 1u, e = (h & 0x7fffu) >> f->mant_bits;
    return e == emax && (h & ((1u << f->mant_bits) - 1u)) != 0;
}

// The value of a non-NaN half (infinity included) from its definition.
static double half_value(const fmt *f, uint16_t h) {
    const int mb = f->mant_bits, bias = (1 << (f->exp_bits - 1)) - 1;
    const uint32_t emax = (1u << f->exp_bits) - 1u;
    const uint32_t e = (h & 0x7fffu) >> mb, m = h & ((1u << mb) - 1u);
    const double sign = (h & 0x8000u) ? -1.0 : 1.0;
    if (e == emax) return sign * INFINITY;
    if (e == 0) return sign * ldexp((double)m, 1 - bias - mb);
    return sign * ldexp((double)((1u << mb) + m), (int)e - bias - mb);
}

// The float bits that widening a half gives: its value, or for a NaN the payload moved up
// (bf16: exactly; f16: with the quiet bit set).
static uint32_t ref_widen(const fmt *f, uint16_t h) {
    if (is_nan_half(f, h)) {
        const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
        const uint32_t m = h & ((1u << f->mant_bits) - 1u);
        const uint32_t quiet = f->dtype == BN_F16 ? 0x400000u : 0u;
        return sign | 0x7f800000u | (m << (23 - f->mant_bits)) | quiet;
    }
    return bits_of((float)half_value(f, h));
}

// positive finite values of the format in increasing order, then the infinity's stand-in
static double *table_values;
static uint16_t *table_bits;
static size_t table_n;

static void build_table(const fmt *f) {
    const uint16_t inf = (uint16_t)(((1u << f->exp_bits) - 1u) << f->mant_bits);
    table_n = (size_t)inf + 1;
    table_values = malloc(table_n * sizeof *table_values);
    table_bits = malloc(table_n * sizeof *table_bits);
    for (uint16_t h = 0; h < inf; h++) {
        table_values[h] = half_value(f, h);
        table_bits[h] = h;
    }
    // one ulp of the largest finite value above it (an exponent step up)
    table_values[inf] = 2 * table_values[inf - 1] - table_values[inf - 2];
    table_bits[inf] = inf;
}

static void free_table(void) {
    free(table_values);
    free(table_bits);
}

static uint16_t ref_narrow(const fmt *f, float x) {
    const uint32_t u = bits_of(x);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (isnan(x)) {
        const uint32_t payload = (u & 0x7fffffu) >> (23 - f->mant_bits);
        const uint32_t quiet = 1u << (f->mant_bits - 1);
        const uint16_t inf = (uint16_t)(((1u << f->exp_bits) - 1u) << f->mant_bits);
        return (uint16_t)(sign | inf | payload | quiet);
    }
    const double a = fabs((double)x);
    if (a >= table_values[table_n - 1]) return (uint16_t)(sign | table_bits[table_n - 1]);
    size_t lo = 0, hi = table_n - 1; // table_values[lo] <= a < table_values[hi]
    while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        if (table_values[mid] <= a) lo = mid;
        else hi = mid;
    }
    const double dlo = a - table_values[lo], dhi = table_values[hi] - a;
    uint16_t h;
    if (dlo < dhi) h = table_bits[lo];
    else if (dhi < dlo) h = table_bits[hi];
    else h = (table_bits[lo] & 1u) == 0 ? table_bits[lo] : table_bits[hi];
    return (uint16_t)(sign | h);
}

static void test_widen(const fmt *f) {
    uint16_t *src = malloc(65536 * sizeof *src);
    float *dst = bt_floats(65536 + 1);
    for (uint32_t i = 0; i < 65536; i++) src[i] = (uint16_t)i;
    const float guard = dst[65536];
    CHECK(bn_convert(dst, BN_F32, src, f->dtype, 65536) == BN_OK, "%s widen status", f->name);
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint32_t got = bits_of(dst[i]), want = ref_widen(f, (uint16_t)i);
        if (got != want && bad++ < 10) {
            CHECK(got == want, "%s 0x%04x widened to 0x%08x, expected 0x%08x", f->name, i, got, want);
        }
    }
    CHECK(bad == 0, "%s: %d of 65536 values widened wrongly", f->name, bad);
    CHECK(bits_of(dst[65536]) == bits_of(guard), "%s widen wrote past n", f->name);
    free(src);
    free(dst);
}

void test_half_widen(void) {
    test_widen(&BF16);
    test_widen(&F16);
}

// Floats around every rounding boundary of the format: each finite half value and the midpoint
// to its successor, each with its float neighbours; float subnormals; NaNs with many payloads;
// infinities; and random bit patterns over the whole range.
static size_t boundary_floats(const fmt *f, float *out) {
    size_t n = 0;
    const uint16_t inf = (uint16_t)(((1u << f->exp_bits) - 1u) << f->mant_bits);
    for (uint32_t h = 0; h < inf; h++) {
        const double v = half_value(f, (uint16_t)h);
        const double next = h + 1 < inf ? half_value(f, (uint16_t)(h + 1)) : 2 * v - half_value(f, (uint16_t)(h - 1));
        const float mid = (float)((v + next) / 2); // exact: one more bit than the format
        const float pts[] = {(float)v, mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY),
                             nextafterf((float)v, INFINITY)};
        for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++) {
            out[n++] = pts[k];
            out[n++] = -pts[k];
        }
    }
    const uint32_t specials[] = {0x00000001u, 0x00000002u, 0x00007fffu, 0x00008000u, 0x00008001u,
                                 0x00018000u, 0x007fffffu, 0x007f8000u, 0x00800000u, 0x7f7fffffu,
                                 0x7f7f7fffu, 0x7f7f8000u, 0x7f7f8001u, 0x7f800000u, 0x7f800001u,
                                 0x7f80ffffu, 0x7fc00000u, 0x7fffffffu, 0x7fa00000u, 0x7f812345u,
                                 0x7fbfe000u, 0x7f801000u, 0x477fefffu, 0x477ff000u, 0x477ff001u,
                                 0x33000000u, 0x33000001u, 0x33400000u, 0x32ffffffu, 0x387fefffu,
                                 0x387ff000u, 0x387fffffu};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        out[n++] = float_of(specials[k]);
        out[n++] = float_of(specials[k] | 0x80000000u);
    }
    bt_rng r;
    bt_rng_seed(&r, 20 + (uint64_t)f->dtype);
    for (int k = 0; k < 200000; k++) {
        out[n++] = float_of((uint32_t)(bt_uniform(&r) * 4294967296.0));
    }
    return n;
}

static void test_narrow(const fmt *f) {
    build_table(f);
    const size_t cap = 10 * 65536 + 64 + 200000;
    float *src = bt_floats(cap);
    const size_t n = boundary_floats(f, src);
    uint16_t *dst = malloc((n + 1) * sizeof *dst);
    dst[n] = 0xabcdu;
    CHECK(bn_convert(dst, f->dtype, src, BN_F32, (int64_t)n) == BN_OK, "%s narrow status", f->name);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const uint16_t want = ref_narrow(f, src[i]);
        if (dst[i] != want && bad++ < 10) {
            CHECK(dst[i] == want, "%s: float 0x%08x (%a) narrowed to 0x%04x, expected 0x%04x",
                  f->name, bits_of(src[i]), (double)src[i], dst[i], want);
        }
    }
    CHECK(bad == 0, "%s: %d of %zu floats narrowed wrongly", f->name, bad, n);
    CHECK(dst[n] == 0xabcdu, "%s narrow wrote past n", f->name);

    // bf16 <-> f16: the narrowing of the exact widening
    const fmt *g = f->dtype == BN_BF16 ? &F16 : &BF16;
    uint16_t *all = malloc(65536 * sizeof *all);
    uint16_t *conv = malloc(65536 * sizeof *conv);
    for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    CHECK(bn_convert(conv, f->dtype, all, g->dtype, 65536) == BN_OK, "%s from %s", f->name, g->name);
    bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t want = ref_narrow(f, float_of(ref_widen(g, (uint16_t)i)));
        if (conv[i] != want && bad++ < 10) {
            CHECK(conv[i] == want, "%s 0x%04x to %s gave 0x%04x, expected 0x%04x", g->name, i,
                  f->name, conv[i], want);
        }
    }
    CHECK(bad == 0, "%s from %s: %d of 65536 wrong", f->name, g->name, bad);
    free(all);
    free(conv);
    free(src);
    free(dst);
    free_table();
}

void test_half_narrow(void) {
    test_narrow(&BF16);
    test_narrow(&F16);
}

// Every length around the vector widths, with a float subnormal at each position of the step
// (the AVX512-BF16 path takes the scalar definition for such steps), and nothing written past n.
void test_half_lengths(void) {
    const fmt *fmts[] = {&BF16, &F16};
    for (int fi = 0; fi < 2; fi++) {
        const fmt *f = fmts[fi];
        build_table(f);
        for (int64_t n = 0; n <= 100; n++) {
            for (int64_t sub = -1; sub < n && sub < 40; sub++) {
                float src[101];
                uint16_t half[102];
                float back[102];
                bt_rng r;
                bt_rng_seed(&r, (uint64_t)(n * 1000 + sub + 1));
                for (int64_t i = 0; i < n; i++) src[i] = (float)(bt_normal(&r) * 3.0);
                if (sub >= 0) src[sub] = float_of(0x00418000u); // a float subnormal, a bf16 tie
                for (int i = 0; i < 102; i++) {
                    half[i] = 0x5555u;
                    back[i] = 7.0f;
                }
                CHECK(bn_convert(half, f->dtype, src, BN_F32, n) == BN_OK, "narrow n=%d", (int)n);
                CHECK(bn_convert(back, BN_F32, half, f->dtype, n) == BN_OK, "widen n=%d", (int)n);
                for (int64_t i = 0; i < n; i++) {
                    const uint16_t want = ref_narrow(f, src[i]);
                    CHECK(half[i] == want, "%s n=%d sub=%d [%d]: 0x%04x, expected 0x%04x", f->name,
                          (int)n, (int)sub, (int)i, half[i], want);
                    CHECK(bits_of(back[i]) == ref_widen(f, want), "%s n=%d [%d] widened", f->name,
                          (int)n, (int)i);
                }
                CHECK(half[n] == 0x5555u && back[n] == 7.0f, "%s n=%d wrote past n", f->name, (int)n);
            }
        }
        free_table();
    }
}

static void expect_status(bn_status want, bn_status got, const char *what) {
    CHECK(got == want, "%s: status %d (%s), expected %d (%s)", what, (int)got, bn_strerror(got),
          (int)want, bn_strerror(want));
    if ((int)got >= 0 && (int)got < 32) bt_statuses_seen |= 1u << (unsigned int)got;
}

void test_convert_check(void) {
    _Alignas(8) unsigned char buf[64];
    memset(buf, 0x11, sizeof buf);
    float *f = (float *)(void *)buf;          // 8 floats in buf[0, 32)
    uint16_t *h = (uint16_t *)(void *)(buf + 32); // 16 halves in buf[32, 64)
    expect_status(BN_ERR_NULL_POINTER, bn_convert(NULL, BN_BF16, f, BN_F32, 4), "dst NULL");
    expect_status(BN_ERR_NULL_POINTER, bn_convert(h, BN_BF16, NULL, BN_F32, 4), "src NULL");
    expect_status(BN_ERR_NULL_POINTER, bn_convert(NULL, BN_BF16, f, 7, -1), "NULL before dtype");
    expect_status(BN_ERR_BAD_DTYPE, bn_convert(h, 3, f, BN_F32, 4), "dst_dtype 3");
    expect_status(BN_ERR_BAD_DTYPE, bn_convert(h, BN_F16, f, -1, 4), "src_dtype -1");
    expect_status(BN_ERR_BAD_DTYPE, bn_convert(h, -7, f, BN_F32, -1), "dtype before n");
    expect_status(BN_ERR_BAD_DIMENSION, bn_convert(h, BN_BF16, f, BN_F32, -1), "n -1");
    expect_status(BN_ERR_BAD_DIMENSION, bn_convert(h, BN_BF16, f, BN_F32, INT64_MIN), "n min");
    expect_status(BN_ERR_OVERFLOW, bn_convert(h, BN_BF16, f, BN_F32, INT64_MAX), "n max");
    expect_status(BN_ERR_OVERFLOW, bn_convert(h, BN_BF16, f, BN_F32, INT64_MAX / 2), "n max/2");
    expect_status(BN_ERR_MISALIGNED, bn_convert(h, BN_BF16, buf + 2, BN_F32, 4), "float at 2");
    expect_status(BN_ERR_MISALIGNED, bn_convert(buf + 33, BN_BF16, f, BN_F32, 4), "bf16 at 1");
    expect_status(BN_ERR_MISALIGNED, bn_convert(buf + 2, BN_F32, h, BN_F16, 4), "float dst at 2");
    expect_status(BN_ERR_ALIAS, bn_convert(buf + 8, BN_BF16, f, BN_F32, 4), "dst inside src");
    expect_status(BN_ERR_ALIAS, bn_convert(f, BN_F32, f + 3, BN_F32, 4), "overlapping copy");
    expect_status(BN_ERR_ALIAS, bn_convert(f, BN_F32, f, BN_F32, 1), "same buffer");
    expect_status(BN_ERR_ALIAS, bn_convert(buf + 28, BN_F32, h, BN_BF16, 2), "tail touches");
    for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == 0x11, "buf[%zu] changed", i);
    // the edges that pass
    expect_status(BN_OK, bn_convert(h, BN_BF16, f, BN_F32, 0), "n 0");
    for (size_t i = 0; i < sizeof buf; i++) CHECK(buf[i] == 0x11, "n 0 wrote buf[%zu]", i);
    expect_status(BN_OK, bn_convert(buf + 28, BN_F32, h, BN_BF16, 1), "adjacent ranges");
    expect_status(BN_OK, bn_convert(buf + 30, BN_F16, buf + 32, BN_BF16, 1), "adjacent halves");
    expect_status(BN_OK, bn_convert(f, BN_F32, f + 4, BN_F32, 4), "copy");
    CHECK(memcmp(buf, buf + 16, 16) == 0, "copy copied");
}
