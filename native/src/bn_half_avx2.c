/*
 * bn_half_avx2.c - the conversions of bn_half.h with AVX2 and F16C, 8 or 16 floats per step;
 * compiled with -mavx2 -mfma -mf16c (CMakeLists.txt), called only on CPUs that have them
 * (bn_half.c). The last n mod 8 (or 16) elements take the scalar definition.
 */
#include "bn_half.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

// the bf16 of 8 floats (given as their bits), each in the low 16 bits of its 32-bit lane
static __m256i bf16_lanes(__m256i u) {
    const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

void bn_half_avx2_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i a = bf16_lanes(_mm256_loadu_si256((const __m256i *)(src + i)));
        const __m256i b = bf16_lanes(_mm256_loadu_si256((const __m256i *)(src + i + 8)));
        // packus works per 128-bit half: a0-3 b0-3 a4-7 b4-7; the permute restores the order
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    for (; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}

void bn_half_avx2_to_f16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < n; i++) dst[i] = bn_float_to_f16(src[i]);
}

void bn_half_avx2_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++) dst[i] = bn_bf16_to_float(src[i]);
}

void bn_half_avx2_from_f16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    }
    for (; i < n; i++) dst[i] = bn_f16_to_float(src[i]);
}

#endif
