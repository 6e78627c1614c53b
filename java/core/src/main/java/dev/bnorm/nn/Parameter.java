package dev.bnorm.nn;

import dev.bnorm.Tensor;

/**
 * A trainable tensor of a {@link Module}: its value and the gradient of the loss with respect to
 * it, of the same format and shape. {@link Module#backward} adds into {@link #grad()} (it
 * accumulates, like PyTorch); {@link Module#zeroGrad()} or {@link Optimizer#zeroGrad()} clears it. Both
 * tensors are owned by the module and freed by its {@link Module#close()}.
 */
public final class Parameter {

    private final String name;
    private final Tensor value;
    private final Tensor grad;

    Parameter(String name, Tensor.Format format, long... shape) {
        this.name = name;
        Tensor v = Tensor.zeros(format, shape);
        try {
            this.grad = Tensor.zeros(format, shape);
        } catch (RuntimeException | Error e) {
            v.close();
            throw e;
        }
        this.value = v;
    }

    /** The name within its module, as in PyTorch: "weight" or "bias". */
    public String name() {
        return name;
    }

    /** The value: the module's own tensor, live (read and write it; do not close it, the module frees it). */
    public Tensor value() {
        return value;
    }

    /** The accumulated gradient: the module's own tensor, live (do not close it, the module frees it). */
    public Tensor grad() {
        return grad;
    }

    void close() {
        value.close();
        grad.close();
    }

    @Override
    public String toString() {
        return "Parameter[" + name + " " + value + "]";
    }
}
