/*
 * bn_linear.c - bn_linear_forward and bn_linear_backward (bn.h): argument checks, the choice of
 * the instruction set, and the split of a large call over the thread team.
 *
 * Checks, in this order; the first one that fails gives the status, and nothing is written
 * unless all pass:
 *   1. BN_ERR_NULL_POINTER   forward: out, inp or weight (weight_t) is NULL. backward: dout is NULL, or
 *                            dinp, dweight and dbias are all NULL, or dweight is wanted and inp
 *                            is NULL, or dinp is wanted and weight is NULL.
 *   2. BN_ERR_BAD_FLAGS      forward: activation is not a bn_activation value. backward: flags
 *                            has a bit other than BN_LINEAR_ACCUMULATE.
 *   3. BN_ERR_BAD_DIMENSION  N, I or O < 1.
 *   4. BN_ERR_OVERFLOW       N*I, N*O or O*I floats do not fit in int64_t, size_t and ptrdiff_t
 *                            bytes (checked with divisions).
 *   5. BN_ERR_MISALIGNED     a non-NULL buffer address is not a multiple of 4.
 *   6. BN_ERR_ALIAS          the byte range of an output overlaps the byte range of any other
 *                            non-NULL buffer.
 *
 * Threads: a call of at least BN_LINEAR_PARALLEL multiply-adds takes the team and cuts its
 * output into rectangles (tasks); each output element is computed whole by one task, so the
 * result does not depend on which thread ran what, nor on how many there were.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bn.h"
#include "bn_internal.h"
#include "bn_kernels.h"
#include "bn_linear.h"

#define BN_LINEAR_PARALLEL ((int64_t)1 << 20) // multiply-adds from which a call uses the team
#define BN_LINEAR_ROWS 64                      // rows per task

// The table of the instruction set that bn_kernels_get() chose (BNORM_ISA caps both alike).
static const bn_linear_kernels *linear_kernels(void) {
#if defined(BN_X86_KERNELS)
    const char *name = bn_kernels_get()->name;
    if (strcmp(name, "avx512") == 0) return &bn_linear_avx512;
    if (strcmp(name, "avx2") == 0) return &bn_linear_avx2;
#endif
    return &bn_linear_generic;
}

// ----------------------------------------------------------------------------
// checks

static int fits(int64_t a, int64_t b) {
    uint64_t max_bytes = (uint64_t)INT64_MAX;
    if ((uint64_t)SIZE_MAX < max_bytes) max_bytes = (uint64_t)SIZE_MAX;
    if ((uint64_t)PTRDIFF_MAX < max_bytes) max_bytes = (uint64_t)PTRDIFF_MAX;
    const uint64_t max_elems = max_bytes / sizeof(float);
    return (uint64_t)a <= max_elems / (uint64_t)b;
}

static bn_status check_dims(int64_t N, int64_t I, int64_t O) {
    if (N < 1 || I < 1 || O < 1) return BN_ERR_BAD_DIMENSION;
    if (!fits(N, I) || !fits(N, O) || !fits(O, I)) return BN_ERR_OVERFLOW;
    return BN_OK;
}

typedef struct {
    const void *p;
    uint64_t bytes;
    int output;
} span;

static bn_status check_spans(const span *s, int n) {
    for (int i = 0; i < n; i++) {
        if (s[i].p != NULL && (uintptr_t)s[i].p % sizeof(float) != 0) return BN_ERR_MISALIGNED;
    }
    for (int i = 0; i < n; i++) {
        if (s[i].p == NULL || !s[i].output) continue;
        const uintptr_t a0 = (uintptr_t)s[i].p, a1 = a0 + (uintptr_t)s[i].bytes;
        for (int j = 0; j < n; j++) {
            if (j == i || s[j].p == NULL) continue;
            const uintptr_t b0 = (uintptr_t)s[j].p, b1 = b0 + (uintptr_t)s[j].bytes;
            if (a0 < b1 && b0 < a1) return BN_ERR_ALIAS;
        }
    }
    return BN_OK;
}

static uint64_t bytes(int64_t a, int64_t b) { return (uint64_t)a * (uint64_t)b * sizeof(float); }

// N*I*O, or INT64_MAX when it does not fit (N*I does, after check_dims)
static int64_t madds(int64_t N, int64_t I, int64_t O) {
    const int64_t ni = N * I;
    return O > INT64_MAX / ni ? INT64_MAX : ni * O;
}

// ----------------------------------------------------------------------------
// tasks: a rectangle of rows x columns of one output

typedef struct {
    const bn_linear_kernels *k;
    int kind; // 0 out (dot), 1 dinp, 2 dweight, 3 out from weight_t (axpy)
    float *c;
    const float *a, *b, *bias;
    int act, accumulate;
    ptrdiff_t N, I, O, rows, cols, col_tasks;
} lin_job;

static void lin_task(void *ctx, ptrdiff_t t) {
    const lin_job *j = ctx;
    const ptrdiff_t r0 = (t / j->col_tasks) * BN_LINEAR_ROWS, c0 = (t % j->col_tasks) * BN_LINEAR_COLS;
    const ptrdiff_t r1 = r0 + BN_LINEAR_ROWS < j->rows ? r0 + BN_LINEAR_ROWS : j->rows;
    const ptrdiff_t c1 = c0 + BN_LINEAR_COLS < j->cols ? c0 + BN_LINEAR_COLS : j->cols;
    switch (j->kind) {
    case 0: // out (N, O) from inp (a) and weight (b)
        j->k->dot(j->c, j->a, j->b, j->bias, j->act, j->I, j->O, r0, r1, c0, c1);
        break;
    case 1: // dinp (N, I) = dout (a: N x O) . weight (b: O x I)
        j->k->axpy(j->c, j->I, j->a, j->O, 1, j->b, j->I, j->O, r0, r1, c0, c1, 0, NULL, BN_ACT_NONE);
        break;
    case 2: // dweight (O, I) = dout^T (a: element (o, n) at n*O + o) . inp (b: N x I)
        j->k->axpy(j->c, j->I, j->a, 1, j->O, j->b, j->I, j->N, r0, r1, c0, c1, j->accumulate, NULL,
                   BN_ACT_NONE);
        break;
    default: // out (N, O) = act(inp (a: N x I) . weight_t (b: I x O) + bias)
        j->k->axpy(j->c, j->O, j->a, j->I, 1, j->b, j->O, j->I, r0, r1, c0, c1, 0, j->bias, j->act);
        break;
    }
}

// the whole job: on the team when it is large enough, else on this thread in one piece
static void lin_run(lin_job *j, int64_t madds) {
    const ptrdiff_t row_tasks = (j->rows + BN_LINEAR_ROWS - 1) / BN_LINEAR_ROWS;
    j->col_tasks = (j->cols + BN_LINEAR_COLS - 1) / BN_LINEAR_COLS;
    const ptrdiff_t ntasks = row_tasks * j->col_tasks;
    const int nthreads = madds >= BN_LINEAR_PARALLEL && ntasks >= 2 ? bn_team_acquire() : 1;
    bn_run(nthreads, ntasks, lin_task, j);
    if (nthreads >= 2) bn_team_release();
}

// ----------------------------------------------------------------------------
// entry points

bn_status bn_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                            int activation, int64_t N, int64_t I, int64_t O) {
    BN_CLEAR_UPPER();
    if (out == NULL || inp == NULL || weight == NULL) return BN_ERR_NULL_POINTER;
    if (activation != BN_ACT_NONE && activation != BN_ACT_RELU && activation != BN_ACT_SIGMOID) {
        return BN_ERR_BAD_FLAGS;
    }
    bn_status st = check_dims(N, I, O);
    if (st != BN_OK) return st;
    const span s[] = {{out, bytes(N, O), 1}, {inp, bytes(N, I), 0}, {weight, bytes(O, I), 0},
                      {bias, bytes(1, O), 0}};
    st = check_spans(s, 4);
    if (st != BN_OK) return st;

    lin_job j = {linear_kernels(), 0, out, inp, weight, bias, activation, 0,
                 (ptrdiff_t)N, (ptrdiff_t)I, (ptrdiff_t)O, (ptrdiff_t)N, (ptrdiff_t)O, 0};
    lin_run(&j, madds(N, I, O));
    return BN_OK;
}

bn_status bn_linear_forward_t(float *out, const float *inp, const float *weight_t,
                              const float *bias, int activation, int64_t N, int64_t I, int64_t O) {
    BN_CLEAR_UPPER();
    if (out == NULL || inp == NULL || weight_t == NULL) return BN_ERR_NULL_POINTER;
    if (activation != BN_ACT_NONE && activation != BN_ACT_RELU && activation != BN_ACT_SIGMOID) {
        return BN_ERR_BAD_FLAGS;
    }
    bn_status st = check_dims(N, I, O);
    if (st != BN_OK) return st;
    const span s[] = {{out, bytes(N, O), 1}, {inp, bytes(N, I), 0}, {weight_t, bytes(O, I), 0},
                      {bias, bytes(1, O), 0}};
    st = check_spans(s, 4);
    if (st != BN_OK) return st;

    lin_job j = {linear_kernels(), 3, out, inp, weight_t, bias, activation, 0,
                 (ptrdiff_t)N, (ptrdiff_t)I, (ptrdiff_t)O, (ptrdiff_t)N, (ptrdiff_t)O, 0};
    lin_run(&j, madds(N, I, O));
    return BN_OK;
}

bn_status bn_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, unsigned int flags,
                             int64_t N, int64_t I, int64_t O) {
    BN_CLEAR_UPPER();
    if (dout == NULL || (dinp == NULL && dweight == NULL && dbias == NULL)) return BN_ERR_NULL_POINTER;
    if ((dweight != NULL && inp == NULL) || (dinp != NULL && weight == NULL)) return BN_ERR_NULL_POINTER;
    if ((flags & ~BN_LINEAR_ACCUMULATE) != 0) return BN_ERR_BAD_FLAGS;
    bn_status st = check_dims(N, I, O);
    if (st != BN_OK) return st;
    const span s[] = {{dinp, bytes(N, I), 1}, {dweight, bytes(O, I), 1}, {dbias, bytes(1, O), 1},
                      {dout, bytes(N, O), 0}, {inp, bytes(N, I), 0}, {weight, bytes(O, I), 0}};
    st = check_spans(s, 6);
    if (st != BN_OK) return st;

    const bn_linear_kernels *k = linear_kernels();
    const int accumulate = (flags & BN_LINEAR_ACCUMULATE) != 0;
    if (dinp != NULL) {
        lin_job j = {k, 1, dinp, dout, weight, NULL, 0, 0,
                     (ptrdiff_t)N, (ptrdiff_t)I, (ptrdiff_t)O, (ptrdiff_t)N, (ptrdiff_t)I, 0};
        lin_run(&j, madds(N, I, O));
    }
    if (dweight != NULL) {
        lin_job j = {k, 2, dweight, dout, inp, NULL, 0, accumulate,
                     (ptrdiff_t)N, (ptrdiff_t)I, (ptrdiff_t)O, (ptrdiff_t)O, (ptrdiff_t)I, 0};
        lin_run(&j, madds(N, I, O));
    }
    if (dbias != NULL) k->colsum(dbias, dout, (ptrdiff_t)N, (ptrdiff_t)O, 0, (ptrdiff_t)O, accumulate);
    return BN_OK;
}
