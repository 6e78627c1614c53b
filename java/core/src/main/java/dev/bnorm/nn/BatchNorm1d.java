package dev.bnorm.nn;

import dev.bnorm.Tensor.Format;

/**
 * Batch Normalization over {@code (N, C)} (format NC) or {@code (N, C, L)} (format NCL) inputs,
 * PyTorch's {@code torch.nn.BatchNorm1d}; semantics, formulas and defaults in {@link BatchNorm}.
 * <pre>
 *   BatchNorm1d bn = BatchNorm1d.builder(100).momentum(0.1).build();
 * </pre>
 */
public final class BatchNorm1d extends BatchNorm {

    private BatchNorm1d(Builder<BatchNorm1d> builder) {
        super(builder, Format.NC, Format.NCL);
    }

    /** A builder for {@code numFeatures} (C) channels, at least 1; the other options have PyTorch's defaults. */
    public static Builder<BatchNorm1d> builder(int numFeatures) {
        return new Builder<>(numFeatures, BatchNorm1d::new);
    }
}
