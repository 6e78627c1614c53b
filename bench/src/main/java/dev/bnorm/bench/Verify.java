package dev.bnorm.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The check every benchmark runs once in its {@code @Setup}: a kernel's output against the
 * pure-Java oracle ({@link dev.bnorm.kernel.JavaKernels}), so that a wrong fast path fails loudly
 * instead of winning. Same rule as the core tests ({@code dev.bnorm.kernel.Compare}, test scope
 * there): a value passes when {@code |actual - expected| <= atol + rtol*|expected|}, NaN matches
 * only NaN, and tolerances grow with the reduction length M = N*S.
 */
public final class Verify {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Verify() {
    }

    /** Tolerance (atol and rtol) for unit-scale float32 results of an M-value reduction. */
    public static double tol(long m) {
        return 1e-5 * (1 + Math.sqrt(m) / 32);
    }

    /** Absolute tolerance for a float32 sum of M unit-scale terms (dgamma, dbeta). */
    public static double sumTol(long m) {
        return tol(m) * Math.sqrt(m);
    }

    /**
     * Compares the first {@code count} floats; throws {@link IllegalStateException} naming
     * {@code what}, the number of failures and the worst index (largest excess over its tolerance).
     */
    public static void close(String what, MemorySegment expected, MemorySegment actual, long count,
                             double atol, double rtol) {
        long bad = 0;
        long worst = -1;
        double worstExcess = -1;
        for (long i = 0; i < count; i++) {
            double e = expected.getAtIndex(F, i);
            double a = actual.getAtIndex(F, i);
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
            double e = expected.getAtIndex(F, worst);
            double a = actual.getAtIndex(F, worst);
            throw new IllegalStateException(String.format(
                    "%s: %d of %d values differ from the Java oracle; worst at [%d]: expected %.9g, actual %.9g, "
                            + "|diff| %.3g > tol %.3g (atol %.3g, rtol %.3g)",
                    what, bad, count, worst, e, a, Math.abs(a - e), atol + rtol * Math.abs(e), atol, rtol));
        }
    }

    /**
     * As {@link #close} with atol = tol * max(1, max|expected|) and rtol = tol: for results whose
     * magnitude varies across elements (dinp, sums), errors are judged against the largest one.
     */
    public static void closeToScale(String what, MemorySegment expected, MemorySegment actual, long count, double tol) {
        closeToScale(what, expected, actual, count, tol, tol);
    }

    /** As {@link #closeToScale(String, MemorySegment, MemorySegment, long, double)} with its own rtol. */
    public static void closeToScale(String what, MemorySegment expected, MemorySegment actual, long count, double tol,
                                    double rtol) {
        double scale = 1;
        for (long i = 0; i < count; i++) {
            double e = expected.getAtIndex(F, i);
            if (Double.isFinite(e)) {
                scale = Math.max(scale, Math.abs(e));
            }
        }
        close(what, expected, actual, count, tol * scale, rtol);
    }
}
