/*
 * bn_threads.c - the team of threads that large calls are spread over, and bn_set_num_threads.
 *
 * A call takes the team (bn_team_acquire), runs one or more jobs on it (bn_team_run) and gives
 * it back (bn_team_release). A job is a range of task indices cut into one contiguous slice per
 * thread; the caller runs slice 0. Which thread runs a task never changes a result: the tasks
 * write disjoint outputs, and every sum that spans tasks is combined afterwards in task order
 * (bn_forward.c, bn_backward.c). If another call holds the team, a call runs on its own thread
 * alone, with the same results.
 *
 * Workers are started lazily, at the first call that wants them, and never stop. After a job a
 * worker spins for BN_SPIN pauses (some tens of microseconds) waiting for the next one, then
 * sleeps on a condition variable. Small calls never take the team, so they never wake anyone.
 *
 * Windows builds, and builds without C11 atomics, are single-threaded: bn_get_num_threads()
 * returns 1 there.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L // pthreads, sysconf, sigfillset under -std=c11
#endif
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

#if defined(_WIN32) || defined(__STDC_NO_ATOMICS__) || defined(BN_NO_THREADS)

int bn_set_num_threads(int num_threads) {
    (void)num_threads;
    return 1;
}
int bn_get_num_threads(void) { return 1; }
int bn_team_acquire(void) { return 1; }
void bn_team_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx) {
    (void)nthreads;
    for (ptrdiff_t i = 0; i < ntasks; i++) fn(ctx, i);
}
void bn_team_release(void) {}
double *bn_team_scratch(void) { return NULL; }

#else

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BN_PAUSE() _mm_pause()
#elif defined(__aarch64__) && defined(__GNUC__)
#define BN_PAUSE() __asm__ __volatile__("yield")
#else
#define BN_PAUSE() ((void)0)
#endif

enum {
    BN_MAX_THREADS = 64,
    BN_SPIN = 1 << 14,             // pauses a worker waits for the next job before it sleeps
    BN_STACK = 512 * 1024          // worker stack; the kernels use a few tens of KiB
};

static atomic_int limit;           // threads per call; 0 until decided
static pthread_mutex_t team_lock = PTHREAD_MUTEX_INITIALIZER; // held by the call using the team
static int workers;                // started workers, ids 1..workers (team_lock)
static unsigned start_generation[BN_MAX_THREADS];
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_uint generation;     // bumped once per job
static atomic_int sleepers;        // workers waiting on wake
static atomic_int finished;        // workers done with the current job
static struct {
    bn_task_fn fn;
    void *ctx;
    ptrdiff_t ntasks;
    int nthreads;
} job;                             // written by the caller before it bumps generation
static double scratch[BN_SCRATCH];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int clamp_threads(long n) { return n < 1 ? 1 : n > BN_MAX_THREADS ? BN_MAX_THREADS : (int)n; }

// BNORM_NUM_THREADS if it is a number >= 1, else the online CPUs
static int default_limit(void) {
    const char *v = getenv("BNORM_NUM_THREADS");
    if (v != NULL && *v != '\0') {
        char *end;
        const long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= 1) return clamp_threads(n);
    }
    return clamp_threads(sysconf(_SC_NPROCESSORS_ONLN));
}

int bn_get_num_threads(void) {
    int n = atomic_load(&limit);
    if (n == 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&limit, &expected, default_limit());
        n = atomic_load(&limit);
    }
    return n;
}

int bn_set_num_threads(int num_threads) {
    const int n = num_threads >= 1 ? clamp_threads(num_threads) : default_limit();
    atomic_store(&limit, n);
    return n;
}

static void run_slice(int t) {
    const ptrdiff_t b = job.ntasks * t / job.nthreads, e = job.ntasks * (t + 1) / job.nthreads;
    for (ptrdiff_t i = b; i < e; i++) job.fn(job.ctx, i);
}

static void *worker_main(void *arg) {
    const int id = (int)(intptr_t)arg;
    unsigned seen = start_generation[id];
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (spins++ < BN_SPIN) {
                BN_PAUSE();
                continue;
            }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = g;
        if (id < job.nthreads) run_slice(id);
        atomic_fetch_add_explicit(&finished, 1, memory_order_acq_rel);
    }
    return NULL;
}

// Start worker id with every signal blocked (signals belong to the application's threads).
static int start_worker(int id) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return 0;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, BN_STACK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    start_generation[id] = atomic_load(&generation);
    pthread_t t;
    const int ok = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)id) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return ok;
}

// fork(): no call may be using the team, and the child starts with no workers
static void before_fork(void) {
    pthread_mutex_lock(&team_lock);
    pthread_mutex_lock(&sleep_lock);
}
static void after_fork_parent(void) {
    pthread_mutex_unlock(&sleep_lock);
    pthread_mutex_unlock(&team_lock);
}
static void after_fork_child(void) {
    workers = 0;
    atomic_store(&sleepers, 0);
    pthread_mutex_unlock(&sleep_lock);
    pthread_mutex_unlock(&team_lock);
}
static void register_atfork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

int bn_team_acquire(void) {
    const int n = bn_get_num_threads();
    if (n < 2) return 1;
    pthread_once(&atfork_once, register_atfork);
    if (pthread_mutex_trylock(&team_lock) != 0) return 1; // busy: run alone
    while (workers < n - 1 && start_worker(workers + 1)) workers++;
    if (workers == 0) {
        pthread_mutex_unlock(&team_lock);
        return 1;
    }
    return workers + 1 < n ? workers + 1 : n;
}

void bn_team_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx) {
    job.fn = fn;
    job.ctx = ctx;
    job.ntasks = ntasks;
    job.nthreads = nthreads;
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    atomic_fetch_add(&generation, 1u); // publishes job
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_slice(0);
    while (atomic_load_explicit(&finished, memory_order_acquire) < workers) BN_PAUSE();
}

void bn_team_release(void) { pthread_mutex_unlock(&team_lock); }

double *bn_team_scratch(void) { return scratch; }

#endif
