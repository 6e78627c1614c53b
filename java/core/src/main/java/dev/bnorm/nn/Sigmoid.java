package dev.bnorm.nn;

/**
 * {@code out = 1 / (1 + exp(-inp))} elementwise, any format (PyTorch's {@code torch.nn.Sigmoid});
 * backward: {@code dinp = dout * out * (1 - out)}.
 */
public final class Sigmoid extends Activation {

    /** A sigmoid (no state). */
    public Sigmoid() {
    }

    @Override
    float apply(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    @Override
    float derivative(float y) {
        return y * (1f - y);
    }

    @Override
    public String toString() {
        return "Sigmoid()";
    }
}
