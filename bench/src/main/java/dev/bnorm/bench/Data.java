package dev.bnorm.bench;

import dev.bnorm.kernel.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Benchmark buffers: 64-byte aligned off-heap float32 segments with reproducible contents. */
final class Data {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Data() {
    }

    /** count zeroed floats, 64-byte aligned (the same alignment for every implementation). */
    static MemorySegment floats(Arena arena, long count) {
        return arena.allocate(4 * count, 64);
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
        long count = shape.elements();
        long s = shape.s();
        boolean rows = shape.layout() != Layout.NCHW;
        MemorySegment segment = floats(arena, count);
        for (long i = 0; i < count; i++) {
            int k = (int) (rows ? i % c : (i / s) % c);
            segment.setAtIndex(F, i, (float) (mu[k] + sd[k] * random.nextGaussian()));
        }
        return segment;
    }
}
