package dev.bnorm.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Collective operations among the {@link #size()} ranks (replicas) of a data-parallel job: every
 * rank calls the same operations in the same order with buffers of the same size. Results come
 * in rank order and are the same bits on every rank: {@link #allReduceSum} adds the ranks'
 * values in rank order itself rather than leaving the order to the transport.
 *
 * <p>Implementations: {@link InProcessCollective} (ranks are threads of one JVM) and
 * {@link MpiCollective} (ranks are MPI processes). A failure on one rank ends every rank: the
 * failing rank calls {@link #abort(String)} (or times out waiting for the others), and every
 * pending and later operation of the job then fails with a {@link CollectiveException} naming that
 * rank and its message (in-process), or the MPI job ends (MPI).
 *
 * <p>Buffers are segments accessible by the calling thread; doubles are in native byte order.
 * An instance belongs to the thread of its rank.
 */
public interface Collective extends AutoCloseable {

    /** This rank, in [0, size). */
    int rank();

    /** The number of ranks. */
    int size();

    /**
     * All ranks' {@code local} doubles, concatenated in rank order into {@code all}.
     *
     * @param local n doubles, the same n on every rank
     * @param all   at least size()*n doubles, written
     */
    void allGather(MemorySegment local, MemorySegment all);

    /** Replaces {@code data} (doubles, the same count on every rank) by their sum over the ranks, added in rank order. */
    default void allReduceSum(MemorySegment data) {
        long n = data.byteSize() / 8;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment all = arena.allocate(8 * n * size(), 8);
            allGather(data, all);
            for (long i = 0; i < n; i++) {
                double sum = 0;
                for (int r = 0; r < size(); r++) {
                    sum += all.getAtIndex(ValueLayout.JAVA_DOUBLE, r * n + i);
                }
                data.setAtIndex(ValueLayout.JAVA_DOUBLE, i, sum);
            }
        }
    }

    /** Copies {@code root}'s {@code data} (bytes, the same size on every rank) into {@code data} on every rank. */
    void broadcast(MemorySegment data, int root);

    /** Returns when every rank has called it. */
    void barrier();

    /**
     * Ends the job because of a failure on this rank: the other ranks' operations fail with
     * {@code message} (in-process) or the MPI job is aborted. Returns (in-process) or does not
     * return (MPI ends this process too).
     */
    void abort(String message);

    /** {@link #allGather(MemorySegment, MemorySegment)} of a heap array. */
    default double[] allGather(double[] local) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(8L * local.length, 8);
            MemorySegment.copy(local, 0, in, ValueLayout.JAVA_DOUBLE, 0, local.length);
            MemorySegment all = arena.allocate(8L * local.length * size(), 8);
            allGather(in, all);
            return all.toArray(ValueLayout.JAVA_DOUBLE);
        }
    }

    /** {@link #allReduceSum(MemorySegment)} of a heap array, in place; returns it. */
    default double[] allReduceSum(double[] data) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(8L * data.length, 8);
            MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_DOUBLE, 0, data.length);
            allReduceSum(seg);
            MemorySegment.copy(seg, ValueLayout.JAVA_DOUBLE, 0, data, 0, data.length);
            return data;
        }
    }

    /** Leaves the job (MPI: finalizes MPI when the last collective of the process closes). */
    @Override
    void close();
}
