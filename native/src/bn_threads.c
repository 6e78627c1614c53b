/*
 * bn_threads.c - the team of threads that large calls are spread over, and bn_set_num_threads.
 *
 * A call takes the team (bn_team_acquire), runs one or more jobs on it (bn_team_run) and gives
 * it back (bn_team_release). A job is a range of task indices cut into one contiguous slice per
 * thread; the caller is thread 0, and any thread may take tasks of a slice whose owner has not
 * started (see "Claiming" below). Which thread runs a task never changes a result: the tasks
 * write disjoint outputs, and every sum that spans tasks is combined afterwards in task order
 * (bn_forward.c, bn_backward.c). If another call holds the team, a call runs on its own thread
 * alone, with the same results.
 *
 * Workers are started lazily, at the first call that wants them, and never stop. After a job a
 * worker spins for BN_SPIN_NS (200 us) waiting for the next one, then sleeps on a condition
 * variable. Small calls never take the team, so they never wake anyone.
 *
 * POSIX threads, or on Windows the Win32 API (threads, SRW locks, condition variables: nothing
 * beyond KERNEL32 and the C runtime, so bnorm.dll needs no winpthread). Builds without C11
 * atomics are single-threaded: bn_get_num_threads() returns 1 there.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L // pthreads, sysconf, sigfillset under -std=c11
#endif
#include <stddef.h>
#include <stdint.h>

#include "bn.h"
#include "bn_internal.h"

#if defined(__STDC_NO_ATOMICS__) || defined(BN_NO_THREADS)

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
void *bn_team_scratch(void) { return NULL; }
void *bn_scratch_acquire(void) { return NULL; }

#else

#include <stdatomic.h>
#include <stdlib.h>

// The few primitives the team needs: a lock, a condition variable, a clock, yielding the CPU,
// the number of CPUs and starting a detached worker (start_worker, below).
#if defined(_WIN32)
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 // Windows 7: TryAcquireSRWLockExclusive, GetActiveProcessorCount
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <process.h>

typedef SRWLOCK bn_lock;
typedef CONDITION_VARIABLE bn_cond;
#define BN_LOCK_INIT SRWLOCK_INIT
#define BN_COND_INIT CONDITION_VARIABLE_INIT
static void lock(bn_lock *l) { AcquireSRWLockExclusive(l); }
static int try_lock(bn_lock *l) { return TryAcquireSRWLockExclusive(l) != 0; }
static void unlock(bn_lock *l) { ReleaseSRWLockExclusive(l); }
static void cond_wait(bn_cond *c, bn_lock *l) { SleepConditionVariableSRW(c, l, INFINITE, 0); }
static void cond_broadcast(bn_cond *c) { WakeAllConditionVariable(c); }
static void yield_cpu(void) { SwitchToThread(); }
static long online_cpus(void) { return (long)GetActiveProcessorCount(ALL_PROCESSOR_GROUPS); }

static int64_t now_ns(void) {
    LARGE_INTEGER t, f; // ticks, ticks per second
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return t.QuadPart / f.QuadPart * 1000000000 + t.QuadPart % f.QuadPart * 1000000000 / f.QuadPart;
}
#else
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

typedef pthread_mutex_t bn_lock;
typedef pthread_cond_t bn_cond;
#define BN_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
#define BN_COND_INIT PTHREAD_COND_INITIALIZER
static void lock(bn_lock *l) { pthread_mutex_lock(l); }
static int try_lock(bn_lock *l) { return pthread_mutex_trylock(l) == 0; }
static void unlock(bn_lock *l) { pthread_mutex_unlock(l); }
static void cond_wait(bn_cond *c, bn_lock *l) { pthread_cond_wait(c, l); }
static void cond_broadcast(bn_cond *c) { pthread_cond_broadcast(c); }
static void yield_cpu(void) { sched_yield(); }
static long online_cpus(void) { return sysconf(_SC_NPROCESSORS_ONLN); }

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#endif

// Waiting threads spin on plain loads, without PAUSE (or ARM's YIELD): on a virtual machine a
// PAUSE loop makes the hypervisor take the CPU away (pause-loop exiting), and the spinning thread
// is then not running when the work arrives (measured here: 2 threads 2x slower than 1). The
// spin is bounded in time instead, and short.
#define BN_RELAX() __asm__ __volatile__("" ::: "memory")

enum {
    BN_MAX_THREADS = 64,
    BN_SPIN_NS = 200000,    // a worker spins this long for the next job, then sleeps
    BN_PATIENCE_NS = 20000, // the caller spins this long for the last tasks, then yields
    BN_STACK = 512 * 1024   // worker stack; the kernels use a few tens of KiB
};

/*
 * Claiming. Slice t of a job is tasks [t*ntasks/nthreads, (t+1)*ntasks/nthreads). Its slot holds
 * (generation:24, next:20, end:20); a thread claims task `next` by a compare-and-swap that
 * increments it, so each task runs exactly once. Thread t works through its own slice first
 * (the same data as in the previous call, likely still in its cache), then takes what is left
 * of the others: a worker that the OS has not scheduled yet delays nobody, because the caller
 * takes its slice. A stale thread cannot claim: the generation no longer matches. Jobs of more
 * than 2^20 tasks are run as 2^20 ranges of tasks (bn_team_run).
 */
#define GEN_BITS 24
#define IDX_BITS 20
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)
#define GEN_MASK ((UINT64_C(1) << GEN_BITS) - 1)

typedef struct {
    _Atomic uint64_t v;
    char pad[64 - sizeof(uint64_t)]; // one cache line per slot
} bn_slot;

static atomic_int limit;     // threads per call; 0 until decided
static bn_lock team_lock = BN_LOCK_INIT; // held by the call using the team
static atomic_int workers;   // started workers, ids 1..workers (written under team_lock)
static bn_slot slots[BN_MAX_THREADS];
static bn_lock sleep_lock = BN_LOCK_INIT;
static bn_cond wake = BN_COND_INIT;
static atomic_uint generation; // of the current job; workers wait for it to change
static atomic_int sleepers;    // workers waiting on wake
static atomic_long done;       // tasks of the current job that have finished
static _Atomic(bn_task_fn) job_fn;
static _Atomic(void *) job_ctx;
static _Atomic(ptrdiff_t) job_per; // tasks per claimable task (1 unless the job is huge)
static _Atomic(ptrdiff_t) job_ntasks; // ptrdiff_t, not long: long has 32 bits on Windows
static atomic_int job_slots;   // slices of the current job
static struct {
    _Alignas(64) unsigned char bytes[BN_SCRATCH_BYTES]; // structs with BN_LINE_ALIGNED arrays
} scratch;

static int clamp_threads(long n) { return n < 1 ? 1 : n > BN_MAX_THREADS ? BN_MAX_THREADS : (int)n; }

// BNORM_NUM_THREADS if it is a number >= 1, else the online CPUs
static int default_limit(void) {
    const char *v = getenv("BNORM_NUM_THREADS");
    if (v != NULL && *v != '\0') {
        char *end;
        const long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= 1) return clamp_threads(n);
    }
    return clamp_threads(online_cpus());
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

static uint64_t pack(unsigned gen, uint64_t next, uint64_t end) {
    return ((uint64_t)gen << (2 * IDX_BITS)) | (next << IDX_BITS) | end;
}

// the next task of slot s in generation gen, or -1
static long claim(int s, unsigned gen) {
    uint64_t v = atomic_load_explicit(&slots[s].v, memory_order_acquire);
    for (;;) {
        const uint64_t next = (v >> IDX_BITS) & IDX_MASK, end = v & IDX_MASK;
        if ((unsigned)(v >> (2 * IDX_BITS)) != gen || next >= end) return -1;
        if (atomic_compare_exchange_weak_explicit(&slots[s].v, &v, v + (UINT64_C(1) << IDX_BITS),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            return (long)next;
        }
    }
}

// the tasks of slice `own` first, then any left in the others
static void work(int own, unsigned gen) {
    const int n = atomic_load_explicit(&job_slots, memory_order_acquire);
    for (int k = 0; k < n; k++) {
        const int s = (own + k) % n;
        for (long i; (i = claim(s, gen)) >= 0;) {
            const bn_task_fn fn = atomic_load_explicit(&job_fn, memory_order_relaxed);
            void *ctx = atomic_load_explicit(&job_ctx, memory_order_relaxed);
            const ptrdiff_t per = atomic_load_explicit(&job_per, memory_order_relaxed);
            const ptrdiff_t ntasks = atomic_load_explicit(&job_ntasks, memory_order_relaxed);
            for (ptrdiff_t t = i * per; t < (i + 1) * per && t < ntasks; t++) fn(ctx, t);
            atomic_fetch_add_explicit(&done, 1, memory_order_acq_rel);
        }
    }
}

static void worker_main(int id) {
    unsigned seen = atomic_load(&generation);
    for (;;) {
        unsigned g;
        const int64_t since = now_ns();
        unsigned spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++spins % 64 != 0 || now_ns() - since < BN_SPIN_NS) {
                BN_RELAX();
                continue;
            }
            lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&generation) == seen) cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            unlock(&sleep_lock);
        }
        seen = g;
        work(id, g);
    }
}

#if defined(_WIN32)
static unsigned __stdcall worker_entry(void *arg) {
    worker_main((int)(intptr_t)arg);
    return 0;
}

static int start_worker(int id) {
    const uintptr_t t = _beginthreadex(NULL, BN_STACK, worker_entry, (void *)(intptr_t)id,
                                       STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (t == 0) return 0;
    CloseHandle((HANDLE)t); // detached
    return 1;
}

static void register_atfork(void) {} // no fork() on Windows
#else
static void *worker_entry(void *arg) {
    worker_main((int)(intptr_t)arg);
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
    pthread_t t;
    const int ok = pthread_create(&t, &attr, worker_entry, (void *)(intptr_t)id) == 0;
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
    atomic_store(&workers, 0);
    atomic_store(&sleepers, 0);
    pthread_mutex_unlock(&sleep_lock);
    pthread_mutex_unlock(&team_lock);
}
static void register_atfork_once(void) {
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
static void register_atfork(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_atfork_once);
}
#endif

int bn_team_acquire(void) {
    const int n = bn_get_num_threads();
    if (n < 2) return 1;
    register_atfork();
    if (!try_lock(&team_lock)) return 1; // busy: run alone
    int w = atomic_load(&workers);
    while (w < n - 1 && start_worker(w + 1)) atomic_store(&workers, ++w);
    if (w == 0) {
        unlock(&team_lock);
        return 1;
    }
    return w + 1 < n ? w + 1 : n;
}

void bn_team_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx) {
    const ptrdiff_t per = (ntasks + (ptrdiff_t)IDX_MASK - 1) / (ptrdiff_t)IDX_MASK;
    const long n = (long)((ntasks + per - 1) / per); // claimable tasks, < 2^20
    const unsigned gen = (unsigned)((atomic_load(&generation) + 1u) & GEN_MASK);
    atomic_store_explicit(&job_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&job_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&job_per, per, memory_order_relaxed);
    atomic_store_explicit(&job_ntasks, ntasks, memory_order_relaxed);
    atomic_store_explicit(&done, 0, memory_order_relaxed);
    atomic_store_explicit(&job_slots, nthreads, memory_order_relaxed);
    for (int t = 0; t < nthreads; t++) {
        atomic_store_explicit(&slots[t].v, pack(gen, (uint64_t)(n * t / nthreads),
                                                (uint64_t)(n * (t + 1) / nthreads)),
                              memory_order_release);
    }
    atomic_store(&generation, gen); // publishes the job
    if (atomic_load(&sleepers) > 0) {
        lock(&sleep_lock);
        cond_broadcast(&wake);
        unlock(&sleep_lock);
    }
    work(0, gen);
    const int64_t since = now_ns();
    for (unsigned spins = 1; atomic_load_explicit(&done, memory_order_acquire) < n; spins++) {
        if (spins % 64 != 0 || now_ns() - since < BN_PATIENCE_NS) BN_RELAX();
        else yield_cpu(); // a worker was preempted in the middle of a task
    }
}

void bn_team_release(void) { unlock(&team_lock); }

void *bn_team_scratch(void) { return scratch.bytes; }

void *bn_scratch_acquire(void) {
    register_atfork();
    return try_lock(&team_lock) ? scratch.bytes : NULL;
}

#endif

void bn_run(int nthreads, ptrdiff_t ntasks, bn_task_fn fn, void *ctx) {
    if (nthreads >= 2 && ntasks >= 2) {
        bn_team_run(nthreads, ntasks, fn, ctx);
        return;
    }
    for (ptrdiff_t i = 0; i < ntasks; i++) fn(ctx, i);
}
