/*
 * test_check.c - argument validation: every bn_status, the order of the checks, and that a
 * failing call writes nothing.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 *
 * All buffers live in one arena of floats (so that overlaps can be built on purpose). Before
 * every call the arena is reset to a pristine random copy; after a call that must fail, the whole
 * arena (outputs, running statistics, inputs) must still equal that copy byte for byte.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

unsigned int bt_statuses_seen = 0;

enum { ARENA = 1024 };
static float *arena, *pristine;

static void arena_init(void) {
    if (arena != NULL) return;
    arena = bt_floats(ARENA);
    pristine = bt_floats(ARENA);
    bt_rng r;
    bt_rng_seed(&r, 42);
    for (int i = 0; i < ARENA; i++) pristine[i] = (float)(0.5 + bt_uniform(&r)); // > 0: valid var
}

static void arena_reset(void) { memcpy(arena, pristine, ARENA * sizeof(float)); }

static float *at(int i) { return arena + i; }

// a float pointer that is 1 byte past p: not 4-byte aligned
static float *skew(const float *p) { return (float *)(void *)((char *)(uintptr_t)p + 1); }

// largest N*C*S that bn.h accepts: min(INT64_MAX, SIZE_MAX, PTRDIFF_MAX)/sizeof(float)
static int64_t max_elems(void) {
    uint64_t m = (uint64_t)INT64_MAX;
    if ((uint64_t)SIZE_MAX < m) m = (uint64_t)SIZE_MAX;
    if ((uint64_t)PTRDIFF_MAX < m) m = (uint64_t)PTRDIFF_MAX;
    return (int64_t)(m / sizeof(float));
}

static void expect(bn_status got, bn_status want, const char *fn, const char *what) {
    if ((int)got >= 0 && (int)got < 32) bt_statuses_seen |= 1u << (unsigned int)got;
    CHECK(got == want, "%s, %s: got %d (%s), want %d (%s)", fn, what, (int)got, bn_strerror(got),
          (int)want, bn_strerror(want));
    if (want != BN_OK) {
        CHECK(memcmp(arena, pristine, ARENA * sizeof(float)) == 0,
              "%s, %s: the failing call wrote to memory", fn, what);
    }
}

// ----------------------------------------------------------------------------
// bn_forward_training

// default: NCHW (N,C,S) = (2,3,4): tensors of 24 floats, channel buffers of 3
enum { FT_OUT = 0, FT_SM = 32, FT_SR = 40, FT_RM = 48, FT_RV = 56, FT_INP = 64, FT_G = 96,
       FT_B = 104 };

typedef struct {
    float *out, *save_mean, *save_rstd, *running_mean, *running_var;
    const float *inp, *gamma, *beta;
    double eps, momentum;
    unsigned int flags;
    int layout;
    int64_t N, C, S;
} ft_args;

static ft_args ft_ok(void) {
    ft_args a = {at(FT_OUT), at(FT_SM), at(FT_SR), at(FT_RM), at(FT_RV), at(FT_INP), at(FT_G),
                 at(FT_B), 1e-5, 0.1, BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING,
                 BN_LAYOUT_NCHW, 2, 3, 4};
    return a;
}

static void ft(ft_args a, bn_status want, const char *what) {
    arena_reset();
    const bn_status got = bn_forward_training(a.out, a.save_mean, a.save_rstd, a.running_mean,
                                              a.running_var, a.inp, NULL, a.gamma, a.beta, a.eps,
                                              a.momentum, a.flags, a.layout, a.N, a.C, a.S);
    expect(got, want, "bn_forward_training", what);
}

void test_check_forward_training(void) {
    arena_init();
    ft_args a;
    // valid calls
    ft(ft_ok(), BN_OK, "valid");
    a = ft_ok(); a.out = at(FT_INP); ft(a, BN_OK, "out == inp");
    a = ft_ok(); a.flags = 0; a.gamma = a.beta = NULL; a.running_mean = a.running_var = NULL;
    ft(a, BN_OK, "no flags");
    a = ft_ok(); a.flags = BN_USE_SCALE | BN_USE_SHIFT; a.running_mean = a.running_var = NULL;
    a.momentum = NAN; ft(a, BN_OK, "momentum NaN is ignored without BN_UPDATE_RUNNING");
    a = ft_ok(); a.momentum = 0.0; ft(a, BN_OK, "momentum 0");
    a = ft_ok(); a.momentum = 1.0; ft(a, BN_OK, "momentum 1");
    a = ft_ok(); a.save_rstd = at(FT_OUT + 24); ft(a, BN_OK, "save_rstd just after out");
    a = ft_ok(); a.beta = a.gamma; ft(a, BN_OK, "beta == gamma (inputs may overlap)");
    a = ft_ok(); a.gamma = at(FT_INP); ft(a, BN_OK, "gamma inside inp (inputs may overlap)");
    a = ft_ok(); a.layout = BN_LAYOUT_NC; a.N = 8; a.S = 1; ft(a, BN_OK, "NC");
    a = ft_ok(); a.layout = BN_LAYOUT_NHWC; ft(a, BN_OK, "NHWC");
    a = ft_ok(); a.N = 1; a.S = 2; ft(a, BN_OK, "N = 1, S = 2");
    a = ft_ok(); a.eps = 1e-300; ft(a, BN_OK, "tiny eps");

    // BN_ERR_NULL_POINTER
    a = ft_ok(); a.out = NULL; ft(a, BN_ERR_NULL_POINTER, "out NULL");
    a = ft_ok(); a.save_mean = NULL; ft(a, BN_ERR_NULL_POINTER, "save_mean NULL");
    a = ft_ok(); a.save_rstd = NULL; ft(a, BN_ERR_NULL_POINTER, "save_rstd NULL");
    a = ft_ok(); a.inp = NULL; ft(a, BN_ERR_NULL_POINTER, "inp NULL");
    a = ft_ok(); a.gamma = NULL; ft(a, BN_ERR_NULL_POINTER, "gamma NULL with BN_USE_SCALE");
    a = ft_ok(); a.beta = NULL; ft(a, BN_ERR_NULL_POINTER, "beta NULL with BN_USE_SHIFT");
    a = ft_ok(); a.running_mean = NULL; ft(a, BN_ERR_NULL_POINTER, "running_mean NULL");
    a = ft_ok(); a.running_var = NULL; ft(a, BN_ERR_NULL_POINTER, "running_var NULL");

    // BN_ERR_BAD_FLAGS
    a = ft_ok(); a.flags |= 0x100u; ft(a, BN_ERR_BAD_FLAGS, "unknown flag bit");
    a = ft_ok(); a.flags |= 0x80000000u; ft(a, BN_ERR_BAD_FLAGS, "top flag bit");
    a = ft_ok(); a.flags |= BN_USE_GLOBAL_STATS; ft(a, BN_ERR_BAD_FLAGS, "BN_USE_GLOBAL_STATS");
    a = ft_ok(); a.flags &= ~BN_USE_SCALE; ft(a, BN_ERR_BAD_FLAGS, "gamma without BN_USE_SCALE");
    a = ft_ok(); a.flags &= ~BN_USE_SHIFT; ft(a, BN_ERR_BAD_FLAGS, "beta without BN_USE_SHIFT");
    a = ft_ok(); a.flags &= ~BN_UPDATE_RUNNING;
    ft(a, BN_ERR_BAD_FLAGS, "running stats without BN_UPDATE_RUNNING");
    a = ft_ok(); a.flags &= ~BN_UPDATE_RUNNING; a.running_mean = NULL;
    ft(a, BN_ERR_BAD_FLAGS, "running_var without BN_UPDATE_RUNNING");

    // BN_ERR_BAD_DIMENSION
    a = ft_ok(); a.N = 0; ft(a, BN_ERR_BAD_DIMENSION, "N = 0");
    a = ft_ok(); a.C = 0; ft(a, BN_ERR_BAD_DIMENSION, "C = 0");
    a = ft_ok(); a.S = 0; ft(a, BN_ERR_BAD_DIMENSION, "S = 0");
    a = ft_ok(); a.N = -1; ft(a, BN_ERR_BAD_DIMENSION, "N = -1");
    a = ft_ok(); a.C = INT64_MIN; ft(a, BN_ERR_BAD_DIMENSION, "C = INT64_MIN");
    a = ft_ok(); a.layout = BN_LAYOUT_NC; ft(a, BN_ERR_BAD_DIMENSION, "NC with S = 4");

    // BN_ERR_OVERFLOW (the buffers are small: the call must fail before touching them)
    a = ft_ok(); a.N = INT64_MAX; ft(a, BN_ERR_OVERFLOW, "N = INT64_MAX");
    a = ft_ok(); a.N = (int64_t)1 << 40; a.C = (int64_t)1 << 40;
    ft(a, BN_ERR_OVERFLOW, "N*C = 2^80");
    a = ft_ok(); a.N = (int64_t)1 << 31; a.C = (int64_t)1 << 31; a.S = (int64_t)1 << 31;
    ft(a, BN_ERR_OVERFLOW, "N*C*S = 2^93");
    a = ft_ok(); a.N = max_elems() + 1; a.C = 1; a.S = 1;
    ft(a, BN_ERR_OVERFLOW, "N*C*S*4 one element too many");
    a = ft_ok(); a.N = max_elems(); a.C = 1; a.S = 1; a.eps = 0.0;
    ft(a, BN_ERR_BAD_EPS, "N*C*S*4 at the limit passes the overflow check");
    a = ft_ok(); a.N = 2; a.C = 2; a.S = max_elems() / 4 + 1;
    ft(a, BN_ERR_OVERFLOW, "S just over the limit");

    // BN_ERR_BAD_LAYOUT
    a = ft_ok(); a.layout = 3; ft(a, BN_ERR_BAD_LAYOUT, "layout 3");
    a = ft_ok(); a.layout = -1; ft(a, BN_ERR_BAD_LAYOUT, "layout -1");

    // BN_ERR_BAD_EPS
    a = ft_ok(); a.eps = 0.0; ft(a, BN_ERR_BAD_EPS, "eps 0");
    a = ft_ok(); a.eps = -0.0; ft(a, BN_ERR_BAD_EPS, "eps -0");
    a = ft_ok(); a.eps = -1e-5; ft(a, BN_ERR_BAD_EPS, "eps < 0");
    a = ft_ok(); a.eps = NAN; ft(a, BN_ERR_BAD_EPS, "eps NaN");
    a = ft_ok(); a.eps = INFINITY; ft(a, BN_ERR_BAD_EPS, "eps Inf");

    // BN_ERR_BAD_MOMENTUM
    a = ft_ok(); a.momentum = -0.1; ft(a, BN_ERR_BAD_MOMENTUM, "momentum < 0");
    a = ft_ok(); a.momentum = 1.0000001; ft(a, BN_ERR_BAD_MOMENTUM, "momentum > 1");
    a = ft_ok(); a.momentum = NAN; ft(a, BN_ERR_BAD_MOMENTUM, "momentum NaN");
    a = ft_ok(); a.momentum = INFINITY; ft(a, BN_ERR_BAD_MOMENTUM, "momentum Inf");

    // BN_ERR_SINGLE_VALUE
    a = ft_ok(); a.N = 1; a.S = 1; ft(a, BN_ERR_SINGLE_VALUE, "NCHW N = S = 1");
    a = ft_ok(); a.layout = BN_LAYOUT_NC; a.N = 1; a.S = 1; ft(a, BN_ERR_SINGLE_VALUE, "NC N = 1");
    a = ft_ok(); a.layout = BN_LAYOUT_NHWC; a.N = 1; a.S = 1; a.C = 17;
    ft(a, BN_ERR_SINGLE_VALUE, "NHWC N = S = 1");

    // BN_ERR_MISALIGNED
    a = ft_ok(); a.out = skew(a.out); ft(a, BN_ERR_MISALIGNED, "out");
    a = ft_ok(); a.save_mean = skew(a.save_mean); ft(a, BN_ERR_MISALIGNED, "save_mean");
    a = ft_ok(); a.save_rstd = skew(a.save_rstd); ft(a, BN_ERR_MISALIGNED, "save_rstd");
    a = ft_ok(); a.running_mean = skew(a.running_mean); ft(a, BN_ERR_MISALIGNED, "running_mean");
    a = ft_ok(); a.running_var = skew(a.running_var); ft(a, BN_ERR_MISALIGNED, "running_var");
    a = ft_ok(); a.inp = skew(a.inp); ft(a, BN_ERR_MISALIGNED, "inp");
    a = ft_ok(); a.gamma = skew(a.gamma); ft(a, BN_ERR_MISALIGNED, "gamma");
    a = ft_ok(); a.beta = skew(a.beta); ft(a, BN_ERR_MISALIGNED, "beta");

    // BN_ERR_ALIAS
    a = ft_ok(); a.out = at(FT_INP + 1); ft(a, BN_ERR_ALIAS, "out = inp + 1");
    a = ft_ok(); a.out = at(FT_INP - 23); ft(a, BN_ERR_ALIAS, "out ends on inp[0]");
    a = ft_ok(); a.save_rstd = a.save_mean; ft(a, BN_ERR_ALIAS, "save_rstd == save_mean");
    a = ft_ok(); a.save_rstd = at(FT_SM + 2); ft(a, BN_ERR_ALIAS, "save_rstd = save_mean + 2");
    a = ft_ok(); a.save_mean = at(FT_INP + 4); ft(a, BN_ERR_ALIAS, "save_mean inside inp");
    a = ft_ok(); a.save_mean = at(FT_OUT + 21); ft(a, BN_ERR_ALIAS, "save_mean overlaps out end");
    a = ft_ok(); a.running_var = a.running_mean; ft(a, BN_ERR_ALIAS, "running_var == running_mean");
    a = ft_ok(); a.running_mean = at(FT_G); ft(a, BN_ERR_ALIAS, "running_mean == gamma");
    a = ft_ok(); a.running_var = at(FT_B + 2); ft(a, BN_ERR_ALIAS, "running_var overlaps beta");
    a = ft_ok(); a.out = at(FT_G); ft(a, BN_ERR_ALIAS, "out covers gamma and beta");
    a = ft_ok(); a.out = at(FT_INP); a.gamma = at(FT_INP + 5);
    ft(a, BN_ERR_ALIAS, "out == inp, gamma inside inp (so inside out)");
    a = ft_ok(); a.save_mean = at(FT_RM); ft(a, BN_ERR_ALIAS, "save_mean == running_mean");
}

// ----------------------------------------------------------------------------
// bn_forward_inference

enum { FI_OUT = 0, FI_MEAN = 32, FI_VAR = 40, FI_INP = 64, FI_G = 96, FI_B = 104 };

typedef struct {
    float *out;
    const float *inp, *mean, *var, *gamma, *beta;
    double eps;
    unsigned int flags;
    int layout;
    int64_t N, C, S;
} fi_args;

static fi_args fi_ok(void) {
    fi_args a = {at(FI_OUT), at(FI_INP), at(FI_MEAN), at(FI_VAR), at(FI_G), at(FI_B), 1e-5,
                 BN_USE_SCALE | BN_USE_SHIFT, BN_LAYOUT_NCHW, 2, 3, 4};
    return a;
}

static void fi(fi_args a, bn_status want, const char *what) {
    arena_reset();
    const bn_status got = bn_forward_inference(a.out, a.inp, NULL, a.mean, a.var, a.gamma, a.beta,
                                               a.eps, a.flags, a.layout, a.N, a.C, a.S);
    expect(got, want, "bn_forward_inference", what);
}

void test_check_forward_inference(void) {
    arena_init();
    fi_args a;
    fi(fi_ok(), BN_OK, "valid");
    a = fi_ok(); a.out = at(FI_INP); fi(a, BN_OK, "out == inp");
    a = fi_ok(); a.flags = 0; a.gamma = a.beta = NULL; fi(a, BN_OK, "no flags");
    a = fi_ok(); a.N = 1; a.S = 1; fi(a, BN_OK, "M = 1 is allowed");
    a = fi_ok(); a.var = a.mean; fi(a, BN_OK, "var == mean (inputs may overlap)");

    a = fi_ok(); a.out = NULL; fi(a, BN_ERR_NULL_POINTER, "out NULL");
    a = fi_ok(); a.inp = NULL; fi(a, BN_ERR_NULL_POINTER, "inp NULL");
    a = fi_ok(); a.mean = NULL; fi(a, BN_ERR_NULL_POINTER, "mean NULL");
    a = fi_ok(); a.var = NULL; fi(a, BN_ERR_NULL_POINTER, "var NULL");
    a = fi_ok(); a.gamma = NULL; fi(a, BN_ERR_NULL_POINTER, "gamma NULL");
    a = fi_ok(); a.beta = NULL; fi(a, BN_ERR_NULL_POINTER, "beta NULL");

    a = fi_ok(); a.flags |= BN_UPDATE_RUNNING; fi(a, BN_ERR_BAD_FLAGS, "BN_UPDATE_RUNNING");
    a = fi_ok(); a.flags |= BN_USE_GLOBAL_STATS; fi(a, BN_ERR_BAD_FLAGS, "BN_USE_GLOBAL_STATS");
    a = fi_ok(); a.flags |= 0x100u; fi(a, BN_ERR_BAD_FLAGS, "unknown bit");
    a = fi_ok(); a.flags = BN_USE_SHIFT; fi(a, BN_ERR_BAD_FLAGS, "gamma without BN_USE_SCALE");
    a = fi_ok(); a.flags = BN_USE_SCALE; fi(a, BN_ERR_BAD_FLAGS, "beta without BN_USE_SHIFT");

    a = fi_ok(); a.S = -4; fi(a, BN_ERR_BAD_DIMENSION, "S < 0");
    a = fi_ok(); a.layout = BN_LAYOUT_NC; a.S = 2; fi(a, BN_ERR_BAD_DIMENSION, "NC with S = 2");
    a = fi_ok(); a.C = INT64_MAX; fi(a, BN_ERR_OVERFLOW, "C = INT64_MAX");
    a = fi_ok(); a.layout = 17; fi(a, BN_ERR_BAD_LAYOUT, "layout 17");
    a = fi_ok(); a.eps = NAN; fi(a, BN_ERR_BAD_EPS, "eps NaN");
    a = fi_ok(); a.eps = 0.0; fi(a, BN_ERR_BAD_EPS, "eps 0");
    a = fi_ok(); a.eps = -INFINITY; fi(a, BN_ERR_BAD_EPS, "eps -Inf");

    a = fi_ok(); a.out = skew(a.out); fi(a, BN_ERR_MISALIGNED, "out");
    a = fi_ok(); a.inp = skew(a.inp); fi(a, BN_ERR_MISALIGNED, "inp");
    a = fi_ok(); a.mean = skew(a.mean); fi(a, BN_ERR_MISALIGNED, "mean");
    a = fi_ok(); a.var = skew(a.var); fi(a, BN_ERR_MISALIGNED, "var");
    a = fi_ok(); a.gamma = skew(a.gamma); fi(a, BN_ERR_MISALIGNED, "gamma");
    a = fi_ok(); a.beta = skew(a.beta); fi(a, BN_ERR_MISALIGNED, "beta");

    a = fi_ok(); a.out = at(FI_INP + 2); fi(a, BN_ERR_ALIAS, "out = inp + 2");
    a = fi_ok(); a.out = at(FI_MEAN); fi(a, BN_ERR_ALIAS, "out covers mean and var");
    a = fi_ok(); a.out = at(FI_G - 7); fi(a, BN_ERR_ALIAS, "out overlaps gamma and beta");
    a = fi_ok(); a.out = at(FI_B + 2); fi(a, BN_ERR_ALIAS, "out starts in beta");
}

// ----------------------------------------------------------------------------
// bn_backward

enum { BW_DINP = 0, BW_DG = 32, BW_DB = 40, BW_DOUT = 64, BW_G = 96, BW_MEAN = 104,
       BW_RSTD = 112, BW_INP = 128 };

typedef struct {
    float *dinp, *dgamma, *dbeta;
    const float *dout, *inp, *gamma, *mean, *rstd;
    unsigned int flags, mask;
    int layout;
    int64_t N, C, S;
} bw_args;

static bw_args bw_ok(void) {
    bw_args a = {at(BW_DINP), at(BW_DG), at(BW_DB), at(BW_DOUT), at(BW_INP), at(BW_G),
                 at(BW_MEAN), at(BW_RSTD), BN_USE_SCALE,
                 BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT, BN_LAYOUT_NCHW, 2, 3, 4};
    return a;
}

static void bw(bw_args a, bn_status want, const char *what) {
    arena_reset();
    const bn_status got = bn_backward(a.dinp, NULL, a.dgamma, a.dbeta, a.dout, NULL, a.inp, a.gamma, a.mean,
                                      a.rstd, a.flags, a.mask, a.layout, a.N, a.C, a.S);
    expect(got, want, "bn_backward", what);
}

void test_check_backward(void) {
    arena_init();
    bw_args a;
    bw(bw_ok(), BN_OK, "valid");
    a = bw_ok(); a.flags |= BN_USE_GLOBAL_STATS; bw(a, BN_OK, "global stats");
    a = bw_ok(); a.flags = 0; a.gamma = NULL; bw(a, BN_OK, "no flags");
    a = bw_ok(); a.dinp = at(BW_DOUT); bw(a, BN_OK, "dinp == dout");
    a = bw_ok(); a.dinp = at(BW_INP); bw(a, BN_OK, "dinp == inp");
    a = bw_ok(); a.dinp = at(BW_INP); a.dout = at(BW_INP); bw(a, BN_OK, "dinp == dout == inp");
    a = bw_ok(); a.mask = BN_DIFF_INP; a.dgamma = a.dbeta = NULL; bw(a, BN_OK, "dinp only");
    a = bw_ok(); a.mask = BN_DIFF_SHIFT; a.dinp = a.dgamma = NULL; bw(a, BN_OK, "dbeta only");
    a = bw_ok(); a.flags |= BN_USE_GLOBAL_STATS; a.mask = BN_DIFF_INP | BN_DIFF_SHIFT;
    a.dgamma = NULL; a.inp = NULL; bw(a, BN_OK, "inp NULL: not read (global stats, no dgamma)");
    a = bw_ok(); a.N = 1; a.S = 1; bw(a, BN_OK, "M = 1");

    a = bw_ok(); a.dinp = NULL; bw(a, BN_ERR_NULL_POINTER, "dinp NULL with BN_DIFF_INP");
    a = bw_ok(); a.dgamma = NULL; bw(a, BN_ERR_NULL_POINTER, "dgamma NULL with BN_DIFF_SCALE");
    a = bw_ok(); a.dbeta = NULL; bw(a, BN_ERR_NULL_POINTER, "dbeta NULL with BN_DIFF_SHIFT");
    a = bw_ok(); a.dout = NULL; bw(a, BN_ERR_NULL_POINTER, "dout NULL");
    a = bw_ok(); a.inp = NULL; bw(a, BN_ERR_NULL_POINTER, "inp NULL with batch stats");
    a = bw_ok(); a.inp = NULL; a.flags |= BN_USE_GLOBAL_STATS;
    bw(a, BN_ERR_NULL_POINTER, "inp NULL with global stats and dgamma");
    a = bw_ok(); a.inp = NULL; a.mask = BN_DIFF_INP; a.dgamma = a.dbeta = NULL;
    bw(a, BN_ERR_NULL_POINTER, "inp NULL with batch stats, dinp only");
    a = bw_ok(); a.gamma = NULL; bw(a, BN_ERR_NULL_POINTER, "gamma NULL with BN_USE_SCALE");
    a = bw_ok(); a.mean = NULL; bw(a, BN_ERR_NULL_POINTER, "mean NULL");
    a = bw_ok(); a.rstd = NULL; bw(a, BN_ERR_NULL_POINTER, "rstd NULL");

    a = bw_ok(); a.flags |= BN_USE_SHIFT; bw(a, BN_ERR_BAD_FLAGS, "BN_USE_SHIFT");
    a = bw_ok(); a.flags |= BN_UPDATE_RUNNING; bw(a, BN_ERR_BAD_FLAGS, "BN_UPDATE_RUNNING");
    a = bw_ok(); a.flags |= 0x100u; bw(a, BN_ERR_BAD_FLAGS, "unknown flag bit");
    a = bw_ok(); a.flags = 0; bw(a, BN_ERR_BAD_FLAGS, "gamma without BN_USE_SCALE");
    a = bw_ok(); a.mask = BN_DIFF_SCALE | BN_DIFF_SHIFT;
    bw(a, BN_ERR_BAD_FLAGS, "dinp without BN_DIFF_INP");
    a = bw_ok(); a.mask = BN_DIFF_INP | BN_DIFF_SHIFT;
    bw(a, BN_ERR_BAD_FLAGS, "dgamma without BN_DIFF_SCALE");
    a = bw_ok(); a.mask = BN_DIFF_INP | BN_DIFF_SCALE;
    bw(a, BN_ERR_BAD_FLAGS, "dbeta without BN_DIFF_SHIFT");
    a = bw_ok(); a.mask = 0; bw(a, BN_ERR_BAD_FLAGS, "mask 0 with outputs present");

    a = bw_ok(); a.mask = 0; a.dinp = a.dgamma = a.dbeta = NULL; bw(a, BN_ERR_BAD_MASK, "mask 0");
    a = bw_ok(); a.mask |= 0x10u; bw(a, BN_ERR_BAD_MASK, "unknown mask bit");
    a = bw_ok(); a.mask = 0x100u; a.dinp = a.dgamma = a.dbeta = NULL;
    bw(a, BN_ERR_BAD_MASK, "only an unknown mask bit");

    a = bw_ok(); a.N = 0; bw(a, BN_ERR_BAD_DIMENSION, "N = 0");
    a = bw_ok(); a.layout = BN_LAYOUT_NC; bw(a, BN_ERR_BAD_DIMENSION, "NC with S = 4");
    a = bw_ok(); a.S = INT64_MAX / 3; bw(a, BN_ERR_OVERFLOW, "N*C*S overflows");
    a = bw_ok(); a.layout = 99; bw(a, BN_ERR_BAD_LAYOUT, "layout 99");

    a = bw_ok(); a.dinp = skew(a.dinp); bw(a, BN_ERR_MISALIGNED, "dinp");
    a = bw_ok(); a.dgamma = skew(a.dgamma); bw(a, BN_ERR_MISALIGNED, "dgamma");
    a = bw_ok(); a.dbeta = skew(a.dbeta); bw(a, BN_ERR_MISALIGNED, "dbeta");
    a = bw_ok(); a.dout = skew(a.dout); bw(a, BN_ERR_MISALIGNED, "dout");
    a = bw_ok(); a.inp = skew(a.inp); bw(a, BN_ERR_MISALIGNED, "inp");
    a = bw_ok(); a.gamma = skew(a.gamma); bw(a, BN_ERR_MISALIGNED, "gamma");
    a = bw_ok(); a.mean = skew(a.mean); bw(a, BN_ERR_MISALIGNED, "mean");
    a = bw_ok(); a.rstd = skew(a.rstd); bw(a, BN_ERR_MISALIGNED, "rstd");
    a = bw_ok(); a.flags |= BN_USE_GLOBAL_STATS; a.mask = BN_DIFF_INP; a.dgamma = a.dbeta = NULL;
    a.inp = skew(a.inp); bw(a, BN_ERR_MISALIGNED, "inp given but not read");

    a = bw_ok(); a.dinp = at(BW_DOUT + 1); bw(a, BN_ERR_ALIAS, "dinp = dout + 1");
    a = bw_ok(); a.dinp = at(BW_INP - 3); bw(a, BN_ERR_ALIAS, "dinp = inp - 3");
    a = bw_ok(); a.dbeta = a.dgamma; bw(a, BN_ERR_ALIAS, "dbeta == dgamma");
    a = bw_ok(); a.dgamma = at(BW_MEAN); bw(a, BN_ERR_ALIAS, "dgamma == mean");
    a = bw_ok(); a.dbeta = at(BW_RSTD + 1); bw(a, BN_ERR_ALIAS, "dbeta overlaps rstd");
    a = bw_ok(); a.dgamma = at(BW_DINP + 5); bw(a, BN_ERR_ALIAS, "dgamma inside dinp");
    a = bw_ok(); a.dinp = at(BW_G); bw(a, BN_ERR_ALIAS, "dinp covers gamma, mean, rstd");
    a = bw_ok(); a.dbeta = at(BW_DOUT + 8); bw(a, BN_ERR_ALIAS, "dbeta inside dout");
    a = bw_ok(); a.flags |= BN_USE_GLOBAL_STATS; a.mask = BN_DIFF_INP; a.dgamma = a.dbeta = NULL;
    a.inp = at(BW_DINP + 2); bw(a, BN_ERR_ALIAS, "dinp overlaps inp that is given but not read");
}

// ----------------------------------------------------------------------------
// order: when two checks fail, the earlier one in bn_internal.h's list wins

void test_check_order(void) {
    arena_init();
    ft_args a;
    a = ft_ok(); a.out = NULL; a.flags |= 0x100u; a.N = 0;
    ft(a, BN_ERR_NULL_POINTER, "NULL before flags");
    a = ft_ok(); a.flags = BN_USE_SCALE | BN_USE_SHIFT; // running stats present without the flag
    a.N = 0; ft(a, BN_ERR_BAD_FLAGS, "flags before dimension");
    a = ft_ok(); a.N = 0; a.C = INT64_MAX; a.layout = 5;
    ft(a, BN_ERR_BAD_DIMENSION, "dimension before overflow and layout");
    a = ft_ok(); a.C = INT64_MAX; a.layout = 5; ft(a, BN_ERR_OVERFLOW, "overflow before layout");
    a = ft_ok(); a.layout = 5; a.eps = 0.0; ft(a, BN_ERR_BAD_LAYOUT, "layout before eps");
    a = ft_ok(); a.eps = NAN; a.momentum = 2.0; ft(a, BN_ERR_BAD_EPS, "eps before momentum");
    a = ft_ok(); a.momentum = 2.0; a.N = 1; a.S = 1;
    ft(a, BN_ERR_BAD_MOMENTUM, "momentum before single value");
    a = ft_ok(); a.N = 1; a.S = 1; a.out = skew(a.out);
    ft(a, BN_ERR_SINGLE_VALUE, "single value before misaligned");
    a = ft_ok(); a.out = skew(at(FT_INP)); ft(a, BN_ERR_MISALIGNED, "misaligned before alias");

    bw_args b;
    b = bw_ok(); b.dinp = NULL; b.mask |= 0x10u; bw(b, BN_ERR_NULL_POINTER, "NULL before mask");
    b = bw_ok(); b.flags |= 0x100u; b.mask = 0; b.dinp = b.dgamma = b.dbeta = NULL;
    bw(b, BN_ERR_BAD_FLAGS, "flags before mask");
    b = bw_ok(); b.mask = 0; b.dinp = b.dgamma = b.dbeta = NULL; b.N = 0;
    bw(b, BN_ERR_BAD_MASK, "mask before dimension");
    b = bw_ok(); b.layout = 3; b.dinp = skew(b.dinp); bw(b, BN_ERR_BAD_LAYOUT, "layout first");
    b = bw_ok(); b.dinp = skew(at(BW_DOUT)); bw(b, BN_ERR_MISALIGNED, "misaligned before alias");
}

// ----------------------------------------------------------------------------

void test_status_coverage(void) {
    bt_statuses_seen = 0;
    test_check_forward_training();
    test_check_forward_inference();
    test_check_backward();
    test_check_order();
    test_convert_check();
    for (int st = BN_OK; st <= BN_ERR_BAD_DTYPE; st++) {
        CHECK((bt_statuses_seen & (1u << (unsigned int)st)) != 0,
              "no check test produced status %d (%s)", st, bn_strerror(st));
    }
}
