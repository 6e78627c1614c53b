/*
 * bn_dispatch.c - picks the kernel table once: the widest instruction set that both the CPU and
 * the build support, capped by the environment variable BNORM_ISA (generic, avx2, avx512), which
 * exists so that the tests and benchmarks can run every path on one machine.
 */
#include <stdlib.h>
#include <string.h>

#include "bn_internal.h"
#include "bn_kernels.h"

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
static _Atomic(const bn_kernels *) chosen;
#define LOAD_CHOSEN() atomic_load_explicit(&chosen, memory_order_acquire)
#define STORE_CHOSEN(k) atomic_store_explicit(&chosen, (k), memory_order_release)
#else
static const bn_kernels *volatile chosen; // every thread computes the same value
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

static const bn_kernels *choose(void) {
    int level = cpu_level();
    const int cap = env_cap();
    if (cap < level) level = cap;
#if defined(BN_X86_KERNELS)
    if (level == 2) return &bn_kernels_avx512;
    if (level == 1) return &bn_kernels_avx2;
#endif
    (void)level;
    return &bn_kernels_generic;
}

const bn_kernels *bn_kernels_get(void) {
    const bn_kernels *k = LOAD_CHOSEN();
    if (k == NULL) {
        k = choose();
        STORE_CHOSEN(k);
    }
    return k;
}
