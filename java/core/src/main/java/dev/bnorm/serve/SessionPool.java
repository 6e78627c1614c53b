package dev.bnorm.serve;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BiFunction;

/**
 * The lock-free pool of per-call sessions (scratch) of the inference models: up to {@code size}
 * sessions are made in the model's arena on first need and kept; a caller that finds none free
 * once that many exist gets a temporary one (in an automatic arena, freed by the garbage
 * collector) that is not kept. Each caller starts its search at a slot given by its thread id.
 */
final class SessionPool<S extends SessionPool.Session> {

    /** A session knows whether it belongs to the pool, and stages heap input and output. */
    abstract static class Session {
        final boolean pooled;
        final MemorySegment in;  // staging for heap or array input
        final MemorySegment out; // staging for heap or array output

        Session(Arena arena, long inBytes, long outBytes, boolean pooled) {
            this.pooled = pooled;
            this.in = arena.allocate(inBytes, 64);
            this.out = arena.allocate(outBytes, 64);
        }
    }

    /** A model's work on native input and output of {@code n} rows or images. */
    interface Runner<S> {
        void run(S session, MemorySegment in, MemorySegment out, int n);
    }

    private final AtomicReferenceArray<S> slots;
    private final AtomicInteger created = new AtomicInteger();
    private final Arena arena;
    private final BiFunction<Arena, Boolean, S> make;

    /** @param make a new session in the given arena, pooled or not */
    SessionPool(int size, Arena arena, BiFunction<Arena, Boolean, S> make) {
        this.slots = new AtomicReferenceArray<>(size);
        this.arena = arena;
        this.make = make;
    }

    /** Sessions made for the pool so far (at most its size). */
    int created() {
        return created.get();
    }

    S acquire() {
        int n = slots.length();
        int start = (int) (Thread.currentThread().threadId() % n);
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            S s = slots.get(i);
            if (s != null && slots.compareAndSet(i, s, null)) {
                return s;
            }
        }
        if (created.getAndIncrement() < n) {
            return make.apply(arena, true);
        }
        created.decrementAndGet();
        return make.apply(Arena.ofAuto(), false);
    }

    /**
     * {@code run} on a session of the pool with native memory: heap {@code in} or {@code out}
     * goes through the session's staging buffers. The caller has checked both segments.
     */
    void call(MemorySegment in, long inBytes, MemorySegment out, long outBytes, int n, Runner<S> run) {
        S s = acquire();
        try {
            MemorySegment src = in;
            if (!in.isNative()) {
                MemorySegment.copy(in, 0, s.in, 0, inBytes);
                src = s.in;
            }
            if (out.isNative()) {
                run.run(s, src, out, n);
            } else {
                run.run(s, src, s.out, n);
                MemorySegment.copy(s.out, 0, out, 0, outBytes);
            }
        } finally {
            release(s);
        }
    }

    void release(S s) {
        if (!s.pooled) {
            return;
        }
        int n = slots.length();
        int start = (int) (Thread.currentThread().threadId() % n);
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            if (slots.get(i) == null && slots.compareAndSet(i, null, s)) {
                return;
            }
        }
    }
}
