package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_RES;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_ADD;
import static dev.bnorm.kernel.BatchNormKernels.FUSE_RELU;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Property-based tests (jqwik) of 16-bit activations: random dtype, layout, shape, values
 * (offsets up to 1e4 against spreads down to 1e-3, values in the formats' subnormal range, a NaN or
 * an infinity now and then, constant channels), scale/shift, fusion, global statistics and mask.
 * Each case runs the forward training, the forward inference on the updated running statistics and
 * the backward of one implementation twice, and the split phase over a random partition of the
 * batch into parts (some empty): on 16-bit buffers, and on float32 buffers holding the widened
 * values. bn.h defines the first as the second with each activation output rounded once:
 * <ul>
 * <li>native: every activation output is {@link Half#narrow} of the float32 call's, bit for bit;
 * <li>the oracle, which rounds once from double: within one ulp of that (the two differ only where
 *     the float32 value lies on a tie of the 16-bit format);
 * <li>both: every per-channel output (split statistics and sums included) bit for bit the float32
 *     call's.
 * </ul>
 */
class HalfPropertyTest {

    static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT;
    static final double EPS = 1e-5;

    record Case(DType d, Layout layout, int n, int c, int s, double offset, double spread, int special, int affine,
                int fuse, boolean global, int mask, long seed) {
    }

    @Provide
    Arbitrary<Case> cases() {
        return Arbitraries.randomValue(r -> {
            DType d = r.nextBoolean() ? DType.BF16 : DType.F16;
            Layout layout = Layout.values()[r.nextInt(3)];
            int n = 1 + r.nextInt(9);
            int c = new int[] {1, 2, 3, 7, 13, 64, 130}[r.nextInt(7)];
            int s = layout == Layout.NC ? 1 : new int[] {1, 2, 5, 49, 300}[r.nextInt(5)];
            if (n * s < 2) n = 2;
            double offset = new double[] {0, 3, -100, 1000, 1e4}[r.nextInt(5)];
            double spread = new double[] {1, 1e-3, 30, 0, d == DType.F16 ? 1e-6 : 1e-39}[r.nextInt(5)];
            if (spread < 1e-5) offset = 0; // the subnormal case: values of the subnormal range
            int fuse = new int[] {0, FUSE_RELU, FUSE_ADD, FUSE_RELU | FUSE_ADD}[r.nextInt(4)];
            int mask = 1 + r.nextInt((fuse & FUSE_ADD) != 0 ? 15 : 7);
            return new Case(d, layout, n, c, s, offset, spread, r.nextInt(10), r.nextInt(4), fuse, r.nextBoolean(), mask,
                    r.nextLong());
        });
    }

    @Property(tries = 100)
    void oracleIsTheFloat32OracleRoundedOnce(@ForAll("cases") Case k) {
        check(JavaKernels.INSTANCE, k, false);
    }

    /** Needs the library's half kernels (DATA_BF16, DATA_F16). */
    @Property(tries = 100)
    void nativeIsTheFloat32CallNarrowedOnce(@ForAll("cases") Case k) {
        check(NativeKernels.get(), k, true);
    }

    @Property(tries = 100)
    void splitOracleIsTheFloat32OracleRoundedOnce(@ForAll("cases") Case k) {
        checkSplit(JavaSplitKernels.INSTANCE, k, false);
    }

    /** Needs the library's half kernels (DATA_BF16, DATA_F16). */
    @Property(tries = 100)
    void splitNativeIsTheFloat32CallNarrowedOnce(@ForAll("cases") Case k) {
        checkSplit(NativeSplitKernels.get(), k, true);
    }

    /** The split pipeline over parts of the batch along N (random sizes, some empty). */
    private static void checkSplit(SplitKernels kernels, Case k, boolean exact) {
        DType d = k.d;
        int count = k.n * k.c * k.s, c = k.c, per = k.c * k.s;
        Random r = new Random(k.seed);
        int parts = 1 + r.nextInt(4);
        int[] start = new int[parts + 1];
        for (int q = 1; q < parts; q++) start[q] = r.nextInt(k.n + 1);
        start[parts] = k.n;
        java.util.Arrays.sort(start);
        try (Arena arena = Arena.ofConfined()) {
            float[] xs = new float[count], res = new float[count], dy = new float[count];
            for (int i = 0; i < count; i++) {
                xs[i] = (float) (k.offset + k.spread * r.nextGaussian());
                res[i] = (float) r.nextGaussian();
                dy[i] = (float) r.nextGaussian();
            }
            if (k.special == 0) xs[r.nextInt(count)] = Float.NaN;
            Pair x = Pair.of(arena, d, xs), rs = Pair.of(arena, d, res), dout = Pair.of(arena, d, dy);
            boolean add = (k.fuse & FUSE_ADD) != 0, relu = (k.fuse & FUSE_RELU) != 0;
            MemorySegment g = (k.affine & USE_SCALE) != 0 ? Buffers.of(arena, Buffers.uniform(r, c, 0.5, 2)) : null;
            MemorySegment b = (k.affine & USE_SHIFT) != 0 ? Buffers.of(arena, Buffers.uniform(r, c, -1, 1)) : null;
            String what = k + " parts=" + java.util.Arrays.toString(start);
            MemorySegment stats = arena.allocate(24L * c * parts, 8), statsf = arena.allocate(24L * c * parts, 8);
            for (int q = 0; q < parts; q++) {
                int nq = start[q + 1] - start[q];
                if (nq == 0) continue; // an empty part contributes zeros (allocate() zeroed them)
                long at = (long) start[q] * per;
                kernels.statsLocal(stats.asSlice(24L * c * q), x.half.asSlice(2 * at), d.flags(), k.layout, nq, c, k.s);
                kernels.statsLocal(statsf.asSlice(24L * c * q), x.wide.asSlice(4 * at), k.layout, nq, c, k.s);
            }
            same(new MemorySegment[] {stats}, new MemorySegment[] {statsf}, what + " statistics");
            MemorySegment mean = arena.allocate(8L * c, 8), rstd = arena.allocate(8L * c, 8);
            kernels.statsMerge(mean, rstd, null, null, stats, EPS, 0, 0, c, parts);
            Pair out = Pair.empty(arena, d, count), dinp = Pair.empty(arena, d, count), dres = Pair.empty(arena, d, count);
            int flags = k.affine | k.fuse;
            for (int q = 0; q < parts; q++) {
                int nq = start[q + 1] - start[q];
                if (nq == 0) continue;
                long at = (long) start[q] * per;
                kernels.forwardApply(out.half.asSlice(2 * at), x.half.asSlice(2 * at), add ? rs.half.asSlice(2 * at) : null,
                        mean, rstd, g, b, flags | d.flags(), k.layout, nq, c, k.s);
                kernels.forwardApply(out.wide.asSlice(4 * at), x.wide.asSlice(4 * at), add ? rs.wide.asSlice(4 * at) : null,
                        mean, rstd, g, b, flags, k.layout, nq, c, k.s);
            }
            compare(d, out, count, exact, what + " out");
            MemorySegment outw = Buffers.of(arena, HalfOracleTest.floats(HalfOracleTest.values(d, out.half, count)));
            MemorySegment sums = arena.allocate(24L * c * parts, 8), sumsf = arena.allocate(24L * c * parts, 8);
            for (int q = 0; q < parts; q++) {
                int nq = start[q + 1] - start[q];
                if (nq == 0) continue;
                long at = (long) start[q] * per;
                kernels.backwardReduce(sums.asSlice(24L * c * q), dout.half.asSlice(2 * at), relu ? out.half.asSlice(2 * at) : null,
                        x.half.asSlice(2 * at), mean, (k.fuse & FUSE_RELU) | d.flags(), k.layout, nq, c, k.s);
                kernels.backwardReduce(sumsf.asSlice(24L * c * q), dout.wide.asSlice(4 * at), relu ? outw.asSlice(4 * at) : null,
                        x.wide.asSlice(4 * at), mean, k.fuse & FUSE_RELU, k.layout, nq, c, k.s);
            }
            same(new MemorySegment[] {sums}, new MemorySegment[] {sumsf}, what + " sums");
            boolean di = (k.mask & DIFF_INP) != 0, dr = (k.mask & DIFF_RES) != 0;
            boolean dg = (k.mask & BatchNormKernels.DIFF_SCALE) != 0, db = (k.mask & BatchNormKernels.DIFF_SHIFT) != 0;
            MemorySegment[] dgb = perChannel(arena, c, 2), dgbf = perChannel(arena, c, 2);
            int bflags = (k.affine & USE_SCALE) | k.fuse;
            for (int q = 0; q < parts; q++) {
                int nq = start[q + 1] - start[q];
                if (nq == 0) continue;
                long at = (long) start[q] * per;
                kernels.backwardApply(di ? dinp.half.asSlice(2 * at) : null, dr ? dres.half.asSlice(2 * at) : null,
                        dg ? dgb[0] : null, db ? dgb[1] : null, dout.half.asSlice(2 * at), relu ? out.half.asSlice(2 * at) : null,
                        x.half.asSlice(2 * at), g, mean, rstd, sums, bflags | d.flags(), k.mask, k.layout, nq, c, k.s, parts);
                kernels.backwardApply(di ? dinp.wide.asSlice(4 * at) : null, dr ? dres.wide.asSlice(4 * at) : null,
                        dg ? dgbf[0] : null, db ? dgbf[1] : null, dout.wide.asSlice(4 * at), relu ? outw.asSlice(4 * at) : null,
                        x.wide.asSlice(4 * at), g, mean, rstd, sumsf, bflags, k.mask, k.layout, nq, c, k.s, parts);
            }
            if (di) compare(d, dinp, count, exact, what + " dinp");
            if (dr) compare(d, dres, count, true, what + " dres");
            same(dgb, dgbf, what + " dgamma, dbeta");
        }
    }

    private static void check(BatchNormKernels kernels, Case k, boolean exact) {
        DType d = k.d;
        int count = k.n * k.c * k.s, c = k.c;
        Random r = new Random(k.seed);
        try (Arena arena = Arena.ofConfined()) {
            float[] xs = new float[count], res = new float[count], dy = new float[count];
            for (int i = 0; i < count; i++) {
                xs[i] = (float) (k.offset + k.spread * r.nextGaussian());
                res[i] = (float) r.nextGaussian();
                dy[i] = (float) r.nextGaussian();
            }
            if (k.special == 0) xs[r.nextInt(count)] = Float.NaN;
            if (k.special == 1) xs[r.nextInt(count)] = Float.NEGATIVE_INFINITY;
            if (k.special == 2) dy[r.nextInt(count)] = Float.POSITIVE_INFINITY;
            Pair x = Pair.of(arena, d, xs), rs = Pair.of(arena, d, res), dout = Pair.of(arena, d, dy);
            boolean add = (k.fuse & FUSE_ADD) != 0, relu = (k.fuse & FUSE_RELU) != 0;
            MemorySegment g = (k.affine & USE_SCALE) != 0 ? Buffers.of(arena, Buffers.uniform(r, c, 0.5, 2)) : null;
            MemorySegment b = (k.affine & USE_SHIFT) != 0 ? Buffers.of(arena, Buffers.uniform(r, c, -1, 1)) : null;
            String what = k.toString();

            MemorySegment[] st = perChannel(arena, c, 4), stf = perChannel(arena, c, 4);
            Pair out = Pair.empty(arena, d, count);
            int flags = k.affine | k.fuse | UPDATE_RUNNING;
            kernels.forwardTraining(out.half, st[0], st[1], st[2], st[3], x.half, add ? rs.half : null, g, b, EPS, 0.1,
                    flags | d.flags(), k.layout, k.n, c, k.s);
            kernels.forwardTraining(out.wide, stf[0], stf[1], stf[2], stf[3], x.wide, add ? rs.wide : null, g, b, EPS,
                    0.1, flags, k.layout, k.n, c, k.s);
            compare(d, out, count, exact, what + " out");
            same(st, stf, what + " statistics");

            Pair inf = Pair.empty(arena, d, count);
            kernels.forwardInference(inf.half, x.half, add ? rs.half : null, st[2], st[3], g, b, EPS, k.affine | k.fuse | d.flags(),
                    k.layout, k.n, c, k.s);
            kernels.forwardInference(inf.wide, x.wide, add ? rs.wide : null, st[2], st[3], g, b, EPS, k.affine | k.fuse,
                    k.layout, k.n, c, k.s);
            compare(d, inf, count, exact, what + " inference out");

            // backward on the 16-bit forward's out (widened for the float32 call: the same values)
            MemorySegment outw = Buffers.of(arena, HalfOracleTest.floats(HalfOracleTest.values(d, out.half, count)));
            int bflags = (k.affine & USE_SCALE) | k.fuse | (k.global ? USE_GLOBAL_STATS : 0);
            Pair dinp = Pair.empty(arena, d, count), dres = Pair.empty(arena, d, count);
            MemorySegment[] dgb = perChannel(arena, c, 2), dgbf = perChannel(arena, c, 2);
            boolean di = (k.mask & DIFF_INP) != 0, dr = (k.mask & DIFF_RES) != 0;
            boolean dg = (k.mask & BatchNormKernels.DIFF_SCALE) != 0, db = (k.mask & BatchNormKernels.DIFF_SHIFT) != 0;
            kernels.backward(di ? dinp.half : null, dr ? dres.half : null, dg ? dgb[0] : null, db ? dgb[1] : null, dout.half,
                    relu ? out.half : null, x.half, g, st[0], st[1], bflags | d.flags(), k.mask, k.layout, k.n, c, k.s);
            kernels.backward(di ? dinp.wide : null, dr ? dres.wide : null, dg ? dgbf[0] : null, db ? dgbf[1] : null,
                    dout.wide, relu ? outw : null, x.wide, g, st[0], st[1], bflags, k.mask, k.layout, k.n, c, k.s);
            if (di) compare(d, dinp, count, exact, what + " dinp");
            if (dr) compare(d, dres, count, true, what + " dres");
            same(dgb, dgbf, what + " dgamma, dbeta");
        }
    }

    /** A 16-bit buffer and a float32 buffer (for inputs: of the widened values). */
    record Pair(MemorySegment half, MemorySegment wide) {
        static Pair of(Arena arena, DType d, float[] v) {
            MemorySegment h = HalfOracleTest.activations(arena, d, v);
            return new Pair(h, Buffers.of(arena, HalfOracleTest.floats(HalfOracleTest.values(d, h, v.length))));
        }

        static Pair empty(Arena arena, DType d, int count) {
            return new Pair(arena.allocate(2L * count, 2), arena.allocate(4L * count, 4));
        }
    }

    static MemorySegment[] perChannel(Arena arena, int c, int k) {
        MemorySegment[] a = new MemorySegment[k];
        for (int i = 0; i < k; i++) a[i] = Buffers.filled(arena, c, i == 3 ? 2f : i == 2 ? 0.5f : 0f);
        return a;
    }

    static void same(MemorySegment[] a, MemorySegment[] b, String what) {
        for (int i = 0; i < a.length; i++) {
            long at = a[i].mismatch(b[i]);
            if (at != -1) {
                throw new AssertionError(what + " " + i + ": differs from the float32 call's at byte " + at);
            }
        }
    }

    /** p.half against narrow(p.wide): equal (exact), or within one ulp of the format; NaN matches NaN. */
    static void compare(DType d, Pair p, int count, boolean exact, String what) {
        for (int i = 0; i < count; i++) {
            float f = p.wide.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            short want = Half.narrow(d, f), got = p.half.getAtIndex(H, i);
            float w = Half.widen(d, want), v = Half.widen(d, got);
            if (want == got || (Float.isNaN(w) && Float.isNaN(v))) continue;
            boolean near = !exact && Math.abs(w - v) <= 2 * HalfOracleTest.halfUlp(d, Math.max(Math.abs(w), Math.abs(v)));
            if (!near) {
                throw new AssertionError(what + "[" + i + "]: " + v + " (0x" + Integer.toHexString(got & 0xffff)
                        + "), the float32 call's " + f + " rounded is " + w + " (0x" + Integer.toHexString(want & 0xffff) + ")");
            }
        }
    }
}
