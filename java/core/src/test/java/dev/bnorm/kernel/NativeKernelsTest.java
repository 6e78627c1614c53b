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
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the native kernels promise beyond the shared contract: results bit-identical for 1, 2 and
 * more threads (on shapes large enough to be spread over threads), agreement with the Java
 * oracle on those shapes, and the large-offset accuracy that {@link JavaKernelsTest} asks of the
 * Java kernels (out within 1e-3 of double for x = 1000 + 0.01*N(0,1)).
 */
class NativeKernelsTest {

    static NativeKernels nat;
    static final double EPS = 1e-5;

    @BeforeAll
    static void load() {
        nat = NativeKernels.get();
    }

    @AfterAll
    static void restoreThreads() {
        NativeKernels.setNumThreads(0);
    }

    @Test
    void numThreadsCanBeSetAndRestored() {
        int dflt = NativeKernels.setNumThreads(0);
        assertTrue(dflt >= 1, "default " + dflt);
        assertEquals(dflt, NativeKernels.numThreads());
        int three = NativeKernels.setNumThreads(3);
        assertTrue(three == 3 || three == 1, "setNumThreads(3) returned " + three); // 1: a build without threads
        assertEquals(three, NativeKernels.numThreads());
        assertEquals(dflt, NativeKernels.setNumThreads(-1));
    }

    /** Shapes above the library's threshold for threads, cut into blocks, groups and wide rows. */
    static Stream<Arguments> largeShapes() {
        return Stream.of(
                Arguments.of(Layout.NC, 512L, 1024L, 1L),    // 2 MiB per tensor
                Arguments.of(Layout.NC, 20000L, 5L, 1L),     // rows of 5 channels joined by 13
                Arguments.of(Layout.NCHW, 8L, 32L, 3136L),
                Arguments.of(Layout.NCHW, 2L, 3L, 50000L),   // runs cut in pieces
                Arguments.of(Layout.NHWC, 8L, 32L, 3136L));
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("largeShapes")
    void resultsAreBitIdenticalForAnyNumberOfThreads(Layout layout, long n, long c, long s) {
        try (Arena arena = Arena.ofConfined()) {
            NativeVsJavaTest.Problem p = new NativeVsJavaTest.Problem(arena, layout, n, c, s, 17);
            int many = Runtime.getRuntime().availableProcessors() + 3;
            List<Integer> counts = List.of(1, 2, many);
            float[][] first = null;
            for (int threads : counts) {
                NativeKernels.setNumThreads(threads);
                float[][] got = runAll(p);
                if (first == null) {
                    first = got;
                    continue;
                }
                for (int i = 0; i < got.length; i++) {
                    Compare.assertSameBits(first[i], got[i], layout + " " + n + "x" + c + "x" + s + " output " + i
                            + " with " + threads + " threads against 1 thread");
                }
            }
            NativeKernels.setNumThreads(0);
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("largeShapes")
    void largeShapesAgreeWithTheJavaOracle(Layout layout, long n, long c, long s) {
        long m = n * s;
        try (Arena arena = Arena.ofConfined()) {
            NativeVsJavaTest.Problem p = new NativeVsJavaTest.Problem(arena, layout, n, c, s, 23);
            int flags = USE_SCALE | USE_SHIFT | UPDATE_RUNNING;
            NativeVsJavaTest.Result j = p.forwardTraining(JavaKernels.INSTANCE, flags, 0.1);
            NativeVsJavaTest.Result k = p.forwardTraining(nat, flags, 0.1);
            Compare.assertClose(j.out(), k.out(), Compare.tol(m), Compare.tol(m), layout + " out");
            Compare.assertClose(j.rstd(), k.rstd(), Compare.tol(m), Compare.tol(m), layout + " save_rstd");
            Compare.assertClose(j.runningVar(), k.runningVar(), Compare.tol(m), Compare.tol(m), layout + " running_var");
            NativeVsJavaTest.Result jb = p.backward(JavaKernels.INSTANCE, USE_SCALE, DIFF_INP | DIFF_SCALE | DIFF_SHIFT);
            NativeVsJavaTest.Result kb = p.backward(nat, USE_SCALE, DIFF_INP | DIFF_SCALE | DIFF_SHIFT);
            Compare.assertCloseToScale(Buffers.toDouble(jb.out()), kb.out(), Compare.tol(m), layout + " dinp");
            Compare.assertClose(jb.mean(), kb.mean(), Compare.sumTol(m), Compare.tol(m), layout + " dgamma");
            Compare.assertClose(jb.rstd(), kb.rstd(), Compare.sumTol(m), Compare.tol(m), layout + " dbeta");
        }
    }

    /** Every kernel once: training out, saves, running stats; inference; backward (batch and global). */
    private static float[][] runAll(NativeVsJavaTest.Problem p) {
        NativeVsJavaTest.Result t = p.forwardTraining(nat, USE_SCALE | USE_SHIFT | UPDATE_RUNNING, 0.1);
        float[] inf = p.forwardInference(nat, USE_SCALE | USE_SHIFT);
        NativeVsJavaTest.Result b = p.backward(nat, USE_SCALE, DIFF_INP | DIFF_SCALE | DIFF_SHIFT);
        NativeVsJavaTest.Result g = p.backward(nat, USE_SCALE | USE_GLOBAL_STATS, DIFF_INP | DIFF_SCALE);
        return new float[][] {t.out(), t.mean(), t.rstd(), t.runningMean(), t.runningVar(), inf,
            b.out(), b.mean(), b.rstd(), g.out(), g.mean()};
    }

    static Stream<Arguments> offsetShapes() {
        return Stream.of(
                Arguments.of(Layout.NCHW, 32, 4, 25),      // JavaKernelsTest's shape
                Arguments.of(Layout.NC, 20000, 3, 1),
                Arguments.of(Layout.NHWC, 16, 64, 1024),   // large enough for threads
                Arguments.of(Layout.NCHW, 4, 2, 70000));
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("offsetShapes")
    void largeOffsetSmallSpreadIsWithin1eMinus3(Layout layout, int n, int c, int s) {
        // x = 1000 + 0.01*N(0,1): out within 1e-3 of double from the same floats (JavaKernelsTest)
        int count = n * c * s;
        float[] x = Buffers.gaussian(new Random(11), count, 1000, 0.01);
        double[][] ref = Reference.forwardTraining(Buffers.toDouble(x), null, null, EPS, layout, n, c, s);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(4L * count, 64);
            MemorySegment saveMean = arena.allocate(4L * c, 64);
            MemorySegment saveRstd = arena.allocate(4L * c, 64);
            nat.forwardTraining(out, saveMean, saveRstd, null, null, Buffers.of(arena, x), null, null, EPS, 0, 0,
                    layout, n, c, s);
            Compare.assertClose(ref[0], out, 1e-3, 0, "out");
            Compare.assertClose(ref[1], saveMean, 0, 1e-7, "saveMean");
            Compare.assertClose(ref[2], saveRstd, 0, 1e-6, "saveRstd");
            // inference with the batch statistics, in place
            MemorySegment io = Buffers.of(arena, x);
            MemorySegment var = arena.allocate(4L * c, 64);
            double[] mean = new double[c];
            double[] rstd = new double[c];
            for (int ch = 0; ch < c; ch++) {
                float v = (float) ref[3][ch];
                var.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, ch, v);
                mean[ch] = saveMean.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, ch);
                rstd[ch] = 1 / Math.sqrt(v + EPS);
            }
            nat.forwardInference(io, io, saveMean, var, null, null, EPS, 0, layout, n, c, s);
            double[] inf = Reference.normalize(Buffers.toDouble(x), mean, rstd, null, null, layout, n, c, s);
            Compare.assertClose(inf, io, 1e-3, 0, "inference out");
        }
    }

    @Test
    void hugeOffsetIsNormalizedAccurately() { // x = 1e6 + N(0,1)
        Layout layout = Layout.NHWC;
        int n = 50, c = 3, s = 20;
        float[] x = Buffers.gaussian(new Random(12), n * c * s, 1e6, 1);
        double[][] ref = Reference.forwardTraining(Buffers.toDouble(x), null, null, EPS, layout, n, c, s);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(4L * n * c * s, 64);
            MemorySegment saveMean = arena.allocate(4L * c, 64);
            MemorySegment saveRstd = arena.allocate(4L * c, 64);
            nat.forwardTraining(out, saveMean, saveRstd, null, null, Buffers.of(arena, x), null, null, EPS, 0, 0,
                    layout, n, c, s);
            Compare.assertClose(ref[0], out, 1e-5, 1e-5, "out");
            Compare.assertClose(ref[1], saveMean, 0, 1e-7, "saveMean");
        }
    }
}
