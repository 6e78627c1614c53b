/*
 * bn_half.c - bn_convert (bn.h): argument checks, the choice of the instruction set for the
 * conversions of bn_half.h, and the loops between any two bn_dtype formats.
 *
 * Checks, in this order; the first one that fails gives the status, and nothing is written
 * unless all pass:
 *   1. BN_ERR_NULL_POINTER   dst or src is NULL.
 *   2. BN_ERR_BAD_DTYPE      dst_dtype or src_dtype is not a bn_dtype value.
 *   3. BN_ERR_BAD_DIMENSION  n < 0.
 *   4. BN_ERR_OVERFLOW       n floats do not fit in size_t and ptrdiff_t bytes.
 *   5. BN_ERR_MISALIGNED     dst or src is not a multiple of its element size (4 or 2 bytes).
 *   6. BN_ERR_ALIAS          the byte ranges of dst and src overlap (n > 0).
 *
 * Instruction set: the rule of bn_dispatch.c (the widest the CPU and the build support, capped
 * by BNORM_ISA = generic, avx2, avx512), with the conversion instructions each level needs: F16C
 * for avx2; AVX-512F for avx512, whose bf16 narrowing uses AVX512-BF16's instruction when the
 * CPU has it and BNORM_ISA does not cap the level at "avx512" (which the tests use to run the
 * integer narrowing of CPUs without it). Every level gives the same bits (bn_half.h). A call
 * runs on the calling thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bn.h"
#include "bn_half.h"
#include "bn_internal.h"

#if defined(BN_X86_KERNELS) && defined(__GNUC__)
#include <cpuid.h>

// F16C (CPUID 1: ECX bit 29) and AVX512-BF16 (CPUID 7.1: EAX bit 5), read from CPUID because
// not every compiler's __builtin_cpu_supports knows them
static int has_f16c(void) {
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
}

static int has_avx512bf16(void) {
    unsigned int a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1u);
}
#endif

static void generic_to_bf16(uint16_t *dst, const float *src, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = bn_float_to_bf16(src[i]);
}
static void generic_to_f16(uint16_t *dst, const float *src, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = bn_float_to_f16(src[i]);
}
static void generic_from_bf16(float *dst, const uint16_t *src, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = bn_bf16_to_float(src[i]);
}
static void generic_from_f16(float *dst, const uint16_t *src, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = bn_f16_to_float(src[i]);
}

static const bn_half_kernels generic = {"generic", generic_to_bf16, generic_to_f16,
                                        generic_from_bf16, generic_from_f16};
#if defined(BN_X86_KERNELS)
static const bn_half_kernels avx2 = {"avx2", bn_half_avx2_to_bf16, bn_half_avx2_to_f16,
                                     bn_half_avx2_from_bf16, bn_half_avx2_from_f16};
static const bn_half_kernels avx512 = {"avx512", bn_half_avx512_to_bf16, bn_half_avx512_to_f16,
                                       bn_half_avx512_from_bf16, bn_half_avx512_from_f16};
static const bn_half_kernels avx512_nobf16 = {"avx512", bn_half_avx512_to_bf16_int,
                                              bn_half_avx512_to_f16, bn_half_avx512_from_bf16,
                                              bn_half_avx512_from_f16};
#endif

// Chosen at every call: a getenv and a few cpuid bits cost nothing next to a conversion worth
// calling, and the table is then always the one BNORM_ISA names.
static const bn_half_kernels *half_kernels(void) {
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
    const char *cap = getenv("BNORM_ISA");
    if (cap != NULL && strcmp(cap, "generic") == 0) return &generic;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
        !has_f16c()) {
        return &generic;
    }
    if ((cap != NULL && strcmp(cap, "avx2") == 0) || !__builtin_cpu_supports("avx512f")) {
        return &avx2;
    }
    if (cap != NULL && strcmp(cap, "avx512") == 0) return &avx512_nobf16;
    return has_avx512bf16() ? &avx512 : &avx512_nobf16;
#else
    return &generic;
#endif
}

static size_t dtype_size(int dtype) { return dtype == BN_F32 ? 4 : 2; }

static bn_status check(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n) {
    if (dst == NULL || src == NULL) return BN_ERR_NULL_POINTER;
    if (dst_dtype < BN_F32 || dst_dtype > BN_F16 || src_dtype < BN_F32 || src_dtype > BN_F16) {
        return BN_ERR_BAD_DTYPE;
    }
    if (n < 0) return BN_ERR_BAD_DIMENSION;
    uint64_t max_bytes = (uint64_t)SIZE_MAX;
    if ((uint64_t)PTRDIFF_MAX < max_bytes) max_bytes = (uint64_t)PTRDIFF_MAX;
    if ((uint64_t)n > max_bytes / 4) return BN_ERR_OVERFLOW;
    const uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (d % dtype_size(dst_dtype) != 0 || s % dtype_size(src_dtype) != 0) return BN_ERR_MISALIGNED;
    const uintptr_t d_end = d + (uintptr_t)n * dtype_size(dst_dtype);
    const uintptr_t s_end = s + (uintptr_t)n * dtype_size(src_dtype);
    if (n > 0 && d < s_end && s < d_end) return BN_ERR_ALIAS;
    return BN_OK;
}

bn_status bn_convert(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n) {
    BN_CLEAR_UPPER();
    const bn_status st = check(dst, dst_dtype, src, src_dtype, n);
    if (st != BN_OK || n == 0) return st;
    const ptrdiff_t len = (ptrdiff_t)n;
    if (dst_dtype == src_dtype) {
        memcpy(dst, src, (size_t)len * dtype_size(dst_dtype));
        return BN_OK;
    }
    const bn_half_kernels *k = half_kernels();
    if (src_dtype == BN_F32) {
        (dst_dtype == BN_BF16 ? k->to_bf16 : k->to_f16)((uint16_t *)dst, (const float *)src, len);
    } else if (dst_dtype == BN_F32) {
        (src_dtype == BN_BF16 ? k->from_bf16 : k->from_f16)((float *)dst, (const uint16_t *)src,
                                                            len);
    } else { // bf16 <-> f16 through float: the widening is exact, so one rounding
        float buf[1024];
        for (ptrdiff_t i = 0; i < len; i += 1024) {
            const ptrdiff_t m = len - i < 1024 ? len - i : 1024;
            (src_dtype == BN_BF16 ? k->from_bf16 : k->from_f16)(buf, (const uint16_t *)src + i,
                                                                m);
            (dst_dtype == BN_BF16 ? k->to_bf16 : k->to_f16)((uint16_t *)dst + i, buf, m);
        }
    }
    return BN_OK;
}
