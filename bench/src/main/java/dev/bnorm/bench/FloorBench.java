package dev.bnorm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
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
import org.openjdk.jmh.infra.ThreadParams;

/**
 * The bandwidth floor: only the bytes a kernel must move, at the same element counts as
 * {@link KernelBench}'s shapes, with the same buffers' alignment, mode, forks and iterations.
 * <ul>
 * <li>{@code copy}: read x, write y ({@link MemorySegment#copy}, the JVM's memcpy): 1R1W.
 * <li>{@code stream}: read x, write y with a Vector API load/store loop: 1R1W.
 * <li>{@code add}: read a and b, write z = a + b (Vector API): 2R1W.
 * <li>{@code sumCopy}: sum x, then copy it to y (Vector API): two-pass forward training's 2R1W.
 * <li>{@code sumAdd}: sum a*b, then z = a + b (Vector API): two-pass backward's 4R1W.
 * </ul>
 * Warm-up 3 x 200 ms is enough here: each loop is hot from the first call (OSR), and the
 * smallest size runs millions of calls a second. Measurement as in KernelBench (6 x 200 ms).
 * Which of them is a pass's floor at a size (in cache or not) is the report's choice (see
 * {@link Report}). Stores are ordinary (cached) stores in all of them, so writes cost a
 * read-for-ownership; the kernels' outputs from the library's streaming size up (a fifth of the
 * last-level cache) bypass the cache and do not, so a large inference can beat its 1R1W floor.
 *
 * <p>Threads: with JMH's {@code -t T} (bench/run --threads T), each of the T threads moves its
 * own 1/T of the elements at the same time, so a call's time is that of T threads moving the
 * whole tensor, as the kernels' thread team does.
 *
 * <p>{@code elementBytes} 2 is the floor of 16-bit activations (bf16, f16): tensors of half the
 * bytes, moved as floats (elements * 2 / 4 of them), since only the bytes matter here.
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

    /** The activations' element size: 4 (float32) or 2 (bf16, f16). */
    @Param({"4"})
    public int elementBytes;

    private Arena arena;
    private long bytes;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment z;

    /** Allocates and fills this thread's share of the buffers, then checks each method once. */
    @Setup(Level.Trial)
    public void setup(ThreadParams threads) {
        if (elementBytes != 4 && elementBytes != 2) {
            throw new IllegalArgumentException("elementBytes: expected 4 or 2, got " + elementBytes);
        }
        long total = Shape.elements(dims) * elementBytes / 4; // floats
        int t = threads.getThreadIndex();
        int nt = threads.getThreadCount();
        long count = Math.max(1, total * (t + 1) / nt - total * t / nt);
        bytes = 4 * count;
        arena = Arena.ofShared();
        a = Data.uniform(arena, count, -1, 1, 1);
        b = Data.uniform(arena, count, -1, 1, 2);
        z = Data.floats(arena, count);
        for (Runnable r : new Runnable[] {this::copy, this::stream, this::sumCopy}) {
            z.fill((byte) 0);
            r.run();
            if (z.mismatch(a) != -1) {
                throw new IllegalStateException("floor " + dims + ": a copy differs from its source at byte " + z.mismatch(a));
            }
        }
        for (Runnable r : new Runnable[] {this::add, this::sumAdd}) {
            z.fill((byte) 0);
            r.run();
            for (long i = 0; i < count; i++) {
                if (z.getAtIndex(F, i) != a.getAtIndex(F, i) + b.getAtIndex(F, i)) {
                    throw new IllegalStateException("floor " + dims + ": z != a + b at [" + i + "]");
                }
            }
        }
        double sum = 0;
        double dot = 0;
        for (long i = 0; i < count; i++) {
            sum += a.getAtIndex(F, i);
            dot += (double) a.getAtIndex(F, i) * b.getAtIndex(F, i);
        }
        check("sum", sumCopy(), sum, count);
        check("sum of a*b", sumAdd(), dot, count);
    }

    private void check(String what, float got, double want, long count) {
        if (Math.abs(got - want) > 1e-5 * count) { // values in [-1, 1]: float sums of count terms
            throw new IllegalStateException("floor " + dims + ": " + what + " " + got + ", expected " + want);
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

    /** Pass 1 reads x (its sum, four accumulators so that the loop is not latency-bound), pass 2 copies x to z. */
    @Benchmark
    public float sumCopy() {
        long bound = bytes - bytes % (4L * FS.vectorByteSize());
        int w = FS.vectorByteSize();
        FloatVector s0 = FloatVector.zero(FS), s1 = s0, s2 = s0, s3 = s0;
        long i = 0;
        for (; i < bound; i += 4L * w) {
            s0 = s0.add(FloatVector.fromMemorySegment(FS, a, i, ORDER));
            s1 = s1.add(FloatVector.fromMemorySegment(FS, a, i + w, ORDER));
            s2 = s2.add(FloatVector.fromMemorySegment(FS, a, i + 2L * w, ORDER));
            s3 = s3.add(FloatVector.fromMemorySegment(FS, a, i + 3L * w, ORDER));
        }
        float sum = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < bytes; i += 4) {
            sum += a.get(F, i);
        }
        stream();
        return sum;
    }

    /** Pass 1 reads a and b (the sum of a*b), pass 2 writes z = a + b. */
    @Benchmark
    public float sumAdd() {
        long bound = bytes - bytes % (4L * FS.vectorByteSize());
        int w = FS.vectorByteSize();
        FloatVector s0 = FloatVector.zero(FS), s1 = s0, s2 = s0, s3 = s0;
        long i = 0;
        for (; i < bound; i += 4L * w) {
            s0 = FloatVector.fromMemorySegment(FS, a, i, ORDER).fma(FloatVector.fromMemorySegment(FS, b, i, ORDER), s0);
            s1 = FloatVector.fromMemorySegment(FS, a, i + w, ORDER).fma(FloatVector.fromMemorySegment(FS, b, i + w, ORDER), s1);
            s2 = FloatVector.fromMemorySegment(FS, a, i + 2L * w, ORDER)
                    .fma(FloatVector.fromMemorySegment(FS, b, i + 2L * w, ORDER), s2);
            s3 = FloatVector.fromMemorySegment(FS, a, i + 3L * w, ORDER)
                    .fma(FloatVector.fromMemorySegment(FS, b, i + 3L * w, ORDER), s3);
        }
        float sum = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < bytes; i += 4) {
            sum += a.get(F, i) * b.get(F, i);
        }
        add();
        return sum;
    }
}
