/*
 * bn_dispatch.c - picks the kernel table once: the widest instruction set that both the CPU and
 * the build support, capped by the environment variable BNORM_ISA (generic, avx2, avx512), which
 * exists so that the tests and benchmarks can run every path on one machine.
 */
#include <stdlib.h>
#include <string.h>
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "bn_internal.h"
#include "bn_kernels.h"

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
static _Atomic(const bn_kernels *const *) chosen;
#define LOAD_CHOSEN() atomic_load_explicit(&chosen, memory_order_acquire)
#define STORE_CHOSEN(k) atomic_store_explicit(&chosen, (k), memory_order_release)
#else
static const bn_kernels *const *volatile chosen; // every thread computes the same value
#define LOAD_CHOSEN() (chosen)
#define STORE_CHOSEN(k) (chosen = (k))
#endif

// 0 generic, 1 avx2, 2 avx512: what the CPU (and the OS, for the register state) supports
static int cpu_level(void) {
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

static int env_cap(void) {
    const char *v = getenv("BNORM_ISA");
    if (v == NULL || *v == '\0') return 2;
    if (strcmp(v, "generic") == 0) return 0;
    if (strcmp(v, "avx2") == 0) return 1;
    return 2; // "avx512" or anything else: no cap
}

// the tables of one instruction set: float32, bf16, f16 activations
typedef const bn_kernels *const bn_row[3];
static bn_row generic_row = {&bn_kernels_generic, &bn_kernels_generic_bf16, &bn_kernels_generic_f16};
#if defined(BN_X86_KERNELS)
static bn_row avx2_row = {&bn_kernels_avx2, &bn_kernels_avx2_bf16, &bn_kernels_avx2_f16};
static bn_row avx512_row = {&bn_kernels_avx512, &bn_kernels_avx512_bf16, &bn_kernels_avx512_f16};
static bn_row avx512_bf16hw_row = {&bn_kernels_avx512, &bn_kernels_avx512_bf16hw, &bn_kernels_avx512_f16};
// the 16-bit tables of avx2 and avx512 are compiled with F16C: without it, the generic ones
static bn_row avx2_no_f16c = {&bn_kernels_avx2, &bn_kernels_generic_bf16, &bn_kernels_generic_f16};
static bn_row avx512_no_f16c = {&bn_kernels_avx512, &bn_kernels_generic_bf16, &bn_kernels_generic_f16};
// the 16-bit tables of avx512 also use AVX512-BW/VL: without them, those of avx2
static bn_row avx512_no_bw = {&bn_kernels_avx512, &bn_kernels_avx2_bf16, &bn_kernels_avx2_f16};

// F16C: CPUID 1, ECX bit 29
static int has_f16c(void) {
#if defined(__GNUC__)
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
#else
    return 0;
#endif
}

static int has_avx512bw_vl(void) {
#if defined(__GNUC__)
    return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

// AVX512-BF16: CPUID 7.1, EAX bit 5; its narrowing unless BNORM_ISA is exactly "avx512" (which the
// tests use to run the integer narrowing of CPUs without it, as bn_half.c does)
static int use_avx512bf16(void) {
    const char *v = getenv("BNORM_ISA");
    if (v != NULL && strcmp(v, "avx512") == 0) return 0;
#if defined(__GNUC__)
    unsigned int a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1u);
#else
    return 0;
#endif
}
#endif

static const bn_kernels *const *choose(void) {
    int level = cpu_level();
    const int cap = env_cap();
    if (cap < level) level = cap;
#if defined(BN_X86_KERNELS)
    if (level == 2 && !has_f16c()) return avx512_no_f16c;
    if (level == 2 && !has_avx512bw_vl()) return avx512_no_bw;
    if (level == 2) return use_avx512bf16() ? avx512_bf16hw_row : avx512_row;
    if (level == 1) return has_f16c() ? avx2_row : avx2_no_f16c;
#endif
    (void)level;
    return generic_row;
}

static const bn_kernels *const *chosen_row(void) {
    const bn_kernels *const *k = LOAD_CHOSEN();
    if (k == NULL) {
        k = choose();
        STORE_CHOSEN(k);
    }
    return k;
}

const bn_kernels *bn_kernels_get(void) { return chosen_row()[0]; }

const bn_kernels *bn_kernels_for(unsigned int flags) {
    return chosen_row()[(flags & BN_DATA_BF16) ? 1 : (flags & BN_DATA_F16) ? 2 : 0];
}
