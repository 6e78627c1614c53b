package dev.bnorm.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Test helpers: float buffers as segments, random data, conversions. */
public final class Buffers {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Buffers() {
    }

    /** A new native segment (in {@code arena}) holding {@code values}. */
    public static MemorySegment of(Arena arena, float[] values) {
        MemorySegment segment = arena.allocate(4L * values.length, 4);
        MemorySegment.copy(values, 0, segment, F, 0, values.length);
        return segment;
    }

    /** A new native segment of {@code count} floats, each {@code value} (e.g. a sentinel). */
    public static MemorySegment filled(Arena arena, long count, float value) {
        MemorySegment segment = arena.allocate(4 * count, 4);
        for (long i = 0; i < count; i++) {
            segment.setAtIndex(F, i, value);
        }
        return segment;
    }

    /** The first {@code count} floats of {@code segment}. */
    public static float[] read(MemorySegment segment, long count) {
        float[] values = new float[Math.toIntExact(count)];
        MemorySegment.copy(segment, F, 0, values, 0, values.length);
        return values;
    }

    /** {@code count} float32 values mean + std*N(0,1). */
    public static float[] gaussian(Random random, int count, double mean, double std) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) (mean + std * random.nextGaussian());
        }
        return values;
    }

    /** {@code count} float32 values uniform in [lo, hi). */
    public static float[] uniform(Random random, int count, double lo, double hi) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) (lo + (hi - lo) * random.nextDouble());
        }
        return values;
    }

    public static double[] toDouble(float[] values) {
        double[] result = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = values[i];
        }
        return result;
    }

    public static float[] toFloat(double[] values) {
        float[] result = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = (float) values[i];
        }
        return result;
    }
}
