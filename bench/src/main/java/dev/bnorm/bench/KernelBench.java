package dev.bnorm.bench;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.JavaKernels;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The three kernels (forward training, forward inference, backward) of each implementation on
 * the same preallocated off-heap buffers: {@code native} (libbnorm through FFM), {@code java}
 * (the pure-Java oracle) and {@code vector} ({@link VectorKernels}). Every shape is paired with
 * {@link FloorBench} at the same element count.
 *
 * <p>What a call does, as a PyTorch training step would: forward training with gamma, beta and
 * the running statistics update; forward inference with gamma, beta and given mean/var; backward
 * with gamma and batch statistics, all three gradients (dinp, dgamma, dbeta). Minimal bytes per
 * call (the per-channel (C,) vectors are negligible and not counted): forward, read inp once and
 * write out, 8 bytes per element; backward, read dout and inp and write dinp, 12 bytes per element.
 *
 * <p>{@code dtype} is the activations' element format (inp, out, dout, dinp): {@code f32}, or
 * {@code bf16} / {@code f16} (flags DATA_BF16 / DATA_F16: half the bytes, parameters and
 * statistics still float32) for the native and Java kernels; bench/run --dtype bf16 runs native in
 * f32 and bf16 side by side. The 16-bit data are the float32 data rounded to the dtype, and the
 * check allows the oracle's result one ulp of the dtype besides the float32 tolerance (a half
 * output is the float32 result rounded once, the oracle's is the double result rounded once).
 *
 * <p>Measurement choices (the native peers in bench/peers use the same scheme):
 * <ul>
 * <li>Mode AverageTime: an iteration runs calls back to back for 200 ms and gives their mean; the
 *     report takes the median and the min-max over the iterations. Single-call timing would
 *     drown the smallest shapes (~1 us) in the timer's resolution.
 * <li>One fork: each fork allocates up to ~0.5 GB and fills it, and the check in {@code @Setup}
 *     runs the Java oracle once; on a machine this noisy more forks add little (raise with -f).
 * <li>Warm-up 8 x 500 ms: the Vector API is only fast once C2 has compiled a kernel (its
 *     intrinsics do not exist in the interpreter and C1, where it is ~100x slower), and on a busy
 *     2-core machine the small shapes' calls get there only after 2-4 s (measured under load
 *     average 4-5: NC:32x64 vector inference 700 us a call at first, 30 us after 3 s, 3 us and
 *     then 0.8 us from ~3.5 s on). Large shapes compile their loops early (OSR); the slowest
 *     case (Java on NHWC, ~0.5 s a call) still gets eight warm-up calls.
 * <li>Measurement 6 x 200 ms: six iteration means for the median, even for the slowest case
 *     (one call per iteration).
 * <li>One JMH thread; bnorm's own thread team follows BNORM_NUM_THREADS (bench/run --threads N
 *     sets it to N and runs the peers and the floor on N threads too).
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 8, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 200, timeUnit = TimeUnit.MILLISECONDS)
public class KernelBench {

    static final double EPS = 1e-5;
    static final double MOMENTUM = 0.1;
    static final int TRAINING_FLAGS = USE_SCALE | USE_SHIFT | UPDATE_RUNNING;
    static final int INFERENCE_FLAGS = USE_SCALE | USE_SHIFT;
    static final int BACKWARD_FLAGS = USE_SCALE;
    static final int BACKWARD_MASK = DIFF_INP | DIFF_SCALE | DIFF_SHIFT;

    /** native (libbnorm), java (the oracle), vector (JDK Vector API). */
    @Param({"native", "java", "vector"})
    public String impl;

    /** LAYOUT:dims (see {@link Shape}): the MLP case and ResNet-50's BN shapes. */
    @Param({"NC:32x64", "NC:256x1024", "NC:4096x1024", "NC:64x4096",
            "NCHW:32x64x56x56", "NCHW:32x256x56x56", "NCHW:32x512x28x28", "NCHW:32x2048x7x7",
            "NHWC:32x64x56x56", "NHWC:32x256x56x56", "NHWC:32x512x28x28", "NHWC:32x2048x7x7"})
    public String shape;

    /** f32, bf16 or f16: the activations' element format (bf16 and f16: native and java only). */
    @Param({"f32"})
    public String dtype;

    private Arena arena;
    private BatchNormKernels kernels;
    private Layout layout;
    private DType type;
    private int data;    // the flag naming type: 0, DATA_BF16 or DATA_F16
    private long n;
    private long c;
    private long s;
    private MemorySegment inp;
    private MemorySegment out;
    private MemorySegment gamma;
    private MemorySegment beta;
    private MemorySegment saveMean;
    private MemorySegment saveRstd;
    private MemorySegment runningMean;
    private MemorySegment runningVar;
    private MemorySegment dout;
    private MemorySegment dinp;
    private MemorySegment dgamma;
    private MemorySegment dbeta;

    /** The kernels named by {@code impl}. */
    public static BatchNormKernels kernels(String impl) {
        return "vector".equals(impl) ? VectorKernels.INSTANCE : Kernels.named(impl);
    }

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) {
        String benchmark = params.getBenchmark();
        setup(benchmark.substring(benchmark.lastIndexOf('.') + 1));
    }

    /**
     * Allocates and fills the buffers of {@code op} (a benchmark method's name), runs it once and
     * checks the result against {@link JavaKernels}; throws {@link IllegalStateException} when it
     * differs. For {@code impl = java} the kernel is the oracle itself and is not compared.
     */
    public void setup(String op) {
        Shape sh = Shape.parse(shape);
        kernels = kernels(impl);
        type = switch (dtype) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("dtype: expected f32, bf16 or f16, got " + dtype);
        };
        if (type != DType.F32 && kernels == VectorKernels.INSTANCE) {
            throw new IllegalArgumentException("dtype: the vector kernels take f32 only, got " + dtype);
        }
        data = type.flags();
        layout = sh.layout();
        n = sh.n();
        c = sh.c();
        s = sh.s();
        arena = Arena.ofShared();
        gamma = Data.uniform(arena, c, 0.5, 1.5, 1);
        beta = Data.uniform(arena, c, -0.5, 0.5, 2);
        inp = Data.activation(arena, sh, 3, type);
        switch (op) {
            case "forwardTraining" -> {
                out = Data.elements(arena, sh.elements(), type);
                saveMean = Data.floats(arena, c);
                saveRstd = Data.floats(arena, c);
                runningMean = Data.floats(arena, c);
                runningVar = Data.uniform(arena, c, 0.5, 1.5, 0);
            }
            case "forwardInference" -> {
                out = Data.elements(arena, sh.elements(), type);
                runningMean = Data.uniform(arena, c, -1, 1, 4);
                runningVar = Data.uniform(arena, c, 0.25, 4, 5);
            }
            case "backward" -> {
                dout = Data.activation(arena, sh, 6, type);
                dinp = Data.elements(arena, sh.elements(), type);
                dgamma = Data.floats(arena, c);
                dbeta = Data.floats(arena, c);
                saveMean = Data.floats(arena, c);
                saveRstd = Data.floats(arena, c);
                // the statistics backward needs, from a forward pass (out is scratch here)
                try (Arena scratch = Arena.ofConfined()) {
                    JavaKernels.INSTANCE.forwardTraining(Data.elements(scratch, sh.elements(), type), saveMean,
                            saveRstd, null, null, inp, gamma, beta, EPS, MOMENTUM, USE_SCALE | USE_SHIFT | data,
                            layout, n, c, s);
                }
            }
            default -> throw new IllegalArgumentException("op: expected forwardTraining, forwardInference or backward, got " + op);
        }
        if (kernels != JavaKernels.INSTANCE) {
            check(op, sh);
        }
    }

    private void check(String op, Shape sh) {
        long count = sh.elements();
        double tol = Verify.tol(sh.m());
        double ulp = type == DType.BF16 ? 0x1p-7 : type == DType.F16 ? 0x1p-10 : 0; // relative, at most
        String what = impl + " " + op + " " + shape + (type == DType.F32 ? "" : " " + dtype) + ": ";
        try (Arena ref = Arena.ofConfined()) {
            switch (op) {
                case "forwardTraining" -> {
                    MemorySegment outRef = Data.elements(ref, count, type);
                    MemorySegment meanRef = Data.floats(ref, c);
                    MemorySegment rstdRef = Data.floats(ref, c);
                    MemorySegment runningMeanRef = Data.floats(ref, c).copyFrom(runningMean);
                    MemorySegment runningVarRef = Data.floats(ref, c).copyFrom(runningVar);
                    forwardTraining();
                    JavaKernels.INSTANCE.forwardTraining(outRef, meanRef, rstdRef, runningMeanRef, runningVarRef,
                            inp, gamma, beta, EPS, MOMENTUM, TRAINING_FLAGS | data, layout, n, c, s);
                    Verify.close(what + "out", Data.widened(ref, outRef, count, type), Data.widened(ref, out, count, type),
                            count, tol, tol + ulp);
                    Verify.close(what + "save_mean", meanRef, saveMean, c, tol, tol);
                    Verify.close(what + "save_rstd", rstdRef, saveRstd, c, tol, tol);
                    Verify.close(what + "running_mean", runningMeanRef, runningMean, c, tol, tol);
                    Verify.close(what + "running_var", runningVarRef, runningVar, c, tol, tol);
                }
                case "forwardInference" -> {
                    MemorySegment outRef = Data.elements(ref, count, type);
                    forwardInference();
                    JavaKernels.INSTANCE.forwardInference(outRef, inp, runningMean, runningVar, gamma, beta, EPS,
                            INFERENCE_FLAGS | data, layout, n, c, s);
                    Verify.close(what + "out", Data.widened(ref, outRef, count, type), Data.widened(ref, out, count, type),
                            count, tol, tol + ulp);
                }
                default -> {
                    MemorySegment dinpRef = Data.elements(ref, count, type);
                    MemorySegment dgammaRef = Data.floats(ref, c);
                    MemorySegment dbetaRef = Data.floats(ref, c);
                    backward();
                    JavaKernels.INSTANCE.backward(dinpRef, dgammaRef, dbetaRef, dout, inp, gamma, saveMean, saveRstd,
                            BACKWARD_FLAGS | data, BACKWARD_MASK, layout, n, c, s);
                    Verify.closeToScale(what + "dinp", Data.widened(ref, dinpRef, count, type),
                            Data.widened(ref, dinp, count, type), count, tol, tol + ulp);
                    Verify.close(what + "dgamma", dgammaRef, dgamma, c, Verify.sumTol(sh.m()), tol);
                    Verify.close(what + "dbeta", dbetaRef, dbeta, c, Verify.sumTol(sh.m()), tol);
                }
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void forwardTraining() {
        kernels.forwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, gamma, beta,
                EPS, MOMENTUM, TRAINING_FLAGS | data, layout, n, c, s);
    }

    @Benchmark
    public void forwardInference() {
        kernels.forwardInference(out, inp, runningMean, runningVar, gamma, beta, EPS, INFERENCE_FLAGS | data, layout,
                n, c, s);
    }

    @Benchmark
    public void backward() {
        kernels.backward(dinp, dgamma, dbeta, dout, inp, gamma, saveMean, saveRstd, BACKWARD_FLAGS | data,
                BACKWARD_MASK, layout, n, c, s);
    }
}
