package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Im2colConv} (products native, and in {@link JavaLinear}) against the oracle
 * {@link JavaConv} over awkward shapes in both layouts: forward, and backward with and without
 * {@link ConvKernels#ACCUMULATE}, including a shape whose im2col matrix is split into chunks of
 * samples; bit-identical results for 1, 2 and 3 native threads; bad arguments rejected with
 * nothing written.
 *
 * <p>Tolerance: the oracle sums in double (nearly exact); Im2colConv sums L float terms in some
 * fixed order (L: K for out, Cout*kh*kw for dinp, N*Ho*Wo for dweight and dbias), so each element is
 * within about (L+2)·u·Σ|terms| of the exact value (u = 2⁻²⁴). Σ|terms| is computed by the oracle
 * on the absolute values; the bound used is 2·(L+4)·u·Σ|terms| + u·|exact|.
 */
class ConvKernelsTest {

    static final double U = Math.ulp(1.0f) / 2;

    /** n, cin, h, w, cout, kh, kw, stride, padding. */
    static final int[][] SHAPES = {
        {1, 1, 1, 1, 1, 1, 1, 1, 0},
        {2, 3, 7, 5, 4, 3, 3, 1, 1},
        {3, 2, 13, 7, 5, 3, 2, 2, 1},
        {1, 5, 8, 8, 7, 5, 5, 3, 2},
        {2, 16, 9, 11, 13, 1, 1, 2, 0},
        {4, 3, 17, 17, 8, 3, 3, 1, 1},
        {1, 7, 3, 100, 3, 3, 7, 1, 3},
        {4, 32, 48, 48, 2, 3, 3, 1, 1}, // im2col in chunks of 3 and 1 samples
    };

    @AfterAll
    static void restoreThreads() {
        NativeKernels.setNumThreads(0);
    }

    static ConvShape shape(int[] d, Layout layout) {
        return new ConvShape(layout, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[7], d[8], d[8]);
    }

    static ConvKernels kernels(String name) {
        return name.equals("native") ? new Im2colConv(NativeLinear.get()) : new Im2colConv(JavaLinear.INSTANCE);
    }

    static MemorySegment random(Arena arena, Random random, long count) {
        return Buffers.of(arena, Buffers.gaussian(random, (int) count, 0, 1));
    }

    static MemorySegment abs(Arena arena, MemorySegment s) {
        float[] v = Buffers.read(s, s.byteSize() / 4);
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.abs(v[i]);
        }
        return Buffers.of(arena, v);
    }

    /** Asserts |actual - exact| <= 2(L+4)u*bound + u*|exact|, naming the worst index. */
    static void assertWithin(MemorySegment exact, MemorySegment bound, MemorySegment actual, long terms, String what) {
        float[] e = Buffers.read(exact, exact.byteSize() / 4);
        float[] b = Buffers.read(bound, bound.byteSize() / 4);
        float[] a = Buffers.read(actual, exact.byteSize() / 4);
        for (int i = 0; i < e.length; i++) {
            double tol = 2 * (terms + 4) * U * b[i] + U * Math.abs(e[i]) + Float.MIN_NORMAL;
            if (!(Math.abs(a[i] - e[i]) <= tol)) {
                fail(what + ": index " + i + " expected " + e[i] + " +- " + tol + ", got " + a[i]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "im2col+java"})
    void agreesWithTheOracleOverAwkwardShapesInBothLayouts(String name) {
        ConvKernels k = kernels(name);
        JavaConv oracle = JavaConv.INSTANCE;
        for (int[] d : SHAPES) {
            for (Layout layout : List.of(Layout.NCHW, Layout.NHWC)) {
                for (boolean bias : new boolean[] {false, true}) {
                    ConvShape s = shape(d, layout);
                    String what = name + " " + s + " bias=" + bias;
                    try (Arena arena = Arena.ofConfined()) {
                        Random random = new Random(s.hashCode());
                        MemorySegment inp = random(arena, random, s.inpSize());
                        MemorySegment w = random(arena, random, s.weightSize());
                        MemorySegment b = bias ? random(arena, random, s.cout()) : null;
                        MemorySegment dout = random(arena, random, s.outSize());
                        MemorySegment scratch = arena.allocate(4 * Math.max(1, k.scratchSize(s)), 64);
                        MemorySegment out = arena.allocate(4 * s.outSize(), 64);
                        MemorySegment expected = arena.allocate(4 * s.outSize(), 64);
                        MemorySegment bound = arena.allocate(4 * s.outSize(), 64);
                        k.forward(out, inp, w, b, scratch, s);
                        oracle.forward(expected, inp, w, b, null, s);
                        oracle.forward(bound, abs(arena, inp), abs(arena, w), b == null ? null : abs(arena, b), null, s);
                        assertWithin(expected, bound, out, s.k(), what + " out");

                        MemorySegment dinp = arena.allocate(4 * s.inpSize(), 64);
                        MemorySegment dw = random(arena, random, s.weightSize()); // overwritten without ACCUMULATE
                        MemorySegment db = random(arena, random, s.cout());
                        MemorySegment eDinp = arena.allocate(4 * s.inpSize(), 64);
                        MemorySegment eDw = arena.allocate(4 * s.weightSize(), 64);
                        MemorySegment eDb = arena.allocate(4 * s.cout(), 64);
                        MemorySegment bDinp = arena.allocate(4 * s.inpSize(), 64);
                        MemorySegment bDw = arena.allocate(4 * s.weightSize(), 64);
                        MemorySegment bDb = arena.allocate(4 * s.cout(), 64);
                        k.backward(dinp, dw, db, dout, inp, w, scratch, 0, s);
                        oracle.backward(eDinp, eDw, eDb, dout, inp, w, null, 0, s);
                        MemorySegment absDout = abs(arena, dout);
                        oracle.backward(bDinp, bDw, bDb, absDout, abs(arena, inp), abs(arena, w), null, 0, s);
                        long m = s.n() * s.p();
                        assertWithin(eDinp, bDinp, dinp, s.cout() * s.kh() * s.kw(), what + " dinp");
                        assertWithin(eDw, bDw, dw, m, what + " dweight");
                        assertWithin(eDb, bDb, db, m, what + " dbias");

                        // ACCUMULATE: the second backward adds the same gradients again
                        k.backward(null, dw, db, dout, inp, null, scratch, ConvKernels.ACCUMULATE, s);
                        oracle.backward(null, eDw, eDb, dout, inp, null, null, ConvKernels.ACCUMULATE, s);
                        oracle.backward(null, bDw, bDb, absDout, abs(arena, inp), null, null, ConvKernels.ACCUMULATE, s);
                        assertWithin(eDw, bDw, dw, 2 * m + 1, what + " accumulated dweight");
                        assertWithin(eDb, bDb, db, 2 * m + 1, what + " accumulated dbias");
                    }
                }
            }
        }
    }

    @Test
    void nativeResultsAreBitIdenticalForAnyNumberOfThreads() {
        ConvKernels k = kernels("native");
        for (Layout layout : List.of(Layout.NCHW, Layout.NHWC)) {
            ConvShape s = shape(SHAPES[SHAPES.length - 1], layout);
            float[][] first = null;
            for (int threads : new int[] {1, 2, 3}) {
                NativeKernels.setNumThreads(threads);
                try (Arena arena = Arena.ofConfined()) {
                    Random random = new Random(4);
                    MemorySegment inp = random(arena, random, s.inpSize());
                    MemorySegment w = random(arena, random, s.weightSize());
                    MemorySegment dout = random(arena, random, s.outSize());
                    MemorySegment scratch = arena.allocate(4 * k.scratchSize(s), 64);
                    MemorySegment out = arena.allocate(4 * s.outSize(), 64);
                    MemorySegment dinp = arena.allocate(4 * s.inpSize(), 64);
                    MemorySegment dw = arena.allocate(4 * s.weightSize(), 64);
                    k.forward(out, inp, w, null, scratch, s);
                    k.backward(dinp, dw, null, dout, inp, w, scratch, 0, s);
                    float[][] now = {Buffers.read(out, s.outSize()), Buffers.read(dinp, s.inpSize()),
                                     Buffers.read(dw, s.weightSize())};
                    if (first == null) {
                        first = now;
                    } else {
                        for (int i = 0; i < 3; i++) {
                            assertArrayEquals(first[i], now[i], layout + " result " + i + " with " + threads + " threads");
                        }
                    }
                }
            }
        }
    }

    static void assertRefused(Class<? extends RuntimeException> type, String start, Runnable call) {
        RuntimeException e = assertThrows(type, call::run);
        assertTrue(e.getMessage().startsWith(start), "message \"" + e.getMessage() + "\" should start with \"" + start + "\"");
    }

    @Test
    void badShapesAreRefusedNamingTheDimension() {
        assertRefused(IllegalArgumentException.class, "layout: expected NCHW or NHWC, got NC",
                () -> new ConvShape(Layout.NC, 1, 1, 3, 3, 1, 1, 1, 1, 1, 0, 0));
        assertRefused(IllegalArgumentException.class, "cin: expected 1 to 16777216, got 0",
                () -> new ConvShape(Layout.NCHW, 1, 0, 3, 3, 1, 1, 1, 1, 1, 0, 0));
        assertRefused(IllegalArgumentException.class, "kh: expected at most h + 2*ph = 4, got 5",
                () -> new ConvShape(Layout.NCHW, 1, 1, 2, 3, 1, 5, 1, 1, 1, 1, 0));
        assertRefused(IllegalArgumentException.class, "pw: expected 0 to 16777216, got -1",
                () -> new ConvShape(Layout.NHWC, 1, 1, 3, 3, 1, 1, 1, 1, 1, 0, -1));
        assertRefused(IllegalArgumentException.class, "n*cin*h*w: expected at most",
                () -> new ConvShape(Layout.NHWC, 1 << 24, 1 << 24, 1, 1 << 16, 1, 1, 1, 1, 1, 0, 0));
        assertRefused(IllegalArgumentException.class, "n*ho*wo*cin*kh*kw: expected at most",
                () -> new ConvShape(Layout.NHWC, 1 << 20, 1, 1 << 12, 1 << 12, 1, 1 << 11, 1 << 11, 1, 1, 0, 0));
    }

    @ParameterizedTest
    @ValueSource(strings = {"native", "im2col+java", "java"})
    void badBuffersAreRefusedBeforeAnythingIsWritten(String name) {
        ConvKernels k = name.equals("java") ? JavaConv.INSTANCE : kernels(name);
        ConvShape s = new ConvShape(Layout.NCHW, 2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment inp = Buffers.filled(arena, s.inpSize(), 1f);
            MemorySegment w = Buffers.filled(arena, s.weightSize(), 1f);
            MemorySegment scratch = arena.allocate(4 * Math.max(1, k.scratchSize(s)), 64);
            MemorySegment out = Buffers.filled(arena, s.outSize(), 7f);
            Supplier<float[]> outNow = () -> Buffers.read(out, s.outSize());
            float[] before = outNow.get();
            assertRefused(IllegalArgumentException.class, "out: expected at least " + 4 * s.outSize() + " bytes",
                    () -> k.forward(out.asSlice(0, 4 * s.outSize() - 4), inp, w, null, scratch, s));
            assertRefused(IllegalArgumentException.class, "weight: expected at least " + 4 * s.weightSize() + " bytes",
                    () -> k.forward(out, inp, w.asSlice(4), null, scratch, s));
            MemorySegment both = arena.allocate(4 * (s.outSize() + s.inpSize()), 64);
            assertRefused(IllegalArgumentException.class, "out: expected no overlap with inp",
                    () -> k.forward(both.asSlice(0, 4 * s.outSize()), both.asSlice(4 * s.outSize() - 4), w, null, scratch, s));
            assertRefused(IllegalArgumentException.class, "inp: expected a segment, got null",
                    () -> k.forward(out, null, w, null, scratch, s));
            assertRefused(IllegalArgumentException.class, "shape: expected a ConvShape, got null",
                    () -> k.forward(out, inp, w, null, scratch, null));
            if (k.scratchSize(s) > 0) {
                assertRefused(IllegalArgumentException.class, "scratch: expected at least",
                        () -> k.forward(out, inp, w, null, scratch.asSlice(0, 8), s));
            }
            if (name.equals("native")) {
                assertRefused(IllegalArgumentException.class, "inp: expected a native (off-heap) segment",
                        () -> k.forward(out, MemorySegment.ofArray(new float[(int) s.inpSize()]), w, null, scratch, s));
            }
            assertArrayEquals(before, outNow.get(), "out after the refused calls");
            MemorySegment dinp = Buffers.filled(arena, s.inpSize(), 7f);
            assertRefused(IllegalArgumentException.class, "flags: expected 0 or 0x1 (ACCUMULATE), got 0x2",
                    () -> k.backward(dinp, null, null, out, inp, w, scratch, 2, s));
            assertRefused(IllegalArgumentException.class, "weight: expected a segment because dinp is wanted",
                    () -> k.backward(dinp, null, null, out, inp, null, scratch, 0, s));
            assertRefused(IllegalArgumentException.class, "dinp: expected no overlap with dout",
                    () -> k.backward(out.asSlice(0, 4 * s.inpSize()), null, null, out, inp, w, scratch, 0, s));
            assertRefused(IllegalArgumentException.class, "dinp, dweight, dbias: expected at least one segment",
                    () -> k.backward(null, null, null, out, inp, w, scratch, 0, s));
            float[] ones = new float[(int) s.inpSize()];
            java.util.Arrays.fill(ones, 7f);
            assertArrayEquals(ones, Buffers.read(dinp, s.inpSize()), "dinp after the refused calls");
        }
    }
}
