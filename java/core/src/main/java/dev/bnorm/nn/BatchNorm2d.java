package dev.bnorm.nn;

import dev.bnorm.Tensor.Format;

/**
 * Batch Normalization over {@code (N, C, H, W)} (format NCHW) or {@code (N, H, W, C)} (format
 * NHWC, channels last) inputs, PyTorch's {@code torch.nn.BatchNorm2d}; semantics, formulas and
 * defaults in {@link BatchNorm}.
 * <pre>
 *   BatchNorm2d bn = BatchNorm2d.builder(64).build();
 * </pre>
 */
public final class BatchNorm2d extends BatchNorm {

    private BatchNorm2d(Builder<BatchNorm2d> builder) {
        super(builder, Format.NCHW, Format.NHWC);
    }

    /** A builder for {@code numFeatures} (C) channels, at least 1; the other options have PyTorch's defaults. */
    public static Builder<BatchNorm2d> builder(int numFeatures) {
        return new Builder<>(numFeatures, BatchNorm2d::new);
    }
}
