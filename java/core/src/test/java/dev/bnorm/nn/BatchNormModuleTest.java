package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.kernel.BatchNormKernels;
import dev.bnorm.kernel.Buffers;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.GoldenCases;
import dev.bnorm.kernel.Kernels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * BatchNorm1d/2d modules: PyTorch's golden cases (make_golden.py) replayed through the module
 * (running statistics driven by momentum or num_batches_tracked, eval with running statistics,
 * eval backward with constant statistics), plus the options, modes and errors of the issue.
 */
class BatchNormModuleTest {

    static Stream<Arguments> goldenWithKernels() {
        List<Arguments> list = new ArrayList<>();
        for (GoldenCases.Case g : GoldenCases.load()) {
            for (String k : new String[] {"native", "java"}) {
                list.add(Arguments.of(g, k));
            }
        }
        return list.stream();
    }

    /**
     * A module and a tensor shape for a golden case: bn1d NC -> BatchNorm1d NC, bn1d NCHW ->
     * BatchNorm1d NCL, bn1d NHWC -> BatchNorm2d NHWC (N, L, 1, C) (the same arithmetic as PyTorch's
     * BatchNorm1d on (N, C, L)), bn2d NCHW -> (N, C, S, 1), bn2d NHWC -> (N, S, 1, C).
     */
    record Setup(BatchNorm module, Format format, long[] shape) {
        static Setup of(GoldenCases.Case g, BatchNormKernels kernels) {
            long n = g.number("n");
            long c = g.number("c");
            long s = g.number("s");
            String layout = g.text("layout");
            boolean oneD = g.name().startsWith("bn1d");
            Double momentum = g.name().contains("cumulative") ? null : Double.parseDouble(g.text("step1.momentum"));
            double eps = Double.parseDouble(g.text("eps"));
            boolean affine = g.number("affine") == 1;
            Format format;
            long[] shape;
            BatchNorm.Builder<?> b;
            if (oneD && !layout.equals("NHWC")) {
                format = layout.equals("NC") ? Format.NC : Format.NCL;
                shape = layout.equals("NC") ? new long[] {n, c} : new long[] {n, c, s};
                b = BatchNorm1d.builder((int) c);
            } else {
                format = Format.valueOf(layout);
                shape = layout.equals("NHWC") ? new long[] {n, s, 1, c} : new long[] {n, c, s, 1};
                b = BatchNorm2d.builder((int) c);
            }
            BatchNorm bn = b.eps(eps).momentum(momentum).affine(affine).kernels(kernels).build();
            return new Setup(bn, format, shape);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("goldenWithKernels")
    void pytorchGoldenCases(GoldenCases.Case g, String kernelName) {
        Setup setup = Setup.of(g, Kernels.named(kernelName));
        long m = g.number("n") * g.number("s");
        double tol = Compare.tol(m);
        boolean affine = g.number("affine") == 1;
        String who = kernelName + " " + g.name();
        List<Tensor> inputs = new ArrayList<>();
        try (BatchNorm bn = setup.module()) {
            load(bn, g);
            for (long k = 1; k <= g.number("steps"); k++) {
                String p = "step" + k;
                Tensor inp = tensor(setup, g.floats(p + ".inp"), inputs);
                Compare.assertClose(g.doubles(p + ".out"), bn.forward(inp).toArray(), tol, who + " " + p + ".out");
                Compare.assertClose(g.doubles(p + ".running_mean"), bn.runningMean().toArray(), tol, who + " running_mean");
                Compare.assertClose(g.doubles(p + ".running_var"), bn.runningVar().toArray(), tol, who + " running_var");
                assertEquals(k, bn.numBatchesTracked(), "num_batches_tracked");
                bn.zeroGrad();
                checkBackward(bn, g, p, setup, inputs, affine, m, who);
            }
            bn.eval();
            Tensor inp = tensor(setup, g.floats("eval.inp"), inputs);
            Compare.assertClose(g.doubles("eval.out"), bn.forward(inp).toArray(), tol, who + " eval.out");
            bn.zeroGrad();
            checkBackward(bn, g, "eval", setup, inputs, affine, m, who);
            assertEquals(g.number("steps"), bn.numBatchesTracked(), "eval does not count batches");
        } finally {
            inputs.forEach(Tensor::close);
        }
    }

    private static void load(BatchNorm bn, GoldenCases.Case g) {
        List<Tensor> staged = new ArrayList<>();
        try {
            java.util.LinkedHashMap<String, Tensor> state = new java.util.LinkedHashMap<>();
            for (String[] key : new String[][] {{"weight", "gamma"}, {"bias", "beta"},
                    {"running_mean", "running_mean0"}, {"running_var", "running_var0"}}) {
                if (g.has(key[1])) {
                    float[] v = g.floats(key[1]);
                    Tensor t = Tensor.of(Format.C, v, v.length);
                    staged.add(t);
                    state.put(key[0], t);
                }
            }
            bn.loadStateDict(state, Map.of("num_batches_tracked", 0L));
        } finally {
            staged.forEach(Tensor::close);
        }
    }

    private static Tensor tensor(Setup setup, float[] values, List<Tensor> keep) {
        Tensor t = Tensor.of(setup.format(), values, setup.shape());
        keep.add(t);
        return t;
    }

    private static void checkBackward(BatchNorm bn, GoldenCases.Case g, String p, Setup setup, List<Tensor> keep,
                                      boolean affine, long m, String who) {
        double tol = Compare.tol(m);
        Tensor dinp = bn.backward(tensor(setup, g.floats(p + ".dout"), keep));
        Compare.assertCloseToScale(g.doubles(p + ".dinp"), dinp.toArray(), tol, who + " " + p + ".dinp");
        if (affine) {
            Compare.assertClose(g.doubles(p + ".dgamma"), bn.weight().grad().toArray(), Compare.sumTol(m), tol,
                    who + " " + p + ".dgamma");
            Compare.assertClose(g.doubles(p + ".dbeta"), bn.bias().grad().toArray(), Compare.sumTol(m), tol,
                    who + " " + p + ".dbeta");
        }
    }

    @Test
    void defaultsArePyTorchs() {
        try (BatchNorm1d bn = BatchNorm1d.builder(3).build()) {
            assertEquals(1e-5, bn.eps());
            assertEquals(0.1, bn.momentum());
            assertTrue(bn.affine());
            assertTrue(bn.trackRunningStats());
            assertTrue(bn.isTraining());
            assertArrayEquals(new float[] {1, 1, 1}, bn.weight().value().toArray());
            assertArrayEquals(new float[] {0, 0, 0}, bn.bias().value().toArray());
            assertArrayEquals(new float[] {0, 0, 0}, bn.runningMean().toArray());
            assertArrayEquals(new float[] {1, 1, 1}, bn.runningVar().toArray());
            assertEquals(List.of("weight", "bias", "running_mean", "running_var"), List.copyOf(bn.stateDict().keySet()));
            assertEquals(List.of("num_batches_tracked"), List.copyOf(bn.counters().keySet()));
            assertEquals(Kernels.best(), bn.kernels());
        }
    }

    @Test
    void builderChecksItsArguments() {
        assertMessage(IllegalArgumentException.class, "numFeatures: expected at least 1, got 0",
                () -> BatchNorm1d.builder(0));
        assertMessage(IllegalArgumentException.class, "eps: expected a finite number > 0, got 0.0",
                () -> BatchNorm2d.builder(2).eps(0));
        assertMessage(IllegalArgumentException.class, "momentum: expected null or a number in [0, 1], got 1.5",
                () -> BatchNorm2d.builder(2).momentum(1.5));
        assertMessage(IllegalArgumentException.class, "momentum: expected null or a number in [0, 1], got NaN",
                () -> BatchNorm2d.builder(2).momentum(Double.NaN));
        assertMessage(IllegalArgumentException.class, "kernels: expected a BatchNormKernels, got null",
                () -> BatchNorm1d.builder(2).kernels(null));
    }

    @Test
    void cumulativeAverageWhenMomentumIsNull() {
        int n = 6;
        int c = 3;
        Random random = new Random(11);
        double[] meanSum = new double[c];
        double[] varSum = new double[c];
        int batches = 4;
        try (BatchNorm1d bn = BatchNorm1d.builder(c).momentum(null).kernels(Kernels.named("java")).build()) {
            for (int b = 0; b < batches; b++) {
                float[] x = Buffers.gaussian(random, n * c, b, 1 + b);
                for (int ch = 0; ch < c; ch++) { // independent: two-pass mean and unbiased variance in double
                    double mean = 0;
                    for (int i = 0; i < n; i++) {
                        mean += x[i * c + ch];
                    }
                    mean /= n;
                    double sq = 0;
                    for (int i = 0; i < n; i++) {
                        sq += (x[i * c + ch] - mean) * (x[i * c + ch] - mean);
                    }
                    meanSum[ch] += mean;
                    varSum[ch] += sq / (n - 1);
                }
                try (Tensor t = Tensor.of(Format.NC, x, n, c)) {
                    bn.forward(t);
                }
            }
            double[] avgMean = new double[c];
            double[] avgVar = new double[c];
            for (int ch = 0; ch < c; ch++) {
                avgMean[ch] = meanSum[ch] / batches;
                avgVar[ch] = varSum[ch] / batches;
            }
            Compare.assertClose(avgMean, bn.runningMean().toArray(), 1e-5, "running_mean = average of batch means");
            Compare.assertClose(avgVar, bn.runningVar().toArray(), 1e-5, "running_var = average of unbiased variances");
            assertEquals(batches, bn.numBatchesTracked());
        }
    }

    @Test
    void withoutRunningStatsEvalUsesBatchStatistics() {
        float[] x = Buffers.gaussian(new Random(12), 5 * 4, 2, 3);
        try (BatchNorm1d bn = BatchNorm1d.builder(4).trackRunningStats(false).build();
             Tensor t = Tensor.of(Format.NC, x, 5, 4);
             Tensor one = Tensor.of(Format.NC, new float[4], 1, 4)) {
            assertNull(bn.runningMean());
            assertEquals(List.of("weight", "bias"), List.copyOf(bn.stateDict().keySet()));
            assertTrue(bn.counters().isEmpty());
            float[] train = bn.forward(t).toArray();
            bn.eval();
            float[] eval = bn.forward(t).toArray();
            assertArrayEquals(train, eval, "eval without running stats normalizes with the batch statistics");
            assertEquals(0, bn.numBatchesTracked());
            assertMessage(IllegalArgumentException.class, "expected more than 1 value per channel", () -> bn.forward(one));
        }
    }

    @Test
    void withoutAffineThereAreNoParameters() {
        try (BatchNorm2d bn = BatchNorm2d.builder(2).affine(false).build();
             Tensor x = Tensor.of(Format.NCHW, Buffers.gaussian(new Random(13), 16, 1, 2), 2, 2, 2, 2)) {
            assertTrue(bn.parameters().isEmpty());
            assertNull(bn.weight());
            assertEquals(List.of("running_mean", "running_var"), List.copyOf(bn.stateDict().keySet()));
            Tensor out = bn.forward(x);
            // each channel normalized: mean 0, biased variance 1 - eps-ish
            for (int ch = 0; ch < 2; ch++) {
                double s = 0;
                for (int i = 0; i < 2; i++) {
                    for (int h = 0; h < 2; h++) {
                        for (int w = 0; w < 2; w++) {
                            s += out.get(i, ch, h, w);
                        }
                    }
                }
                assertEquals(0, s, 1e-5, "channel " + ch + " mean");
            }
            assertEquals(Format.NCHW, bn.backward(x).format());
        }
    }

    @Test
    void trainUpdatesRunningStatsEvalUsesThem() {
        int n = 4;
        int c = 3;
        float[] x = Buffers.gaussian(new Random(14), n * c, 1, 2);
        try (BatchNorm1d bn = BatchNorm1d.builder(c).momentum(0.5).build();
             Tensor t = Tensor.of(Format.NC, x, n, c)) {
            bn.forward(t);
            float[] rm = bn.runningMean().toArray();
            float[] rv = bn.runningVar().toArray();
            assertFalse(rm[0] == 0f, "training updated running_mean");
            bn.eval();
            assertFalse(bn.isTraining());
            float[] out = bn.forward(t).toArray();
            assertArrayEquals(rm, bn.runningMean().toArray(), "eval does not update running_mean");
            assertArrayEquals(rv, bn.runningVar().toArray(), "eval does not update running_var");
            double[] expected = new double[n * c];
            for (int i = 0; i < n * c; i++) {
                int ch = i % c;
                expected[i] = (x[i] - rm[ch]) / Math.sqrt(rv[ch] + 1e-5); // gamma 1, beta 0
            }
            Compare.assertClose(expected, out, 1e-5, "eval output from the running statistics");
            // backward in eval: dinp = dout * gamma * rstd (statistics are constants)
            float[] dout = Buffers.gaussian(new Random(15), n * c, 0, 1);
            try (Tensor d = Tensor.of(Format.NC, dout, n, c)) {
                float[] dinp = bn.backward(d).toArray();
                double[] expectedDinp = new double[n * c];
                for (int i = 0; i < n * c; i++) {
                    expectedDinp[i] = dout[i] / Math.sqrt(rv[i % c] + 1e-5);
                }
                Compare.assertClose(expectedDinp, dinp, 1e-5, "eval dinp");
            }
            bn.train();
            bn.forward(t);
            assertEquals(2, bn.numBatchesTracked());
        }
    }

    @Test
    void aFailedForwardChangesNothing() {
        try (BatchNorm1d bn = BatchNorm1d.builder(3).build();
             Tensor one = Tensor.of(Format.NC, new float[] {1, 2, 3}, 1, 3);
             Tensor wrongC = Tensor.zeros(Format.NC, 2, 4);
             Tensor wrongFormat = Tensor.zeros(Format.NCHW, 2, 3, 1, 1)) {
            Map<String, Object> before = Fixtures.snapshot(bn);
            assertMessage(IllegalArgumentException.class, "expected more than 1 value per channel when training",
                    () -> bn.forward(one));
            assertMessage(IllegalArgumentException.class, "inp: expected C = 3 channels", () -> bn.forward(wrongC));
            assertMessage(IllegalArgumentException.class, "inp: expected format one of [NC, NCL]",
                    () -> bn.forward(wrongFormat));
            assertMessage(IllegalStateException.class, "expected a forward first", () -> bn.backward(one));
            Fixtures.assertUnchanged(before, bn, "after failed forwards");
            assertEquals(0, bn.numBatchesTracked());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "java"})
    void nhwcEqualsNchwPermuted(String kernelName) {
        int n = 3;
        int c = 4;
        int h = 2;
        int w = 3;
        float[] nchw = Buffers.gaussian(new Random(16), n * c * h * w, 0.5, 2);
        float[] doutNchw = Buffers.gaussian(new Random(17), n * c * h * w, 0, 1);
        BatchNormKernels k = Kernels.named(kernelName);
        try (BatchNorm2d a = BatchNorm2d.builder(c).kernels(k).build();
             BatchNorm2d b = BatchNorm2d.builder(c).kernels(k).build();
             Tensor xa = Tensor.of(Format.NCHW, nchw, n, c, h, w);
             Tensor xb = Tensor.of(Format.NHWC, toNhwc(nchw, n, c, h * w), n, h, w, c);
             Tensor da = Tensor.of(Format.NCHW, doutNchw, n, c, h, w);
             Tensor db = Tensor.of(Format.NHWC, toNhwc(doutNchw, n, c, h * w), n, h, w, c)) {
            for (boolean train : new boolean[] {true, false}) {
                if (!train) {
                    a.eval();
                    b.eval();
                }
                a.zeroGrad();
                b.zeroGrad();
                float[] outA = toNhwc(a.forward(xa).toArray(), n, c, h * w);
                Compare.assertClose(outA, b.forward(xb).toArray(), 1e-5, 1e-5, "out train=" + train);
                float[] dinpA = toNhwc(a.backward(da).toArray(), n, c, h * w);
                Compare.assertClose(dinpA, b.backward(db).toArray(), 1e-5, 1e-5, "dinp train=" + train);
                Compare.assertClose(a.weight().grad().toArray(), b.weight().grad().toArray(), 1e-5, 1e-5, "dgamma");
                Compare.assertClose(a.runningVar().toArray(), b.runningVar().toArray(), 1e-6, 1e-6, "running_var");
            }
        }
    }

    static float[] toNhwc(float[] nchw, int n, int c, int s) {
        float[] out = new float[nchw.length];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int j = 0; j < s; j++) {
                    out[(i * s + j) * c + ch] = nchw[(i * c + ch) * s + j];
                }
            }
        }
        return out;
    }

    @Test
    void backwardAccumulatesParameterGradients() {
        try (BatchNorm1d bn = BatchNorm1d.builder(2).build();
             Tensor x = Tensor.of(Format.NCL, Buffers.gaussian(new Random(18), 12, 0, 1), 2, 2, 3);
             Tensor d = Tensor.of(Format.NCL, Buffers.gaussian(new Random(19), 12, 0, 1), 2, 2, 3)) {
            bn.forward(x);
            bn.backward(d);
            float[] once = bn.weight().grad().toArray();
            float[] dinp = bn.backward(d).toArray();
            float[] twice = bn.weight().grad().toArray();
            for (int i = 0; i < once.length; i++) {
                assertEquals(2 * once[i], twice[i], 1e-6, "dgamma[" + i + "] accumulates");
            }
            assertArrayEquals(dinp, bn.backward(d).toArray(), "dinp is overwritten, not accumulated");
        }
    }
}
