package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link JavaKernels}: against the double {@link Reference} over awkward sizes and every layout,
 * numerically hard inputs (constant channels, large offsets, NaN and Inf), aliasing, running
 * statistics over several steps, masks, and overwriting of outputs.
 */
class JavaKernelsTest {

    private static final BatchNormKernels K = JavaKernels.INSTANCE;
    private static final double EPS = 1e-5;
    private static final float SENTINEL = -7777.25f;
    private static final int ALL_FORWARD = USE_SCALE | USE_SHIFT;
    private static final int ALL_MASK = DIFF_INP | DIFF_SCALE | DIFF_SHIFT;

    private Arena arena;

    @BeforeEach
    void open() {
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    record Shape(Layout layout, int n, int c, int s) {
        int count() {
            return n * c * s;
        }

        int m() {
            return n * s;
        }

        @Override
        public String toString() {
            return layout + " N=" + n + " C=" + c + " S=" + s;
        }
    }

    static List<Shape> shapes() {
        int[][] nc = {{1, 5}, {2, 1}, {3, 7}, {13, 64}, {127, 3}, {1000, 2}};
        int[][] ncs = {{1, 1, 1}, {1, 1, 2}, {2, 3, 7}, {7, 13, 1}, {3, 2, 127}, {1, 3, 1000}, {13, 7, 13}, {64, 2, 3}};
        List<Shape> list = new ArrayList<>();
        for (int[] d : nc) {
            list.add(new Shape(Layout.NC, d[0], d[1], 1));
        }
        for (Layout layout : new Layout[] {Layout.NCHW, Layout.NHWC}) {
            for (int[] d : ncs) {
                list.add(new Shape(layout, d[0], d[1], d[2]));
            }
        }
        return list;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void matchesReference(Shape p) {
        double eps = 1e-3; // not the usual default, so that a hard-coded eps shows
        Random random = new Random(p.count() * 31L + p.c());
        float[] x = Buffers.gaussian(random, p.count(), 0.5, 2);
        float[] gamma = Buffers.gaussian(random, p.c(), 1, 0.5);
        float[] beta = Buffers.gaussian(random, p.c(), 0, 0.5);
        float[] rm0 = Buffers.gaussian(random, p.c(), 0, 1);
        float[] rv0 = Buffers.uniform(random, p.c(), 0.5, 2);
        float[] dout = Buffers.gaussian(random, p.count(), 0, 1);
        double[] xd = Buffers.toDouble(x);
        double[] gd = Buffers.toDouble(gamma);
        double tol = Compare.tol(p.m());
        MemorySegment inp = Buffers.of(arena, x);
        MemorySegment g = Buffers.of(arena, gamma);
        MemorySegment b = Buffers.of(arena, beta);

        if (p.m() > 1) { // training
            double[][] ref = Reference.forwardTraining(xd, gd, Buffers.toDouble(beta), eps, p.layout(), p.n(), p.c(), p.s());
            MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
            MemorySegment saveMean = Buffers.filled(arena, p.c(), SENTINEL);
            MemorySegment saveRstd = Buffers.filled(arena, p.c(), SENTINEL);
            MemorySegment rm = Buffers.of(arena, rm0);
            MemorySegment rv = Buffers.of(arena, rv0);
            K.forwardTraining(out, saveMean, saveRstd, rm, rv, inp, g, b, eps, 0.1, ALL_FORWARD | UPDATE_RUNNING,
                    p.layout(), p.n(), p.c(), p.s());
            Compare.assertClose(ref[0], out, tol, tol, p + " out");
            Compare.assertClose(ref[1], saveMean, tol, tol, p + " saveMean");
            Compare.assertClose(ref[2], saveRstd, tol, tol, p + " saveRstd");
            double[] rmExpected = new double[p.c()];
            double[] rvExpected = new double[p.c()];
            for (int c = 0; c < p.c(); c++) {
                rmExpected[c] = 0.9 * rm0[c] + 0.1 * ref[1][c];
                rvExpected[c] = 0.9 * rv0[c] + 0.1 * ref[3][c] * p.m() / (p.m() - 1);
            }
            Compare.assertClose(rmExpected, rm, tol, tol, p + " runningMean");
            Compare.assertClose(rvExpected, rv, tol, tol, p + " runningVar");

            double[][] grads = Reference.backward(Buffers.toDouble(dout), xd, gd, ref[1], ref[2], false,
                    p.layout(), p.n(), p.c(), p.s());
            checkBackward(p, grads, dout, inp, g, saveMean, saveRstd, USE_SCALE);
        }

        // inference and global-stats backward with the (float) running statistics
        double[] rstd = Reference.rstd(Buffers.toDouble(rv0), eps);
        double[] ref = Reference.normalize(xd, Buffers.toDouble(rm0), rstd, gd, Buffers.toDouble(beta),
                p.layout(), p.n(), p.c(), p.s());
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        K.forwardInference(out, inp, Buffers.of(arena, rm0), Buffers.of(arena, rv0), g, b, eps, ALL_FORWARD,
                p.layout(), p.n(), p.c(), p.s());
        Compare.assertClose(ref, out, tol, tol, p + " inference out");
        double[][] grads = Reference.backward(Buffers.toDouble(dout), xd, gd, Buffers.toDouble(rm0), rstd, true,
                p.layout(), p.n(), p.c(), p.s());
        checkBackward(p, grads, dout, inp, g, Buffers.of(arena, rm0), Buffers.of(arena, Buffers.toFloat(rstd)),
                USE_SCALE | USE_GLOBAL_STATS);
    }

    private void checkBackward(Shape p, double[][] expected, float[] dout, MemorySegment inp, MemorySegment gamma,
                               MemorySegment mean, MemorySegment rstd, int flags) {
        MemorySegment dinp = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment dgamma = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment dbeta = Buffers.filled(arena, p.c(), SENTINEL);
        K.backward(dinp, dgamma, dbeta, Buffers.of(arena, dout), inp, gamma, mean, rstd, flags, ALL_MASK,
                p.layout(), p.n(), p.c(), p.s());
        double tol = Compare.tol(p.m());
        Compare.assertCloseToScale(expected[0], dinp, tol, p + " dinp flags " + flags);
        Compare.assertClose(expected[1], dgamma, Compare.sumTol(p.m()), tol, p + " dgamma flags " + flags);
        Compare.assertClose(expected[2], dbeta, Compare.sumTol(p.m()), tol, p + " dbeta flags " + flags);
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void constantChannelsGiveBeta(Layout layout) {
        int n = 6;
        int c = 3;
        int s = layout == Layout.NC ? 1 : 5;
        float[] values = {0.1f, -1000.5f, 3e7f};
        float[] x = new float[n * c * s];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int j = 0; j < s; j++) {
                    x[(int) layout.index(i, ch, j, c, s)] = values[ch];
                }
            }
        }
        float[] beta = {0.25f, -2f, 7f};
        MemorySegment out = Buffers.filled(arena, x.length, SENTINEL);
        MemorySegment saveMean = Buffers.filled(arena, c, SENTINEL);
        MemorySegment saveRstd = Buffers.filled(arena, c, SENTINEL);
        MemorySegment rv = Buffers.of(arena, new float[] {1, 1, 1});
        K.forwardTraining(out, saveMean, saveRstd, Buffers.filled(arena, c, 0), rv, Buffers.of(arena, x),
                Buffers.of(arena, new float[] {2, 3, 4}), Buffers.of(arena, beta), EPS, 0.5,
                ALL_FORWARD | UPDATE_RUNNING, layout, n, c, s);
        float[] o = Buffers.read(out, x.length);
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int j = 0; j < s; j++) {
                    assertEquals(beta[ch], o[(int) layout.index(i, ch, j, c, s)], "out = beta in constant channel " + ch);
                }
            }
        }
        Compare.assertSameBits(values, Buffers.read(saveMean, c), "saveMean");
        float rstd = (float) (1 / Math.sqrt(EPS));
        Compare.assertSameBits(new float[] {rstd, rstd, rstd}, Buffers.read(saveRstd, c), "saveRstd = 1/sqrt(eps)");
        Compare.assertSameBits(new float[] {0.5f, 0.5f, 0.5f}, Buffers.read(rv, c), "runningVar halved");
        // backward stays finite: xhat = 0
        MemorySegment dinp = Buffers.filled(arena, x.length, SENTINEL);
        MemorySegment dgamma = Buffers.filled(arena, c, SENTINEL);
        K.backward(dinp, dgamma, null, Buffers.of(arena, Buffers.gaussian(new Random(3), x.length, 0, 1)),
                Buffers.of(arena, x), null, saveMean, saveRstd, 0, DIFF_INP | DIFF_SCALE, layout, n, c, s);
        assertAllFinite(Buffers.read(dinp, x.length), "dinp");
        Compare.assertSameBits(new float[c], Buffers.read(dgamma, c), "dgamma = 0");
    }

    @Test
    void largeOffsetSmallSpread() { // x = 1000 + 0.01*N(0,1): out within 1e-3 of double from the same floats
        Shape p = new Shape(Layout.NCHW, 32, 4, 25);
        float[] x = Buffers.gaussian(new Random(11), p.count(), 1000, 0.01);
        double[][] ref = Reference.forwardTraining(Buffers.toDouble(x), null, null, EPS, p.layout(), p.n(), p.c(), p.s());
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment saveMean = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment saveRstd = Buffers.filled(arena, p.c(), SENTINEL);
        K.forwardTraining(out, saveMean, saveRstd, null, null, Buffers.of(arena, x), null, null, EPS, 0, 0,
                p.layout(), p.n(), p.c(), p.s());
        Compare.assertClose(ref[0], out, 1e-3, 0, "out");
        Compare.assertClose(ref[1], saveMean, 0, 1e-7, "saveMean");
        Compare.assertClose(ref[2], saveRstd, 0, 1e-6, "saveRstd");
    }

    @Test
    void hugeOffset() { // x = 1e6 + N(0,1): finite and sane
        Shape p = new Shape(Layout.NHWC, 50, 3, 20);
        float[] x = Buffers.gaussian(new Random(12), p.count(), 1e6, 1);
        double[][] ref = Reference.forwardTraining(Buffers.toDouble(x), null, null, EPS, p.layout(), p.n(), p.c(), p.s());
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment saveMean = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment saveRstd = Buffers.filled(arena, p.c(), SENTINEL);
        K.forwardTraining(out, saveMean, saveRstd, null, null, Buffers.of(arena, x), null, null, EPS, 0, 0,
                p.layout(), p.n(), p.c(), p.s());
        float[] o = Buffers.read(out, p.count());
        assertAllFinite(o, "out");
        for (int c = 0; c < p.c(); c++) {
            double sum = 0;
            double sq = 0;
            for (int i = 0; i < p.n(); i++) {
                for (int j = 0; j < p.s(); j++) {
                    double v = o[(int) p.layout().index(i, c, j, p.c(), p.s())];
                    sum += v;
                    sq += v * v;
                }
            }
            double mean = sum / p.m();
            double var = sq / p.m() - mean * mean;
            assertTrue(Math.abs(mean) < 1e-4, "channel " + c + ": mean of out " + mean);
            assertTrue(Math.abs(var - 1) < 1e-3, "channel " + c + ": variance of out " + var);
        }
        Compare.assertClose(ref[0], o, 1e-5, 1e-5, "out");
        Compare.assertClose(ref[1], saveMean, 0, 1e-7, "saveMean");
    }

    @Test
    void nanAndInfStayInTheirChannel() {
        Shape p = new Shape(Layout.NHWC, 5, 4, 3);
        Random random = new Random(13);
        float[] clean = Buffers.gaussian(random, p.count(), 0, 1);
        float[] dirty = clean.clone();
        dirty[(int) p.layout().index(2, 1, 1, p.c(), p.s())] = Float.NaN;
        dirty[(int) p.layout().index(4, 2, 0, p.c(), p.s())] = Float.POSITIVE_INFINITY;
        dirty[(int) p.layout().index(0, 3, 2, p.c(), p.s())] = Float.NEGATIVE_INFINITY;
        float[] gamma = Buffers.gaussian(random, p.c(), 1, 0.2);
        float[] beta = Buffers.gaussian(random, p.c(), 0, 0.2);
        float[][] a = forwardAll(p, clean, gamma, beta);
        float[][] b = forwardAll(p, dirty, gamma, beta);
        String[] names = {"out", "saveMean", "saveRstd", "runningMean", "runningVar"};
        for (int k = 0; k < names.length; k++) {
            boolean tensor = k == 0;
            for (int i = 0; i < a[k].length; i++) {
                int channel = tensor ? i % p.c() : i; // NHWC: channel is the fastest index
                if (channel == 0) {
                    assertEquals(Float.floatToIntBits(a[k][i]), Float.floatToIntBits(b[k][i]), names[k] + "[" + i + "]");
                } else if (channel != 1 && (k == 1 || k == 3)) { // the means of an Inf channel are +-Inf
                    assertTrue(Float.isInfinite(b[k][i]), names[k] + "[" + i + "] should be infinite, is " + b[k][i]);
                } else { // everything else in a NaN or Inf channel is NaN
                    assertTrue(Float.isNaN(b[k][i]), names[k] + "[" + i + "] should be NaN, is " + b[k][i]);
                }
            }
        }
        // backward: NaN in dout of channel 2 only
        float[] dout = Buffers.gaussian(random, p.count(), 0, 1);
        float[] dirtyDout = dout.clone();
        dirtyDout[(int) p.layout().index(3, 2, 2, p.c(), p.s())] = Float.NaN;
        float[][] ga = backwardAll(p, clean, dout, gamma, a[1], a[2]);
        float[][] gb = backwardAll(p, clean, dirtyDout, gamma, a[1], a[2]);
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < ga[k].length; i++) {
                int channel = k == 0 ? i % p.c() : i;
                if (channel == 2) {
                    assertTrue(Float.isNaN(gb[k][i]), "gradient " + k + " [" + i + "] should be NaN");
                } else {
                    assertEquals(Float.floatToIntBits(ga[k][i]), Float.floatToIntBits(gb[k][i]),
                            "gradient " + k + " [" + i + "]");
                }
            }
        }
    }

    /** Forward training with running stats: {out, saveMean, saveRstd, runningMean, runningVar}. */
    private float[][] forwardAll(Shape p, float[] x, float[] gamma, float[] beta) {
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment saveMean = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment saveRstd = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment rm = Buffers.filled(arena, p.c(), 0);
        MemorySegment rv = Buffers.filled(arena, p.c(), 1);
        K.forwardTraining(out, saveMean, saveRstd, rm, rv, Buffers.of(arena, x), Buffers.of(arena, gamma),
                Buffers.of(arena, beta), EPS, 0.1, ALL_FORWARD | UPDATE_RUNNING, p.layout(), p.n(), p.c(), p.s());
        return new float[][] {Buffers.read(out, p.count()), Buffers.read(saveMean, p.c()),
            Buffers.read(saveRstd, p.c()), Buffers.read(rm, p.c()), Buffers.read(rv, p.c())};
    }

    /** Backward with batch statistics: {dinp, dgamma, dbeta}. */
    private float[][] backwardAll(Shape p, float[] x, float[] dout, float[] gamma, float[] mean, float[] rstd) {
        MemorySegment dinp = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment dgamma = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment dbeta = Buffers.filled(arena, p.c(), SENTINEL);
        K.backward(dinp, dgamma, dbeta, Buffers.of(arena, dout), Buffers.of(arena, x), Buffers.of(arena, gamma),
                Buffers.of(arena, mean), Buffers.of(arena, rstd), USE_SCALE, ALL_MASK, p.layout(), p.n(), p.c(), p.s());
        return new float[][] {Buffers.read(dinp, p.count()), Buffers.read(dgamma, p.c()), Buffers.read(dbeta, p.c())};
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void inPlaceForwardEqualsOutOfPlace(Layout layout) {
        Shape p = new Shape(layout, 7, 5, layout == Layout.NC ? 1 : 9);
        Random random = new Random(14);
        float[] x = Buffers.gaussian(random, p.count(), 2, 3);
        float[] gamma = Buffers.gaussian(random, p.c(), 1, 0.5);
        float[] beta = Buffers.gaussian(random, p.c(), 0, 0.5);
        float[][] separate = forwardAll(p, x, gamma, beta);

        MemorySegment io = Buffers.of(arena, x);
        MemorySegment saveMean = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment saveRstd = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment rm = Buffers.filled(arena, p.c(), 0);
        MemorySegment rv = Buffers.filled(arena, p.c(), 1);
        K.forwardTraining(io, saveMean, saveRstd, rm, rv, io, Buffers.of(arena, gamma), Buffers.of(arena, beta),
                EPS, 0.1, ALL_FORWARD | UPDATE_RUNNING, layout, p.n(), p.c(), p.s());
        Compare.assertSameBits(separate[0], Buffers.read(io, p.count()), "in-place out");
        Compare.assertSameBits(separate[1], Buffers.read(saveMean, p.c()), "in-place saveMean");
        Compare.assertSameBits(separate[2], Buffers.read(saveRstd, p.c()), "in-place saveRstd");
        Compare.assertSameBits(separate[3], Buffers.read(rm, p.c()), "in-place runningMean");
        Compare.assertSameBits(separate[4], Buffers.read(rv, p.c()), "in-place runningVar");

        MemorySegment mean = Buffers.of(arena, separate[3]);
        MemorySegment var = Buffers.of(arena, separate[4]);
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment inp = Buffers.of(arena, x);
        K.forwardInference(out, inp, mean, var, null, null, EPS, 0, layout, p.n(), p.c(), p.s());
        K.forwardInference(inp, inp, mean, var, null, null, EPS, 0, layout, p.n(), p.c(), p.s());
        Compare.assertSameBits(Buffers.read(out, p.count()), Buffers.read(inp, p.count()), "in-place inference");
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void backwardAliasesEqualSeparateBuffers(Layout layout) {
        Shape p = new Shape(layout, 6, 4, layout == Layout.NC ? 1 : 5);
        Random random = new Random(15);
        float[] x = Buffers.gaussian(random, p.count(), 1, 2);
        float[] dout = Buffers.gaussian(random, p.count(), 0, 1);
        float[] gamma = Buffers.gaussian(random, p.c(), 1, 0.5);
        float[][] fwd = forwardAll(p, x, gamma, new float[p.c()]);
        for (int flags : new int[] {USE_SCALE, USE_SCALE | USE_GLOBAL_STATS}) {
            MemorySegment g = Buffers.of(arena, gamma);
            MemorySegment mean = Buffers.of(arena, fwd[1]);
            MemorySegment rstd = Buffers.of(arena, fwd[2]);
            MemorySegment dinp = Buffers.filled(arena, p.count(), SENTINEL);
            MemorySegment dgamma = Buffers.filled(arena, p.c(), SENTINEL);
            MemorySegment dbeta = Buffers.filled(arena, p.c(), SENTINEL);
            K.backward(dinp, dgamma, dbeta, Buffers.of(arena, dout), Buffers.of(arena, x), g, mean, rstd, flags,
                    ALL_MASK, layout, p.n(), p.c(), p.s());

            MemorySegment doutIo = Buffers.of(arena, dout);
            MemorySegment dgamma2 = Buffers.filled(arena, p.c(), SENTINEL);
            MemorySegment dbeta2 = Buffers.filled(arena, p.c(), SENTINEL);
            K.backward(doutIo, dgamma2, dbeta2, doutIo, Buffers.of(arena, x), g, mean, rstd, flags, ALL_MASK,
                    layout, p.n(), p.c(), p.s());
            Compare.assertSameBits(Buffers.read(dinp, p.count()), Buffers.read(doutIo, p.count()), "dinp == dout");
            Compare.assertSameBits(Buffers.read(dgamma, p.c()), Buffers.read(dgamma2, p.c()), "dgamma, dinp == dout");
            Compare.assertSameBits(Buffers.read(dbeta, p.c()), Buffers.read(dbeta2, p.c()), "dbeta, dinp == dout");

            MemorySegment inpIo = Buffers.of(arena, x);
            K.backward(inpIo, dgamma2, dbeta2, Buffers.of(arena, dout), inpIo, g, mean, rstd, flags, ALL_MASK,
                    layout, p.n(), p.c(), p.s());
            Compare.assertSameBits(Buffers.read(dinp, p.count()), Buffers.read(inpIo, p.count()), "dinp == inp");
            Compare.assertSameBits(Buffers.read(dgamma, p.c()), Buffers.read(dgamma2, p.c()), "dgamma, dinp == inp");
        }
    }

    @Test
    void runningStatsOverSteps() {
        Shape p = new Shape(Layout.NCHW, 4, 3, 6);
        Random random = new Random(16);
        MemorySegment rm = Buffers.filled(arena, p.c(), 0);
        MemorySegment rv = Buffers.filled(arena, p.c(), 1);
        MemorySegment cm = Buffers.filled(arena, p.c(), 0);
        MemorySegment cv = Buffers.filled(arena, p.c(), 1);
        float[] modelMean = {0, 0, 0};
        float[] modelVar = {1, 1, 1};
        double[] avgMean = new double[p.c()];
        double[] avgVar = new double[p.c()];
        int steps = 6;
        for (int k = 1; k <= steps; k++) {
            float[] x = Buffers.gaussian(random, p.count(), k, 1 + k);
            double[][] st = Reference.stats(Buffers.toDouble(x), p.layout(), p.n(), p.c(), p.s());
            MemorySegment inp = Buffers.of(arena, x);
            MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
            MemorySegment sm = Buffers.filled(arena, p.c(), SENTINEL);
            MemorySegment sr = Buffers.filled(arena, p.c(), SENTINEL);
            K.forwardTraining(out, sm, sr, rm, rv, inp, null, null, EPS, 0.1, UPDATE_RUNNING,
                    p.layout(), p.n(), p.c(), p.s());
            K.forwardTraining(out, sm, sr, cm, cv, inp, null, null, EPS, 1.0 / k, UPDATE_RUNNING, // cumulative
                    p.layout(), p.n(), p.c(), p.s());
            for (int c = 0; c < p.c(); c++) {
                double unbiased = st[1][c] * p.m() / (p.m() - 1);
                modelMean[c] = (float) (0.9 * modelMean[c] + 0.1 * st[0][c]);
                modelVar[c] = (float) (0.9 * modelVar[c] + 0.1 * unbiased);
                avgMean[c] += (st[0][c] - avgMean[c]) / k;
                avgVar[c] += (unbiased - avgVar[c]) / k;
            }
            Compare.assertClose(Buffers.toDouble(modelMean), rm, 1e-6, 1e-6, "runningMean step " + k);
            Compare.assertClose(Buffers.toDouble(modelVar), rv, 1e-6, 1e-6, "runningVar step " + k);
            Compare.assertClose(avgMean, cm, 1e-6, 1e-6, "cumulative runningMean step " + k);
            Compare.assertClose(avgVar, cv, 1e-6, 1e-6, "cumulative runningVar step " + k);
        }
    }

    @Test
    void momentumZeroKeepsAndOneReplaces() {
        Shape p = new Shape(Layout.NC, 9, 4, 1);
        float[] x = Buffers.gaussian(new Random(17), p.count(), 3, 2);
        float[] rm0 = {0.5f, -1, 2, 0.1f};
        float[] rv0 = {1.5f, 0.25f, 3, 0.7f};
        MemorySegment rm = Buffers.of(arena, rm0);
        MemorySegment rv = Buffers.of(arena, rv0);
        MemorySegment out = Buffers.filled(arena, p.count(), SENTINEL);
        MemorySegment sm = Buffers.filled(arena, p.c(), SENTINEL);
        MemorySegment sr = Buffers.filled(arena, p.c(), SENTINEL);
        K.forwardTraining(out, sm, sr, rm, rv, Buffers.of(arena, x), null, null, EPS, 0, UPDATE_RUNNING,
                p.layout(), p.n(), p.c(), p.s());
        Compare.assertSameBits(rm0, Buffers.read(rm, p.c()), "momentum 0 runningMean");
        Compare.assertSameBits(rv0, Buffers.read(rv, p.c()), "momentum 0 runningVar");
        K.forwardTraining(out, sm, sr, rm, rv, Buffers.of(arena, x), null, null, EPS, 1, UPDATE_RUNNING,
                p.layout(), p.n(), p.c(), p.s());
        double[][] st = Reference.stats(Buffers.toDouble(x), p.layout(), p.n(), p.c(), p.s());
        double[] unbiased = new double[p.c()];
        for (int c = 0; c < p.c(); c++) {
            unbiased[c] = st[1][c] * p.m() / (p.m() - 1);
        }
        Compare.assertSameBits(Buffers.read(sm, p.c()), Buffers.read(rm, p.c()), "momentum 1 runningMean = saveMean");
        Compare.assertClose(unbiased, rv, 0, 1e-7, "momentum 1 runningVar = unbiased var");
    }

    @Test
    void masksComputeTheSameValuesAndOverwrite() {
        Shape p = new Shape(Layout.NHWC, 3, 5, 4);
        Random random = new Random(18);
        float[] x = Buffers.gaussian(random, p.count(), 0, 1);
        float[] dout = Buffers.gaussian(random, p.count(), 0, 1);
        float[] gamma = Buffers.gaussian(random, p.c(), 1, 0.3);
        float[][] fwd = forwardAll(p, x, gamma, new float[p.c()]);
        for (int flags : new int[] {USE_SCALE, USE_SCALE | USE_GLOBAL_STATS}) {
            float[][] full = null;
            for (int mask = ALL_MASK; mask >= 1; mask--) { // the full mask first
                // outputs start with garbage, and each call runs twice: overwritten, never accumulated
                MemorySegment dinp = (mask & DIFF_INP) != 0 ? Buffers.filled(arena, p.count(), 1e30f) : null;
                MemorySegment dgamma = (mask & DIFF_SCALE) != 0 ? Buffers.filled(arena, p.c(), -3f) : null;
                MemorySegment dbeta = (mask & DIFF_SHIFT) != 0 ? Buffers.filled(arena, p.c(), Float.NaN) : null;
                for (int repeat = 0; repeat < 2; repeat++) {
                    K.backward(dinp, dgamma, dbeta, Buffers.of(arena, dout), Buffers.of(arena, x),
                            Buffers.of(arena, gamma), Buffers.of(arena, fwd[1]), Buffers.of(arena, fwd[2]),
                            flags, mask, p.layout(), p.n(), p.c(), p.s());
                }
                float[][] got = {dinp == null ? null : Buffers.read(dinp, p.count()),
                    dgamma == null ? null : Buffers.read(dgamma, p.c()), dbeta == null ? null : Buffers.read(dbeta, p.c())};
                if (full == null) {
                    full = got;
                    if (flags == USE_SCALE) {
                        Compare.assertSameBits(backwardAll(p, x, dout, gamma, fwd[1], fwd[2])[0], got[0], "dinp");
                    }
                }
                for (int k = 0; k < 3; k++) {
                    if (got[k] != null) {
                        Compare.assertSameBits(full[k], got[k], "output " + k + ", flags " + flags + ", mask " + mask);
                    }
                }
            }
        }
    }

    @Test
    void name() {
        assertEquals("java", K.name());
    }

    private static void assertAllFinite(float[] values, String what) {
        for (int i = 0; i < values.length; i++) {
            assertTrue(Float.isFinite(values[i]), what + "[" + i + "] = " + values[i]);
        }
    }
}
