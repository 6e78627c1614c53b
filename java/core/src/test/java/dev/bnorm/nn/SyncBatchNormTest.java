package dev.bnorm.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.Tensor;
import dev.bnorm.Tensor.Format;
import dev.bnorm.dist.Collective;
import dev.bnorm.dist.CollectiveException;
import dev.bnorm.dist.InProcessCollective;
import dev.bnorm.kernel.Compare;
import dev.bnorm.kernel.Kernels;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SyncBatchNorm on P = 1..4 in-process ranks with uneven batches (a rank may have none) against
 * one BatchNorm on the concatenated batch: outputs, running statistics and every gradient within
 * tolerances scaled by the reduction length; bit-identical across ranks and across repeated runs.
 */
class SyncBatchNormTest {

    static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** The results of two training steps of one layer, on one rank or one process. */
    record Step(float[] out, float[] dinp, float[] dgamma, float[] dbeta, float[] runningMean, float[] runningVar,
                long tracked) {
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(Format.NC, new long[] {13}, "java"),
                Arguments.of(Format.NC, new long[] {13}, "native"),
                Arguments.of(Format.NC, new long[] {5, 8}, "native"),
                Arguments.of(Format.NC, new long[] {1, 0, 12}, "native"),
                Arguments.of(Format.NCHW, new long[] {3, 1, 4, 2}, "native"),
                Arguments.of(Format.NHWC, new long[] {2, 5, 0, 1}, "native"),
                Arguments.of(Format.NCL, new long[] {4, 3, 2}, "java"),
                Arguments.of(Format.NC, new long[] {64, 200}, "native"));
    }

    static long[] shape(Format f, long n, int c) {
        return switch (f) {
            case NC -> new long[] {n, c};
            case NCL -> new long[] {n, c, 7};
            case NCHW -> new long[] {n, c, 3, 5};
            case NHWC -> new long[] {n, 3, 5, c};
            case C -> throw new AssertionError();
        };
    }

    static long per(Format f, int c) {
        long[] s = shape(f, 1, c);
        return Arrays.stream(s).reduce(1, (a, b) -> a * b);
    }

    /** Two training steps (different inputs) of one (Sync)BatchNorm on x[from, from + n) samples. */
    static Step steps(BatchNorm bn, Format f, int c, float[][] x, float[][] dy, long from, long n) {
        long per = per(f, c);
        float[] out = null, dinp = null;
        bn.weight().value().copyFrom(gamma(c));
        bn.bias().value().copyFrom(beta(c));
        for (int step = 0; step < 2; step++) {
            if (n == 0) {
                ((SyncBatchNorm) bn).forwardNothing();
                ((SyncBatchNorm) bn).backwardNothing();
                out = new float[0];
                dinp = new float[0];
                continue;
            }
            try (Tensor inp = Tensor.of(f, Arrays.copyOfRange(x[step], (int) (from * per), (int) ((from + n) * per)),
                    shape(f, n, c));
                 Tensor dout = Tensor.of(f, Arrays.copyOfRange(dy[step], (int) (from * per), (int) ((from + n) * per)),
                         shape(f, n, c))) {
                out = bn.forward(inp).toArray();
                dinp = bn.backward(dout).toArray();
            }
        }
        return new Step(out, dinp, bn.weight().grad().toArray(), bn.bias().grad().toArray(), bn.runningMean().toArray(),
                bn.runningVar().toArray(), bn.numBatchesTracked());
    }

    static float[] gamma(int c) {
        float[] g = new float[c];
        for (int i = 0; i < c; i++) g[i] = 0.5f + 0.1f * i;
        return g;
    }

    static float[] beta(int c) {
        float[] b = new float[c];
        for (int i = 0; i < c; i++) b[i] = -0.3f + 0.05f * i;
        return b;
    }

    static BatchNorm single(Format f, int c, String kernels) {
        var k = Kernels.named(kernels);
        return f == Format.NC || f == Format.NCL ? BatchNorm1d.builder(c).momentum(null).kernels(k).build()
                : BatchNorm2d.builder(c).momentum(null).kernels(k).build();
    }

    static List<Step> synced(Format f, int c, long[] np, float[][] x, float[][] dy, String kernels) {
        return InProcessCollective.run(np.length, TIMEOUT, col -> {
            long from = 0;
            for (int r = 0; r < col.rank(); r++) from += np[r];
            try (SyncBatchNorm bn = SyncBatchNorm.builder(c, col).momentum(null).kernels(Kernels.named(kernels)).build()) {
                return steps(bn, f, c, x, dy, from, np[col.rank()]);
            }
        });
    }

    @ParameterizedTest(name = "{0} per rank {1} {2}")
    @MethodSource("cases")
    void ranksTogetherEqualOneBatchNormOnTheConcatenatedBatch(Format f, long[] np, String kernels) {
        int c = f == Format.NC && np.length == 2 && np[1] == 200 ? 70 : 6;
        long n = Arrays.stream(np).sum();
        long per = per(f, c);
        long m = n * per / c;
        float[][][] data = data(f, c, np);
        float[][] x = data[0];
        float[][] dy = data[1];
        Step one;
        try (BatchNorm bn = single(f, c, kernels)) {
            one = steps(bn, f, c, x, dy, 0, n);
        }
        List<Step> ranks = synced(f, c, np, x, dy, kernels);
        List<Step> again = synced(f, c, np, x, dy, kernels);
        double tol = Compare.tol(m);
        float[] dgamma = new float[c];
        float[] dbeta = new float[c];
        long from = 0;
        for (int r = 0; r < np.length; r++) {
            Step s = ranks.get(r);
            String what = f + " " + Arrays.toString(np) + " rank " + r;
            float[] outPart = Arrays.copyOfRange(one.out, (int) (from * per), (int) ((from + np[r]) * per));
            float[] dinpPart = Arrays.copyOfRange(one.dinp, (int) (from * per), (int) ((from + np[r]) * per));
            Compare.assertClose(outPart, s.out, tol, tol, what + " out");
            Compare.assertCloseToScale(toDouble(dinpPart), s.dinp, tol, what + " dinp");
            Compare.assertSameBits(ranks.get(0).runningMean, s.runningMean, what + " running_mean across ranks");
            Compare.assertSameBits(ranks.get(0).runningVar, s.runningVar, what + " running_var across ranks");
            assertEquals(2, s.tracked, what + " num_batches_tracked");
            Compare.assertSameBits(s.out, again.get(r).out, what + " out repeated");
            Compare.assertSameBits(s.dinp, again.get(r).dinp, what + " dinp repeated");
            Compare.assertSameBits(s.dgamma, again.get(r).dgamma, what + " dgamma repeated");
            for (int i = 0; i < c; i++) {
                dgamma[i] += s.dgamma[i];
                dbeta[i] += s.dbeta[i];
            }
            from += np[r];
        }
        Compare.assertClose(one.runningMean, ranks.get(0).runningMean, tol, tol, "running_mean");
        Compare.assertClose(one.runningVar, ranks.get(0).runningVar, tol, tol, "running_var");
        Compare.assertClose(one.dgamma, dgamma, Compare.sumTol(m), tol, "dgamma summed over ranks");
        Compare.assertClose(one.dbeta, dbeta, Compare.sumTol(m), tol, "dbeta summed over ranks");
    }

    /** Inputs and output gradients of two steps over the concatenated batch: {x, dy}, each [step][values]. */
    static float[][][] data(Format f, int c, long[] np) {
        long n = Arrays.stream(np).sum();
        Random rnd = new Random(Arrays.hashCode(np));
        float[][] x = new float[2][(int) (n * per(f, c))];
        float[][] dy = new float[2][(int) (n * per(f, c))];
        for (int s = 0; s < 2; s++) {
            for (int i = 0; i < x[s].length; i++) {
                x[s][i] = (float) (3 + 2 * rnd.nextGaussian());
                dy[s][i] = (float) rnd.nextGaussian();
            }
        }
        return new float[][][] {x, dy};
    }

    /** One process's results for the concatenated batch of {@link #data}. */
    static Step single(Format f, int c, long[] np, String kernels) {
        float[][][] data = data(f, c, np);
        try (BatchNorm bn = single(f, c, kernels)) {
            return steps(bn, f, c, data[0], data[1], 0, Arrays.stream(np).sum());
        }
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    @Test
    void aBatchOfOneValueInAllRanksTogetherIsRejectedOnEveryRank() {
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(2, TIMEOUT, col -> {
            try (SyncBatchNorm bn = SyncBatchNorm.builder(3, col).build();
                 Tensor one = Tensor.of(Format.NC, new float[] {1, 2, 3}, 1, 3)) {
                if (col.rank() == 0) {
                    bn.forward(one);
                } else {
                    bn.forwardNothing();
                }
                return null;
            }
        }));
        assertTrue(e.getCause().getMessage().contains("expected more than 1 value per channel when training"),
                e.getCause().getMessage());
    }

    @Test
    void aRankThatFailsEndsTheOthersWithItsMessageInsteadOfAHang() {
        long start = System.nanoTime();
        var e = assertThrows(CollectiveException.class, () -> InProcessCollective.run(3, TIMEOUT, col -> {
            try (SyncBatchNorm bn = SyncBatchNorm.builder(4, col).build();
                 Tensor x = Tensor.zeros(Format.NC, 5, 4);
                 Tensor wrong = Tensor.zeros(Format.NC, 5, 3)) {
                bn.forward(col.rank() == 1 ? wrong : x); // rank 1 fails before its collective
                return null;
            }
        }));
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos(), "took too long");
        assertTrue(e.getMessage().startsWith("rank 1 of 3 failed: java.lang.IllegalArgumentException: inp: expected C = 4"),
                e.getMessage());
    }

    @Test
    void convertReplacesEveryBatchNormKeepingStateAndMode() {
        List<String> got = InProcessCollective.run(1, TIMEOUT, col -> {
            BatchNorm1d bn = BatchNorm1d.builder(3).eps(1e-3).momentum(0.2).build();
            bn.runningMean().copyFrom(new float[] {1, 2, 3});
            bn.weight().value().copyFrom(new float[] {4, 5, 6});
            Linear lin = new Linear(2, 3, false, 1);
            ReLU relu = new ReLU();
            Sequential inner = new Sequential(BatchNorm2d.builder(2).affine(false).build());
            Sequential model = new Sequential(lin, bn, relu, inner);
            model.eval();
            try (Module converted = SyncBatchNorm.convert(model, col)) {
                Sequential s = assertInstanceOf(Sequential.class, converted);
                assertSame(lin, s.get(0));
                SyncBatchNorm sbn = assertInstanceOf(SyncBatchNorm.class, s.get(1));
                assertSame(relu, s.get(2));
                SyncBatchNorm sbn2 = assertInstanceOf(SyncBatchNorm.class, ((Sequential) s.get(3)).get(0));
                assertTrue(bn.isClosed());
                assertEquals(1e-3, sbn.eps());
                assertEquals(0.2, sbn.momentum());
                assertTrue(!sbn.isTraining() && !sbn2.affine());
                assertArrayEquals(new float[] {1, 2, 3}, sbn.runningMean().toArray());
                assertArrayEquals(new float[] {4, 5, 6}, sbn.weight().value().toArray());
                assertEquals(List.of(sbn, sbn2), SyncBatchNorm.layers(converted));
                assertNotSame(model, converted);
                return String.join(",", converted.stateDict().keySet());
            }
        });
        assertEquals("0.weight,1.weight,1.bias,1.running_mean,1.running_var,3.0.running_mean,3.0.running_var",
                got.get(0));
    }

    @Test
    void convertRefusesGhostBatchNormBeforeConvertingAnything() {
        List<String> got = InProcessCollective.run(1, TIMEOUT, col -> {
            BatchNorm1d plain = BatchNorm1d.builder(3).build();
            BatchNorm1d ghost = BatchNorm1d.builder(3).virtualBatchSize(2).build();
            try (Sequential model = new Sequential(plain, new Sequential(ghost))) {
                var e = assertThrows(IllegalArgumentException.class, () -> SyncBatchNorm.convert(model, col));
                assertTrue(!plain.isClosed() && !ghost.isClosed(), "nothing converted or closed");
                return e.getMessage();
            }
        });
        assertTrue(got.get(0).startsWith("module.1.0: expected a BatchNorm without virtualBatchSize"), got.get(0));
    }
}
