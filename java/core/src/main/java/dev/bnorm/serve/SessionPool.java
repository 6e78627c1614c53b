package dev.bnorm.serve;

import java.lang.foreign.Arena;
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

    /** A session knows whether it belongs to the pool. */
    abstract static class Session {
        final boolean pooled;

        Session(boolean pooled) {
            this.pooled = pooled;
        }
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
