package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;
import static dev.bnorm.kernel.BatchNormKernels.USE_GLOBAL_STATS;
import static dev.bnorm.kernel.BatchNormKernels.USE_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.USE_SHIFT;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Batch Normalization oracle for activations of any {@link DType}: the contract of
 * {@link JavaKernels} (the same formulas, sums and order), with {@code inp}, {@code out},
 * {@code dout} and {@code dinp} of {@code dtype} and everything per channel ({@code gamma},
 * {@code beta}, the saved and running statistics, {@code dgamma}, {@code dbeta}) float32.
 *
 * <p>Each activation is widened exactly to double, every sum and result is computed in double,
 * and each output is rounded once: to float32 for the per-channel buffers, and to nearest, ties
 * to even, straight from double to the activation dtype ({@link Half#roundDouble}) for
 * {@code out} and {@code dinp}. With {@link DType#F32} every output is JavaKernels' bit for bit.
 *
 * <p>Per channel c, over the M = N*S values x of that channel:
 * <pre>
 *   mean = sum(x)/M,  var = sum((x - mean)^2)/M        two passes, biased
 *   rstd = 1/sqrt(var + eps)
 *   out  = gamma*(x - mean)*rstd + beta
 *   running_mean = (1-f)*running_mean + f*mean,  running_var = (1-f)*running_var + f*var*M/(M-1)
 *   backward: xhat = (x - mean)*rstd, dbeta = sum(dout), dgamma = sum(dout*xhat),
 *             dinp = gamma*rstd*(dout - dbeta/M - xhat*dgamma/M), or gamma*rstd*dout (USE_GLOBAL_STATS)
 * </pre>
 * Arguments as in {@link BatchNormKernels}, with the activations' dtype before the layout. Bad
 * arguments are an {@link IllegalArgumentException} naming the argument, before anything is
 * written. Aliasing: {@code out == inp}, {@code dinp == dout} and {@code dinp == inp} are safe (a
 * channel's sums are complete before any of its elements is written). Heap and native segments.
 */
public final class JavaHalfKernels {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED;

    private JavaHalfKernels() {
    }

    /** Forward in training mode (batch statistics); see the class comment. */
    public static void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                       MemorySegment runningMean, MemorySegment runningVar,
                                       MemorySegment inp, MemorySegment gamma, MemorySegment beta,
                                       double eps, double momentum, int flags,
                                       DType dtype, Layout layout, long n, long c, long s) {
        long count = dims(dtype, layout, n, c, s);
        flags(flags, USE_SCALE | USE_SHIFT | UPDATE_RUNNING);
        activation("out", out, dtype, count);
        activation("inp", inp, dtype, count);
        channel("saveMean", saveMean, c, true);
        channel("saveRstd", saveRstd, c, true);
        channel("gamma", gamma, c, (flags & USE_SCALE) != 0);
        channel("beta", beta, c, (flags & USE_SHIFT) != 0);
        channel("runningMean", runningMean, c, (flags & UPDATE_RUNNING) != 0);
        channel("runningVar", runningVar, c, (flags & UPDATE_RUNNING) != 0);
        eps(eps);
        if ((flags & UPDATE_RUNNING) != 0 && !(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("momentum: expected a value in [0, 1], got " + momentum);
        }
        long m = n * s;
        if (m < 2) {
            throw new IllegalArgumentException("n*s: expected more than 1 value per channel when training, got " + m);
        }
        for (long ch = 0; ch < c; ch++) {
            // pass 1: mean
            double sum = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    sum += load(inp, dtype, layout.index(i, ch, j, c, s));
                }
            }
            double mean = sum / m;
            // pass 2: biased variance
            double sq = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    double d = load(inp, dtype, layout.index(i, ch, j, c, s)) - mean;
                    sq += d * d;
                }
            }
            double var = sq / m;
            double rstd = 1.0 / Math.sqrt(var + eps);
            normalize(out, inp, dtype, mean, rstd, scale(gamma, ch), shift(beta, ch), layout, n, ch, c, s);
            set(saveMean, ch, mean);
            set(saveRstd, ch, rstd);
            if ((flags & UPDATE_RUNNING) != 0) {
                set(runningMean, ch, (1 - momentum) * get(runningMean, ch) + momentum * mean);
                set(runningVar, ch, (1 - momentum) * get(runningVar, ch) + momentum * var * m / (m - 1));
            }
        }
    }

    /** Forward in inference mode (given mean and variance); see the class comment. */
    public static void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment mean, MemorySegment var,
                                        MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                        DType dtype, Layout layout, long n, long c, long s) {
        long count = dims(dtype, layout, n, c, s);
        flags(flags, USE_SCALE | USE_SHIFT);
        activation("out", out, dtype, count);
        activation("inp", inp, dtype, count);
        channel("mean", mean, c, true);
        channel("var", var, c, true);
        channel("gamma", gamma, c, (flags & USE_SCALE) != 0);
        channel("beta", beta, c, (flags & USE_SHIFT) != 0);
        eps(eps);
        for (long ch = 0; ch < c; ch++) {
            double rstd = 1.0 / Math.sqrt(get(var, ch) + eps);
            normalize(out, inp, dtype, get(mean, ch), rstd, scale(gamma, ch), shift(beta, ch), layout, n, ch, c, s);
        }
    }

    /** Backward; see the class comment. */
    public static void backward(MemorySegment dinp, MemorySegment dgamma, MemorySegment dbeta,
                                MemorySegment dout, MemorySegment inp, MemorySegment gamma,
                                MemorySegment mean, MemorySegment rstd, int flags, int mask,
                                DType dtype, Layout layout, long n, long c, long s) {
        long count = dims(dtype, layout, n, c, s);
        flags(flags, USE_SCALE | USE_GLOBAL_STATS);
        if (mask == 0 || (mask & ~(DIFF_INP | DIFF_SCALE | DIFF_SHIFT)) != 0) {
            throw new IllegalArgumentException("mask: expected a non-empty set of DIFF_INP, DIFF_SCALE, DIFF_SHIFT, got 0x"
                    + Integer.toHexString(mask));
        }
        boolean global = (flags & USE_GLOBAL_STATS) != 0;
        boolean readInp = !global || (mask & DIFF_SCALE) != 0;
        if ((mask & DIFF_INP) != 0) activation("dinp", dinp, dtype, count);
        else absent("dinp", dinp);
        activation("dout", dout, dtype, count);
        if (readInp) activation("inp", inp, dtype, count);
        channel("dgamma", dgamma, c, (mask & DIFF_SCALE) != 0);
        channel("dbeta", dbeta, c, (mask & DIFF_SHIFT) != 0);
        channel("gamma", gamma, c, (flags & USE_SCALE) != 0);
        channel("mean", mean, c, true);
        channel("rstd", rstd, c, true);
        long m = n * s;
        for (long ch = 0; ch < c; ch++) {
            double mu = get(mean, ch);
            double r = get(rstd, ch);
            double g = scale(gamma, ch);
            // the sums, complete before dinp is written (alias-safe)
            double sumDout = 0;     // dbeta
            double sumDoutXhat = 0; // dgamma
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    long k = layout.index(i, ch, j, c, s);
                    double dy = load(dout, dtype, k);
                    sumDout += dy;
                    if (readInp) {
                        sumDoutXhat += dy * (load(inp, dtype, k) - mu) * r;
                    }
                }
            }
            if ((mask & DIFF_INP) != 0) {
                for (long i = 0; i < n; i++) {
                    for (long j = 0; j < s; j++) {
                        long k = layout.index(i, ch, j, c, s);
                        double dy = load(dout, dtype, k);
                        double dx;
                        if (global) {
                            dx = g * r * dy;
                        } else {
                            double xhat = (load(inp, dtype, k) - mu) * r;
                            // term 1: dy; term 2: mean of dy; term 3: xhat times mean of dy*xhat
                            dx = g * r * (dy - sumDout / m - xhat * sumDoutXhat / m);
                        }
                        store(dinp, dtype, k, dx);
                    }
                }
            }
            if ((mask & DIFF_SCALE) != 0) {
                set(dgamma, ch, sumDoutXhat);
            }
            if ((mask & DIFF_SHIFT) != 0) {
                set(dbeta, ch, sumDout);
            }
        }
    }

    /** out = gamma*(x - mean)*rstd + beta over channel ch. */
    private static void normalize(MemorySegment out, MemorySegment inp, DType dtype, double mean, double rstd,
                                  double gamma, double beta, Layout layout, long n, long ch, long c, long s) {
        for (long i = 0; i < n; i++) {
            for (long j = 0; j < s; j++) {
                long k = layout.index(i, ch, j, c, s);
                store(out, dtype, k, gamma * (load(inp, dtype, k) - mean) * rstd + beta);
            }
        }
    }

    // ---- elements ----

    private static double load(MemorySegment segment, DType dtype, long index) {
        return dtype == DType.F32 ? segment.get(F, 4 * index) : Half.widen(dtype, segment.get(H, 2 * index));
    }

    private static void store(MemorySegment segment, DType dtype, long index, double value) {
        if (dtype == DType.F32) {
            segment.set(F, 4 * index, (float) value);
        } else {
            segment.set(H, 2 * index, Half.roundDouble(dtype, value));
        }
    }

    private static double scale(MemorySegment gamma, long ch) {
        return gamma == null ? 1.0 : get(gamma, ch);
    }

    private static double shift(MemorySegment beta, long ch) {
        return beta == null ? 0.0 : get(beta, ch);
    }

    private static double get(MemorySegment segment, long index) {
        return segment.get(F, index * 4);
    }

    private static void set(MemorySegment segment, long index, double value) {
        segment.set(F, index * 4, (float) value);
    }

    // ---- checks ----

    private static long dims(DType dtype, Layout layout, long n, long c, long s) {
        if (dtype == null) throw new IllegalArgumentException("dtype: expected one of F32, BF16, F16, got null");
        if (layout == null) throw new IllegalArgumentException("layout: expected one of NC, NCHW, NHWC, got null");
        if (n < 1 || c < 1 || s < 1) {
            throw new IllegalArgumentException("n, c, s: expected each at least 1, got " + n + ", " + c + ", " + s);
        }
        if (layout == Layout.NC && s != 1) {
            throw new IllegalArgumentException("s: expected 1 for layout NC, got " + s);
        }
        try {
            long count = Math.multiplyExact(Math.multiplyExact(n, c), s);
            if (count > Long.MAX_VALUE / 4) throw new ArithmeticException();
            return count;
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("n*c*s: expected at most " + Long.MAX_VALUE / 4 + " elements, got "
                    + n + "*" + c + "*" + s);
        }
    }

    private static void flags(int flags, int allowed) {
        if ((flags & ~allowed) != 0) {
            throw new IllegalArgumentException("flags: expected bits of 0x" + Integer.toHexString(allowed) + ", got 0x"
                    + Integer.toHexString(flags));
        }
    }

    private static void eps(double eps) {
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new IllegalArgumentException("eps: expected a finite number > 0, got " + eps);
        }
    }

    private static void activation(String name, MemorySegment segment, DType dtype, long count) {
        if (segment == null) {
            throw new IllegalArgumentException(name + ": expected a segment, got null");
        }
        if (segment.byteSize() < count * dtype.bytes()) {
            throw new IllegalArgumentException(name + ": expected at least " + count * dtype.bytes() + " bytes (N*C*S = "
                    + count + " " + dtype + " elements), got " + segment.byteSize());
        }
    }

    private static void channel(String name, MemorySegment segment, long c, boolean wanted) {
        if (!wanted) {
            absent(name, segment);
        } else if (segment == null) {
            throw new IllegalArgumentException(name + ": expected a segment of " + c + " floats, got null");
        } else if (segment.byteSize() < 4 * c) {
            throw new IllegalArgumentException(name + ": expected at least " + 4 * c + " bytes (C = " + c
                    + " floats), got " + segment.byteSize());
        }
    }

    private static void absent(String name, MemorySegment segment) {
        if (segment != null) {
            throw new IllegalArgumentException(name + ": expected null (its flag or mask bit is not set), got " + segment);
        }
    }
}
