package dev.bnorm.bench;

import dev.bnorm.kernel.JavaLinear;
import dev.bnorm.kernel.LinearKernels;
import dev.bnorm.kernel.LinearKernels.Activation;
import dev.bnorm.kernel.NativeKernels;
import dev.bnorm.kernel.NativeLinear;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * The Linear kernels alone: {@code out = inp · Wᵀ} (N x I times I x O) and its backward (dinp,
 * dweight, dbias), native (bn_linear_*, on one thread: bnorm's team is set to 1) and the pure-Java
 * loops, on preallocated off-heap buffers. GFLOP/s = 2·N·I·O (forward) or 4·N·I·O (backward) over
 * the time. Shapes: {@code NxIxO}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 500, timeUnit = TimeUnit.MILLISECONDS)
public class LinearBench {

    @Param({"native", "java"})
    public String impl;

    @Param({"60x100x100", "64x1024x4096", "64x4096x4096", "64x4096x1000"})
    public String shape;

    private Arena arena;
    private LinearKernels k;
    private long n;
    private long in;
    private long out;
    private MemorySegment x;
    private MemorySegment w;
    private MemorySegment b;
    private MemorySegment y;
    private MemorySegment dy;
    private MemorySegment dx;
    private MemorySegment dw;
    private MemorySegment db;

    @Setup(Level.Trial)
    public void setup() {
        String[] d = shape.split("x");
        n = Long.parseLong(d[0]);
        in = Long.parseLong(d[1]);
        out = Long.parseLong(d[2]);
        k = "native".equals(impl) ? NativeLinear.get() : JavaLinear.INSTANCE;
        NativeKernels.setNumThreads(1);
        arena = Arena.ofConfined();
        SplittableRandom r = new SplittableRandom(1);
        x = random(n * in, r);
        w = random(out * in, r);
        b = random(out, r);
        dy = random(n * out, r);
        y = arena.allocate(4 * n * out, 64);
        dx = arena.allocate(4 * n * in, 64);
        dw = arena.allocate(4 * out * in, 64);
        db = arena.allocate(4 * out, 64);
    }

    private MemorySegment random(long count, SplittableRandom r) {
        MemorySegment s = arena.allocate(4 * count, 64);
        for (long i = 0; i < count; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
        return s;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment forward() {
        k.forward(y, x, w, b, Activation.NONE, n, in, out);
        return y;
    }

    @Benchmark
    public MemorySegment backward() {
        k.backward(dx, dw, db, dy, x, w, 0, n, in, out);
        return dx;
    }
}
