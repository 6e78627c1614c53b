package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The split-phase kernels: C against the Java oracle over P uneven parts (one of them empty),
 * one part against the one-shot kernels (forward bit for bit), any partition against one part,
 * the merge bit-identical in C and Java, and validation with the same messages in both.
 */
public class SplitKernelsTest {

    static SplitKernels nat;
    static final SplitKernels JAVA = JavaSplitKernels.INSTANCE;
    static final double EPS = 1e-5;
    static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;

    @BeforeAll
    static void load() {
        nat = NativeSplitKernels.get();
    }

    static Stream<Arguments> shapes() {
        return NativeVsJavaTest.shapes();
    }

    /** Samples per part: P = 1..4, uneven, an empty part when there are few samples. */
    static long[] cut(long n, int parts) {
        long[] np = new long[parts];
        long left = n;
        for (int q = 0; q < parts - 1; q++) {
            np[q] = Math.min(left, (n * (q + 2)) / (parts * (parts + 1) / 2 + 1));
            left -= np[q];
        }
        np[parts - 1] = left;
        return np;
    }

    /** One batch split into parts, run through the whole split pipeline. */
    record Run(double[] mean, double[] rstd, float[] out, float[] runningMean, float[] runningVar, float[] dinp,
               float[] dgamma, float[] dbeta) {
    }

    static Run run(SplitKernels k, NativeVsJavaTest.Problem p, long[] np, Arena arena) {
        int parts = np.length;
        long c = p.c;
        long per = c * p.s;
        MemorySegment stats = arena.allocate(8 * 3 * c * parts, 8);
        MemorySegment sums = arena.allocate(8 * 3 * c * parts, 8);
        MemorySegment mean = arena.allocate(8 * c, 8);
        MemorySegment rstd = arena.allocate(8 * c, 8);
        for (long i = 0; i < c; i++) {
            p.runningMean.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.25f);
            p.runningVar.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1.5f);
        }
        long at = 0;
        for (int q = 0; q < parts; q++) { // an empty part stays zeros
            if (np[q] > 0) {
                k.statsLocal(stats.asSlice(8 * 3 * c * q), p.inp.asSlice(4 * at * per), p.layout, np[q], c, p.s);
            }
            at += np[q];
        }
        k.statsMerge(mean, rstd, p.runningMean, p.runningVar, stats, EPS, 0.1, UPDATE_RUNNING, c, parts);
        at = 0;
        for (int q = 0; q < parts; q++) {
            if (np[q] > 0) {
                MemorySegment x = p.inp.asSlice(4 * at * per);
                k.forwardApply(p.out.asSlice(4 * at * per), x, mean, rstd, p.gamma, p.beta, USE_SCALE | USE_SHIFT,
                        p.layout, np[q], c, p.s);
                k.backwardReduce(sums.asSlice(8 * 3 * c * q), p.dout.asSlice(4 * at * per), x, mean, p.layout,
                        np[q], c, p.s);
            }
            at += np[q];
        }
        MemorySegment dinp = arena.allocate(4 * p.count, 64);
        at = 0;
        boolean first = true;
        for (int q = 0; q < parts; q++) {
            if (np[q] > 0) {
                k.backwardApply(dinp.asSlice(4 * at * per), first ? p.dgamma : null, first ? p.dbeta : null,
                        p.dout.asSlice(4 * at * per), p.inp.asSlice(4 * at * per), p.gamma, mean, rstd, sums,
                        USE_SCALE, DIFF_INP | (first ? DIFF_SCALE | DIFF_SHIFT : 0), p.layout, np[q], c, p.s, parts);
                first = false;
            }
            at += np[q];
        }
        return new Run(mean.toArray(D), rstd.toArray(D), Buffers.read(p.out, p.count), Buffers.read(p.runningMean, c),
                Buffers.read(p.runningVar, c), Buffers.read(dinp, p.count), Buffers.read(p.dgamma, c),
                Buffers.read(p.dbeta, c));
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("shapes")
    void nativeAgreesWithTheJavaOracleForEveryPartition(Layout layout, long n, long c, long s) {
        long m = n * s;
        for (int parts = 1; parts <= 4; parts++) {
            long[] np = cut(n, parts);
            String what = layout + " " + n + "x" + c + "x" + s + " parts=" + java.util.Arrays.toString(np);
            try (Arena arena = Arena.ofConfined()) {
                NativeVsJavaTest.Problem p = new NativeVsJavaTest.Problem(arena, layout, n, c, s, 5);
                Run j = run(JAVA, p, np, arena);
                Run k = run(nat, p, np, arena);
                Compare.assertClose(Buffers.toFloat(j.mean), Buffers.toFloat(k.mean), Compare.tol(m), Compare.tol(m), what + " mean");
                Compare.assertClose(Buffers.toFloat(j.rstd), Buffers.toFloat(k.rstd), Compare.tol(m), Compare.tol(m), what + " rstd");
                Compare.assertClose(j.out, k.out, Compare.tol(m), Compare.tol(m), what + " out");
                Compare.assertClose(j.runningMean, k.runningMean, Compare.tol(m), Compare.tol(m), what + " running_mean");
                Compare.assertClose(j.runningVar, k.runningVar, Compare.tol(m), Compare.tol(m), what + " running_var");
                Compare.assertCloseToScale(Buffers.toDouble(j.dinp), k.dinp, Compare.tol(m), what + " dinp");
                Compare.assertClose(j.dgamma, k.dgamma, Compare.sumTol(m), Compare.tol(m), what + " dgamma");
                Compare.assertClose(j.dbeta, k.dbeta, Compare.sumTol(m), Compare.tol(m), what + " dbeta");
            }
        }
    }

    @ParameterizedTest(name = "{0} N={1} C={2} S={3}")
    @MethodSource("shapes")
    void onePartIsTheOneShotForwardBitForBitAndAgreesInBackward(Layout layout, long n, long c, long s) {
        long m = n * s;
        String what = layout + " " + n + "x" + c + "x" + s;
        try (Arena arena = Arena.ofConfined()) {
            NativeVsJavaTest.Problem p = new NativeVsJavaTest.Problem(arena, layout, n, c, s, 9);
            NativeVsJavaTest.Result one = p.forwardTraining(NativeKernels.get(), USE_SCALE | USE_SHIFT | UPDATE_RUNNING, 0.1);
            NativeVsJavaTest.Result back = p.backward(NativeKernels.get(), USE_SCALE, DIFF_INP | DIFF_SCALE | DIFF_SHIFT);
            Run split = run(nat, p, new long[] {n}, arena);
            Compare.assertSameBits(one.out(), split.out, what + " out");
            Compare.assertSameBits(one.runningMean(), split.runningMean, what + " running_mean");
            Compare.assertSameBits(one.runningVar(), split.runningVar, what + " running_var");
            Compare.assertSameBits(one.mean(), Buffers.toFloat(split.mean), what + " (float) mean = save_mean");
            Compare.assertSameBits(one.rstd(), Buffers.toFloat(split.rstd), what + " (float) rstd = save_rstd");
            // the one-shot backward rounds mean and rstd to float: xhat moves by ~eps_f*(1 + |mean|*rstd)
            double spread = 0;
            for (int i = 0; i < c; i++) spread = Math.max(spread, Math.abs(split.mean[i]) * split.rstd[i]);
            double tol = Compare.tol(m) + 32 * Math.ulp(1f) * (1 + spread);
            Compare.assertCloseToScale(Buffers.toDouble(split.dinp), back.out(), tol, what + " dinp");
            Compare.assertClose(split.dgamma, back.mean(), Compare.sumTol(m) * (1 + spread), tol, what + " dgamma");
            Compare.assertClose(split.dbeta, back.rstd(), Compare.sumTol(m), Compare.tol(m), what + " dbeta");
        }
    }

    @Test
    void anyPartitionGivesTheResultsOfOnePartAndRepeatsBitForBit() {
        Layout layout = Layout.NHWC;
        long n = 37, c = 70, s = 9, m = n * s;
        try (Arena arena = Arena.ofConfined()) {
            NativeVsJavaTest.Problem p = new NativeVsJavaTest.Problem(arena, layout, n, c, s, 13);
            Run whole = run(nat, p, new long[] {n}, arena);
            for (long[] np : new long[][] {{20, 17}, {1, 0, 36}, {9, 9, 9, 10}, {0, 37}}) {
                Run a = run(nat, p, np, arena);
                Run b = run(nat, p, np, arena);
                String what = java.util.Arrays.toString(np);
                Compare.assertSameBits(a.out, b.out, what + " out repeated");
                Compare.assertSameBits(a.dinp, b.dinp, what + " dinp repeated");
                Compare.assertClose(whole.out, a.out, Compare.tol(m), Compare.tol(m), what + " out");
                Compare.assertClose(whole.runningVar, a.runningVar, Compare.tol(m), Compare.tol(m), what + " running_var");
                Compare.assertCloseToScale(Buffers.toDouble(whole.dinp), a.dinp, Compare.tol(m), what + " dinp");
                Compare.assertClose(whole.dgamma, a.dgamma, Compare.sumTol(m), Compare.tol(m), what + " dgamma");
            }
        }
    }

    @Test
    void theMergeIsTheSameInCAndJavaBitForBit() {
        long c = 33;
        int parts = 5;
        Random r = new Random(3);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(8 * 3 * c * parts, 8);
            for (int q = 0; q < parts; q++) {
                for (int i = 0; i < c; i++) {
                    long at = 3L * c * q + i;
                    double count = q == 2 ? 0 : 1 + r.nextInt(50);
                    stats.setAtIndex(D, at, count);
                    stats.setAtIndex(D, at + c, count == 0 ? 0 : 1000 + r.nextGaussian());
                    stats.setAtIndex(D, at + 2 * c, count == 0 ? 0 : count * r.nextDouble());
                }
            }
            double[][] got = new double[2][];
            float[][] running = new float[2][];
            int i = 0;
            for (SplitKernels k : new SplitKernels[] {JAVA, nat}) {
                MemorySegment mean = arena.allocate(8 * c, 8);
                MemorySegment rstd = arena.allocate(8 * c, 8);
                MemorySegment rm = Buffers.filled(arena, c, 0.5f);
                MemorySegment rv = Buffers.filled(arena, c, 2f);
                k.statsMerge(mean, rstd, rm, rv, stats, EPS, 0.3, UPDATE_RUNNING, c, parts);
                got[i] = concat(mean.toArray(D), rstd.toArray(D));
                running[i++] = concat(Buffers.read(rm, c), Buffers.read(rv, c));
            }
            assertArrayEquals(got[0], got[1], "mean, rstd");
            assertArrayEquals(running[0], running[1], "running_mean, running_var");
        }
    }

    @Test
    void largeOffsetInputGradientWithinOneHundredthOfTheFloat64Truth() {
        // x = 1000 + 0.01*N(0,1), 32 x 20: the mean stays in double from the merge to backward
        int n = 32, c = 20;
        Random r = new Random(1);
        float[] x = new float[n * c];
        float[] dy = new float[n * c];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (1000 + 0.01 * r.nextGaussian());
            dy[i] = (float) r.nextGaussian();
        }
        double[] truth = truthDinp(x, dy, n, c, EPS);
        for (SplitKernels k : new SplitKernels[] {JAVA, nat}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment inp = Buffers.of(arena, x);
                MemorySegment dout = Buffers.of(arena, dy);
                MemorySegment stats = arena.allocate(8 * 3 * c, 8);
                MemorySegment sums = arena.allocate(8 * 3 * c, 8);
                MemorySegment mean = arena.allocate(8 * c, 8);
                MemorySegment rstd = arena.allocate(8 * c, 8);
                MemorySegment dinp = arena.allocate(4 * n * c, 64);
                k.statsLocal(stats, inp, Layout.NC, n, c, 1);
                k.statsMerge(mean, rstd, null, null, stats, EPS, 0, 0, c, 1);
                k.backwardReduce(sums, dout, inp, mean, Layout.NC, n, c, 1);
                k.backwardApply(dinp, null, null, dout, inp, null, mean, rstd, sums, 0, DIFF_INP, Layout.NC, n, c, 1, 1);
                double worst = 0;
                float[] got = Buffers.read(dinp, n * c);
                for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - truth[i]));
                assertTrue(worst <= 0.01, k.name() + ": dinp worst error " + worst + " > 0.01");
            }
        }
    }

    /** bn.h's dinp in double from the float inputs, two-pass, NC layout, gamma = 1. */
    public static double[] truthDinp(float[] x, float[] dy, int n, int c, double eps) {
        double[] out = new double[n * c];
        for (int ch = 0; ch < c; ch++) {
            double m = 0, v = 0, t1 = 0, t2 = 0;
            for (int i = 0; i < n; i++) m += x[i * c + ch];
            m /= n;
            for (int i = 0; i < n; i++) v += (x[i * c + ch] - m) * (x[i * c + ch] - m);
            double rs = 1 / Math.sqrt(v / n + eps);
            for (int i = 0; i < n; i++) {
                t1 += dy[i * c + ch];
                t2 += dy[i * c + ch] * (x[i * c + ch] - m) * rs;
            }
            for (int i = 0; i < n; i++) {
                double xhat = (x[i * c + ch] - m) * rs;
                out[i * c + ch] = rs * (dy[i * c + ch] - t1 / n - xhat * t2 / n);
            }
        }
        return out;
    }

    @Test
    void badArgumentsAreRejectedWithTheSameMessageByBothBeforeAnythingIsWritten() {
        long c = 3;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment inp = Buffers.filled(arena, 8 * c, 1f);
            MemorySegment stats = arena.allocate(8 * 3 * c * 2, 8);
            MemorySegment mean = arena.allocate(8 * c + 8, 8);
            MemorySegment rstd = arena.allocate(8 * c, 8);
            for (int i = 0; i < c; i++) stats.setAtIndex(D, i, 1); // part 0: one value each
            for (SplitKernels k : new SplitKernels[] {JAVA, nat}) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> k.statsMerge(mean, rstd, null, null, stats, EPS, 0, 0, c, 2));
                assertEquals("stats: expected more than 1 value per channel when training (all parts together), got 1 in channel 0",
                        e.getMessage(), k.name());
                stats.setAtIndex(D, 3 * c, 2.5);
                e = assertThrows(IllegalArgumentException.class,
                        () -> k.statsMerge(mean, rstd, null, null, stats, EPS, 0, 0, c, 2));
                assertEquals("stats: expected the count of part 1, channel 0 to be a whole number in [0, 2^53], got 2.5",
                        e.getMessage(), k.name());
                stats.setAtIndex(D, 3 * c, 0);
                e = assertThrows(IllegalArgumentException.class,
                        () -> k.statsLocal(stats.asSlice(4), inp, Layout.NC, 8, c, 1));
                assertTrue(e.getMessage().startsWith("stats: expected a 8-byte aligned address"), e.getMessage());
                e = assertThrows(IllegalArgumentException.class,
                        () -> k.statsLocal(stats.asSlice(0, 8 * 3 * c - 8), inp, Layout.NC, 8, c, 1));
                assertEquals("stats: expected at least 72 bytes (3*C = 9 doubles), got 64", e.getMessage());
                e = assertThrows(IllegalArgumentException.class,
                        () -> k.forwardApply(inp.asSlice(4), inp, mean, rstd, null, null, 0, Layout.NC, 7, c, 1));
                assertTrue(e.getMessage().startsWith("out: expected no overlap with inp except exact identity"),
                        e.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> nat.statsLocal(
                    MemorySegment.ofArray(new double[9]), inp, Layout.NC, 8, c, 1), "heap segment to native");
        }
    }

    static double[] concat(double[] a, double[] b) {
        double[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static float[] concat(float[] a, float[] b) {
        float[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
