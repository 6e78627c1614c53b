package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_RES;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_ADD;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_RELU;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The oracle ({@link JavaKernels}, {@link JavaSplitKernels}) with 16-bit activations (DATA_BF16,
 * DATA_F16), every layout, scale/shift, fusion, global-statistics and mask combination, against a
 * double computation on the exactly widened inputs written here ({@link Reference}, the fused add
 * and ReLU, the gate), with the formats widened independently of {@link Half}:
 * <ul>
 * <li>each activation output is that truth rounded once: within half an ulp of the format (a fused
 *     add is float arithmetic by its definition, so its float rounding of the normalized value is
 *     allowed too); dres is the gated dout exactly;
 * <li>each float32 or double per-channel output is, bit for bit, that of the same call with
 *     float32 activations holding the widened values (the definition in bn.h; the float32 path is
 *     checked against {@link Reference} by JavaKernelsTest).
 * </ul>
 */
class HalfOracleTest {

    static final int[][] SHAPES = {{2, 1, 1}, {3, 2, 1}, {7, 3, 1}, {2, 3, 5}, {4, 13, 7}, {2, 2, 64}};
    static final double EPS = 1e-5;
    static final DType[] HALVES = {DType.BF16, DType.F16};
    static final int[] FUSIONS = {0, FUSE_RELU, FUSE_ADD, FUSE_RELU | FUSE_ADD};

    /** The float value of a 16-bit element, by the formats' definitions (not {@link Half}). */
    static float widen(DType d, short h) {
        return d == DType.BF16 ? Float.intBitsToFloat((h & 0xffff) << 16) : Float.float16ToFloat(h);
    }

    /** Half an ulp of the format at v (normal or subnormal range). */
    static double halfUlp(DType d, double v) {
        int e = Math.getExponent(v);
        return d == DType.BF16 ? Math.scalb(0.5, Math.max(e, -126) - 7) : Math.scalb(0.5, Math.max(e, -14) - 10);
    }

    /** A buffer of activations of dtype: each value rounded to it (for F32 the floats). */
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

    /** got within half an ulp of the format of truth, plus {@code slack[i]} (null: none). */
    static void assertRoundedOnce(DType d, double[] truth, double[] slack, double[] got, String what) {
        for (int i = 0; i < truth.length; i++) {
            double bound = halfUlp(d, truth[i]) + 1e-9 * Math.abs(truth[i]) + (slack == null ? 0 : slack[i]);
            if (!(Math.abs(got[i] - truth[i]) <= bound)) {
                throw new AssertionError(what + "[" + i + "]: " + got[i] + ", truth " + truth[i] + ", more than half a "
                        + d + " ulp (" + halfUlp(d, truth[i]) + ") away");
            }
        }
    }

    /** The fused forward written out: with FUSE_ADD float(y) + res in float, then with FUSE_RELU max(z, 0). */
    static double[] fused(double[] y, double[] res, int fuse) {
        double[] z = new double[y.length];
        for (int i = 0; i < y.length; i++) {
            double v = (fuse & FUSE_ADD) != 0 ? (double) ((float) y[i] + (float) res[i]) : y[i];
            z[i] = (fuse & FUSE_RELU) != 0 && v <= 0 ? 0 : v;
        }
        return z;
    }

    /** The float rounding of y a fused add allows (0 without FUSE_ADD). */
    static double[] addSlack(double[] y, int fuse) {
        double[] e = new double[y.length];
        if ((fuse & FUSE_ADD) != 0) {
            for (int i = 0; i < y.length; i++) e[i] = Math.ulp((float) y[i]);
        }
        return e;
    }

    /** dout gated by the forward's output with FUSE_RELU. */
    static double[] gated(double[] dout, double[] out, int flags) {
        double[] g = dout.clone();
        if ((flags & FUSE_RELU) != 0) {
            for (int i = 0; i < g.length; i++) if (out[i] <= 0) g[i] = 0;
        }
        return g;
    }

    /** The random activations and parameters of one case, as 16-bit buffers and as their float32 widening. */
    record Case(DType d, Layout layout, int n, int c, int s, MemorySegment x, MemorySegment res, MemorySegment dy,
                double[] xv, double[] resv, double[] dyv, float[] gf, float[] bf, Arena arena) {
        static Case of(Arena arena, DType d, Layout layout, int[] sh, Random random) {
            int n = sh[0], c = sh[1], s = layout == Layout.NC ? 1 : sh[2], count = n * c * s;
            MemorySegment x = activations(arena, d, Buffers.gaussian(random, count, 3, 2));
            MemorySegment res = activations(arena, d, Buffers.gaussian(random, count, 0, 1));
            MemorySegment dy = activations(arena, d, Buffers.gaussian(random, count, 0, 1));
            return new Case(d, layout, n, c, s, x, res, dy, values(d, x, count), values(d, res, count), values(d, dy, count),
                    Buffers.uniform(random, c, 0.5, 2), Buffers.uniform(random, c, -1, 1), arena);
        }

        int count() {
            return n * c * s;
        }

        MemorySegment act() {
            return arena.allocate((long) d.bytes() * count(), 4);
        }

        /** The same activation as float32 (the widened values). */
        MemorySegment wide(double[] v) {
            return Buffers.of(arena, floats(v));
        }

        String name(String more) {
            return d + " " + layout + " " + n + "x" + c + "x" + s + " " + more;
        }
    }

    static MemorySegment orNull(boolean present, MemorySegment segment) {
        return present ? segment : null;
    }

    @Test
    void everyFlagFusionAndMaskIsTheTruthRoundedOnce() {
        Random random = new Random(2);
        BatchNormKernels k = JavaKernels.INSTANCE;
        for (DType d : HALVES) {
            for (Layout layout : Layout.values()) {
                for (int[] sh : SHAPES) {
                    for (int affine = 0; affine <= (USE_SCALE | USE_SHIFT); affine++) {
                        for (int fuse : FUSIONS) {
                            try (Arena arena = Arena.ofConfined()) {
                                oneCase(k, Case.of(arena, d, layout, sh, random), affine, fuse);
                            }
                        }
                    }
                }
            }
        }
    }

    private static void oneCase(BatchNormKernels k, Case p, int affine, int fuse) {
        int n = p.n, c = p.c, s = p.s, count = p.count();
        DType d = p.d;
        Arena arena = p.arena;
        boolean scale = (affine & USE_SCALE) != 0, shift = (affine & USE_SHIFT) != 0, add = (fuse & FUSE_ADD) != 0;
        MemorySegment g = orNull(scale, Buffers.of(arena, p.gf)), b = orNull(shift, Buffers.of(arena, p.bf));
        double[] gd = scale ? Buffers.toDouble(p.gf) : null, bd = shift ? Buffers.toDouble(p.bf) : null;
        String what = p.name("flags=0x" + Integer.toHexString(affine | fuse));

        // forward training, and the same call on the widened float32 activations
        int flags = affine | fuse | UPDATE_RUNNING;
        MemorySegment out = p.act(), mean = Buffers.filled(arena, c, 0), rstd = Buffers.filled(arena, c, 0);
        MemorySegment rm = Buffers.filled(arena, c, 0.5f), rv = Buffers.filled(arena, c, 2f);
        k.forwardTraining(out, mean, rstd, rm, rv, p.x, orNull(add, p.res), g, b, EPS, 0.1, flags | d.flags(),
                p.layout, n, c, s);
        double[] y = Reference.forwardTraining(p.xv, gd, bd, EPS, p.layout, n, c, s)[0];
        assertRoundedOnce(d, fused(y, p.resv, fuse), addSlack(y, fuse), values(d, out, count), what + " out");
        MemorySegment meanf = Buffers.filled(arena, c, 0), rstdf = Buffers.filled(arena, c, 0);
        MemorySegment rmf = Buffers.filled(arena, c, 0.5f), rvf = Buffers.filled(arena, c, 2f);
        k.forwardTraining(Buffers.filled(arena, count, 0), meanf, rstdf, rmf, rvf, p.wide(p.xv), orNull(add, p.wide(p.resv)),
                g, b, EPS, 0.1, flags, p.layout, n, c, s);
        assertEquals(-1, mean.mismatch(meanf), what + " save_mean");
        assertEquals(-1, rstd.mismatch(rstdf), what + " save_rstd");
        assertEquals(-1, rm.mismatch(rmf), what + " running_mean");
        assertEquals(-1, rv.mismatch(rvf), what + " running_var");

        // forward inference on the running statistics
        MemorySegment inf = p.act();
        k.forwardInference(inf, p.x, orNull(add, p.res), rm, rv, g, b, EPS, affine | fuse | d.flags(), p.layout, n, c, s);
        double[] yi = Reference.normalize(p.xv, Buffers.toDouble(Buffers.read(rm, c)),
                Reference.rstd(Buffers.toDouble(Buffers.read(rv, c)), EPS), gd, bd, p.layout, n, c, s);
        assertRoundedOnce(d, fused(yi, p.resv, fuse), addSlack(yi, fuse), values(d, inf, count), what + " inference out");

        // backward: every mask, batch and global statistics, dout gated by the training forward's out
        double[] outv = values(d, out, count);
        double[] gv = gated(p.dyv, outv, fuse);
        for (boolean global : new boolean[] {false, true}) {
            int bflags = (affine & USE_SCALE) | fuse | (global ? USE_GLOBAL_STATS : 0);
            double[][] back = Reference.backward(gv, p.xv, gd, Buffers.toDouble(Buffers.read(mean, c)),
                    Buffers.toDouble(Buffers.read(rstd, c)), global, p.layout, n, c, s);
            for (int mask = 1; mask <= (add ? 15 : 7); mask++) {
                String w = what + " global=" + global + " mask=" + mask;
                boolean di = (mask & DIFF_INP) != 0, dr = (mask & DIFF_RES) != 0;
                boolean dgm = (mask & DIFF_SCALE) != 0, dbm = (mask & DIFF_SHIFT) != 0;
                MemorySegment dinp = orNull(di, p.act()), dres = orNull(dr, p.act());
                MemorySegment dg = orNull(dgm, Buffers.filled(arena, c, 0)), db = orNull(dbm, Buffers.filled(arena, c, 0));
                MemorySegment o = orNull((fuse & FUSE_RELU) != 0, out);
                k.backward(dinp, dres, dg, db, p.dy, o, p.x, g, mean, rstd, bflags | d.flags(), mask, p.layout, n, c, s);
                if (di) assertRoundedOnce(d, back[0], null, values(d, dinp, count), w + " dinp");
                if (dr) assertEquals(java.util.Arrays.toString(gv), java.util.Arrays.toString(values(d, dres, count)), w + " dres");
                MemorySegment dgf = orNull(dgm, Buffers.filled(arena, c, 0)), dbf = orNull(dbm, Buffers.filled(arena, c, 0));
                k.backward(orNull(di, Buffers.filled(arena, count, 0)), orNull(dr, Buffers.filled(arena, count, 0)), dgf, dbf,
                        p.wide(p.dyv), orNull((fuse & FUSE_RELU) != 0, p.wide(outv)), p.wide(p.xv), g, mean, rstd, bflags,
                        mask, p.layout, n, c, s);
                if (dgm) assertEquals(-1, dg.mismatch(dgf), w + " dgamma");
                if (dbm) assertEquals(-1, db.mismatch(dbf), w + " dbeta");
            }
        }
    }

    @Test
    void splitPhaseOverOneAndTwoPartsIsTheTruthRoundedOnce() {
        Random random = new Random(4);
        SplitKernels k = JavaSplitKernels.INSTANCE;
        for (DType d : HALVES) {
            for (Layout layout : Layout.values()) {
                for (int[] sh : SHAPES) {
                    if (sh[0] < 2) continue;
                    for (int fuse : FUSIONS) {
                        for (int parts = 1; parts <= 2; parts++) {
                            try (Arena arena = Arena.ofConfined()) {
                                splitCase(k, Case.of(arena, d, layout, sh, random), fuse, parts);
                            }
                        }
                    }
                }
            }
        }
    }

    /** The batch split along N into {@code parts}; each part's slices of the activations of element size {@code e}. */
    private static void splitCase(SplitKernels k, Case p, int fuse, int parts) {
        int n = p.n, c = p.c, s = p.s, count = p.count();
        DType d = p.d;
        Arena arena = p.arena;
        boolean add = (fuse & FUSE_ADD) != 0, relu = (fuse & FUSE_RELU) != 0;
        String what = p.name("fuse=0x" + Integer.toHexString(fuse) + " parts=" + parts);
        int[] start = parts == 1 ? new int[] {0, n} : new int[] {0, n / 2, n};
        long per = (long) c * s;
        MemorySegment g = Buffers.of(arena, p.gf), b = Buffers.of(arena, p.bf);
        MemorySegment xw = p.wide(p.xv);
        // statistics of every part, in half and on the widened float32 activations: the same bits
        MemorySegment stats = arena.allocate(24L * c * parts, 8), statsf = arena.allocate(24L * c * parts, 8);
        for (int q = 0; q < parts; q++) {
            int nq = start[q + 1] - start[q];
            k.statsLocal(stats.asSlice(24L * c * q), slice(p.x, d, start[q] * per), d.flags(), p.layout, nq, c, s);
            k.statsLocal(statsf.asSlice(24L * c * q), slice(xw, DType.F32, start[q] * per), p.layout, nq, c, s);
        }
        assertEquals(-1, stats.mismatch(statsf), what + " stats");
        MemorySegment mean = arena.allocate(8L * c, 8), rstd = arena.allocate(8L * c, 8);
        k.statsMerge(mean, rstd, null, null, stats, EPS, 0, 0, c, parts);
        double[][] ref = Reference.forwardTraining(p.xv, Buffers.toDouble(p.gf), Buffers.toDouble(p.bf), EPS, p.layout, n, c, s);
        MemorySegment out = p.act();
        int flags = USE_SCALE | USE_SHIFT | fuse | d.flags();
        for (int q = 0; q < parts; q++) {
            long at = start[q] * per;
            k.forwardApply(slice(out, d, at), slice(p.x, d, at), add ? slice(p.res, d, at) : null, mean, rstd, g, b, flags,
                    p.layout, start[q + 1] - start[q], c, s);
        }
        assertRoundedOnce(d, fused(ref[0], p.resv, fuse), addSlack(ref[0], fuse), values(d, out, count), what + " out");

        double[] outv = values(d, out, count), gv = gated(p.dyv, outv, fuse);
        double[] meanD = new double[c], rstdD = new double[c];
        for (int ch = 0; ch < c; ch++) {
            meanD[ch] = mean.getAtIndex(ValueLayout.JAVA_DOUBLE, ch);
            rstdD[ch] = rstd.getAtIndex(ValueLayout.JAVA_DOUBLE, ch);
        }
        double[][] back = Reference.backward(gv, p.xv, Buffers.toDouble(p.gf), meanD, rstdD, false, p.layout, n, c, s);
        MemorySegment sums = arena.allocate(24L * c * parts, 8), sumsf = arena.allocate(24L * c * parts, 8);
        MemorySegment outw = p.wide(outv), dyw = p.wide(p.dyv);
        for (int q = 0; q < parts; q++) {
            long at = start[q] * per;
            int nq = start[q + 1] - start[q];
            k.backwardReduce(sums.asSlice(24L * c * q), slice(p.dy, d, at), relu ? slice(out, d, at) : null, slice(p.x, d, at),
                    mean, (fuse & FUSE_RELU) | d.flags(), p.layout, nq, c, s);
            k.backwardReduce(sumsf.asSlice(24L * c * q), slice(dyw, DType.F32, at), relu ? slice(outw, DType.F32, at) : null,
                    slice(xw, DType.F32, at), mean, fuse & FUSE_RELU, p.layout, nq, c, s);
        }
        assertEquals(-1, sums.mismatch(sumsf), what + " sums");
        for (int mask = 1; mask <= (add ? 15 : 7); mask++) {
            boolean di = (mask & DIFF_INP) != 0, dr = (mask & DIFF_RES) != 0;
            MemorySegment dinp = orNull(di, p.act()), dres = orNull(dr, p.act());
            MemorySegment dg = orNull((mask & DIFF_SCALE) != 0, Buffers.filled(arena, c, 0));
            MemorySegment db = orNull((mask & DIFF_SHIFT) != 0, Buffers.filled(arena, c, 0));
            for (int q = 0; q < parts; q++) {
                long at = start[q] * per;
                k.backwardApply(di ? slice(dinp, d, at) : null, dr ? slice(dres, d, at) : null, dg, db, slice(p.dy, d, at),
                        relu ? slice(out, d, at) : null, slice(p.x, d, at), g, mean, rstd, sums,
                        USE_SCALE | fuse | d.flags(), mask, p.layout, start[q + 1] - start[q], c, s, parts);
            }
            String w = what + " mask=" + mask;
            if (di) assertRoundedOnce(d, back[0], null, values(d, dinp, count), w + " dinp");
            if (dr) assertEquals(java.util.Arrays.toString(gv), java.util.Arrays.toString(values(d, dres, count)), w + " dres");
            if (dg != null) HalfGoldenTest.close(Buffers.read(dg, c), back[1], w + " dgamma");
            if (db != null) HalfGoldenTest.close(Buffers.read(db, c), back[2], w + " dbeta");
        }
    }

    /** The activations of a segment from element {@code at} on (NCHW, NHWC and NC all split along N). */
    static MemorySegment slice(MemorySegment segment, DType d, long at) {
        return segment.asSlice(at * d.bytes());
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
            JavaKernels.INSTANCE.forwardTraining(out, m1, r1, null, null, x, null, null, EPS, 0, DType.BF16.flags(),
                    Layout.NCHW, n, c, s);
            JavaKernels.INSTANCE.forwardTraining(y, m2, r2, null, null, y, null, null, EPS, 0, DType.BF16.flags(),
                    Layout.NCHW, n, c, s);
            assertEquals(-1, out.mismatch(y));
            assertEquals(-1, m1.mismatch(m2));
        }
    }

    @Test
    void splitPhaseChecksNameHalfBuffers() {
        SplitKernels k = JavaSplitKernels.INSTANCE;
        int n = 4, c = 3, count = n * c;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stats = arena.allocate(24L * c, 8), mean = arena.allocate(8L * c, 8);
            MemorySegment small = arena.allocate(2L * count - 2, 2), half = arena.allocate(2L * count, 2);
            expect("flags: expected at most one of DATA_BF16 (0x40) and DATA_F16 (0x80), got 0xc0",
                    () -> k.statsLocal(stats, half, DType.BF16.flags() | DType.F16.flags(), Layout.NC, n, c, 1));
            expect("flags: expected a subset of 0xc0 (DATA_BF16 | DATA_F16), got 0x1",
                    () -> k.statsLocal(stats, half, USE_SCALE, Layout.NC, n, c, 1));
            expect("inp: expected at least 24 bytes (N*C*S = 12 BF16 elements), got 22",
                    () -> k.statsLocal(stats, small, DType.BF16.flags(), Layout.NC, n, c, 1));
            expect("dout: expected at least 24 bytes (N*C*S = 12 F16 elements), got 22",
                    () -> k.backwardReduce(stats, small, null, half, mean, DType.F16.flags(), Layout.NC, n, c, 1));
            expect("out: expected a 2-byte aligned address",
                    () -> k.forwardApply(arena.allocate(2L * count + 2, 2).asSlice(1, 2L * count), half, null, mean, mean,
                            null, null, DType.BF16.flags(), Layout.NC, n, c, 1));
        }
    }

    private static void expect(String message, Runnable r) {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, r::run);
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith(message),
                () -> "expected \"" + message + "...\", got \"" + e.getMessage() + "\"");
    }

    @Test
    void dtypeFlagsRoundTrip() {
        for (DType d : DType.values()) assertEquals(d, DType.ofFlags(d.flags() | USE_SCALE | FUSE_RELU));
        assertEquals(0, DType.F32.flags());
    }
}
