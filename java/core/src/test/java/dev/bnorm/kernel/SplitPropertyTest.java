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
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property-based tests (jqwik) of the split-phase kernels, {@link NativeSplitKernels} against the
 * oracle {@link JavaSplitKernels}: random layouts, shapes, partitions into parts (some empty),
 * values (offsets up to 1e4 against a spread down to 1e-3, constant channels), flags and masks;
 * and one fault per call (a buffer null, too small, misaligned, on the heap, read-only or
 * overlapping an output; a count not a whole number; too few values), rejected by both with the
 * same message and no byte of any buffer changed.
 */
class SplitPropertyTest {

    static SplitKernels nat;
    static final SplitKernels JAVA = JavaSplitKernels.INSTANCE;
    static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @BeforeContainer
    static void setUp() {
        nat = NativeSplitKernels.get();
    }

    /** One random problem: a batch, its parts, and the options. */
    record Case(Layout layout, long[] np, long c, long s, double offset, double spread, boolean constant, int flags,
                int mask, long seed) {
        long n() {
            return Arrays.stream(np).sum();
        }

        @Override
        public String toString() {
            return layout + " parts=" + Arrays.toString(np) + " C=" + c + " S=" + s + " offset=" + offset + " spread="
                    + spread + " constant=" + constant + " flags=" + flags + " mask=" + mask + " seed=" + seed;
        }
    }

    @Provide
    Arbitrary<Case> cases() {
        return Arbitraries.randomValue(r -> {
            Layout layout = Layout.values()[r.nextInt(3)];
            int parts = 1 + r.nextInt(5);
            long[] np = new long[parts];
            for (int q = 0; q < parts; q++) np[q] = r.nextInt(4) == 0 ? 0 : 1 + r.nextInt(9);
            if (Arrays.stream(np).sum() == 0) np[0] = 1 + r.nextInt(3);
            long c = new long[] {1, 2, 3, 7, 13, 64, 127, 300}[r.nextInt(8)];
            long s = layout == Layout.NC ? 1 : new long[] {1, 2, 5, 49, 600}[r.nextInt(5)];
            if (Arrays.stream(np).sum() * s < 2) s = 2 == s || layout == Layout.NC ? s : 2;
            if (Arrays.stream(np).sum() * s < 2) np[0] += 1;
            double offset = new double[] {0, 3, -100, 1e4}[r.nextInt(4)];
            double spread = new double[] {1, 1e-3, 30}[r.nextInt(3)];
            return new Case(layout, np, c, s, offset, spread, r.nextInt(8) == 0, r.nextInt(4),
                    1 + r.nextInt(7), r.nextLong());
        });
    }

    /** Inputs of one case: inp, dout (N,C,S), gamma, beta (C,). */
    static float[][] data(Case k) {
        Random r = new Random(k.seed());
        long count = k.n() * k.c() * k.s();
        float[] x = new float[(int) count];
        float[] dy = new float[(int) count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) (k.offset() + (k.constant() ? 0 : k.spread() * r.nextGaussian()));
            dy[i] = (float) r.nextGaussian();
        }
        float[] g = new float[(int) k.c()];
        float[] b = new float[(int) k.c()];
        for (int i = 0; i < k.c(); i++) {
            g[i] = (float) (0.5 + r.nextDouble());
            b[i] = (float) r.nextGaussian();
        }
        return new float[][] {x, dy, g, b};
    }

    /** The pipeline of SplitKernelsTest.run, with the case's flags and mask; everything it wrote. */
    static double[][] pipeline(SplitKernels k, Case cs, Arena arena) {
        float[][] d = data(cs);
        long c = cs.c();
        long per = c * cs.s();
        int parts = cs.np().length;
        MemorySegment inp = Buffers.of(arena, d[0]);
        MemorySegment dout = Buffers.of(arena, d[1]);
        MemorySegment gamma = (cs.flags() & USE_SCALE) != 0 ? Buffers.of(arena, d[2]) : null;
        MemorySegment beta = (cs.flags() & USE_SHIFT) != 0 ? Buffers.of(arena, d[3]) : null;
        MemorySegment stats = arena.allocate(24 * c * parts, 8);
        MemorySegment sums = arena.allocate(24 * c * parts, 8);
        MemorySegment mean = arena.allocate(8 * c, 8);
        MemorySegment rstd = arena.allocate(8 * c, 8);
        MemorySegment rm = Buffers.filled(arena, c, 0.5f);
        MemorySegment rv = Buffers.filled(arena, c, 2f);
        MemorySegment out = arena.allocate(4 * per * cs.n(), 64);
        MemorySegment dinp = arena.allocate(4 * per * cs.n(), 64);
        MemorySegment dgamma = arena.allocate(4 * c, 4);
        MemorySegment dbeta = arena.allocate(4 * c, 4);
        long at = 0;
        for (int q = 0; q < parts; q++) {
            if (cs.np()[q] > 0) k.statsLocal(stats.asSlice(24 * c * q), inp.asSlice(4 * at * per), cs.layout(), cs.np()[q], c, cs.s());
            at += cs.np()[q];
        }
        k.statsMerge(mean, rstd, rm, rv, stats, 1e-5, 0.25, UPDATE_RUNNING, c, parts);
        at = 0;
        for (int q = 0; q < parts; q++) {
            long nq = cs.np()[q];
            if (nq > 0) {
                k.forwardApply(out.asSlice(4 * at * per), inp.asSlice(4 * at * per), mean, rstd, gamma, beta,
                        cs.flags(), cs.layout(), nq, c, cs.s());
                k.backwardReduce(sums.asSlice(24 * c * q), dout.asSlice(4 * at * per), inp.asSlice(4 * at * per), mean,
                        cs.layout(), nq, c, cs.s());
            }
            at += nq;
        }
        at = 0;
        int mask = cs.mask();
        for (int q = 0; q < parts; q++) {
            long nq = cs.np()[q];
            if (nq > 0) {
                k.backwardApply((mask & DIFF_INP) != 0 ? dinp.asSlice(4 * at * per) : null,
                        (mask & DIFF_SCALE) != 0 ? dgamma : null, (mask & DIFF_SHIFT) != 0 ? dbeta : null,
                        dout.asSlice(4 * at * per), inp.asSlice(4 * at * per), gamma, mean, rstd, sums,
                        cs.flags() & USE_SCALE, mask, cs.layout(), nq, c, cs.s(), parts);
            }
            at += nq;
        }
        return new double[][] {mean.toArray(D), rstd.toArray(D), toDouble(out), toDouble(rm), toDouble(rv),
                toDouble(dinp), toDouble(dgamma), toDouble(dbeta)};
    }

    static double[] toDouble(MemorySegment s) {
        float[] f = s.toArray(F);
        return Buffers.toDouble(f);
    }

    @Property(tries = 60)
    void nativeMatchesTheOracleForAnyPartition(@ForAll("cases") Case cs) {
        long m = cs.n() * cs.s();
        try (Arena arena = Arena.ofConfined()) {
            double[][] j = pipeline(JAVA, cs, arena);
            double[][] k = pipeline(nat, cs, arena);
            double tol = Compare.tol(m);
            String[] names = {"mean", "rstd", "out", "running_mean", "running_var", "dinp", "dgamma", "dbeta"};
            for (int i = 0; i < names.length; i++) {
                // judged against the largest magnitude of each result (dinp and rstd are large when
                // the spread is small; the mean's relative error is against the offset)
                double tolI = i == 6 || i == 7 ? Compare.sumTol(m) : tol;
                Compare.assertCloseToScale(j[i], toFloat(k[i]), tolI, cs + " " + names[i]);
            }
        }
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    /** The faults injected into one statsMerge or backwardApply call. */
    enum Fault { NULL_MEAN, SMALL_STATS, MISALIGNED_RSTD, HEAP_STATS, READ_ONLY_MEAN, MEAN_OVERLAPS_STATS,
        FRACTIONAL_COUNT, NEGATIVE_COUNT, TOO_FEW_VALUES }

    @Property(tries = 60)
    void aFaultyMergeIsRejectedByBothWithTheSameMessageAndChangesNothing(@ForAll Fault fault,
                                                                          @ForAll("parts") int parts) {
        long c = 5;
        String[] messages = new String[2];
        int i = 0;
        for (SplitKernels k : new SplitKernels[] {JAVA, nat}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment stats = arena.allocate(24 * c * parts + 8, 8);
                for (int q = 0; q < parts; q++) {
                    for (int ch = 0; ch < c; ch++) {
                        stats.setAtIndex(D, 3 * c * q + ch, 3);
                        stats.setAtIndex(D, 3 * c * q + c + ch, q + ch);
                        stats.setAtIndex(D, 3 * c * q + 2 * c + ch, 1.5);
                    }
                }
                MemorySegment mean = arena.allocate(8 * c, 8);
                MemorySegment rstd = arena.allocate(8 * c + 8, 8);
                MemorySegment rm = Buffers.filled(arena, c, 1f);
                MemorySegment rv = Buffers.filled(arena, c, 1f);
                MemorySegment st = stats.asSlice(0, 24 * c * parts);
                MemorySegment me = mean;
                MemorySegment rs = rstd.asSlice(0, 8 * c);
                switch (fault) {
                    case NULL_MEAN -> me = null;
                    case SMALL_STATS -> st = stats.asSlice(0, 24 * c * parts - 8);
                    case MISALIGNED_RSTD -> rs = rstd.asSlice(4, 8 * c);
                    case HEAP_STATS -> st = MemorySegment.ofArray(st.toArray(D));
                    case READ_ONLY_MEAN -> me = mean.asReadOnly();
                    case MEAN_OVERLAPS_STATS -> me = stats.asSlice(8, 8 * c);
                    case FRACTIONAL_COUNT -> stats.setAtIndex(D, 3 * c * (parts - 1) + 2, 0.5);
                    case NEGATIVE_COUNT -> stats.setAtIndex(D, 0, -3);
                    case TOO_FEW_VALUES -> {
                        for (int q = 0; q < parts; q++) stats.setAtIndex(D, 3 * c * q + 4, q == 0 ? 1 : 0);
                    }
                }
                byte[][] before = {stats.toArray(ValueLayout.JAVA_BYTE), mean.toArray(ValueLayout.JAVA_BYTE),
                        rstd.toArray(ValueLayout.JAVA_BYTE), rm.toArray(ValueLayout.JAVA_BYTE), rv.toArray(ValueLayout.JAVA_BYTE)};
                MemorySegment fm = me;
                MemorySegment fs = st;
                MemorySegment fr = rs;
                boolean heapOk = fault == Fault.HEAP_STATS && k == JAVA;
                if (heapOk) {
                    k.statsMerge(fm, fr, rm, rv, fs, 1e-5, 0.1, UPDATE_RUNNING, c, parts); // Java takes heap segments
                    messages[i++] = "heap";
                    continue;
                }
                var e = assertThrows(IllegalArgumentException.class,
                        () -> k.statsMerge(fm, fr, rm, rv, fs, 1e-5, 0.1, UPDATE_RUNNING, c, parts), k.name() + " " + fault);
                messages[i++] = e.getMessage();
                byte[][] after = {stats.toArray(ValueLayout.JAVA_BYTE), mean.toArray(ValueLayout.JAVA_BYTE),
                        rstd.toArray(ValueLayout.JAVA_BYTE), rm.toArray(ValueLayout.JAVA_BYTE), rv.toArray(ValueLayout.JAVA_BYTE)};
                for (int b = 0; b < before.length; b++) assertArrayEquals(before[b], after[b], k.name() + " " + fault + " wrote");
            }
        }
        if (fault == Fault.HEAP_STATS) {
            assertTrue(messages[1].startsWith("stats: expected a native (off-heap) segment"), messages[1]);
        } else {
            assertEquals(messages[0], messages[1], fault.toString());
        }
    }

    @Provide
    Arbitrary<Integer> parts() {
        return Arbitraries.integers().between(1, 4);
    }
}
