/*
 * bn_half_avx512.c - the conversions of bn_half.h with AVX-512F, 16 or 32 floats per step
 * (vcvtps2ph / vcvtph2ps for f16; AVX512-BF16's vcvtne2ps2bf16 for bf16, through a function
 * target attribute: bn_half.c calls it only on CPUs that have AVX512-BF16). Compiled with
 * -mavx512f -mfma (CMakeLists.txt), called only on CPUs that have them. The last elements that
 * do not fill a vector take the scalar definition.
 */
#include "bn_half.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

// vcvtne2ps2bf16 rounds to nearest even and quiets NaNs as bn_float_to_bf16 does, but reads
// float subnormals as zero: a step whose 32 inputs hold a subnormal takes the scalar definition.
__attribute__((target("avx512f,avx512bf16")))
void bn_half_avx512_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n) {
    const __m512i exp = _mm512_set1_epi32(0x7f800000), mant = _mm512_set1_epi32(0x007fffff);
    ptrdiff_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
        const __m512i ulo = _mm512_castps_si512(lo), uhi = _mm512_castps_si512(hi);
        // subnormal: exponent bits 0 and mantissa bits not 0
        const __mmask16 slo = _mm512_mask_test_epi32_mask(
            _mm512_testn_epi32_mask(ulo, exp), ulo, mant);
        const __mmask16 shi = _mm512_mask_test_epi32_mask(
            _mm512_testn_epi32_mask(uhi, exp), uhi, mant);
        if ((slo | shi) != 0) {
            for (ptrdiff_t j = i; j < i + 32; j++) dst[j] = bn_float_to_bf16(src[j]);
            continue;
        }
        _mm512_storeu_si512((void *)(dst + i), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}

void bn_half_avx512_to_f16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(dst + i), h);
    }
    for (; i < n; i++) dst[i] = bn_float_to_f16(src[i]);
}

void bn_half_avx512_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(w, 16));
    }
    for (; i < n; i++) dst[i] = bn_bf16_to_float(src[i]);
}

void bn_half_avx512_from_f16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(dst + i,
                         _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    }
    for (; i < n; i++) dst[i] = bn_f16_to_float(src[i]);
}

#endif
