package dev.bnorm.bench;

import dev.bnorm.kernel.DType;
import dev.bnorm.kernel.Half;
import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Benchmark buffers: 64-byte aligned off-heap segments with reproducible contents, float32 or
 * (activations) a 16-bit {@link DType}.
 */
final class Data {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Data() {
    }

    /** count zeroed floats, 64-byte aligned (the same alignment for every implementation). */
    static MemorySegment floats(Arena arena, long count) {
        return arena.allocate(4 * count, 64);
    }

    /** count zeroed elements of dtype, 64-byte aligned. */
    static MemorySegment elements(Arena arena, long count, DType dtype) {
        return arena.allocate(dtype.bytes() * count, 64);
    }

    /**
     * {@link #activation(Arena, Shape, long)} in {@code dtype}: the float32 values rounded to
     * nearest, ties to even ({@link Half#convert}), so that every dtype's benchmark sees the same
     * data up to that rounding.
     */
    static MemorySegment activation(Arena arena, Shape shape, long seed, DType dtype) {
        if (dtype == DType.F32) {
            return activation(arena, shape, seed);
        }
        long count = shape.elements();
        MemorySegment segment = elements(arena, count, dtype);
        try (Arena scratch = Arena.ofConfined()) {
            Half.convert(segment, dtype, activation(scratch, shape, seed), DType.F32, count);
        }
        return segment;
    }

    /** count float32 values of a segment of dtype, widened (exact) into a new segment; itself if F32. */
    static MemorySegment widened(Arena arena, MemorySegment segment, long count, DType dtype) {
        if (dtype == DType.F32) {
            return segment;
        }
        MemorySegment floats = floats(arena, count);
        Half.convert(floats, DType.F32, segment, dtype, count);
        return floats;
    }

    /** count floats uniform in [lo, hi). */
    static MemorySegment uniform(Arena arena, long count, double lo, double hi, long seed) {
        MemorySegment segment = floats(arena, count);
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            segment.setAtIndex(F, i, (float) random.nextDouble(lo, hi));
        }
        return segment;
    }

    /**
     * An (N,C,S) activation in {@code layout}: channel c is mu_c + sd_c * N(0,1), with mu_c in
     * [-1, 1) and sd_c in [0.5, 2) drawn per channel, so that every channel has its own statistics.
     * The N(0,1) values cycle through a table of 65521 draws (a prime, so that no power-of-two
     * channel count lines up with it; different for every seed): filling 10^8 floats takes a
     * fraction of a second, and the values do not change any kernel's speed.
     */
    static MemorySegment activation(Arena arena, Shape shape, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int c = Math.toIntExact(shape.c());
        double[] mu = new double[c];
        double[] sd = new double[c];
        for (int k = 0; k < c; k++) {
            mu[k] = random.nextDouble(-1, 1);
            sd[k] = random.nextDouble(0.5, 2);
        }
        float[] noise = new float[65521];
        for (int j = 0; j < noise.length; j++) {
            noise[j] = (float) random.nextGaussian();
        }
        long count = shape.elements();
        long run = shape.layout() == Layout.NCHW ? shape.s() : 1; // consecutive elements of one channel
        MemorySegment segment = floats(arena, count);
        float[] chunk = new float[1 << 16];
        int k = 0;
        long left = run;
        int t = 0;
        for (long i0 = 0; i0 < count; i0 += chunk.length) {
            int len = (int) Math.min(chunk.length, count - i0);
            for (int j = 0; j < len; j++) {
                chunk[j] = (float) (mu[k] + sd[k] * noise[t]);
                t = t + 1 == noise.length ? 0 : t + 1;
                if (--left == 0) {
                    left = run;
                    k = k + 1 == c ? 0 : k + 1;
                }
            }
            MemorySegment.copy(chunk, 0, segment, F, 4 * i0, len);
        }
        return segment;
    }
}
