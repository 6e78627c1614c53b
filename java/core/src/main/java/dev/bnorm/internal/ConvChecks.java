package dev.bnorm.internal;

import dev.bnorm.kernel.ConvKernels;
import dev.bnorm.kernel.ConvShape;
import java.lang.foreign.MemorySegment;

/**
 * Argument validation for {@link ConvKernels}, run before any work: the shape (checked when the
 * {@link ConvShape} was made; here only that it is given), flags, then each buffer as
 * {@link LinearChecks} checks it (present when required; alive; accessible by this thread; native
 * when required; writable if an output; 4-byte aligned; large enough), then overlaps (no output may overlap any
 * other buffer).
 */
public final class ConvChecks {

    private ConvChecks() {}

    /** Validates the arguments of {@link ConvKernels#forward}; {@code scratchFloats} is what the implementation needs. */
    public static void checkForward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                                    MemorySegment scratch, long scratchFloats, ConvShape s,
                                    boolean requireNative) {
        checkForward(out, inp, weight, bias, scratch, scratchFloats, s, s == null ? 0 : s.n(), requireNative);
    }

    /** As above for the first {@code n} samples of {@code s} (1 &le; n &le; s.n()): out and inp hold n samples. */
    public static void checkForward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                                    MemorySegment scratch, long scratchFloats, ConvShape s, long n,
                                    boolean requireNative) {
        shape(s);
        if (n < 1 || n > s.n()) {
            throw new IllegalArgumentException("n: expected 1 to " + s.n() + " samples (the shape's n), got " + n);
        }
        long ob = LinearChecks.buffer("out", out, n * s.cout() * s.p(), "N*Cout*Ho*Wo", true, true, requireNative);
        long ib = LinearChecks.buffer("inp", inp, n * s.cin() * s.h() * s.w(), "N*Cin*H*W", false, true, requireNative);
        long wb = LinearChecks.buffer("weight", weight, s.weightSize(), "Cout*Cin*kh*kw", false, true, requireNative);
        long bb = LinearChecks.buffer("bias", bias, s.cout(), "Cout", false, false, requireNative);
        long sb = LinearChecks.buffer("scratch", scratch, scratchFloats, "scratchSize", true, scratchFloats > 0, requireNative);
        LinearChecks.apart("out", out, ob, "inp", inp, ib);
        LinearChecks.apart("out", out, ob, "weight", weight, wb);
        LinearChecks.apart("out", out, ob, "bias", bias, bb);
        LinearChecks.apart("scratch", scratch, sb, "out", out, ob);
        LinearChecks.apart("scratch", scratch, sb, "inp", inp, ib);
        LinearChecks.apart("scratch", scratch, sb, "weight", weight, wb);
        LinearChecks.apart("scratch", scratch, sb, "bias", bias, bb);
    }

    /** Validates the arguments of {@link ConvKernels#backward}. */
    public static void checkBackward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias,
                                     MemorySegment dout, MemorySegment inp, MemorySegment weight,
                                     MemorySegment scratch, long scratchFloats, int flags, ConvShape s,
                                     boolean requireNative) {
        shape(s);
        if ((flags & ~ConvKernels.ACCUMULATE) != 0) {
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
        long dib = LinearChecks.buffer("dinp", dinp, s.inpSize(), "N*Cin*H*W", true, false, requireNative);
        long dwb = LinearChecks.buffer("dweight", dweight, s.weightSize(), "Cout*Cin*kh*kw", true, false, requireNative);
        long dbb = LinearChecks.buffer("dbias", dbias, s.cout(), "Cout", true, false, requireNative);
        long gb = LinearChecks.buffer("dout", dout, s.outSize(), "N*Cout*Ho*Wo", false, true, requireNative);
        long ib = LinearChecks.buffer("inp", inp, s.inpSize(), "N*Cin*H*W", false, false, requireNative);
        long wb = LinearChecks.buffer("weight", weight, s.weightSize(), "Cout*Cin*kh*kw", false, false, requireNative);
        long sb = LinearChecks.buffer("scratch", scratch, scratchFloats, "scratchSize", true, scratchFloats > 0, requireNative);
        String[] names = {"dinp", "dweight", "dbias", "scratch", "dout", "inp", "weight"};
        MemorySegment[] segs = {dinp, dweight, dbias, scratch, dout, inp, weight};
        long[] bytes = {dib, dwb, dbb, sb, gb, ib, wb};
        for (int a = 0; a < 4; a++) { // the outputs, against every other buffer
            for (int b = a + 1; b < names.length; b++) {
                LinearChecks.apart(names[a], segs[a], bytes[a], names[b], segs[b], bytes[b]);
            }
        }
    }

    private static void shape(ConvShape s) {
        if (s == null) {
            throw new IllegalArgumentException("shape: expected a ConvShape, got null");
        }
    }
}
