/*
 * test_threads.c - bn_set_num_threads, and results that are bit-identical for any number of
 * threads and with concurrent callers, on shapes large enough to be spread over threads and cut
 * the way the planner cuts them (several blocks, groups of blocks, pieces of long runs, rows of
 * few channels joined into wide rows with a partial one, outputs large enough for streaming
 * stores). Each shape is also checked against the double references of harness.c.
 *
 * N = batch, C = channels, S = spatial size, M = N*S values per channel.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L // pthreads, dirent under -std=c11
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <process.h>
#include <tlhelp32.h>
#else
#include <dirent.h>
#include <pthread.h>
#endif

#include "harness.h"

typedef struct {
    int layout;
    int64_t N, C, S;
} shape;

static const shape shapes[] = {
    {BN_LAYOUT_NC, 4096, 1024, 1},    // 16 MiB: groups of blocks, streaming stores
    {BN_LAYOUT_NC, 64, 4096, 1},      // many units, one block
    {BN_LAYOUT_NC, 200000, 3, 1},     // wide rows of 22 rows, partial row, groups
    {BN_LAYOUT_NHWC, 8, 64, 1369},    // one unit, 2 groups
    {BN_LAYOUT_NC, 1024, 256, 1},     // one unit of 1 MiB: 2 groups (BN_MIN_TASKS)
    {BN_LAYOUT_NHWC, 8, 128, 784},    // one unit of 3 MiB: 3 groups rounded up to 4
    {BN_LAYOUT_NHWC, 4, 13, 49999},   // wide rows of 5 rows, partial row
    {BN_LAYOUT_NCHW, 2, 3, 300000},   // runs in pieces, groups of pieces
    {BN_LAYOUT_NCHW, 256, 64, 49},    // blocks of whole runs
    {BN_LAYOUT_NCHW, 8, 32, 3136},    // one run per block
    {BN_LAYOUT_NCHW, 4, 16, 65536},   // 16 MiB: streaming stores over runs
    {BN_LAYOUT_NCHW, 32, 512, 49},    // short runs: units of many channels
    {BN_LAYOUT_NCHW, 2048, 4, 300},   // short runs: one channel per unit, groups
    {BN_LAYOUT_NCHW, 64, 300, 13},    // short runs: a partial last unit
};
enum { NSHAPES = (int)(sizeof shapes / sizeof shapes[0]) };
static const int thread_counts[] = {2, 3, 7};

typedef struct {
    size_t n, nc;
    float *inp, *dout, *gamma, *beta, *mean, *var, *rstd_g; // inputs
} problem;

typedef struct {
    float *out, *save_mean, *save_rstd, *running_mean, *running_var; // training
    float *io;                                                       // training in place
    float *inf;                                                      // inference
    float *dinp, *dgamma, *dbeta;                                    // backward, batch stats
    float *ginp, *gdgamma;                                           // backward, global stats
} outputs;

static void outputs_alloc(outputs *o, const problem *p) {
    o->out = bt_floats(p->n);
    o->io = bt_floats(p->n);
    o->inf = bt_floats(p->n);
    o->dinp = bt_floats(p->n);
    o->ginp = bt_floats(p->n);
    float **per[] = {&o->save_mean, &o->save_rstd, &o->running_mean, &o->running_var,
                     &o->dgamma,    &o->dbeta,     &o->gdgamma};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) *per[i] = bt_floats(p->nc);
}

static void outputs_free(outputs *o) {
    float *all[] = {o->out,       o->io,           o->inf,          o->dinp,
                    o->ginp,      o->save_mean,    o->save_rstd,    o->running_mean,
                    o->running_var, o->dgamma,     o->dbeta,        o->gdgamma};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

// every kernel of bn.h on problem p, with the current number of threads
static int run_all(const shape *s, const problem *p, outputs *o) {
    const unsigned int all = BN_DIFF_INP | BN_DIFF_SCALE | BN_DIFF_SHIFT;
    for (size_t c = 0; c < p->nc; c++) {
        o->running_mean[c] = 0.25f;
        o->running_var[c] = 2.0f;
    }
    int ok = bn_forward_training(o->out, o->save_mean, o->save_rstd, o->running_mean,
                                 o->running_var, p->inp, NULL, p->gamma, p->beta, 1e-5, 0.1,
                                 BN_USE_SCALE | BN_USE_SHIFT | BN_UPDATE_RUNNING, s->layout, s->N,
                                 s->C, s->S) == BN_OK;
    memcpy(o->io, p->inp, p->n * sizeof(float));
    ok &= bn_forward_training(o->io, o->dgamma, o->dbeta, NULL, NULL, o->io, NULL, p->gamma, p->beta,
                              1e-5, 0.1, BN_USE_SCALE | BN_USE_SHIFT, s->layout, s->N, s->C,
                              s->S) == BN_OK;
    ok &= bn_forward_inference(o->inf, p->inp, NULL, p->mean, p->var, p->gamma, p->beta, 1e-3,
                               BN_USE_SCALE | BN_USE_SHIFT, s->layout, s->N, s->C,
                               s->S) == BN_OK;
    ok &= bn_backward(o->dinp, NULL, o->dgamma, o->dbeta, p->dout, NULL, p->inp, p->gamma, o->save_mean,
                      o->save_rstd, BN_USE_SCALE, all, s->layout, s->N, s->C, s->S) == BN_OK;
    ok &= bn_backward(o->ginp, NULL, o->gdgamma, NULL, p->dout, NULL, p->inp, p->gamma, p->mean, p->rstd_g,
                      BN_USE_SCALE | BN_USE_GLOBAL_STATS, BN_DIFF_INP | BN_DIFF_SCALE, s->layout,
                      s->N, s->C, s->S) == BN_OK;
    return ok;
}

// bt_close of one output, named "<name>: <what>"
static void close_to(const char *name, const char *what, const float *got, const double *ref,
                     size_t n, double atol, double rtol) {
    char label[200];
    snprintf(label, sizeof label, "%s: %s", name, what);
    bt_close(label, got, ref, n, atol, rtol);
}

// the single-threaded outputs against the double references
static void check_reference(const char *name, const shape *s, const problem *p,
                            const outputs *o) {
    const int64_t M = s->N * s->S;
    const double tol = bt_tol(M);
    double *mean = bt_doubles(p->nc), *var = bt_doubles(p->nc), *rstd = bt_doubles(p->nc);
    double *ref = bt_doubles(p->n), *ref_dg = bt_doubles(p->nc), *ref_db = bt_doubles(p->nc);
    ref_stats(mean, var, p->inp, s->layout, s->N, s->C, s->S);
    for (size_t c = 0; c < p->nc; c++) rstd[c] = 1.0 / sqrt(var[c] + 1e-5);
    ref_normalize(ref, p->inp, mean, rstd, p->gamma, p->beta, s->layout, s->N, s->C, s->S);
    close_to(name, "out", o->out, ref, p->n, tol, tol);
    close_to(name, "save_mean", o->save_mean, mean, p->nc, 1e-12, tol);
    close_to(name, "save_rstd", o->save_rstd, rstd, p->nc, 0.0, tol);
    for (size_t c = 0; c < p->nc; c++) ref_dg[c] = 0.9 * 2.0 + 0.1 * var[c] * (double)M / (double)(M - 1);
    close_to(name, "running_var", o->running_var, ref_dg, p->nc, 0.0, tol);
    CHECK(memcmp(o->io, o->out, p->n * sizeof(float)) == 0, "%s: in place != out of place", name);

    double *m_in = bt_doubles(p->nc), *r_in = bt_doubles(p->nc);
    for (size_t c = 0; c < p->nc; c++) {
        m_in[c] = p->mean[c];
        r_in[c] = 1.0 / sqrt((double)p->var[c] + 1e-3);
    }
    ref_normalize(ref, p->inp, m_in, r_in, p->gamma, p->beta, s->layout, s->N, s->C, s->S);
    close_to(name, "inference out", o->inf, ref, p->n, 1e-5, 1e-5);

    ref_backward(ref, ref_dg, ref_db, p->dout, p->inp, p->gamma, o->save_mean, o->save_rstd, 0,
                 s->layout, s->N, s->C, s->S);
    close_to(name, "dinp", o->dinp, ref, p->n, tol * bt_maxabs(ref, p->n), tol);
    close_to(name, "dgamma", o->dgamma, ref_dg, p->nc, 1e-9 * (double)M, tol);
    close_to(name, "dbeta", o->dbeta, ref_db, p->nc, 1e-9 * (double)M, tol);
    ref_backward(ref, ref_dg, ref_db, p->dout, p->inp, p->gamma, p->mean, p->rstd_g, 1,
                 s->layout, s->N, s->C, s->S);
    close_to(name, "dinp (global)", o->ginp, ref, p->n, tol * bt_maxabs(ref, p->n), tol);
    close_to(name, "dgamma (global)", o->gdgamma, ref_dg, p->nc, 1e-9 * (double)M, tol);
    free(mean); free(var); free(rstd); free(ref); free(ref_dg); free(ref_db); free(m_in);
    free(r_in);
}

// every output of a and b equal bit for bit
static void check_same(const char *name, const char *how, const problem *p, const outputs *a,
                       const outputs *b) {
    const struct {
        const char *what;
        const float *x, *y;
        size_t n;
    } cmp[] = {
        {"out", a->out, b->out, p->n},
        {"save_mean", a->save_mean, b->save_mean, p->nc},
        {"save_rstd", a->save_rstd, b->save_rstd, p->nc},
        {"running_mean", a->running_mean, b->running_mean, p->nc},
        {"running_var", a->running_var, b->running_var, p->nc},
        {"in-place out", a->io, b->io, p->n},
        {"inference out", a->inf, b->inf, p->n},
        {"dinp", a->dinp, b->dinp, p->n},
        {"dgamma", a->dgamma, b->dgamma, p->nc},
        {"dbeta", a->dbeta, b->dbeta, p->nc},
        {"dinp (global)", a->ginp, b->ginp, p->n},
        {"dgamma (global)", a->gdgamma, b->gdgamma, p->nc},
    };
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
        size_t diff = 0;
        while (diff < cmp[i].n && memcmp(&cmp[i].x[diff], &cmp[i].y[diff], sizeof(float)) == 0) diff++;
        CHECK(diff == cmp[i].n, "%s: %s: %s differs from 1 thread first at [%zu]: %.9g vs %.9g",
              name, how, cmp[i].what, diff, diff < cmp[i].n ? cmp[i].x[diff] : 0.0,
              diff < cmp[i].n ? cmp[i].y[diff] : 0.0);
    }
}

static void problem_make(problem *p, const shape *s, uint64_t seed) {
    bt_rng r;
    bt_rng_seed(&r, seed);
    p->n = (size_t)(s->N * s->C * s->S);
    p->nc = (size_t)s->C;
    p->inp = bt_floats(p->n);
    p->dout = bt_floats(p->n);
    float **per[] = {&p->gamma, &p->beta, &p->mean, &p->var, &p->rstd_g};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) *per[i] = bt_floats(p->nc);
    bt_fill_inp(&r, p->inp, s->layout, s->N, s->C, s->S);
    bt_fill_normal(&r, p->dout, p->n);
    bt_fill_uniform(&r, p->gamma, p->nc, 0.5, 2.0);
    bt_fill_normal(&r, p->beta, p->nc);
    bt_fill_uniform(&r, p->mean, p->nc, -2.0, 2.0);
    bt_fill_uniform(&r, p->var, p->nc, 0.2, 4.0);
    bt_fill_uniform(&r, p->rstd_g, p->nc, 0.5, 2.0);
}

static void problem_free(problem *p) {
    float *all[] = {p->inp, p->dout, p->gamma, p->beta, p->mean, p->var, p->rstd_g};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void shape_name(char *buf, size_t size, const shape *s) {
    snprintf(buf, size, "%s N=%lld C=%lld S=%lld", bt_layout_name(s->layout), (long long)s->N,
             (long long)s->C, (long long)s->S);
}

// ----------------------------------------------------------------------------

void test_num_threads(void) {
    const int d = bn_set_num_threads(0); // the default
    CHECK(d >= 1 && d <= 64, "default %d threads", d);
    CHECK(bn_get_num_threads() == d, "get %d after set(0) returned %d", bn_get_num_threads(), d);
    const int three = bn_set_num_threads(3);
    CHECK(three == 3, "set(3) returned %d", three);
    CHECK(bn_get_num_threads() == three, "get %d after set(3) returned %d", bn_get_num_threads(),
          three);
    const int many = bn_set_num_threads(100000);
    CHECK(many == 64, "set(100000) returned %d, want the cap 64", many);
    CHECK(bn_set_num_threads(-5) == d, "set(-5) does not restore the default %d", d);
    CHECK(bn_get_num_threads() == d, "get after restoring the default");
}

// the threads of this process (Windows: a Toolhelp snapshot; Linux: /proc/self/task), or -1
// where they cannot be counted
static int count_threads(void) {
#if defined(_WIN32)
    const HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snap == INVALID_HANDLE_VALUE) return -1;
    THREADENTRY32 e;
    e.dwSize = sizeof e;
    const DWORD self = GetCurrentProcessId();
    int n = 0;
    for (BOOL more = Thread32First(snap, &e); more; more = Thread32Next(snap, &e)) {
        n += e.th32OwnerProcessID == self;
    }
    CloseHandle(snap);
    return n;
#elif defined(__linux__)
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
#else
    return -1;
#endif
}

// A large call with a limit of 3 starts the 2 workers of the team (they never stop): the process
// has 2 threads more after it. On every platform, Windows included, the kernels really run on
// several threads (threads_identical checks that their results are the same bits).
void test_team_workers(void) {
    const int before = count_threads(); // bn_tests runs one test per process: no workers yet
    if (before < 0) {
        printf("team_workers: this platform's threads cannot be counted; not checked\n");
        return;
    }
    const shape *s = &shapes[0];
    problem p;
    problem_make(&p, s, 300);
    outputs o;
    outputs_alloc(&o, &p);
    bn_set_num_threads(3);
    CHECK(run_all(s, &p, &o), "a kernel failed with 3 threads");
    const int after = count_threads();
    CHECK(after >= before + 2, "%d threads before a large call with 3 threads, %d after", before,
          after);
    bn_set_num_threads(0);
    outputs_free(&o);
    problem_free(&p);
}

void test_threads_identical(void) {
    for (int k = 0; k < NSHAPES; k++) {
        const shape *s = &shapes[k];
        char name[120];
        shape_name(name, sizeof name, s);
        problem p;
        problem_make(&p, s, 100 + (uint64_t)k);
        outputs one, many;
        outputs_alloc(&one, &p);
        outputs_alloc(&many, &p);
        bn_set_num_threads(1);
        CHECK(run_all(s, &p, &one), "%s: a kernel failed with 1 thread", name);
        check_reference(name, s, &p, &one);
        for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
            char how[40];
            snprintf(how, sizeof how, "%d threads", thread_counts[t]);
            bn_set_num_threads(thread_counts[t]);
            CHECK(run_all(s, &p, &many), "%s: a kernel failed with %s", name, how);
            check_same(name, how, &p, &one, &many);
        }
        bn_set_num_threads(0);
        outputs_free(&one);
        outputs_free(&many);
        problem_free(&p);
    }
}

typedef struct {
    const shape *s;
    const problem *p;
    outputs o;
    int ok;
} caller;

static void call_all(caller *c) {
    for (int i = 0; i < 3; i++) c->ok = run_all(c->s, c->p, &c->o);
}

#if defined(_WIN32)
typedef HANDLE caller_thread;
static unsigned __stdcall caller_main(void *arg) {
    call_all(arg);
    return 0;
}
static int caller_start(caller_thread *t, caller *c) {
    *t = (HANDLE)_beginthreadex(NULL, 0, caller_main, c, 0, NULL);
    return *t != 0;
}
static void caller_join(caller_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
#else
typedef pthread_t caller_thread;
static void *caller_main(void *arg) {
    call_all(arg);
    return NULL;
}
static int caller_start(caller_thread *t, caller *c) {
    return pthread_create(t, NULL, caller_main, c) == 0;
}
static void caller_join(caller_thread t) { pthread_join(t, NULL); }
#endif

// Two threads of the application call at once: one of them gets the team, the other runs alone
// (or both alternate); every result equals the single-threaded one. NC 4096x1024 where it takes
// the rows walk (bn_plan_rows; on every machine in concurrent_calls_rows): the call that runs
// alone finds the team's scratch taken and goes unit by unit, with the same bits.
void test_concurrent_calls(void) {
    const shape *picks[] = {&shapes[3], &shapes[7], &shapes[0]};
    for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
        const shape *s = picks[k];
        char name[120];
        shape_name(name, sizeof name, s);
        problem p;
        problem_make(&p, s, 200 + (uint64_t)k);
        outputs one;
        outputs_alloc(&one, &p);
        bn_set_num_threads(1);
        CHECK(run_all(s, &p, &one), "%s: a kernel failed with 1 thread", name);
        bn_set_num_threads(2);
        caller c[2];
        caller_thread t[2];
        for (int i = 0; i < 2; i++) {
            c[i].s = s;
            c[i].p = &p;
            c[i].ok = 0;
            outputs_alloc(&c[i].o, &p);
            CHECK(caller_start(&t[i], &c[i]), "starting caller %d", i);
        }
        for (int i = 0; i < 2; i++) {
            caller_join(t[i]);
            CHECK(c[i].ok, "%s: a kernel failed in caller %d", name, i);
            check_same(name, i == 0 ? "concurrent caller 0" : "concurrent caller 1", &p, &one, &c[i].o);
            outputs_free(&c[i].o);
        }
        bn_set_num_threads(0);
        outputs_free(&one);
        problem_free(&p);
    }
}
