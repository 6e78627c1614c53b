package dev.bnorm.kernel;

import dev.bnorm.internal.Checks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Batch Normalization kernels in plain Java: the test oracle and the fallback where no native
 * library exists. Clear rather than fast; every sum is accumulated in double and every result is
 * computed in double, then rounded once: to float for the per-channel outputs, and to the
 * activations' dtype ({@link DType#ofFlags}: float32, or bf16/f16 with DATA_BF16/DATA_F16) for
 * {@code out}, {@code dinp} and {@code dres}. Activations are read widened exactly to double.
 * A 16-bit output is rounded straight from double, to nearest, ties to even
 * ({@link Half#roundDouble}), except that the fused add is float arithmetic by its definition (see
 * {@link #fuse}): its float sum is what gets rounded. With float32 activations the outputs are
 * those of the float32 definition bit for bit.
 *
 * <p>Per channel c, over the M = N*S values x of that channel (see {@code bn.h}):
 * <pre>
 *   mean = sum(x)/M,  var = sum((x - mean)^2)/M        two passes, biased, never E[x^2] - E[x]^2
 *   rstd = 1/sqrt(var + eps)
 *   out  = gamma*(x - mean)*rstd + beta
 *   running_mean = (1-f)*running_mean + f*mean
 *   running_var  = (1-f)*running_var  + f*var*M/(M-1)  (unbiased)
 *   backward: xhat = (x - mean)*rstd, dbeta = sum(dout), dgamma = sum(dout*xhat),
 *             dinp = gamma*rstd*(dout - dbeta/M - xhat*dgamma/M), or gamma*rstd*dout (USE_GLOBAL_STATS)
 *   fused:    out = relu(float(float(bn) + res)), dout gated by out &lt;= 0 ({@link #fuse}, {@link #gate})
 * </pre>
 *
 * <p>Aliasing: channels are processed one at a time, and a channel's statistics (forward) or sums
 * (backward) are complete before any element of that channel is written. Each written element
 * depends only on its own inputs and on its channel's sums, so {@code out == inp},
 * {@code out == res}, {@code dinp == dout}, {@code dinp == inp} and {@code dres == dout} are safe.
 * Accepts heap and native segments.
 */
public final class JavaKernels implements BatchNormKernels {

    /** The only instance; stateless and thread-safe. */
    public static final JavaKernels INSTANCE = new JavaKernels();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED;

    private JavaKernels() {
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void forwardTraining(MemorySegment out, MemorySegment saveMean, MemorySegment saveRstd,
                                MemorySegment runningMean, MemorySegment runningVar,
                                MemorySegment inp, MemorySegment res, MemorySegment gamma, MemorySegment beta,
                                double eps, double momentum, int flags,
                                Layout layout, long n, long c, long s) {
        Checks.checkForwardTraining(out, saveMean, saveRstd, runningMean, runningVar, inp, res, gamma, beta,
                eps, momentum, flags, layout, n, c, s, false);
        DType dt = DType.ofFlags(flags);
        long m = n * s;
        for (long ch = 0; ch < c; ch++) {
            // pass 1: mean
            double sum = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    sum += load(inp, dt, layout.index(i, ch, j, c, s));
                }
            }
            double mean = sum / m;
            // pass 2: biased variance
            double sq = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    double d = load(inp, dt, layout.index(i, ch, j, c, s)) - mean;
                    sq += d * d;
                }
            }
            double var = sq / m;
            double rstd = 1.0 / Math.sqrt(var + eps);
            // normalize (the channel's statistics are complete: in-place safe)
            normalize(out, inp, res, mean, rstd, scale(gamma, ch), shift(beta, ch), flags, layout, n, ch, c, s);
            set(saveMean, ch, mean);
            set(saveRstd, ch, rstd);
            if ((flags & UPDATE_RUNNING) != 0) {
                set(runningMean, ch, (1 - momentum) * get(runningMean, ch) + momentum * mean);
                set(runningVar, ch, (1 - momentum) * get(runningVar, ch) + momentum * var * m / (m - 1));
            }
        }
    }

    @Override
    public void forwardInference(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                                 MemorySegment var, MemorySegment gamma, MemorySegment beta, double eps, int flags,
                                 Layout layout, long n, long c, long s) {
        Checks.checkForwardInference(out, inp, res, mean, var, gamma, beta, eps, flags, layout, n, c, s, false);
        for (long ch = 0; ch < c; ch++) {
            double rstd = 1.0 / Math.sqrt(get(var, ch) + eps);
            normalize(out, inp, res, get(mean, ch), rstd, scale(gamma, ch), shift(beta, ch), flags, layout, n, ch, c, s);
        }
    }

    @Override
    public void backward(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                         MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                         MemorySegment mean, MemorySegment rstd, int flags, int mask,
                         Layout layout, long n, long c, long s) {
        Checks.checkBackward(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, flags, mask,
                layout, n, c, s, false);
        DType dt = DType.ofFlags(flags);
        boolean global = (flags & USE_GLOBAL_STATS) != 0;
        boolean readInp = !global || (mask & DIFF_SCALE) != 0;
        long m = n * s;
        for (long ch = 0; ch < c; ch++) {
            double mu = get(mean, ch);
            double r = get(rstd, ch);
            double g = scale(gamma, ch);
            // the sums, complete before dinp is written (alias-safe)
            double sumDy = 0;     // sum_dy = dbeta (dy: dout, gated with FUSE_RELU)
            double sumDyXhat = 0; // rstd*sum_dy_xmu = dgamma
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    long k = layout.index(i, ch, j, c, s);
                    double dy = gate(dout, out, k, flags);
                    sumDy += dy;
                    if (readInp) {
                        sumDyXhat += dy * (load(inp, dt, k) - mu) * r;
                    }
                }
            }
            if ((mask & (DIFF_INP | DIFF_RES)) != 0) {
                for (long i = 0; i < n; i++) {
                    for (long j = 0; j < s; j++) {
                        long k = layout.index(i, ch, j, c, s);
                        double dy = gate(dout, out, k, flags);
                        double dx;
                        if (global) {
                            dx = g * r * dy;
                        } else {
                            double xhat = (load(inp, dt, k) - mu) * r;
                            dx = g * r * (dy - sumDy / m - xhat * sumDyXhat / m);
                        }
                        if ((mask & DIFF_INP) != 0) {
                            store(dinp, dt, k, dx);
                        }
                        if ((mask & DIFF_RES) != 0) {
                            store(dres, dt, k, dy);
                        }
                    }
                }
            }
            if ((mask & DIFF_SCALE) != 0) {
                set(dgamma, ch, sumDyXhat);
            }
            if ((mask & DIFF_SHIFT) != 0) {
                set(dbeta, ch, sumDy);
            }
        }
    }

    /** out = fuse(gamma*(x - mean)*rstd + beta) over channel ch, rounded to the activations' dtype. */
    private static void normalize(MemorySegment out, MemorySegment inp, MemorySegment res, double mean, double rstd,
                                  double gamma, double beta, int flags, Layout layout, long n, long ch, long c,
                                  long s) {
        DType dt = DType.ofFlags(flags);
        for (long i = 0; i < n; i++) {
            for (long j = 0; j < s; j++) {
                long k = layout.index(i, ch, j, c, s);
                store(out, dt, k, fuse(gamma * (load(inp, dt, k) - mean) * rstd + beta, res, k, flags));
            }
        }
    }

    /**
     * Element k of a forward's output from its normalized value y (in double), before the one
     * rounding to the activations' dtype ({@link #store}): with FUSE_ADD y rounded to float, then
     * one float addition of res[k]; then with FUSE_RELU z &gt; 0 ? z : 0 (NaN stays NaN; -0 gives
     * +0). The ReLU commutes with rounding, so for float32 this is float(y), relu'd, bit for bit.
     */
    static double fuse(double y, MemorySegment res, long k, int flags) {
        double z = y;
        if ((flags & FUSE_ADD) != 0) {
            z = (float) y + (float) load(res, DType.ofFlags(flags), k);
        }
        if ((flags & FUSE_RELU) != 0 && !(z > 0) && z == z) {
            z = 0.0;
        }
        return z;
    }

    /** dout[k], with FUSE_RELU gated by the forward's output: out[k] &lt;= 0 ? 0 : dout[k]. */
    static double gate(MemorySegment dout, MemorySegment out, long k, int flags) {
        DType dt = DType.ofFlags(flags);
        double dy = load(dout, dt, k);
        return (flags & FUSE_RELU) != 0 && load(out, dt, k) <= 0 ? 0.0 : dy;
    }

    /** Activation element k of {@code dtype}, widened exactly to double. */
    static double load(MemorySegment segment, DType dtype, long k) {
        return dtype == DType.F32 ? segment.get(F, k * 4) : Half.widen(dtype, segment.get(H, k * 2));
    }

    /** Sets activation element k of {@code dtype} to {@code value} rounded once to the dtype. */
    static void store(MemorySegment segment, DType dtype, long k, double value) {
        if (dtype == DType.F32) {
            segment.set(F, k * 4, (float) value);
        } else {
            segment.set(H, k * 2, Half.roundDouble(dtype, value));
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
}
