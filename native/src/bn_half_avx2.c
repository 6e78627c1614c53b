/*
 * bn_half_avx2.c - the conversion loops of bn_half.h with AVX2 and F16C, 8 floats per step;
 * compiled with -mavx2 -mfma -mf16c (CMakeLists.txt), called only on CPUs that have them
 * (bn_half.c). The last n mod 8 elements take the scalar definition.
 */
#include "bn_half.h"

#if defined(__x86_64__) || defined(_M_X64)

void bn_half_avx2_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) bn_avx2_store_bf16(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}

void bn_half_avx2_to_f16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) bn_avx2_store_f16(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = bn_float_to_f16(src[i]);
}

void bn_half_avx2_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bn_avx2_load_bf16(src + i));
    for (; i < n; i++) dst[i] = bn_bf16_to_float(src[i]);
}

void bn_half_avx2_from_f16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bn_avx2_load_f16(src + i));
    for (; i < n; i++) dst[i] = bn_f16_to_float(src[i]);
}

#endif
