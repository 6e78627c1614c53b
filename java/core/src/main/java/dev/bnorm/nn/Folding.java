package dev.bnorm.nn;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Inference folding: an evaluation-mode {@link BatchNorm1d} after a {@link Linear}, or a
 * {@link BatchNorm2d} after a {@link Conv2d}, is an affine map per output (channel), so the pair is
 * one Linear or Conv2d with bias (for the convolution this is PyTorch's {@code fuse_conv_bn_eval}):
 * <pre>
 *   scale[o] = gamma[o] * rstd[o],  rstd[o] = 1/sqrt(running_var[o] + eps)
 *   W'[o][...] = W[o][...] * scale[o]                   every weight of output o: (in) or (in, kh, kw)
 *   b'[o]    = (b[o] - running_mean[o]) * scale[o] + beta[o]
 * </pre>
 * with b = 0 for a layer without bias, and gamma = 1, beta = 0 for a BatchNorm without affine.
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
        check(linear, linear.out(), "linear.out()", bn);
        Linear folded = new Linear(linear.in(), linear.out(), true, 0L);
        fold(linear.weight(), linear.bias(), bn, folded.weight(), folded.bias(), linear.out(), linear.in());
        return folded;
    }

    /**
     * A new Conv2d (with bias, of the same geometry and kernels, owned by the caller) equal to
     * {@code bn.eval()} applied after {@code conv}; the arguments are not changed.
     *
     * @throws IllegalArgumentException if {@code bn} has no running statistics or its channel
     *                                  count differs from {@code conv.out()}
     */
    public static Conv2d fold(Conv2d conv, BatchNorm2d bn) {
        if (conv == null || bn == null) {
            throw new IllegalArgumentException((conv == null ? "conv" : "bn") + ": expected a module, got null");
        }
        check(conv, conv.out(), "conv.out()", bn);
        Conv2d folded = conv.withBias(0L);
        long perOut = conv.weight().value().size() / conv.out();
        fold(conv.weight(), conv.bias(), bn, folded.weight(), folded.bias(), conv.out(), perOut);
        return folded;
    }

    private static void check(Module layer, int out, String outName, BatchNorm bn) {
        layer.checkUsable();
        bn.checkUsable();
        if (!bn.trackRunningStats()) {
            throw new IllegalArgumentException("bn: expected trackRunningStats (folding uses the running statistics),"
                    + " got " + bn);
        }
        if (bn.numFeatures() != out) {
            throw new IllegalArgumentException("bn: expected " + out + " features (" + outName + "), got "
                    + bn.numFeatures());
        }
    }

    /** fw[o][i] = w[o][i] * scale[o], fb[o] = (b[o] - mean[o]) * scale[o] + beta[o], for out rows of perOut weights. */
    private static void fold(Parameter weight, Parameter bias, BatchNorm bn, Parameter foldedWeight,
                             Parameter foldedBias, long out, long perOut) {
        MemorySegment w = weight.value().segment();
        MemorySegment b = bias == null ? null : bias.value().segment();
        MemorySegment gamma = bn.affine() ? bn.weight().value().segment() : null;
        MemorySegment beta = bn.affine() ? bn.bias().value().segment() : null;
        MemorySegment mean = bn.runningMean().segment();
        MemorySegment var = bn.runningVar().segment();
        MemorySegment fw = foldedWeight.value().segment();
        MemorySegment fb = foldedBias.value().segment();
        for (long o = 0; o < out; o++) {
            double scale = (gamma == null ? 1.0 : gamma.getAtIndex(F, o)) / Math.sqrt(var.getAtIndex(F, o) + bn.eps());
            for (long i = 0; i < perOut; i++) {
                fw.setAtIndex(F, o * perOut + i, (float) (w.getAtIndex(F, o * perOut + i) * scale));
            }
            double shift = beta == null ? 0.0 : beta.getAtIndex(F, o);
            fb.setAtIndex(F, o, (float) (((b == null ? 0.0 : b.getAtIndex(F, o)) - mean.getAtIndex(F, o)) * scale + shift));
        }
    }
}
