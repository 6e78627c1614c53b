/*
 * test_api.c - bn_version, bn_strerror, and what every entry point does to the vector registers.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "harness.h"

#ifndef BN_EXPECTED_VERSION
#error "BN_EXPECTED_VERSION must be defined by native/tests/CMakeLists.txt"
#endif

// "MAJOR.MINOR.PATCH" followed by nothing or "-QUALIFIER"
static int is_version(const char *v) {
    for (int part = 0; part < 3; part++) {
        if (!isdigit((unsigned char)*v)) return 0;
        while (isdigit((unsigned char)*v)) v++;
        if (part < 2 && *v++ != '.') return 0;
    }
    return *v == '\0' || (v[0] == '-' && v[1] != '\0');
}

void test_version(void) {
    const char *v = bn_version();
    CHECK(v != NULL, "bn_version() returned NULL");
    if (v == NULL) return;
    CHECK(strcmp(v, BN_EXPECTED_VERSION) == 0, "bn_version() = \"%s\", build version \"%s\"", v,
          BN_EXPECTED_VERSION);
    CHECK(is_version(v), "bn_version() = \"%s\" is not MAJOR.MINOR.PATCH[-QUALIFIER]", v);
    CHECK(bn_version() == v, "bn_version() is not static storage");
}

void test_strerror(void) {
    const char *unknown = "unknown bn_status";
    const char *msg[BN_ERR_BAD_DTYPE + 1];
    for (int st = BN_OK; st <= BN_ERR_BAD_DTYPE; st++) {
        msg[st] = bn_strerror(st);
        CHECK(msg[st] != NULL, "bn_strerror(%d) is NULL", st);
        if (msg[st] == NULL) return;
        CHECK(msg[st][0] != '\0', "bn_strerror(%d) is empty", st);
        CHECK(strcmp(msg[st], unknown) != 0, "bn_strerror(%d) says unknown", st);
        for (int other = BN_OK; other < st; other++) {
            CHECK(strcmp(msg[st], msg[other]) != 0, "bn_strerror(%d) == bn_strerror(%d): \"%s\"",
                  st, other, msg[st]);
        }
    }
    const int bad[] = {-1, BN_ERR_BAD_DTYPE + 1, 13, 100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *m = bn_strerror(bad[i]);
        CHECK(m != NULL && strcmp(m, unknown) == 0, "bn_strerror(%d) = \"%s\"", bad[i],
              m ? m : "(null)");
    }
}

// Every entry point that computes clears the upper halves of the vector registers before its own
// code (BN_CLEAR_UPPER in bn_internal.h: a caller such as the JVM leaves them set, and the
// library's SSE-encoded code pays for that on Intel cores). Observed through XINUSE (XGETBV with
// ECX = 1), whose bit 2 says whether those halves are in use: set them, call the entry point with
// arguments its check refuses, so that no kernel runs (the kernels clear them on the way out
// anyway), and read the bit on return.
#if defined(__x86_64__) && defined(__GNUC__)
static unsigned upper_in_use(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1) : "memory");
    return lo >> 2 & 1u;
}

static void set_upper(void) { __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0", "memory"); }

static int refused(bn_status st) { return st != BN_OK; }
static int call_forward_training(void) {
    return refused(bn_forward_training(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1e-5,
                                       0.1, 0, BN_LAYOUT_NC, 1, 1, 1));
}
static int call_forward_inference(void) {
    return refused(bn_forward_inference(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1e-5, 0,
                                        BN_LAYOUT_NC, 1, 1, 1));
}
static int call_backward(void) {
    return refused(bn_backward(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
                               BN_DIFF_INP, BN_LAYOUT_NC, 1, 1, 1));
}
static int call_stats_local(void) {
    return refused(bn_stats_local(NULL, NULL, 0, BN_LAYOUT_NC, 1, 1, 1));
}
static int call_stats_merge(void) {
    return refused(bn_stats_merge(NULL, NULL, NULL, NULL, NULL, 1e-5, 0.1, 0, 1, 1));
}
static int call_forward_apply(void) {
    return refused(bn_forward_apply(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, BN_LAYOUT_NC, 1,
                                    1, 1));
}
static int call_backward_reduce(void) {
    return refused(bn_backward_reduce(NULL, NULL, NULL, NULL, NULL, 0, BN_LAYOUT_NC, 1, 1, 1));
}
static int call_backward_apply(void) {
    return refused(bn_backward_apply(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                     NULL, 0, BN_DIFF_INP, BN_LAYOUT_NC, 1, 1, 1, 1));
}
static int call_convert(void) {
    return refused(bn_convert(NULL, BN_BF16, NULL, BN_F32, 1));
}
static int call_linear_forward(void) {
    return refused(bn_linear_forward(NULL, NULL, NULL, NULL, BN_ACT_NONE, 1, 1, 1));
}
static int call_linear_forward_t(void) {
    return refused(bn_linear_forward_t(NULL, NULL, NULL, NULL, BN_ACT_NONE, 1, 1, 1));
}
static int call_linear_backward(void) {
    return refused(bn_linear_backward(NULL, NULL, NULL, NULL, NULL, NULL, 0, 1, 1, 1));
}
static int call_im2col(void) {
    return refused(bn_im2col(NULL, NULL, BN_LAYOUT_NCHW, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1));
}
static int call_col2im(void) {
    return refused(bn_col2im(NULL, NULL, BN_LAYOUT_NCHW, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1));
}
static int call_transpose(void) { return refused(bn_transpose(NULL, NULL, NULL, 1, 1, 1)); }
#endif

void test_clear_upper(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a, b, c, d;
    // AVX (with the OS's support for its state) and XGETBV with ECX = 1 (CPUID 0xD.1 EAX bit 2)
    if (!__builtin_cpu_supports("avx") || !__get_cpuid_count(0xD, 1, &a, &b, &c, &d) ||
        !(a >> 2 & 1u)) {
        fprintf(stderr, "clear_upper: not run (this CPU lacks AVX or XGETBV with ECX = 1)\n");
        return;
    }
    set_upper();
    const unsigned control = upper_in_use();
    CHECK(control == 1, "XINUSE bit 2 is %u right after setting ymm0: the test cannot see it",
          control);
    static const struct {
        const char *name;
        int (*call)(void);
    } entries[] = {{"bn_forward_training", call_forward_training},
                   {"bn_forward_inference", call_forward_inference},
                   {"bn_backward", call_backward},
                   {"bn_stats_local", call_stats_local},
                   {"bn_stats_merge", call_stats_merge},
                   {"bn_forward_apply", call_forward_apply},
                   {"bn_backward_reduce", call_backward_reduce},
                   {"bn_backward_apply", call_backward_apply},
                   {"bn_convert", call_convert},
                   {"bn_linear_forward", call_linear_forward},
                   {"bn_linear_forward_t", call_linear_forward_t},
                   {"bn_linear_backward", call_linear_backward},
                   {"bn_im2col", call_im2col},
                   {"bn_col2im", call_col2im},
                   {"bn_transpose", call_transpose}};
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        set_upper();
        const int ok = entries[i].call();
        const unsigned in_use = upper_in_use();
        CHECK(ok, "%s accepted NULL buffers", entries[i].name);
        CHECK(in_use == 0, "%s returned with the upper halves still in use", entries[i].name);
    }
#else
    fprintf(stderr, "clear_upper: not run (not an x86-64 build)\n");
#endif
}
