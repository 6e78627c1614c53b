package dev.bnorm.kernel;

import dev.bnorm.internal.LinearChecks;
import java.lang.foreign.MemorySegment;

/**
 * The kernels of a fully connected layer (PyTorch's {@code torch.nn.Linear}), float32, row-major,
 * on {@link MemorySegment}s; {@code bn_linear_forward} and {@code bn_linear_backward} of
 * {@code native/include/bn.h}:
 * <pre>
 *   forward:  out (N, O) = act(inp (N, I) · weight (O, I)ᵀ + bias (O,))   (or weightT (I, O) given)
 *   backward: dinp (N, I) = dout (N, O) · weight,  dweight (O, I) = doutᵀ · inp,  dbias = Σₙ dout
 * </pre>
 * Implementations: {@link NativeLinear} (the C library) and {@link JavaLinear} (the oracle and
 * fallback); {@link #best()} chooses. Every argument is checked by {@link LinearChecks} before any
 * work: a bad one is an {@link IllegalArgumentException} naming it with the expected and actual
 * values, a closed segment an {@link IllegalStateException}, and nothing is written. No output may
 * overlap another buffer.
 */
public interface LinearKernels {

    /** {@code BN_LINEAR_ACCUMULATE}: backward adds to dweight and dbias instead of overwriting them. */
    int ACCUMULATE = 0x1;

    /** The activation fused into the forward ({@code bn_activation}). */
    enum Activation {
        /** {@code BN_ACT_NONE}: the identity. */
        NONE(0),
        /** {@code BN_ACT_RELU}: max(x, 0), NaN stays NaN. */
        RELU(1),
        /** {@code BN_ACT_SIGMOID}: 1/(1 + exp(-x)) in double, rounded once. */
        SIGMOID(2);

        /** The value of {@code bn_activation}. */
        public final int code;

        Activation(int code) {
            this.code = code;
        }

        /** f(x), as every implementation computes it. */
        public float apply(float x) {
            return switch (this) {
                case NONE -> x;
                case RELU -> x > 0f ? x : (x != x ? x : 0f);
                case SIGMOID -> (float) (1.0 / (1.0 + Math.exp(-x)));
            };
        }
    }

    /** A short name for logs and reports: "native" or "java". */
    String name();

    /**
     * @param out    (N, O), written
     * @param inp    (N, I)
     * @param weight (O, I): row o holds the weights of output o
     * @param bias   (O,) or null for none
     * @param act    the activation applied to each output, not null
     */
    void forward(MemorySegment out, MemorySegment inp, MemorySegment weight, MemorySegment bias,
                 Activation act, long n, long in, long outFeatures);

    /**
     * The same forward with the weight transposed, {@code weightT (I, O)} (row k: input k's weight
     * for every output), the layout an inference model stores once ({@code bn_linear_forward_t}).
     * Each output is the sum over k in increasing order, so a row's result does not depend on the
     * other rows of the batch.
     */
    void forwardTransposed(MemorySegment out, MemorySegment inp, MemorySegment weightT, MemorySegment bias,
                           Activation act, long n, long in, long outFeatures);

    /**
     * Backward of {@code out = inp · weightᵀ + bias} (apply an activation's derivative to dout first).
     *
     * @param dinp    (N, I), overwritten, or null (not computed)
     * @param dweight (O, I), overwritten (with {@link #ACCUMULATE}: each sum starts from the old value), or null
     * @param dbias   (O,), overwritten (with {@link #ACCUMULATE}: each sum starts from the old value), or null
     * @param dout    (N, O)
     * @param inp     (N, I), required when dweight is wanted, else may be null
     * @param weight  (O, I), required when dinp is wanted, else may be null
     * @param flags   0 or {@link #ACCUMULATE}
     */
    void backward(MemorySegment dinp, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                  MemorySegment inp, MemorySegment weight, int flags, long n, long in, long outFeatures);

    /**
     * The native kernels when {@link Kernels#best()} is the native library, otherwise
     * {@link JavaLinear}: the same choice, setting ({@code bnorm.kernels} / {@code BNORM_KERNELS},
     * whose {@code native} fails instead of falling back) and warning. The system property
     * {@code bnorm.linear.kernels=java} chooses {@link JavaLinear} for Linear alone (e.g. to compare
     * the two in a whole training step).
     */
    static LinearKernels best() {
        return Holder.BEST;
    }

    /** The choice of {@link #best()}, made once. */
    final class Holder {
        static final LinearKernels BEST = choose();

        private Holder() {}

        private static LinearKernels choose() {
            if ("java".equals(System.getProperty("bnorm.linear.kernels"))) {
                return JavaLinear.INSTANCE;
            }
            return Kernels.best() instanceof NativeKernels ? NativeLinear.get() : JavaLinear.INSTANCE;
        }
    }
}
