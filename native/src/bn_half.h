/*
 * bn_half.h - 16-bit floating-point formats: bf16 (1 sign, 8 exponent, 7 mantissa bits: the top
 * half of a float) and f16 (IEEE binary16: 1, 5, 10). Never installed, never exported.
 *
 * Widening (half -> float) is exact. Narrowing (float -> half) rounds to nearest, ties to even,
 * once; a value too large for the format becomes an infinity of its sign (IEEE overflow: f16 at
 * |x| >= 65520, bf16 at |x| >= 0x1.ffp127); f16 subnormals are produced and read
 * exactly; float subnormals narrow to bf16 subnormals (not flushed to zero). NaN stays NaN, made
 * quiet: the sign and the high payload bits are kept and the quiet bit set (what the x86
 * conversion instructions do). bf16 widening is a shift, so a bf16 NaN keeps its payload
 * exactly; an f16 NaN widens to a quiet float NaN (as F16C's vcvtph2ps).
 *
 * The scalar functions below are the definition: every vector path (bn_half_avx2.c,
 * bn_half_avx512.c) gives the same bits, and the C tests check that for every half value and
 * for the float values around every rounding boundary.
 */
#ifndef BN_HALF_H
#define BN_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t bn_float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bn_bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float bn_bf16_to_float(uint16_t h) { return bn_bits_float((uint32_t)h << 16); }

static inline uint16_t bn_float_to_bf16(float f) {
    const uint32_t u = bn_float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); // NaN: quiet
    // ties to even: add just under half an ulp of the result, plus one if the kept lsb is odd
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float bn_f16_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return bn_bits_float(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    if (e != 0) return bn_bits_float(sign | ((e + 112u) << 23) | (m << 13)); // rebias 15 -> 127
    return bn_bits_float(sign | bn_float_bits((float)m * 0x1p-24f)); // subnormal or zero: exact
}

static inline uint16_t bn_float_to_f16(float f) {
    const uint32_t u = bn_float_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); // NaN: quiet
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); // >= 65520 (max + half ulp): inf
    if (a >= 0x38800000u) { // >= 2^-14: a normal f16; drop 13 bits, ties to even, rebias
        return (uint16_t)(sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
    }
    // below 2^-14: a multiple of 2^-24 (an f16 subnormal, or 2^-14 after rounding up)
    const uint32_t e = a >> 23;
    if (e < 102) return sign; // below 2^-25 (half the least subnormal): zero
    const uint32_t m = (a & 0x7fffffu) | 0x800000u; // a = m * 2^(e - 150) = (m >> shift) * 2^-24
    const uint32_t shift = 126u - e;                  // 14..24
    const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    return (uint16_t)(sign | (q + (rem > half || (rem == half && (q & 1u)))));
}

// Loops over n elements, one table per instruction set (chosen in bn_half.c).
typedef struct bn_half_kernels {
    const char *name;
    void (*to_bf16)(uint16_t *dst, const float *src, ptrdiff_t n);
    void (*to_f16)(uint16_t *dst, const float *src, ptrdiff_t n);
    void (*from_bf16)(float *dst, const uint16_t *src, ptrdiff_t n);
    void (*from_f16)(float *dst, const uint16_t *src, ptrdiff_t n);
} bn_half_kernels;

#if defined(BN_X86_KERNELS)
// AVX2 + F16C (bn_half_avx2.c)
void bn_half_avx2_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx2_to_f16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx2_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n);
void bn_half_avx2_from_f16(float *dst, const uint16_t *src, ptrdiff_t n);
// AVX-512F (bn_half_avx512.c); _to_bf16 needs AVX512-BF16 as well
void bn_half_avx512_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx512_to_f16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx512_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n);
void bn_half_avx512_from_f16(float *dst, const uint16_t *src, ptrdiff_t n);
#endif

#endif /* BN_HALF_H */
