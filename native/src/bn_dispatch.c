/*
 * bn_dispatch.c - what the library reads off the machine once: the kernel table (the widest
 * instruction set that both the CPU and the build support, capped by the environment variable
 * BNORM_ISA: generic, avx2, avx512), the cache sizes (BNORM_CACHE_BYTES and BNORM_L2_BYTES
 * override them), the output size from which stores bypass the caches (cache_share; or
 * BNORM_STREAM_BYTES) and the tensor size from which the rows view and the NCHW backward fetch
 * ahead (BNORM_FETCH_BYTES). The variables exist so that the tests and benchmarks can run every
 * path on one machine.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L // snprintf under -std=c11
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#endif
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "bn_internal.h"
#include "bn_kernels.h"

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
static _Atomic(const bn_kernels *const *) chosen;
// bn_stream_bytes() + 1, bn_stream_once_bytes() + 1, bn_cache_bytes() + 1, bn_l2_bytes() + 1 and
// bn_fetch_bytes() + 1, 0 until known
static _Atomic(size_t) stream_plus1, once_plus1, cache_plus1, l2_plus1, fetch_plus1;
#define LOAD_CHOSEN() atomic_load_explicit(&chosen, memory_order_acquire)
#define STORE_CHOSEN(k) atomic_store_explicit(&chosen, (k), memory_order_release)
#define LOAD_SIZE(a) atomic_load_explicit(&(a), memory_order_relaxed)
#define STORE_SIZE(a, v) atomic_store_explicit(&(a), (v), memory_order_relaxed)
#else
static const bn_kernels *const *volatile chosen; // every thread computes the same value
static volatile size_t stream_plus1, once_plus1, cache_plus1, l2_plus1, fetch_plus1;
#define LOAD_CHOSEN() (chosen)
#define STORE_CHOSEN(k) (chosen = (k))
#define LOAD_SIZE(a) (a)
#define STORE_SIZE(a, v) ((a) = (v))
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

// ----------------------------------------------------------------------------
// streaming stores

// The size in bytes of the data or unified cache of level `want` (0: the highest level, the
// last-level cache), 0 when unknown.
#if defined(_WIN32)
static size_t data_cache(long want) {
    DWORD len = 0;
    if (GetLogicalProcessorInformation(NULL, &len) || GetLastError() != ERROR_INSUFFICIENT_BUFFER) return 0;
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION *info = malloc(len);
    size_t size = 0;
    unsigned level = 0;
    if (info != NULL && GetLogicalProcessorInformation(info, &len)) {
        for (DWORD i = 0; i < len / sizeof *info; i++) {
            const CACHE_DESCRIPTOR *c = &info[i].Cache;
            if (info[i].Relationship != RelationCache || c->Type == CacheInstruction) continue;
            if (want != 0 && c->Level != want) continue;
            if (c->Level > level || (c->Level == level && c->Size > size)) level = c->Level, size = c->Size;
        }
    }
    free(info);
    return size;
}
#elif defined(__linux__)
// the first line of a file, 0 when it cannot be read
static int read_line(const char *path, char *buf, int len) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    const int ok = fgets(buf, len, f) != NULL;
    fclose(f);
    return ok;
}

// cpu0's caches as sysfs lists them: index<i>/{level,type,size}, size such as "32768K"
static size_t data_cache(long want) {
    size_t size = 0;
    long level = 0;
    for (int i = 0; i < 16; i++) {
        char path[80], buf[32], *end;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, buf, sizeof buf)) break;
        const long lv = strtol(buf, NULL, 10);
        if (want != 0 && lv != want) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, buf, sizeof buf) || strncmp(buf, "Instruction", 11) == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, buf, sizeof buf)) continue;
        size_t s = (size_t)strtoull(buf, &end, 10);
        s <<= *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
        if (lv > level || (lv == level && s > size)) level = lv, size = s;
    }
    return size;
}
#else
static size_t data_cache(long want) {
    (void)want;
    return 0;
}
#endif

// The value of environment variable `name` if it is a whole number of bytes, else `otherwise`
static size_t env_bytes(const char *name, size_t otherwise) {
    const char *e = getenv(name);
    char *end = NULL;
    const unsigned long long n = e != NULL && *e >= '0' && *e <= '9' ? strtoull(e, &end, 10) : 0;
    return end != NULL && *end == '\0' && n < SIZE_MAX ? (size_t)n : otherwise;
}

// the smaller of llc_num/llc_den of the last-level cache (16 MiB when it is unknown) and l2s L2s
// (where the L2 is known). A virtual machine's L3 is shared with cores it does not see, so that
// the part of it a call can count on is bounded by the L2s too.
static size_t cache_share(size_t llc_num, size_t llc_den, size_t l2s) {
    const size_t llc = bn_cache_bytes(), l2 = bn_l2_bytes();
    size_t v = llc != 0 ? llc / llc_den * llc_num : (size_t)16 << 20;
    if (l2 != 0 && l2 * l2s < v) v = l2 * l2s;
    return v;
}

// BNORM_STREAM_BYTES if it is a whole number, else the smaller of a fifth of the last-level cache
// and 8 L2s (cache_share). Below it a pass's output stays in cache for the next pass or layer;
// above it, writing around the cache saves reading each line before it is written. Measured, not
// derived (native/PERFORMANCE.md): on a 2-core Zen 4 with 1 MiB L2s and a 32 MiB L3, outputs of
// 6.1 MiB were faster cached and of 7.7 MiB faster streamed. On a 2-core Xeon guest with 2 MiB
// L2s and a 480 MiB L3 (a fifth: 96 MiB), streamed against cached: 49 and 98 MiB outputs
// 0.58-0.88x the time in every pass on 1 thread and in forward training and backward on 2; 16 MiB
// ones (NC 4096x1024) 0.72-0.78x in 2-thread forward training, 0.89-0.91x in 2-thread backward,
// 1.04-1.05x in 1-thread inference and forward training; 24.5 MiB ones (NHWC 32x64x56x56)
// 0.78-0.80x in 1-thread backward, 1.03-1.08x in inference and forward training (bn_ab).
size_t bn_stream_bytes(void) {
    size_t v = LOAD_SIZE(stream_plus1);
    if (v == 0) {
        v = env_bytes("BNORM_STREAM_BYTES", cache_share(1, 5, 8)) + 1;
        STORE_SIZE(stream_plus1, v);
    }
    return v - 1;
}

// BNORM_STREAM_BYTES if it is a whole number, else the smaller of two thirds of the last-level
// cache and 24 L2s (cache_share): bn_stream_bytes for an output written once on two or more
// threads, in a call that reads nothing back (an inference, or bn_forward_apply). Measured on a
// 2-vCPU Zen 5 guest with a 32 MiB L3, 2 threads (native/PERFORMANCE.md): inference of 12.25 and
// 16 MiB outputs took 0.70-0.78x and 0.91-0.97x the time with cached stores, of 24.5 and 32 MiB
// 1.2-1.3x; on one thread the 12.25 MiB one took 1.5-2x. Forward training and the backward, whose
// inputs must stay in cache for their second pass, were slower with cached stores on 2 threads
// too (up to 1.7x). On the Xeon guest (2 MiB L2s, 480 MiB L3), 2 threads, 16 and 24.5 MiB
// outputs were 0.94-0.97x the time cached, 49 MiB level, 98 MiB 1.7-1.9x.
size_t bn_stream_once_bytes(void) {
    size_t v = LOAD_SIZE(once_plus1);
    if (v == 0) {
        v = env_bytes("BNORM_STREAM_BYTES", cache_share(2, 3, 24)) + 1;
        STORE_SIZE(once_plus1, v);
    }
    return v - 1;
}

// BNORM_CACHE_BYTES if it is a whole number, else the last-level cache read off the machine (a
// virtual machine reports an L3 that it shares with other guests)
size_t bn_cache_bytes(void) {
    size_t v = LOAD_SIZE(cache_plus1);
    if (v == 0) {
        v = env_bytes("BNORM_CACHE_BYTES", data_cache(0)) + 1;
        STORE_SIZE(cache_plus1, v);
    }
    return v - 1;
}

// BNORM_L2_BYTES if it is a whole number, else the L2 read off the machine (cpu0's)
size_t bn_l2_bytes(void) {
    size_t v = LOAD_SIZE(l2_plus1);
    if (v == 0) {
        v = env_bytes("BNORM_L2_BYTES", data_cache(2)) + 1;
        STORE_SIZE(l2_plus1, v);
    }
    return v - 1;
}

// 1 on an AMD x86-64 CPU
static int cpu_amd(void) {
#if defined(BN_X86_KERNELS) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_is("amd") != 0;
#else
    return 0;
#endif
}

// BN_STREAM_NTA on an AMD CPU, else BN_STREAM (apply_run and cl_dinp_k in bn_kernels_impl.h say
// why); called only for outputs that stream, where __builtin_cpu_is's lookup is nothing beside
// the call
int bn_stream_kind(void) {
    return cpu_amd() ? BN_STREAM_NTA : BN_STREAM;
}

// BNORM_FETCH_BYTES if it is a whole number, else bn_stream_bytes(): smaller tensors are expected
// in L2 or the last-level cache, from where the hardware prefetchers keep up (on a 2-core Zen 5
// with a 32 MiB L3, rows-view passes over tensors of 1 to 6 MiB took 0.82-0.95x the time without
// the fetches, one backward 1.01x, and NCHW backwards 0.79-0.97x; on a 2-core Xeon with 2 MiB
// L2s and a 480 MiB L3, 1 thread, NC 256x1024 and 1024x1024 forward training, backward and
// inference 0.90-1.00x, NHWC 32x2048x7x7 backward 0.94-0.96x and on 2 threads 0.88-0.91x, NCHW
// 2x256x56x56 backward 0.86x; native/PERFORMANCE.md). Larger ones keep them: on a 2-core Xeon
// (300 MiB L3) the runs view's statistics and sums passes over a 98 MiB tensor in its L3 took
// 1.25-1.6x as long without their fetches.
size_t bn_fetch_bytes(void) {
    size_t v = LOAD_SIZE(fetch_plus1);
    if (v == 0) {
        v = env_bytes("BNORM_FETCH_BYTES", bn_stream_bytes()) + 1;
        STORE_SIZE(fetch_plus1, v);
    }
    return v - 1;
}
