/*
 * bn_bench.c - times bnorm's kernels side by side with memory-bandwidth floors and oneDNN.
 *
 *   bn_bench [-t THREADS] [-r ROUNDS] [-m MS] [-x] [-f] [-d bf16|f16] [CASE ...]
 *   (-x: without oneDNN; -d: bnorm's forward training, inference and backward with 16-bit
 *   activations, BN_DATA_BF16 or BN_DATA_F16; the floors and oneDNN stay float32; the
 *   header gives the float32 tensor size, bnorm's GB/s count its 2-byte elements)
 *   CASE: layout:NxCxS with layout nc, nchw or nhwc, e.g. nc:256x1024 nchw:32x64x3136
 *
 * N = batch, C = channels, S = spatial size (H*W). Every variant of a case runs in each of ROUNDS
 * rounds, one after the other (so that load from other processes hits them alike), for about
 * MS milliseconds after a warm-up of the same length; a round's time is the mean per call, and
 * the table shows the median over rounds, in microseconds.
 *
 * Variants: bnorm forward training (scale, shift, running statistics), inference, backward
 * (dinp, dgamma, dbeta with scale); the floors, loops over the same bytes (in vectors of 16 floats):
 *   floor fwd 1R1W   out = a*inp + b                      (one read, one write)
 *   floor fwd 2R1W   sum(inp), then out = a*inp + b       (what two passes cost)
 *   floor bwd 2R1W   dinp = a*dout + b*inp
 *   floor bwd 4R1W   sum(dout), sum(dout*inp), then dinp = a*dout + b*inp
 * (their stores are cached, so each written line is read first; bnorm's outputs from
 * bn_stream_bytes() up bypass the cache, so a large inference can beat floor fwd 1R1W),
 * and oneDNN's batch normalization (forward training and inference, backward) when built with
 * it. -f times the fusions instead (bn.h's BN_FUSE_RELU, BN_FUSE_ADD), forward and backward of a
 * training step, fused against the unfused sequence of the same results: bnorm forward, a ReLU
 * pass (out = max(out, 0), or max(out + res, 0)), the ReLU's backward pass (g = out <= 0 ? 0 :
 * dout, a new tensor as PyTorch's threshold_backward writes; dres is g itself), bnorm backward
 * of g; the passes run on the same thread team; and oneDNN's fuse_norm_relu (forward with a
 * workspace, backward from it). The floors run on a copy of the library's thread team (bn_threads.c is compiled in), cut
 * into 64 tasks, so they pay what the kernels pay for threads. The number of threads is the same
 * for all: bn_set_num_threads (both teams) and omp_set_num_threads (oneDNN). oneDNN gets NC as
 * a 4-D nhwc tensor (the same memory), its fast channels-last path.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn.h"
#include "bn_internal.h"
#ifdef BN_BENCH_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

typedef struct {
    int layout;
    int64_t N, C, S;
    size_t n;  // N*C*S
    float *inp, *out, *dout, *dinp;
    float *gamma, *beta, *save_mean, *save_rstd, *running_mean, *running_var, *dgamma, *dbeta;
    float *var; // save_rstd as a variance, for inference
    float *res, *g, *dres; // -f: the residual, the gated dout, dres
    float sink;
} bench;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *floats(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void check(bn_status st, const char *what) {
    if (st != BN_OK) {
        fprintf(stderr, "%s: %s\n", what, bn_strerror((int)st));
        exit(1);
    }
}

static unsigned int data_flags; // -d: BN_DATA_BF16 or BN_DATA_F16 (0: float32)

// ----------------------------------------------------------------------------
// variants

static void bn_train(bench *b) {
    check(bn_forward_training(b->out, b->save_mean, b->save_rstd, b->running_mean,
                              b->running_var, b->inp, NULL, b->gamma, b->beta, 1e-5, 0.1,
                              BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | data_flags, b->layout, b->N,
                              b->C, b->S),
          "bn_forward_training");
}

static void bn_infer(bench *b) {
    check(bn_forward_inference(b->out, b->inp, NULL, b->save_mean, b->var, b->gamma, b->beta, 1e-5,
                               BN_USE_SCALE | BN_USE_SHIFT | data_flags, b->layout, b->N, b->C, b->S),
          "bn_forward_inference");
}

static void bn_back(bench *b) {
    check(bn_backward(b->dinp, NULL, b->dgamma, b->dbeta, b->dout, NULL, b->inp, b->gamma, b->save_mean,
                      b->save_rstd, BN_USE_SCALE | data_flags, BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT,
                      b->layout, b->N, b->C, b->S),
          "bn_backward");
}

// ---- floors: 64 tasks over the elements, on the team ----

enum { FLOOR_TASKS = 64 };

typedef struct {
    bench *b;
    float part[FLOOR_TASKS][2];
} floor_ctx;

static void task_range(const bench *b, ptrdiff_t t, ptrdiff_t *lo, ptrdiff_t *hi) {
    const ptrdiff_t n = (ptrdiff_t)b->n;
    *lo = n * t / FLOOR_TASKS;
    *hi = n * (t + 1) / FLOOR_TASKS;
}

// The floors' loops work on 16 floats at a time in GCC/Clang vectors (64 bytes; a zmm register
// with -march=native on AVX-512), so that they are bound by memory, not by arithmetic. Written
// as plain lanes (acc[j] += x[i + j]), GCC 12 at -O3 without -ffast-math compiled the sums into
// scalar additions in order: floor bwd 4R1W took 5.1 ms for NHWC 8x64x12544 on a Zen 5, where
// bnorm's backward took 3.0 ms.
enum { LANES = 16 };
typedef float vlanes __attribute__((vector_size(LANES * sizeof(float))));

static vlanes vload(const float *p) {
    vlanes v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void vstore(float *p, vlanes v) { memcpy(p, &v, sizeof v); }

static float vsum(vlanes v) {
    float s = 0.0f;
    for (int j = 0; j < LANES; j++) s += v[j];
    return s;
}

static void t_fwd_write(void *ctx, ptrdiff_t t) {
    bench *b = ((floor_ctx *)ctx)->b;
    ptrdiff_t lo, hi;
    task_range(b, t, &lo, &hi);
    ptrdiff_t i = lo;
    for (; i + LANES <= hi; i += LANES) vstore(b->out + i, 1.5f * vload(b->inp + i) + 0.25f);
    for (; i < hi; i++) b->out[i] = 1.5f * b->inp[i] + 0.25f;
}

// sums in 4 vectors: one vector's additions would wait for each other (their latency), which
// bounds a loop over data in L1 or L2 below what the caches deliver
static void t_fwd_read(void *ctx, ptrdiff_t t) {
    floor_ctx *f = ctx;
    const float *x = f->b->inp;
    ptrdiff_t lo, hi;
    task_range(f->b, t, &lo, &hi);
    vlanes acc[4] = {{0.0f}, {0.0f}, {0.0f}, {0.0f}};
    float rest = 0.0f;
    ptrdiff_t i = lo;
    for (; i + 4 * LANES <= hi; i += 4 * LANES) {
        for (int k = 0; k < 4; k++) acc[k] += vload(x + i + k * LANES);
    }
    for (; i < hi; i++) rest += x[i];
    f->part[t][0] = vsum(acc[0] + acc[1] + acc[2] + acc[3]) + rest;
}

static void t_bwd_write(void *ctx, ptrdiff_t t) {
    bench *b = ((floor_ctx *)ctx)->b;
    ptrdiff_t lo, hi;
    task_range(b, t, &lo, &hi);
    ptrdiff_t i = lo;
    for (; i + LANES <= hi; i += LANES) {
        vstore(b->dinp + i, 1.5f * vload(b->dout + i) + 0.25f * vload(b->inp + i));
    }
    for (; i < hi; i++) b->dinp[i] = 1.5f * b->dout[i] + 0.25f * b->inp[i];
}

static void t_bwd_read(void *ctx, ptrdiff_t t) {
    floor_ctx *f = ctx;
    const float *g = f->b->dout, *x = f->b->inp;
    ptrdiff_t lo, hi;
    task_range(f->b, t, &lo, &hi);
    vlanes s[2] = {{0.0f}, {0.0f}}, u[2] = {{0.0f}, {0.0f}};
    float s_rest = 0.0f, u_rest = 0.0f;
    ptrdiff_t i = lo;
    for (; i + 2 * LANES <= hi; i += 2 * LANES) {
        for (int k = 0; k < 2; k++) {
            const vlanes gv = vload(g + i + k * LANES);
            s[k] += gv;
            u[k] += gv * vload(x + i + k * LANES);
        }
    }
    for (; i < hi; i++) {
        s_rest += g[i];
        u_rest += g[i] * x[i];
    }
    f->part[t][0] = vsum(s[0] + s[1]) + s_rest;
    f->part[t][1] = vsum(u[0] + u[1]) + u_rest;
}

static void floor_run(bench *b, bn_task_fn read, bn_task_fn write) {
    floor_ctx f = {b, {{0.0f}}};
    const int nthreads = bn_team_acquire();
    if (read != NULL) bn_run(nthreads, FLOOR_TASKS, read, &f);
    bn_run(nthreads, FLOOR_TASKS, write, &f);
    if (nthreads >= 2) bn_team_release();
    for (int t = 0; t < FLOOR_TASKS; t++) b->sink += f.part[t][0] + f.part[t][1];
}

static void floor_fwd_1r1w(bench *b) { floor_run(b, NULL, t_fwd_write); }
static void floor_fwd_2r1w(bench *b) { floor_run(b, t_fwd_read, t_fwd_write); }
static void floor_bwd_2r1w(bench *b) { floor_run(b, NULL, t_bwd_write); }
static void floor_bwd_4r1w(bench *b) { floor_run(b, t_bwd_read, t_bwd_write); }

// ---- fusions (-f) ----

static void bn_fused(bench *b, unsigned int fuse) {
    const unsigned int mask = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    check(bn_forward_training(b->out, b->save_mean, b->save_rstd, b->running_mean,
                              b->running_var, b->inp, (fuse & BN_FUSE_ADD) ? b->res : NULL,
                              b->gamma, b->beta, 1e-5, 0.1,
                              BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | fuse, b->layout,
                              b->N, b->C, b->S),
          "bn_forward_training (fused)");
    check(bn_backward(b->dinp, (fuse & BN_FUSE_ADD) ? b->dres : NULL, b->dgamma, b->dbeta,
                      b->dout, b->out, b->inp, b->gamma, b->save_mean, b->save_rstd,
                      BN_USE_SCALE | fuse, mask | ((fuse & BN_FUSE_ADD) ? BN_DIFF_RES : 0u),
                      b->layout, b->N, b->C, b->S),
          "bn_backward (fused)");
}

static void fused_relu(bench *b) { bn_fused(b, BN_FUSE_RELU); }
static void fused_add_relu(bench *b) { bn_fused(b, BN_FUSE_RELU | BN_FUSE_ADD); }

// the passes as plain loops over restrict locals, which the compiler vectorizes
static void t_relu(void *ctx, ptrdiff_t t) {
    bench *b = ((floor_ctx *)ctx)->b;
    float *restrict out = b->out;
    ptrdiff_t lo, hi;
    task_range(b, t, &lo, &hi);
    for (ptrdiff_t i = lo; i < hi; i++) out[i] = out[i] <= 0.0f ? 0.0f : out[i];
}

static void t_add_relu(void *ctx, ptrdiff_t t) {
    bench *b = ((floor_ctx *)ctx)->b;
    float *restrict out = b->out;
    const float *restrict res = b->res;
    ptrdiff_t lo, hi;
    task_range(b, t, &lo, &hi);
    for (ptrdiff_t i = lo; i < hi; i++) {
        const float z = out[i] + res[i];
        out[i] = z <= 0.0f ? 0.0f : z;
    }
}

static void t_relu_back(void *ctx, ptrdiff_t t) {
    bench *b = ((floor_ctx *)ctx)->b;
    float *restrict g = b->g;
    const float *restrict out = b->out, *restrict dout = b->dout;
    ptrdiff_t lo, hi;
    task_range(b, t, &lo, &hi);
    for (ptrdiff_t i = lo; i < hi; i++) g[i] = out[i] <= 0.0f ? 0.0f : dout[i];
}

static void bn_unfused(bench *b, int add) {
    check(bn_forward_training(b->out, b->save_mean, b->save_rstd, b->running_mean,
                              b->running_var, b->inp, NULL, b->gamma, b->beta, 1e-5, 0.1,
                              BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | data_flags, b->layout, b->N,
                              b->C, b->S),
          "bn_forward_training");
    floor_run(b, NULL, add ? t_add_relu : t_relu);
    floor_run(b, NULL, t_relu_back);
    check(bn_backward(b->dinp, NULL, b->dgamma, b->dbeta, b->g, NULL, b->inp, b->gamma,
                      b->save_mean, b->save_rstd, BN_USE_SCALE,
                      BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, b->layout, b->N, b->C, b->S),
          "bn_backward");
}

static void unfused_relu(bench *b) { bn_unfused(b, 0); }
static void unfused_add_relu(bench *b) { bn_unfused(b, 1); }

#ifdef BN_BENCH_DNNL
static dnnl_engine_t engine;
static dnnl_stream_t stream;
typedef struct {
    dnnl_primitive_t fwd_train, fwd_infer, back, fwd_relu, back_relu; // *_relu: fuse_norm_relu
    dnnl_memory_t src, dst, ddst, dsrc, mean, var, scale, shift, dscale, dshift, ws;
} dnnl_bench;
static dnnl_bench dn;

static void dn_check(dnnl_status_t st, const char *what) {
    if (st != dnnl_success) {
        fprintf(stderr, "oneDNN %s: status %d\n", what, (int)st);
        exit(1);
    }
}

static dnnl_memory_t dn_mem(const dnnl_memory_desc_t *md, void *p) {
    dnnl_memory_t m;
    dn_check(dnnl_memory_create(&m, md, engine, p), "memory");
    return m;
}

static dnnl_primitive_t dn_prim(const void *desc, const_dnnl_primitive_desc_t hint,
                                dnnl_primitive_desc_t *pd_out) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    dn_check(dnnl_primitive_desc_create(&pd, desc, NULL, engine, hint), "primitive desc");
    dn_check(dnnl_primitive_create(&p, pd), "primitive");
    if (pd_out != NULL) *pd_out = pd;
    else dnnl_primitive_desc_destroy(pd);
    return p;
}

static void dn_setup(bench *b) {
    static int engine_made;
    if (!engine_made) {
        dn_check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine");
        dn_check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream");
        engine_made = 1;
    }
    dnnl_memory_desc_t data, chan;
    const dnnl_dims_t d = {b->N, b->C, b->S, 1};
    dn_check(dnnl_memory_desc_init_by_tag(&data, 4, d, dnnl_f32,
                                          b->layout == BN_LAYOUT_NCHW ? dnnl_nchw : dnnl_nhwc),
             "md");
    const dnnl_dims_t dc = {b->C};
    dn_check(dnnl_memory_desc_init_by_tag(&chan, 1, dc, dnnl_f32, dnnl_a), "md");
    const unsigned flags = dnnl_use_scale | dnnl_use_shift;
    dnnl_batch_normalization_desc_t ft, fi, bd;
    dn_check(dnnl_batch_normalization_forward_desc_init(&ft, dnnl_forward_training, &data, 1e-5f, flags), "fwd");
    dn_check(dnnl_batch_normalization_forward_desc_init(&fi, dnnl_forward_inference, &data, 1e-5f,
                                                        flags | dnnl_use_global_stats), "inf");
    dn_check(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &data, &data, 1e-5f, flags), "bwd");
    dnnl_primitive_desc_t ft_pd;
    dn.fwd_train = dn_prim(&ft, NULL, &ft_pd);
    dn.fwd_infer = dn_prim(&fi, NULL, NULL);
    dn.back = dn_prim(&bd, ft_pd, NULL);
    dnnl_primitive_desc_destroy(ft_pd);
    dnnl_batch_normalization_desc_t fr, br; // fuse_norm_relu: the forward keeps a workspace
    dn_check(dnnl_batch_normalization_forward_desc_init(&fr, dnnl_forward_training, &data, 1e-5f,
                                                        flags | dnnl_fuse_norm_relu), "fwd relu");
    dn_check(dnnl_batch_normalization_backward_desc_init(&br, dnnl_backward, &data, &data, 1e-5f,
                                                         flags | dnnl_fuse_norm_relu), "bwd relu");
    dnnl_primitive_desc_t fr_pd;
    dn.fwd_relu = dn_prim(&fr, NULL, &fr_pd);
    dn.back_relu = dn_prim(&br, fr_pd, NULL);
    dn.ws = dn_mem(dnnl_primitive_desc_query_md(fr_pd, dnnl_query_workspace_md, 0),
                   DNNL_MEMORY_ALLOCATE);
    dnnl_primitive_desc_destroy(fr_pd);
    dn.src = dn_mem(&data, b->inp);
    dn.dst = dn_mem(&data, b->out);
    dn.ddst = dn_mem(&data, b->dout);
    dn.dsrc = dn_mem(&data, b->dinp);
    dn.mean = dn_mem(&chan, b->save_mean);
    dn.var = dn_mem(&chan, b->var);
    dn.scale = dn_mem(&chan, b->gamma);
    dn.shift = dn_mem(&chan, b->beta);
    dn.dscale = dn_mem(&chan, b->dgamma);
    dn.dshift = dn_mem(&chan, b->dbeta);
}

static void dn_teardown(void) {
    dnnl_primitive_destroy(dn.fwd_train);
    dnnl_primitive_destroy(dn.fwd_infer);
    dnnl_primitive_destroy(dn.back);
    dnnl_primitive_destroy(dn.fwd_relu);
    dnnl_primitive_destroy(dn.back_relu);
    dnnl_memory_t *m[] = {&dn.src,   &dn.dst,   &dn.ddst,  &dn.dsrc,   &dn.mean,  &dn.var,
                          &dn.scale, &dn.shift, &dn.dscale, &dn.dshift, &dn.ws};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) dnnl_memory_destroy(*m[i]);
}

static void dn_run(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args, const char *what) {
    dn_check(dnnl_primitive_execute(p, stream, nargs, args), what);
    dn_check(dnnl_stream_wait(stream), "wait");
}

static void dn_train(bench *b) {
    (void)b;
    const dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, dn.src},     {DNNL_ARG_DST, dn.dst},
                                 {DNNL_ARG_MEAN, dn.mean},   {DNNL_ARG_VARIANCE, dn.var},
                                 {DNNL_ARG_SCALE, dn.scale}, {DNNL_ARG_SHIFT, dn.shift}};
    dn_run(dn.fwd_train, 6, a, "forward training");
}

static void dn_infer(bench *b) {
    (void)b;
    const dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, dn.src},     {DNNL_ARG_DST, dn.dst},
                                 {DNNL_ARG_MEAN, dn.mean},   {DNNL_ARG_VARIANCE, dn.var},
                                 {DNNL_ARG_SCALE, dn.scale}, {DNNL_ARG_SHIFT, dn.shift}};
    dn_run(dn.fwd_infer, 6, a, "forward inference");
}

static void dn_back(bench *b) {
    (void)b;
    const dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, dn.src},           {DNNL_ARG_DIFF_DST, dn.ddst},
                                 {DNNL_ARG_MEAN, dn.mean},         {DNNL_ARG_VARIANCE, dn.var},
                                 {DNNL_ARG_SCALE, dn.scale},       {DNNL_ARG_SHIFT, dn.shift},
                                 {DNNL_ARG_DIFF_SRC, dn.dsrc},     {DNNL_ARG_DIFF_SCALE, dn.dscale},
                                 {DNNL_ARG_DIFF_SHIFT, dn.dshift}};
    dn_run(dn.back, 9, a, "backward");
}

// forward training and backward with fuse_norm_relu (bnorm's fused_relu)
static void dn_relu(bench *b) {
    (void)b;
    const dnnl_exec_arg_t f[] = {{DNNL_ARG_SRC, dn.src},     {DNNL_ARG_DST, dn.dst},
                                 {DNNL_ARG_MEAN, dn.mean},   {DNNL_ARG_VARIANCE, dn.var},
                                 {DNNL_ARG_SCALE, dn.scale}, {DNNL_ARG_SHIFT, dn.shift},
                                 {DNNL_ARG_WORKSPACE, dn.ws}};
    dn_run(dn.fwd_relu, 7, f, "forward training relu");
    const dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, dn.src},       {DNNL_ARG_DIFF_DST, dn.ddst},
                                 {DNNL_ARG_MEAN, dn.mean},     {DNNL_ARG_VARIANCE, dn.var},
                                 {DNNL_ARG_SCALE, dn.scale},   {DNNL_ARG_SHIFT, dn.shift},
                                 {DNNL_ARG_DIFF_SRC, dn.dsrc}, {DNNL_ARG_DIFF_SCALE, dn.dscale},
                                 {DNNL_ARG_DIFF_SHIFT, dn.dshift}, {DNNL_ARG_WORKSPACE, dn.ws}};
    dn_run(dn.back_relu, 10, a, "backward relu");
}
#endif

typedef struct {
    const char *name;
    void (*run)(bench *);
    double bytes; // moved per call, for GB/s
} variant;

// ----------------------------------------------------------------------------
// timing

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int with_dnnl = 1, fusions = 0;

static void run_case(bench *b, int rounds, double ms) {
    const double t = (double)b->n * sizeof(float);
    variant v[16];
    int nv = 0;
    if (fusions) { // bytes: the tensors each step streams at least once (see the top)
        v[nv++] = (variant){"relu fused f+b", fused_relu, 6 * t};
        v[nv++] = (variant){"relu unfused f+b", unfused_relu, 10 * t};
        v[nv++] = (variant){"add+relu fused f+b", fused_add_relu, 8 * t};
        v[nv++] = (variant){"add+relu unfused f+b", unfused_add_relu, 11 * t};
#ifdef BN_BENCH_DNNL
        if (with_dnnl) {
            dn_setup(b);
            v[nv++] = (variant){"oneDNN relu f+b", dn_relu, 6 * t};
        }
#endif
    } else {
    const double tb = data_flags != 0 ? t / 2 : t; // bnorm's tensors in its dtype (-d)
    v[nv++] = (variant){"bnorm fwd training", bn_train, 2 * tb};
    v[nv++] = (variant){"bnorm fwd inference", bn_infer, 2 * tb};
    v[nv++] = (variant){"bnorm backward", bn_back, 3 * tb};
    v[nv++] = (variant){"floor fwd 1R1W", floor_fwd_1r1w, 2 * t};
    v[nv++] = (variant){"floor fwd 2R1W", floor_fwd_2r1w, 3 * t};
    v[nv++] = (variant){"floor bwd 2R1W", floor_bwd_2r1w, 3 * t};
    v[nv++] = (variant){"floor bwd 4R1W", floor_bwd_4r1w, 5 * t};
#ifdef BN_BENCH_DNNL
    if (with_dnnl) {
        dn_setup(b);
        v[nv++] = (variant){"oneDNN fwd training", dn_train, 2 * t};
        v[nv++] = (variant){"oneDNN fwd inference", dn_infer, 2 * t};
        v[nv++] = (variant){"oneDNN backward", dn_back, 3 * t};
    }
#endif
    }
    long iters[16];
    double *times = malloc(sizeof(double) * (size_t)(nv * rounds));
    for (int i = 0; i < nv; i++) { // calls per round: about ms milliseconds
        v[i].run(b);
        long n = 1;
        double dt;
        for (;;) {
            const double t0 = now();
            for (long k = 0; k < n; k++) v[i].run(b);
            dt = now() - t0;
            if (dt > 1e-3 * ms / 4 || n > (1L << 30)) break;
            n *= 2;
        }
        iters[i] = (long)((double)n * (1e-3 * ms / dt)) + 1;
    }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < nv; i++) {
            // warm-up as long as the sample: the OpenMP threads of the variant before (oneDNN)
            // may spin for milliseconds after their last call
            for (long k = 0; k < iters[i]; k++) v[i].run(b);
            const double t0 = now();
            for (long k = 0; k < iters[i]; k++) v[i].run(b);
            times[i * rounds + r] = (now() - t0) / (double)iters[i];
        }
    }
    printf("%s N=%lld C=%lld S=%lld (%.2f MiB per tensor), %d threads\n",
           b->layout == BN_LAYOUT_NC ? "NC" : b->layout == BN_LAYOUT_NCHW ? "NCHW" : "NHWC",
           (long long)b->N, (long long)b->C, (long long)b->S, t / 1048576.0, bn_get_num_threads());
    for (int i = 0; i < nv; i++) {
        double *ti = times + i * rounds;
        qsort(ti, (size_t)rounds, sizeof(double), cmp_double);
        const double med = ti[rounds / 2];
        printf("  %-22s %10.3f us  (min %9.3f, max %9.3f)  %7.1f GB/s\n", v[i].name, 1e6 * med,
               1e6 * ti[0], 1e6 * ti[rounds - 1], v[i].bytes / med * 1e-9);
    }
    fflush(stdout);
    free(times);
#ifdef BN_BENCH_DNNL
    if (with_dnnl) dn_teardown();
#endif
}

// ----------------------------------------------------------------------------
// main

static void fill(float *p, size_t n, float lo, float hi, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = lo + (hi - lo) * (float)(*seed >> 8) * 0x1.0p-24f;
    }
}

static int parse_case(const char *s, bench *b) {
    char lay[8];
    long long n = 0, c = 0, sp = 1;
    const int got = sscanf(s, "%7[a-z]:%lldx%lldx%lld", lay, &n, &c, &sp);
    if (got < 3) return 0;
    if (strcmp(lay, "nc") == 0 && got == 3) b->layout = BN_LAYOUT_NC;
    else if (strcmp(lay, "nchw") == 0) b->layout = BN_LAYOUT_NCHW;
    else if (strcmp(lay, "nhwc") == 0) b->layout = BN_LAYOUT_NHWC;
    else return 0;
    b->N = n;
    b->C = c;
    b->S = sp;
    return n > 0 && c > 0 && sp > 0;
}

int main(int argc, char **argv) {
    int threads = 0, rounds = 11;
    double ms = 20.0;
    static const char *defaults[] = {"nc:32x64",        "nc:256x1024",      "nc:4096x1024",
                                     "nc:64x4096",      "nchw:32x64x3136", "nhwc:32x64x3136"};
    const char *cases[64];
    int nc = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) ms = atof(argv[++i]);
        else if (strcmp(argv[i], "-x") == 0) with_dnnl = 0;
        else if (strcmp(argv[i], "-f") == 0) fusions = 1;
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            const char *d = argv[++i];
            data_flags = strcmp(d, "bf16") == 0 ? BN_DATA_BF16 : strcmp(d, "f16") == 0 ? BN_DATA_F16 : 0u;
            if (data_flags == 0) {
                fprintf(stderr, "bad dtype '%s' (want bf16 or f16)\n", d);
                return 2;
            }
        }
        else if (nc < 64) cases[nc++] = argv[i];
    }
    if (nc == 0) {
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) cases[nc++] = defaults[i];
    }
    if (rounds < 1) rounds = 1;
    bn_set_num_threads(threads);
    omp_set_num_threads(bn_get_num_threads());
    for (int k = 0; k < nc; k++) {
        bench b;
        memset(&b, 0, sizeof b);
        if (!parse_case(cases[k], &b)) {
            fprintf(stderr, "bad case '%s' (want nc:NxC, nchw:NxCxS or nhwc:NxCxS)\n", cases[k]);
            return 2;
        }
        b.n = (size_t)(b.N * b.C * b.S);
        const size_t c = (size_t)b.C;
        b.inp = floats(b.n);
        b.out = floats(b.n);
        b.dout = floats(b.n);
        b.dinp = floats(b.n);
        b.res = fusions ? floats(b.n) : NULL;
        b.g = fusions ? floats(b.n) : NULL;
        b.dres = fusions ? floats(b.n) : NULL;
        if (fusions) fill(b.res, b.n, -1.0f, 1.0f, &(unsigned){7});
        float **per[] = {&b.gamma,        &b.beta,        &b.save_mean, &b.save_rstd, &b.var,
                         &b.running_mean, &b.running_var, &b.dgamma,    &b.dbeta};
        for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) *per[i] = floats(c);
        unsigned seed = 1;
        fill(b.inp, b.n, -2.0f, 3.0f, &seed);
        fill(b.dout, b.n, -1.0f, 1.0f, &seed);
        if (data_flags != 0) { // inp and dout narrowed, into the first half of their bytes
            const int dt = data_flags == BN_DATA_BF16 ? BN_BF16 : BN_F16;
            check(bn_convert(b.dinp, dt, b.inp, BN_F32, (int64_t)b.n), "bn_convert");
            memcpy(b.inp, b.dinp, b.n * 2);
            check(bn_convert(b.dinp, dt, b.dout, BN_F32, (int64_t)b.n), "bn_convert");
            memcpy(b.dout, b.dinp, b.n * 2);
        }
        fill(b.gamma, c, 0.5f, 1.5f, &seed);
        fill(b.beta, c, -0.5f, 0.5f, &seed);
        fill(b.running_mean, c, -0.1f, 0.1f, &seed);
        fill(b.running_var, c, 0.9f, 1.1f, &seed);
        bn_train(&b);
        for (size_t i = 0; i < c; i++) b.var[i] = 1.0f / (b.save_rstd[i] * b.save_rstd[i]);
        run_case(&b, rounds, ms);
        free(b.inp);
        free(b.out);
        free(b.dout);
        free(b.dinp);
        free(b.res);
        free(b.g);
        free(b.dres);
        for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) free(*per[i]);
    }
    return 0;
}
