package dev.bnorm.nn;

import java.util.List;

/**
 * Adam with decoupled weight decay, PyTorch's {@code torch.optim.AdamW} (1.13): each step first
 * multiplies the parameter by {@code 1 - lr * weightDecay}, then applies {@link Adam}'s update
 * without any penalty in the gradient. Defaults, PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8,
 * weight decay 1e-2, amsgrad off.
 * <pre>
 *   AdamW adamW = AdamW.builder(model.parameters()).lr(1e-3).build();
 * </pre>
 */
public final class AdamW extends AdamBase {

    private AdamW(Adam.Builder<AdamW> b) {
        super(b, true);
    }

    /** A builder for AdamW over {@code params} (distinct, e.g. {@code model.parameters()}), with PyTorch's defaults. */
    public static Adam.Builder<AdamW> builder(List<Parameter> params) {
        return new Adam.Builder<>(params, 1e-2, AdamW::new);
    }
}
