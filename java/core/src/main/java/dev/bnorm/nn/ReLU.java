package dev.bnorm.nn;

/**
 * {@code out = max(0, inp)} elementwise, any format (PyTorch's {@code torch.nn.ReLU}); backward
 * passes {@code dout} where the output is positive and 0 elsewhere (also at 0), like PyTorch's
 * {@code threshold_backward(dout, out, 0)}, which also passes it where the output is NaN. NaN
 * inputs stay NaN.
 */
public final class ReLU extends Activation {

    /** A ReLU (no state). */
    public ReLU() {
    }

    @Override
    float apply(float x) {
        return x > 0f ? x : (x != x ? x : 0f);
    }

    @Override
    float derivative(float y) {
        return y <= 0f ? 0f : 1f; // NaN passes, as in PyTorch
    }

    @Override
    public String toString() {
        return "ReLU()";
    }
}
