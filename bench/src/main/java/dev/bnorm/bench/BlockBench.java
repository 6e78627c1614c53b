package dev.bnorm.bench;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.ConvShape;
import dev.bnorm.kernel.Im2colConv;
import dev.bnorm.kernel.JavaConv;
import dev.bnorm.kernel.Layout;
import dev.bnorm.kernel.NativeKernels;
import dev.bnorm.kernel.NativeLinear;
import dev.bnorm.nn.BasicBlock;
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
 * The CNN case: forward + backward of one ResNet basic block ({@link BasicBlock}, 64 → 64
 * channels, stride 1: conv3x3 → BN → ReLU → conv3x3 → BN → +identity → ReLU) in training mode on
 * an {@code N x C x H x W} batch, NCHW and NHWC, with the native kernels on {@code threads}
 * threads. {@code tail}: {@code fused} runs bn2 + identity + ReLU as one pass of the BN kernels
 * (BatchNorm's relu option with a residual), {@code unfused} as BN followed by the block's own
 * add+ReLU loop ({@link BasicBlock.Builder#fused(boolean)}). The same block in
 * PyTorch: {@code bench/peers/pytorch_block.py}, timed the same way.
 *
 * <p>{@link Conv} is the convolution alone (forward + backward of a 3x3, padding 1), im2col with
 * the native products against {@link JavaConv}'s direct loops, on a smaller shape (the direct
 * loops take seconds per call at the block's).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
@Warmup(iterations = 2, time = 2, timeUnit = TimeUnit.SECONDS) // each call takes about a second
@Measurement(iterations = 5, time = 2, timeUnit = TimeUnit.SECONDS)
public class BlockBench {

    @Param({"NCHW", "NHWC"})
    public String layout;

    @Param({"32x64x56x56"})
    public String shape;

    @Param({"fused", "unfused"})
    public String tail;

    @Param({"1", "2"})
    public int threads;

    private BasicBlock block;
    private Tensor x;
    private Tensor dout;

    @Setup(Level.Trial)
    public void setup() {
        NativeKernels.setNumThreads(threads);
        long[] d = dims(shape);
        Format format = Format.valueOf(layout);
        block = BasicBlock.builder((int) d[1], (int) d[1]).fused(tail.equals("fused")).seed(1).build();
        long[] s = format == Format.NCHW ? d : new long[] {d[0], d[2], d[3], d[1]};
        x = Tensor.zeros(format, s);
        dout = Tensor.zeros(format, s);
        SplittableRandom r = new SplittableRandom(2);
        for (long i = 0; i < x.size(); i++) {
            x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            dout.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
        float[] check = block.forward(x).toArray(); // the output is a ReLU's: finite and at least 0
        for (float v : check) {
            if (!(v >= 0 && Float.isFinite(v))) {
                throw new IllegalStateException("block output " + v + " is not a finite value >= 0");
            }
        }
    }

    static long[] dims(String shape) {
        String[] p = shape.split("x");
        long[] d = new long[p.length];
        for (int i = 0; i < p.length; i++) {
            d[i] = Long.parseLong(p[i]);
        }
        return d;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        block.close();
        x.close();
        dout.close();
        NativeKernels.setNumThreads(0);
    }

    @Benchmark
    public Tensor forwardBackward() {
        block.zeroGrad();
        block.forward(x);
        return block.backward(dout);
    }

    /** One 3x3 convolution (padding 1), forward + backward, one thread: im2col + native products vs direct loops. */
    @State(Scope.Thread)
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    @Warmup(iterations = 2, time = 1, timeUnit = TimeUnit.SECONDS)
    @Measurement(iterations = 5, time = 1, timeUnit = TimeUnit.SECONDS)
    public static class Conv {

        @Param({"im2col+native", "direct"})
        public String impl;

        @Param({"NCHW", "NHWC"})
        public String layout;

        @Param({"8x16x28x28"})
        public String shape;

        private Arena arena;
        private ConvKernels k;
        private ConvShape s;
        private MemorySegment x;
        private MemorySegment w;
        private MemorySegment y;
        private MemorySegment dy;
        private MemorySegment dx;
        private MemorySegment dw;
        private MemorySegment scratch;

        @Setup(Level.Trial)
        public void setup() {
            NativeKernels.setNumThreads(1);
            long[] d = dims(shape);
            s = new ConvShape(Layout.valueOf(layout), d[0], d[1], d[2], d[3], d[1], 3, 3, 1, 1, 1, 1);
            k = impl.equals("direct") ? JavaConv.INSTANCE : new Im2colConv(NativeLinear.get());
            arena = Arena.ofConfined();
            SplittableRandom r = new SplittableRandom(3);
            x = random(s.inpSize(), r);
            w = random(s.weightSize(), r);
            dy = random(s.outSize(), r);
            y = arena.allocate(4 * s.outSize(), 64);
            dx = arena.allocate(4 * s.inpSize(), 64);
            dw = arena.allocate(4 * s.weightSize(), 64);
            scratch = arena.allocate(4 * Math.max(1, k.scratchSize(s)), 64);
        }

        private MemorySegment random(long count, SplittableRandom r) {
            MemorySegment m = arena.allocate(4 * count, 64);
            for (long i = 0; i < count; i++) {
                m.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            }
            return m;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
            NativeKernels.setNumThreads(0);
        }

        @Benchmark
        public MemorySegment forwardBackward() {
            k.forward(y, x, w, null, scratch, s);
            k.backward(dx, dw, null, dy, x, w, scratch, 0, s);
            return dx;
        }
    }
}
