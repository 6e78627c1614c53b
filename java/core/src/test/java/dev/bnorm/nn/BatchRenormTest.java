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
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Batch Renormalization: with rmax = 1, dmax = 0 it is BatchNorm bit for bit on the same kernels;
 * r and d against the paper's formulas on running statistics away from the batch's; gradients
 * against finite differences of {@link NormReference} with r, d held constant; the schedule.
 */
class BatchRenormTest {

    static final Shape[] SHAPES = {
        new Shape(Format.NC, 6, 3),
        new Shape(Format.NCL, 4, 3, 5),
        new Shape(Format.NCHW, 3, 2, 2, 3),
        new Shape(Format.NHWC, 3, 2, 3, 2),
    };

    static BatchRenorm renorm(Shape shape, boolean affine, BatchRenorm.Schedule schedule, BatchNormKernels kernels) {
        return shape.format() == Format.NC || shape.format() == Format.NCL
                ? BatchRenorm1d.builder(shape.c()).affine(affine).schedule(schedule).kernels(kernels).build()
                : BatchRenorm2d.builder(shape.c()).affine(affine).schedule(schedule).kernels(kernels).build();
    }

    static BatchNorm plain(Shape shape, boolean affine, BatchNormKernels kernels) {
        return shape.format() == Format.NC || shape.format() == Format.NCL
                ? BatchNorm1d.builder(shape.c()).affine(affine).kernels(kernels).build()
                : BatchNorm2d.builder(shape.c()).affine(affine).kernels(kernels).build();
    }

    /** Outputs, input gradients, parameter gradients, running statistics and counter, over 3 steps and an evaluation. */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void withRmaxOneAndDmaxZeroItIsBatchNormBitForBit(String kernels) {
        for (Shape shape : SHAPES) {
            for (boolean affine : new boolean[] {true, false}) {
                Random random = new Random(21);
                try (BatchRenorm rn = renorm(shape, affine, BatchRenorm.Schedule.constant(1, 0), Kernels.named(kernels));
                     BatchNorm bn = plain(shape, affine, Kernels.named(kernels))) {
                    if (affine) {
                        float[] g = Buffers.uniform(random, shape.c(), 0.5, 2);
                        float[] b = Buffers.gaussian(random, shape.c(), 0, 1);
                        for (Module m : new Module[] {rn, bn}) {
                            m.namedParameters().get("weight").value().copyFrom(Tensor.of(Format.C, g, shape.c()));
                            m.namedParameters().get("bias").value().copyFrom(Tensor.of(Format.C, b, shape.c()));
                        }
                    }
                    for (int step = 0; step < 4; step++) {
                        if (step == 3) {
                            rn.eval();
                            bn.eval();
                        }
                        String what = shape.format() + " affine=" + affine + " " + kernels + " step " + step;
                        try (Tensor x = Tensor.of(shape.format(), Buffers.gaussian(random, shape.count(), 2, 3), shape.dims());
                             Tensor dy = Tensor.of(shape.format(), Buffers.gaussian(random, shape.count(), 0, 1), shape.dims())) {
                            Compare.assertSameBits(bn.forward(x).toArray(), rn.forward(x).toArray(), what + " out");
                            Compare.assertSameBits(bn.backward(dy).toArray(), rn.backward(dy).toArray(), what + " dinp");
                            Fixtures.assertUnchanged(Fixtures.snapshot(bn), rn, what + " state and gradients");
                        }
                    }
                }
            }
        }
    }

    /**
     * After steps that move the running statistics away from the batch's (shifted, scaled inputs),
     * r and d are the clipped formulas of the paper from the running statistics before the step,
     * the output is NormReference's with them, and the gradients are the finite differences of
     * NormReference with r and d held constant.
     */
    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void renormalizesWithClippedRAndDAndDifferentiatesWithThemConstant(String kernels) {
        for (Shape shape : SHAPES) {
            for (double[] limits : new double[][] {{1.5, 0.5}, {3, 5}}) {
                Random random = new Random(22);
                int n = shape.n();
                int c = shape.c();
                int s = shape.s();
                Layout layout = shape.format().layout();
                try (BatchRenorm rn = renorm(shape, true, BatchRenorm.Schedule.constant(limits[0], limits[1]),
                        Kernels.named(kernels))) {
                    rn.weight().value().copyFrom(Tensor.of(Format.C, Buffers.uniform(random, c, 0.5, 2), c));
                    rn.bias().value().copyFrom(Tensor.of(Format.C, Buffers.gaussian(random, c, 0, 1), c));
                    for (int step = 0; step < 3; step++) {
                        try (Tensor x = Tensor.of(shape.format(), Buffers.gaussian(random, shape.count(), step, 1 + step),
                                shape.dims())) {
                            rn.forward(x);
                        }
                    }
                    float[] xf = Buffers.gaussian(random, shape.count(), 1.5, 2.5);
                    float[] rf = Buffers.gaussian(random, shape.count(), 0, 1);
                    double[] x = Buffers.toDouble(xf);
                    double[] rr = Buffers.toDouble(rf);
                    double eps = rn.eps();
                    double[] mu = Buffers.toDouble(rn.runningMean().toArray());
                    double[] var = Buffers.toDouble(rn.runningVar().toArray());
                    double[] r = new double[c];
                    double[] d = new double[c];
                    boolean clipped = false;
                    for (int ch = 0; ch < c; ch++) {
                        double[] ms = NormReference.stats(x, layout, c, s, 0, n, ch);
                        double sigma = Math.sqrt(var[ch] + eps);
                        double rawR = Math.sqrt(ms[1] + eps) / sigma;
                        double rawD = (ms[0] - mu[ch]) / sigma;
                        r[ch] = Math.clamp(rawR, 1 / limits[0], limits[0]);
                        d[ch] = Math.clamp(rawD, -limits[1], limits[1]);
                        clipped |= r[ch] != rawR || d[ch] != rawD;
                    }
                    double[] gamma = Buffers.toDouble(rn.weight().value().toArray());
                    double[] beta = Buffers.toDouble(rn.bias().value().toArray());
                    long[] whole = {0, n};
                    String what = shape.format() + " " + kernels + " limits " + limits[0] + ", " + limits[1];
                    try (Tensor xt = Tensor.of(shape.format(), xf, shape.dims());
                         Tensor rt = Tensor.of(shape.format(), rf, shape.dims())) {
                        float[] out = rn.forward(xt).toArray();
                        for (int ch = 0; ch < c; ch++) { // both from double statistics of the same floats
                            assertEquals(r[ch], rn.lastR()[ch], 1e-12, what + " r[" + ch + "]");
                            assertEquals(d[ch], rn.lastD()[ch], 1e-12, what + " d[" + ch + "]");
                        }
                        Compare.assertClose(NormReference.forward(x, layout, n, c, s, gamma, beta, eps, whole, r, d),
                                out, 1e-5, 1e-5, what + " out");
                        rn.zeroGrad();
                        float[] dx = rn.backward(rt).toArray();
                        Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                                NormReference.forward(v, layout, n, c, s, gamma, beta, eps, whole, r, d), rr), x.clone()),
                                dx, 2e-5, what + " dinp");
                        Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                                NormReference.forward(x, layout, n, c, s, v, beta, eps, whole, r, d), rr), gamma.clone()),
                                rn.weight().grad().toArray(), 2e-5, what + " dgamma");
                        Compare.assertCloseToScale(ModuleGradientTest.numeric(v -> NormReference.dot(
                                NormReference.forward(x, layout, n, c, s, gamma, v, eps, whole, r, d), rr), beta.clone()),
                                rn.bias().grad().toArray(), 2e-5, what + " dbeta");
                    }
                    if (limits[0] == 1.5) {
                        assertEquals(true, clipped, what + ": the case must clip r or d");
                    }
                }
            }
        }
    }

    @Test
    void scheduleWarmsUpThenRelaxesLinearly() {
        BatchRenorm.Schedule s = new BatchRenorm.Schedule(3, 5, 10, 20, 5);
        assertEquals(1, s.rmaxAt(0));
        assertEquals(0, s.dmaxAt(9));
        assertEquals(1, s.rmaxAt(10));
        assertEquals(2, s.rmaxAt(20));
        assertEquals(3, s.rmaxAt(30));
        assertEquals(3, s.rmaxAt(1000));
        assertEquals(4, s.dmaxAt(14));
        assertEquals(5, s.dmaxAt(15));
        assertEquals(3, BatchRenorm.Schedule.constant(3, 5).rmaxAt(0));
        assertEquals(5, BatchRenorm.Schedule.constant(3, 5).dmaxAt(0));
    }

    /** The schedule is read at t = num_batches_tracked: r = 1 and d = 0 through the warm-up, then free. */
    @Test
    void moduleFollowsItsSchedule() {
        Random random = new Random(23);
        try (BatchRenorm rn = BatchRenorm1d.builder(2).momentum(0.5).schedule(new BatchRenorm.Schedule(3, 5, 2, 0, 0)).build()) {
            for (int step = 0; step < 3; step++) {
                try (Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 8, 4, 3), 4, 2)) {
                    rn.forward(x);
                }
                if (step < 2) {
                    assertArrayEquals(new double[] {1, 1}, rn.lastR(), "step " + step);
                    assertArrayEquals(new double[] {0, 0}, rn.lastD(), "step " + step);
                } else {
                    assertEquals(false, rn.lastR()[0] == 1 && rn.lastD()[0] == 0, "step 2 renormalizes");
                }
            }
            rn.schedule(BatchRenorm.Schedule.constant(1, 0));
            try (Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 8, 4, 3), 4, 2)) {
                rn.forward(x);
            }
            assertArrayEquals(new double[] {1, 1}, rn.lastR(), "after schedule(constant(1, 0))");
        }
    }

    /** torchrl's keys, which are also BatchNorm's: a trained state evaluates the same in a BatchNorm1d. */
    @Test
    void stateDictHasTorchrlsKeysAndEvaluatesAsBatchNorm() {
        Random random = new Random(24);
        try (BatchRenorm rn = BatchRenorm1d.builder(3).build();
             BatchNorm bn = BatchNorm1d.builder(3).build();
             Tensor x = Tensor.of(Format.NC, Buffers.gaussian(random, 15, 1, 2), 5, 3)) {
            for (int step = 0; step < 3; step++) {
                rn.forward(x);
            }
            assertEquals(java.util.List.of("weight", "bias", "running_mean", "running_var"),
                    java.util.List.copyOf(rn.stateDict().keySet()));
            assertEquals(java.util.List.of("num_batches_tracked"), java.util.List.copyOf(rn.counters().keySet()));
            bn.loadStateDict(rn.stateDict(), java.util.Map.of("num_batches_tracked", rn.numBatchesTracked()));
            rn.eval();
            bn.eval();
            Compare.assertSameBits(bn.forward(x).toArray(), rn.forward(x).toArray(), "eval out");
        }
    }

    @Test
    void badArgumentsNameThemselves() {
        Fixtures.assertMessage(IllegalArgumentException.class, "rmax: expected a finite number >= 1, got 0.5",
                () -> BatchRenorm.Schedule.constant(0.5, 1));
        Fixtures.assertMessage(IllegalArgumentException.class, "dmax: expected a finite number >= 0, got -1.0",
                () -> BatchRenorm.Schedule.constant(2, -1));
        Fixtures.assertMessage(IllegalArgumentException.class, "momentum: expected a number in [0, 1], got 2.0",
                () -> BatchRenorm2d.builder(2).momentum(2));
        try (BatchRenorm rn = BatchRenorm1d.builder(3).build();
             Tensor one = Tensor.zeros(Format.NC, 1, 3);
             Tensor wrong = Tensor.zeros(Format.NC, 4, 2)) {
            var before = Fixtures.snapshot(rn);
            Fixtures.assertMessage(IllegalArgumentException.class, "expected more than 1 value per channel", () -> rn.forward(one));
            Fixtures.assertMessage(IllegalArgumentException.class, "expected C = 3 channels", () -> rn.forward(wrong));
            Fixtures.assertUnchanged(before, rn, "after failed forwards");
            assertEquals(0, rn.numBatchesTracked());
        }
    }
}
