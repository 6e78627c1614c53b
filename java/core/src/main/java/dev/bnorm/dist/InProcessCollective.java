package dev.bnorm.dist;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * A {@link Collective} whose ranks are threads of this JVM: data parallelism on one multi-core
 * machine, and tests without MPI. Each operation copies the ranks' buffers through shared heap
 * slots between two barriers (the ranks' own segments may be confined to their threads).
 *
 * <p>Failures: a rank that calls {@link #abort}, passes a bad buffer, is interrupted, or waits
 * longer than the timeout for the others ends the group: every rank's pending and later
 * operations throw a {@link CollectiveException} with that rank's message, so no rank hangs.
 * {@link #run} does this for a rank whose body throws.
 */
public final class InProcessCollective implements Collective {

    /** The timeout of {@link #run(int, Function)}: how long a rank waits for the others in one operation. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private final Group group;
    private final int rank;

    private InProcessCollective(Group group, int rank) {
        this.group = group;
        this.rank = rank;
    }

    /**
     * A group of {@code size} ranks; element r is rank r, to be used by one thread each.
     *
     * @param timeout how long a rank waits for the others in one operation before it ends the group
     */
    public static List<Collective> create(int size, Duration timeout) {
        if (size < 1) {
            throw new IllegalArgumentException("size: expected at least 1, got " + size);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: expected a positive duration, got " + timeout);
        }
        Group g = new Group(size, timeout);
        List<Collective> ranks = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            ranks.add(new InProcessCollective(g, r));
        }
        return Collections.unmodifiableList(ranks);
    }

    /** {@link #run(int, Duration, Function)} with {@link #DEFAULT_TIMEOUT}. */
    public static <T> List<T> run(int size, Function<Collective, T> body) {
        return run(size, DEFAULT_TIMEOUT, body);
    }

    /**
     * Runs {@code body} on {@code size} new threads, one per rank, and returns their results in
     * rank order. A rank whose body throws aborts the group (the others' operations then fail
     * instead of waiting); the first failure is rethrown as a {@link CollectiveException} naming
     * its rank, with the failure as its cause.
     */
    public static <T> List<T> run(int size, Duration timeout, Function<Collective, T> body) {
        List<Collective> ranks = create(size, timeout);
        List<T> results = new ArrayList<>(Collections.nCopies(size, null));
        Throwable[] failures = new Throwable[size];
        List<Thread> threads = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            int rank = r;
            Thread t = new Thread(() -> {
                Collective c = ranks.get(rank);
                try {
                    results.set(rank, body.apply(c));
                } catch (Throwable e) {
                    failures[rank] = e;
                    c.abort(e.toString());
                }
            }, "bnorm-rank-" + r);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                ranks.get(0).abort("interrupted while waiting for the ranks");
                Thread.currentThread().interrupt();
                throw new CollectiveException("interrupted while waiting for the ranks", e);
            }
        }
        // the first failure that is not a consequence of another rank's
        for (int pass = 0; pass < 2; pass++) {
            for (int r = 0; r < size; r++) {
                Throwable e = failures[r];
                if (e != null && (pass == 1 || !(e instanceof CollectiveException))) {
                    throw new CollectiveException("rank " + r + " of " + size + " failed: " + e, e);
                }
            }
        }
        return results;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return group.size;
    }

    @Override
    public void allGather(MemorySegment local, MemorySegment all) {
        group.checkAlive();
        long bytes = local.byteSize();
        if (bytes % 8 != 0 || all.byteSize() < bytes * group.size) {
            throw group.fail(rank, "allGather: expected local of whole doubles and all of at least " + group.size
                    + "*" + bytes + " bytes, got " + bytes + " and " + all.byteSize());
        }
        group.slots[rank] = local.toArray(ValueLayout.JAVA_BYTE);
        group.await(rank, "allGather");
        for (int r = 0; r < group.size; r++) {
            if (group.slots[r].length != bytes) {
                throw group.fail(rank, "allGather: rank " + r + " passed " + group.slots[r].length + " bytes, rank "
                        + rank + " " + bytes);
            }
        }
        for (int r = 0; r < group.size; r++) {
            MemorySegment.copy(MemorySegment.ofArray(group.slots[r]), 0, all, r * bytes, bytes);
        }
        group.await(rank, "allGather");
    }

    @Override
    public void broadcast(MemorySegment data, int root) {
        group.checkAlive();
        if (root < 0 || root >= group.size) {
            throw group.fail(rank, "broadcast: expected root in [0, " + group.size + "), got " + root);
        }
        group.slots[rank] = rank == root ? data.toArray(ValueLayout.JAVA_BYTE) : new byte[0];
        group.await(rank, "broadcast");
        byte[] src = group.slots[root];
        if (src.length != data.byteSize()) {
            throw group.fail(rank, "broadcast: root " + root + " sent " + src.length + " bytes, rank " + rank
                    + " expects " + data.byteSize());
        }
        MemorySegment.copy(MemorySegment.ofArray(src), 0, data, 0, src.length);
        group.await(rank, "broadcast");
    }

    @Override
    public void barrier() {
        group.checkAlive();
        group.await(rank, "barrier");
    }

    @Override
    public void abort(String message) {
        group.fail(rank, "aborted: " + message);
    }

    @Override
    public void close() {
    }

    /** The state shared by the ranks of one group. */
    private static final class Group {
        final int size;
        final long timeoutNanos;
        final CyclicBarrier barrier;
        final byte[][] slots;
        private volatile String failure;

        Group(int size, Duration timeout) {
            this.size = size;
            this.timeoutNanos = timeout.toNanos();
            this.barrier = new CyclicBarrier(size);
            this.slots = new byte[size][];
        }

        /** Ends the group with rank's message (the first failure wins); returns the exception to throw. */
        CollectiveException fail(int rank, String message) {
            synchronized (this) {
                if (failure == null) {
                    failure = "rank " + rank + " of " + size + ": " + message;
                }
            }
            barrier.reset(); // the waiting ranks wake with BrokenBarrierException
            return new CollectiveException(failure);
        }

        void checkAlive() {
            String f = failure;
            if (f != null) {
                throw new CollectiveException(f);
            }
        }

        void await(int rank, String op) {
            checkAlive();
            try {
                barrier.await(timeoutNanos, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                throw fail(rank, op + ": timed out after " + Duration.ofNanos(timeoutNanos).toMillis()
                        + " ms waiting for the other ranks");
            } catch (BrokenBarrierException e) {
                // broken by the failing rank, which records its failure first
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (failure == null && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                throw new CollectiveException(failure != null ? failure : "rank " + rank + ": " + op
                        + ": another rank left the group");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw fail(rank, op + ": interrupted");
            }
            checkAlive();
        }
    }
}
