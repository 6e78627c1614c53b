package dev.bnorm.nn;

import dev.bnorm.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Stochastic gradient descent with momentum, weight decay and optionally Nesterov momentum,
 * PyTorch's update rule ({@code torch.optim.SGD}, dampening 0), for each parameter p with
 * gradient g:
 * <pre>
 *   d   = g + weightDecay * p
 *   buf = momentum * buf + d          (buf starts at 0, so the first step has buf = d)
 *   d   = d + momentum * buf          with Nesterov, else d = buf (when momentum &gt; 0)
 *   p   = p - lr * d
 * </pre>
 * <pre>
 *   SGD sgd = SGD.builder(model.parameters(), 0.1).momentum(0.9).weightDecay(1e-4).build();
 * </pre>
 * Defaults, PyTorch's: momentum 0, weight decay 0, Nesterov off; the learning rate has no
 * default (PyTorch requires it too). Dampening is not offered (always 0). The momentum buffers
 * ({@code state.<i>.momentum_buffer}, see {@link Optimizer}) are off-heap and owned by the
 * optimizer.
 */
public final class SGD extends Optimizer {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final Tensor[] buffers; // null entries when momentum == 0
    private final double momentum;
    private final double weightDecay;
    private final boolean nesterov;

    /**
     * The shorthand of {@code builder(params, lr).momentum(momentum).weightDecay(weightDecay).build()}.
     *
     * @param params      distinct parameters, e.g. {@code model.parameters()}
     * @param lr          learning rate, finite and &gt;= 0
     * @param momentum    finite and &gt;= 0 (0: plain SGD)
     * @param weightDecay L2 penalty, finite and &gt;= 0
     */
    public SGD(List<Parameter> params, double lr, double momentum, double weightDecay) {
        this(params, lr, momentum, weightDecay, false);
    }

    private SGD(List<Parameter> params, double lr, double momentum, double weightDecay, boolean nesterov) {
        super("SGD", params, lr);
        nonNegative("momentum", momentum);
        nonNegative("weightDecay", weightDecay);
        if (nesterov && momentum == 0) {
            throw new IllegalArgumentException("nesterov: expected momentum > 0 with Nesterov momentum, got momentum 0");
        }
        this.momentum = momentum;
        this.weightDecay = weightDecay;
        this.nesterov = nesterov;
        this.buffers = new Tensor[params.size()];
        try {
            for (int i = 0; i < buffers.length && momentum != 0; i++) {
                buffers[i] = stateTensor(i, "momentum_buffer");
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * A builder for SGD over {@code params} (distinct, e.g. {@code model.parameters()}) with
     * learning rate {@code lr} (finite and &gt;= 0).
     */
    public static Builder builder(List<Parameter> params, double lr) {
        nonNegative("lr", lr);
        return new Builder(params, lr);
    }

    /** The momentum factor (0: none). */
    public double momentum() {
        return momentum;
    }

    /** The weight decay (L2 penalty) factor. */
    public double weightDecay() {
        return weightDecay;
    }

    /** Whether the momentum is Nesterov's. */
    public boolean nesterov() {
        return nesterov;
    }

    @Override
    void update(int j, MemorySegment v, MemorySegment g, long n) {
        float rate = (float) learningRate();
        float mu = (float) momentum;
        float wd = (float) weightDecay;
        MemorySegment b = buffers[j] == null ? null : buffers[j].segment();
        for (long i = 0; i < n; i++) {
            float x = v.getAtIndex(F, i);
            float d = g.getAtIndex(F, i) + wd * x;
            if (b != null) {
                float buf = mu * b.getAtIndex(F, i) + d;
                b.setAtIndex(F, i, buf);
                d = nesterov ? d + mu * buf : buf;
            }
            v.setAtIndex(F, i, x - rate * d);
        }
    }

    @Override
    public String toString() {
        return "SGD(lr=" + learningRate() + ", momentum=" + momentum + ", weightDecay=" + weightDecay
                + ", nesterov=" + nesterov + ")";
    }

    /** Options of an {@link SGD}; each setter checks its argument. */
    public static final class Builder {
        private final List<Parameter> params;
        private final double lr;
        private double momentum;
        private double weightDecay;
        private boolean nesterov;

        private Builder(List<Parameter> params, double lr) {
            this.params = params;
            this.lr = lr;
        }

        /** The momentum factor, finite and &gt;= 0. Default 0 (plain SGD). */
        public Builder momentum(double momentum) {
            nonNegative("momentum", momentum);
            this.momentum = momentum;
            return this;
        }

        /** The weight decay (L2 penalty added to the gradient), finite and &gt;= 0. Default 0. */
        public Builder weightDecay(double weightDecay) {
            nonNegative("weightDecay", weightDecay);
            this.weightDecay = weightDecay;
            return this;
        }

        /** Nesterov momentum (needs momentum &gt; 0). Default false. */
        public Builder nesterov(boolean nesterov) {
            this.nesterov = nesterov;
            return this;
        }

        /** A new optimizer, confined to this thread. */
        public SGD build() {
            return new SGD(params, lr, momentum, weightDecay, nesterov);
        }
    }
}
