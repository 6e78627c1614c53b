package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.Kernels;
import dev.bnorm.kernel.Layout;
import dev.bnorm.nn.NormReference.Shape;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Ghost Batch Normalization ({@code virtualBatchSize}): one virtual batch is plain BN bit for bit;
 * several are plain BNs run on the slices in order (outputs, input gradients and running statistics
 * bit for bit); gradients against finite differences of {@link NormReference}; a last virtual batch
 * of one sample joins its neighbour; evaluation is plain BN.
 */
class GhostBatchNormTest {

    static final Shape[] SHAPES = {
        new Shape(Format.NC, 9, 3),
        new Shape(Format.NCHW, 7, 2, 2, 3),
        new Shape(Format.NHWC, 7, 2, 3, 2),
    };

    static BatchNorm build(Format format, int c, int virtual, BatchNormKernels kernels, Double momentum) {
        return format == Format.NC
                ? BatchNorm1d.builder(c).virtualBatchSize(virtual).momentum(momentum).kernels(kernels).build()
                : BatchNorm2d.builder(c).virtualBatchSize(virtual).momentum(momentum).kernels(kernels).build();
    }

    static void randomize(BatchNorm bn, Random random) {
        int c = bn.numFeatures();
        bn.weight().value().copyFrom(Tensor.of(Format.C, Buffers.uniform(random, c, 0.5, 1.5), c));
        bn.bias().value().copyFrom(Tensor.of(Format.C, Buffers.gaussian(random, c, 0, 1), c));
    }

    @Test
    void virtualBatchBounds() {
        assertArrayEquals(new long[] {0, 10}, BatchNorm.virtualBatches(10, 0));
        assertArrayEquals(new long[] {0, 4}, BatchNorm.virtualBatches(4, 4));
        assertArrayEquals(new long[] {0, 3}, BatchNorm.virtualBatches(3, 8));
        assertArrayEquals(new long[] {0, 4, 8}, BatchNorm.virtualBatches(8, 4));
        assertArrayEquals(new long[] {0, 4, 8, 10}, BatchNorm.virtualBatches(10, 4));
        assertArrayEquals(new long[] {0, 4, 9}, BatchNorm.virtualBatches(9, 4));   // a last single sample joins
        assertArrayEquals(new long[] {0, 2, 4, 7}, BatchNorm.virtualBatches(7, 2));
    }

    /** One virtual batch (size >= N): the same bits as a module without virtual batches. */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void oneVirtualBatchIsPlainBatchNorm(String kernels) {
        for (Shape shape : SHAPES) {
            Random random = new Random(11);
            int n = shape.n();
            int c = shape.c();
            float[] x = Buffers.gaussian(random, shape.count(), 3, 2);
            float[] dy = Buffers.gaussian(random, shape.count(), 0, 1);
            try (BatchNorm plain = build(shape.format(), c, 0, Kernels.named(kernels), 0.1);
                 BatchNorm ghost = build(shape.format(), c, n, Kernels.named(kernels), 0.1);
                 Tensor xt = Tensor.of(shape.format(), x, shape.dims());
                 Tensor dyt = Tensor.of(shape.format(), dy, shape.dims())) {
                randomize(plain, new Random(5));
                randomize(ghost, new Random(5));
                for (int step = 0; step < 2; step++) {
                    String what = shape.format() + " step " + step;
                    Compare.assertSameBits(plain.forward(xt).toArray(), ghost.forward(xt).toArray(), what + " out");
                    Compare.assertSameBits(plain.backward(dyt).toArray(), ghost.backward(dyt).toArray(), what + " dinp");
                    Fixtures.assertUnchanged(Fixtures.snapshot(plain), ghost, what + " state and gradients");
                }
            }
        }
    }

    /**
     * Several virtual batches: plain BN modules run on copies of the slices in order give the same
     * outputs, input gradients and running statistics, bit for bit; dgamma and dbeta are the sums
     * over the slices (in double, rounded once, so compared within rounding).
     */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void virtualBatchesArePlainBatchNormOnTheSlices(String kernels) {
        for (Shape shape : SHAPES) {
            for (Double momentum : new Double[] {0.1, null}) {
                Random random = new Random(12);
                int n = shape.n();
                int c = shape.c();
                int per = shape.count() / n;
                float[] x = Buffers.gaussian(random, shape.count(), -1, 3);
                float[] dy = Buffers.gaussian(random, shape.count(), 0, 1);
                long[] bounds = BatchNorm.virtualBatches(n, 3);
                try (BatchNorm plain = build(shape.format(), c, 0, Kernels.named(kernels), momentum);
                     BatchNorm ghost = build(shape.format(), c, 3, Kernels.named(kernels), momentum);
                     Tensor xt = Tensor.of(shape.format(), x, shape.dims());
                     Tensor dyt = Tensor.of(shape.format(), dy, shape.dims())) {
                    randomize(plain, new Random(6));
                    randomize(ghost, new Random(6));
                    float[] out = ghost.forward(xt).toArray();
                    float[] dx = ghost.backward(dyt).toArray();
                    double[] dgamma = new double[c];
                    double[] dbeta = new double[c];
                    for (int v = 0; v + 1 < bounds.length; v++) {
                        int from = (int) bounds[v] * per;
                        int to = (int) bounds[v + 1] * per;
                        long[] dims = shape.dims().clone();
                        dims[0] = bounds[v + 1] - bounds[v];
                        String what = shape.format() + " momentum " + momentum + " virtual batch " + v;
                        try (Tensor xs = Tensor.of(shape.format(), java.util.Arrays.copyOfRange(x, from, to), dims);
                             Tensor dys = Tensor.of(shape.format(), java.util.Arrays.copyOfRange(dy, from, to), dims)) {
                            Compare.assertSameBits(plain.forward(xs).toArray(),
                                    java.util.Arrays.copyOfRange(out, from, to), what + " out");
                            plain.zeroGrad();
                            Compare.assertSameBits(plain.backward(dys).toArray(),
                                    java.util.Arrays.copyOfRange(dx, from, to), what + " dinp");
                            for (int ch = 0; ch < c; ch++) {
                                dgamma[ch] += plain.weight().grad().toArray()[ch];
                                dbeta[ch] += plain.bias().grad().toArray()[ch];
                            }
                        }
                    }
                    String what = shape.format() + " momentum " + momentum;
                    Compare.assertSameBits(plain.runningMean().toArray(), ghost.runningMean().toArray(), what + " running_mean");
                    Compare.assertSameBits(plain.runningVar().toArray(), ghost.runningVar().toArray(), what + " running_var");
                    assertEquals(bounds.length - 1, ghost.numBatchesTracked(), what + " num_batches_tracked");
                    Compare.assertClose(dgamma, ghost.weight().grad().toArray(), 1e-5, 1e-5, what + " dgamma");
                    Compare.assertClose(dbeta, ghost.bias().grad().toArray(), 1e-5, 1e-5, what + " dbeta");
                }
            }
        }
    }

    /** Backward against central differences of the double forward, loss sum(out * R). */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void gradientsMatchFiniteDifferences(String kernels) {
        for (Shape shape : SHAPES) {
            Random random = new Random(13);
            int n = shape.n();
            int c = shape.c();
            int s = shape.s();
            Layout layout = shape.format().layout();
            float[] xf = Buffers.gaussian(random, shape.count(), 1, 2);
            float[] rf = Buffers.gaussian(random, shape.count(), 0, 1);
            double[] x = Buffers.toDouble(xf);
            double[] r = Buffers.toDouble(rf);
            long[] bounds = BatchNorm.virtualBatches(n, 3);
            try (BatchNorm ghost = build(shape.format(), c, 3, Kernels.named(kernels), 0.1);
                 Tensor xt = Tensor.of(shape.format(), xf, shape.dims());
                 Tensor rt = Tensor.of(shape.format(), rf, shape.dims())) {
                randomize(ghost, new Random(7));
                double[] gamma = Buffers.toDouble(ghost.weight().value().toArray());
                double[] beta = Buffers.toDouble(ghost.bias().value().toArray());
                double eps = ghost.eps();
                String what = shape.format() + " " + kernels;
                Compare.assertClose(NormReference.forward(x, layout, n, c, s, gamma, beta, eps, bounds, null, null),
                        ghost.forward(xt).toArray(), 1e-5, 1e-5, what + " out");
                float[] dx = ghost.backward(rt).toArray();
                Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                        NormReference.forward(v, layout, n, c, s, gamma, beta, eps, bounds, null, null), r), x.clone()),
                        dx, 2e-5, what + " dinp");
                Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                        NormReference.forward(x, layout, n, c, s, v, beta, eps, bounds, null, null), r), gamma.clone()),
                        ghost.weight().grad().toArray(), 2e-5, what + " dgamma");
                Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                        NormReference.forward(x, layout, n, c, s, gamma, v, eps, bounds, null, null), r), beta.clone()),
                        ghost.bias().grad().toArray(), 2e-5, what + " dbeta");
            }
        }
    }

    /** A batch of 5 with virtual batches of 2: [0, 2), [2, 5); a lone fifth sample would fail on (N, C). */
    @Test
    void aLastSingleSampleJoinsItsNeighbour() {
        Random random = new Random(14);
        float[] x = Buffers.gaussian(random, 10, 0, 1);
        try (BatchNorm ghost = BatchNorm1d.builder(2).virtualBatchSize(2).build();
             Tensor xt = Tensor.of(Format.NC, x, 5, 2)) {
            double[] expected = NormReference.forward(Buffers.toDouble(x), Layout.NC, 5, 2, 1, null, null, ghost.eps(),
                    new long[] {0, 2, 5}, null, null);
            Compare.assertClose(expected, ghost.forward(xt).toArray(), 1e-5, 1e-5, "out");
            assertEquals(2, ghost.numBatchesTracked());
        }
    }

    /** Evaluation uses the running statistics, as plain BN with the same state, whatever the virtual batch size. */
    @Test
    void evaluationIsPlainBatchNorm() {
        Random random = new Random(15);
        float[] x = Buffers.gaussian(random, 24, 2, 1);
        try (BatchNorm ghost = BatchNorm1d.builder(3).virtualBatchSize(2).build();
             BatchNorm plain = BatchNorm1d.builder(3).build();
             Tensor xt = Tensor.of(Format.NC, x, 8, 3)) {
            ghost.forward(xt);
            ghost.forward(xt);
            Map<String, Tensor> state = ghost.stateDict();
            plain.loadStateDict(state, Map.of("num_batches_tracked", ghost.numBatchesTracked()));
            ghost.eval();
            plain.eval();
            Compare.assertSameBits(plain.forward(xt).toArray(), ghost.forward(xt).toArray(), "eval out");
        }
        try (BatchNorm ghost = BatchNorm1d.builder(3).virtualBatchSize(2).trackRunningStats(false).build();
             BatchNorm plain = BatchNorm1d.builder(3).trackRunningStats(false).build();
             Tensor xt = Tensor.of(Format.NC, x, 8, 3)) {
            ghost.eval();
            plain.eval();
            Compare.assertSameBits(plain.forward(xt).toArray(), ghost.forward(xt).toArray(), "eval out, batch statistics");
        }
    }

    @Test
    void badOptions() {
        Fixtures.assertMessage(IllegalArgumentException.class, "virtualBatchSize: expected 0 (none) or at least 2, got 1",
                () -> BatchNorm1d.builder(2).virtualBatchSize(1));
        Fixtures.assertMessage(IllegalArgumentException.class, "got -3", () -> BatchNorm2d.builder(2).virtualBatchSize(-3));
        try (dev.bnorm.dist.Collective col = dev.bnorm.dist.InProcessCollective.create(1, java.time.Duration.ofSeconds(5)).get(0)) {
            Fixtures.assertMessage(IllegalArgumentException.class, "virtualBatchSize: expected 0 for a SyncBatchNorm, got 4",
                    () -> SyncBatchNorm.builder(2, col).virtualBatchSize(4).build());
        }
    }
}
