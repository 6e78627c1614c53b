package dev.bnorm.internal;

import dev.bnorm.kernel.LinearKernels;
import java.lang.foreign.MemorySegment;

/**
 * Argument validation for {@link LinearKernels}, run before any work and before any downcall,
 * mirroring the statuses of {@code bn_linear_forward}/{@code bn_linear_backward}: dimensions
 * (N, I, O &gt;= 1; N*I, N*O, O*I floats addressable), flags, then each buffer (present when
 * required; alive; accessible by this thread; native when required; writable if an output; 4-byte
 * aligned; large enough), then overlaps (no output may overlap any other buffer, compared over the
 * bytes the kernel touches, like {@link Checks}).
 */
public final class LinearChecks {

    private LinearChecks() {}

    /** Validates the arguments of {@link LinearKernels#forward}. */
    public static void checkForward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                                    LinearKernels.Activation act, long n, long in, long outFeatures,
                                    boolean requireNative) {
        dimensions(n, in, outFeatures);
        if (act == null) {
            throw new IllegalArgumentException("act: expected one of NONE, RELU, SIGMOID, got null");
        }
        long ob = buffer("out", out, n * outFeatures, "N*O", true, true, requireNative);
        long ib = buffer("inp", inp, n * in, "N*I", false, true, requireNative);
        long wb = buffer("weight", weight, outFeatures * in, "O*I", false, true, requireNative);
        long bb = buffer("bias", bias, outFeatures, "O", false, false, requireNative);
        apart("out", out, ob, "inp", inp, ib);
        apart("out", out, ob, "weight", weight, wb);
        apart("out", out, ob, "bias", bias, bb);
    }

    /** Validates the arguments of {@link LinearKernels#backward}. */
    public static void checkBackward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias,
                                     MemorySegment dout, MemorySegment inp, MemorySegment weight, int flags,
                                     long n, long in, long outFeatures, boolean requireNative) {
        dimensions(n, in, outFeatures);
        if ((flags & ~LinearKernels.ACCUMULATE) != 0) {
            throw new IllegalArgumentException("flags: expected 0 or 0x1 (ACCUMULATE), got 0x" + Integer.toHexString(flags));
        }
        if (dinp == null && dweight == null && dbias == null) {
            throw new IllegalArgumentException("dinp, dweight, dbias: expected at least one segment, got three nulls");
        }
        if (dweight != null && inp == null) {
            throw new IllegalArgumentException("inp: expected a segment because dweight is wanted, got null");
        }
        if (dinp != null && weight == null) {
            throw new IllegalArgumentException("weight: expected a segment because dinp is wanted, got null");
        }
        long dib = buffer("dinp", dinp, n * in, "N*I", true, false, requireNative);
        long dwb = buffer("dweight", dweight, outFeatures * in, "O*I", true, false, requireNative);
        long dbb = buffer("dbias", dbias, outFeatures, "O", true, false, requireNative);
        long gb = buffer("dout", dout, n * outFeatures, "N*O", false, true, requireNative);
        long ib = buffer("inp", inp, n * in, "N*I", false, false, requireNative);
        long wb = buffer("weight", weight, outFeatures * in, "O*I", false, false, requireNative);
        apart("dinp", dinp, dib, "dweight", dweight, dwb);
        apart("dinp", dinp, dib, "dbias", dbias, dbb);
        apart("dinp", dinp, dib, "dout", dout, gb);
        apart("dinp", dinp, dib, "inp", inp, ib);
        apart("dinp", dinp, dib, "weight", weight, wb);
        apart("dweight", dweight, dwb, "dbias", dbias, dbb);
        apart("dweight", dweight, dwb, "dout", dout, gb);
        apart("dweight", dweight, dwb, "inp", inp, ib);
        apart("dweight", dweight, dwb, "weight", weight, wb);
        apart("dbias", dbias, dbb, "dout", dout, gb);
        apart("dbias", dbias, dbb, "inp", inp, ib);
        apart("dbias", dbias, dbb, "weight", weight, wb);
    }

    private static void dimensions(long n, long in, long out) {
        positive("n", n);
        positive("in", in);
        positive("out", out);
        fits("n, in", n, in);
        fits("n, out", n, out);
        fits("out, in", out, in);
    }

    private static void positive(String name, long v) {
        if (v < 1) {
            throw new IllegalArgumentException(name + ": expected at least 1, got " + v);
        }
    }

    private static void fits(String names, long a, long b) {
        if (a > Long.MAX_VALUE / 4 / b) {
            throw new IllegalArgumentException(names + ": expected the product times 4 bytes to fit in a long, got "
                    + a + " and " + b);
        }
    }

    /** Validates one buffer; returns the bytes the kernel touches, 0 for an absent optional one. */
    static long buffer(String name, MemorySegment segment, long floats, String what, boolean output,
                               boolean required, boolean requireNative) {
        if (segment == null) {
            if (required) {
                throw new IllegalArgumentException(name + ": expected a segment, got null");
            }
            return 0;
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException(name + ": segment is closed");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new WrongThreadException(name + ": segment is not accessible by thread "
                    + Thread.currentThread().getName() + " (confined to another thread)");
        }
        if (requireNative && !segment.isNative()) {
            throw new IllegalArgumentException(name + ": expected a native (off-heap) segment, got a heap segment");
        }
        if (output && segment.isReadOnly()) {
            throw new IllegalArgumentException(name + ": expected a writable segment, got a read-only segment");
        }
        if (segment.address() % 4 != 0) {
            throw new IllegalArgumentException(name + ": expected a 4-byte aligned address, got "
                    + (segment.isNative() ? "0x" + Long.toHexString(segment.address())
                                          : "heap offset " + segment.address()));
        }
        long bytes = floats * 4;
        if (segment.byteSize() < bytes) {
            throw new IllegalArgumentException(name + ": expected at least " + bytes + " bytes (" + what + " = "
                    + floats + " floats), got " + segment.byteSize());
        }
        return bytes;
    }

    /** Output a (aBytes from its address) must not overlap b; either may be absent (null). */
    static void apart(String aName, MemorySegment a, long aBytes, String bName, MemorySegment b, long bBytes) {
        if (a == null || b == null || a.isNative() != b.isNative()) {
            return;
        }
        if (!a.isNative()) {
            Object ha = a.heapBase().orElse(null);
            if (ha == null || ha != b.heapBase().orElse(null)) {
                return; // read-only heap segments hide their array: not detectable
            }
        }
        if (a.address() < b.address() + bBytes && b.address() < a.address() + aBytes) {
            throw new IllegalArgumentException(aName + ": expected no overlap with " + bName + ", got " + aName + " at "
                    + where(a, aBytes) + " and " + bName + " at " + where(b, bBytes));
        }
    }

    private static String where(MemorySegment s, long bytes) {
        return "[" + (s.isNative() ? "0x" + Long.toHexString(s.address()) : "heap " + s.address()) + ", +" + bytes + ")";
    }
}
