package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The native data movement of {@link Im2colConv} ({@code bn_im2col}, {@code bn_col2im},
 * {@code bn_transpose} through {@link NativeConv}) against its pure-Java path, bit for bit (both
 * only copy, and add in the same order), over {@link ConvKernelsTest#SHAPES} in both layouts and
 * chunks of samples; and {@link Im2colConv#forwardRows}, the serving model's entry, against
 * {@link Im2colConv#forward} on the same images.
 */
class NativeConvTest {

    /** Index of the first differing byte of the first {@code bytes} bytes, or -1. */
    static long mismatch(MemorySegment a, MemorySegment b, long bytes) {
        return a.asSlice(0, bytes).mismatch(b.asSlice(0, bytes));
    }

    @Test
    void nativeIm2colCol2imAndTransposeGiveTheJavaPathsBits() {
        NativeLinear.get();
        for (int[] d : ConvKernelsTest.SHAPES) {
            for (Layout layout : List.of(Layout.NCHW, Layout.NHWC)) {
                ConvShape s = ConvKernelsTest.shape(d, layout);
                long[][] chunks = s.n() == 1 ? new long[][] {{0, 1}} : new long[][] {{0, s.n()}, {1, s.n() - 1}, {s.n() - 1, 1}};
                for (long[] c : chunks) {
                    long n0 = c[0];
                    long m = c[1];
                    String what = s + " samples " + n0 + ".." + (n0 + m - 1);
                    try (Arena arena = Arena.ofConfined()) {
                        Random random = new Random(s.hashCode() + n0);
                        MemorySegment inp = ConvKernelsTest.random(arena, random, s.inpSize());
                        long colsFloats = m * s.p() * s.k();
                        MemorySegment javaCols = arena.allocate(4 * colsFloats, 64);
                        MemorySegment nativeCols = arena.allocate(4 * colsFloats, 64).fill((byte) 0x7f);
                        Im2colConv.im2col(javaCols, inp, s, n0, m);
                        NativeConv.im2col(nativeCols, inp, s, n0, m);
                        assertEquals(-1, mismatch(javaCols, nativeCols, 4 * colsFloats), "im2col " + what);

                        MemorySegment dcols = ConvKernelsTest.random(arena, random, colsFloats);
                        MemorySegment javaDinp = ConvKernelsTest.random(arena, random, s.inpSize());
                        MemorySegment nativeDinp = arena.allocate(4 * s.inpSize(), 64).copyFrom(javaDinp);
                        Im2colConv.col2im(javaDinp, dcols, s, n0, m);
                        NativeConv.col2im(nativeDinp, dcols, s, n0, m);
                        assertEquals(-1, mismatch(javaDinp, nativeDinp, 4 * s.inpSize()), "col2im " + what);

                        // the NCHW output of the chunk: rows (m, P, Cout) into (m, Cout, P), with and without bias
                        long p = s.p();
                        long co = s.cout();
                        MemorySegment rows = ConvKernelsTest.random(arena, random, m * p * co);
                        MemorySegment bias = ConvKernelsTest.random(arena, random, co);
                        for (MemorySegment b : new MemorySegment[] {null, bias}) {
                            MemorySegment javaOut = arena.allocate(4 * m * p * co, 64);
                            MemorySegment nativeOut = arena.allocate(4 * m * p * co, 64);
                            for (long i = 0; i < m; i++) {
                                Im2colConv.transpose(rows, i * p * co, javaOut, i * co * p, (int) p, (int) co, b);
                            }
                            NativeConv.transpose(nativeOut, rows, b, m, p, co);
                            assertEquals(-1, mismatch(javaOut, nativeOut, 4 * m * p * co),
                                    "transpose " + what + " bias=" + (b != null));
                        }
                    }
                }
            }
        }
    }

    @Test
    void forwardRowsOfTheFirstImagesIsTheForwardOfThoseImages() {
        Im2colConv k = new Im2colConv(NativeLinear.get());
        for (int[] d : ConvKernelsTest.SHAPES) {
            for (Layout layout : List.of(Layout.NCHW, Layout.NHWC)) {
                ConvShape all = ConvKernelsTest.shape(d, layout);
                long n = Math.max(1, all.n() - 1);
                ConvShape first = new ConvShape(layout, n, all.cin(), all.h(), all.w(), all.cout(), all.kh(), all.kw(),
                        all.sh(), all.sw(), all.ph(), all.pw());
                try (Arena arena = Arena.ofConfined()) {
                    Random random = new Random(all.hashCode());
                    MemorySegment inp = ConvKernelsTest.random(arena, random, all.inpSize());
                    MemorySegment w = ConvKernelsTest.random(arena, random, all.weightSize());
                    MemorySegment b = ConvKernelsTest.random(arena, random, all.cout());
                    MemorySegment rowWeight = arena.allocate(4 * all.weightSize(), 64);
                    Im2colConv.rowWeight(rowWeight, w, all);
                    MemorySegment scratch = arena.allocate(4 * k.scratchSize(all), 64);
                    MemorySegment expected = arena.allocate(4 * first.outSize(), 64);
                    MemorySegment got = arena.allocate(4 * all.outSize(), 64).fill((byte) 0x7f);
                    k.forward(expected, inp, w, b, arena.allocate(4 * k.scratchSize(first), 64), first);
                    k.forwardRows(got, inp, rowWeight.asReadOnly(), b, scratch, all, n);
                    assertEquals(-1, mismatch(expected, got, 4 * first.outSize()), "forwardRows " + all + ", n " + n);
                    if (n < all.n()) { // the other images' output is not written
                        MemorySegment rest = got.asSlice(4 * first.outSize());
                        assertEquals(-1, rest.mismatch(arena.allocate(rest.byteSize()).fill((byte) 0x7f)), "rest " + all);
                    }
                    var e = assertThrows(IllegalArgumentException.class,
                            () -> k.forwardRows(got, inp, rowWeight, b, scratch, all, all.n() + 1));
                    assertTrue(e.getMessage().startsWith("n: expected 1 to " + all.n()), e.getMessage());
                }
            }
        }
    }
}
