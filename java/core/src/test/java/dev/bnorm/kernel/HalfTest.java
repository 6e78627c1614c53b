package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.ffi.bn_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The conversions of {@link Half}: the plain-Java ones against references written from the
 * formats' definitions (a half value is (-1)^s * significand * 2^exponent; rounding is a search
 * for the nearest value in the sorted table of the format's finite values, ties to the even
 * encoding, with the infinity standing one ulp above the largest finite value), and the native
 * conversion ({@code bn_convert}) against the plain-Java one, bit for bit, over every 16-bit
 * value and the floats around every rounding boundary.
 */
class HalfTest {

    record Fmt(DType dtype, int mantBits, int expBits) {
        int inf() {
            return ((1 << expBits) - 1) << mantBits;
        }

        boolean isNaN(int h) {
            return ((h & 0x7fff) >>> mantBits) == (1 << expBits) - 1 && (h & ((1 << mantBits) - 1)) != 0;
        }

        /** The value of a non-NaN half from its definition. */
        double value(int h) {
            int bias = (1 << (expBits - 1)) - 1;
            int e = (h & 0x7fff) >>> mantBits;
            int m = h & ((1 << mantBits) - 1);
            double sign = (h & 0x8000) != 0 ? -1 : 1;
            if (e == (1 << expBits) - 1) return sign * Double.POSITIVE_INFINITY;
            if (e == 0) return sign * Math.scalb((double) m, 1 - bias - mantBits);
            return sign * Math.scalb((double) ((1 << mantBits) + m), e - bias - mantBits);
        }

        /** The float bits of the widening: the value, or a NaN's payload moved up (quiet for f16). */
        int widen(int h) {
            if (isNaN(h)) {
                int quiet = dtype == DType.F16 ? 0x400000 : 0;
                return ((h & 0x8000) << 16) | 0x7f800000 | ((h & ((1 << mantBits) - 1)) << (23 - mantBits)) | quiet;
            }
            return Float.floatToRawIntBits((float) value(h));
        }
    }

    static final Fmt BF16 = new Fmt(DType.BF16, 7, 8);
    static final Fmt F16 = new Fmt(DType.F16, 10, 5);

    /** Positive finite values in increasing order, then the infinity's stand-in one ulp above the largest. */
    static double[] table(Fmt f) {
        double[] t = new double[f.inf() + 1];
        for (int h = 0; h < f.inf(); h++) t[h] = f.value(h);
        t[f.inf()] = 2 * t[f.inf() - 1] - t[f.inf() - 2];
        return t;
    }

    static int narrowReference(Fmt f, double[] table, float x) {
        int u = Float.floatToRawIntBits(x);
        int sign = (u >>> 16) & 0x8000;
        if (Float.isNaN(x)) {
            return sign | f.inf() | ((u & 0x7fffff) >>> (23 - f.mantBits)) | (1 << (f.mantBits - 1));
        }
        double a = Math.abs((double) x);
        if (a >= table[table.length - 1]) return sign | f.inf();
        int i = Arrays.binarySearch(table, a);
        if (i >= 0) return sign | i;
        int hi = -i - 1, lo = hi - 1;
        double dlo = a - table[lo], dhi = table[hi] - a;
        int h = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) == 0 ? lo : hi;
        return sign | h;
    }

    /** Each finite value and the midpoint to the next, with float neighbours; specials; random bits. */
    static float[] boundaryFloats(Fmt f) {
        float[] out = new float[10 * f.inf() + 64 + 100_000];
        int n = 0;
        for (int h = 0; h < f.inf(); h++) {
            double v = f.value(h);
            double next = h + 1 < f.inf() ? f.value(h + 1) : 2 * v - f.value(h - 1);
            float mid = (float) ((v + next) / 2);
            for (float p : new float[] {(float) v, mid, Math.nextDown(mid), Math.nextUp(mid), Math.nextUp((float) v)}) {
                out[n++] = p;
                out[n++] = -p;
            }
        }
        int[] specials = {0x00000001, 0x00007fff, 0x00008000, 0x00018000, 0x007fffff, 0x00800000, 0x7f7fffff,
            0x7f7f8000, 0x7f800000, 0x7f800001, 0x7fc00000, 0x7fffffff, 0x7fa00000, 0x7f812345, 0x477fefff,
            0x477ff000, 0x33000000, 0x33000001, 0x387ff000};
        for (int s : specials) {
            out[n++] = Float.intBitsToFloat(s);
            out[n++] = Float.intBitsToFloat(s | 0x80000000);
        }
        SplittableRandom r = new SplittableRandom(20 + f.dtype.code);
        for (int k = 0; k < 100_000; k++) out[n++] = Float.intBitsToFloat(r.nextInt());
        return Arrays.copyOf(out, n);
    }

    static short javaNarrow(Fmt f, float x) {
        return Half.narrow(f.dtype, x);
    }

    @Test
    void everyHalfValueWidensToItsValue() {
        for (Fmt f : new Fmt[] {BF16, F16}) {
            for (int h = 0; h < 65536; h++) {
                int got = Float.floatToRawIntBits(Half.widen(f.dtype, (short) h));
                if (got != f.widen(h)) {
                    throw new AssertionError(f.dtype + " 0x" + Integer.toHexString(h) + " widened to 0x"
                            + Integer.toHexString(got) + ", expected 0x" + Integer.toHexString(f.widen(h)));
                }
            }
        }
    }

    @Test
    void floatsRoundToNearestEvenAroundEveryBoundary() {
        for (Fmt f : new Fmt[] {BF16, F16}) {
            double[] table = table(f);
            for (float x : boundaryFloats(f)) {
                int want = narrowReference(f, table, x);
                int got = javaNarrow(f, x) & 0xffff;
                if (got != want) {
                    throw new AssertionError(f.dtype + ": float 0x" + Integer.toHexString(Float.floatToRawIntBits(x))
                            + " (" + x + ") narrowed to 0x" + Integer.toHexString(got) + ", expected 0x"
                            + Integer.toHexString(want));
                }
            }
        }
    }

    @Test
    void f16AgreesWithTheJdkOnEveryNumber() {
        // a second, independent reference: Float.floatToFloat16 / float16ToFloat (Java 20+), which
        // round to nearest even; NaN payloads are left out (the JDK does not promise them)
        for (float x : boundaryFloats(F16)) {
            if (!Float.isNaN(x)) assertEquals(Float.floatToFloat16(x), Half.floatToF16(x), () -> "f16 of " + x);
        }
        for (int h = 0; h < 65536; h++) {
            float jdk = Float.float16ToFloat((short) h);
            if (!Float.isNaN(jdk)) assertEquals(Float.floatToRawIntBits(jdk), Float.floatToRawIntBits(Half.f16ToFloat((short) h)));
        }
    }

    @Test
    void someValuesWorkedByHand() {
        // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even give 1; 1 + 3*2^-8 gives 1 + 2^-6
        assertEquals((short) 0x3f80, Half.floatToBf16(1.00390625f));
        assertEquals((short) 0x3f82, Half.floatToBf16(1.01171875f));
        assertEquals((short) 0x3f81, Half.floatToBf16(Math.nextUp(1.00390625f)));
        // f16: 65504 is the largest finite; 65519.99 rounds down to it, 65520 overflows to infinity
        assertEquals((short) 0x7bff, Half.floatToF16(65519.99f));
        assertEquals((short) 0x7c00, Half.floatToF16(65520f));
        assertEquals((short) 0x0001, Half.floatToF16(0x1p-24f));
        assertEquals((short) 0x0000, Half.floatToF16(0x1p-25f)); // a tie: to the even zero
        assertEquals((short) 0x0001, Half.floatToF16(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x8000, Half.floatToF16(-0x1p-30f));
        assertEquals(1000f, Half.bf16ToFloat(Half.floatToBf16(1000.01f)));
        assertEquals(1000f, Half.bf16ToFloat(Half.floatToBf16(1001.99f))); // bf16 ulp at 1000 is 4
        assertTrue(Float.isNaN(Half.bf16ToFloat(Half.floatToBf16(Float.intBitsToFloat(0x7f800001)))));
        assertEquals((short) 0x7fc0, Half.floatToBf16(Float.intBitsToFloat(0x7f800001))); // signalling: quiet
    }

    @Test
    void aDoubleIsRoundedOnceNotTwice() {
        // 1 + 2^-8 + 2^-40 is just above the bf16 half-way point 1 + 2^-8, but as a float it IS
        // that point (2^-40 is below float's precision there), which ties to even: 1. Once: 1 + 2^-7.
        assertEquals((short) 0x3f81, Half.roundDouble(DType.BF16, 1 + 0x1p-8 + 0x1p-40));
        assertEquals((short) 0x3f80, Half.roundDouble(DType.BF16, 1 + 0x1p-8 - 0x1p-40));
        assertEquals((short) 0x3f80, Half.floatToBf16((float) (1 + 0x1p-8 + 0x1p-40)), "the float path rounds twice");
        // f16: just below the overflow threshold 65520 is 65504, not infinity
        assertEquals((short) 0x7bff, Half.roundDouble(DType.F16, 65520 - 0x1p-30));
        assertEquals((short) 0x7c00, Half.roundDouble(DType.F16, 65520));
        assertEquals((short) 0x7f80, Half.roundDouble(DType.BF16, 1e300));
        assertEquals((short) 0x8000, Half.roundDouble(DType.F16, -1e-300));
        assertEquals((short) 0x0001, Half.roundDouble(DType.F16, 0x1p-25 + 0x1p-60)); // above the tie at half the least subnormal
        for (Fmt f : new Fmt[] {BF16, F16}) {
            double[] table = table(f);
            SplittableRandom r = new SplittableRandom(7);
            for (int k = 0; k < 200_000; k++) {
                // a half-way point between neighbours, nudged by a tiny amount, or a random double
                int h = r.nextInt(f.inf() - 1);
                double mid = (f.value(h) + f.value(h + 1)) / 2;
                double d = switch (k % 3) {
                    case 0 -> mid + mid * 0x1p-40;
                    case 1 -> mid - mid * 0x1p-40;
                    default -> Double.longBitsToDouble(r.nextLong());
                };
                if (Double.isNaN(d) || Math.abs(d) >= table[table.length - 1] || Math.abs(d) < 0x1p-150) continue;
                int want = narrowDouble(table, d);
                int got = Half.roundDouble(f.dtype, d) & 0xffff;
                if (got != want) {
                    throw new AssertionError(f.dtype + ": " + d + " rounded to 0x" + Integer.toHexString(got)
                            + ", expected 0x" + Integer.toHexString(want));
                }
            }
        }
    }

    /** The reference rounding of a finite double inside the format's range (table search, ties to even). */
    static int narrowDouble(double[] table, double d) {
        int sign = d < 0 || (d == 0 && 1 / d < 0) ? 0x8000 : 0;
        double a = Math.abs(d);
        int i = Arrays.binarySearch(table, a);
        if (i >= 0) return sign | i;
        int hi = -i - 1, lo = hi - 1;
        double dlo = a - table[lo], dhi = table[hi] - a;
        return sign | (dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) == 0 ? lo : hi);
    }

    @Test
    void theNativeConversionGivesTheBitsOfTheJavaOne() {
        NativeKernels.get();
        try (Arena arena = Arena.ofConfined()) {
            for (Fmt f : new Fmt[] {BF16, F16}) {
                MemorySegment halves = arena.allocate(2 * 65536, 64);
                for (int h = 0; h < 65536; h++) halves.setAtIndex(ValueLayout.JAVA_SHORT, h, (short) h);
                MemorySegment nat = arena.allocate(4 * 65536, 64);
                MemorySegment java = arena.allocate(4 * 65536, 64);
                Half.convertNative(nat, DType.F32, halves, f.dtype, 65536);
                Half.convertJava(java, DType.F32, halves, f.dtype, 65536);
                assertEquals(-1, nat.mismatch(java), f.dtype + ": first widened element that differs (bytes)");

                float[] xs = boundaryFloats(f);
                MemorySegment floats = arena.allocate(4L * xs.length, 64);
                MemorySegment.copy(xs, 0, floats, ValueLayout.JAVA_FLOAT, 0, xs.length);
                // odd offsets too: the vector loops' tails and the native path's alignment per element
                for (int skip : new int[] {0, 1, 3, 17}) {
                    long n = xs.length - skip;
                    MemorySegment a = arena.allocate(2 * n, 2), b = arena.allocate(2 * n, 2);
                    Half.convertNative(a, f.dtype, floats.asSlice(4L * skip), DType.F32, n);
                    Half.convertJava(b, f.dtype, floats.asSlice(4L * skip), DType.F32, n);
                    assertEquals(-1, a.mismatch(b), f.dtype + " skip " + skip + ": first narrowed byte that differs");
                }
                // bf16 <-> f16
                Fmt g = f == BF16 ? F16 : BF16;
                MemorySegment a = arena.allocate(2 * 65536, 2), b = arena.allocate(2 * 65536, 2);
                Half.convertNative(a, g.dtype, halves, f.dtype, 65536);
                Half.convertJava(b, g.dtype, halves, f.dtype, 65536);
                assertEquals(-1, a.mismatch(b), f.dtype + " to " + g.dtype);
            }
        }
    }

    @Test
    void heapArraysConvertThroughEitherPath() {
        float[] xs = {1.00390625f, -3.5f, 65520f, Float.NaN, 0x1p-25f, 1e-40f};
        short[] a = new short[xs.length], b = new short[xs.length];
        Half.convert(MemorySegment.ofArray(a), DType.F16, MemorySegment.ofArray(xs), DType.F32, xs.length);
        Half.convertJava(MemorySegment.ofArray(b), DType.F16, MemorySegment.ofArray(xs), DType.F32, xs.length);
        assertEquals(Arrays.toString(b), Arrays.toString(a));
        assertEquals((short) 0x7c00, a[2]);
        float[] back = new float[xs.length];
        Half.convert(MemorySegment.ofArray(back), DType.F32, MemorySegment.ofArray(a), DType.F16, xs.length);
        assertEquals(-3.5f, back[1]);
        assertEquals(Float.POSITIVE_INFINITY, back[2]);
    }

    @Test
    void badArgumentsAreRefusedByNameBeforeAnythingIsWritten() {
        NativeKernels.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f = arena.allocate(64, 8), h = arena.allocate(64, 8);
            h.fill((byte) 0x55);
            expect("dst: expected a segment, got null", () -> Half.convertNative(null, DType.BF16, f, DType.F32, 4));
            expect("srcType: expected one of F32, BF16, F16, got null", () -> Half.convertNative(h, DType.BF16, f, null, 4));
            expect("n: expected at least 0, got -1", () -> Half.convertNative(h, DType.BF16, f, DType.F32, -1));
            expect("src: expected at least 17 F32 elements (68 bytes), got 64 bytes",
                    () -> Half.convertNative(h, DType.BF16, f, DType.F32, 17));
            expect("dst: expected at least 33 BF16 elements (66 bytes), got 64 bytes",
                    () -> Half.convertNative(h, DType.BF16, f, DType.F16, 33));
            expect("src: expected a 4-byte aligned address for F32", () -> Half.convertNative(h, DType.BF16, f.asSlice(2), DType.F32, 4));
            expect("dst: expected a 2-byte aligned address for F16", () -> Half.convertNative(h.asSlice(1), DType.F16, f, DType.F32, 4));
            expect("dst: expected no overlap with src", () -> Half.convertNative(f.asSlice(8), DType.BF16, f, DType.F32, 4));
            expect("dst: expected a native (off-heap) segment, got a heap segment",
                    () -> Half.convertNative(MemorySegment.ofArray(new short[4]), DType.BF16, f, DType.F32, 4));
            expect("n: expected at least 0", () -> Half.convertJava(h, DType.BF16, f, DType.F32, Long.MIN_VALUE));
            expect("dtype: expected BF16 or F16, got F32", () -> Half.narrow(DType.F32, 1f));
            for (long i = 0; i < 64; i++) assertEquals((byte) 0x55, h.get(ValueLayout.JAVA_BYTE, i), "byte " + i);
            Half.convertNative(h, DType.BF16, f, DType.F32, 0); // n = 0: nothing to do
            assertEquals((byte) 0x55, h.get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void theDTypeCodesAreThoseOfBnH() {
        NativeKernels.get(); // loads the library before bn_h resolves bn_convert
        assertEquals(bn_h.BN_F32(), DType.F32.code);
        assertEquals(bn_h.BN_BF16(), DType.BF16.code);
        assertEquals(bn_h.BN_F16(), DType.F16.code);
        assertEquals(3, DType.values().length);
        // and the C side refuses a code outside them
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(16, 8), b = arena.allocate(16, 8);
            assertEquals(bn_h.BN_ERR_BAD_DTYPE(), bn_h.bn_convert(a, 3, b, bn_h.BN_F32(), 2));
        }
    }

    private static void expect(String message, Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(message), () -> "expected a message containing \"" + message + "\", got \""
                + e.getMessage() + "\"");
    }
}
