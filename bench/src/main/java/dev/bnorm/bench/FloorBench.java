package dev.bnorm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The bandwidth floor: only the bytes a kernel must move, at the same element counts as
 * {@link KernelBench}'s shapes, with the same buffers' alignment, mode, forks and iterations.
 * <ul>
 * <li>{@code copy}: read x, write y ({@link MemorySegment#copy}, the JVM's memcpy).
 * <li>{@code stream}: read x, write y with a Vector API load/store loop.
 * <li>{@code add}: read a and b, write z = a + b (Vector API) - backward's read two, write one.
 * </ul>
 * Warm-up 3 x 200 ms is enough here: each loop is hot from the first call (OSR), and the
 * smallest size runs millions of calls a second. Measurement as in KernelBench (6 x 200 ms).
 * The report takes the faster of copy and stream as the forward floor (read 1, write 1) and add
 * as the backward floor (read 2, write 1). Stores are ordinary (cached) stores in all three and
 * in the kernels, so writes cost a read-for-ownership on both sides of the ratio.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 3, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 200, timeUnit = TimeUnit.MILLISECONDS)
public class FloorBench {

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** N x C [x H x W]: the element counts of KernelBench's shapes. */
    @Param({"32x64", "256x1024", "4096x1024", "64x4096",
            "32x64x56x56", "32x256x56x56", "32x512x28x28", "32x2048x7x7"})
    public String dims;

    private Arena arena;
    private long bytes;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment z;

    /** Allocates and fills the buffers, then checks copy, stream and add once each. */
    @Setup(Level.Trial)
    public void setup() {
        long count = Shape.elements(dims);
        bytes = 4 * count;
        arena = Arena.ofShared();
        a = Data.uniform(arena, count, -1, 1, 1);
        b = Data.uniform(arena, count, -1, 1, 2);
        z = Data.floats(arena, count);
        for (Runnable r : new Runnable[] {this::copy, this::stream}) {
            z.fill((byte) 0);
            r.run();
            if (z.mismatch(a) != -1) {
                throw new IllegalStateException("floor " + dims + ": a copy differs from its source at byte " + z.mismatch(a));
            }
        }
        add();
        for (long i = 0; i < count; i++) {
            if (z.getAtIndex(F, i) != a.getAtIndex(F, i) + b.getAtIndex(F, i)) {
                throw new IllegalStateException("floor " + dims + ": z != a + b at [" + i + "]");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void copy() {
        MemorySegment.copy(a, 0, z, 0, bytes);
    }

    @Benchmark
    public void stream() {
        long bound = bytes - bytes % FS.vectorByteSize();
        long i = 0;
        for (; i < bound; i += FS.vectorByteSize()) {
            FloatVector.fromMemorySegment(FS, a, i, ORDER).intoMemorySegment(z, i, ORDER);
        }
        for (; i < bytes; i += 4) {
            z.set(F, i, a.get(F, i));
        }
    }

    @Benchmark
    public void add() {
        long bound = bytes - bytes % FS.vectorByteSize();
        long i = 0;
        for (; i < bound; i += FS.vectorByteSize()) {
            FloatVector.fromMemorySegment(FS, a, i, ORDER).add(FloatVector.fromMemorySegment(FS, b, i, ORDER))
                    .intoMemorySegment(z, i, ORDER);
        }
        for (; i < bytes; i += 4) {
            z.set(F, i, a.get(F, i) + b.get(F, i));
        }
    }
}
