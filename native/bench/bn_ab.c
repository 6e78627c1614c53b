/*
 * bn_ab.c - two builds of libbnorm in one process, called in turn: which is faster.
 *
 *   bn_ab [-t THREADS] [-r ROUNDS] [-m MS] [-d bf16|f16] LIB_A LIB_B OP CASE
 *   OP: fwd (forward training), inf (inference), bwd (backward), stats (bn_stats_local)
 *   CASE: layout:NxCxS as bn_bench's, e.g. nc:4096x1024 nhwc:32x256x3136
 *
 * On a shared guest one process can run a kernel at a steady speed that differs from the next
 * process's (on the 2-vCPU Zen 4 guest of PERFORMANCE.md, float32 NC 4096x1024 forward training
 * took 2.1 to 2.9 ms from one process to the next, 1 thread), so timing two builds in two
 * processes compares the processes as much as the code. Here both libraries (dlopen, RTLD_LOCAL: each with
 * its own dispatch and thread team, both set to THREADS) work on the same buffers in one
 * process. Each round times A and B for about MS milliseconds each, in alternating order (an
 * even number of rounds: ROUNDS rounded up); the output gives each library's median and min over
 * the rounds and the median and range of the rounds' B/A ratios (< 1: B is faster). Linux and
 * other dlopen systems only; not a test.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn.h"

typedef bn_status (*fwd_fn)(void *, float *, float *, float *, float *, const void *,
                            const void *, const float *, const float *, double, double,
                            unsigned int, int, int64_t, int64_t, int64_t);
typedef bn_status (*inf_fn)(void *, const void *, const void *, const float *, const float *,
                            const float *, const float *, double, unsigned int, int, int64_t,
                            int64_t, int64_t);
typedef bn_status (*bwd_fn)(void *, void *, float *, float *, const void *, const void *,
                            const void *, const float *, const float *, const float *,
                            unsigned int, unsigned int, int, int64_t, int64_t, int64_t);
typedef bn_status (*stats_fn)(double *, const void *, unsigned int, int, int64_t, int64_t, int64_t);
typedef int (*threads_fn)(int);
typedef bn_status (*convert_fn)(void *, int, const void *, int, int64_t);

typedef struct {
    const char *path;
    fwd_fn fwd;
    inf_fn inf;
    bwd_fn bwd;
    stats_fn stats;
    convert_fn convert;
} lib;

typedef struct {
    int layout, op;
    int64_t N, C, S;
    unsigned int data;        // BN_DATA_BF16, BN_DATA_F16 or 0
    void *inp, *out, *dout, *dinp;
    float *gamma, *beta, *mean, *rstd, *rmean, *rvar, *dgamma, *dbeta;
    double *stats;
} call;

enum { OP_FWD, OP_INF, OP_BWD, OP_STATS };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *sym(void *h, const char *path, const char *name) {
    void *f = dlsym(h, name);
    if (f == NULL) {
        fprintf(stderr, "%s: no %s\n", path, name);
        exit(2);
    }
    return f;
}

static lib load(const char *path, int threads) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        exit(2);
    }
    lib l = {path, (fwd_fn)sym(h, path, "bn_forward_training"),
             (inf_fn)sym(h, path, "bn_forward_inference"), (bwd_fn)sym(h, path, "bn_backward"),
             (stats_fn)sym(h, path, "bn_stats_local"), (convert_fn)sym(h, path, "bn_convert")};
    ((threads_fn)sym(h, path, "bn_set_num_threads"))(threads);
    return l;
}

static void *alloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

// n values in [lo, hi) of the call's dtype (float32 converted by l)
static void *values(const lib *l, const call *c, size_t n, float lo, float hi, unsigned *seed) {
    float *f = alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        f[i] = lo + (hi - lo) * (float)(*seed >> 8) * 0x1.0p-24f;
    }
    if (c->data == 0) return f;
    void *h = alloc(n * 2);
    if (l->convert(h, c->data == BN_DATA_BF16 ? BN_BF16 : BN_F16, f, BN_F32, (int64_t)n) != BN_OK) exit(2);
    free(f);
    return h;
}

static void run(const lib *l, const call *c) {
    const unsigned int d = c->data;
    bn_status st;
    if (c->op == OP_FWD) {
        st = l->fwd(c->out, c->mean, c->rstd, c->rmean, c->rvar, c->inp, NULL, c->gamma, c->beta,
                    1e-5, 0.1, BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING | d, c->layout, c->N,
                    c->C, c->S);
    } else if (c->op == OP_INF) {
        st = l->inf(c->out, c->inp, NULL, c->rmean, c->rvar, c->gamma, c->beta, 1e-5,
                    BN_USE_SCALE | BN_USE_SHIFT | d, c->layout, c->N, c->C, c->S);
    } else if (c->op == OP_BWD) {
        st = l->bwd(c->dinp, NULL, c->dgamma, c->dbeta, c->dout, NULL, c->inp, c->gamma, c->mean,
                    c->rstd, BN_USE_SCALE | d, BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT,
                    c->layout, c->N, c->C, c->S);
    } else {
        st = l->stats(c->stats, c->inp, d, c->layout, c->N, c->C, c->S);
    }
    if (st != BN_OK) {
        fprintf(stderr, "%s: status %d\n", l->path, (int)st);
        exit(1);
    }
}

// mean seconds per call over `calls` calls
static double timed(const lib *l, const call *c, long calls) {
    const double t0 = now();
    for (long i = 0; i < calls; i++) run(l, c);
    return (now() - t0) / (double)calls;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int threads = 1, rounds = 21, i = 1;
    double ms = 50.0;
    call c;
    memset(&c, 0, sizeof c);
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) ms = atof(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            const char *d = argv[++i];
            c.data = strcmp(d, "bf16") == 0 ? BN_DATA_BF16 : strcmp(d, "f16") == 0 ? BN_DATA_F16 : 0u;
            if (c.data == 0) {
                fprintf(stderr, "-d: expected bf16 or f16, got '%s'\n", d);
                return 2;
            }
        } else break;
    }
    char lay[8];
    long long n = 0, ch = 0, sp = 1;
    const char *ops[] = {"fwd", "inf", "bwd", "stats"};
    c.op = -1;
    for (int k = 0; argc - i == 4 && k < 4; k++) {
        if (strcmp(argv[i + 2], ops[k]) == 0) c.op = k;
    }
    const int got = argc - i == 4 ? sscanf(argv[i + 3], "%7[a-z]:%lldx%lldx%lld", lay, &n, &ch, &sp) : 0;
    c.layout = got < 3 ? -1 : strcmp(lay, "nc") == 0 && got == 3 ? BN_LAYOUT_NC
               : strcmp(lay, "nchw") == 0 ? BN_LAYOUT_NCHW : strcmp(lay, "nhwc") == 0 ? BN_LAYOUT_NHWC : -1;
    if (c.op < 0 || c.layout < 0 || n < 1 || ch < 1 || sp < 1 || threads < 1 || rounds < 1 || ms <= 0) {
        fprintf(stderr, "usage: bn_ab [-t THREADS] [-r ROUNDS] [-m MS] [-d bf16|f16] LIB_A LIB_B "
                        "fwd|inf|bwd|stats nc:NxC|nchw:NxCxS|nhwc:NxCxS\n");
        return 2;
    }
    // as many rounds with A first as with B first: the one timed second lost in every odd count
    // (two copies of one library, 2 threads, NC backward on the Zen 5 guest of PERFORMANCE.md,
    // 8 processes: B/A medians 1.01 and 1.03 with 7 rounds, 1.005 and 0.999 with 8)
    rounds += rounds % 2;
    const lib a = load(argv[i], threads), b = load(argv[i + 1], threads);
    c.N = n, c.C = ch, c.S = sp;
    const size_t count = (size_t)(n * ch * sp), es = c.data != 0 ? 2 : 4, C = (size_t)ch;
    unsigned seed = 1;
    c.inp = values(&a, &c, count, 2.0f, 4.0f, &seed);
    c.dout = values(&a, &c, count, -1.0f, 1.0f, &seed);
    c.out = alloc(count * es);
    c.dinp = alloc(count * es);
    c.gamma = alloc(C * sizeof(float)), c.beta = alloc(C * sizeof(float));
    c.mean = alloc(C * sizeof(float)), c.rstd = alloc(C * sizeof(float));
    c.rmean = alloc(C * sizeof(float)), c.rvar = alloc(C * sizeof(float));
    c.dgamma = alloc(C * sizeof(float)), c.dbeta = alloc(C * sizeof(float));
    c.stats = alloc(3 * C * sizeof(double));
    for (size_t j = 0; j < C; j++) {
        c.gamma[j] = 1.0f + 1e-3f * (float)j, c.beta[j] = 0.25f;
        c.mean[j] = c.rmean[j] = 3.0f, c.rstd[j] = 1.7f, c.rvar[j] = 0.33f;
    }
    // calls a round from one timed call of each (after one untimed), at least one
    run(&a, &c), run(&b, &c);
    const double once = (timed(&a, &c, 1) + timed(&b, &c, 1)) / 2;
    long calls = (long)(ms * 1e-3 / once);
    if (calls < 1) calls = 1;
    double *ta = alloc((size_t)rounds * sizeof(double)), *tb = alloc((size_t)rounds * sizeof(double));
    double *q = alloc((size_t)rounds * sizeof(double));
    for (int r = -1; r < rounds; r++) { // round -1: warm-up
        double x, y;
        if (r % 2 == 0) x = timed(&a, &c, calls), y = timed(&b, &c, calls);
        else y = timed(&b, &c, calls), x = timed(&a, &c, calls);
        if (r < 0) continue;
        ta[r] = 1e6 * x, tb[r] = 1e6 * y, q[r] = y / x;
    }
    const double qm = median(q, rounds), am = median(ta, rounds), bm = median(tb, rounds);
    printf("%s %s, %d thread(s), %d rounds of %ld calls: A %.1f us (min %.1f), B %.1f us (min %.1f), "
           "B/A %.3f (%.3f-%.3f)\n", argv[i + 2], argv[i + 3], threads, rounds, calls, am, ta[0], bm,
           tb[0], qm, q[0], q[rounds - 1]);
    return 0;
}
