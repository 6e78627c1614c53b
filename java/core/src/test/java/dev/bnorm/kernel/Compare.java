package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.MemorySegment;

/**
 * Comparisons for float32 kernel results, reusable by any test of a {@link BatchNormKernels}.
 *
 * <p>A value passes when {@code |actual - expected| <= atol + rtol*|expected|}; NaN must match NaN,
 * and an infinite expected value must match exactly. A failure names what was compared, how many
 * values failed, and the worst index (largest excess over its tolerance) with expected, actual and
 * difference.
 *
 * <p>Tolerances scale with the reduction length M = N*S: {@link #tol(long)} for elementwise results
 * of unit scale (out, dinp, mean, rstd, running stats) and {@link #sumTol(long)} for per-channel
 * sums of M unit-scale terms (dgamma, dbeta).
 */
public final class Compare {

    private Compare() {
    }

    /** Tolerance (used as both atol and rtol) for unit-scale float32 results of an M-value reduction. */
    public static double tol(long m) {
        return 1e-5 * (1 + Math.sqrt(m) / 32);
    }

    /** Absolute tolerance for a float32 sum of M unit-scale terms (dgamma, dbeta); use rtol = tol(m). */
    public static double sumTol(long m) {
        return tol(m) * Math.sqrt(m);
    }

    /** Asserts |actual - expected| <= atol + rtol*|expected| elementwise, reporting the worst index. */
    public static void assertClose(double[] expected, float[] actual, double atol, double rtol, String what) {
        if (expected.length != actual.length) {
            fail(what + ": expected " + expected.length + " values, got " + actual.length);
        }
        int bad = 0;
        int worst = -1;
        double worstExcess = -1;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            double excess;
            if (Double.isNaN(e) || Double.isNaN(a) || Double.isInfinite(e) || Double.isInfinite(a)) {
                excess = Double.compare(e, a) == 0 ? -1 : Double.POSITIVE_INFINITY;
            } else {
                excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
            }
            if (excess > 0) {
                bad++;
                if (excess > worstExcess) {
                    worstExcess = excess;
                    worst = i;
                }
            }
        }
        if (bad > 0) {
            double e = expected[worst];
            double a = actual[worst];
            fail(String.format("%s: %d of %d values differ; worst at [%d]: expected %.9g, actual %.9g, "
                            + "|diff| %.3g > tol %.3g (atol %.3g, rtol %.3g)",
                    what, bad, expected.length, worst, e, a, Math.abs(a - e), atol + rtol * Math.abs(e), atol, rtol));
        }
    }

    /** As {@link #assertClose(double[], float[], double, double, String)} with atol = rtol = tol. */
    public static void assertClose(double[] expected, float[] actual, double tol, String what) {
        assertClose(expected, actual, tol, tol, what);
    }

    /** Reads {@code expected.length} floats from {@code actual} and compares them. */
    public static void assertClose(double[] expected, MemorySegment actual, double atol, double rtol, String what) {
        assertClose(expected, Buffers.read(actual, expected.length), atol, rtol, what);
    }

    /**
     * Compares with atol = tol * max(1, max|expected|) and rtol = tol: for results whose size varies
     * widely across elements or cases (dinp with large rstd, sums), the absolute error is judged
     * against the largest magnitude of the array.
     */
    public static void assertCloseToScale(double[] expected, float[] actual, double tol, String what) {
        double scale = 1;
        for (double e : expected) {
            if (Double.isFinite(e)) {
                scale = Math.max(scale, Math.abs(e));
            }
        }
        assertClose(expected, actual, tol * scale, tol, what);
    }

    /** Reads {@code expected.length} floats from {@code actual} and compares them to scale. */
    public static void assertCloseToScale(double[] expected, MemorySegment actual, double tol, String what) {
        assertCloseToScale(expected, Buffers.read(actual, expected.length), tol, what);
    }

    /** Compares two float results (e.g. native against Java). */
    public static void assertClose(float[] expected, float[] actual, double atol, double rtol, String what) {
        assertClose(Buffers.toDouble(expected), actual, atol, rtol, what);
    }

    /** Asserts bit-identical floats (NaNs compared by Float.floatToIntBits), reporting the first difference. */
    public static void assertSameBits(float[] expected, float[] actual, String what) {
        if (expected.length != actual.length) {
            fail(what + ": expected " + expected.length + " values, got " + actual.length);
        }
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                fail(String.format("%s: first difference at [%d] of %d: expected %.9g, actual %.9g",
                        what, i, expected.length, expected[i], actual[i]));
            }
        }
    }
}
