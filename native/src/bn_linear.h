/*
 * bn_linear.h - the inner loops of bn_linear_forward / bn_linear_backward, one table per
 * instruction set (bn_linear_impl.h compiled by bn_linear_generic.c, _avx2.c, _avx512.c), chosen
 * with the same run-time dispatch as the batch-norm kernels (bn_dispatch.c, BNORM_ISA).
 *
 * Each function computes a rectangle of output elements completely (the whole reduction, in
 * increasing order of the reduction index), so that any split of the rectangles over threads
 * gives the same bits.
 */
#ifndef BN_LINEAR_H
#define BN_LINEAR_H

#include <stddef.h>

// columns of an output per task (bn_linear.c); an axpy tile spans no more (bn_linear_impl.h)
#define BN_LINEAR_COLS 64

typedef struct bn_linear_kernels {
    const char *name; // "generic", "avx2", "avx512"

    // out[n][o] = act(sum_k inp[n][k]*w[o][k] + b[o]) for n in [n0, n1), o in [o0, o1);
    // rows of I floats (inp, w) and of O floats (out); b may be NULL
    void (*dot)(float *out, const float *inp, const float *w, const float *b, int act,
                ptrdiff_t I, ptrdiff_t O, ptrdiff_t n0, ptrdiff_t n1, ptrdiff_t o0, ptrdiff_t o1);

    // c[m*ldc + j] = act((c[m*ldc + j] if accumulate, else 0) + sum_{p < P} a[m*sam + p*sap] *
    // b[p*ldb + j] (+ bias[j] if bias != NULL)) for m in [m0, m1), j in [j0, j1)
    void (*axpy)(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t sam, ptrdiff_t sap,
                 const float *b, ptrdiff_t ldb, ptrdiff_t P, ptrdiff_t m0, ptrdiff_t m1,
                 ptrdiff_t j0, ptrdiff_t j1, int accumulate, const float *bias, int act);

    // db[o] = (db[o] if accumulate, else 0) + sum_{n < N} dout[n*O + o] for o in [o0, o1)
    void (*colsum)(float *db, const float *dout, ptrdiff_t N, ptrdiff_t O, ptrdiff_t o0,
                   ptrdiff_t o1, int accumulate);
} bn_linear_kernels;

extern const bn_linear_kernels bn_linear_generic;
#if defined(BN_X86_KERNELS)
extern const bn_linear_kernels bn_linear_avx2;
extern const bn_linear_kernels bn_linear_avx512;
#endif

#endif /* BN_LINEAR_H */
