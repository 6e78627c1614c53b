package dev.bnorm.bench;

import dev.bnorm.Tensor;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.LinearKernels;
import dev.bnorm.kernel.NativeKernels;
import dev.bnorm.nn.BatchNorm1d;
import dev.bnorm.nn.Linear;
import dev.bnorm.nn.SGD;
import dev.bnorm.nn.Sequential;
import dev.bnorm.nn.Sigmoid;
import dev.bnorm.nn.SoftmaxCrossEntropy;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One training step of the demo's network (64-100-100-100-10, Linear(bias=false) → BatchNorm1d →
 * Sigmoid per hidden layer, batch 60, SGD with momentum): zeroGrad, forward, loss, backward,
 * step; native BatchNorm kernels, one thread. {@code step} uses the Linear kernels that
 * {@link LinearKernels#best()} picks (native); {@link JavaLinearStep} runs the same in a fork
 * with {@code -Dbnorm.linear.kernels=java}, the pure-Java Linear of before.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 4, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 500, timeUnit = TimeUnit.MILLISECONDS)
public class TrainStepBench {

    static final int BATCH = 60;

    private Sequential model;
    private SoftmaxCrossEntropy loss;
    private SGD sgd;
    private Tensor x;
    private int[] labels;

    @Setup(Level.Trial)
    public void setup() {
        NativeKernels.setNumThreads(1);
        model = new Sequential(
                new Linear(64, 100, false, 1), BatchNorm1d.builder(100).kernels(Kernels.best()).build(), new Sigmoid(),
                new Linear(100, 100, false, 2), BatchNorm1d.builder(100).kernels(Kernels.best()).build(), new Sigmoid(),
                new Linear(100, 100, false, 3), BatchNorm1d.builder(100).kernels(Kernels.best()).build(), new Sigmoid(),
                new Linear(100, 10, true, 4));
        loss = new SoftmaxCrossEntropy();
        sgd = new SGD(model.parameters(), 0.1, 0.9, 0);
        x = Tensor.zeros(Tensor.Format.NC, BATCH, 64);
        SplittableRandom r = new SplittableRandom(2);
        for (long i = 0; i < BATCH * 64L; i++) {
            x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        }
        labels = new int[BATCH];
        for (int i = 0; i < BATCH; i++) {
            labels[i] = r.nextInt(10);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        x.close();
        loss.close();
        model.close();
    }

    /** The linear kernels in use: "native" or "java". */
    public String linear() {
        return LinearKernels.best().name();
    }

    @Benchmark
    public float step() {
        sgd.zeroGrad();
        float l = loss.forward(model.forward(x), labels);
        model.backward(loss.backward());
        sgd.step();
        return l;
    }

    /** The same step with the pure-Java Linear kernels (the implementation before libbnorm's Linear). */
    @Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dbnorm.linear.kernels=java"})
    public static class JavaLinearStep extends TrainStepBench {
    }
}
