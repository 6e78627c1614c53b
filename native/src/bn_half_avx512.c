/*
 * bn_half_avx512.c - the conversion loops of bn_half.h with AVX-512F, 16 floats per step; the
 * bf16 narrowing once with AVX512-BF16's vcvtneps2bf16 (a function target attribute: bn_half.c
 * calls it only on CPUs that have AVX512-BF16) and once in integer arithmetic. Compiled with
 * -mavx512f -mfma (CMakeLists.txt), called only on CPUs that have them. The last n mod 16
 * elements take the scalar definition.
 */
#include "bn_half.h"

#if defined(__x86_64__) || defined(_M_X64)

__attribute__((target("avx512f,avx512bf16")))
void bn_half_avx512_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) bn_avx512_store_bf16_hw(dst + i, _mm512_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}

void bn_half_avx512_to_bf16_int(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) bn_avx512_store_bf16_int(dst + i, _mm512_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}

void bn_half_avx512_to_f16(uint16_t *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) bn_avx512_store_f16(dst + i, _mm512_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = bn_float_to_f16(src[i]);
}

void bn_half_avx512_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, bn_avx512_load_bf16(src + i));
    for (; i < n; i++) dst[i] = bn_bf16_to_float(src[i]);
}

void bn_half_avx512_from_f16(float *dst, const uint16_t *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, bn_avx512_load_f16(src + i));
    for (; i < n; i++) dst[i] = bn_f16_to_float(src[i]);
}

#endif
