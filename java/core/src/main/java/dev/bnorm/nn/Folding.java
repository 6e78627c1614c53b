package dev.bnorm.nn;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Inference folding: an evaluation-mode {@link BatchNorm1d} after a {@link Linear} is an affine
 * map per output, so the pair is one {@code Linear} with bias:
 * <pre>
 *   scale[o] = gamma[o] * rstd[o],  rstd[o] = 1/sqrt(running_var[o] + eps)
 *   W'[o][i] = W[o][i] * scale[o]
 *   b'[o]    = (b[o] - running_mean[o]) * scale[o] + beta[o]
 * </pre>
 * with b = 0 for a Linear without bias, and gamma = 1, beta = 0 for a BatchNorm without affine.
 * Computed in double, rounded once to float.
 */
public final class Folding {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private Folding() {
    }

    /**
     * A new Linear (with bias, owned by the caller) equal to {@code bn.eval()} applied after
     * {@code linear}; the arguments are not changed.
     *
     * @throws IllegalArgumentException if {@code bn} has no running statistics or its channel
     *                                  count differs from {@code linear.out()}
     */
    public static Linear fold(Linear linear, BatchNorm1d bn) {
        if (linear == null || bn == null) {
            throw new IllegalArgumentException((linear == null ? "linear" : "bn") + ": expected a module, got null");
        }
        linear.checkUsable();
        bn.checkUsable();
        if (!bn.trackRunningStats()) {
            throw new IllegalArgumentException("bn: expected trackRunningStats (folding uses the running statistics),"
                    + " got " + bn);
        }
        if (bn.numFeatures() != linear.out()) {
            throw new IllegalArgumentException("bn: expected " + linear.out() + " features (linear.out()), got "
                    + bn.numFeatures());
        }
        int in = linear.in();
        int out = linear.out();
        Linear folded = new Linear(in, out, true, 0L);
        MemorySegment w = linear.weight().value().segment();
        MemorySegment b = linear.bias() == null ? null : linear.bias().value().segment();
        MemorySegment gamma = bn.affine() ? bn.weight().value().segment() : null;
        MemorySegment beta = bn.affine() ? bn.bias().value().segment() : null;
        MemorySegment mean = bn.runningMean().segment();
        MemorySegment var = bn.runningVar().segment();
        MemorySegment fw = folded.weight().value().segment();
        MemorySegment fb = folded.bias().value().segment();
        for (long o = 0; o < out; o++) {
            double scale = (gamma == null ? 1.0 : gamma.getAtIndex(F, o)) / Math.sqrt(var.getAtIndex(F, o) + bn.eps());
            for (long i = 0; i < in; i++) {
                fw.setAtIndex(F, o * in + i, (float) (w.getAtIndex(F, o * in + i) * scale));
            }
            double bias = b == null ? 0.0 : b.getAtIndex(F, o);
            double shift = beta == null ? 0.0 : beta.getAtIndex(F, o);
            fb.setAtIndex(F, o, (float) ((bias - mean.getAtIndex(F, o)) * scale + shift));
        }
        return folded;
    }
}
