package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link JavaHalfKernels}: with F32 it is {@link JavaKernels} bit for bit; with BF16 and F16 each
 * activation output is the double-precision {@link Reference} on the exactly widened inputs
 * rounded once (within half an ulp of the format, widened here independently of {@link Half}),
 * and the float32 outputs are JavaKernels' on the widened inputs, bit for bit.
 */
class JavaHalfKernelsTest {

    static final int[][] SHAPES = {{2, 1, 1}, {3, 2, 1}, {7, 3, 1}, {2, 3, 5}, {4, 13, 7}, {2, 2, 64}, {5, 4, 3}};
    static final double EPS = 1e-5;

    /** The float value of a 16-bit element, by the formats' definitions (not {@link Half}). */
    static float widen(DType d, short h) {
        return d == DType.BF16 ? Float.intBitsToFloat((h & 0xffff) << 16) : Float.float16ToFloat(h);
    }

    /** Half an ulp of the format at v (normal or subnormal range). */
    static double halfUlp(DType d, double v) {
        int e = Math.getExponent(v);
        return d == DType.BF16 ? Math.scalb(0.5, Math.max(e, -126) - 7) : Math.scalb(0.5, Math.max(e, -14) - 10);
    }

    /** A buffer of count activations of dtype: each value rounded to it (for F32 the floats). */
    static MemorySegment activations(Arena arena, DType d, float[] v) {
        MemorySegment s = arena.allocate((long) d.bytes() * v.length, 4);
        for (int i = 0; i < v.length; i++) {
            if (d == DType.F32) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
            else s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.narrow(d, v[i]));
        }
        return s;
    }

    static double[] values(DType d, MemorySegment s, int count) {
        double[] out = new double[count];
        for (int i = 0; i < count; i++) {
            out[i] = d == DType.F32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT, i) : widen(d, s.getAtIndex(ValueLayout.JAVA_SHORT, i));
        }
        return out;
    }

    static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    static void assertRoundedOnce(DType d, double[] truth, double[] got, String what) {
        for (int i = 0; i < truth.length; i++) {
            double bound = halfUlp(d, truth[i]) + 1e-9 * Math.abs(truth[i]);
            if (!(Math.abs(got[i] - truth[i]) <= bound)) {
                throw new AssertionError(what + "[" + i + "]: " + got[i] + ", truth " + truth[i] + ", more than half a "
                        + d + " ulp (" + halfUlp(d, truth[i]) + ") away");
            }
        }
    }

    @Test
    void withF32ItIsJavaKernelsBitForBit() {
        Random random = new Random(1);
        for (Layout layout : Layout.values()) {
            for (int[] sh : SHAPES) {
                int n = sh[0], c = sh[1], s = layout == Layout.NC ? 1 : sh[2], count = n * c * s;
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment x = Buffers.of(arena, Buffers.gaussian(random, count, 1, 2));
                    MemorySegment dy = Buffers.of(arena, Buffers.gaussian(random, count, 0, 1));
                    MemorySegment g = Buffers.of(arena, Buffers.uniform(random, c, 0.5, 2));
                    MemorySegment b = Buffers.of(arena, Buffers.uniform(random, c, -1, 1));
                    MemorySegment[] a = new MemorySegment[12], j = new MemorySegment[12];
                    for (int k = 0; k < 12; k++) {
                        a[k] = Buffers.filled(arena, count, 0.25f);
                        j[k] = Buffers.filled(arena, count, 0.25f);
                    }
                    int flags = USE_SCALE | USE_SHIFT | UPDATE_RUNNING;
                    JavaHalfKernels.forwardTraining(a[0], a[1], a[2], a[3], a[4], x, g, b, EPS, 0.1, flags, DType.F32,
                            layout, n, c, s);
                    JavaKernels.INSTANCE.forwardTraining(j[0], j[1], j[2], j[3], j[4], x, g, b, EPS, 0.1, flags, layout, n, c, s);
                    JavaHalfKernels.forwardInference(a[5], x, a[1], a[4], g, b, EPS, USE_SCALE | USE_SHIFT, DType.F32, layout, n, c, s);
                    JavaKernels.INSTANCE.forwardInference(j[5], x, j[1], j[4], g, b, EPS, USE_SCALE | USE_SHIFT, layout, n, c, s);
                    for (int global = 0; global < 2; global++) {
                        int f = USE_SCALE | (global == 1 ? USE_GLOBAL_STATS : 0);
                        JavaHalfKernels.backward(a[6 + 3 * global], a[7 + 3 * global], a[8 + 3 * global], dy, x, g, a[1], a[2],
                                f, DIFF_INP | DIFF_SCALE | DIFF_SHIFT, DType.F32, layout, n, c, s);
                        JavaKernels.INSTANCE.backward(j[6 + 3 * global], j[7 + 3 * global], j[8 + 3 * global], dy, x, g, j[1], j[2],
                                f, DIFF_INP | DIFF_SCALE | DIFF_SHIFT, layout, n, c, s);
                    }
                    for (int k = 0; k < 12; k++) {
                        assertEquals(-1, a[k].mismatch(j[k]), layout + " " + n + "x" + c + "x" + s + " output " + k);
                    }
                }
            }
        }
    }

    @Test
    void halfOutputsAreTheTruthRoundedOnceAndFloatOutputsJavaKernelsOnTheWidenedInputs() {
        Random random = new Random(2);
        for (DType d : new DType[] {DType.BF16, DType.F16}) {
            for (Layout layout : Layout.values()) {
                for (int[] sh : SHAPES) {
                    int n = sh[0], c = sh[1], s = layout == Layout.NC ? 1 : sh[2], count = n * c * s;
                    String what = d + " " + layout + " " + n + "x" + c + "x" + s;
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment x = activations(arena, d, Buffers.gaussian(random, count, 3, 2));
                        MemorySegment dy = activations(arena, d, Buffers.gaussian(random, count, 0, 1));
                        double[] xv = values(d, x, count), dyv = values(d, dy, count);
                        float[] gf = Buffers.uniform(random, c, 0.5, 2), bf = Buffers.uniform(random, c, -1, 1);
                        MemorySegment g = Buffers.of(arena, gf), b = Buffers.of(arena, bf);
                        MemorySegment out = arena.allocate((long) d.bytes() * count, 4);
                        MemorySegment mean = Buffers.filled(arena, c, 0), rstd = Buffers.filled(arena, c, 0);
                        MemorySegment rm = Buffers.filled(arena, c, 0.5f), rv = Buffers.filled(arena, c, 2f);
                        JavaHalfKernels.forwardTraining(out, mean, rstd, rm, rv, x, g, b, EPS, 0.1,
                                USE_SCALE | USE_SHIFT | UPDATE_RUNNING, d, layout, n, c, s);
                        double[][] ref = Reference.forwardTraining(xv, Buffers.toDouble(gf), Buffers.toDouble(bf), EPS, layout, n, c, s);
                        assertRoundedOnce(d, ref[0], values(d, out, count), what + " out");

                        // the float32 outputs: JavaKernels on the widened inputs
                        MemorySegment xf = Buffers.of(arena, floats(xv)), dyf = Buffers.of(arena, floats(dyv));
                        MemorySegment outf = Buffers.filled(arena, count, 0), meanf = Buffers.filled(arena, c, 0);
                        MemorySegment rstdf = Buffers.filled(arena, c, 0);
                        MemorySegment rmf = Buffers.filled(arena, c, 0.5f), rvf = Buffers.filled(arena, c, 2f);
                        JavaKernels.INSTANCE.forwardTraining(outf, meanf, rstdf, rmf, rvf, xf, g, b, EPS, 0.1,
                                USE_SCALE | USE_SHIFT | UPDATE_RUNNING, layout, n, c, s);
                        assertEquals(-1, mean.mismatch(meanf), what + " save_mean");
                        assertEquals(-1, rstd.mismatch(rstdf), what + " save_rstd");
                        assertEquals(-1, rm.mismatch(rmf), what + " running_mean");
                        assertEquals(-1, rv.mismatch(rvf), what + " running_var");

                        MemorySegment inf = arena.allocate((long) d.bytes() * count, 4);
                        JavaHalfKernels.forwardInference(inf, x, rm, rv, g, b, EPS, USE_SCALE | USE_SHIFT, d, layout, n, c, s);
                        double[] rmv = Buffers.toDouble(Buffers.read(rm, c)), rvv = Buffers.toDouble(Buffers.read(rv, c));
                        assertRoundedOnce(d, Reference.normalize(xv, rmv, Reference.rstd(rvv, EPS), Buffers.toDouble(gf),
                                Buffers.toDouble(bf), layout, n, c, s), values(d, inf, count), what + " inference out");

                        for (boolean global : new boolean[] {false, true}) {
                            MemorySegment dinp = arena.allocate((long) d.bytes() * count, 4);
                            MemorySegment dg = Buffers.filled(arena, c, 0), db = Buffers.filled(arena, c, 0);
                            JavaHalfKernels.backward(dinp, dg, db, dy, x, g, mean, rstd, USE_SCALE | (global ? USE_GLOBAL_STATS : 0),
                                    DIFF_INP | DIFF_SCALE | DIFF_SHIFT, d, layout, n, c, s);
                            double[][] back = Reference.backward(dyv, xv, Buffers.toDouble(gf), Buffers.toDouble(Buffers.read(mean, c)),
                                    Buffers.toDouble(Buffers.read(rstd, c)), global, layout, n, c, s);
                            assertRoundedOnce(d, back[0], values(d, dinp, count), what + " dinp global=" + global);
                            MemorySegment dinpf = Buffers.filled(arena, count, 0);
                            MemorySegment dgf = Buffers.filled(arena, c, 0), dbf = Buffers.filled(arena, c, 0);
                            JavaKernels.INSTANCE.backward(dinpf, dgf, dbf, dyf, xf, g, mean, rstd,
                                    USE_SCALE | (global ? USE_GLOBAL_STATS : 0), DIFF_INP | DIFF_SCALE | DIFF_SHIFT, layout, n, c, s);
                            assertEquals(-1, dg.mismatch(dgf), what + " dgamma");
                            assertEquals(-1, db.mismatch(dbf), what + " dbeta");
                        }
                    }
                }
            }
        }
    }

    @Test
    void inPlaceIsTheSameAsOutOfPlace() {
        Random random = new Random(3);
        int n = 4, c = 3, s = 5, count = n * c * s;
        try (Arena arena = Arena.ofConfined()) {
            float[] xs = Buffers.gaussian(random, count, 0, 1);
            MemorySegment x = activations(arena, DType.BF16, xs), y = activations(arena, DType.BF16, xs);
            MemorySegment out = arena.allocate(2L * count, 4);
            MemorySegment m1 = Buffers.filled(arena, c, 0), r1 = Buffers.filled(arena, c, 0);
            MemorySegment m2 = Buffers.filled(arena, c, 0), r2 = Buffers.filled(arena, c, 0);
            JavaHalfKernels.forwardTraining(out, m1, r1, null, null, x, null, null, EPS, 0, 0, DType.BF16, Layout.NCHW, n, c, s);
            JavaHalfKernels.forwardTraining(y, m2, r2, null, null, y, null, null, EPS, 0, 0, DType.BF16, Layout.NCHW, n, c, s);
            assertEquals(-1, out.mismatch(y));
            assertEquals(-1, m1.mismatch(m2));
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment act = arena.allocate(2 * 12, 4), ch = Buffers.filled(arena, 3, 1);
            MemorySegment ch2 = Buffers.filled(arena, 3, 1);
            expect("out: expected at least 24 bytes (N*C*S = 12 BF16 elements), got 22", () -> JavaHalfKernels.forwardTraining(
                    act.asSlice(2), ch, ch2, null, null, act, null, null, EPS, 0, 0, DType.BF16, Layout.NC, 4, 3, 1));
            MemorySegment big = arena.allocate(4 * 12, 4);
            expect("inp: expected at least 48 bytes (N*C*S = 12 F32 elements), got 24", () -> JavaHalfKernels.forwardTraining(
                    big, ch, ch2, null, null, act, null, null, EPS, 0, 0, DType.F32, Layout.NC, 4, 3, 1));
            expect("dtype: expected one of F32, BF16, F16, got null", () -> JavaHalfKernels.forwardInference(
                    act, act, ch, ch2, null, null, EPS, 0, null, Layout.NC, 4, 3, 1));
            expect("gamma: expected null", () -> JavaHalfKernels.forwardInference(
                    act, act, ch, ch2, ch, null, EPS, 0, DType.F16, Layout.NC, 4, 3, 1));
            expect("beta: expected a segment of 3 floats, got null", () -> JavaHalfKernels.forwardInference(
                    act, act, ch, ch2, null, null, EPS, USE_SHIFT, DType.F16, Layout.NC, 4, 3, 1));
            expect("eps: expected a finite number > 0, got NaN", () -> JavaHalfKernels.forwardInference(
                    act, act, ch, ch2, null, null, Double.NaN, 0, DType.F16, Layout.NC, 4, 3, 1));
            expect("n*s: expected more than 1 value per channel", () -> JavaHalfKernels.forwardTraining(
                    act, ch, ch2, null, null, act, null, null, EPS, 0, 0, DType.BF16, Layout.NC, 1, 3, 1));
            expect("mask: expected a non-empty set", () -> JavaHalfKernels.backward(
                    null, null, null, act, act, null, ch, ch2, 0, 0, DType.BF16, Layout.NC, 4, 3, 1));
            expect("s: expected 1 for layout NC, got 2", () -> JavaHalfKernels.backward(
                    act, null, null, act, act, null, ch, ch2, 0, DIFF_INP, DType.BF16, Layout.NC, 2, 3, 2));
        }
    }

    private static void expect(String message, Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().startsWith(message), () -> "expected \"" + message + "...\", got \"" + e.getMessage() + "\"");
    }
}
