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
 * The scalar functions below are the definition: the vector helpers after them (and the loops of
 * bn_half_avx2.c, bn_half_avx512.c built on them) give the same bits, and the C tests check that
 * for every half value and for the float values around every rounding boundary.
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

// ----------------------------------------------------------------------------
// vectors: the same conversions on 8 (AVX2 + F16C) or 16 (AVX-512F) lanes, for the files compiled
// with those instruction sets (bn_half_avx2.c, bn_half_avx512.c, and kernels that read or write
// 16-bit activations). Same bits as the scalar definition.

#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>

static inline __m256 bn_avx2_load_bf16(const uint16_t *p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

// the bf16 of each lane in the low 16 bits of its 32-bit lane (integer RNE, as bn_float_to_bf16)
static inline __m256i bn_avx2_bf16_lanes(__m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

static inline void bn_avx2_store_bf16(uint16_t *p, __m256 v) {
    const __m256i lanes = bn_avx2_bf16_lanes(v);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(lanes),
                                            _mm256_extracti128_si256(lanes, 1));
    _mm_storeu_si128((__m128i *)p, packed);
}

static inline __m256 bn_avx2_load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline void bn_avx2_store_f16(uint16_t *p, __m256 v) {
    _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

static inline __m512 bn_avx512_load_bf16(const uint16_t *p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

// integer RNE, as bn_float_to_bf16: for CPUs without AVX512-BF16
static inline __m256i bn_avx512_bf16_int(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

static inline void bn_avx512_store_bf16_int(uint16_t *p, __m512 v) {
    _mm256_storeu_si256((__m256i *)p, bn_avx512_bf16_int(v));
}

// vcvtneps2bf16 (AVX512-BF16) rounds to nearest even and quiets NaNs as bn_float_to_bf16 does,
// but reads float subnormals as zero: a vector holding one takes the integer path.
__attribute__((target("avx512f,avx512bf16")))
static inline void bn_avx512_store_bf16_hw(uint16_t *p, __m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __mmask16 subnormal = _mm512_mask_test_epi32_mask(
        _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000)), u, _mm512_set1_epi32(0x007fffff));
    const __m256i h = subnormal ? bn_avx512_bf16_int(v) : (__m256i)_mm512_cvtneps_pbh(v);
    _mm256_storeu_si256((__m256i *)p, h);
}

static inline __m512 bn_avx512_load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline void bn_avx512_store_f16(uint16_t *p, __m512 v) {
    _mm256_storeu_si256((__m256i *)p,
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif

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
// AVX-512F (bn_half_avx512.c); _to_bf16 needs AVX512-BF16 as well, _to_bf16_int does not
void bn_half_avx512_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx512_to_bf16_int(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx512_to_f16(uint16_t *dst, const float *src, ptrdiff_t n);
void bn_half_avx512_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n);
void bn_half_avx512_from_f16(float *dst, const uint16_t *src, ptrdiff_t n);
#endif

#endif /* BN_HALF_H */
