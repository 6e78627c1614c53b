/*
 * harness.h - the tiny in-tree test harness of the bnorm C tests (no external framework).
 *
 * One executable, bn_tests; `bn_tests NAME` runs the test NAME and exits non-zero if any CHECK
 * failed. CTest runs each test as its own process (native/tests/CMakeLists.txt).
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel (as in bn.h).
 */
#ifndef BN_TEST_HARNESS_H
#define BN_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bn.h"

// ----------------------------------------------------------------------------
// checks

extern int bt_failures; // failed CHECKs in this process
extern long bt_checks;  // CHECKs and bt_close calls evaluated

void bt_fail_at(const char *file, int line, const char *cond);
int bt_verbose(void); // 1 while failures are few enough to print in full

// CHECK(cond, printf-format, args...): on failure prints where, the condition and the message.
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bt_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            bt_fail_at(__FILE__, __LINE__, #cond);                                                 \
            if (bt_verbose()) {                                                                    \
                fprintf(stderr, "    ");                                                           \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

// ----------------------------------------------------------------------------
// deterministic random numbers: xorshift64* and Box-Muller

typedef struct {
    uint64_t s;
    int has_spare;
    double spare;
} bt_rng;

void bt_rng_seed(bt_rng *r, uint64_t seed);
double bt_uniform(bt_rng *r); // [0, 1)
double bt_normal(bt_rng *r);  // N(0, 1)

// ----------------------------------------------------------------------------
// buffers and comparisons

float *bt_floats(size_t n);   // malloc'ed, filled with NaN; aborts the test run if out of memory
double *bt_doubles(size_t n); // malloc'ed, filled with 0
void bt_fill_nan(float *p, size_t n);

// Reduction tolerance for M values: 4*FLT_EPSILON*(1 + log2(M)), the bound of a pairwise float
// reduction plus the final float rounding (the library sums in double, well inside it).
double bt_tol(int64_t M);

// |got[i] - ref[i]| <= atol + rtol*|ref[i]| for all i, NaN only where ref is NaN. On failure
// prints what, the number of bad elements and the worst index, got, ref, difference and bound;
// counts one failure. Returns 1 if all are close.
int bt_close(const char *what, const float *got, const double *ref, size_t n,
             double atol, double rtol);

int bt_all_finite(const float *p, size_t n);

double bt_maxabs(const double *p, size_t n);
float *bt_copy_floats(const float *p, size_t n); // malloc'ed copy

// inp: per channel c, offset_c + sd_c*N(0,1) with offset_c in [-2, 2), sd_c in [0.5, 2)
void bt_fill_inp(bt_rng *r, float *inp, int layout, int64_t N, int64_t C, int64_t S);
void bt_fill_normal(bt_rng *r, float *p, size_t n);
void bt_fill_uniform(bt_rng *r, float *p, size_t n, double lo, double hi);

const char *bt_layout_name(int layout);

// ----------------------------------------------------------------------------
// naive double-precision references (ref.c), written independently of the kernels: one loop
// nest per channel c, then n, then s, with every element addressed through bt_index.

size_t bt_index(int layout, int64_t N, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s);

// mean, var: (C,); var is the biased batch variance (two passes)
void ref_stats(double *mean, double *var, const float *inp,
               int layout, int64_t N, int64_t C, int64_t S);

// out = gamma*(x - mean)*rstd + beta; gamma, beta may be NULL (1, 0)
void ref_normalize(double *out, const float *inp, const double *mean, const double *rstd,
                   const float *gamma, const float *beta,
                   int layout, int64_t N, int64_t C, int64_t S);

// dinp (N,C,S), dgamma, dbeta (C,) of bn.h's backward; gamma may be NULL; global: 1 for
// BN_USE_GLOBAL_STATS
void ref_backward(double *dinp, double *dgamma, double *dbeta,
                  const float *dout, const float *inp, const float *gamma,
                  const float *mean, const float *rstd, int global,
                  int layout, int64_t N, int64_t C, int64_t S);

// ----------------------------------------------------------------------------
// shapes

// The awkward sizes of every loop over N, C and S.
extern const int64_t bt_sizes[];
extern const int bt_n_sizes;

// ----------------------------------------------------------------------------
// tests (one function per CTest test; see main.c)

void test_version(void);
void test_strerror(void);
void test_clear_upper(void);
void test_check_forward_training(void);
void test_check_forward_inference(void);
void test_check_backward(void);
void test_check_order(void);
void test_status_coverage(void);
void test_forward_training(void);
void test_forward_inference(void);
void test_backward(void);
void test_channel_chunks(void);
void test_running_stats(void);
void test_wide_rows(void);
void test_rows_walk(void);
void test_large_offset(void);
void test_constant_channel(void);
void test_nonfinite_isolation(void);
void test_near_float_max(void);
void test_num_threads(void);
void test_team_workers(void);
void test_threads_identical(void);
void test_concurrent_calls(void);
void test_split_one_part(void);
void test_split_parts(void);
void test_split_counts_per_channel(void);
void test_split_large_offset(void);
void test_check_split(void);
void test_split_threads_identical(void);
void test_fused_forward(void);
void test_fused_backward(void);
void test_fused_check(void);
void test_fused_threads(void);
void test_fused_split(void);
void test_linear_forward(void);
void test_linear_backward(void);
void test_linear_check(void);
void test_linear_threads(void);
void test_half_widen(void);
void test_half_narrow(void);
void test_half_lengths(void);
void test_convert_check(void);
void test_conv_im2col(void);
void test_conv_transpose(void);
void test_conv_check(void);
void test_half_forward_training(void);
void test_half_forward_inference(void);
void test_half_backward(void);
void test_half_threads(void);
void test_half_stream(void);
void test_half_split(void);
void test_half_check(void);

// Statuses that the check tests produced, as bits 1u << status (test_status_coverage).
extern unsigned int bt_statuses_seen;

#endif /* BN_TEST_HARNESS_H */
