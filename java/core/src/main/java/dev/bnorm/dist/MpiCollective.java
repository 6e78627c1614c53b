package dev.bnorm.dist;

import dev.bnorm.ffi.MpiLibrary;
import dev.bnorm.ffi.mpi_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A {@link Collective} over the processes of an MPI job ({@code MPI_COMM_WORLD}), through Open
 * MPI's C library ({@link MpiLibrary} finds it; {@code apt-get install openmpi-bin
 * libopenmpi-dev}). Launch one JVM per rank with {@code mpirun}, e.g.
 * {@code mpirun -np 2 java --enable-native-access=ALL-UNNAMED -cp ... Main}.
 *
 * <p>{@link #init()} initializes MPI once per process (MPI_Init_thread; at least
 * MPI_THREAD_SERIALIZED, so the rank may call from any thread, one call at a time);
 * {@link #close()} finalizes it. {@link #allGather} is MPI_Allgather of doubles;
 * {@link #allReduceSum} gathers and adds in rank order on each rank (MPI_Allreduce leaves the
 * order to the library, which could give different bits on different ranks); {@link #broadcast}
 * is MPI_Bcast of bytes. MPI's default error handler ends the job on a communication error.
 * {@link #abort} prints the message to standard error and calls MPI_Abort, which ends every rank
 * of the job: a rank that fails should call it rather than exit, or the others would wait.
 * Heap segments are copied through native memory. Counts are limited to MPI's int.
 */
public final class MpiCollective implements Collective {

    private static MpiCollective instance;

    private final int rank;
    private final int size;
    private final MemorySegment world;
    private final MemorySegment doubleType;
    private final MemorySegment byteType;
    private boolean closed;

    private MpiCollective(int rank, int size) {
        this.rank = rank;
        this.size = size;
        this.world = mpi_h.ompi_mpi_comm_world();
        this.doubleType = mpi_h.ompi_mpi_double();
        this.byteType = mpi_h.ompi_mpi_byte();
    }

    /**
     * This process's rank of {@code MPI_COMM_WORLD}, initializing MPI at the first call.
     *
     * @throws dev.bnorm.NativeLibraryException if no Open MPI library can be loaded (the
     *         message names the package to install)
     */
    public static synchronized MpiCollective init() {
        if (instance != null) {
            if (instance.closed) {
                throw new IllegalStateException("MPI was finalized by close(); it cannot be initialized again");
            }
            return instance;
        }
        MpiLibrary.lookup(); // the clear error when there is no Open MPI
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Initialized", mpi_h.MPI_Initialized(flag));
            if (flag.get(ValueLayout.JAVA_INT, 0) == 0) {
                MemorySegment provided = arena.allocate(ValueLayout.JAVA_INT);
                check("MPI_Init_thread", mpi_h.MPI_Init_thread(MemorySegment.NULL, MemorySegment.NULL,
                        mpi_h.MPI_THREAD_MULTIPLE(), provided));
                int p = provided.get(ValueLayout.JAVA_INT, 0);
                if (p < mpi_h.MPI_THREAD_SERIALIZED()) {
                    mpi_h.MPI_Finalize();
                    throw new CollectiveException("MPI_Init_thread: expected at least MPI_THREAD_SERIALIZED (2), got " + p);
                }
            }
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment world = mpi_h.ompi_mpi_comm_world();
            check("MPI_Comm_rank", mpi_h.MPI_Comm_rank(world, out));
            int rank = out.get(ValueLayout.JAVA_INT, 0);
            check("MPI_Comm_size", mpi_h.MPI_Comm_size(world, out));
            instance = new MpiCollective(rank, out.get(ValueLayout.JAVA_INT, 0));
            return instance;
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void allGather(MemorySegment local, MemorySegment all) {
        checkOpen();
        long bytes = local.byteSize();
        if (bytes % 8 != 0 || all.byteSize() < bytes * size || bytes / 8 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("allGather: expected local of at most 2^31-1 whole doubles and all of at"
                    + " least " + size + "*" + bytes + " bytes, got " + bytes + " and " + all.byteSize());
        }
        int n = (int) (bytes / 8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = local.isNative() ? local : arena.allocate(bytes, 8).copyFrom(local);
            MemorySegment out = all.isNative() ? all : arena.allocate(bytes * size, 8);
            check("MPI_Allgather", mpi_h.MPI_Allgather(in, n, doubleType, out, n, doubleType, world));
            if (out != all) {
                MemorySegment.copy(out, 0, all, 0, bytes * size);
            }
        }
    }

    @Override
    public void broadcast(MemorySegment data, int root) {
        checkOpen();
        if (root < 0 || root >= size || data.byteSize() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("broadcast: expected root in [0, " + size + ") and at most 2^31-1 bytes,"
                    + " got root " + root + " and " + data.byteSize() + " bytes");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = data.isNative() ? data : arena.allocate(data.byteSize(), 8).copyFrom(data);
            check("MPI_Bcast", mpi_h.MPI_Bcast(buf, (int) data.byteSize(), byteType, root, world));
            if (buf != data) {
                data.copyFrom(buf);
            }
        }
    }

    @Override
    public void barrier() {
        checkOpen();
        check("MPI_Barrier", mpi_h.MPI_Barrier(world));
    }

    /** Prints "bnorm: rank R of P aborts the MPI job: message" to standard error and ends the job (does not return). */
    @Override
    public void abort(String message) {
        System.err.println("bnorm: rank " + rank + " of " + size + " aborts the MPI job: " + message);
        System.err.flush();
        mpi_h.MPI_Abort(world, 1);
    }

    /** Finalizes MPI (MPI_Finalize); idempotent. After it, MPI cannot be used again in this process. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(ValueLayout.JAVA_INT);
            check("MPI_Finalized", mpi_h.MPI_Finalized(flag));
            if (flag.get(ValueLayout.JAVA_INT, 0) == 0) {
                check("MPI_Finalize", mpi_h.MPI_Finalize());
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("MPI was finalized by close()");
        }
    }

    private static void check(String function, int status) {
        if (status != mpi_h.MPI_SUCCESS()) {
            throw new CollectiveException(function + " returned error code " + status);
        }
    }
}
