package dev.bnorm.kernel;

import static dev.bnorm.kernel.BatchNormKernels.DIFF_INP;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_RES;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SCALE;
import static dev.bnorm.kernel.BatchNormKernels.DIFF_SHIFT;
import static dev.bnorm.kernel.BatchNormKernels.UPDATE_RUNNING;

import dev.bnorm.internal.Checks;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The split-phase kernels in plain Java: the test oracle of {@link NativeSplitKernels} and the
 * fallback without the native library. Every sum and result in double, rounded once to float
 * (the activation outputs to the dtype the flags name, as in {@link JavaKernels}); statistics
 * two-pass per part (never E[x^2] - E[x]^2). The merge is Chan's formula in part
 * order, written as in {@code bn_split.c}, so the same partials give the same bits in both.
 * Accepts heap and native segments; aliasing as {@link JavaKernels} (a channel's sums are
 * complete before any of its elements is written).
 */
public final class JavaSplitKernels implements SplitKernels {

    /** The only instance; stateless and thread-safe. */
    public static final JavaSplitKernels INSTANCE = new JavaSplitKernels();

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private JavaSplitKernels() {
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public void statsLocal(MemorySegment stats, MemorySegment inp, int flags, Layout layout, long n, long c, long s) {
        Checks.checkStatsLocal(stats, inp, flags, layout, n, c, s, false);
        DType dt = DType.ofFlags(flags);
        long m = n * s;
        for (long ch = 0; ch < c; ch++) {
            double sum = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    sum += JavaKernels.load(inp, dt, layout.index(i, ch, j, c, s));
                }
            }
            double mean = sum / m;
            double m2 = 0;
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    double d = JavaKernels.load(inp, dt, layout.index(i, ch, j, c, s)) - mean;
                    m2 += d * d;
                }
            }
            stats.setAtIndex(D, ch, m);
            stats.setAtIndex(D, c + ch, mean);
            stats.setAtIndex(D, 2 * c + ch, m2);
        }
    }

    @Override
    public void statsMerge(MemorySegment mean, MemorySegment rstd, MemorySegment runningMean, MemorySegment runningVar,
                           MemorySegment stats, double eps, double momentum, int flags, long c, long parts) {
        Checks.checkStatsMerge(mean, rstd, runningMean, runningVar, stats, eps, momentum, flags, c, parts, false);
        for (long ch = 0; ch < c; ch++) {
            double n = 0;
            double mu = 0;
            double m2 = 0;
            for (long q = 0; q < parts; q++) {
                long at = q * 3 * c + ch;
                double nb = stats.getAtIndex(D, at);
                double mb = stats.getAtIndex(D, at + c);
                double m2b = stats.getAtIndex(D, at + 2 * c);
                if (nb == 0) {
                    continue;
                }
                if (n == 0) {
                    n = nb;
                    mu = mb;
                    m2 = m2b;
                    continue;
                }
                double nn = n + nb;
                double delta = mb - mu;
                mu = mu + delta * nb / nn;                 // term 1
                m2 = m2 + m2b + delta * delta * n * nb / nn; // term 2
                n = nn;
            }
            double var = m2 / n;
            mean.setAtIndex(D, ch, mu);
            rstd.setAtIndex(D, ch, 1.0 / Math.sqrt(var + eps));
            if ((flags & UPDATE_RUNNING) != 0) {
                double f = momentum;
                double unbias = n / (n - 1.0);
                runningMean.setAtIndex(F, ch, (float) ((1.0 - f) * runningMean.getAtIndex(F, ch) + f * mu));
                runningVar.setAtIndex(F, ch, (float) ((1.0 - f) * runningVar.getAtIndex(F, ch) + f * var * unbias));
            }
        }
    }

    @Override
    public void forwardApply(MemorySegment out, MemorySegment inp, MemorySegment res, MemorySegment mean,
                             MemorySegment rstd, MemorySegment gamma, MemorySegment beta, int flags, Layout layout,
                             long n, long c, long s) {
        Checks.checkForwardApply(out, inp, res, mean, rstd, gamma, beta, flags, layout, n, c, s, false);
        DType dt = DType.ofFlags(flags);
        for (long ch = 0; ch < c; ch++) {
            double mu = mean.getAtIndex(D, ch);
            double r = rstd.getAtIndex(D, ch);
            double g = gamma == null ? 1.0 : gamma.getAtIndex(F, ch);
            double b = beta == null ? 0.0 : beta.getAtIndex(F, ch);
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    long k = layout.index(i, ch, j, c, s);
                    JavaKernels.store(out, dt, k, JavaKernels.fuse(g * (JavaKernels.load(inp, dt, k) - mu) * r + b, res,
                            k, flags));
                }
            }
        }
    }

    @Override
    public void backwardReduce(MemorySegment sums, MemorySegment dout, MemorySegment out, MemorySegment inp,
                               MemorySegment mean, int flags, Layout layout, long n, long c, long s) {
        Checks.checkBackwardReduce(sums, dout, out, inp, mean, flags, layout, n, c, s, false);
        DType dt = DType.ofFlags(flags);
        for (long ch = 0; ch < c; ch++) {
            double mu = mean.getAtIndex(D, ch);
            double sumDy = 0;    // sum_dy
            double sumDyXmu = 0; // sum_dy_xmu
            for (long i = 0; i < n; i++) {
                for (long j = 0; j < s; j++) {
                    long k = layout.index(i, ch, j, c, s);
                    double dy = JavaKernels.gate(dout, out, k, flags);
                    sumDy += dy;
                    sumDyXmu += dy * (JavaKernels.load(inp, dt, k) - mu);
                }
            }
            sums.setAtIndex(D, ch, (double) (n * s));
            sums.setAtIndex(D, c + ch, sumDy);
            sums.setAtIndex(D, 2 * c + ch, sumDyXmu);
        }
    }

    @Override
    public void backwardApply(MemorySegment dinp, MemorySegment dres, MemorySegment dgamma, MemorySegment dbeta,
                              MemorySegment dout, MemorySegment out, MemorySegment inp, MemorySegment gamma,
                              MemorySegment mean, MemorySegment rstd, MemorySegment sums, int flags, int mask,
                              Layout layout, long n, long c, long s, long parts) {
        Checks.checkBackwardApply(dinp, dres, dgamma, dbeta, dout, out, inp, gamma, mean, rstd, sums, flags, mask,
                layout, n, c, s, parts, false);
        DType dt = DType.ofFlags(flags);
        for (long ch = 0; ch < c; ch++) {
            double m = 0;
            double sumDy = 0;    // sum_dy
            double sumDyXmu = 0; // sum_dy_xmu
            for (long q = 0; q < parts; q++) { // the parts in order
                long at = q * 3 * c + ch;
                m += sums.getAtIndex(D, at);
                sumDy += sums.getAtIndex(D, at + c);
                sumDyXmu += sums.getAtIndex(D, at + 2 * c);
            }
            double mu = mean.getAtIndex(D, ch);
            double r = rstd.getAtIndex(D, ch);
            double g = gamma == null ? 1.0 : gamma.getAtIndex(F, ch);
            if ((mask & (DIFF_INP | DIFF_RES)) != 0) {
                for (long i = 0; i < n; i++) {
                    for (long j = 0; j < s; j++) {
                        long k = layout.index(i, ch, j, c, s);
                        double dy = JavaKernels.gate(dout, out, k, flags);
                        double xhat = (JavaKernels.load(inp, dt, k) - mu) * r;
                        if ((mask & DIFF_INP) != 0) {
                            JavaKernels.store(dinp, dt, k, g * r * (dy - sumDy / m - xhat * r * sumDyXmu / m));
                        }
                        if ((mask & DIFF_RES) != 0) {
                            JavaKernels.store(dres, dt, k, dy);
                        }
                    }
                }
            }
            if ((mask & DIFF_SCALE) != 0) {
                dgamma.setAtIndex(F, ch, (float) (r * sumDyXmu));
            }
            if ((mask & DIFF_SHIFT) != 0) {
                dbeta.setAtIndex(F, ch, (float) sumDy);
            }
        }
    }
}
