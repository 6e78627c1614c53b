package dev.bnorm.nn;

import java.util.List;
import java.util.function.Function;

/**
 * Adam, PyTorch's update rule ({@code torch.optim.Adam}, 1.13), for each parameter p with
 * gradient g, at step t = 1, 2, ... of that parameter:
 * <pre>
 *   g     = g + weightDecay * p                   L2 penalty (AdamW instead: p = p * (1 - lr * weightDecay))
 *   m     = beta1 * m + (1 - beta1) * g           exp_avg
 *   v     = beta2 * v + (1 - beta2) * g * g       exp_avg_sq
 *   vmax  = max(vmax, v)                          with amsgrad (max_exp_avg_sq), then used for v below
 *   p     = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * The bias corrections are computed in double, the elementwise terms in float32, as PyTorch does
 * on the CPU. Defaults, PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0
 * ({@link AdamW}: 1e-2), amsgrad off. Not offered: {@code maximize}, {@code foreach},
 * {@code capturable}, {@code differentiable} (PyTorch's implementation switches).
 * <pre>
 *   Adam adam = Adam.builder(model.parameters()).lr(1e-3).weightDecay(1e-4).build();
 * </pre>
 * State ({@link Optimizer}): {@code state.<i>.step} (int64, saturating at 2^63-1, where the
 * corrections are 1), {@code exp_avg}, {@code exp_avg_sq}, and {@code max_exp_avg_sq} with amsgrad.
 */
public final class Adam extends AdamBase {

    private Adam(Builder<Adam> b) {
        super(b, false);
    }

    /** A builder for Adam over {@code params} (distinct, e.g. {@code model.parameters()}), with PyTorch's defaults. */
    public static Builder<Adam> builder(List<Parameter> params) {
        return new Builder<>(params, 0, Adam::new);
    }

    /**
     * Options of an {@link Adam} or {@link AdamW}; each setter checks its argument.
     *
     * @param <T> the optimizer built
     */
    public static final class Builder<T extends Optimizer> {
        final List<Parameter> params;
        private final Function<Builder<T>, T> factory;
        double lr = 1e-3;
        double beta1 = 0.9;
        double beta2 = 0.999;
        double eps = 1e-8;
        double weightDecay;
        boolean amsgrad;

        Builder(List<Parameter> params, double weightDecay, Function<Builder<T>, T> factory) {
            this.params = params;
            this.weightDecay = weightDecay;
            this.factory = factory;
        }

        /** The learning rate, finite and &gt;= 0. Default 1e-3. */
        public Builder<T> lr(double lr) {
            nonNegative("lr", lr);
            this.lr = lr;
            return this;
        }

        /**
         * The decay rates of the moving averages of the gradient and of its square, each in [0, 1).
         * Default (0.9, 0.999).
         */
        public Builder<T> betas(double beta1, double beta2) {
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException("beta1: expected a number in [0, 1), got " + beta1);
            }
            if (!(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("beta2: expected a number in [0, 1), got " + beta2);
            }
            this.beta1 = beta1;
            this.beta2 = beta2;
            return this;
        }

        /** Added to the denominator, finite and &gt;= 0. Default 1e-8. */
        public Builder<T> eps(double eps) {
            nonNegative("eps", eps);
            this.eps = eps;
            return this;
        }

        /**
         * The weight decay factor, finite and &gt;= 0: Adam adds {@code weightDecay * p} to the
         * gradient (default 0); AdamW multiplies p by {@code 1 - lr * weightDecay} (default 1e-2).
         */
        public Builder<T> weightDecay(double weightDecay) {
            nonNegative("weightDecay", weightDecay);
            this.weightDecay = weightDecay;
            return this;
        }

        /** The AMSGrad variant: normalize by the maximum of the past {@code exp_avg_sq}. Default false. */
        public Builder<T> amsgrad(boolean amsgrad) {
            this.amsgrad = amsgrad;
            return this;
        }

        /** A new optimizer, confined to this thread. */
        public T build() {
            return factory.apply(this);
        }
    }
}
