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
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fused forms (FUSE_RELU, FUSE_ADD) of each implementation against the same implementation's
 * unfused kernels followed (forward) or preceded (backward) by the add and the ReLU written out
 * here: forward out = relu(float(bn + res)); backward on g = out &lt;= 0 ? 0 : dout, dres = g. The
 * composition uses the same kernels on the same values, so the results must agree bit for bit;
 * the unfused kernels themselves are checked against PyTorch and the oracle elsewhere. In place
 * (out == res, out == inp, dres == dout, dinp == dout) gives the same bits. One-shot and split
 * phase, every layout, shapes that cross the native views (S = 1, short and long runs, C &lt; 64).
 */
class FusedKernelsTest {

    static Stream<Arguments> cases() {
        long[][] ncs = {{7, 5, 1}, {3, 4, 5}, {2, 70, 1}, {2, 3, 600}, {5, 130, 9}, {64, 3, 1}};
        int[] fusions = {FUSE_RELU, FUSE_ADD, FUSE_ADD | FUSE_RELU};
        List<Arguments> out = new ArrayList<>();
        for (String kernels : List.of("java", "native")) {
            for (long[] d : ncs) {
                for (Layout layout : Layout.values()) {
                    if (layout == Layout.NC && d[2] != 1) continue;
                    for (int f : fusions) {
                        out.add(Arguments.of(kernels, layout, d[0], d[1], d[2], f));
                    }
                }
            }
        }
        return out.stream();
    }

    /** Random inputs of one case; about a third of the normalized values fall below zero after the add. */
    private record Data(Arena arena, long count, int c, float[] inp, float[] res, float[] gamma, float[] beta,
                        float[] dout) {
        static Data of(Arena arena, long n, long c, long s, long seed) {
            Random r = new Random(seed);
            int count = Math.toIntExact(n * c * s);
            return new Data(arena, count, (int) c, Buffers.gaussian(r, count, 3, 2), Buffers.gaussian(r, count, 0.3, 1),
                    Buffers.uniform(r, (int) c, 0.5, 1.5), Buffers.uniform(r, (int) c, -0.5, 0.5),
                    Buffers.gaussian(r, count, 0, 1));
        }

        MemorySegment seg(float[] values) {
            return Buffers.of(arena, values);
        }
    }

    /** The add and the ReLU of the fused forward, on an unfused output. */
    private static float[] addRelu(float[] y, float[] res, int flags) {
        float[] z = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            float v = (flags & FUSE_ADD) != 0 ? y[i] + res[i] : y[i];
            z[i] = (flags & FUSE_RELU) != 0 && !(v > 0) && v == v ? 0f : v;
        }
        return z;
    }

    private static float[] gated(float[] dout, float[] out, int flags) {
        float[] g = new float[dout.length];
        for (int i = 0; i < g.length; i++) {
            g[i] = (flags & FUSE_RELU) != 0 && out[i] <= 0 ? 0f : dout[i];
        }
        return g;
    }

    @ParameterizedTest(name = "{0} {1} N={2} C={3} S={4} flags=0x{5}")
    @MethodSource("cases")
    void oneShotEqualsComposition(String name, Layout layout, long n, long c, long s, int fuse) {
        BatchNormKernels k = Kernels.named(name);
        try (Arena arena = Arena.ofConfined()) {
            Data d = Data.of(arena, n, c, s, 31 * n + 7 * c + s + fuse);
            int affine = USE_SCALE | USE_SHIFT;
            MemorySegment res = (fuse & FUSE_ADD) != 0 ? d.seg(d.res) : null;
            // training: fused, in place on res when there is one (out == res), else on inp
            MemorySegment out = res != null ? res : d.seg(d.inp);
            MemorySegment mean = d.seg(new float[d.c]), rstd = d.seg(new float[d.c]);
            MemorySegment rm = d.seg(new float[d.c]), rv = d.seg(Buffers.uniform(new Random(1), d.c, 1, 1));
            k.forwardTraining(out, mean, rstd, rm, rv, res != null ? d.seg(d.inp) : out, res, d.seg(d.gamma),
                    d.seg(d.beta), 1e-5, 0.1, affine | UPDATE_RUNNING | fuse, layout, n, c, s);
            MemorySegment y = d.seg(new float[(int) d.count]);
            MemorySegment mean0 = d.seg(new float[d.c]), rstd0 = d.seg(new float[d.c]);
            MemorySegment rm0 = d.seg(new float[d.c]), rv0 = d.seg(Buffers.uniform(new Random(1), d.c, 1, 1));
            k.forwardTraining(y, mean0, rstd0, rm0, rv0, d.seg(d.inp), d.seg(d.gamma), d.seg(d.beta), 1e-5, 0.1,
                    affine | UPDATE_RUNNING, layout, n, c, s);
            float[] fusedOut = Buffers.read(out, d.count);
            assertBits(addRelu(Buffers.read(y, d.count), d.res, fuse), fusedOut, "training out");
            assertBits(Buffers.read(mean0, c), Buffers.read(mean, c), "saveMean");
            assertBits(Buffers.read(rstd0, c), Buffers.read(rstd, c), "saveRstd");
            assertBits(Buffers.read(rv0, c), Buffers.read(rv, c), "runningVar");
            int negatives = 0;
            for (float v : fusedOut) negatives += v == 0f ? 1 : 0;
            assertTrue((fuse & FUSE_RELU) == 0 || negatives > 0, "the ReLU cut nothing: the case tests nothing");

            // inference
            MemorySegment outI = d.seg(new float[(int) d.count]);
            k.forwardInference(outI, d.seg(d.inp), res == null ? null : d.seg(d.res), rm, rv, d.seg(d.gamma),
                    d.seg(d.beta), 1e-5, affine | fuse, layout, n, c, s);
            MemorySegment yI = d.seg(new float[(int) d.count]);
            k.forwardInference(yI, d.seg(d.inp), rm, rv, d.seg(d.gamma), d.seg(d.beta), 1e-5, affine, layout, n, c, s);
            assertBits(addRelu(Buffers.read(yI, d.count), d.res, fuse), Buffers.read(outI, d.count), "inference out");

            // backward, batch and global statistics, with dres in place on dout
            for (int global : new int[] {0, USE_GLOBAL_STATS}) {
                int mask = DIFF_INP | DIFF_SCALE | DIFF_SHIFT | ((fuse & FUSE_ADD) != 0 ? DIFF_RES : 0);
                MemorySegment dout = d.seg(d.dout);
                MemorySegment dinp = d.seg(new float[(int) d.count]);
                MemorySegment dg = d.seg(new float[d.c]), db = d.seg(new float[d.c]);
                MemorySegment fwdOut = (fuse & FUSE_RELU) != 0 ? d.seg(fusedOut) : null;
                k.backward(dinp, (mask & DIFF_RES) != 0 ? dout : null, dg, db, dout, fwdOut, d.seg(d.inp),
                        d.seg(d.gamma), mean, rstd, USE_SCALE | global | fuse, mask, layout, n, c, s);
                float[] g = gated(d.dout, fusedOut, fuse);
                MemorySegment dinp0 = d.seg(new float[(int) d.count]);
                MemorySegment dg0 = d.seg(new float[d.c]), db0 = d.seg(new float[d.c]);
                k.backward(dinp0, dg0, db0, d.seg(g), d.seg(d.inp), d.seg(d.gamma), mean, rstd, USE_SCALE | global,
                        DIFF_INP | DIFF_SCALE | DIFF_SHIFT, layout, n, c, s);
                String what = global != 0 ? "global " : "batch ";
                assertBits(Buffers.read(dinp0, d.count), Buffers.read(dinp, d.count), what + "dinp");
                assertBits(Buffers.read(dg0, c), Buffers.read(dg, c), what + "dgamma");
                assertBits(Buffers.read(db0, c), Buffers.read(db, c), what + "dbeta");
                if ((mask & DIFF_RES) != 0) {
                    assertBits(g, Buffers.read(dout, d.count), what + "dres (in place on dout)");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} N={2} C={3} S={4} flags=0x{5}")
    @MethodSource("cases")
    void splitPhaseEqualsComposition(String name, Layout layout, long n, long c, long s, int fuse) {
        BatchNormKernels k = Kernels.named(name);
        SplitKernels sk = SplitKernels.of(k);
        try (Arena arena = Arena.ofConfined()) {
            Data d = Data.of(arena, n, c, s, 17 * n + 5 * c + s + fuse);
            MemorySegment stats = arena.allocate(24L * c, 8);
            MemorySegment mean = arena.allocate(8L * c, 8), rstd = arena.allocate(8L * c, 8);
            sk.statsLocal(stats, d.seg(d.inp), layout, n, c, s);
            sk.statsMerge(mean, rstd, null, null, stats, 1e-5, 0, 0, c, 1);
            int affine = USE_SCALE | USE_SHIFT;
            MemorySegment res = (fuse & FUSE_ADD) != 0 ? d.seg(d.res) : null;
            MemorySegment out = d.seg(new float[(int) d.count]);
            sk.forwardApply(out, d.seg(d.inp), res, mean, rstd, d.seg(d.gamma), d.seg(d.beta), affine | fuse, layout,
                    n, c, s);
            MemorySegment y = d.seg(new float[(int) d.count]);
            sk.forwardApply(y, d.seg(d.inp), mean, rstd, d.seg(d.gamma), d.seg(d.beta), affine, layout, n, c, s);
            float[] fusedOut = Buffers.read(out, d.count);
            assertBits(addRelu(Buffers.read(y, d.count), d.res, fuse), fusedOut, "forwardApply out");

            int relu = fuse & FUSE_RELU;
            MemorySegment fwdOut = relu != 0 ? out : null;
            MemorySegment sums = arena.allocate(24L * c, 8);
            sk.backwardReduce(sums, d.seg(d.dout), fwdOut, d.seg(d.inp), mean, relu, layout, n, c, s);
            float[] g = gated(d.dout, fusedOut, fuse);
            MemorySegment sums0 = arena.allocate(24L * c, 8);
            sk.backwardReduce(sums0, d.seg(g), d.seg(d.inp), mean, layout, n, c, s);
            assertArrayEquals(sums0.toArray(java.lang.foreign.ValueLayout.JAVA_DOUBLE),
                    sums.toArray(java.lang.foreign.ValueLayout.JAVA_DOUBLE), "backwardReduce sums");

            int mask = DIFF_INP | DIFF_SCALE | DIFF_SHIFT | ((fuse & FUSE_ADD) != 0 ? DIFF_RES : 0);
            MemorySegment dout = d.seg(d.dout);
            MemorySegment dinp = dout; // dinp in place on dout, dres separate
            MemorySegment dres = (mask & DIFF_RES) != 0 ? d.seg(new float[(int) d.count]) : null;
            MemorySegment dg = d.seg(new float[d.c]), db = d.seg(new float[d.c]);
            sk.backwardApply(dinp, dres, dg, db, dout, fwdOut, d.seg(d.inp), d.seg(d.gamma), mean, rstd, sums,
                    USE_SCALE | fuse, mask, layout, n, c, s, 1);
            MemorySegment dinp0 = d.seg(new float[(int) d.count]);
            MemorySegment dg0 = d.seg(new float[d.c]), db0 = d.seg(new float[d.c]);
            sk.backwardApply(dinp0, dg0, db0, d.seg(g), d.seg(d.inp), d.seg(d.gamma), mean, rstd, sums0, USE_SCALE,
                    DIFF_INP | DIFF_SCALE | DIFF_SHIFT, layout, n, c, s, 1);
            assertBits(Buffers.read(dinp0, d.count), Buffers.read(dinp, d.count), "backwardApply dinp");
            assertBits(Buffers.read(dg0, c), Buffers.read(dg, c), "dgamma");
            assertBits(Buffers.read(db0, c), Buffers.read(db, c), "dbeta");
            if (dres != null) {
                assertBits(g, Buffers.read(dres, d.count), "dres");
            }
        }
    }

    private static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                assertEquals(expected[i], actual[i], what + " at " + i + " (expected bits "
                        + Integer.toHexString(Float.floatToIntBits(expected[i])) + ", got "
                        + Integer.toHexString(Float.floatToIntBits(actual[i])) + ")");
                // equal as numbers but not as bits: +0 against -0
                throw new AssertionError(what + " at " + i + ": expected " + expected[i] + ", got " + actual[i]);
            }
        }
    }
}
