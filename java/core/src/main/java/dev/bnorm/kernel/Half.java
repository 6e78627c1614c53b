package dev.bnorm.kernel;

import static dev.bnorm.kernel.Downcalls.rethrow;
import static dev.bnorm.kernel.Downcalls.status;

import dev.bnorm.ffi.bn_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Conversions between float32 and the 16-bit formats {@link DType#BF16} and {@link DType#F16},
 * with the bits of {@code bn_convert} in {@code bn.h}: widening is exact; narrowing rounds to
 * nearest, ties to even, once; a value too large for the format becomes an infinity of its sign
 * (f16 from |x| >= 65520); subnormals are produced and read exactly; NaN stays NaN (narrowing
 * keeps the sign and the high payload bits and sets the quiet bit; bf16 widening keeps the
 * payload exactly, f16 widening sets the quiet bit).
 *
 * <p>The scalar methods are plain Java. {@link #convert} converts buffers in libbnorm when the
 * kernels of {@link Kernels#best()} are native, and in plain Java otherwise: the same bits
 * either way (HalfTest compares them over every 16-bit value and the floats around every
 * rounding boundary).
 */
public final class Half {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT;

    private Half() {}

    /** The float32 value of the bf16 {@code h}: exact. */
    public static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** {@code f} rounded to bf16, to nearest, ties to even. */
    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (short) ((u >>> 16) | 0x40); // NaN: quiet
        // ties to even: add just under half an ulp of the result, plus one if the kept lsb is odd
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    }

    /** The float32 value of the f16 {@code h}: exact (a NaN comes back quiet). */
    public static float f16ToFloat(short h) {
        int sign = (h & 0x8000) << 16;
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        if (e == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (m << 13) | (m != 0 ? 0x400000 : 0));
        if (e != 0) return Float.intBitsToFloat(sign | ((e + 112) << 23) | (m << 13)); // rebias 15 -> 127
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(m * 0x1p-24f)); // subnormal or zero: exact
    }

    /** {@code f} rounded to f16, to nearest, ties to even. */
    public static short floatToF16(float f) {
        int u = Float.floatToRawIntBits(f);
        int sign = (u >>> 16) & 0x8000;
        int a = u & 0x7fffffff;
        if (a > 0x7f800000) return (short) (sign | 0x7e00 | ((a >>> 13) & 0x3ff)); // NaN: quiet
        if (a >= 0x477ff000) return (short) (sign | 0x7c00); // >= 65520 (max + half an ulp): infinity
        if (a >= 0x38800000) { // >= 2^-14: a normal f16; drop 13 bits, ties to even, rebias
            return (short) (sign | ((a + 0xfff + ((a >>> 13) & 1) - 0x38000000) >>> 13));
        }
        // below 2^-14: a multiple of 2^-24 (an f16 subnormal, or 2^-14 after rounding up)
        int e = a >>> 23;
        if (e < 102) return (short) sign; // below 2^-25 (half the least subnormal): zero
        int m = (a & 0x7fffff) | 0x800000; // a = m * 2^(e - 150) = (m >> shift) * 2^-24
        int shift = 126 - e;               // 14..24
        int q = m >>> shift;
        int rem = m & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        return (short) (sign | (q + (rem > half || (rem == half && (q & 1) != 0) ? 1 : 0)));
    }

    /**
     * {@code d} rounded once, to nearest, ties to even, to {@code dtype} (BF16 or F16), as the bits
     * of a 16-bit element. Rounding to float first and then to the 16-bit format could round twice
     * (a double just above a half-way point that rounds to the half-way float, then to even); so
     * {@code d} is first rounded to float with round-to-odd (truncated, the last bit set if
     * inexact), which keeps the information the second rounding needs: float has more than two
     * bits more than either format, in every range, subnormals included.
     */
    public static short roundDouble(DType dtype, double d) {
        float f = (float) d;
        if (f != d && !Double.isNaN(d)) {
            if (Math.abs((double) f) > Math.abs(d)) {
                f = Math.nextAfter(f, 0.0); // truncate toward zero (an infinity becomes the largest float)
            }
            f = Float.intBitsToFloat(Float.floatToRawIntBits(f) | 1); // inexact: odd
        }
        return narrow(dtype, f);
    }

    /** {@code f} rounded to {@code dtype} (BF16 or F16), as the bits of a 16-bit element. */
    public static short narrow(DType dtype, float f) {
        return switch (dtype) {
            case BF16 -> floatToBf16(f);
            case F16 -> floatToF16(f);
            case F32 -> throw new IllegalArgumentException("dtype: expected BF16 or F16, got F32");
        };
    }

    /** The float32 value of the 16-bit element {@code h} of {@code dtype} (BF16 or F16). */
    public static float widen(DType dtype, short h) {
        return switch (dtype) {
            case BF16 -> bf16ToFloat(h);
            case F16 -> f16ToFloat(h);
            case F32 -> throw new IllegalArgumentException("dtype: expected BF16 or F16, got F32");
        };
    }

    /**
     * Converts {@code n} elements of {@code src} ({@code srcType}) into {@code dst}
     * ({@code dstType}), both in native byte order: {@code bn_convert} when {@link Kernels#best()}
     * is native (a heap segment is staged through native memory), else {@link #convertJava}. The
     * two must not overlap.
     */
    public static void convert(MemorySegment dst, DType dstType, MemorySegment src, DType srcType, long n) {
        if (!(Kernels.best() instanceof NativeKernels)) {
            convertJava(dst, dstType, src, srcType, n);
            return;
        }
        if (dst != null && src != null && dstType != null && srcType != null && n >= 0
                && (!dst.isNative() || !src.isNative())) {
            check(dst, dstType, src, srcType, n, false);
            try (Arena staging = Arena.ofConfined()) {
                MemorySegment d = dst.isNative() ? dst : staging.allocate(n * dstType.bytes(), 8);
                MemorySegment s = src.isNative() ? src : staging.allocate(n * srcType.bytes(), 8);
                if (s != src) MemorySegment.copy(src, 0, s, 0, n * srcType.bytes());
                convertNative(d, dstType, s, srcType, n);
                if (d != dst) MemorySegment.copy(d, 0, dst, 0, n * dstType.bytes());
            }
            return;
        }
        convertNative(dst, dstType, src, srcType, n);
    }

    /** {@link #convert} in plain Java (any segments, heap ones included). */
    public static void convertJava(MemorySegment dst, DType dstType, MemorySegment src, DType srcType, long n) {
        check(dst, dstType, src, srcType, n, false);
        for (long i = 0; i < n; i++) {
            float v = srcType == DType.F32 ? src.getAtIndex(F, i) : widen(srcType, src.getAtIndex(H, i));
            if (dstType == DType.F32) {
                dst.setAtIndex(F, i, v);
            } else {
                dst.setAtIndex(H, i, narrow(dstType, v));
            }
        }
    }

    /**
     * {@link #convert} in libbnorm (native segments only).
     *
     * @throws dev.bnorm.NativeLibraryException if no usable library can be loaded
     */
    public static void convertNative(MemorySegment dst, DType dstType, MemorySegment src, DType srcType, long n) {
        NativeKernels.get(); // loads the library
        check(dst, dstType, src, srcType, n, true);
        int st;
        try {
            st = (int) bn_h.bn_convert$handle().invokeExact(dst, dstType.code, src, srcType.code, n);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        status("bn_convert", st);
    }

    private static void check(MemorySegment dst, DType dstType, MemorySegment src, DType srcType, long n,
                              boolean nativeOnly) {
        if (dstType == null || srcType == null) {
            throw new IllegalArgumentException((dstType == null ? "dstType" : "srcType")
                    + ": expected one of F32, BF16, F16, got null");
        }
        if (n < 0) {
            throw new IllegalArgumentException("n: expected at least 0, got " + n);
        }
        segment("dst", dst, dstType, n, nativeOnly);
        segment("src", src, srcType, n, nativeOnly);
        if (n > 0 && dst.asSlice(0, n * dstType.bytes()).asOverlappingSlice(src.asSlice(0, n * srcType.bytes()))
                .isPresent()) {
            throw new IllegalArgumentException("dst: expected no overlap with src, got overlapping segments "
                    + dst + " and " + src);
        }
    }

    private static void segment(String name, MemorySegment seg, DType dtype, long n, boolean nativeOnly) {
        if (seg == null) {
            throw new IllegalArgumentException(name + ": expected a segment, got null");
        }
        if (nativeOnly && !seg.isNative()) {
            throw new IllegalArgumentException(name + ": expected a native (off-heap) segment, got a heap segment");
        }
        if (n > Long.MAX_VALUE / 4 || seg.byteSize() < n * dtype.bytes()) {
            throw new IllegalArgumentException(name + ": expected at least " + n + " " + dtype + " elements ("
                    + (n <= Long.MAX_VALUE / 4 ? n * dtype.bytes() + " bytes" : "overflowing") + "), got "
                    + seg.byteSize() + " bytes");
        }
        if (seg.isNative() && seg.address() % dtype.bytes() != 0) {
            throw new IllegalArgumentException(name + ": expected a " + dtype.bytes() + "-byte aligned address for "
                    + dtype + ", got 0x" + Long.toHexString(seg.address()));
        }
    }
}
